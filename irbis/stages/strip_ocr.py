"""Read a camera's info strip with OCR: the top and bottom bands only, once per burst.

RapidOCR 1.4.4 (PP-OCRv4 text detection + recognition, ONNX models inside the wheel, Apache-2.0)
runs offline. Its default settings upscale a 2048 x 100 band to 736 px high, about 2.4 s a frame;
here each band is padded (text touching the border is missed otherwise) and detected at its own
size, and recognition runs on the full-resolution word crops.

Frames of one burst print the same strip in the same place: :class:`StripReader` keeps the word
boxes of the last full read per folder and image size, and on the next frame only recognises the
words whose pixels changed (the seconds, the burst index). A frame is read in full again when its
date, time or layout no longer fits the last full read (a new burst, another camera).

Example
-------
>>> reader = StripReader()
>>> reader.read("RCNX0031.JPG").top_text
'2021-04-11 20:43:09 M 1/10 2°C'
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..imageio import ImageReadError, open_image

INSTALL_HINT = 'pip install --no-deps rapidocr-onnxruntime==1.4.4 && pip install "irbis[strips]"'
BAND_FRACTION = 0.075     # share of the height searched for a strip at the top and at the bottom
MIN_BAND_PX = 24
PAD_PX = 24               # black border around a band so the detector sees text at the edge
DET_SCALE = 1.0           # the band is shrunk by this factor for word detection (recognition: full size)
CHANGED_LEVEL = 64        # a pixel whose grey level moved this much (0-255) changed
CHANGED_SHARE = 0.004     # a word crop with more changed pixels than this share changed
MAX_CHANGED_SHARE = 0.6   # a burst read with more changed words than this share is read in full


class OCRMissingError(RuntimeError):
    """The OCR extra is not installed."""

    def __init__(self, detail: str = ""):
        super().__init__(f"reading info strips needs the OCR extra: {INSTALL_HINT}"
                         + (f" ({detail})" if detail else ""))


def load_engine(threads: int = 1):
    """A RapidOCR engine, or OCRMissingError naming the install command."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise OCRMissingError(str(exc)) from None
    import logging
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return RapidOCR(intra_op_num_threads=max(1, threads), inter_op_num_threads=1)


def band_rows(height: int) -> int:
    return min(height // 2, max(MIN_BAND_PX, int(round(height * BAND_FRACTION))))


@dataclass
class Word:
    box: tuple[int, int, int, int]   # x0, y0, x1, y1 in the padded band
    text: str
    crop: np.ndarray = field(repr=False)


@dataclass
class BandRead:
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words if w.text).strip()


@dataclass
class StripRead:
    """Raw OCR of one frame; ``full``: detection ran (False: boxes reused from the burst)."""

    top_text: str
    bottom_text: str
    full: bool
    recognised: int          # word crops sent to recognition
    top: BandRead | None = field(default=None, repr=False)
    bottom: BandRead | None = field(default=None, repr=False)


def extract_bands(im: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom bands as padded BGR arrays (what the OCR models expect)."""
    rgb = np.asarray(im.convert("RGB"))
    rows = band_rows(rgb.shape[0])
    out = []
    for band in (rgb[:rows], rgb[-rows:]):
        padded = np.zeros((band.shape[0] + 2 * PAD_PX, band.shape[1] + 2 * PAD_PX, 3), np.uint8)
        padded[PAD_PX:-PAD_PX, PAD_PX:-PAD_PX] = band[:, :, ::-1]
        out.append(padded)
    return out[0], out[1]


class StripOCR:
    """Detect words in a band and recognise them (thin layer over RapidOCR's two models)."""

    def __init__(self, threads: int = 1, det_scale: float = DET_SCALE):
        self.engine = load_engine(threads)
        self.det_scale = det_scale
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
        det = self.engine.text_det
        # Detect at the band's own size (rounded to 32) instead of upscaling its short side to 736.
        det.get_preprocess = lambda max_wh: DetPreProcess(int(max_wh), "max", det.mean, det.std)
        self._lock = threading.Lock()

    def detect(self, band: np.ndarray) -> list[tuple[int, int, int, int]]:
        small = band
        if self.det_scale != 1:
            import cv2
            small = cv2.resize(band, (round(band.shape[1] * self.det_scale), round(band.shape[0] * self.det_scale)),
                               interpolation=cv2.INTER_AREA)
        with self._lock:
            boxes, _ = self.engine.text_det(small)
        if boxes is None or len(boxes) == 0:
            return []
        boxes = [np.asarray(q, np.float32) / self.det_scale for q in boxes]
        out = []
        h, w = band.shape[:2]
        for quad in boxes:
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            x0, y0, x1, y1 = max(0, x0 - 2), max(0, y0 - 2), min(w, x1 + 2), min(h, y1 + 2)
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                out.append((int(x0), int(y0), int(x1), int(y1)))
        return sorted(out, key=lambda b: (b[0], b[1]))

    def recognise(self, crops: list[np.ndarray], min_score: float = 0.5) -> list[str]:
        if not crops:
            return []
        with self._lock:
            res, _ = self.engine.text_rec(crops)
        return [text if score >= min_score else "" for text, score in res]


def _crop(band: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(band[y0:y1, x0:x1])


def unchanged(a: np.ndarray, b: np.ndarray) -> bool:
    """Two crops of the same box show the same text (JPEG noise aside)."""
    if a.shape != b.shape:
        return False
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    return float((diff >= CHANGED_LEVEL).mean()) <= CHANGED_SHARE


def widened(words: list, i: int, width: int) -> tuple[int, int, int, int]:
    """Word ``i``'s box grown by its height on both sides, up to its neighbours: a changed word
    can be longer than in the frame its box came from (9/10 -> 10/10)."""
    x0, y0, x1, y1 = words[i].box
    grow = y1 - y0
    left = max([w.box[2] for w in words[:i] if w.box[2] <= x0] or [0])
    right = min([w.box[0] for w in words[i + 1:] if w.box[0] >= x1] or [width])
    return max(left, x0 - grow), y0, min(right, x1 + grow), y1


class StripReader:
    """Reads strips frame after frame, reusing a burst's word boxes and unchanged words.

    Parameters
    ----------
    threads : ONNX Runtime intra-op threads.
    reuse : keep boxes and unchanged words from the previous full read of the same camera
        (False: every frame is read in full, as a reference).
    """

    def __init__(self, threads: int = 1, reuse: bool = True, ocr: StripOCR | None = None,
                 det_scale: float = DET_SCALE):
        self.ocr = ocr or StripOCR(threads, det_scale)
        self.reuse = reuse
        self._last: dict[tuple, tuple[BandRead, BandRead]] = {}
        self.full_reads = 0
        self.cheap_reads = 0     # frames answered by a cheap read
        self.cheap_tries = 0     # cheap reads attempted (a rejected one is followed by a full read)

    def read_full(self, top: np.ndarray, bottom: np.ndarray) -> StripRead:
        bands, n = [], 0
        for band in (top, bottom):
            boxes = self.ocr.detect(band)
            crops = [_crop(band, b) for b in boxes]
            texts = self.ocr.recognise(crops)
            n += len(crops)
            bands.append(BandRead([Word(b, t, c) for b, t, c in zip(boxes, texts, crops, strict=False)]))
        self.full_reads += 1
        return StripRead(bands[0].text, bands[1].text, True, n, bands[0], bands[1])

    def read_cheap(self, top: np.ndarray, bottom: np.ndarray,
                   last: tuple[BandRead, BandRead]) -> StripRead | None:
        """The last full read's boxes on this frame; only changed word crops are recognised.
        None when most words changed (another camera or scene: a full read is cheaper)."""
        staged, total = [], 0
        for band, prev in zip((top, bottom), last, strict=False):
            words, todo = [], []
            for i, w in enumerate(prev.words):
                crop = _crop(band, w.box)
                if unchanged(crop, w.crop):
                    words.append(Word(w.box, w.text, crop))
                else:
                    words.append(Word(w.box, "", _crop(band, widened(prev.words, i, band.shape[1]))))
                    todo.append(i)
            staged.append((words, todo))
            total += len(words)
        changed = sum(len(todo) for _, todo in staged)
        if changed > MAX_CHANGED_SHARE * total:
            return None
        bands = []
        for words, todo in staged:
            for i, text in zip(todo, self.ocr.recognise([words[i].crop for i in todo]), strict=False):
                words[i].text = text
            bands.append(BandRead(words))
        return StripRead(bands[0].text, bands[1].text, False, changed, bands[0], bands[1])

    def read_image(self, im: Image.Image, key: tuple = (), accept=None) -> StripRead:
        """OCR one upright image. ``key`` names its camera (folder); ``accept(cheap, last_full)``
        decides whether a cheap read is trusted (default: always)."""
        top, bottom = extract_bands(im)
        key = (*key, im.size)
        last = self._last.get(key) if self.reuse else None
        if last is not None:
            self.cheap_tries += 1
            cheap = self.read_cheap(top, bottom, last)
            if cheap is not None and (accept is None or accept(cheap, last)):
                self.cheap_reads += 1
                return cheap
        full = self.read_full(top, bottom)
        if self.reuse and full.top is not None and full.bottom is not None and (full.top.words or full.bottom.words):
            self._last[key] = (full.top, full.bottom)
        return full

    def read(self, path: str | os.PathLike, key: tuple = (), accept=None) -> StripRead:
        """OCR one photo file; raises ImageReadError for unusable files."""
        return self.read_image(open_image(path), key, accept)


def find_strip_bands(im: Image.Image, max_fraction: float = 0.12, tolerance: int = 4,
                     min_share: float = 0.7) -> tuple[int, int]:
    """Rows of a solid info bar at the top and at the bottom (0 where there is none), from pixels only.

    A row belongs to the bar when at least ``min_share`` of its pixels lie within ``tolerance`` of
    the bar's colour (the most common grey level of the outermost row), scanning inwards.
    """
    g = np.asarray(im.convert("L"), dtype=np.int16)
    h = g.shape[0]
    limit = max(1, int(h * max_fraction))
    out = []
    for rows in (g[:limit], g[::-1][:limit]):
        colour = int(np.bincount(rows[0].clip(0, 255).astype(np.int64), minlength=256).argmax())
        n = 0
        for row in rows:
            if float((np.abs(row - colour) <= tolerance).mean()) < min_share:
                break
            n += 1
        # A bar is a few rows at least; one uniform row is just a dark edge.
        out.append(n if n >= max(4, h // 200) and n < limit else 0)
    return out[0], out[1]


def mask_strip_bands(im: Image.Image, bands: tuple[int, int] | None = None) -> Image.Image:
    """A copy of ``im`` with its info bars filled black (so a detector cannot fire on them)."""
    top, bottom = bands if bands is not None else find_strip_bands(im)
    if not top and not bottom:
        return im
    arr = np.array(im.convert("RGB"))
    if top:
        arr[:top] = 0
    if bottom:
        arr[-bottom:] = 0
    return Image.fromarray(arr)


__all__ = ["INSTALL_HINT", "OCRMissingError", "StripOCR", "StripRead", "StripReader", "extract_bands",
           "find_strip_bands", "load_engine", "mask_strip_bands", "ImageReadError"]
