"""The dashboard's HTTP side: one static page, JSON views, thumbnails, corrections.

Mounted at ``/`` of ``irbis serve`` (:func:`dashboard_router`) or run alone (``irbis dashboard``,
:func:`create_app`). The same bearer token as the batch API protects everything but the login
page; browsers log in once and get an HttpOnly cookie holding the token.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from . import queries
from .basemap import outlines
from .index import Index
from .sources import Sources
from .thumbs import THUMB_PX, VIEW_PX, ThumbCache

STATIC = Path(__file__).parent / "static"
COOKIE = "irbis_token"
KINDS = ("species", "empty", "box_wrong")


class DashboardError(Exception):
    def __init__(self, status: int, code: str, detail):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Dashboard:
    """What the routes need: the index, where surveys come from, the thumbnail cache, the token."""

    index: Index
    sources: Sources
    thumbs: ThumbCache
    token: str | None                          # None: no auth (loopback only)
    refresh_every_s: float = 1.0
    _last_refresh: float = 0.0
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, force: bool = False) -> None:
        """Reload surveys whose results changed, at most once per ``refresh_every_s``."""
        now = time.monotonic()
        if not force and now - self._last_refresh < self.refresh_every_s:
            return
        if not self._refresh_lock.acquire(blocking=force):
            return
        try:
            self._last_refresh = now
            self.sources.refresh()
        finally:
            self._refresh_lock.release()


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    photo_id: int
    kind: str = Field(description="species | empty | box_wrong")
    label: str | None = Field(None, max_length=200, description="with kind=species: the right class")
    box: int | None = Field(None, ge=0, description="with kind=box_wrong or species: which detection (index)")


def _token_ok(request: Request, token: str | None) -> bool:
    import hmac
    if token is None:
        return True
    header = request.headers.get("authorization") or ""
    given = header[len("Bearer "):].strip() if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def _filter(survey: str | None, species: str | None, conf: float) -> queries.Filter:
    return queries.Filter(survey or None, species or None, conf)


def dashboard_router(dash: Dashboard) -> APIRouter:
    """Every dashboard route; the page at ``/``."""

    def auth(request: Request) -> None:
        if not _token_ok(request, dash.token):
            raise DashboardError(401, "unauthorized", "log in at /login or send Authorization: Bearer <token>")

    open_routes = APIRouter()
    api = APIRouter(dependencies=[Depends(auth)])
    ix = dash.index

    @open_routes.get("/", include_in_schema=False)
    def page(request: Request):
        if not _token_ok(request, dash.token):
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @open_routes.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @open_routes.get("/login", include_in_schema=False)
    def login_page():
        return FileResponse(STATIC / "login.html", media_type="text/html")

    @open_routes.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        import hmac
        if dash.token is not None and not hmac.compare_digest(given.encode(), dash.token.encode()):
            return HTMLResponse("<p>Wrong token. <a href='/login'>Try again</a>.</p>", status_code=401)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, given, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return resp

    @open_routes.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        allowed = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
        if name not in allowed:
            raise DashboardError(404, "not_found", name)
        return FileResponse(STATIC / name, media_type=allowed[name])

    @api.get("/api/version", summary="dashboard data generation; changes when a survey reloads")
    def version():
        dash.refresh()
        return {"generation": ix.generation}

    @api.get("/api/surveys")
    def surveys():
        dash.refresh()
        return {"surveys": ix.surveys()}

    @api.get("/api/labels", summary="labels the species filter offers")
    def labels(survey: str | None = None, conf: float = Query(0.2, ge=0, le=1)):
        return {"labels": queries.labels(ix, _filter(survey, None, conf)),
                "known": sorted(ix.known_labels())}

    @api.get("/api/summary", summary="totals, counts, activity, detections over time, sites, RAI, occupancy")
    def summary(survey: str | None = None, species: str | None = None, conf: float = Query(0.2, ge=0, le=1),
                interval: float = Query(30.0, gt=0, le=24 * 60)):
        f = _filter(survey, species, conf)
        return {"filter": {"survey": f.survey, "species": f.species, "conf": f.conf},
                "totals": queries.totals(ix, f), "by_survey": queries.counts_by_survey(ix, f),
                "activity": queries.activity_by_hour(ix, f), "over_time": queries.over_time(ix, f),
                "sites": queries.sites(ix, f, interval), "generation": ix.generation}

    @api.get("/api/photos", summary="review grid page")
    def photos(survey: str | None = None, species: str | None = None, conf: float = Query(0.2, ge=0, le=1),
               show: str = Query("nonempty", pattern="^(nonempty|empty|failed|all)$"),
               order: str = Query("file", pattern="^(file|uncertain)$"),
               page: int = Query(0, ge=0), size: int = Query(48, ge=1, le=500)):
        return queries.photos_page(ix, _filter(survey, species, conf), show, page, size, order)

    @api.get("/api/photo/{photo_id}")
    def photo(photo_id: int):
        p = queries.photo(ix, photo_id)
        if p is None:
            raise DashboardError(404, "not_found", f"no photo {photo_id}")
        return p

    @api.get("/thumb/{photo_id}", summary="a photo's thumbnail (or ?size=view), people blurred unless ?people=show")
    def thumb(photo_id: int, size: str = Query("thumb", pattern="^(thumb|view)$"),
              people: str = Query("blur", pattern="^(blur|show)$")):
        from ..imageio import ImageReadError
        rows = ix.query("SELECT path FROM photos WHERE id=?", (photo_id,))
        if not rows or not rows[0]["path"]:
            raise DashboardError(404, "not_found", f"no photo file for id {photo_id}")
        dets = queries.detections_for(ix, [photo_id]).get(photo_id, [])
        try:
            data = dash.thumbs.get(rows[0]["path"], dets, THUMB_PX if size == "thumb" else VIEW_PX,
                                   blur=people == "blur")
        except ImageReadError as exc:
            raise DashboardError(422, "unreadable_photo", str(exc)) from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @api.post("/api/corrections", status_code=201, summary="save a reviewer's correction")
    def correct(c: CorrectionIn):
        rows = ix.query("SELECT p.file, s.name AS survey FROM photos p JOIN surveys s ON s.id=p.survey_id "
                        "WHERE p.id=?", (c.photo_id,))
        if not rows:
            raise DashboardError(404, "not_found", f"no photo {c.photo_id}")
        if c.kind not in KINDS:
            raise DashboardError(422, "unknown_kind", f"kind must be one of {list(KINDS)}, not {c.kind!r}")
        value = None
        if c.kind == "species":
            known = ix.known_labels()
            if not c.label or c.label not in known:
                raise DashboardError(422, "unknown_class", f"class {c.label!r} is not known; choose one of "
                                                           f"{sorted(known)}")
            value = c.label
        elif c.kind == "empty":
            value = "empty"
        if c.box is not None:
            n = ix.query("SELECT COUNT(*) AS n FROM detections WHERE photo_id=?", (c.photo_id,))[0]["n"]
            if c.box >= n:
                raise DashboardError(422, "unknown_box", f"photo {c.photo_id} has {n} detection(s)")
        elif c.kind == "box_wrong":
            raise DashboardError(422, "missing_box", "kind=box_wrong needs 'box' (the detection's index)")
        cid = ix.add_correction(rows[0]["survey"], rows[0]["file"], c.kind, value, c.box)
        return {"id": cid, "survey": rows[0]["survey"], "file": rows[0]["file"], "kind": c.kind, "label": value,
                "box": c.box}

    @api.get("/api/corrections")
    def corrections():
        return {"corrections": ix.corrections()}

    @api.get("/api/labels.csv", summary="corrections as a labels CSV for irbis train (file,label,sequence,"
                                        "deployment; absolute paths)")
    def labels_csv():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["file", "label", "sequence", "deployment", "survey"])
        latest: dict[tuple[str, str], str] = {}
        for c in ix.corrections():                 # the last species/empty verdict per photo wins
            if c["kind"] in ("species", "empty"):
                latest[(c["survey"], c["file"])] = c["value"]
        for (survey, file), label in sorted(latest.items()):
            r = ix.query("SELECT p.path, p.seq, p.site FROM photos p JOIN surveys s ON s.id=p.survey_id "
                         "WHERE s.name=? AND p.file=?", (survey, file))
            if r and r[0]["path"]:
                w.writerow([r[0]["path"], label, r[0]["seq"] or "", r[0]["site"] or "", survey])
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=irbis-labels.csv"})

    @api.get("/api/basemap", summary="country outlines (Natural Earth 1:50m) meeting a lon/lat box")
    def basemap(bbox: str = Query(..., pattern=r"^-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$")):
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
        return {"outlines": outlines((x0, y0, x1, y1))}

    router = APIRouter()
    router.include_router(open_routes)
    router.include_router(api)
    return router


def add_error_handler(app: FastAPI) -> None:
    @app.exception_handler(DashboardError)
    async def dashboard_error(request: Request, exc: DashboardError):
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status)


def create_app(dash: Dashboard) -> FastAPI:
    """``irbis dashboard``: the dashboard alone."""
    from fastapi.exceptions import RequestValidationError

    from .. import __version__
    app = FastAPI(title="irbis dashboard", version=__version__)
    add_error_handler(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "detail": errors}, status_code=422)

    app.include_router(dashboard_router(dash))
    return app


def open_dashboard(state: str | os.PathLike, sources_files, service_state=None, token: str | None = None,
                   deployments: str | None = None) -> Dashboard:
    """Index, thumbnail cache and sources under ``state``; loads everything once."""
    from .index import read_sites_csv
    state = Path(state)
    index = Index(state / "dashboard.sqlite")
    if deployments:
        index.load_sites(read_sites_csv(deployments))
    dash = Dashboard(index, Sources(index, list(sources_files), service_state), ThumbCache(state / "thumbs"), token)
    dash.refresh(force=True)
    from .basemap import _rings
    threading.Thread(target=_rings, daemon=True, name="basemap").start()   # decode the outlines ahead
    return dash
