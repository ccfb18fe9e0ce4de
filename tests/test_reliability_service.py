"""Batch API hardening (issue 9, item 5): hostile folders give per-photo failures or JSON 4xx, a link
to outside the roots is refused without showing where it leads, the token is checked before a body
is read, /healthz tells strangers only that the server lives."""

from __future__ import annotations

import os
import shutil
import socket
import time

import httpx
import pytest
from conftest import DEMO
from test_service import FAST, Server

from irbis.service.worker import usable_photos

GOOD = DEMO / "train" / "animals" / "polar_bear.webp"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    base = tmp_path_factory.mktemp("rel-api")
    root = base / "root"
    hostile = root / "hostile"
    hostile.mkdir(parents=True)
    shutil.copy(GOOD, hostile / "good.webp")
    os.symlink(hostile / "b.jpg", hostile / "a.jpg")
    os.symlink(hostile / "a.jpg", hostile / "b.jpg")
    os.symlink(hostile / "gone.jpg", hostile / "dangling.jpg")
    os.mkfifo(hostile / "pipe.jpg")
    odd = root / "odd"
    odd.mkdir()
    shutil.copy(GOOD, os.path.join(os.fsencode(odd), b"\xff.jpg"))
    server = Server(base / "state", [root], workers=1).start()
    server.root = root
    yield server
    server.stop()


def test_healthz_shows_only_liveness_without_the_token(api):
    assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}
    full = httpx.get(api.url + "/healthz", headers={"Authorization": f"Bearer {api.token}"}).json()
    assert full["status"] == "ok" and "workers" in full and "pid" not in full


def test_the_token_is_checked_before_the_body_is_read(api):
    """Headers announcing 4 MiB and no body at all: the 401 must come without waiting for it."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 4194304\r\n\r\n")
        answer = ""
        while "unauthorized" not in answer:      # headers and body may come in separate segments
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk.decode("latin-1")
    assert answer.startswith("HTTP/1.1 401") and "unauthorized" in answer


def test_a_folder_with_a_non_utf8_name_is_a_json_400(api):
    r = httpx.post(api.url + "/v1/jobs", json={"folder": str(api.root / "odd")},
                   headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 400 and r.json()["error"] == "bad_file_name" and "\\xff" in r.json()["detail"]


def test_a_folder_with_loops_links_and_fifos_gives_per_photo_failures(api):
    h = {"Authorization": f"Bearer {api.token}"}
    r = httpx.post(api.url + "/v1/jobs", json={"folder": str(api.root / "hostile"), "detector": FAST}, headers=h)
    assert r.status_code == 202, r.text
    url = api.url + r.json()["status_url"]
    deadline = time.time() + 300
    while (status := httpx.get(url, headers=h).json()["status"]) not in ("completed", "failed"):
        assert time.time() < deadline, api.output()
        time.sleep(0.5)
    assert status == "completed", httpx.get(url, headers=h).json()
    images = {im["file"]: im for im in httpx.get(url + "/results", headers=h).json()["images"]}
    assert "failure" not in images["good.webp"]
    assert "symbolic link loop" in images["a.jpg"]["failure"]
    assert "dangling symbolic link" in images["dangling.jpg"]["failure"]
    assert "FIFO" in images["pipe.jpg"]["failure"]


def test_a_photo_replaced_by_a_link_leading_outside_is_refused_without_showing_where(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "secret-place"
    root.mkdir()
    outside.mkdir()
    shutil.copy(GOOD, outside / "x.jpg")
    shutil.copy(GOOD, root / "ok.webp")
    os.symlink(outside / "x.jpg", root / "swapped.jpg")       # was a photo at submit; now a link out
    photos = [{"path": str(root / n), "rel_path": n} for n in ("ok.webp", "swapped.jpg")]
    ok, refused = usable_photos(photos, str(root))
    assert ok == [root / "ok.webp"]
    assert "outside the job's folder" in refused["swapped.jpg"] and "secret" not in refused["swapped.jpg"]


def test_docs_work_offline(api):
    page = httpx.get(api.url + "/docs").text
    assert "/v1/jobs" in page and "cdn" not in page.lower() and "<script" not in page
