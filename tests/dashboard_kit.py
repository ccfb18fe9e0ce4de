"""Shared by the dashboard tests: two real surveys (real trap frames through ``irbis detect``) and a
real ``irbis dashboard`` server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import REPO, run_cli, write_csv

FAST = "megadetector-lite-fast"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_surveys(kit: Path, root: Path) -> dict:
    """north = heron burst (6 frames) + 4 jaguar frames, south = 4 owl frames + a truncated file;
    detected with the fast detector; a deployments CSV with coordinates and deployment dates."""
    dev = kit / "cameratrap" / "dev"
    sets = {"north/HERON": sorted((dev / "camtrapdp_heron").glob("*.JPG"))[:6],
            "north/JAGUAR": sorted((dev / "animl_Jaguar").glob("*.jpg"))[:4],
            "south/OWL": sorted((dev / "animl_BUOW").glob("*.JPG"))[:4]}
    for sub, files in sets.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, root / sub / f.name)
    first = sets["south/OWL"][0].read_bytes()
    (root / "south" / "OWL" / "ZZ_truncated.JPG").write_bytes(first[: len(first) // 3])
    out = {}
    for name in ("north", "south"):
        out[name] = root / f"{name}.json"
        if not out[name].is_file():
            run_cli("detect", root / name, "--out", out[name], "--detector", FAST, "--quiet")
    deployments = write_csv(root / "deployments.csv", ["deploymentID", "latitude", "longitude", "deploymentStart",
                                                        "deploymentEnd"],
                            [["HERON", 51.496, 4.774, "2021-04-01T00:00:00", "2021-04-11T00:00:00"],
                             ["JAGUAR", 51.181, 5.655, "", ""], ["OWL", 50.9, 4.4, "", ""]])
    return {"north": out["north"], "south": out["south"], "deployments": deployments, "root": root}


class DashboardServer:
    """``irbis dashboard`` in a subprocess on a free loopback port."""

    def __init__(self, args: list[str], state: Path):
        self.args, self.state = [str(a) for a in args], state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "DashboardServer":
        log = open(self.state.parent / f"dashboard-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "irbis.cli", "dashboard", *self.args,
                                      "--dashboard-state", str(self.state), "--port", str(self.port)],
                                     cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"irbis dashboard exited {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(self.url + "/login", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("irbis dashboard did not start")

    @property
    def token(self) -> str:
        return (self.state / "token").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
