"""Verify detector boxes with the ImageNet classifier; person and vehicle categories.

MegadetectorLite (:mod:`irbis.stages.detect`) is small and was trained on camera-trap video
frames: on stills it misses animals (recall rises with a low score threshold and a second,
larger input size) and it fires on arches, windows, statues and the camera's info strip. So:

1. candidates: raw boxes from one or more input sizes (default 640 and 1280) down to a low
   score (0.02), merged by NMS;
2. each of the best few is cropped from the photo with context, made square, and classified
   by EfficientNet-Lite0 with its ImageNet head (the ``_fc`` layer of the shipped checkpoint);
3. a box is an animal (category "1") when the crop's probability mass on land-vertebrate
   ImageNet classes (mammals, birds, reptiles, amphibians: fish and invertebrates are left out,
   leaf litter and bark look like them) is high *and* concentrated in one group (cats, dogs,
   birds, ungulates, ...), or moderate for a box the detector itself is fairly sure of; a crop
   dominated by vehicle classes becomes category "3"; one
   dominated by clothing / person classes category "2" (ImageNet has no person class, so this
   is a weak heuristic: small people are rarely caught). Other boxes are dropped.

Thresholds were chosen on the dev photos only (``bench/detector_dev_eval.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..geometry import square_crop, suppress_contained  # noqa: F401  (square_crop re-exported for benches)
from ..imageio import PhotoSource, Preprocessing, network_input, open_image
from ..models.yolox import nms
from ..records import ANIMAL, PERSON, VEHICLE  # noqa: F401
from .detect import DetectMeta, Detector, content_size
from .featurize import Featurizer
from .imagenet_head import ImageNetHead

# ImageNet-1k animal classes (0-397) in coarse groups.
GROUPS: dict[str, tuple[int, ...]] = {
    "fish": (*range(7), *range(389, 398)),
    "birds": (*range(7, 25), *range(80, 101), *range(127, 147)),
    "amphibians": tuple(range(25, 33)),
    "reptiles": tuple(range(33, 69)),
    "arthropods": (*range(69, 80), *range(118, 127), *range(300, 327)),
    "invertebrates": (*range(107, 118), *range(327, 330)),
    "monotremes_marsupials": tuple(range(101, 107)),
    "marine_mammals": tuple(range(147, 151)),
    "dogs": tuple(range(151, 269)),
    "wild_canids": tuple(range(269, 281)),
    "cats": tuple(range(281, 294)),
    "bears": tuple(range(294, 298)),
    "small_mammals": (298, 299, *range(330, 339), *range(356, 365)),
    "ungulates": tuple(range(339, 356)),
    "primates": tuple(range(365, 385)),
    "elephants_pandas": tuple(range(385, 389)),
}
ANIMAL_CLASSES = tuple(range(398))
LAND_VERTEBRATE_GROUPS = tuple(g for g in GROUPS if g not in ("fish", "arthropods", "invertebrates"))
VEHICLE_CLASSES = (407, 408, 436, 444, 468, 479, 511, 555, 569, 573, 575, 581, 586, 595, 603, 609, 612,
                   627, 654, 656, 661, 665, 670, 671, 675, 717, 734, 751, 757, 779, 802, 803, 817, 829,
                   847, 864, 866, 867, 870, 874, 880)
# ImageNet has no "person": people show up as their clothes, hats and gear, or these three.
PERSON_CLASSES = (399, 400, 411, 414, 439, 445, 451, 452, 457, 459, 465, 474, 501, 515, 518, 552, 560,
                  568, 570, 578, 601, 608, 610, 614, 617, 638, 639, 643, 652, 655, 667, 689, 697, 735,
                  775, 793, 796, 808, 824, 834, 841, 842, 869, 887, 906, 981, 982, 983)


@dataclass(frozen=True)
class VerifyOptions:
    """How boxes are verified (defaults chosen on the dev photos)."""

    margin: float = 0.25             # context on each side, fraction of the box's long side
    min_crop: float = 0.15           # smallest crop side, fraction of the photo's short side
    max_boxes: int = 8               # candidates verified per photo (highest detector conf first)
    min_detector_conf: float = 0.02  # candidates below this are not looked at
    animal_mass: float = 0.6         # land-vertebrate probability mass that confirms an animal ...
    group_peak: float = 0.3          # ... when at least this much of it falls in one group,
    confident_conf: float = 0.2      # or, for boxes the detector scores at least this,
    confident_mass: float = 0.4      # this much mass (in any groups)
    land_vertebrates_only: bool = True  # False: all 398 animal classes count
    other_mass: float = 0.5          # vehicle / person mass that makes a vehicle / person box
    flip: bool = False               # average each crop with its mirror image (2x the work)
    containment: float = 0.7         # drop a box this much inside a surer box of its category (parts)
    sure_conf: float = 1.1           # boxes the detector scores at least this (1.1: off) are animals ...
    sure_mass: float = 0.25          # ... when this much mass is on any of the 398 animal classes


def merge_detections(per_scale: Sequence[list[dict]], iou: float = 0.45) -> list[dict]:
    """Raw detections of several input sizes -> one list (class-agnostic NMS), best first."""
    dets = [d for ds in per_scale for d in ds]
    if len(per_scale) <= 1 or not dets:
        return sorted(dets, key=lambda d: -d["conf"])
    xyxy = torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (d["bbox"] for d in dets)])
    keep = nms(xyxy, torch.tensor([d["conf"] for d in dets]), iou)
    return [dets[i] for i in keep.tolist()]


class BoxVerifier:
    """Confirms, relabels or drops detector boxes using ImageNet class probabilities of crops.

    ``prepare(image, detections)`` (CPU: crops) and ``run(batch, detections)`` (inference)
    split the work like the other stages; :meth:`verify` does both for one photo.
    """

    def __init__(self, featurizer: Featurizer | None = None, options: VerifyOptions = VerifyOptions()):
        self.featurizer = featurizer or Featurizer("efficientnet-lite0")
        if self.featurizer.layer != "head" or not self.featurizer.spec.arch.startswith("efficientnet-lite"):
            raise ValueError("box verification needs an EfficientNet-Lite featurizer cut at 'head'")
        self.head = ImageNetHead(self.featurizer.spec)
        self.options = options
        size = self.featurizer.prep.crop
        self._prep = Preprocessing(size, size, self.featurizer.prep.mean, self.featurizer.prep.std)
        groups = LAND_VERTEBRATE_GROUPS if options.land_vertebrates_only else tuple(GROUPS)
        self._groups = [list(GROUPS[g]) for g in groups]
        self._animal = sorted(i for g in self._groups for i in g)

    @property
    def id(self) -> str:
        o = self.options
        return (f"verify@{self.featurizer.id}/m{o.margin:g}/a{o.animal_mass:g}/g{o.group_peak:g}"
                f"/cc{o.confident_conf:g}/cm{o.confident_mass:g}/o{o.other_mass:g}/k{o.max_boxes}"
                f"/c{o.min_detector_conf:g}"
                f"{'/lv' if o.land_vertebrates_only else ''}{'/flip' if o.flip else ''}")

    # -- CPU half ------------------------------------------------------------------------
    def candidates(self, detections: list[dict]) -> list[dict]:
        o = self.options
        dets = [d for d in detections if d["conf"] >= o.min_detector_conf]
        return sorted(dets, key=lambda d: -d["conf"])[:o.max_boxes]

    def prepare(self, image: Image.Image, detections: list[dict]) -> np.ndarray:
        """Normalised square crops of the candidate boxes: (K, 3, 224, 224), K x2 with flips."""
        o, size = self.options, self._prep.crop
        crops = [square_crop(image, d["bbox"], o.margin, o.min_crop, size) for d in self.candidates(detections)]
        arrays = [network_input(c, self._prep) for c in crops]
        if o.flip:
            arrays += [network_input(c, self._prep, flip=True) for c in crops]
        return np.stack(arrays) if arrays else np.zeros((0, 3, size, size), np.float32)

    # -- inference half ------------------------------------------------------------------
    def class_probs(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, 224, 224) crops -> (N, 1000) ImageNet probabilities."""
        if len(batch) == 0:
            return np.zeros((0, self.head.n_classes), np.float32)
        return self.head.probs(self.featurizer.run(batch))

    def scores(self, probs: np.ndarray) -> np.ndarray:
        """(N, 1000) -> (N, 5): animal mass, largest single-group mass, person mass, vehicle mass,
        mass on all 398 animal classes (fish and invertebrates too)."""
        return np.stack([probs[:, self._animal].sum(1),
                         np.stack([probs[:, g].sum(1) for g in self._groups], 1).max(1),
                         probs[:, list(PERSON_CLASSES)].sum(1), probs[:, list(VEHICLE_CLASSES)].sum(1),
                         probs[:, :len(ANIMAL_CLASSES)].sum(1)], 1)

    def run(self, batch: np.ndarray, detections: list[dict]) -> list[dict]:
        """Crops from :meth:`prepare` + the raw detections -> verified detections, best first."""
        probs = self.class_probs(batch)
        cands = self.candidates(detections)
        if self.options.flip and len(cands):
            probs = (probs[:len(cands)] + probs[len(cands):]) / 2
        return self.decide(cands, self.scores(probs))

    def decide(self, cands: list[dict], scores: np.ndarray) -> list[dict]:
        """The rule: candidate boxes + their crops' :meth:`scores` -> verified detections.

        ``conf`` of a kept box is the mean of the detector's score and the crop's class mass.
        """
        return suppress_contained(self.classify(cands, scores), self.options.containment)

    def classify(self, cands: list[dict], scores: np.ndarray) -> list[dict]:
        """:meth:`decide` without removing overlapping boxes, best first."""
        o = self.options
        out = []
        for d, (animal, peak, person, vehicle, any_animal) in zip(cands, scores):
            strong = animal >= o.animal_mass and peak >= o.group_peak
            confident = d["conf"] >= o.confident_conf and animal >= o.confident_mass
            sure = d["conf"] >= o.sure_conf and any_animal >= o.sure_mass
            if (strong or confident) and animal >= max(person, vehicle):
                category, mass = ANIMAL, animal
            elif sure and any_animal >= max(person, vehicle):
                category, mass = ANIMAL, any_animal
            elif vehicle >= o.other_mass and vehicle >= person:
                category, mass = VEHICLE, vehicle
            elif person >= o.other_mass:
                category, mass = PERSON, person
            else:
                continue
            out.append({"category": category, "conf": float((d["conf"] + mass) / 2), "bbox": list(d["bbox"])})
        return sorted(out, key=lambda d: -d["conf"])

    def verify(self, image: Image.Image, detections: list[dict]) -> list[dict]:
        """Both halves for one photo (``image``: the upright RGB photo the boxes refer to)."""
        return self.run(self.prepare(image, detections), detections)


class VerifiedDetector:
    """The default irbis detector: MegadetectorLite at several input sizes + box verification.

    Same two halves as :class:`Detector`: ``prepare(path)`` decodes once (upright, large
    enough for the biggest input size and for the crops) and letterboxes for every size;
    ``run(items, metas)`` detects, merges, crops and verifies. ``items`` is a list of what
    ``prepare`` returned (one list of per-size arrays per photo), not a stacked array.

    Example
    -------
    >>> vd = VerifiedDetector()
    >>> vd.detect("photo.jpg")
    [{'category': '1', 'conf': 0.81, 'bbox': [0.41, 0.52, 0.18, 0.3]}]
    """

    def __init__(self, sizes: Sequence[int] = (640, 1280), runtime: str = "auto", threads: int = 1,
                 options: VerifyOptions = VerifyOptions(), verifier: BoxVerifier | None = None,
                 nms_iou: float = 0.45, mask_strips: bool = False, rect: bool = False, int8: bool = False):
        self.mask_strips = mask_strips     # fill the camera's info bars black before detection
        self.detectors = [Detector(s, score_threshold=options.min_detector_conf, nms_iou=nms_iou,
                                   runtime=runtime, threads=threads, rect=rect, int8=int8) for s in sizes]
        self.verifier = verifier or BoxVerifier(Featurizer("efficientnet-lite0", runtime=runtime, threads=threads),
                                                options)
        self.sizes, self.nms_iou = tuple(sizes), nms_iou

    @property
    def id(self) -> str:
        sizes = "+".join(str(s) for s in self.sizes)
        masked = "/strips-masked" if self.mask_strips else ""
        d = self.detectors[0]
        shape = ("/rect" if d.rect else "") + ("/int8" if d.int8 else "")
        return f"{d.id.split('/')[0]}/{sizes}{shape}/{self.verifier.id}{masked}"

    def decode(self, path: PhotoSource) -> tuple[Image.Image, Image.Image | None]:
        """The photo decoded upright once, large enough for every pass, and with ``mask_strips`` the
        copy the detector looks at (info bars filled: it must not fire on them; crops keep the
        pixels), else None; raises ImageReadError."""
        im = open_image(path, min_short_side=max(self.sizes))
        if not self.mask_strips:
            return im, None
        from .strip_ocr import mask_strip_bands
        return im, mask_strip_bands(im)

    def prepare(self, path: PhotoSource) -> tuple[list[np.ndarray], DetectMeta]:
        """Decode ``path`` upright and letterbox it for every input size; raises ImageReadError."""
        im, masked = self.decode(path)
        seen = masked or im
        arrays = [d.letterbox(seen)[0] for d in self.detectors]
        return arrays, DetectMeta(im.width, im.height, content_size(im.width, im.height, self.sizes[0]), im)

    def raw(self, items: Sequence[list[np.ndarray]], metas: Sequence[DetectMeta]) -> list[list[dict]]:
        """Unverified candidates (all sizes merged) per photo."""
        if not items:
            return []
        per_size = []
        for k, d in enumerate(self.detectors):
            size_metas = [DetectMeta(m.width, m.height, content_size(m.width, m.height, d.input_size)) for m in metas]
            per_size.append(d.run([it[k] for it in items], size_metas))
        return [merge_detections([ps[i] for ps in per_size], self.nms_iou) for i in range(len(items))]

    def run(self, items: Sequence[list[np.ndarray]], metas: Sequence[DetectMeta]) -> list[list[dict]]:
        """Prepared photos -> verified detections per photo, highest conf first."""
        out = []
        for dets, meta in zip(self.raw(items, metas), metas):
            assert meta.image is not None, "prepare() keeps the decoded image for verification"
            out.append(self.verifier.verify(meta.image, dets))
            meta.image = None  # done with the pixels: free them early
        return out

    def detect(self, path: str | os.PathLike) -> list[dict]:
        """Convenience: prepare + run for one photo."""
        item, meta = self.prepare(path)
        return self.run([item], [meta])[0]
