"""Survey dashboard over real HTTP on loopback, with real trap frames detected by irbis."""

from __future__ import annotations

import csv
import io
import sys
import time

import httpx
import numpy as np
import pytest
from conftest import REPO, run_cli
from dashboard_kit import DashboardServer, build_surveys
from PIL import Image


@pytest.fixture(scope="module")
def surveys(kit, irbis_home):
    return build_surveys(kit, irbis_home / "dash-surveys")       # shared with the browser test


@pytest.fixture(scope="module")
def server(surveys, tmp_path_factory):
    state = tmp_path_factory.mktemp("dash-state") / "state"
    s = DashboardServer([surveys["north"], f"southern={surveys['south']}", "--deployments",
                         surveys["deployments"]], state).start()
    yield s
    s.stop()


def test_token_login_cookie_and_errors(server):
    assert httpx.get(server.url + "/api/summary").json()["error"] == "unauthorized"
    assert httpx.get(server.url + "/", follow_redirects=False).headers["location"] == "/login"
    assert httpx.post(server.url + "/login", data={"token": "wrong"}, follow_redirects=False).status_code == 401
    r = httpx.post(server.url + "/login", data={"token": server.token}, follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    with httpx.Client(base_url=server.url, cookies=r.cookies) as c:
        assert c.get("/api/surveys").status_code == 200
        assert "survey selector" not in c.get("/").text and c.get("/").status_code == 200
    with server.client() as c:
        assert c.get("/thumb/999999").json()["error"] == "not_found"
        assert c.get("/thumb/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)   # ids only, never paths


def test_totals_filters_and_slider(server):
    with server.client() as c:
        names = [s["name"] for s in c.get("/api/surveys").json()["surveys"]]
        assert names == ["north", "southern"]
        all_ = c.get("/api/summary", params={"conf": 0.2}).json()["totals"]
        north = c.get("/api/summary", params={"conf": 0.2, "survey": "north"}).json()["totals"]
        south = c.get("/api/summary", params={"conf": 0.2, "survey": "southern"}).json()["totals"]
        assert (north["photos"], south["photos"], all_["photos"]) == (10, 5, 15)
        assert south["failures"] == 1 and north["failures"] == 0
        for t in (all_, north, south):     # every readable photo is empty or shows something
            shown = c.get("/api/photos", params={"conf": 0.2, "survey": "" if t is all_ else
                                                 ("north" if t is north else "southern"), "size": 500}).json()
            assert t["empty"] + shown["total"] + t["failures"] == t["photos"]
        assert all_["animal"] == north["animal"] + south["animal"] > 0
        high = c.get("/api/summary", params={"conf": 0.95}).json()["totals"]
        assert high["empty"] > all_["empty"]                # the slider moves photos to empty
        e_low = c.get("/api/photos", params={"conf": 0.2, "show": "empty", "size": 500}).json()["total"]
        e_high = c.get("/api/photos", params={"conf": 0.95, "show": "empty", "size": 500}).json()["total"]
        n_high = c.get("/api/photos", params={"conf": 0.95, "show": "nonempty", "size": 500}).json()["total"]
        assert e_low == all_["empty"] and e_high == high["empty"] and e_high + n_high + 1 == 15
        by = {(r["survey"], r["label"]): r["n"] for r in c.get("/api/summary").json()["by_survey"]}
        assert by[("north", "animal")] == north["animal"]
        assert c.get("/api/summary", params={"species": "vehicle"}).json()["totals"]["selected"] == 0


def test_sites_rai_occupancy_activity(server):
    with server.client() as c:
        d = c.get("/api/summary", params={"survey": "north", "species": "animal", "conf": 0.2}).json()
    sites = {s["site"]: s for s in d["sites"]["sites"]}
    heron = sites["HERON"]
    assert (heron["latitude"], heron["longitude"]) == (51.496, 4.774)
    assert heron["trap_nights"] == 10.0                       # deploymentStart..deploymentEnd
    if heron["hits"]:                                         # one burst within seconds: one independent event
        assert heron["events"] == 1 and heron["rai"] == 10.0
    assert d["sites"]["naive_occupancy"] == sum(s["hits"] > 0 for s in sites.values()) / len(sites)
    assert sum(sum(v) for v in d["activity"].values()) == sum(r["n"] for r in d["over_time"])
    assert set(d["activity"]) <= {"animal"} and all(len(v) == 24 for v in d["activity"].values())
    assert d["activity"] and d["activity"]["animal"][20] >= 1     # heron burst at 20:43 camera time


def test_thumbnails_and_photo_page(server):
    with server.client() as c:
        page = c.get("/api/photos", params={"survey": "north", "show": "all", "size": 100}).json()
        heron = [p for p in page["photos"] if p["file"].startswith("HERON/")]
        r = c.get(f"/thumb/{heron[0]['id']}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(r.content)).size) == 320
        assert c.get(f"/thumb/{heron[0]['id']}").content == r.content          # from the cache
        p = c.get(f"/api/photo/{heron[0]['id']}").json()
        assert len(p["burst"]) == 6 and "path" not in p
        failed = c.get("/api/photos", params={"show": "failed"}).json()["photos"]
        assert [f["file"] for f in failed] == ["OWL/ZZ_truncated.JPG"]
        assert c.get(f"/thumb/{failed[0]['id']}").json()["error"] == "unreadable_photo"


def test_corrections_validated_saved_exported_and_label_next(server, surveys):
    with server.client() as c:
        photos = c.get("/api/photos", params={"show": "all", "size": 100, "order": "uncertain"}).json()["photos"]
        unc = [p["uncertainty"] for p in photos]
        assert unc == sorted(unc, reverse=True) and photos
        target = photos[0]
        bad = c.post("/api/corrections", json={"photo_id": target["id"], "kind": "species", "label": "unicorn"})
        assert bad.status_code == 422 and bad.json()["error"] == "unknown_class"
        assert c.post("/api/corrections", json={"photo_id": target["id"], "kind": "bogus"}).status_code == 422
        assert c.post("/api/corrections", json={"photo_id": 10**6, "kind": "empty"}).status_code == 404
        assert c.post("/api/corrections", json={"photo_id": target["id"], "kind": "box_wrong", "box": 99}
                      ).json()["error"] == "unknown_box"
        ok = c.post("/api/corrections", json={"photo_id": target["id"], "kind": "empty"})
        assert ok.status_code == 201
        again = c.get("/api/photos", params={"show": "all", "size": 100, "order": "uncertain"}).json()["photos"]
        assert target["id"] not in [p["id"] for p in again]           # label next skips what was corrected
        export = c.get("/api/labels.csv").text
        rows = list(csv.DictReader(io.StringIO(export)))
    assert [(r["label"], r["survey"]) for r in rows] == [("empty", target["survey"])]
    assert rows[0]["file"].endswith(target["file"])
    # durable: a restarted server still has the correction
    server.stop()
    server.start()
    with server.client() as c:
        p = c.get(f"/api/photo/{target['id']}").json()
        assert [x["kind"] for x in p["corrections"]] == ["empty"]
    labels = surveys["root"] / "labels.csv"
    labels.write_text(export)
    from irbis.labels import read_labels
    assert [r.label for r in read_labels(labels)] == ["empty"]       # irbis train reads the export


def test_no_auth_refused_off_loopback(surveys):
    r = run_cli("dashboard", surveys["north"], "--no-auth", "--host", "0.0.0.0", check=False)
    assert r.returncode == 2 and "loopback" in r.stderr


def test_blur_people_only_blurs_person_boxes(kit):
    from irbis.dashboard.thumbs import blur_people
    im = Image.open(sorted((kit / "cameratrap" / "dev" / "animl_Jaguar").glob("*.jpg"))[0]).convert("RGB")
    out = blur_people(im, [{"category": "2", "conf": 0.9, "bbox": [0.5, 0.5, 0.25, 0.25]},
                           {"category": "1", "conf": 0.9, "bbox": [0.0, 0.0, 0.25, 0.25]}])
    a, b = np.asarray(im, dtype=float), np.asarray(out, dtype=float)
    H, W = a.shape[:2]
    inside = (slice(int(0.55 * H), int(0.7 * H)), slice(int(0.55 * W), int(0.7 * W)))
    assert np.abs(a[inside] - b[inside]).mean() > 1.0          # the person box is blurred
    assert np.array_equal(a[: H // 4 - 5, : W // 4 - 5], b[: H // 4 - 5, : W // 4 - 5])   # the animal box is not


def test_serve_shows_completed_jobs_on_its_dashboard(surveys, tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from service_common import ServerProc

    from irbis.client import IrbisClient
    srv = ServerProc(tmp_path / "state", [surveys["root"]], workers=1,
                     extra=["--deployments", str(surveys["deployments"])])
    srv.start()
    try:
        with IrbisClient(srv.url, None) as c:
            job = c.submit(folder=str(surveys["root"] / "south"), detector="megadetector-lite-fast", name="drop7")
            c.wait(job, timeout_s=300)
        with httpx.Client(base_url=srv.url, timeout=60) as h:      # --no-auth on loopback
            assert "irbis survey dashboard" in h.get("/").text
            assert h.get("/healthz").json()["status"] == "ok"       # the API is still there
            deadline = time.monotonic() + 30
            while not h.get("/api/surveys").json()["surveys"]:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            [s] = h.get("/api/surveys").json()["surveys"]
            assert (s["name"], s["photos"]) == ("drop7", 5)
            t = h.get("/api/summary", params={"survey": "drop7"}).json()["totals"]
            assert t["failures"] == 1 and t["photos"] == 5
            pid = h.get("/api/photos", params={"survey": "drop7", "show": "all"}).json()["photos"][0]["id"]
            assert h.get(f"/thumb/{pid}").headers["content-type"] == "image/jpeg"
    finally:
        srv.stop()


def test_species_labels_events_and_occupancy_in_sql(tmp_path):
    """Classified boxes: the species is the label; events split at the independence interval."""
    from irbis.dashboard import queries as q
    from irbis.dashboard.index import Index, PhotoMeta
    images, meta = [], {}
    # site A: leopards at 00:00, 00:10, 01:00 (2 events at 30 min) and an ibex; site B: nothing
    for i, (site, minute, cls) in enumerate([("A", 0, "0"), ("A", 10, "0"), ("A", 60, "0"), ("A", 61, "1"),
                                             ("B", 5, None)]):
        f = f"{site}/{i}.jpg"
        dets = [] if cls is None else [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2],
                                        "classifications": [[cls, 0.8]]}]
        images.append({"file": f, "detections": dets})
        meta[f] = PhotoMeta(None, site, f"2025-06-01T{minute // 60:02d}:{minute % 60:02d}:00")
    doc = {"info": {}, "classification_categories": {"0": "leopard", "1": "ibex"}, "images": images}
    ix = Index(tmp_path / "d.sqlite")
    ix.load_survey("s", doc, meta, "x", None, 0.0)
    f = q.Filter("s", "leopard", 0.2)
    assert q.totals(ix, f)["selected"] == 3 and q.totals(ix, f)["by_label"] == {"leopard": 3, "ibex": 1}
    sites = {s["site"]: s for s in q.sites(ix, f, 30)["sites"]}
    assert (sites["A"]["hits"], sites["A"]["events"], sites["B"]["hits"]) == (3, 2, 0)
    assert q.sites(ix, f, 30)["naive_occupancy"] == 0.5
    assert {s["site"]: s["events"] for s in q.sites(ix, f, 90)["sites"]}["A"] == 1
    assert q.activity_by_hour(ix, f)["leopard"][:2] == [2, 1]
    assert "leopard" in ix.known_labels() and "ibex" in q.labels(ix, f)
