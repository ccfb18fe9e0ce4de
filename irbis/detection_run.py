"""The main job: ingest -> detect -> classify every animal box -> sequence ensemble -> MD JSON.

Resumable: every finished photo is journalled beside the output (:mod:`irbis.runs`); after a
crash the same command skips what is done, and the final file is written atomically, equal to
an uninterrupted run's.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .catalog import Catalog, ImageRecord
from .classifiers import classifier_description, classifier_digest, load_classifier
from .config import default_catalog_path
from .crops import CROP_MARGIN, classifier_crop
from .decision import DecisionOptions, LabelPolicy
from .engines.local import map_prepared
from .formats.md_json import build_results, image_entry, write_results
from .ingest import ingest_folder
from .models.bundle import ModelBundle
from .models.detectors import DEFAULT_DETECTOR, resolve_detector
from .runs import RunJournal
from .stages.ensemble import ensemble_by_key
from .stages.featurize import Featurizer
from .stages.repeat_detections import RepeatOptions, drop_repeats

CATEGORY_NAMES = {"1": "animal", "2": "person", "3": "vehicle"}


@dataclass
class RunOptions:
    detector: str = DEFAULT_DETECTOR
    threshold: float = 0.2             # detections below are not written; frames without any are empty
    classify_threshold: float | None = None   # animal boxes classified from this conf (default: threshold)
    by_sequence: bool = True           # sequence ensemble of box classifications
    repeats: RepeatOptions | None = field(default_factory=RepeatOptions)
    crop_margin: float = CROP_MARGIN
    runtime: str = "auto"
    decode_threads: int = 1
    threads: int = 1                   # inference threads (ONNX Runtime intra-op) for the detector
    sequence_gap_s: float = 60.0
    decision: DecisionOptions = field(default_factory=DecisionOptions)  # thresholds, rollup, geofence

    def settings(self, detector_id: str, model_digest: str | None) -> dict:
        """What must match for a journal to be resumed."""
        return {"detector": detector_id, "threshold": self.threshold,
                "classify_threshold": self.classify_threshold, "crop_margin": self.crop_margin,
                "model": model_digest}


@dataclass
class RunReport:
    out: str
    photos: int = 0
    with_detections: int = 0
    empty: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    category_counts: Counter = field(default_factory=Counter)    # boxes per detection category
    class_counts: Counter = field(default_factory=Counter)       # animal boxes per predicted class
    resumed: int = 0
    repeats_dropped: int = 0

    def summary(self) -> str:
        lines = [f"{self.photos} photos: {self.with_detections} with detections, {self.empty} empty, "
                 f"{len(self.failures)} failed" + (f" ({self.resumed} resumed from the journal)" if self.resumed else "")]
        if self.category_counts:
            lines.append("boxes: " + ", ".join(f"{CATEGORY_NAMES.get(c, c)} {n}" for c, n in
                                               sorted(self.category_counts.items())))
        if self.class_counts:
            lines.append("animal boxes by class: " + ", ".join(f"{c} {n}" for c, n in self.class_counts.most_common()))
        if self.repeats_dropped:
            lines.append(f"{self.repeats_dropped} repeated boxes (same place over days) dropped")
        lines += [f"  failed: {f}: {why}" for f, why in list(self.failures.items())[:20]]
        lines.append(f"results written to {self.out}")
        return "\n".join(lines)


class BoxClassifier:
    """Classifies detector crops with a model bundle (features of the bundle's backbone)."""

    def __init__(self, bundle: ModelBundle, runtime: str = "auto", margin: float = CROP_MARGIN):
        self.bundle = bundle
        self.featurizer = Featurizer(bundle.backbone(), layer=bundle.layer, runtime=runtime)
        self.margin = margin

    def classify(self, image, dets: list[dict]) -> list[np.ndarray]:
        crops = [classifier_crop(image, d["bbox"], self.featurizer, self.margin) for d in dets]
        if not crops:
            return []
        x = np.stack([self.featurizer.prepare_image(c)[0] for c in crops])
        return list(self.bundle.predict_proba(self.featurizer.run(x)))


def detect_records(records: list[ImageRecord], detector, journal, options: RunOptions,
                   classifier: BoxClassifier | None = None, progress: bool = True) -> None:
    """Detect (and classify) every record not yet in the journal; append each as it finishes.

    ``journal``: anything with ``done`` (key -> record) and ``append(key, record)``, e.g. a
    :class:`RunJournal` or a service's shard store. Keys come from :func:`record_key`.
    """
    cls_thr = options.threshold if options.classify_threshold is None else options.classify_threshold
    todo = [r for r in records if record_key(r) not in journal.done]
    bar = tqdm(total=len(todo), desc="detect", unit="photo", disable=not progress or not todo)
    usable = [r for r in todo if not r.failure]
    for r in todo:
        if r.failure:
            journal.append(record_key(r), {"file": r.rel_path, "failure": r.failure})
            bar.update(1)

    def prepare(rec: ImageRecord):
        item, meta = detector.prepare(rec.path)
        return item, meta, meta.image

    for rec, prepared, error in map_prepared(usable, prepare, options.decode_threads):
        if error is None:
            item, meta, image = prepared
            try:
                dets = [d for d in detector.run([item], [meta])[0] if d["conf"] >= options.threshold]
                if classifier is not None:
                    animals = [d for d in dets if d["category"] == "1" and d["conf"] >= cls_thr]
                    for d, p in zip(animals, classifier.classify(image, animals)):
                        d["probs"] = [round(float(v), 6) for v in p]
                journal.append(record_key(rec), {"file": rec.rel_path, "detections": dets})
            except Exception as exc:  # a model error on one photo must not end the survey
                error = f"detector failed: {type(exc).__name__}: {exc}"
        if error is not None:
            journal.append(record_key(rec), {"file": rec.rel_path, "failure": error})
        bar.update(1)
    bar.close()


def record_key(rec: ImageRecord) -> str:
    return f"{rec.rel_path}|{rec.sha256 or ''}"


def assemble(records: list[ImageRecord], done: dict[str, dict], options: RunOptions,
             classes: list[str] | None, report: RunReport, policy: LabelPolicy | None = None) -> list[dict]:
    """Journal records -> MD image entries: repeat elimination, sequence ensemble, classifications."""
    frames = []
    for rec in records:
        j = done[record_key(rec)]
        frames.append({"file": rec.rel_path, "deployment": rec.deployment, "sequence": rec.sequence_id,
                       "taken_at": rec.taken_at, "failure": j.get("failure"),
                       "detections": None if j.get("failure") else [dict(d) for d in j.get("detections", [])]})
    if options.repeats is not None:
        report.repeats_dropped = drop_repeats(frames, options.repeats)
    if classes:
        boxes = [(f["sequence"], d) for f in frames for d in f["detections"] or [] if "probs" in d]
        deployment = {id(d): f["deployment"] for f in frames for d in f["detections"] or []}
        seq = {}
        if options.by_sequence and boxes:
            seq = ensemble_by_key([s for s, _ in boxes], np.array([d["probs"] for _, d in boxes]), classes)
        for s, d in boxes:
            own = np.asarray(d.pop("probs"))
            p = seq.get(s, own) if options.by_sequence else own
            if policy is not None:  # calibration, geofence, thresholds, rollup (irbis.decision)
                d["classifications"] = policy.md_classifications(p, deployment[id(d)])
                report.class_counts[policy.categories[int(d["classifications"][0][0])]] += 1
                continue
            order = np.argsort(-p)[:5]
            d["classifications"] = [[str(int(k)), float(p[k])] for k in order]
            report.class_counts[classes[int(order[0])]] += 1
    entries = []
    for f in frames:
        extra = {"seq_id": f["sequence"]} if f["sequence"] else {}
        if f["failure"]:
            report.failures[f["file"]] = f["failure"]
            entries.append(image_entry(f["file"], None, failure=f["failure"], **extra))
            continue
        for d in f["detections"]:
            d.pop("probs", None)
            report.category_counts[d["category"]] += 1
        report.with_detections += bool(f["detections"])
        report.empty += not f["detections"]
        entries.append(image_entry(f["file"], f["detections"], **extra))
    report.photos = len(frames)
    return entries


@dataclass
class Components:
    """Models loaded once per process (a CLI run or a service worker)."""

    detector: object
    classifier: BoxClassifier | None
    classes: list[str] | None
    settings: dict
    bundle: ModelBundle | None = None
    policy: LabelPolicy | None = None


def load_components(options: RunOptions, model: str | os.PathLike | None = None) -> Components:
    bundle = load_classifier(model) if model else None
    if bundle is not None and bundle.task == "multilabel":
        raise ValueError("irbis run classifies boxes with a single-label model (binary or multiclass)")
    classifier = BoxClassifier(bundle, options.runtime, options.crop_margin) if bundle else None
    detector = resolve_detector(options.detector, runtime=options.runtime, threads=options.threads)
    settings = options.settings(detector.id, classifier_digest(bundle, model) if model else None)
    policy = LabelPolicy(bundle, options.decision) if bundle else None
    return Components(detector, classifier, bundle.classes if bundle else None, settings, bundle,
                      policy if policy is not None and policy.active else None)


def results_document(entries: list[dict], options: RunOptions, comp: Components, report: RunReport) -> dict:
    bundle, classes = comp.bundle, comp.policy.categories if comp.policy else comp.classes
    doc = build_results(
        entries, detector=f"irbis {options.detector}", typical_threshold=max(options.threshold, 0.2),
        conservative_threshold=options.threshold,
        classification_categories={str(i): c for i, c in enumerate(classes)} if classes else None,
        classifier=classifier_description(bundle) if bundle else None,
        extra_info={"irbis": {"detector_id": comp.detector.id, "repeats_dropped": report.repeats_dropped}})
    if comp.policy is not None:  # taxonomy strings, as SpeciesNet's MD output has them
        doc["classification_category_descriptions"] = {
            str(i): t for i, t in enumerate(comp.policy.descriptions) if t}
        doc["info"]["irbis"]["decision"] = comp.policy.summary()
    return doc


def run_survey(photos_dir: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike | None = None,
               options: RunOptions | None = None, catalog_path: str | os.PathLike | None = None,
               progress: bool = True) -> RunReport:
    """``irbis detect`` (model None) and ``irbis run`` (with a model bundle)."""
    options = options or RunOptions()
    comp = load_components(options, model)
    with Catalog(catalog_path or default_catalog_path(photos_dir)) as catalog:
        ingest_folder(photos_dir, catalog, sequence_gap_s=options.sequence_gap_s, progress=progress)
        records = catalog.images(photos_dir)
    report = RunReport(out=str(out))
    with RunJournal(out, comp.settings) as journal:
        report.resumed = sum(record_key(r) in journal.done for r in records)
        detect_records(records, comp.detector, journal, options, comp.classifier, progress)
        journal.flush()
        entries = assemble(records, journal.done, options, comp.classes, report, comp.policy)
    write_results(out, results_document(entries, options, comp, report))
    journal.finish()
    return report
