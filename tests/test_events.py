"""Independent events per species and site, and RAI per 100 trap-nights, over a real catalog of the
heron burst (10 real frames, EXIF times 20:43:09 ... 20:43:15, 1 s apart)."""

from __future__ import annotations

import shutil

import pytest
from conftest import read_rows, run_cli, write_csv
from PIL import Image

from irbis.catalog import Catalog
from irbis.events import independent_events, parse_interval
from irbis.formats.md_json import build_results, image_entry, write_results
from irbis.formats.survey import SurveyMismatch
from irbis.formats.taxa import read_taxonomy
from irbis.ingest import ingest_folder

HERON = "cameratrap/dev/camtrapdp_heron"


@pytest.fixture(scope="module")
def survey(kit, tmp_path_factory):
    """The heron frames plus one copy without EXIF (no time), catalogued as one site 'POND'."""
    root = tmp_path_factory.mktemp("events") / "POND"
    root.mkdir()
    frames = sorted((kit / HERON).glob("*.JPG"))
    for f in frames:
        shutil.copy(f, root / f.name)
    Image.open(frames[0]).save(root / "zz-noexif.jpg", quality=80)
    cat = root.parent / "catalog.sqlite"
    with Catalog(cat) as c:
        ingest_folder(root, c, progress=False)
        records = c.images()
    return root, cat, records


def _box(cat="1", conf=0.9, cls=None, x=0.1):
    d = {"category": cat, "conf": conf, "bbox": [x, 0.2, 0.1, 0.1]}
    if cls is not None:
        d["classifications"] = [[cls, 0.8], ["1" if cls == "0" else "0", 0.2]]
    return d


def _results(records, boxes: dict[int, list[dict]]) -> dict:
    """boxes: index of the photo (time order) -> detections."""
    ordered = sorted(records, key=lambda r: r.rel_path)
    images = [image_entry(r.rel_path, boxes.get(i, []), sha256=r.sha256) for i, r in enumerate(ordered)]
    return build_results(images, "test", 0.2, 0.1, classification_categories={"0": "heron", "1": "fox"})


def test_events_group_by_species_and_gap(survey):
    root, _, records = survey
    res = _results(records, {0: [_box(cls="0")], 1: [_box(cls="0"), _box(cls="0", x=0.5)], 9: [_box(cls="0")],
                             4: [_box(cls="1")], 5: [_box(cat="2")], 6: [_box(cls="1", conf=0.05)]})
    table = independent_events(res, records, parse_interval("30m"))
    got = {(e.species, e.photos, e.max_count) for e in table.events}
    assert got == {("heron", 3, 2), ("fox", 1, 1), ("human", 1, 1)}   # the 0.05 fox box is below the threshold
    assert table.untimed_photos == 1
    heron = next(e for e in table.events if e.species == "heron")
    assert (heron.site, heron.start, heron.end) == ("POND", "2021-04-11T20:43:09", "2021-04-11T20:43:15")
    # 2 s: the heron at 20:43:15 is 5 s after the one at :10, a new event
    short = independent_events(res, records, parse_interval("2s"))
    assert sorted((e.species, e.start[-2:]) for e in short.events if e.species == "heron") == [("heron", "09"),
                                                                                             ("heron", "15")]
    # a taxonomy names the species
    taxa_csv = write_csv(root.parent / "taxa.csv", ["class", "scientificName"], [["heron", "Ardea cinerea"]])
    named = independent_events(res, records, 1800, taxa=read_taxonomy(taxa_csv))
    assert {e.species for e in named.events} == {"Ardea cinerea", "fox", "human"}


def test_interval_from_last_or_first_photo_and_rai(survey):
    _, _, records = survey
    res = _results(records, {i: [_box()] for i in range(10)})       # an animal in every frame, 1 s apart
    assert len(independent_events(res, records, 3).events) == 1          # never 3 s since the last photo
    first = independent_events(res, records, 3, compare_to="first").events
    assert [(e.start[-2:], e.end[-2:], e.photos) for e in first] == [("09", "12", 6), ("13", "15", 4)]
    # trap-nights from the deployment's period: 10 days, 2 events -> RAI 20 per 100 trap-nights
    periods = {"POND": ("2021-04-05T12:00:00+01:00", "2021-04-15T12:00:00+01:00")}
    site = independent_events(res, records, 3, compare_to="first", site_periods=periods).sites[0]
    assert (site.site, site.trap_nights, site.detections, site.rai, site.photos) == ("POND", 10.0, 2, 20.0, 10)
    assert site.by_species == {"animal": 2}
    # without a period: first to last photo (6 s), RAI per 100 trap-nights
    own = independent_events(res, records, 3).sites[0]
    assert own.trap_nights == pytest.approx(6 / 86400, abs=1e-3) and own.detections == 1


def test_cli_writes_events_and_site_tables(survey, tmp_path):
    root, cat, records = survey
    write_results(tmp_path / "md.json", _results(records, {0: [_box(cls="0")], 9: [_box(cls="1")]}))
    write_csv(tmp_path / "deps.csv", ["deployment", "latitude", "longitude", "deploymentStart", "deploymentEnd"],
              [["POND", 50.7, 4.0, "2021-04-01T00:00:00+01:00", "2021-04-21T00:00:00+01:00"]])
    proc = run_cli("events", tmp_path / "md.json", "--catalog", cat, "--interval", "30m", "--out",
                   tmp_path / "ev.csv", "--deployments", tmp_path / "deps.csv")
    assert "2 independent events (interval 1800 s) at 1 sites; 1 photo(s) without a time left out" in proc.stdout
    events = read_rows(tmp_path / "ev.csv")
    assert [(e["site"], e["species"], e["photos"], e["max_count"]) for e in events] == [
        ("POND", "heron", "1", "1"), ("POND", "fox", "1", "1")]
    sites = read_rows(tmp_path / "ev-sites.csv")
    assert [(s["species"], s["trap_nights"], s["detections"], s["rai_per_100_trap_nights"]) for s in sites] == [
        ("all", "20.0", "2", "10.0"), ("fox", "20.0", "1", "5.0"), ("heron", "20.0", "1", "5.0")]
    # results for other photos: refused with the counts, nothing written
    res = _results(records, {})
    res["images"] = res["images"][:4]
    write_results(tmp_path / "part.json", res)
    proc = run_cli("events", tmp_path / "part.json", "--catalog", cat, "--out", tmp_path / "x.csv", check=False)
    assert proc.returncode == 2 and "7 photo(s) of the catalog's folder have no result" in proc.stderr
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(SurveyMismatch):
        independent_events(res, records)
    with pytest.raises(ValueError, match="bad interval"):
        parse_interval("half an hour")
