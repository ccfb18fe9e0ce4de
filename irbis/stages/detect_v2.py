"""Detector v2: one box per animal, people and vehicles from a COCO side detector.

:class:`FusedDetector` keeps :class:`~irbis.stages.verify_boxes.VerifiedDetector`'s two halves
(``prepare`` decodes once and letterboxes for every pass; ``run`` detects, verifies) and changes
what happens between and after:

1. the 1280 px pass runs only where the 640 px pass found no sure box, and the passes are
   fused (:func:`~irbis.stages.box_fusion.fuse_passes`)
   instead of NMS'd, so the box is an average of both views;
2. verification as before, plus "sure" boxes: a box the network scores >= ``sure_conf`` is an
   animal when its crop carries some mass on any of ImageNet's 398 animal classes (a big
   night-IR heron's crop reads as "hammerhead shark": fish used to veto it);
3. boxes verified only by a surer animal inside their crop are dropped, and part boxes are
   merged into their animal (:func:`~irbis.stages.box_fusion.merge_parts`);
4. YOLOv3-tiny COCO (:mod:`irbis.stages.people`) adds person and vehicle boxes, replacing the
   animal pipeline's boxes it matches.

Speed (issue 10, README "Detector speed"): ``prepare`` decodes once for every pass, letterboxes
only the first pass (later passes on demand, in ``run``, for the photos that need them) and can
run the side detector there too (``side_in_prepare``: on the engine's decode thread, beside the
animal network on the inference thread); ``rect`` and ``int8`` choose the animal network's
canvas and graph (:class:`~irbis.stages.detect.Detector`); ``trust_conf`` skips the crop check
for boxes the network is that sure of; ``zoom`` / ``zoom_tiles`` replace the 1280 px pass by the
640 px network on windows of the photo (:mod:`~irbis.stages.zoom_windows`; measured, not
adopted: README, lever 6).

Choices were made with ``bench/detector_boxes.py`` on the dev sets (README, "Detectors").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image

from ..imageio import PhotoSource
from ..records import ANIMAL
from .box_fusion import drop_borrowed, fuse_passes, merge_parts
from .detect import DetectMeta, content_size
from .people import PeopleDetector, merge_people
from .verify_boxes import VerifiedDetector, VerifyOptions
from .zoom_windows import pixel_box, plan_windows, to_photo

V2_OPTIONS = replace(VerifyOptions(), sure_conf=0.5)


class FusedDetector(VerifiedDetector):
    """MegadetectorLite passes fused, verified, parts merged; optional person / vehicle side detector.

    Parameters
    ----------
    sizes : input sizes of the animal network's passes.
    people : a :class:`PeopleDetector`, ``None`` for none (then persons / vehicles come from the
        clothing / vehicle heuristic of the verifier only).
    fusion_iou : IoU at which boxes of different passes are one box.
    grow : let a verified animal box grow to a larger raw box that contains it (the whole animal).
    large_below : run the passes after the first only on photos whose first pass scored no box
        this high (1.1: always).
    borrowed_below : drop animal boxes the network scores below this whose crop holds a surer
        animal box (:func:`~irbis.stages.box_fusion.drop_borrowed`).
    rect, int8 : rectangular canvases, INT8 graph (:class:`~irbis.stages.detect.Detector`).
    side_in_prepare : run the side detector in ``prepare`` (the decode thread) instead of ``run``.
    trust_conf : boxes the network scores at least this are animals without a crop check
        (1.1: every box is checked).
    zoom : instead of the full-frame passes after the first, at most this many zoom windows
        (:mod:`~irbis.stages.zoom_windows`: the first pass's network on half-size parts of the
        photo, around its boxes scored >= ``zoom_floor``); 0: the full-frame passes.
    zoom_tiles, zoom_grid : instead of those, the first pass's network on ``zoom_grid`` x
        ``zoom_grid`` overlapping tiles of the photo, each ``zoom_tiles`` (0.5-0.6) of its width
        and height; 0: none.

    Example
    -------
    >>> FusedDetector(people=PeopleDetector()).detect("photo.jpg")
    [{'category': '1', 'conf': 0.81, 'bbox': [0.41, 0.52, 0.18, 0.3]}]
    """

    def __init__(self, sizes: Sequence[int] = (640, 1280), runtime: str = "auto", threads: int = 1,
                 options: VerifyOptions = V2_OPTIONS, people: PeopleDetector | None = None,
                 fusion_iou: float = 0.55, grow: bool = True, borrowed_below: float = 0.2,
                 large_below: float = 0.7, mask_strips: bool = False, rect: bool = False, int8: bool = False,
                 side_in_prepare: bool = False, trust_conf: float = 1.1, zoom: int = 0, zoom_floor: float = 0.05,
                 zoom_tiles: float = 0.0, zoom_grid: int = 2):
        super().__init__(sizes=sizes, runtime=runtime, threads=threads, options=options, mask_strips=mask_strips,
                         rect=rect, int8=int8)
        self.people, self.fusion_iou, self.grow, self.borrowed_below = people, fusion_iou, grow, borrowed_below
        self.large_below, self.side_in_prepare, self.trust_conf = large_below, side_in_prepare, trust_conf
        self.zoom, self.zoom_floor, self.zoom_tiles, self.zoom_grid = zoom, zoom_floor, zoom_tiles, zoom_grid

    @property
    def id(self) -> str:
        people = f"/{self.people.id}" if self.people else ""
        zoom = (f"/tiles{self.zoom_tiles:g}x{self.zoom_grid}" if self.zoom_tiles
                else f"/zoom{self.zoom}-{self.zoom_floor:g}" if self.zoom else "")
        return (f"v2/{super().id}/sure{self.verifier.options.sure_conf:g}-{self.verifier.options.sure_mass:g}"
                f"/wbf{self.fusion_iou:g}{'/grow' if self.grow else ''}/b{self.borrowed_below:g}"
                f"/lb{self.large_below:g}{'' if self.trust_conf > 1 else f'/trust{self.trust_conf:g}'}{zoom}{people}")

    def prepare(self, path: PhotoSource) -> tuple[list[np.ndarray], DetectMeta]:
        """Decode ``path`` upright once; letterbox it for the first pass (later passes: in ``run``,
        only where needed); with ``side_in_prepare`` the side detector's boxes too."""
        im, seen = self.decode(path)
        meta = DetectMeta(im.width, im.height, content_size(im.width, im.height, self.sizes[0]), im, seen)
        if self.side_in_prepare and self.people is not None:
            meta.side = self.people.detect(im)
        return [self.detectors[0].letterbox(seen or im)[0]], meta

    def raw(self, items: Sequence[list[np.ndarray]], metas: Sequence[DetectMeta]) -> list[list[dict]]:
        """Unverified candidates per photo, the passes fused.

        Passes after the first run only on photos whose first pass has no box scored
        ``large_below`` or more: a sure animal at 640 px gains nothing from 1280 px.
        """
        if not items:
            return []
        per_photo: list[list[list[dict]]] = [[] for _ in items]
        todo = list(range(len(items)))
        for k, d in enumerate(self.detectors):
            if k == 1:
                todo = [i for i in todo if max((b["conf"] for b in per_photo[i][0]), default=0.0) < self.large_below]
            if not todo:
                break
            if k and (self.zoom or self.zoom_tiles):   # the first pass's network on windows, not a 1280 px pass
                for i in todo:
                    per_photo[i].append(self.zoom_dets(_seen(metas[i]), per_photo[i][0]))
                break
            metas_k = [DetectMeta(metas[i].width, metas[i].height, content_size(metas[i].width, metas[i].height,
                                                                                d.input_size)) for i in todo]
            arrays = [items[i][k] if len(items[i]) > k else d.letterbox(_seen(metas[i]))[0] for i in todo]
            for i, dets in zip(todo, d.run(arrays, metas_k), strict=True):
                per_photo[i].append(dets)
        return [fuse_passes(ps, self.fusion_iou) for ps in per_photo]

    def zoom_dets(self, image: Image.Image, first: list[dict]) -> list[dict]:
        """The first pass's network on zoom windows placed from its boxes ``first``, in photo coordinates."""
        d = self.detectors[0]
        out: list[dict] = []
        for window in plan_windows(first, self.zoom, self.zoom_floor, tile=self.zoom_tiles,
                                   per_side=self.zoom_grid):
            crop = image.crop(pixel_box(window, *image.size))
            arr, content = d.letterbox(crop)
            out += to_photo(d.run([arr], [DetectMeta(crop.width, crop.height, content)])[0], window)
        return out

    def run(self, items: Sequence[list[np.ndarray]], metas: Sequence[DetectMeta]) -> list[list[dict]]:
        """Prepared photos -> detections per photo (animal, person, vehicle), highest conf first."""
        out = []
        v = self.verifier
        for raw, meta in zip(self.raw(items, metas), metas, strict=True):
            cands = v.candidates(raw)
            assert meta.image is not None, "prepare() keeps the decoded image for verification"
            trusted = [c for c in cands if c["conf"] >= self.trust_conf]
            checked = [c for c in cands if c["conf"] < self.trust_conf]
            probs = v.class_probs(v.prepare(meta.image, checked))
            if v.options.flip and len(checked):
                probs = (probs[:len(checked)] + probs[len(checked):]) / 2
            kept = sorted(v.classify(checked, v.scores(probs)) + [dict(c, category=ANIMAL) for c in trusted],
                          key=lambda d: -d["conf"])
            kept = drop_borrowed(kept, {tuple(c["bbox"]): c["conf"] for c in cands}, v.options.margin,
                                 self.borrowed_below)
            dets = merge_parts(kept, raw if self.grow else (), v.options.containment)
            if self.people is not None:
                side = meta.side if meta.side is not None else self.people.detect(meta.image)
                dets = merge_people(dets, side)
            out.append(dets)
            meta.image = meta.seen = meta.side = None  # done with the pixels: free them early
        return out

    def detect(self, path: str | os.PathLike) -> list[dict]:
        item, meta = self.prepare(path)
        return self.run([item], [meta])[0]


def _seen(meta: DetectMeta):
    """The image the detector looks at (info bars masked or not)."""
    image = meta.seen or meta.image
    assert image is not None, "prepare() keeps the decoded image for the later passes"
    return image

