"""LIME for image classifiers: which parts of the picture made the model say what it said.

The explained input is one prepared network array ``x`` (3, H, W), float32, already normalised
(the featurizer's ``network_input``), decoded once. It is cut into SLIC superpixels; random
on/off masks switch superpixels off; the masked arrays are scored in batches through
``score(batch) -> (N, C) probabilities``; a weighted linear fit of the target class's
probability on the masks gives one weight per superpixel and the fit's r².

Choices (SynapseML's ImageLIME for reference: 900 samples, cell size 16, keep 0.7, kernel
width 0.75, no regularisation):

* **Superpixels on the network-size array**, not the photo: the network sees 224 x 224 pixels
  whatever the camera's resolution, so a count of superpixels (default 49, cells of about 32
  pixels) means the same on every photo. Cell 16 on a large photo gives hundreds of unknowns
  for a few hundred samples: under-determined, as SynapseML's own snow-leopard notebook found.
* **Masked superpixels become zero in network space**, which is the normalisation's mean
  colour (mid-grey for EfficientNet-Lite's 127/128, the ImageNet mean for ResNet): the first
  convolution sees no signal there, and it is the colour irbis already pads square crops
  with. A superpixel's own mean colour (LIME's other option) keeps the animal's colour and
  outline in the masked image and leaks what the mask should hide.
* **Keep-probability 0.5**: each superpixel's on/off indicator then has the largest variance,
  which makes every weight's estimate as tight as a fixed number of samples allows.
* **Kernel**: ``exp(-d² / width²)`` on ``d`` = share of superpixels switched off (0..1), width
  0.5; samples close to the original photo count more. The first sample is the unmasked photo.
* **Fit**: weighted least squares with an intercept and no regularisation (with ~10 samples
  per weight at the defaults, none is needed); r² is the weighted coefficient of determination.
  The fitted quantity is the class's log-odds by default: a confident model's probability sits
  near 1 and barely moves when one superpixel goes, its log-odds still do (``space``).

The box ("where is the animal") surrounds the superpixels whose weight is positive and at
least ``box_fraction`` (0.5) of the largest weight. Superpixel count, kernel width, space and box
fraction were compared on `irbis synth` train-camera composites only (bench/explain_localization.py
--sweep): 49 superpixels beat 25 and 100; the others differ by less than the noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

Score = Callable[[np.ndarray], np.ndarray]
SPACES = ("logit", "probability")


class ExplainError(ValueError):
    """Bad explain input (unknown class, wrong array shape, bad options)."""


@dataclass(frozen=True)
class LimeOptions:
    """How an explanation is computed; ``seed`` makes it reproducible."""

    samples: int = 500             # masked copies scored (the first is the unmasked input)
    segments: int = 49             # SLIC target superpixel count on the network-size array
    compactness: float = 10.0      # SLIC: higher = squarer superpixels, lower = follow edges
    keep: float = 0.5              # probability that a superpixel stays on in a sample
    kernel_width: float = 0.5      # exponential kernel on the share of superpixels switched off
    box_fraction: float = 0.5      # box around superpixels with weight >= this share of the top weight
    space: str = "logit"           # fit the class's log-odds ("logit") or its probability ("probability")
    batch: int = 32                # masked arrays per call of ``score``
    seed: int = 0

    def __post_init__(self):
        if self.samples < 2:
            raise ExplainError("samples must be at least 2")
        if self.segments < 2:
            raise ExplainError("segments must be at least 2")
        if not 0.0 < self.keep < 1.0:
            raise ExplainError("keep must be between 0 and 1")
        if self.kernel_width <= 0:
            raise ExplainError("kernel_width must be positive")
        if not 0.0 <= self.box_fraction <= 1.0:
            raise ExplainError("box_fraction must be between 0 and 1")
        if self.space not in SPACES:
            raise ExplainError(f"space must be one of {', '.join(SPACES)}")
        if self.batch < 1:
            raise ExplainError("batch must be at least 1")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Explanation:
    """One LIME explanation of one network input."""

    segments: np.ndarray        # (H, W) superpixel index per network pixel, 0..K-1
    weights: np.ndarray         # (K,) one weight per superpixel (change of the class probability)
    intercept: float
    r2: float
    target: int                 # explained class index
    probability: float          # the class probability of the unmasked input
    chosen: list[int]           # superpixels inside the box
    box: tuple[float, float, float, float] | None   # [x, y, w, h] normalised to the network input

    def heatmap(self) -> np.ndarray:
        """(H, W) weight of the superpixel under each pixel."""
        return self.weights[self.segments]


def superpixels(x: np.ndarray, segments: int = 49, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels of a (3, H, W) network array; (H, W) int labels 0..K-1."""
    try:
        from skimage.segmentation import slic
    except ImportError as exc:
        raise ExplainError("LIME needs scikit-image for SLIC superpixels: pip install 'irbis[explain]'") from exc
    img = np.asarray(x, np.float32).transpose(1, 2, 0)
    lo, hi = img.min(axis=(0, 1)), img.max(axis=(0, 1))
    img = (img - lo) / np.maximum(hi - lo, 1e-6)          # back to 0..1 per channel, as SLIC expects
    labels = slic(img.astype(np.float64), n_segments=segments, compactness=compactness, start_label=0,
                  channel_axis=-1)
    _, labels = np.unique(labels, return_inverse=True)   # consecutive 0..K-1
    return labels.reshape(img.shape[:2]).astype(np.int32)


def sample_masks(n_segments: int, options: LimeOptions) -> np.ndarray:
    """(samples, K) bool masks, True = superpixel kept; the first row keeps everything."""
    rng = np.random.default_rng(options.seed)
    masks = rng.random((options.samples, n_segments)) < options.keep
    masks[0] = True
    return masks


def score_masked(x: np.ndarray, segments: np.ndarray, masks: np.ndarray, score: Score, batch: int,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Probabilities (samples, C) of ``x`` with each mask's switched-off superpixels set to zero."""
    x = np.asarray(x, np.float32)
    out = []
    for start in range(0, len(masks), batch):
        keep = masks[start:start + batch][:, segments]                  # (n, H, W) bool
        out.append(np.asarray(score(x[None] * keep[:, None]), np.float64))
        if progress is not None:
            progress(len(keep))
    return np.concatenate(out)


def fit_weights(masks: np.ndarray, y: np.ndarray, kernel_width: float) -> tuple[np.ndarray, float, float]:
    """Weighted least squares of ``y`` on the masks; returns (weights, intercept, weighted r²)."""
    z = masks.astype(np.float64)
    d = 1.0 - z.mean(axis=1)
    w = np.exp(-(d ** 2) / kernel_width ** 2)
    a = np.hstack([np.ones((len(z), 1)), z])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    pred = a @ coef
    mean = np.average(y, weights=w)
    ss_tot = float(np.sum(w * (y - mean) ** 2))
    ss_res = float(np.sum(w * (y - pred) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 1e-12 else 0.0
    return coef[1:], float(coef[0]), r2


def box_of(segments: np.ndarray, chosen: list[int]) -> tuple[float, float, float, float] | None:
    """Normalised [x, y, w, h] around the pixels of the chosen superpixels."""
    if not chosen:
        return None
    ys, xs = np.nonzero(np.isin(segments, chosen))
    h, w = segments.shape
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)


def top_superpixels(weights: np.ndarray, box_fraction: float) -> list[int]:
    """Superpixels with a positive weight of at least ``box_fraction`` x the largest weight."""
    top = float(weights.max()) if len(weights) else 0.0
    if top <= 0:
        return []
    return [int(k) for k in np.nonzero(weights >= box_fraction * top)[0]]


def explain(x: np.ndarray, score: Score, target: int | None = None, options: LimeOptions | None = None,
            progress: Callable[[int], None] | None = None) -> Explanation:
    """LIME explanation of ``score`` on one (3, H, W) network input.

    ``target``: class index to explain (default: the class the model predicts for ``x``).
    ``progress``: called with the number of samples scored after each batch.

    Example
    -------
    >>> e = explain(x, scorer, target=0, options=LimeOptions(samples=300))
    >>> e.box, e.r2
    """
    options = options or LimeOptions()
    x = np.asarray(x, np.float32)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ExplainError(f"expected one (3, H, W) network input, got shape {x.shape}")
    segments = superpixels(x, options.segments, options.compactness)
    masks = sample_masks(int(segments.max()) + 1, options)
    probs = score_masked(x, segments, masks, score, options.batch, progress)
    if probs.ndim != 2 or len(probs) != len(masks):
        raise ExplainError(f"score returned shape {probs.shape}, expected ({len(masks)}, classes)")
    if target is None:
        target = int(np.argmax(probs[0]))
    if not 0 <= target < probs.shape[1]:
        raise ExplainError(f"class index {target} out of range for {probs.shape[1]} classes")
    p = probs[:, target]
    weights, intercept, r2 = fit_weights(masks, to_space(p, options.space), options.kernel_width)
    chosen = top_superpixels(weights, options.box_fraction)
    return Explanation(segments, weights, intercept, r2, target, float(p[0]), chosen, box_of(segments, chosen))


def to_space(p: np.ndarray, space: str) -> np.ndarray:
    """Probabilities -> what the linear model fits: log-odds (clipped at 1e-6) or as they are."""
    if space == "probability":
        return np.asarray(p, np.float64)
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
