"""``irbis serve --engine spark``: workers hand each shard to Spark; the job's results equal
``irbis detect``'s. A real server, worker process and local Spark on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import DEMO, run_cli
from test_service import Server, comparable

HERON = DEMO / "test" / "heron_burst"
FAST = "megadetector-lite-fast"


def test_serve_engine_spark_without_java_is_one_line(tmp_path):
    env = {"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": str(Path(sys.executable).parent)}
    proc = run_cli("serve", "--root", tmp_path, "--state", tmp_path / "s", "--engine", "spark", env=env, check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Java 17" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_a_job_on_spark_equals_irbis_detect(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(HERON, root / "heron")
    server = Server(tmp_path / "state", [root], workers=1,
                    extra=["--engine", "spark", "--spark-master", "local[2]"]).start()
    try:
        with server.client() as c:
            job = c.submit(folder=str(root / "heron"), shard_size=4, detector=FAST)
            c.wait(job, timeout_s=600)
            got = c.results(job)
    finally:
        server.stop()
    ref = tmp_path / "ref.json"
    run_cli("detect", root / "heron", "--out", ref, "--detector", FAST, "--quiet", "--catalog", tmp_path / "r.sqlite")
    assert comparable(got) == comparable(json.loads(ref.read_text()))
    logs = "".join(p.read_text() for p in (tmp_path / "state" / "logs").glob("*.log"))
    assert "detect" in logs and "Traceback" not in logs, logs
