"""``irbis serve``: the API (uvicorn) plus a supervisor that keeps N worker processes alive."""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import irbis_home
from .security import Roots, ensure_token, is_loopback
from .store import Store


def default_state() -> Path:
    """Per-user default: ``$IRBIS_HOME/service`` (``~/.cache/irbis/service``)."""
    return irbis_home() / "service"


class ServeError(ValueError):
    pass


@dataclass
class WorkerProc:
    id: str
    proc: subprocess.Popen
    started: float


class Supervisor:
    """Starts the workers, restarts any that die and returns their shards to the queue at once."""

    def __init__(self, state: Path, store: Store, n: int, lease_s: float, aging_s: float):
        self.state, self.store, self.n, self.lease_s, self.aging_s = state, store, n, lease_s, aging_s
        self.workers: list[WorkerProc] = []
        self.stopping = threading.Event()
        self.restarts = 0
        (state / "logs").mkdir(exist_ok=True)

    def spawn(self) -> WorkerProc:
        wid = f"w{os.getpid()}-{secrets.token_hex(3)}"
        log = open(self.state / "logs" / f"worker-{wid}.log", "ab")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "irbis.service.worker", "--state", str(self.state),
                                 "--id", wid, "--lease", str(self.lease_s), "--aging", str(self.aging_s),
                                 "--parent", str(os.getpid())],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        return WorkerProc(wid, proc, time.monotonic())

    def start(self) -> None:
        self.workers = [self.spawn() for _ in range(self.n)]
        threading.Thread(target=self.loop, daemon=True, name="supervisor").start()

    def loop(self) -> None:
        backoff = 0.0
        while not self.stopping.wait(0.5):
            for i, w in enumerate(self.workers):
                rc = w.proc.poll()
                if rc is None or self.stopping.is_set():
                    continue
                try:
                    n = self.store.release_worker(w.id)
                except Exception as exc:
                    print(f"irbis serve: could not release worker {w.id}: {exc}", file=sys.stderr, flush=True)
                    continue
                quick = time.monotonic() - w.started < 10
                backoff = min(30.0, backoff * 2 + 1) if quick else 0.0
                print(f"irbis serve: worker {w.id} (pid {w.proc.pid}) exited with {rc}; {n} shard(s) requeued; "
                      f"restarting" + (f" in {backoff:.0f}s" if backoff else ""), file=sys.stderr, flush=True)
                if backoff and self.stopping.wait(backoff):
                    return
                self.workers[i] = self.spawn()
                self.restarts += 1

    def stop(self) -> None:
        self.stopping.set()
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in self.workers:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()


def lock_state(state: Path):
    """One server per state folder (the lock dies with the process, even on kill -9)."""
    fh = open(state / "server.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        fh.close()
        raise ServeError(f"another irbis serve uses {state}; stop it or give another --state") from exc
    return fh


def serve(host: str, port: int, roots: list[str], state: str | None, workers: int, no_auth: bool,
          shard_size: int, max_photos: int, max_request_bytes: int, lease_s: float, aging_s: float,
          classifiers: str | None = None, log_level: str = "warning",
          mount: Callable[[object, Path, str | None], None] | None = None) -> int:
    """Run the batch API until interrupted. ``mount(app, state_dir, token)`` adds routes to the app
    before it serves (``irbis serve`` mounts the survey dashboard at / this way)."""
    import uvicorn

    from .app import ServiceConfig, create_app
    if no_auth and not is_loopback(host):
        raise ServeError(f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not {host!r}")
    state_dir = Path(state).expanduser() if state else default_state()
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    allowed = Roots(roots)
    lock = lock_state(state_dir)
    token = None
    if not no_auth:
        token, created = ensure_token(state_dir)
        if created:
            print(f"irbis serve: new API token (shown once; stored with mode 0600 in {state_dir / 'token'}):\n"
                  f"{token}", flush=True)
        else:
            print(f"irbis serve: API token in {state_dir / 'token'}", flush=True)
    store = Store(state_dir / "jobs.sqlite")
    requeued = store.recover()
    cfg = ServiceConfig(state_dir, allowed, token, max_photos=max_photos, max_request_bytes=max_request_bytes,
                        shard_size=shard_size, classifiers=Path(classifiers).resolve() if classifiers else None)
    asgi, app = create_app(cfg, store)
    if mount is not None:
        mount(app, state_dir, token)
    sup = Supervisor(state_dir, store, workers, lease_s, aging_s)
    sup.start()
    print(f"irbis serve: http://{host}:{port} (docs at /docs), {workers} worker(s), state {state_dir}, roots "
          f"{', '.join(map(str, allowed.roots))}" + (f"; {requeued} interrupted shard(s) requeued" if requeued else ""),
          flush=True)
    try:
        uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level=log_level, access_log=False)).run()
    finally:
        sup.stop()
        lock.close()
    return 0
