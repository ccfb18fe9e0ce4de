"""The durable job store: jobs, their fixed photo lists, shards with leases, per-photo results.

One SQLite file (WAL, ``synchronous=FULL``, every change in a ``BEGIN IMMEDIATE`` transaction),
shared by the API server and the worker processes.

* A job is split at submit into ``detect`` shards of ``shard_size`` photos plus one ``aggregate``
  shard that becomes claimable when every detect shard is done.
* A worker claims a shard with a random lease token and an expiry; a heartbeat extends it. Results
  are committed only while the token still matches (checked in the same transaction), so a worker
  that lost its shard (died, expired, canceled) can never write into the job again.
* Results are keyed by (job, photo path): a photo is in a job's result exactly once.
* Claim policy (see README "Batch API"): first-in first-out by submit order, except that a job
  that has waited longer than ``aging_s`` since its last claim (or its submit) goes first, the
  longest-waiting first. A big job therefore delays a small one by at most ``aging_s`` plus one
  shard's duration per shard of the small job.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT,
    status TEXT NOT NULL,              -- queued | running | completed | failed | canceled
    root TEXT NOT NULL,                -- photo paths in the result are relative to it
    options TEXT NOT NULL,             -- JSON: detector, thresholds, classifier, ...
    total INTEGER NOT NULL,
    shard_size INTEGER NOT NULL,
    n_shards INTEGER NOT NULL,         -- detect shards (the aggregate shard is extra)
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, last_claim_at REAL,
    error TEXT, result_path TEXT
);
CREATE TABLE IF NOT EXISTS photos (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, path TEXT NOT NULL, rel_path TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS shards (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL,
    kind TEXT NOT NULL,                -- detect | aggregate
    first INTEGER NOT NULL, count INTEGER NOT NULL,
    status TEXT NOT NULL,              -- queued | running | done | canceled | failed
    lease TEXT, worker TEXT, lease_expires REAL,
    claims INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, crashes INTEGER NOT NULL DEFAULT 0,
    started_at REAL, finished_at REAL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS shards_status ON shards(status);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL, rel_path TEXT NOT NULL, shard INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (job_id, rel_path)
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, pid INTEGER, started_at REAL, heartbeat REAL, shard TEXT
);
"""

ACTIVE = ("queued", "running")
MAX_SHARD_ERRORS = 3      # exceptions in a worker on one shard before the job fails
MAX_SHARD_CRASHES = 10    # worker processes dying on one shard before the job fails


class StoreError(ValueError):
    pass


@dataclass(frozen=True)
class Claim:
    job_id: str
    idx: int
    kind: str
    first: int
    count: int
    lease: str


class Store:
    """Thread-safe (one connection per thread); safe across processes (SQLite locking)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self.db
        db.executescript(SCHEMA)

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=60000")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def tx(self):
        return _Tx(self.db)

    # -- jobs ---------------------------------------------------------------------------
    def create_job(self, root: str, photos: list[tuple[str, str]], options: dict, shard_size: int,
                   name: str | None = None) -> str:
        """photos: (absolute resolved path, path relative to root), in result order."""
        job_id = secrets.token_hex(8)
        n = len(photos)
        n_shards = (n + shard_size - 1) // shard_size
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT INTO jobs(id, name, status, root, options, total, shard_size, n_shards, created_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?)",
                       (job_id, name, "queued", root, json.dumps(options), n, shard_size, n_shards, now))
            db.executemany("INSERT INTO photos(job_id, idx, path, rel_path) VALUES (?,?,?,?)",
                           [(job_id, i, p, r) for i, (p, r) in enumerate(photos)])
            db.executemany("INSERT INTO shards(job_id, idx, kind, first, count, status) VALUES (?,?,?,?,?,?)",
                           [(job_id, k, "detect", k * shard_size, min(shard_size, n - k * shard_size), "queued")
                            for k in range(n_shards)] + [(job_id, n_shards, "aggregate", 0, n, "queued")])
        return job_id

    def job(self, job_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()

    def job_summary(self, job_id: str) -> dict | None:
        row = self.job(job_id)
        return None if row is None else self._summaries([row])[0]

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[dict]:
        q, args = "SELECT * FROM jobs", []
        if status:
            q, args = q + " WHERE status=?", [status]
        rows = self.db.execute(q + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return self._summaries(rows)

    def _summaries(self, rows) -> list[dict]:
        out = []
        for row in rows:
            done = self.db.execute("SELECT COUNT(*) FROM results WHERE job_id=?", (row["id"],)).fetchone()[0]
            counts = dict(self.db.execute("SELECT status, COUNT(*) FROM shards WHERE job_id=? AND kind='detect' "
                                          "GROUP BY status", (row["id"],)).fetchall())
            out.append({"job_id": row["id"], "name": row["name"], "status": row["status"], "done": done,
                        "total": row["total"],
                        "shards": {"total": row["n_shards"], "shard_size": row["shard_size"],
                                   **{s: counts.get(s, 0) for s in ("queued", "running", "done")}},
                        "created_at": row["created_at"], "started_at": row["started_at"],
                        "finished_at": row["finished_at"], "error": row["error"],
                        "options": json.loads(row["options"]), "root": row["root"]})
        return out

    def photos(self, job_id: str, first: int = 0, count: int | None = None) -> list[sqlite3.Row]:
        count = -1 if count is None else count
        return self.db.execute("SELECT idx, path, rel_path FROM photos WHERE job_id=? AND idx>=? ORDER BY idx "
                               "LIMIT ?", (job_id, first, count)).fetchall()

    def results(self, job_id: str, rel_paths: list[str] | None = None) -> dict[str, dict]:
        rows = self.db.execute("SELECT rel_path, record FROM results WHERE job_id=?", (job_id,)).fetchall()
        wanted = None if rel_paths is None else set(rel_paths)
        return {r[0]: json.loads(r[1]) for r in rows if wanted is None or r[0] in wanted}

    def cancel(self, job_id: str) -> str:
        """New status; raises StoreError when the job already finished."""
        now = time.time()
        with self.tx() as db:
            row = db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            if row[0] not in ACTIVE:
                raise StoreError(f"job {job_id} is already {row[0]}")
            db.execute("UPDATE jobs SET status='canceled', finished_at=? WHERE id=?", (now, job_id))
            db.execute("UPDATE shards SET status='canceled', lease=NULL WHERE job_id=? AND status IN "
                       "('queued','running')", (job_id,))
        return "canceled"

    # -- shards: claim, heartbeat, commit --------------------------------------------------
    def claim(self, worker: str, lease_s: float, aging_s: float) -> Claim | None:
        now = time.time()
        with self.tx() as db:
            jobs = db.execute(
                "SELECT j.id, j.seq, j.created_at, j.last_claim_at FROM jobs j WHERE j.status IN ('queued','running') "
                "AND EXISTS (SELECT 1 FROM shards s WHERE s.job_id=j.id AND (s.status='queued' OR "
                "(s.status='running' AND s.lease_expires<?)) AND (s.kind='detect' OR NOT EXISTS "
                "(SELECT 1 FROM shards d WHERE d.job_id=j.id AND d.kind='detect' AND d.status!='done')))"
                " ORDER BY j.seq", (now,)).fetchall()
            if not jobs:
                return None
            waited = [(now - max(j["created_at"], j["last_claim_at"] or 0), j) for j in jobs]
            aged = [w for w in waited if w[0] > aging_s]
            job = max(aged, key=lambda w: (w[0], -w[1]["seq"]))[1] if aged else jobs[0]
            shard = db.execute(
                "SELECT * FROM shards s WHERE job_id=? AND (status='queued' OR (status='running' AND "
                "lease_expires<?)) AND (kind='detect' OR NOT EXISTS (SELECT 1 FROM shards d WHERE "
                "d.job_id=s.job_id AND d.kind='detect' AND d.status!='done')) ORDER BY idx LIMIT 1",
                (job["id"], now)).fetchone()
            lease = secrets.token_hex(8)
            db.execute("UPDATE shards SET status='running', lease=?, worker=?, lease_expires=?, claims=claims+1, "
                       "started_at=? WHERE job_id=? AND idx=?",
                       (lease, worker, now + lease_s, now, job["id"], shard["idx"]))
            db.execute("UPDATE jobs SET status='running', started_at=COALESCE(started_at, ?), last_claim_at=? "
                       "WHERE id=?", (now, now, job["id"]))
            db.execute("UPDATE workers SET shard=?, heartbeat=? WHERE id=?",
                       (f"{job['id']}/{shard['idx']}", now, worker))
        return Claim(job["id"], shard["idx"], shard["kind"], shard["first"], shard["count"], lease)

    def _holds(self, db, c: Claim) -> bool:
        row = db.execute("SELECT 1 FROM shards s JOIN jobs j ON j.id=s.job_id WHERE s.job_id=? AND s.idx=? "
                         "AND s.lease=? AND s.status='running' AND j.status='running'",
                         (c.job_id, c.idx, c.lease)).fetchone()
        return row is not None

    def heartbeat(self, worker: str, c: Claim | None, lease_s: float) -> bool:
        """Extend the lease; False when it was lost (expired and re-claimed, canceled, released)."""
        now = time.time()
        with self.tx() as db:
            db.execute("UPDATE workers SET heartbeat=? WHERE id=?", (now, worker))
            if c is None:
                return True
            if not self._holds(db, c):
                return False
            db.execute("UPDATE shards SET lease_expires=? WHERE job_id=? AND idx=? AND lease=?",
                       (now + lease_s, c.job_id, c.idx, c.lease))
        return True

    def commit_results(self, c: Claim, records: list[tuple[str, dict]], finish: bool = False) -> bool:
        """Store finished photos (and close the shard); False, storing nothing, when the lease is lost."""
        with self.tx() as db:
            if not self._holds(db, c):
                return False
            db.executemany("INSERT OR IGNORE INTO results(job_id, rel_path, shard, record) VALUES (?,?,?,?)",
                           [(c.job_id, rel, c.idx, json.dumps(rec)) for rel, rec in records])
            if finish:
                db.execute("UPDATE shards SET status='done', lease=NULL, finished_at=? WHERE job_id=? AND idx=?",
                           (time.time(), c.job_id, c.idx))
        return True

    def complete_job(self, c: Claim, result_path: str) -> bool:
        now = time.time()
        with self.tx() as db:
            if not self._holds(db, c):
                return False
            db.execute("UPDATE shards SET status='done', lease=NULL, finished_at=? WHERE job_id=? AND idx=?",
                       (now, c.job_id, c.idx))
            db.execute("UPDATE jobs SET status='completed', finished_at=?, result_path=? WHERE id=?",
                       (now, result_path, c.job_id))
        return True

    def shard_error(self, c: Claim, error: str) -> None:
        """A worker's exception on a shard: back to the queue, or the job fails after a few."""
        with self.tx() as db:
            if not self._holds(db, c):
                return
            db.execute("UPDATE shards SET errors=errors+1, status='queued', lease=NULL WHERE job_id=? AND idx=?",
                       (c.job_id, c.idx))
            n = db.execute("SELECT errors FROM shards WHERE job_id=? AND idx=?", (c.job_id, c.idx)).fetchone()[0]
            if n >= MAX_SHARD_ERRORS:
                self._fail(db, c.job_id, c.idx, f"shard {c.idx} failed {n} times; last error: {error}")

    def _fail(self, db, job_id: str, idx: int, error: str) -> None:
        db.execute("UPDATE shards SET status='failed', lease=NULL WHERE job_id=? AND idx=?", (job_id, idx))
        db.execute("UPDATE shards SET status='canceled', lease=NULL WHERE job_id=? AND status IN ('queued','running')",
                   (job_id,))
        db.execute("UPDATE jobs SET status='failed', error=?, finished_at=? WHERE id=?", (error, time.time(), job_id))

    # -- workers and recovery ---------------------------------------------------------------
    def register_worker(self, worker: str, pid: int) -> None:
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO workers(id, pid, started_at, heartbeat) VALUES (?,?,?,?)",
                       (worker, pid, now, now))

    def workers(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM workers ORDER BY started_at")]

    def release_worker(self, worker: str) -> int:
        """A worker process died: its shards go back to the queue at once (no waiting for the lease)."""
        with self.tx() as db:
            rows = db.execute("SELECT job_id, idx, crashes FROM shards WHERE worker=? AND status='running'",
                              (worker,)).fetchall()
            for r in rows:
                if r["crashes"] + 1 >= MAX_SHARD_CRASHES:
                    self._fail(db, r["job_id"], r["idx"], f"workers died {r['crashes'] + 1} times on shard {r['idx']}")
                else:
                    db.execute("UPDATE shards SET status='queued', lease=NULL, crashes=crashes+1 WHERE job_id=? "
                               "AND idx=?", (r["job_id"], r["idx"]))
            db.execute("DELETE FROM workers WHERE id=?", (worker,))
        return len(rows)

    def recover(self) -> int:
        """At server start: no worker of a previous server is alive, so its shards are requeued."""
        with self.tx() as db:
            n = db.execute("UPDATE shards SET status='queued', lease=NULL WHERE status='running'").rowcount
            db.execute("DELETE FROM workers")
        return n

    def queue_depth(self) -> dict:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *rest) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
