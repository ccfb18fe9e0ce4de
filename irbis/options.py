"""Run options, defined once: the CLI's flags, the batch API's request fields and the service
worker's settings are all derived from :class:`RunOptions` (names, defaults, limits, help).

A field's ``metadata`` says where it appears: ``cli`` (a flag; for a True-by-default bool, a
``--no-...`` flag), ``api`` (a request field), ``ge`` / ``le`` (limits, checked in both).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, get_type_hints

from .engines import ENGINES
from .geometry import CLASSIFIER_CROP_MARGIN as CROP_MARGIN
from .ingest import DEFAULT_SEQUENCE_GAP_S
from .stages.detectors import DEFAULT_DETECTOR
from .stages.repeat_detections import RepeatOptions

DEFAULT_THRESHOLD = 0.2           # detection confidence written; frames without a box at or above it are empty
DEFAULT_THREADS = 2               # inference threads: both cores of a laptop
RUNTIMES = ("auto", "onnx", "torch")


def option(default: Any, help: str, *, cli: bool = True, api: bool = True, ge: float | None = None,
           le: float | None = None, choices: tuple | None = None, metavar: str | None = None,
           off_help: str | None = None) -> Any:
    """A field with where it appears and its limits; ``off_help``: the help of a bool's ``--no-`` flag."""
    return field(default=default, metadata={"help": help, "cli": cli, "api": api, "ge": ge, "le": le,
                                            "choices": choices, "metavar": metavar, "off_help": off_help})


THRESHOLD_MODES = ("per-class", "calibrated", "off")


@dataclass(frozen=True)
class DecisionOptions:
    """How a classifier's probabilities become answers (:mod:`irbis.decision`): calibration, the bundle's
    per-class thresholds, taxonomic rollup below them, and a geofence."""

    threshold_mode: str = option("per-class", "per-class (default): calibrated probabilities, the bundle's "
                                 "per-class thresholds, below them the rollup or 'unknown'; calibrated: calibrated "
                                 "top class; off: raw top class", api=False, choices=THRESHOLD_MODES)
    allow_species: str | None = option(None, "allow-list CSV: species,[deployment],[country] rows; other species "
                                       "are suppressed and the rest renormalised (a class, common or scientific "
                                       "name, or a taxon such as Felidae)", api=False, metavar="CSV")
    country: str | None = option(None, "country code selecting the allow-list's country rows", api=False,
                                 metavar="CODE")
    min_confidence: float | None = option(None, "one threshold for every class instead of the bundle's "
                                          "(imagenet-species: 0.5)", api=False, ge=0.0, le=1.0, metavar="P")

    def __post_init__(self):
        if self.threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"threshold mode {self.threshold_mode!r}: choose one of {', '.join(THRESHOLD_MODES)}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min confidence {self.min_confidence} is not between 0 and 1")


@dataclass
class EngineOptions:
    """Where photos are processed: flags of every command that maps a stage over photos."""

    engine: str = option("local", "where photos are processed: local (this process, default) or spark "
                         "(needs irbis[spark] and Java 17)", api=False, choices=ENGINES)
    spark_master: str | None = option(None, "Spark master with --engine spark: local[N], spark://HOST:7077, yarn, "
                                      "k8s://... or sc://HOST:15002 for Spark Connect (default: $SPARK_REMOTE, "
                                      "else local[*])", api=False, metavar="URL")

    def make_engine(self, decode_threads: int = 1):
        """The engine these options name (a spark engine has ``close()``: call it when done)."""
        from .engines import get_engine
        return get_engine(self.engine, decode_threads, self.spark_master)


@dataclass
class RunOptions(EngineOptions):
    """Settings of ``irbis detect`` / ``irbis run`` and of a batch-API job."""

    detector: str = option(DEFAULT_DETECTOR, "detector: megadetector-lite (default, offline), megadetector-lite-fast, "
                           "megadetector-lite-int8, megadetector-lite-fast-int8 (INT8 network), "
                           "megadetector-lite-raw, MDV5A, MDV5B, MDV1000-REDWOOD or a MegaDetector .pt file",
                           metavar="NAME|PATH")
    threshold: float = option(DEFAULT_THRESHOLD, "detection confidence kept in the output; photos without a box at "
                              "or above it count as empty (default: %(default)s)", ge=0.0, le=1.0)
    classify_threshold: float | None = option(None, "classify animal boxes from this confidence (default: "
                                              "--threshold)", ge=0.0, le=1.0)
    mask_strips: bool = option(False, "fill the camera's info strip black before detection, so the detector "
                               "cannot fire on it (the crops classified keep the pixels)")
    sequence_ensemble: bool = option(True, "average box classifications over each burst",
                                     off_help="classify each box on its own")
    repeat_filter: bool = option(True, "drop boxes that recur at the same place over days (rocks, stumps, posts)",
                                 off_help="keep boxes that recur at the same place over days (rocks, stumps, posts)")
    repeat_iou: float = option(0.9, "IoU that makes two boxes the same place (default: %(default)s)",
                               api=False, ge=0.0, le=1.0)
    repeat_min_images: int = option(6, "images a place must recur in to be a repeat (default: %(default)s)",
                                    api=False, ge=1)
    repeat_min_hours: float = option(2.0, "time span a place must recur over to be a repeat (default: "
                                     "%(default)s h)", api=False, ge=0.0)
    sequence_gap: float = option(DEFAULT_SEQUENCE_GAP_S, "seconds between frames that start a new sequence "
                                 "(default: %(default)s)", ge=0.0, le=86400.0)
    crop_margin: float = option(CROP_MARGIN, "context around a box classified, fraction of its long side",
                                cli=False, api=False)
    runtime: str = option("auto", "inference runtime (default: ONNX Runtime when installed)", api=False,
                          choices=RUNTIMES)
    decode_threads: int = option(1, "threads decoding photos (default: %(default)s)", api=False, ge=1)
    threads: int = option(DEFAULT_THREADS, "detector inference threads (default: %(default)s, both cores of a "
                          "laptop; decoding takes little of the second)", api=False, ge=1)
    decision: DecisionOptions = field(default_factory=DecisionOptions,
                                      metadata={"help": "answers from probabilities", "cli": False, "api": False})

    @property
    def repeats(self) -> RepeatOptions | None:
        if not self.repeat_filter:
            return None
        return RepeatOptions(iou=self.repeat_iou, min_images=self.repeat_min_images,
                             min_span_hours=self.repeat_min_hours)

    def settings(self, detector_id: str, model_digest: str | None) -> dict:
        """What must match for a journal to be resumed."""
        return {"detector": detector_id, "threshold": self.threshold,
                "classify_threshold": self.classify_threshold, "crop_margin": self.crop_margin,
                "model": model_digest}

    @classmethod
    def from_dict(cls, d: dict) -> "RunOptions":
        """From a stored job's options (unknown keys, e.g. the classifier's name, are ignored)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if isinstance(values.get("decision"), dict):
            values["decision"] = DecisionOptions(**values["decision"])
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainOptions:
    """Settings of ``irbis train`` (and of :func:`irbis.train.train`'s defaults)."""

    backbone: str = option("efficientnet-lite0", "registry name (efficientnet-lite0..4) or ARCH:PATH to a local "
                           "weights file, e.g. resnet50:~/models/resnet50.pth (default: %(default)s)", api=False)
    layer: str = option("head", "feature cut: head (last stage, default) or an earlier one, e.g. stage6, stage7 "
                        "(EfficientNet-Lite) or layer3 (ResNet-50)", api=False)
    flip: bool = option(True, "horizontal-flip augmentation", api=False,
                        off_help="no horizontal-flip augmentation (on by default)")
    C: float | None = option(None, "fix the regularisation instead of cross-validating it", api=False, ge=0.0)
    runtime: str = option("auto", "inference runtime (default: ONNX Runtime when installed)", api=False,
                          choices=RUNTIMES)
    decode_threads: int = option(1, "threads decoding photos (default: %(default)s)", api=False, ge=1)
    target_precision: float = option(0.95, "per-class thresholds are chosen by cross-validation to reach this "
                                     "precision; below them `irbis predict` / `irbis run` answer 'unknown' "
                                     "(default: %(default)s)", api=False, ge=0.0, le=1.0)
    taxonomy: str | None = option(None, "label,taxonomy (class;order;family;genus;species) per class: unsure "
                                  "answers roll up to the common genus / family / order instead of 'unknown'",
                                  api=False, metavar="CSV")
    trainer: str = option("sklearn", "who fits the logistic regression: sklearn (here, default: C and per-class "
                          "thresholds cross-validated, probabilities calibrated) or spark (Spark ML on the cluster, "
                          "--engine spark's session or one on --spark-master, for feature tables too big for one "
                          "machine; no cross-validation, hence no calibration or per-class thresholds; C from --C, "
                          "default 1.0; needs irbis[spark] and Java 17)", api=False, choices=("sklearn", "spark"))


@dataclass
class PredictOptions:
    """Settings of ``irbis predict`` (and of :func:`irbis.predict.predict`'s defaults)."""

    by_sequence: bool = option(False, "add the per-sequence ensemble columns", api=False)
    sequence_gap: float | None = option(None, "seconds that start a new sequence (default: the catalog's, "
                                        f"{DEFAULT_SEQUENCE_GAP_S:g})", api=False, ge=0.0)
    backbone: str | None = option(None, "local weights for the model's backbone (must be the same weights)",
                                  api=False)
    runtime: str = option("auto", "inference runtime (default: ONNX Runtime when installed)", api=False,
                          choices=RUNTIMES)
    decode_threads: int = option(1, "threads decoding photos (default: %(default)s)", api=False, ge=1)


def check_limits(options: Any) -> None:
    """Raise ValueError naming the option whose value is outside its limits."""
    for f in fields(options):
        v, ge, le = getattr(options, f.name), f.metadata.get("ge"), f.metadata.get("le")
        if v is None or isinstance(v, bool):
            continue
        if (ge is not None and v < ge) or (le is not None and v > le):
            flag = "--" + f.name.replace("_", "-")
            bounds = f"between {ge} and {le}" if ge is not None and le is not None else \
                     (f"at least {ge}" if ge is not None else f"at most {le}")
            raise ValueError(f"{flag} must be {bounds}, got {v}")


def add_cli_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                    aliases: dict[str, list[str]] | None = None) -> None:
    """One flag per ``cli`` field of the dataclass ``cls``; ``aliases``: extra flag names per field."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        m = f.metadata
        if not m.get("cli") or f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        if default is False:
            parser.add_argument(flag, dest=f.name, action="store_true", help=m["help"])
            continue
        if isinstance(default, bool):
            parser.add_argument(f"--no-{f.name.replace('_', '-')}", dest=f.name, action="store_false",
                                default=True, help=m.get("off_help") or m["help"])
            continue
        hint = hints[f.name]
        kind = int if hint is int else float if hint in (float, float | None) else str
        parser.add_argument(flag, *(aliases or {}).get(f.name, []), dest=f.name, type=kind, default=default,
                            choices=m.get("choices"), metavar=m.get("metavar"), help=m["help"])


def from_cli(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The dataclass ``cls`` from parsed CLI arguments (fields without a flag keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.metadata.get("cli") and hasattr(args, f.name)}
    options = cls(**{**values, **overrides})
    check_limits(options)
    return options


def api_fields(cls: type) -> dict[str, tuple[type, Any]]:
    """(type, pydantic Field) per ``api`` field, for building the batch API's request model."""
    from pydantic import Field
    out = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        m = f.metadata
        if m.get("api"):
            kw = {k: m[k] for k in ("ge", "le") if m.get(k) is not None}
            text = m["help"].replace("%(default)s", str(f.default))
            out[f.name] = (hints[f.name], Field(f.default, description=text, **kw))
    return out
