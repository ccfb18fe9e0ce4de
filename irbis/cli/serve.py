"""``irbis serve | submit | status | results | cancel | jobs``: the batch API and its client."""

from __future__ import annotations

import argparse
import json
import sys

from .engine import add_engine_args

DEFAULT_SERVER = "http://127.0.0.1:8000"


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=DEFAULT_SERVER, help="API address (default: %(default)s)")
    p.add_argument("--token", help="bearer token (default: $IRBIS_TOKEN)")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="batch API: accept photo jobs over HTTP, process them with worker processes")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--root", action="append", required=True, metavar="DIR",
                   help="a folder clients may submit photos from (repeatable); nothing outside is served")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    p.add_argument("--state", help="job store, results and token (default: $IRBIS_HOME/service)")
    p.add_argument("--no-auth", action="store_true", help="no bearer token (only with a loopback --host)")
    p.add_argument("--shard-size", type=int, default=2000, help="photos per shard when a job gives none")
    p.add_argument("--max-photos", type=int, default=100_000, help="photos per job (default: %(default)s)")
    p.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024)
    p.add_argument("--lease", type=float, default=60.0,
                   help="seconds a shard stays leased without a heartbeat (default: %(default)s)")
    p.add_argument("--aging", type=float, default=60.0,
                   help="a job waiting longer than this since its last shard goes ahead of older jobs")
    p.add_argument("--classifiers", metavar="DIR", help="folder of model bundles (*.irbis) jobs may name")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--watch", action="append", metavar="DIR",
                   help="also watch this folder (irbis watch in the server) and show it on the dashboard")
    p.add_argument("--watch-model", metavar="BUNDLE", help="classifier bundle for --watch folders")
    p.add_argument("--deployments", metavar="CSV|CAMTRAP_DP_DIR", help="site coordinates for the dashboard map")
    p.add_argument("--no-dashboard", action="store_true", help="API only: no survey dashboard at /")
    add_engine_args(p)   # workers hand each shard to a Spark cluster with --engine spark
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("submit", help="submit a photo folder (on the server's disk) to an irbis server")
    p.add_argument("photos_dir")
    _client_args(p)
    p.add_argument("--shard-size", type=int)
    p.add_argument("--detector", help="detector name (GET /v1/models; default: the server's)")
    p.add_argument("--threshold", type=float)
    p.add_argument("--classifier", help="classifier bundle name offered by the server")
    p.add_argument("--name")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="a job's status on an irbis server")
    p.add_argument("job_id")
    _client_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("results", help="wait for a job (progress bar), then write its MegaDetector JSON")
    p.add_argument("job_id")
    _client_args(p)
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("cancel", help="cancel a job on an irbis server")
    p.add_argument("job_id")
    _client_args(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("jobs", help="list the jobs of an irbis server")
    _client_args(p)
    p.set_defaults(func=cmd_jobs)


def cmd_serve(args) -> int:
    from ..service.server import serve
    from .engine import check_engine_args
    check_engine_args(args)
    mount = None
    if not args.no_dashboard:                 # the survey dashboard at / (irbis.dashboard)
        from functools import partial

        from ..dashboard.mount import mount_dashboard
        mount = partial(mount_dashboard, watch=args.watch, watch_model=args.watch_model,
                        deployments=args.deployments)
    return serve(args.host, args.port, args.root, args.state, args.workers, args.no_auth, args.shard_size,
                 args.max_photos, args.max_request_bytes, args.lease, args.aging, args.classifiers, args.log_level,
                 mount)


def _with_client(args, fn) -> int:
    from ..client import ClientError, IrbisClient
    try:
        with IrbisClient(args.server, args.token) as c:
            return fn(c)
    except ClientError as exc:
        print(f"irbis {args.command}: error: {exc}", file=sys.stderr)
        return 1


def cmd_submit(args) -> int:
    def go(c):
        job = c.submit(folder=args.photos_dir, shard_size=args.shard_size, detector=args.detector,
                       threshold=args.threshold, classifier=args.classifier, name=args.name)
        print(f"submitted {args.photos_dir}; follow with: irbis status {job} --server {args.server}")
        print(job)
        return 0
    return _with_client(args, go)


def cmd_status(args) -> int:
    def go(c):
        print(json.dumps(c.status(args.job_id), indent=1))
        return 0
    return _with_client(args, go)


def cmd_results(args) -> int:
    from ..formats.md_json import write_results

    def go(c):
        s = c.wait(args.job_id, timeout_s=args.timeout, progress=not args.quiet)
        write_results(args.out, c.results(args.job_id))
        print(f"job {args.job_id}: {s['total']} photos; results written to {args.out}")
        return 0
    return _with_client(args, go)


def cmd_cancel(args) -> int:
    def go(c):
        print(c.cancel(args.job_id)["status"])
        return 0
    return _with_client(args, go)


def cmd_jobs(args) -> int:
    def go(c):
        for j in c.jobs():
            print(f"{j['job_id']}  {j['status']:<9}  {j['done']:>6}/{j['total']:<6}  {j['created_at']}  "
                  f"{j['name'] or ''}")
        return 0
    return _with_client(args, go)
