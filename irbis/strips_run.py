"""``irbis strips``: read every photo's info strip into a CSV (one row per photo, failures included).

Frames are read folder by folder in file order, so a burst's frames follow each other and all
but the first are read cheaply (see :class:`irbis.stages.strip_ocr.StripReader`). The date order
(YMD / MDY / DMY) is settled per camera (folder and layout) from all its frames. Where strip and
EXIF times differ by the same number of seconds on every frame of a folder, that difference is
reported as the deployment's clock offset (``irbis ingest --clock-offset``).
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from .atomic import atomic_write
from .imageio import ImageReadError, open_image
from .ingest import deployment_for, scan_photos
from .ingest.metadata import (
    EXIF_IFD,
    TAG_DATETIME,
    TAG_DATETIME_DIGITIZED,
    TAG_DATETIME_ORIGINAL,
    TAG_MAKE,
    parse_exif_datetime,
)
from .stages.strip_parse import ParsedStrip, parse_strip, settle_date_order

COLUMNS = ["file", "strip_datetime", "temperature_c", "camera", "burst_index", "burst_size", "raw_text",
           "failure", "layout", "date_order", "exif_datetime", "strip_minus_exif_s"]
SAME_BURST_S = 120          # a cheap read is trusted when its time is this close to the last full read
OFFSET_TOLERANCE_S = 2      # differences within this many seconds count as one constant offset


@dataclass
class ClockOffset:
    camera: str
    offset_s: float | None    # strip - EXIF; None when they do not differ by a constant
    compared: int
    equal: int                # photos whose strip and EXIF times are equal to the second
    note: str = ""


@dataclass
class StripReport:
    rows: list[dict]
    seconds: float = 0.0
    full_reads: int = 0
    cheap_reads: int = 0
    offsets: list[ClockOffset] = field(default_factory=list)
    out: str | None = None

    def count(self, column: str) -> int:
        return sum(r.get(column) not in (None, "") for r in self.rows)

    def summary(self) -> str:
        n = len(self.rows)
        lines = [f"{n} photos: strip time on {self.count('strip_datetime')}, temperature on "
                 f"{self.count('temperature_c')}, camera name on {self.count('camera')}, "
                 f"{self.count('failure')} without a usable strip; {self.full_reads} full OCR reads, "
                 f"{self.cheap_reads} read cheaply from their burst, {self.seconds / max(n, 1):.2f} s per photo"
                 + (f". Written: {self.out}" if self.out else "")]
        for o in self.offsets:
            if o.offset_s:
                lines.append(f"  {o.camera}: strip - EXIF = {o.offset_s:+.0f} s on all {o.compared} photos; "
                             f"suggested: irbis ingest --clock-offset {o.camera}={o.offset_s:+.0f}")
            elif o.compared:
                lines.append(f"  {o.camera}: strip = EXIF to the second on {o.equal}/{o.compared} photos"
                             + (f" ({o.note})" if o.note else ""))
        return "\n".join(lines)


def exif_time_and_make(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """EXIF DateTimeOriginal (ISO) and Make, without decoding pixels; (None, None) if unreadable."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(EXIF_IFD)
            when = (parse_exif_datetime(sub.get(TAG_DATETIME_ORIGINAL))
                    or parse_exif_datetime(sub.get(TAG_DATETIME_DIGITIZED))
                    or parse_exif_datetime(exif.get(TAG_DATETIME)))
            make = exif.get(TAG_MAKE)
            make = make.decode("ascii", "ignore") if isinstance(make, bytes) else make
            return when, (str(make).strip("\x00 ") or None) if make else None
    except Exception:
        return None, None


def _seconds(t: tuple[int, int, int | None]) -> int:
    return t[0] * 3600 + t[1] * 60 + (t[2] or 0)


def _same_burst(cheap: ParsedStrip, last: ParsedStrip) -> bool:
    if cheap.date is None or cheap.time is None or last.date is None or last.time is None:
        return False
    if cheap.date.parts != last.date.parts or cheap.layout != last.layout:
        return False
    # Every field the full read found must still be there (a cut-off word loses one).
    for name in ("temperature_c", "camera", "burst_index"):
        if getattr(last, name) is not None and getattr(cheap, name) is None:
            return False
    return abs(_seconds(cheap.time) - _seconds(last.time)) <= SAME_BURST_S


def read_photos(files: list[Path], root: Path, camera_of, reader=None, threads: int = 1, reuse: bool = True,
                progress: bool = True) -> StripReport:
    """Rows for ``files`` (absolute paths below ``root``); ``camera_of(rel_path)`` names the camera
    whose frames share a date order and clock offset (a folder or a deployment)."""
    from .stages.strip_ocr import StripReader
    reader = reader or StripReader(threads=threads, reuse=reuse)
    start = time.perf_counter()
    rows: list[dict] = []
    parsed: list[ParsedStrip | None] = []
    for f in tqdm(files, desc="strips", unit="photo", disable=not progress):
        rel = f.relative_to(root).as_posix()
        exif, make = exif_time_and_make(f)
        row = {"file": rel, "exif_datetime": exif, "camera_key": camera_of(rel)}
        try:
            im = open_image(f)
        except ImageReadError as exc:
            row["failure"] = f"unreadable: {exc}"
            rows.append(row)
            parsed.append(None)
            continue

        def accept(cheap, last, make=make):
            return _same_burst(parse_strip(cheap.top_text, cheap.bottom_text, make),
                               parse_strip(last[0].text, last[1].text, make))
        read = reader.read_image(im, key=(str(f.parent),), accept=accept)
        p = parse_strip(read.top_text, read.bottom_text, make)
        row.update(raw_text=p.raw_text, layout=p.layout, temperature_c=p.temperature_c, camera=p.camera,
                   burst_index=p.burst_index, burst_size=p.burst_size)
        rows.append(row)
        parsed.append(p)
    report = StripReport(rows, time.perf_counter() - start, reader.full_reads, reader.cheap_reads)
    settle(rows, parsed)
    report.offsets = clock_offsets(rows)
    return report


def settle(rows: list[dict], parsed: list[ParsedStrip | None]) -> None:
    """Date order per camera and layout, then each row's strip_datetime and failure."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(parsed):
        if p is not None and p.date is not None:
            groups.setdefault(_order_key(rows[i], p), []).append(i)
    orders = {}
    for key, idx in groups.items():
        exif = [_exif_date(rows[i].get("exif_datetime")) for i in idx]
        orders[key] = settle_date_order([p for p in (parsed[i] for i in idx) if p is not None], exif, key[1])
    for row, p in zip(rows, parsed, strict=False):
        if p is None:
            continue
        decided = orders.get(_order_key(row, p)) if p.date is not None else None
        row["date_order"] = decided.order if decided else None
        row["strip_datetime"] = p.datetime_for(decided.order) if decided else None
        if p.empty:
            row["failure"] = "no info strip found (no text in the top or bottom band)"
        elif p.date is None or p.time is None:
            row["failure"] = "strip read but no " + " or ".join(
                n for n, v in (("date", p.date), ("time", p.time)) if v is None)
        elif row["strip_datetime"] is None:
            row["failure"] = decided.basis if decided and decided.order is None else \
                f"date {p.date.text!r} invalid under the camera's order {decided.order if decided else '?'}"
        if row.get("strip_datetime") and row.get("exif_datetime") and len(row["strip_datetime"]) == 19:
            row["strip_minus_exif_s"] = int((datetime.fromisoformat(row["strip_datetime"])
                                             - datetime.fromisoformat(row["exif_datetime"])).total_seconds())


def _order_key(row: dict, p: ParsedStrip) -> tuple:
    """Frames that share a date order: one camera (folder or deployment), layout and date shape."""
    return row["camera_key"], p.layout, p.date.shape if p.date else None


def _exif_date(iso: str | None) -> date | None:
    return datetime.fromisoformat(iso).date() if iso else None


def clock_offsets(rows: list[dict]) -> list[ClockOffset]:
    """Per camera: strip - EXIF when it is the same (within 2 s) on every photo with both times."""
    by_cam: dict[str, list[int]] = {}
    for r in rows:
        if r.get("strip_minus_exif_s") is not None:
            by_cam.setdefault(r["camera_key"], []).append(r["strip_minus_exif_s"])
    out = []
    for cam, diffs in sorted(by_cam.items()):
        med = statistics.median(diffs)
        equal = sum(d == 0 for d in diffs)
        constant = all(abs(d - med) <= OFFSET_TOLERANCE_S for d in diffs)
        if constant and abs(med) > OFFSET_TOLERANCE_S:
            out.append(ClockOffset(cam, float(round(med)), len(diffs), equal))
        else:
            note = "" if constant else f"differences vary from {min(diffs):+d} to {max(diffs):+d} s"
            out.append(ClockOffset(cam, None, len(diffs), equal, note))
    return out


def write_rows(out: str | os.PathLike, rows: list[dict]) -> Path:
    def write(fh):
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: "" if r.get(c) is None else r[c] for c in COLUMNS})
    return atomic_write(out, write, text=True)


def folder_of(rel_path: str) -> str:
    parent = str(Path(rel_path).parent).replace("\\", "/")
    return "." if parent in ("", ".") else parent


def read_strips(photos_dir: str | os.PathLike, out: str | os.PathLike, threads: int = 1, reuse: bool = True,
                progress: bool = True) -> StripReport:
    """Read the strips of every photo below ``photos_dir`` into the CSV ``out``."""
    root = Path(photos_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {photos_dir}")
    from .stages.strip_ocr import StripReader
    reader = StripReader(threads=threads, reuse=reuse)  # fails early, before any work, without the extra
    # Cameras named as `irbis ingest` names deployments, so a suggested --clock-offset applies as printed.
    report = read_photos(scan_photos(root), root, lambda rel: deployment_for(rel, root, None), reader,
                         progress=progress)
    report.out = str(write_rows(out, report.rows))
    return report
