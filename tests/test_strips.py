"""Info strips: parsers on text as OCR returns it, date order per camera, OCR on the kit's real frames."""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from conftest import read_rows, run_cli
from PIL import Image

from irbis.stages.strip_parse import parse_strip, settle_date_order
from irbis.strips_run import clock_offsets

# (top band, bottom band, EXIF make) as RapidOCR read them on the kit's frames, and what they say.
SAMPLES = [
    # Reconyx HyperFire 2 (heron burst): spaces lost between date and time
    (("2021-04-1120:43:09 M1/10 2°C", "MICA 318 RECONYX", None),
     ("reconyx", "2021-04-11T20:43:09", 2.0, "MICA 318", 1, 10)),
    # Reconyx PC900: 12 h clock, Fahrenheit, letter O read for zero in the label
    (("2020-04-224:31:11PM M2/3 92°F", "PC9OO PROFESSIONAL RECONYX", None),
     ("reconyx", "2020-04-22T16:31:11", 33.3, "PC900", 2, 3)),
    # "PMM 2/3": the meridiem runs into the burst marker
    (("2018-10-19 10:35:09 PMM 2/3 24°C", "PC850 PrOFesSIONAL RECONYX", None),
     ("reconyx", "2018-10-19T22:35:09", 24.0, "PC850", 2, 3)),
    # the slash of "M 1/10" read as 7, the logo misread
    (("M 1710 2021-04-11 20:43:09", "MICA 318 RECONYA", None),
     ("reconyx", "2021-04-11T20:43:09", None, "MICA 318", 1, 10)),
    # Reconyx with the time's colons lost; negative Celsius
    (("2016-01-28 151445 -7·C M4/5", "AM100 BECONYX", None), ("reconyx", "2016-01-28T15:14:45", -7.0, "AM100", 4, 5)),
    # Bushnell: both units printed (Celsius wins), circled M before the name
    (("", "Bushnell M CAM04LRC02 84°F28℃ 06-20-2023 13:09:04", None),
     ("bushnell", "2023-06-20T13:09:04", 28.0, "CAM04LRC02", None, None)),
    (("", "SDZG 173 62°F 16°C 07-04-2014 07:49:13", "BUSHNELL"),
     ("bushnell", "2014-07-04T07:49:13", 16.0, "SDZG 173", None, None)),
    # Browning: Fahrenheit only, 12 h clock, name at the end
    (("", "BROWNING 75°F 05/12/2019 10:23 AM RIDGE 4", None),
     ("browning", "2019-05-12T10:23", 23.9, "RIDGE 4", None, None)),
    # Cuddeback: no seconds printed (minute precision), logo split in two
    (("", "后 12/12/2018 11:31 AM Cudde back. Digital", None),
     ("cuddeback", "2018-12-12T11:31", None, None, None, None)),
    # generic (DLC Covert, Snapshot Serengeti): a stray leading zero on the hour
    (("", "DLCcovert.com 08-23-2010 011:20:43", None), ("generic", "2010-08-23T11:20:43", None, None, None, None)),
]


@pytest.mark.parametrize("text,want", SAMPLES)
def test_parse_layouts(text, want):
    p = parse_strip(*text)
    order = settle_date_order([p], layout=p.layout).order
    assert (p.layout, p.datetime_for(order), p.temperature_c, p.camera, p.burst_index, p.burst_size) == want


def test_no_text_is_empty_and_garbage_has_no_time():
    assert parse_strip("", "").empty
    p = parse_strip("HF2 SECURITY", "RECONYX")
    assert p.date is None and p.time is None and p.datetime_for("YMD") is None
    assert parse_strip("2022-08-02 27:13:00AM", "").time is None  # an impossible hour is not a time


def test_date_order_is_settled_per_camera_never_per_photo():
    # 04-05-2021 alone could be April 5 or May 4; the camera's 17-05-2021 says day first.
    strips = [parse_strip("", t) for t in ("04-05-2021 10:00:00", "17-05-2021 11:00:00")]
    decided = settle_date_order(strips)
    assert decided.order == "DMY" and "valid" in decided.basis
    assert strips[0].datetime_for(decided.order) == "2021-05-04T10:00:00"
    # Both orders valid everywhere: the EXIF dates decide.
    strips = [parse_strip("", "04-05-2021 10:00:00"), parse_strip("", "05-06-2021 10:00:00")]
    decided = settle_date_order(strips, [date(2021, 4, 5), None])
    assert decided.order == "MDY" and "EXIF" in decided.basis
    # Nothing decides, a generic camera: no date rather than a guess.
    decided = settle_date_order([parse_strip("", "04.01.2018 22:51:29")], layout="generic")
    assert decided.order is None and "ambiguous" in decided.basis
    # A maker's documented default settles what the photos leave open.
    assert settle_date_order([parse_strip("", "04-01-2018 22:51:29 Bushnell")], layout="bushnell").order == "MDY"


def test_constant_strip_exif_difference_is_offered_as_clock_offset():
    rows = [{"camera_key": "CAM1", "strip_minus_exif_s": d} for d in (3600, 3601, 3599)]
    rows += [{"camera_key": "CAM2", "strip_minus_exif_s": d} for d in (0, 0, 0)]
    rows += [{"camera_key": "CAM3", "strip_minus_exif_s": d} for d in (0, 900)]
    off = {o.camera: o for o in clock_offsets(rows)}
    assert off["CAM1"].offset_s == 3600 and off["CAM1"].compared == 3
    assert off["CAM2"].offset_s is None and off["CAM2"].equal == 3
    assert off["CAM3"].offset_s is None and "vary" in off["CAM3"].note


@pytest.fixture(scope="module")
def trap_folder(kit, tmp_path_factory) -> Path:
    """The heron burst (Reconyx, EXIF + strip), one Bushnell frame and two jaguars without a strip."""
    root = tmp_path_factory.mktemp("strips")
    ct = kit / "cameratrap"
    shutil.copytree(ct / "dev" / "camtrapdp_heron", root / "heron", ignore=shutil.ignore_patterns("*.csv", "*.json"))
    (root / "bush").mkdir()
    shutil.copy(ct / "dev" / "megadetector_samples" / "sage-grouse-raw.jpg", root / "bush")
    (root / "jaguar").mkdir()
    for name in ("RL 7_20051015_0143.jpg", "AABP 13_20051007_1205.jpg"):
        shutil.copy(ct / "dev" / "animl_Jaguar" / name, root / "jaguar")
    (root / "broken").mkdir()
    (root / "broken" / "truncated.jpg").write_bytes((ct / "dev" / "camtrapdp_heron" /
                                                    "20210531082538-RCNX0031.JPG").read_bytes()[:2000])
    return root


def test_strips_command_on_real_frames(trap_folder, tmp_path):
    out = tmp_path / "strips.csv"
    proc = run_cli("strips", trap_folder, "--out", out, "--quiet")
    rows = {r["file"]: r for r in read_rows(out)}
    assert len(rows) == 14 and "full OCR reads" in proc.stdout
    heron = [r for f, r in sorted(rows.items()) if f.startswith("heron/")]
    assert [r["strip_datetime"] for r in heron] == [r["exif_datetime"] for r in heron]
    assert {(r["temperature_c"], r["camera"]) for r in heron} == {("2.0", "MICA 318")}
    assert [int(r["burst_index"]) for r in heron] == list(range(1, 11)) and {r["burst_size"] for r in heron} == {"10"}
    assert "strip = EXIF to the second on 10/10" in proc.stdout
    b = rows["bush/sage-grouse-raw.jpg"]
    assert (b["strip_datetime"], b["temperature_c"], b["camera"]) == ("2023-06-20T13:09:04", "28.0", "CAM04LRC02")
    for f, r in rows.items():
        if f.startswith("jaguar/"):  # 2005 frames without a strip: an empty row, never a time
            assert r["strip_datetime"] == "" and r["temperature_c"] == "" and "no info strip" in r["failure"]
    assert rows["broken/truncated.jpg"]["failure"].startswith("unreadable")


def test_burst_reuse_gives_the_same_fields_as_full_reads(kit):
    from irbis.stages.strip_ocr import StripReader
    from irbis.strips_run import folder_of, read_photos
    root = kit / "cameratrap" / "dev" / "camtrapdp_heron"
    files = sorted(root.glob("*.JPG"))
    cheap = read_photos(files, root, folder_of, StripReader(reuse=True), progress=False)
    full = read_photos(files, root, folder_of, StripReader(reuse=False), progress=False)
    assert cheap.full_reads == 1 and cheap.cheap_reads == 9 and full.full_reads == 10
    keys = ["strip_datetime", "temperature_c", "camera", "burst_index", "burst_size"]
    assert [[r.get(k) for k in keys] for r in cheap.rows] == [[r.get(k) for k in keys] for r in full.rows]


def test_ingest_read_strips_gives_exif_less_photos_the_strip_time(kit, tmp_path):
    src = kit / "cameratrap" / "dev" / "camtrapdp_heron"
    photos = tmp_path / "CAM"
    photos.mkdir()
    for f in sorted(src.glob("*.JPG"))[:2]:
        shutil.copy(f, photos)
    # A copying tool stripped the EXIF of one frame (pixels re-encoded, no metadata).
    with Image.open(src / "20210531082539-RCNX0033.JPG") as im:
        im.save(photos / "stripped.jpg", quality=95)
    catalog = tmp_path / "catalog.sqlite"
    proc = run_cli("ingest", photos, "--catalog", catalog, "--read-strips", "--quiet")
    assert "1 photo(s) without an EXIF time took the strip's time" in proc.stdout
    db = sqlite3.connect(catalog)
    got = dict(db.execute("SELECT i.rel_path, i.taken_at FROM images i"))
    assert got["stripped.jpg"] == "2021-04-11T20:43:10"
    assert db.execute("SELECT time_used, camera, temperature_c FROM strips s JOIN images i ON i.id = s.image_id "
                      "WHERE i.rel_path = 'stripped.jpg'").fetchone() == (1, "MICA 318", 2.0)
    # The strip time puts the stripped frame into the burst's sequence.
    assert len({r[0] for r in db.execute("SELECT sequence_id FROM images")}) == 1
    # Per-photo CSVs (irbis predict) get the strip time and temperature as extra columns.
    from irbis.catalog import Catalog
    from irbis.strips_catalog import add_strip_columns
    with Catalog(catalog) as cat:
        paths = [r.path for r in cat.images(photos)]
        header, rows = add_strip_columns(cat, paths, ["file"], [[p] for p in paths])
    assert header == ["file", "strip_datetime", "temperature_c"]
    assert {r[2] for r in rows} == {2.0} and rows[-1][1] == "2021-04-11T20:43:10"
    # ... and a Camtrap DP export carries them in media.csv's exifData, beside the content hash.
    md = tmp_path / "md.json"
    run_cli("detect", photos, "--out", md, "--catalog", catalog, "--detector", "megadetector-lite-raw", "--quiet")
    deps = tmp_path / "deps.csv"
    deps.write_text("deployment,latitude,longitude\nCAM,50.699,4.013\n")
    run_cli("export", md, "--camtrap-dp", tmp_path / "pkg", "--catalog", catalog, "--deployments", deps, "--quiet")
    import csv
    import json
    with open(tmp_path / "pkg" / "media.csv", newline="", encoding="utf-8") as fh:
        exif = {r["fileName"]: json.loads(r["exifData"]) for r in csv.DictReader(fh)}
    assert exif["stripped.jpg"]["temperature_c"] == 2.0
    assert exif["stripped.jpg"]["strip_datetime"] == "2021-04-11T20:43:10" and len(exif["stripped.jpg"]["sha256"]) == 64


def test_missing_ocr_is_one_clear_error(tmp_path):
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "rapidocr_onnxruntime.py").write_text("raise ImportError(\"No module named 'rapidocr_onnxruntime'\")\n")
    (tmp_path / "photos").mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(stub), os.environ.get("PYTHONPATH", "")])}
    for args in (["strips", tmp_path / "photos", "--out", tmp_path / "s.csv"],
                 ["ingest", tmp_path / "photos", "--catalog", tmp_path / "c.sqlite", "--read-strips"]):
        proc = run_cli(*args, env=env, check=False)
        assert proc.returncode == 2
        assert "pip install --no-deps rapidocr-onnxruntime==1.4.4" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "s.csv").exists()


def test_strip_bands_found_and_masked(kit):
    from irbis.stages.strip_ocr import find_strip_bands, mask_strip_bands
    with Image.open(kit / "cameratrap" / "dev" / "camtrapdp_heron" / "20210531082538-RCNX0031.JPG") as im:
        im = im.convert("RGB")
    top, bottom = find_strip_bands(im)
    assert 20 <= top <= 60 and 20 <= bottom <= 60
    masked = mask_strip_bands(im, (top, bottom))
    assert masked.crop((0, 0, im.width, top)).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert masked.crop((0, top, im.width, im.height - bottom)).tobytes() == \
        im.crop((0, top, im.width, im.height - bottom)).tobytes()
    with Image.open(kit / "cameratrap" / "dev" / "animl_Jaguar" / "RL 7_20051015_0143.jpg") as jag:
        assert find_strip_bands(jag.convert("RGB")) == (0, 0)


def test_constant_offset_between_strip_and_exif_is_suggested(kit, tmp_path):
    """EXIF rewritten one hour late by a copying tool: the strip shows it, the offset is offered."""
    from datetime import datetime, timedelta
    src = kit / "cameratrap" / "dev" / "camtrapdp_heron"
    cam = tmp_path / "photos" / "CAM7"
    cam.mkdir(parents=True)
    for f in sorted(src.glob("*.JPG"))[:3]:
        with Image.open(f) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769)
            t = datetime.strptime(sub[36867], "%Y:%m:%d %H:%M:%S") + timedelta(hours=1)
            sub[36867] = t.strftime("%Y:%m:%d %H:%M:%S")
            im.save(cam / f.name, quality=95, exif=exif)
    proc = run_cli("strips", tmp_path / "photos", "--out", tmp_path / "s.csv", "--quiet")
    assert "CAM7: strip - EXIF = -3600 s on all 3 photos; suggested: irbis ingest --clock-offset CAM7=-3600" \
        in proc.stdout
    assert {r["strip_minus_exif_s"] for r in read_rows(tmp_path / "s.csv")} == {"-3600"}


def test_detect_mask_strips_hides_the_info_bar_from_the_detector(kit, tmp_path):
    """`irbis detect --mask-strips`: the detector sees the frame with its info bars black; the heron
    is still found, and the results say the strips were masked."""
    import json
    photos = tmp_path / "CAM"
    photos.mkdir()
    for f in sorted((kit / "cameratrap" / "dev" / "camtrapdp_heron").glob("*.JPG"))[:2]:
        shutil.copy(f, photos)
    out = tmp_path / "md.json"
    run_cli("detect", photos, "--out", out, "--detector", "megadetector-lite-fast", "--mask-strips", "--quiet")
    doc = json.loads(out.read_text())
    assert doc["info"]["irbis"]["detector_id"].endswith("/strips-masked") or \
        "/strips-masked" in doc["info"]["irbis"]["detector_id"]
    assert all(any(d["category"] == "1" for d in im["detections"]) for im in doc["images"])
