"""The dashboard inside ``irbis serve``: at ``/``, its surveys the server's completed jobs plus,
with ``--watch DIR``, a folder watched by a thread of the server (results in STATE/watch/)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from .app import add_error_handler, dashboard_router, open_dashboard
from .sources import ResultsSource


def mount_dashboard(app, state: Path, token: str | None, watch: list[str] | None = None,
                    deployments: str | None = None, watch_model: str | None = None) -> None:
    files = []
    for folder in watch or []:
        name = Path(folder).resolve().name
        out = state / "watch" / f"{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        files.append(ResultsSource(name, out, Path(folder).resolve()))
        threading.Thread(target=_watch, args=(folder, out, watch_model), daemon=True, name=f"watch-{name}").start()
    dash = open_dashboard(state / "dashboard", files, state, token, deployments)
    add_error_handler(app)
    app.include_router(dashboard_router(dash))


def _watch(folder: str, out: Path, model: str | None) -> None:
    from .watcher import Watcher
    try:
        w = Watcher(folder, out, model)
        print(f"irbis serve: watching {w.folder}; results in {out}", flush=True)
        w.run()
    except Exception as exc:             # the API keeps serving; the operator sees why watching stopped
        print(f"irbis serve: watching {folder} stopped: {exc}", file=sys.stderr, flush=True)
