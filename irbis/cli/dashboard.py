"""``irbis dashboard`` (survey dashboard and review on irbis's results) and ``irbis watch`` (a folder
watcher that feeds it)."""

from __future__ import annotations

import time

from ..options import RunOptions, add_cli_options, from_cli
from . import listener


def add_parser(sub) -> None:
    p = sub.add_parser("dashboard", help="survey dashboard and photo review in the browser, on results files "
                                         "and/or a batch-API state folder")
    p.add_argument("results", nargs="*", metavar="[NAME=]RESULTS.json",
                   help="MegaDetector batch JSON files (irbis detect/run/watch); one survey each, named NAME "
                        "or the file's stem")
    p.add_argument("--photos", action="append", metavar="DIR",
                   help="the folder a results file's paths are relative to, one per file in order (default: "
                        "what irbis watch recorded, else the results file's folder)")
    p.add_argument("--state", metavar="DIR",
                   help="an irbis serve state folder: its completed jobs are surveys too (and its token is used)")
    p.add_argument("--dashboard-state", metavar="DIR",
                   help="index, corrections and thumbnails (default: STATE/dashboard, else $IRBIS_HOME/dashboard)")
    p.add_argument("--deployments", metavar="CSV|CAMTRAP_DP_DIR",
                   help="site coordinates: deployment,latitude,longitude[,start,end] or a Camtrap DP package")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--no-auth", action="store_true", help="no token (only with a loopback --host)")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("watch", help="detect (and classify) photos as they land in a folder; rewrite one "
                                     "results file after each batch (irbis dashboard shows it live)")
    p.add_argument("folder")
    p.add_argument("--out", required=True, help="MegaDetector batch JSON to keep up to date")
    p.add_argument("--model", dest="classifier", help="classifier bundle from irbis train (optional)")
    p.add_argument("--catalog", help="catalog SQLite file (default: one per photo folder under $IRBIS_HOME)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds a file's size must hold still before it is read (default: %(default)s)")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between folder scans (default: %(default)s)")
    p.add_argument("--no-inotify", action="store_true", help="poll only (e.g. network drives)")
    p.add_argument("--exit-when-idle", type=float, metavar="S", help="stop after S seconds without new photos")
    p.add_argument("--quiet", action="store_true")
    add_cli_options(p, RunOptions)
    p.set_defaults(func=cmd_watch)


def cmd_dashboard(args) -> int:
    from pathlib import Path

    import uvicorn

    from ..config import irbis_home
    from ..dashboard.app import create_app, open_dashboard
    from ..dashboard.sources import parse_source
    from ..service.security import ensure_token, is_loopback
    if args.no_auth and not is_loopback(args.host):
        raise ValueError(f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not "
                         f"{args.host!r}")
    if not args.results and not args.state:
        raise ValueError("give results files and/or --state DIR (an irbis serve state folder)")
    photos = args.photos or []
    if photos and len(photos) != len(args.results):
        raise ValueError(f"--photos given {len(photos)} time(s) for {len(args.results)} results file(s); give "
                         f"one per file, in order")
    sources = [parse_source(r, photos[i] if photos else None) for i, r in enumerate(args.results)]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"two surveys share a name in {names}; name them NAME=RESULTS.json")
    state = Path(args.dashboard_state or (Path(args.state) / "dashboard" if args.state else irbis_home() / "dashboard"))
    state.mkdir(parents=True, exist_ok=True)
    token = None
    if not args.no_auth:
        token_dir = Path(args.state) if args.state else state
        token_dir.mkdir(parents=True, exist_ok=True)
        token, created = ensure_token(token_dir)
        where = token_dir / "token"
        print(f"irbis dashboard: new access token (stored with mode 0600 in {where}):\n{token}" if created else
              f"irbis dashboard: access token in {where}", flush=True)
    t0 = time.monotonic()
    dash = open_dashboard(state, sources, args.state, token, args.deployments)
    surveys = dash.index.surveys()
    print(f"irbis dashboard: {len(surveys)} survey(s), {sum(s['photos'] for s in surveys)} photos indexed in "
          f"{time.monotonic() - t0:.1f}s; http://{args.host}:{args.port}/  (state {state})", flush=True)
    uvicorn.Server(uvicorn.Config(create_app(dash), host=args.host, port=args.port, log_level=args.log_level,
                                  access_log=False)).run()
    return 0


def cmd_watch(args) -> int:
    from ..dashboard.watcher import Watcher
    w = Watcher(args.folder, args.out, args.classifier, from_cli(RunOptions, args), args.catalog,
                settle_s=args.settle, poll_s=args.poll, listener=listener(args), use_inotify=not args.no_inotify)
    print(f"irbis watch: watching {w.folder} ({w.mode}, scan every {args.poll}s); results in {args.out}; "
          f"{len(w.journal.done)} photo(s) already done", flush=True)

    def batch(n, watcher):
        s = watcher.stats
        print(f"irbis watch: +{s.new} new photo(s); {s.photos} in results, {s.failures} failed; landed-to-written "
              f"{max(s.latencies_s[-n:]):.1f}s", flush=True)
    try:
        stats = w.run(args.exit_when_idle, batch)
    except KeyboardInterrupt:
        stats = w.stats
    finally:
        w.close()
    lat = sorted(stats.latencies_s)
    print(f"irbis watch: {stats.batches} batch(es), {stats.photos} photos in {args.out}, {stats.failures} failed"
          + (f"; landed-to-written median {lat[len(lat) // 2]:.1f}s, max {lat[-1]:.1f}s" if lat else ""),
          )
    return 0
