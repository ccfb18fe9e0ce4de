"""Replay the issue-9 fault probe and count what matters: runs that finished, photos lost,
duplicated or wrong (all must be 0), and whether every machine fault stopped loudly.

Faults tried, each against an uninterrupted ``irbis detect`` of the same folder (real trap frames
from the data kit's dev set, or the bundled heron burst):

* kill -9 at random moments of ``irbis detect`` and ``irbis run``, then the same command again;
* corrupted run journals (torn, garbage, bad header, empty, binary) and catalogs (garbage, bad
  header, truncated, overwritten pages, empty), then the same command again;
* corrupted feature caches (a flipped bit in a vector, garbage, truncated): features recomputed
  must equal fresh ones;
* disk full on each state path (``IRBIS_HOME``, ``--out``, ``--catalog``) on a small tmpfs (needs
  root to mount; skipped otherwise): the run must stop with a non-zero exit and no traceback,
  leave no temp files, journal nothing, and the re-run after freeing space must be right;
* hostile directory entries (dangling link, link loop, FIFO, link to /dev/zero, non-UTF-8 name):
  per-photo failures, the other photos right;
* kill -9 of the batch API's server and workers during a job (bench/soak.py, a few rounds).

    .venv/bin/python bench/faults.py [--photos 12] [--kills 4] [--soak-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import REPO, make_folder  # noqa: E402

DETECTOR = "megadetector-lite-fast"


class Probe:
    def __init__(self, tmp: Path, photos: Path, args):
        self.tmp, self.photos, self.args = tmp, photos, args
        self.env = {**os.environ, "IRBIS_HOME": str(tmp / "home"), "PYTHONPATH": str(REPO)}
        self.counts: Counter = Counter()
        self.problems: list[str] = []
        self.reference: dict = {}
        self.n = 0

    # -- running irbis ------------------------------------------------------------------------
    def irbis(self, *args, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "irbis.cli", *map(str, args)], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, cwd=REPO, timeout=1800)

    def detect(self, out: Path, catalog: Path | None = None, photos: Path | None = None, env=None, model=None):
        cmd = ["run" if model else "detect", photos or self.photos, "--out", out, "--detector", DETECTOR, "--quiet"]
        cmd += ["--catalog", catalog or (self.tmp / f"cat{self.n}.sqlite")]
        if model:
            cmd += ["--model", model]
        return self.irbis(*cmd, env=env)

    def fresh(self, name: str) -> Path:
        self.n += 1
        d = self.tmp / f"{self.n:03d}-{name}"
        d.mkdir()
        return d

    # -- judging --------------------------------------------------------------------------------
    def judge(self, what: str, out: Path, proc: subprocess.CompletedProcess, reference: dict | None = None,
              faults: int = 1) -> None:
        """A faulted run followed by its re-run (``proc``): it must finish and equal the reference."""
        reference = reference or self.reference
        self.counts["faults"] += faults
        if proc.returncode != 0 or not out.exists():
            self.problems.append(f"{what}: re-run did not finish (exit {proc.returncode}): {proc.stderr[-400:]}")
            self.counts["lost"] += len(reference)
            return
        self.counts["finished"] += 1
        images = json.loads(out.read_text())["images"]
        files = Counter(im["file"] for im in images)
        got = {im["file"]: im for im in images}
        lost = len(set(reference) - set(files))
        dup = sum(n - 1 for n in files.values() if n > 1)
        wrong = sum(1 for f in reference if f in got and got[f] != reference[f]) + len(set(files) - set(reference))
        self.counts["lost"] += lost
        self.counts["duplicated"] += dup
        self.counts["wrong"] += wrong
        print(f"  {what:<46} finished; lost {lost}, duplicated {dup}, wrong {wrong}", flush=True)

    def stopped_loudly(self, what: str, proc: subprocess.CompletedProcess, out: Path, home: Path | None = None) -> None:
        """A machine fault: non-zero exit, a message and no traceback, no output, nothing journalled."""
        self.counts["machine faults"] += 1
        journal = Path(str(out) + ".journal.jsonl")
        recs = journal.read_text().splitlines()[1:] if journal.exists() else []
        failed = [r for r in recs if '"failure"' in r]
        tmps = [p for p in (home or out.parent).rglob("*") if ".tmp" in p.name]
        ok = (proc.returncode not in (0, 1) and "Traceback" not in proc.stderr and not out.exists()
              and not failed and not tmps)
        self.counts["stopped loudly"] += ok
        if not ok:
            self.problems.append(f"{what}: exit {proc.returncode}, journalled failures {len(failed)}, temp files "
                                 f"{[p.name for p in tmps]}, stderr: {proc.stderr[-300:]}")
        print(f"  {what:<46} exit {proc.returncode}: {proc.stderr.strip().splitlines()[0][:90] if proc.stderr else ''}",
              flush=True)

    # -- the probe ---------------------------------------------------------------------------------
    def run_reference(self) -> None:
        out = self.tmp / "reference.json"
        t0 = time.monotonic()
        proc = self.detect(out, self.tmp / "ref.sqlite")
        assert proc.returncode == 0, proc.stderr
        self.reference = {im["file"]: im for im in json.loads(out.read_text())["images"]}
        print(f"reference: {len(self.reference)} photos, uninterrupted irbis detect in {time.monotonic() - t0:.0f}s",
              flush=True)

    def kill9(self, command: str, rng: random.Random, reference: dict | None = None, model=None) -> None:
        d = self.fresh(f"kill-{command}")
        out, cat = d / "r.json", d / "c.sqlite"
        cmd = [sys.executable, "-m", "irbis.cli", command, self.photos, "--out", out, "--detector", DETECTOR,
               "--quiet", "--catalog", cat, *(["--model", model] if model else [])]
        kills = 0
        for _ in range(self.args.kills):
            p = subprocess.Popen(list(map(str, cmd)), env=self.env, cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(rng.uniform(1.0, self.args.max_delay))
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                kills += 1
            p.wait()
        proc = self.irbis(*cmd[3:])
        self.judge(f"irbis {command}: kill -9 x{kills}", out, proc, reference, faults=max(kills, 1))

    def partial_journal(self, d: Path) -> tuple[Path, Path]:
        """A run killed half-way: its journal holds some photos."""
        out, cat = d / "r.json", d / "c.sqlite"
        p = subprocess.Popen(list(map(str, [sys.executable, "-m", "irbis.cli", "detect", self.photos, "--out", out,
                                            "--detector", DETECTOR, "--quiet", "--catalog", cat])),
                             env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        journal = Path(str(out) + ".journal.jsonl")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and p.poll() is None:
            if journal.exists() and len(journal.read_bytes().splitlines()) > 3:
                break
            time.sleep(0.2)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return out, cat

    def journals(self) -> None:
        damage = {
            "torn mid-line": lambda b: b[: len(b) - 17],
            "garbage appended": lambda b: b + b"\x00\xff{not json\n{\"key\": 1}\n",
            "header garbled": lambda b: b"{oops" + b[5:],
            "emptied": lambda b: b"",
            "binary junk": lambda b: os.urandom(len(b) or 64),
        }
        for name, fn in damage.items():
            d = self.fresh("journal")
            out, cat = self.partial_journal(d)
            j = Path(str(out) + ".journal.jsonl")
            if j.exists():
                j.write_bytes(fn(j.read_bytes()))
            self.judge(f"journal {name}", out, self.detect(out, cat))

    def catalogs(self) -> None:
        sys.path.insert(0, str(REPO / "tests"))
        from test_reliability_state import corrupt
        for how in ("garbage", "header", "truncated", "pages", "empty"):
            d = self.fresh("catalog")
            out, cat = d / "r.json", d / "c.sqlite"
            shutil.copy(self.tmp / "ref.sqlite", cat)
            for suffix in ("-wal", "-shm"):
                Path(str(cat) + suffix).unlink(missing_ok=True)
            corrupt(cat, how)
            self.judge(f"catalog {how}", out, self.detect(out, cat))

    def feature_caches(self) -> None:
        sys.path.insert(0, str(REPO))
        os.environ["IRBIS_HOME"] = self.env["IRBIS_HOME"]
        import numpy as np
        from test_reliability_state import corrupt

        from irbis.feature_cache import FeatureCache
        from irbis.features import compute_features
        from irbis.predict import folder_records
        from irbis.stages.featurize import FeaturizeSpec
        stage = FeaturizeSpec().build()
        records = folder_records(self.photos, self.tmp / "feat.sqlite")
        fresh = compute_features(records, stage, cache=False)

        def damage(path: Path, how: str) -> None:
            if how == "bit flipped in a vector":
                db = FeatureCache(path)
                sha, vec = db.db.execute("SELECT sha256, vec FROM features LIMIT 1").fetchone()
                b = bytearray(vec)
                b[9] ^= 0x04
                db.db.execute("UPDATE features SET vec=? WHERE sha256=?", (bytes(b), sha))
                db.db.commit()
                db.close()
            else:
                corrupt(path, how)
        for how in ("bit flipped in a vector", "garbage", "truncated"):
            path = self.fresh("cache") / "features.sqlite"
            cache = FeatureCache(path)
            compute_features(records, stage, cache=cache)
            cache.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cache.close()
            damage(path, how)
            cache = FeatureCache(path)
            table = compute_features(records, stage, cache=cache)
            cache.close()
            self.counts["faults"] += 1
            self.counts["finished"] += 1
            wrong = sum(1 for r in records if (r.id, False) in fresh.features and not np.allclose(
                table.features.get((r.id, False), np.zeros(1)), fresh.features[(r.id, False)], atol=1e-5))
            lost = sum(1 for r in records if r.id not in table.failures and (r.id, False) not in table.features)
            self.counts["wrong"] += wrong
            self.counts["lost"] += lost
            print(f"  {'feature cache ' + how:<46} finished; lost {lost}, wrong {wrong} "
                  f"({table.cached} from cache, {table.computed} recomputed)", flush=True)

    def disk_full(self) -> None:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            print("  disk full: skipped (mounting a tmpfs needs root)", flush=True)
            return
        for where in ("IRBIS_HOME", "--out", "--catalog"):
            d = self.fresh("full")
            mnt = d / "tmpfs"
            mnt.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
            try:
                filler = mnt / "filler"
                subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
                out = (mnt if where == "--out" else d) / "r.json"
                cat = (mnt if where == "--catalog" else d) / "c.sqlite"
                env = {"IRBIS_HOME": str(mnt / "home")} if where == "IRBIS_HOME" else None
                if where == "IRBIS_HOME":       # room for the folders, not for a model graph
                    filler.unlink()
                    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=44"], capture_output=True)
                proc = self.detect(out, cat, env=env)
                self.stopped_loudly(f"disk full on {where}", proc, out, mnt)
                filler.unlink()                # space freed: the same command again
                if where == "IRBIS_HOME":
                    env = {"IRBIS_HOME": self.env["IRBIS_HOME"]}   # 3 MB hold no graph: the usual home
                self.judge(f"disk full on {where}, then freed", out, self.detect(out, cat, env=env))
            finally:
                subprocess.run(["umount", str(mnt)], check=False)

    def hostile(self) -> None:
        d = self.fresh("hostile")
        photos = d / "photos"
        shutil.copytree(self.photos, photos)
        cam = next(p for p in sorted(photos.iterdir()) if p.is_dir())
        os.symlink(cam / "missing.jpg", cam / "dangling.jpg")
        os.symlink(cam / "loop_b.jpg", cam / "loop_a.jpg")
        os.symlink(cam / "loop_a.jpg", cam / "loop_b.jpg")
        os.mkfifo(cam / "pipe.jpg")
        os.symlink("/dev/zero", cam / "zero.jpg")
        first = sorted(cam.glob("*.[jJ][pP]*[gG]"))[0]
        odd = os.path.join(os.fsencode(cam), b"\xff" + os.fsencode(first.name))
        shutil.copy(first, odd)
        out = d / "r.json"
        proc = self.detect(out, photos=photos)
        names = {f"{cam.name}/{n}" for n in ("dangling.jpg", "loop_a.jpg", "loop_b.jpg", "pipe.jpg", "zero.jpg")}
        reference = dict(self.reference)
        if out.exists():
            images = {im["file"]: im for im in json.loads(out.read_text())["images"]}
            odd_rel = f"{cam.name}/{os.fsdecode(os.path.basename(odd))}"
            same = {k: v for k, v in images[odd_rel].items() if k != "file"} == \
                {k: v for k, v in images[f"{cam.name}/{first.name}"].items() if k != "file"}
            reference[odd_rel] = dict(images[odd_rel]) if same else {"file": odd_rel, "wrong": True}
            unexplained = [n for n in names if "failure" not in images.get(n, {})]
            for n in names:
                reference[n] = images.get(n) if n not in unexplained else {"file": n, "failure": "?"}
        self.judge("hostile entries (5 odd + a non-UTF-8 name)", out, proc, reference, faults=6)

    def soak(self) -> None:
        if self.args.soak_rounds <= 0:
            return
        proc = subprocess.run([sys.executable, str(REPO / "bench/soak.py"), "--rounds", str(self.args.soak_rounds),
                               "--photos", str(self.args.photos), "--workers", "1", "--max-delay", "6"],
                              capture_output=True, text=True, env=self.env, cwd=REPO, timeout=1800)
        last = [ln for ln in proc.stdout.splitlines() if ln.startswith("lost:")]
        kills = [ln for ln in proc.stdout.splitlines() if "kill -9 rounds" in ln]
        if proc.returncode not in (0, 1) or not last:
            self.problems.append(f"API soak did not finish: {proc.stderr[-400:]}")
            return
        nums = [int(x) for x in last[0].replace(":", " ").split() if x.isdigit()]
        jobs = int(kills[0].split(" over ")[1].split()[0]) if kills else 1
        self.counts["faults"] += self.args.soak_rounds
        self.counts["finished"] += jobs
        self.counts["lost"] += nums[0]
        self.counts["duplicated"] += nums[1]
        self.counts["wrong"] += nums[2]
        print(f"  {'API job: kill -9 server/worker x' + str(self.args.soak_rounds):<46} {jobs} job(s) finished; "
              f"lost {nums[0]}, duplicated {nums[1]}, wrong {nums[2]}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=12)
    p.add_argument("--kills", type=int, default=3, help="kill -9 rounds per command")
    p.add_argument("--max-delay", type=float, default=12.0)
    p.add_argument("--soak-rounds", type=int, default=3)
    p.add_argument("--model", help="a classifier bundle for the `irbis run` kill rounds (default: one trained on "
                                   "the bundled demo photos)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", help="run only these parts: kill journal catalog cache disk hostile soak")
    args = p.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="irbis-faults-"))
    photos = make_folder(tmp / "photos", args.photos)
    probe = Probe(tmp, photos, args)
    t0 = time.monotonic()
    probe.run_reference()
    parts = {"kill": lambda: probe.kill9("detect", rng), "journal": probe.journals, "catalog": probe.catalogs,
             "cache": probe.feature_caches, "disk": probe.disk_full, "hostile": probe.hostile, "soak": probe.soak}
    for name, part in parts.items():
        if args.only and name not in args.only:
            continue
        part()
        if name == "kill" and not args.model:      # a classifier for `irbis run`: trained on the bundled demo photos
            args.model = tmp / "model.irbis"
            proc = probe.irbis("train", REPO / "examples/demo/train/labels.csv", "--out", args.model, "--quiet")
            if proc.returncode != 0:
                probe.problems.append(f"could not train the demo model for the `irbis run` kills: {proc.stderr[-300:]}")
                args.model = None
        if name == "kill" and args.model:
            ref_out = tmp / "run-reference.json"
            proc = probe.detect(ref_out, tmp / "run-ref.sqlite", model=args.model)
            ref = {im["file"]: im for im in json.loads(ref_out.read_text())["images"]} if proc.returncode == 0 else {}
            probe.kill9("run", rng, ref, model=args.model)
    c = probe.counts
    print(f"\n{c['faults']} faults tried in {time.monotonic() - t0:.0f}s on {len(probe.reference)} photos "
          f"(work folder {tmp}): {c['finished']} runs finished; photos lost {c['lost']}, duplicated "
          f"{c['duplicated']}, wrong {c['wrong']}; machine faults that stopped loudly (non-zero exit, no traceback, "
          f"no temp files, nothing journalled) {c['stopped loudly']}/{c['machine faults']}")
    for prob in probe.problems:
        print(f"PROBLEM: {prob}")
    bad = c["lost"] + c["duplicated"] + c["wrong"] + len(probe.problems)
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
