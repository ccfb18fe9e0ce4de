"""Fast, safe image decoding.

* JPEG draft mode: the decoder scales by 1/2, 1/4 or 1/8 while decoding, to about twice the
  size the network needs, which is 4-6x faster than a full decode of a 2048x1536 frame.
* EXIF orientation applied, every mode (CMYK, grayscale, palette, alpha) converted to RGB.
* A pixel limit refuses decompression bombs before any pixel is decoded.

Every problem is raised as :class:`ImageReadError` with a reason a person can read.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .entries import EntryError, read_file_bytes, size_problem
from .records import PhotoBytes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MAX_PIXELS = 120_000_000  # 120 MP: larger than any camera trap, far smaller than a bomb
MIN_SIDE = 8
MAX_FILE_BYTES = 512 * 1024 * 1024  # no camera writes a 512 MB photo; refuse before reading it

SHA256_KEY = "irbis_sha256"


PhotoSource = str | os.PathLike | PhotoBytes   # a file, or bytes already read (:attr:`ImageRecord.source`)


class ImageReadError(Exception):
    """A photo that cannot be used; ``str(err)`` says why."""


@dataclass(frozen=True)
class Preprocessing:
    """How a backbone wants its input: resize the short side, centre-crop, normalise."""

    resize_short: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def as_dict(self) -> dict:
        return {"resize_short": self.resize_short, "crop": self.crop,
                "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(d["resize_short"], d["crop"], tuple(d["mean"]), tuple(d["std"]))


def source_bytes(source: PhotoBytes) -> tuple[bytes, str]:
    """Bytes already read and their SHA-256, with a file's limits (empty, too large)."""
    data = source.data
    problem = size_problem(len(data), MAX_FILE_BYTES)
    if problem:
        raise ValueError(problem)
    return data, hashlib.sha256(data).hexdigest()


def open_image(path: PhotoSource, min_short_side: int | None = None,
               max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``path`` (a file, or :class:`~irbis.records.PhotoBytes` already read) into an upright
    RGB image.

    ``min_short_side``: when given, JPEGs are decoded in draft mode to the smallest scale whose
    short side is still at least this many pixels. The file is read once; the SHA-256 of the
    bytes decoded is in ``im.info[SHA256_KEY]`` (see :func:`decoded_sha256`).
    """
    try:
        data, sha = source_bytes(path) if isinstance(path, PhotoBytes) else read_file_bytes(path, MAX_FILE_BYTES)
    except ValueError as exc:   # empty or too large
        raise ImageReadError(str(exc)) from exc
    except OSError as exc:      # what the entry is: a FIFO, a dangling link, unreadable, ...
        raise ImageReadError(str(exc) if isinstance(exc, EntryError) else
                             f"cannot read file: {exc.strerror or exc}") from exc
    im = decode_image(data, min_short_side=min_short_side, max_pixels=max_pixels)
    im.info[SHA256_KEY] = sha   # the hash of the bytes decoded: what caches and journals are keyed by
    return im


def decoded_sha256(im: Image.Image | None) -> str | None:
    """The SHA-256 of the bytes ``im`` was decoded from by :func:`open_image` (None if unknown)."""
    return None if im is None else im.info.get(SHA256_KEY)


def decode_image(data: bytes, min_short_side: int | None = None,
                 max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Like :func:`open_image` for bytes already in memory (used by the Spark engine too)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > max_pixels:
                raise ImageReadError(
                    f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the "
                    f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb)")
            if min(w, h) < MIN_SIDE:
                raise ImageReadError(f"image too small: {w}x{h} (needs at least {MIN_SIDE} px a side)")
            orientation = im.getexif().get(0x0112, 1)
            if im.format == "JPEG" and min_short_side:
                # Keep the short side >= min_short_side after the EXIF rotation too.
                scale = min(w, h) / float(min_short_side)
                if scale >= 2:
                    im.draft("RGB", (math.ceil(w / scale), math.ceil(h / scale)))
            # Other libraries (the megadetector package among them) switch Pillow's global
            # tolerance of truncated files on at import; a truncated photo must stay a failure.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            im.load()
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"image too large (decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError("not an image (unknown or corrupt format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            msg = f"truncated file: {msg}"
        raise ImageReadError(f"corrupt image: {msg}") from exc
    except MemoryError as exc:
        raise ImageReadError("out of memory while decoding") from exc
    if orientation not in (1, None):
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # a broken orientation tag should not lose the photo
            pass
    return to_rgb(im)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to RGB; transparent pixels become mid-grey rather than black."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode == "I;16" or im.mode == "I":
        arr = np.asarray(im, dtype=np.float32)
        arr = (255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1.0)).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    return im.convert("RGB")


def network_input(im: Image.Image, prep: Preprocessing, flip: bool = False) -> np.ndarray:
    """RGB image -> float32 CHW array: bicubic resize of the short side, centre crop, normalise.

    Only the region that survives the crop is resampled (Pillow's ``box``), which gives the same
    pixels as resize-then-crop for about 60 % of the work.
    """
    w, h = im.size
    s = prep.resize_short / min(w, h)
    nw, nh = max(prep.crop, round(w * s)), max(prep.crop, round(h * s))
    sx, sy = w / nw, h / nh
    left, top = (nw - prep.crop) // 2, (nh - prep.crop) // 2
    box = (left * sx, top * sy, (left + prep.crop) * sx, (top + prep.crop) * sy)
    im = im.resize((prep.crop, prep.crop), Image.Resampling.BICUBIC, box=box)
    arr = np.asarray(im, dtype=np.float32)
    if flip:
        arr = arr[:, ::-1, :]
    arr = (arr - np.asarray(prep.mean, np.float32)) * (1.0 / np.asarray(prep.std, np.float32))
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


# JPEGs are draft-decoded so the short side stays >= this multiple of the resize target (384 px
# for Lite0's 256, i.e. ~1.7x its 224 input): a 2048x1536 frame decodes at 1/4 scale. Features
# match a 1/2-scale decode at cosine >= 0.997 (bench/featurize.py) for a third less CPU.
DRAFT_FACTOR = 1.5


def load_network_input(path: PhotoSource, prep: Preprocessing,
                       flips: tuple[bool, ...] = (False,)) -> list[np.ndarray]:
    """Decode ``path`` once (draft mode to about twice the network size) and prepare one array per flip."""
    im = open_image(path, min_short_side=math.ceil(DRAFT_FACTOR * prep.resize_short))
    return [network_input(im, prep, flip=f) for f in flips]
