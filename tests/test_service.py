"""The batch API (irbis serve): real uvicorn server and worker processes on 127.0.0.1, real kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO, REPO, run_cli

import httpx  # noqa: E402  (fastapi, uvicorn and httpx are dependencies: missing ones fail)

FAST = "megadetector-lite-fast"
HERON = DEMO / "test" / "heron_burst"


def comparable(d: dict) -> dict:
    d = json.loads(json.dumps(d))
    d["info"].pop("detection_completion_time")
    d["info"].pop("classification_completion_time", None)
    return d


# Process helpers shared with bench/soak.py and bench/load.py.
sys.path.insert(0, str(REPO / "bench"))
from service_common import children, free_port  # noqa: E402

pytestmark = pytest.mark.slow   # servers, workers and multilabel training: the full suite only


class Server:
    """``irbis serve`` in a subprocess (its own process group, so teardown ends it and its workers)."""

    def __init__(self, state: Path, roots: list[Path], workers: int = 1, no_auth: bool = False, extra=()):
        self.state, self.roots, self.workers, self.no_auth, self.extra = state, roots, workers, no_auth, list(extra)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> Server:
        cmd = [sys.executable, "-m", "irbis.cli", "serve", "--port", str(self.port), "--state", str(self.state),
               "--workers", str(self.workers), *[a for r in self.roots for a in ("--root", str(r))], *self.extra]
        if self.no_auth:
            cmd.append("--no-auth")
        self.starts += 1
        self.log = self.state.parent / f"{self.state.name}-server-{self.starts}.log"
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True, env=os.environ.copy())
        if wait:
            deadline = time.time() + 90
            while time.time() < deadline:
                assert self.proc.poll() is None, self.output()
                try:
                    if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            raise AssertionError(f"server did not start:\n{self.output()}")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def token(self) -> str | None:
        return None if self.no_auth else (self.state / "token").read_text().strip()

    def client(self):
        from irbis.client import IrbisClient
        return IrbisClient(self.url, self.token)

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def kill9(self, workers_too: bool = True) -> int:
        """kill -9 the server and (at the same moment) its workers; returns how many died."""
        pids = ([self.proc.pid] + (self.worker_pids() if workers_too else []))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        return len(pids)

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)


def store_rows(state: Path, sql: str, args=()) -> list[tuple]:
    db = sqlite3.connect(str(state / "jobs.sqlite"), timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def wait_for(pred, timeout: float = 120, what: str = "condition", step: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the store and the path rules, in-process --------------------------------------------------
def test_store_fifo_with_aging_leases_and_exactly_once(tmp_path):
    from irbis.service.store import Store
    s = Store(tmp_path / "jobs.sqlite")
    big = s.create_job("/r", [(f"/r/b{i}.jpg", f"b{i}.jpg") for i in range(10)], {"detector": FAST}, 2)
    small = s.create_job("/r", [("/r/s.jpg", "s.jpg")], {"detector": FAST}, 2)
    # FIFO while nobody has waited past the aging limit
    c1 = s.claim("w1", lease_s=30, aging_s=3600)
    c2 = s.claim("w2", lease_s=30, aging_s=3600)
    assert (c1.job_id, c1.idx, c2.job_id, c2.idx) == (big, 0, big, 1)
    # ... but a job that waited longer than the aging limit goes first (the big one was just claimed)
    time.sleep(0.05)
    c3 = s.claim("w3", lease_s=30, aging_s=0.01)
    assert (c3.job_id, c3.kind) == (small, "detect")
    # a lost lease commits nothing; the holder's commit is stored once
    assert s.claim("w", lease_s=30, aging_s=0.0).job_id == big   # small's only other shard waits for c3
    assert s.commit_results(c3, [("s.jpg", {"file": "s.jpg", "detections": []})], finish=True)
    stale = c1.__class__(**{**c1.__dict__, "lease": "not-the-lease"})
    assert not s.commit_results(stale, [("b0.jpg", {"file": "b0.jpg", "detections": []})])
    assert s.commit_results(c1, [("b0.jpg", {"file": "b0.jpg", "detections": []})])
    assert s.commit_results(c1, [("b0.jpg", {"file": "b0.jpg", "detections": []})])
    assert s.job_summary(big)["done"] == 1
    # an expired lease returns the shard to the queue; the old holder can no longer write
    c4 = s.claim("w4", lease_s=0.01, aging_s=3600)
    time.sleep(0.05)
    c5 = s.claim("w5", lease_s=30, aging_s=3600)
    assert (c5.job_id, c5.idx) == (c4.job_id, c4.idx) and c5.lease != c4.lease
    assert not s.heartbeat("w4", c4, 30) and s.heartbeat("w5", c5, 30)
    assert not s.commit_results(c4, [("x", {})])
    # the aggregate shard waits for every detect shard; a dead worker's shard is requeued at once
    time.sleep(0.05)
    agg = s.claim("w6", lease_s=30, aging_s=0.01)
    assert agg.kind == "aggregate" and agg.job_id == small
    s.register_worker("w1", 1)
    assert s.release_worker("w1") == 1
    assert s.claim("w7", 30, 3600).idx == 0
    assert s.cancel(big) == "canceled" and not s.heartbeat("w7", c2, 30)


def test_paths_are_confined_to_the_roots(tmp_path):
    from irbis.service.security import Refused, Roots, ensure_token, photo_list
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "cam").mkdir(parents=True)
    outside.mkdir()
    for d in (root / "cam", outside):
        shutil.copy(next(HERON.glob("*.JPG")), d / "a.jpg")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "sneaky").mkdir()
    (root / "sneaky" / "b.jpg").symlink_to(outside / "a.jpg")
    roots = Roots([root])

    def refused(folder=None, photos=None):
        with pytest.raises(Refused) as e:
            photo_list(roots, folder, photos, None, 100)
        return e.value.status, e.value.detail

    assert refused(str(outside))[0] == 403
    assert refused(str(root / "escape"))[0] == 403                      # symlinked folder
    assert refused(str(root / "sneaky")) == (403, f"photo '{root / 'sneaky' / 'b.jpg'}' resolves outside the "
                                                  f"job's folder '{root / 'sneaky'}' (symlink escape)")
    assert refused(str(root / "cam" / ".." / "cam"))[0] == 403
    assert refused(photos=[str(root / "escape" / "a.jpg")])[0] == 403
    assert refused("cam")[0] == 400                                      # relative
    assert refused(str(root / "nope"))[0] == 404
    assert refused(photos=[str(root / "cam" / "a.jpg")] * 101)[0] == 413
    got_root, photos = photo_list(roots, str(root / "cam"), None, None, 100)
    assert got_root == (root / "cam").resolve() and [r for _, r in photos] == ["a.jpg"]
    token, created = ensure_token(tmp_path)
    assert created and stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert ensure_token(tmp_path) == (token, False)


# -- a running server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    root = base / "root"
    shutil.copytree(HERON, root / "heron")
    (root / "many").mkdir()
    for f in [*sorted(HERON.glob("*.JPG")), *sorted((DEMO / "train" / "animals").glob("*.webp"))]:
        shutil.copy(f, root / "many" / f.name)
    (base / "outside").mkdir()
    shutil.copy(next(HERON.glob("*.JPG")), base / "outside" / "x.jpg")
    (root / "escape").symlink_to(base / "outside", target_is_directory=True)
    server = Server(base / "state", [root], workers=1,
                    extra=["--max-photos", "30", "--max-request-bytes", "20000",
                           "--classifiers", str(base / "models")]).start()
    server.root = root
    yield server
    server.stop()


def test_token_is_created_0600_printed_once_and_required(api, tmp_path):
    assert stat.S_IMODE((api.state / "token").stat().st_mode) == 0o600
    assert api.token in api.output()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": api.token}):
        r = httpx.get(api.url + "/v1/jobs", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized" and "token" in r.json()["detail"]
    assert httpx.get(api.url + "/healthz").json()["status"] == "ok"
    assert httpx.get(api.url + "/docs").status_code == 200
    assert "/v1/jobs" in httpx.get(api.url + "/openapi.json").json()["paths"]
    # a second start reuses the token and does not print it again
    again = Server(api.state.parent / "state2", [api.root], workers=0)
    again.start().stop()
    first_token = again.token
    again.start().stop()
    assert first_token in again.log.with_name("state2-server-1.log").read_text()
    assert first_token not in again.output() and again.token == first_token
    # --no-auth only on loopback
    proc = run_cli("serve", "--host", "0.0.0.0", "--no-auth", "--root", api.root, "--state", tmp_path / "s",
                   check=False)
    assert proc.returncode == 2 and "loopback" in proc.stderr


def test_every_4xx_says_what_was_wrong_in_json(api):
    c = api.client()
    h = {"Authorization": f"Bearer {api.token}"}
    post = lambda body: httpx.post(api.url + "/v1/jobs", json=body, headers=h)
    cases = [
        (post({"folder": "/etc"}), 403, "outside the server's allowed roots"),
        (post({"folder": str(api.root / "escape")}), 403, "outside the server's allowed roots"),
        (post({"folder": str(api.root / "heron" / ".." / "heron")}), 403, "'..' is not allowed"),
        (post({"photos": [str(api.root / "escape" / "x.jpg")]}), 403, "outside"),
        (post({"folder": str(api.root / "nope")}), 404, "does not exist"),
        (post({"folder": str(api.root / "heron"), "threshold": 2}), 422, "less than or equal"),
        (post({"folder": str(api.root / "heron"), "colour": "red"}), 422, "Extra inputs"),
        (post({"folder": str(api.root / "heron"), "detector": "yolo9000"}), 400, "not offered"),
        (post({}), 400, "either 'folder' or"),
        (post({"photos": [str(api.root / "heron" / "x.jpg")] * 31}), 413, "at most 30"),
        (post({"photos": ["/" + "x" * 30000]}), 413, "request body over"),
        (httpx.get(api.url + "/v1/jobs/0123456789abcdef", headers=h), 404, "no job"),
        (httpx.get(api.url + "/v1/nothing", headers=h), 404, "Not Found"),
        (httpx.put(api.url + "/v1/jobs", headers=h), 405, "Method Not Allowed"),
    ]
    for r, status, text in cases:
        assert r.status_code == status, (r.request.url, r.text)
        body = r.json()
        assert body["error"] and text in json.dumps(body), body
    assert c.models()["detectors"][:2] == ["megadetector-lite", FAST]


def test_client_commands_give_the_same_json_as_irbis_detect(api, tmp_path):
    env = {"IRBIS_TOKEN": api.token}
    proc = run_cli("submit", api.root / "heron", "--server", api.url, "--shard-size", "4", "--detector", FAST,
                   "--name", "heron", env=env)
    job = proc.stdout.strip().splitlines()[-1]
    st = json.loads(run_cli("status", job, "--server", api.url, env=env).stdout)
    assert st["job_id"] == job and st["total"] == 10 and st["shards"]["total"] == 3
    assert st["status"] in ("queued", "running", "completed")
    out = tmp_path / "job.json"
    run_cli("results", job, "--server", api.url, "--out", out, "--timeout", "180", env=env)
    reference = tmp_path / "ref.json"
    run_cli("detect", api.root / "heron", "--out", reference, "--model", FAST, "--quiet",
            "--catalog", tmp_path / "ref.sqlite")
    got = json.loads(out.read_text())
    assert comparable(got) == comparable(json.loads(reference.read_text()))
    assert sorted(im["file"] for im in got["images"]) == sorted(p.name for p in HERON.glob("*.JPG"))
    with api.client() as c:
        st = c.status(job)
        assert st["status"] == "completed" and st["done"] == 10 and st["shards"]["done"] == 3
        assert st["result_url"] == f"/v1/jobs/{job}/results" and st["finished_at"] >= st["created_at"]
        assert job in [j["job_id"] for j in c.jobs()]
        assert [j["job_id"] for j in c.jobs(status="completed")] == [job]
        assert c.results(job) == got
    # without a token the client command fails with the server's reason
    proc = run_cli("status", job, "--server", api.url, check=False, env={"IRBIS_TOKEN": ""})
    assert proc.returncode == 1 and "401" in proc.stderr


def test_a_job_with_a_classifier_equals_irbis_run(api, tmp_path):
    from irbis.client import ClientError
    (api.state.parent / "models").mkdir(exist_ok=True)
    model = api.state.parent / "models" / "demo.irbis"
    run_cli("train", DEMO / "train" / "labels.csv", "--out", model, "--C", "1", "--quiet")
    with api.client() as c:
        assert c.models()["classifiers"] == ["demo.irbis"]
        with pytest.raises(ClientError) as e:
            c.submit(folder=api.root / "heron", classifier="../demo.irbis")
        assert e.value.status == 400 and "not offered" in str(e.value)
        job = c.submit(folder=api.root / "heron", classifier="demo.irbis", detector=FAST, shard_size=4)
        c.wait(job, poll_s=0.3, timeout_s=240)
        got = c.results(job)
        assert "classifier_path" not in c.status(job)["options"]
    reference = tmp_path / "run.json"
    run_cli("run", api.root / "heron", "--model", model, "--detector", FAST, "--out", reference, "--quiet",
            "--catalog", tmp_path / "c.sqlite")
    assert got["classification_categories"] == {"0": "animal", "1": "no_animal"}
    assert comparable(got) == comparable(json.loads(reference.read_text()))


def test_cancel_a_running_job(api):
    from irbis.client import ClientError, JobFailed
    with api.client() as c:
        job = c.submit(folder=api.root / "many", shard_size=4, detector=FAST)
        with pytest.raises(ClientError) as e:
            c.results(job)
        assert e.value.status == 409 and e.value.body["error"] == "not_ready"
        wait_for(lambda: c.status(job)["status"] == "running", 60, "the job to start")
        assert c.cancel(job)["status"] == "canceled"
        with pytest.raises(ClientError) as e:
            c.cancel(job)
        assert e.value.status == 409
        with pytest.raises(JobFailed):
            c.wait(job, poll_s=0.2, timeout_s=10)
        # the worker notices at its next commit and abandons the shard
        logs = lambda: "".join(p.read_text() for p in (api.state / "logs").glob("worker-*.log"))
        wait_for(lambda: f"{job}/" in logs() and "abandoned" in logs(), 30, "the shard to be abandoned")
        st = c.status(job)
        assert st["status"] == "canceled" and st["done"] < 26 and st["result_url"] is None


# -- kill -9 --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def survey(tmp_path_factory, kit) -> Path:
    """The heron burst and six real jaguar trap frames: 16 photos, 4 shards of 4."""
    root = tmp_path_factory.mktemp("killsurvey") / "survey"
    shutil.copytree(HERON, root / "heron")
    (root / "jaguar").mkdir()
    for f in sorted((kit / "cameratrap/dev/animl_Jaguar").glob("*.jpg"))[:6]:
        shutil.copy(f, root / "jaguar" / f.name)
    return root


@pytest.mark.slow
def test_kill_9_server_and_workers_at_several_moments_then_exactly_once(survey, tmp_path):
    reference = tmp_path / "reference.json"
    run_cli("detect", survey, "--out", reference, "--model", FAST, "--quiet", "--catalog", tmp_path / "ref.sqlite")
    server = Server(tmp_path / "state", [survey], workers=2, no_auth=True, extra=["--lease", "20"])
    try:
        server.start()
        c = server.client()
        job = c.submit(folder=survey, shard_size=4, detector=FAST)
        done = lambda: store_rows(server.state, "SELECT COUNT(*) FROM results")[0][0]
        kills = []
        # 1. a worker alone, once the first photos are committed: the server restarts it
        wait_for(lambda: done() >= 1, 120, "the first committed photo", 0.05)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        kills.append(("worker", done()))
        wait_for(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), 30,
                 "the worker to be restarted")
        # 2. server and workers in the middle of shards
        wait_for(lambda: done() >= 6, 120, "six committed photos", 0.05)
        kills.append(("all", done(), server.kill9()))
        # 3. right after a restart, while the workers load their models
        server.start()
        time.sleep(0.5)
        kills.append(("all", done(), server.kill9()))
        # 4. later again, as close to the end as we catch it (aggregation, or the last shards)
        server.start()
        wait_for(lambda: done() >= 13, 120, "thirteen committed photos", 0.05)
        status_at_kill = store_rows(server.state, "SELECT status FROM jobs")[0][0]
        kills.append(("all", done(), server.kill9()))
        server.start()
        c = server.client()
        st = c.wait(job, poll_s=0.2, timeout_s=180)
        got = c.results(job)
    finally:
        server.stop()
    files = [im["file"] for im in got["images"]]
    assert len(files) == len(set(files)) == 16 and st["done"] == st["total"] == 16
    ref = json.loads(reference.read_text())
    diff = [(a, b) for a, b in zip(got["images"], ref["images"]) if a != b]
    assert comparable(got) == comparable(ref), diff
    print("kills (target, photos committed, processes killed):", kills)
    assert len(kills) == 4 and status_at_kill == "running", kills
    rows = store_rows(server.state, "SELECT rel_path, COUNT(*) FROM results GROUP BY job_id, rel_path")
    assert len(rows) == 16 and {n for _, n in rows} == {1}
    assert store_rows(server.state, "SELECT COUNT(*) FROM shards WHERE status!='done'")[0][0] == 0
    # the kills really interrupted work: some shard was claimed more than once
    assert store_rows(server.state, "SELECT MAX(claims) FROM shards")[0][0] >= 2
