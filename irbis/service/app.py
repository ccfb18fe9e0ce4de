"""The batch API's HTTP routes (FastAPI); OpenAPI docs at /docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..options import RunOptions, api_fields
from ..stages.detectors import DEFAULT_DETECTOR, LITE_NAMES
from .docs_page import add_offline_docs
from .security import Refused, Roots, photo_list, token_matches
from .store import Store, StoreError


@dataclass
class ServiceConfig:
    state: Path
    roots: Roots
    token: str | None                      # None: --no-auth (loopback only)
    max_photos: int = 100_000
    max_request_bytes: int = 4 * 1024 * 1024
    shard_size: int = 2000
    classifiers: Path | None = None        # folder of model bundles clients may name
    extra_detectors: list[str] = field(default_factory=list)


class JobBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: str | None = Field(None, description="a folder under an allowed root; every photo below it")
    photos: list[str] | None = Field(None, description="absolute photo paths under an allowed root")
    base: str | None = Field(None, description="with 'photos': the folder result paths are relative to "
                                               "(default: their common folder)")
    classifier: str | None = Field(None, description="a classifier bundle name from GET /v1/models")
    shard_size: int | None = Field(None, ge=1, le=100_000)
    name: str | None = Field(None, max_length=200)


# The run settings a client may choose: the api fields of RunOptions, with their defaults and limits.
JobRequest = create_model("JobRequest", __base__=JobBase, **api_fields(RunOptions))  # type: ignore[call-overload]
API_OPTIONS = tuple(api_fields(RunOptions))


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _error(status: int, code: str, detail) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


class BodyLimit:
    """ASGI middleware: request bodies over ``limit`` bytes get a 413 JSON answer."""

    def __init__(self, app, limit: int, token: str | None = None):
        self.app, self.limit, self.token = app, limit, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.token is not None and scope.get("path", "").startswith("/v1") and not token_matches(
                headers.get(b"authorization", b"").decode("latin-1"), self.token):
            # The token is checked before a byte of the body is read: unauthenticated bodies cost nothing.
            return await JSONResponse({"error": "unauthorized", "detail": "missing or wrong bearer token"},
                                      status_code=401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
        too_big = _error(413, "request_too_large", f"request body over {self.limit} bytes")
        try:
            if int(headers.get(b"content-length", b"0")) > self.limit:
                return await too_big(scope, receive, send)
        except ValueError:
            return await _error(400, "bad_request", "bad Content-Length")(scope, receive, send)
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.limit:
                return await too_big(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return await self.app(scope, replay, send)


def create_app(cfg: ServiceConfig, store: Store) -> tuple[BodyLimit, FastAPI]:
    app = FastAPI(title="irbis batch API", version=__version__, docs_url=None, redoc_url=None,
                  description="Submit a drop of camera-trap photos, poll the job, download one MegaDetector "
                              "batch JSON (format 1.6). Send `Authorization: Bearer <token>`.")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return _error(exc.status, exc.code, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": code, "detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return _error(422, "invalid_request", errors)

    def auth(request: Request) -> None:
        if cfg.token is not None and not token_matches(request.headers.get("authorization"), cfg.token):
            raise StarletteHTTPException(401, "missing or wrong bearer token (Authorization: Bearer <token>; the "
                                              "token is in the server's state folder)",
                                         headers={"WWW-Authenticate": "Bearer"})

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    def classifiers() -> dict[str, Path]:
        if cfg.classifiers is None or not cfg.classifiers.is_dir():
            return {}
        return {p.name: p for p in sorted(cfg.classifiers.glob("*.irbis"))}

    def summary(job_id: str) -> dict:
        s = store.job_summary(job_id)
        if s is None:
            raise Refused(404, "not_found", f"no job {job_id!r}")
        for k in ("created_at", "started_at", "finished_at"):
            s[k] = _iso(s[k])
        s["options"].pop("classifier_path", None)
        s["status_url"] = f"/v1/jobs/{job_id}"
        s["result_url"] = f"/v1/jobs/{job_id}/results" if s["status"] == "completed" else None
        return s

    @v1.post("/jobs", status_code=202, summary="submit photos; returns a job id at once")
    def submit(req: JobRequest):  # type: ignore[valid-type]
        body: Any = req     # a model derived from RunOptions at import time
        detectors = [*LITE_NAMES, *cfg.extra_detectors]
        if body.detector not in detectors:
            raise Refused(400, "unknown_detector", f"detector {body.detector!r} is not offered; choose one of "
                                                   f"{detectors} (GET /v1/models)")
        options = {k: getattr(req, k) for k in API_OPTIONS}
        if body.classifier:
            bundle = classifiers().get(body.classifier)
            if bundle is None:
                raise Refused(400, "unknown_classifier", f"classifier {body.classifier!r} is not offered; choose "
                                                         f"one of {sorted(classifiers())}")
            options.update(classifier=body.classifier, classifier_path=str(bundle))
        root, photos = photo_list(cfg.roots, body.folder, body.photos, body.base, cfg.max_photos)
        job_id = store.create_job(str(root), photos, options, body.shard_size or cfg.shard_size, body.name)
        return JSONResponse({"job_id": job_id, "status_url": f"/v1/jobs/{job_id}", "total": len(photos)},
                            status_code=202)

    @v1.get("/jobs", summary="list jobs, newest first")
    def jobs(status: str | None = Query(None, pattern="^(queued|running|completed|failed|canceled)$"),
             limit: int = Query(100, ge=1, le=1000)):
        return {"jobs": [summary(s["job_id"]) for s in store.list_jobs(status, limit)]}

    @v1.get("/jobs/{job_id}", summary="status: queued|running|completed|failed|canceled, progress, shards")
    def status(job_id: str):
        return summary(job_id)

    @v1.get("/jobs/{job_id}/results", summary="the job's MegaDetector batch JSON (format 1.6)")
    def results(job_id: str):
        s = summary(job_id)
        if s["status"] != "completed":
            raise Refused(409, "not_ready", f"job {job_id} is {s['status']} ({s['done']}/{s['total']} photos); "
                                            f"results exist once it is completed")
        job = store.job(job_id)
        assert job is not None      # summary() refused unknown jobs
        path = job["result_path"]
        return FileResponse(path, media_type="application/json", filename=f"irbis-{job_id}.json")

    @v1.delete("/jobs/{job_id}", summary="cancel a queued or running job")
    def cancel(job_id: str):
        summary(job_id)
        try:
            store.cancel(job_id)
        except StoreError as exc:
            raise Refused(409, "not_cancelable", str(exc)) from exc
        return summary(job_id)

    @v1.get("/models", summary="detectors and classifier bundles a job may name")
    def models():
        return {"detectors": [*LITE_NAMES, *cfg.extra_detectors], "default_detector": DEFAULT_DETECTOR,
                "classifiers": sorted(classifiers()), "default_shard_size": cfg.shard_size,
                "max_photos_per_job": cfg.max_photos}

    app.include_router(v1)
    add_offline_docs(app)       # Swagger UI needs a CDN; this page works offline

    @app.get("/healthz", summary="liveness: no token needed (with the token: workers and queue too)")
    def healthz(request: Request):
        if cfg.token is not None and not token_matches(request.headers.get("authorization"), cfg.token):
            return {"status": "ok"}      # liveness only: nothing about the process to strangers
        return {"status": "ok", "version": __version__, "workers": len(store.workers()), "jobs": store.queue_depth()}

    return BodyLimit(app, cfg.max_request_bytes, cfg.token), app
