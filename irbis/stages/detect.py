"""Detect stage: animal boxes per photo with MegadetectorLite (YOLOX-tiny, one class "animal").

``Detector.prepare`` decodes one photo (draft mode, EXIF orientation applied; CPU, thread-safe,
Pillow releases the GIL) and letterboxes it; ``Detector.run`` turns a batch of prepared arrays
into MegaDetector-style detections. Engines call the two halves on different threads, as for
:class:`irbis.stages.featurize.Featurizer`.

Preprocessing follows DrivenData's ``MegadetectorLiteYoloX`` (zamba 2.7.2): RGB 0-255 without
normalisation, bicubic resize so the long side fills the input, placed top-left on a square
canvas; objectness x class probability >= 0.25, NMS IoU 0.45. zamba pads with black
(``ImageOps.pad(color=None)``); ``pad`` defaults to that (YOLOX's own 114 made no difference on
the dev photos, feeding BGR instead of RGB lost animals).

Runtimes: ONNX Runtime (the graph exported once at batch 1 per input size, cached under the
irbis home) or torch eager; ``auto`` picks ONNX Runtime when installed: one thread, 2-core CPU,
it took 157 ms at 640 and 650 ms at 1280 against 231 and 1070 ms for torch (indicative).

Raw detections only: verification of boxes by the classifier and the person / vehicle
categories live in :mod:`irbis.stages.verify_boxes`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from ..config import irbis_home
from ..hashing import content_hash
from ..imageio import PhotoSource, open_image
from ..models.onnx_runtime import RUNTIMES, choose_runtime, open_session, run_per_image  # noqa: F401
from ..models.yolox import load_megadetector_lite, megadetector_lite_weights, nms
from ..records import ANIMAL


@dataclass
class DetectMeta:
    """What ``run`` needs to map boxes back to the photo (and what verification needs)."""

    width: int              # upright decoded image, pixels
    height: int
    content: tuple[int, int]  # size of the resized photo on the canvas (top-left)
    image: Image.Image | None = field(default=None, repr=False)  # decoded upright RGB image
    seen: Image.Image | None = field(default=None, repr=False)   # what the detector sees, when not ``image``
    side: list[dict] | None = field(default=None, repr=False)    # side detector's boxes, found in prepare

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def content_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Size of a width x height photo resized so its long side fills a size x size input."""
    r = size / max(width, height)
    return max(1, min(size, round(width * r))), max(1, min(size, round(height * r)))


def canvas_size(width: int, height: int, size: int, rect: bool = False) -> tuple[int, int]:
    """(W, H) of the network input for a width x height photo: size x size, or with ``rect`` the
    long side ``size`` and the short side the resized photo's rounded up to YOLOX's stride of 32
    (640 x 480 for a 4:3 frame: a quarter fewer pixels than the square)."""
    if not rect:
        return size, size
    nw, nh = content_size(width, height, size)
    return min(size, -(-nw // STRIDE) * STRIDE), min(size, -(-nh // STRIDE) * STRIDE)


STRIDE = 32


def letterbox(im: Image.Image, size: int, pad: int = 0, rect: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB image -> (3, H, W) float32 0-255, bicubic, top-left, padded; and content size.

    The canvas is size x size, or with ``rect`` just large enough (:func:`canvas_size`)."""
    nw, nh = content_size(*im.size, size)
    cw, ch = canvas_size(*im.size, size, rect)
    arr = np.full((ch, cw, 3), pad, dtype=np.float32)
    arr[:nh, :nw] = np.asarray(im.resize((nw, nh), Image.Resampling.BICUBIC), dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1)), (nw, nh)


def postprocess(pred: np.ndarray, content: tuple[int, int], score_threshold: float,
                nms_iou: float) -> list[dict]:
    """One image's decoded predictions (A, 6) -> detections normalised to the content area."""
    scores = pred[:, 4] * pred[:, 5:].max(axis=1)
    keep = scores >= score_threshold
    if not keep.any():
        return []
    p, s = pred[keep], scores[keep]
    xyxy = np.stack([p[:, 0] - p[:, 2] / 2, p[:, 1] - p[:, 3] / 2,
                     p[:, 0] + p[:, 2] / 2, p[:, 1] + p[:, 3] / 2], axis=1)
    idx = nms(torch.from_numpy(xyxy), torch.from_numpy(s), nms_iou).numpy()
    nw, nh = content
    out = []
    for i in idx:
        x1, y1, x2, y2 = np.clip(xyxy[i] / np.array([nw, nh, nw, nh], np.float32), 0.0, 1.0)
        if x2 > x1 and y2 > y1:
            out.append({"category": ANIMAL, "conf": float(s[i]),
                        "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]})
    return out


class Detector:
    """MegadetectorLite animal detector.

    Parameters
    ----------
    input_size : square network input (640 as trained; 960 / 1280 find smaller animals).
    score_threshold : minimum objectness x class probability kept.
    nms_iou : IoU above which a lower-scored box is suppressed.
    runtime : ``auto`` (ONNX Runtime if installed), ``onnx`` or ``torch``.
    threads : intra-op threads per inference call (1 is fastest on small CPUs).
    keep_image : keep the decoded image in the meta (needed by box verification).
    pad : canvas fill (0 as zamba; YOLOX's own pre-processing uses 114).
    mask_strips : fill the camera's info bars black before detection (it fires on them).
    rect : rectangular canvas (:func:`canvas_size`; 640 x 480 for 4:3) instead of the square;
        one graph per canvas shape.
    int8 : ONNX Runtime with the graph quantized to INT8 (:mod:`irbis.models.int8`): the network
        about 2x faster; scores and boxes move.

    Example
    -------
    >>> d = Detector()
    >>> x, meta = d.prepare("photo.jpg")
    >>> d.run(x[None], [meta])[0]
    [{'category': '1', 'conf': 0.91, 'bbox': [0.41, 0.52, 0.18, 0.3]}]
    """

    def __init__(self, input_size: int = 640, score_threshold: float = 0.25, nms_iou: float = 0.45,
                 runtime: str = "auto", threads: int = 1, keep_image: bool = False, pad: int = 0,
                 weights: str | os.PathLike | None = None, mask_strips: bool = False, rect: bool = False,
                 int8: bool = False):
        if input_size % 32:
            raise ValueError("input_size must be a multiple of 32")
        runtime = choose_runtime(runtime)
        self.weights = Path(weights) if weights else megadetector_lite_weights()
        self.input_size, self.score_threshold, self.nms_iou = input_size, score_threshold, nms_iou
        self.runtime, self.threads, self.keep_image, self.pad = runtime, threads, keep_image, pad
        self.mask_strips, self.rect, self.int8 = mask_strips, rect, int8
        if int8 and runtime != "onnx":
            raise ValueError("int8 needs the ONNX Runtime")
        self._lock = threading.Lock()
        self._sessions: dict[tuple[int, int], Any] = {}
        self._module: Any = None
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = content_hash(self.weights)
        return self._digest

    @property
    def id(self) -> str:
        """Identity for caches and run journals: weights digest, input size, thresholds."""
        return (f"mdlite-yolox-tiny@{self.digest[:16]}/{self.input_size}/{self.score_threshold:g}/{self.nms_iou:g}"
                + ("/rect" if self.rect else "") + ("/int8" if self.int8 else "")
                + ("/strips-masked" if self.mask_strips else ""))

    # -- CPU half ------------------------------------------------------------------------
    def prepare(self, path: PhotoSource) -> tuple[np.ndarray, DetectMeta]:
        """Decode ``path`` upright, letterbox it; raises ImageReadError for unusable files."""
        # Draft-decode (JPEG 1/2, 1/4, 1/8) keeping the short side, hence the long side, >= the
        # input size; verified crops get twice that resolution.
        im = open_image(path, min_short_side=self.input_size * (2 if self.keep_image else 1))
        return self.prepare_image(im)

    def prepare_image(self, im: Image.Image) -> tuple[np.ndarray, DetectMeta]:
        """Like :meth:`prepare` for an upright RGB PIL image already in memory."""
        if self.mask_strips:
            from .strip_ocr import mask_strip_bands
            im = mask_strip_bands(im)
        arr, content = self.letterbox(im)
        return arr, DetectMeta(im.width, im.height, content, im if self.keep_image else None)

    def letterbox(self, im: Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
        """An upright RGB image -> this detector's network input and the content size on it."""
        return letterbox(im, self.input_size, self.pad, self.rect)

    # -- inference half ------------------------------------------------------------------
    def forward(self, batch: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """(N, 3, H, W) float32, or N arrays of different canvases -> raw predictions, (A, 6) each."""
        if self.runtime == "onnx":
            out = []
            for x in batch:
                x = np.ascontiguousarray(x[None], dtype=np.float32)
                out.append(self._onnx_session(x.shape[3], x.shape[2]).run(None, {"x": x})[0][0])
            return out
        module = self._torch_module()
        with torch.inference_mode():
            return [module(torch.from_numpy(np.ascontiguousarray(x[None], dtype=np.float32))).float().numpy()[0]
                    for x in batch]

    def run(self, batch: np.ndarray | Sequence[np.ndarray], metas: list[DetectMeta]) -> list[list[dict]]:
        """Prepared arrays + metas -> per photo a list of detections, highest conf first.

        A detection is ``{"category": "1", "conf": float, "bbox": [x, y, w, h]}`` with the box
        normalised to the upright photo, top-left origin (MegaDetector batch format). ``batch``
        may be a list when the photos' canvases differ (``rect``).
        """
        if len(batch) == 0:
            return []
        preds = self.forward(batch)
        return [postprocess(p, m.content, self.score_threshold, self.nms_iou) for p, m in zip(preds, metas)]

    def detect(self, path: str | os.PathLike) -> list[dict]:
        """Convenience: prepare + run for one photo."""
        arr, meta = self.prepare(path)
        return self.run(arr[None], [meta])[0]

    def _torch_module(self) -> torch.nn.Module:
        with self._lock:
            if self._module is None:
                torch.set_num_threads(max(1, self.threads))
                self._module = load_megadetector_lite(self.weights)
            return self._module

    def onnx_path(self, width: int | None = None, height: int | None = None, int8: bool = False) -> Path:
        """The cached graph for a width x height canvas (default: the square)."""
        w, h = width or self.input_size, height or self.input_size
        shape = str(w) if w == h else f"{w}x{h}"
        return irbis_home() / "onnx" / f"mdlite-yolox-tiny-{self.digest[:16]}-{shape}{'-int8' if int8 else ''}.onnx"

    def _onnx_session(self, width: int, height: int):
        with self._lock:
            if (width, height) not in self._sessions:
                fp32 = self.onnx_path(width, height)
                make = lambda: load_megadetector_lite(self.weights)  # noqa: E731
                if self.int8:
                    from ..models.int8 import open_int8_session
                    session = open_int8_session(self.onnx_path(width, height, int8=True), fp32, make,
                                                (height, width), self.input_size, self.threads)
                else:
                    session = open_session(fp32, make, (height, width), self.threads)
                self._sessions[(width, height)] = session
            return self._sessions[(width, height)]
