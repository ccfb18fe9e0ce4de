"""The main job: ingest -> detect -> classify every animal box -> sequence ensemble -> MD JSON.

Resumable: every finished photo is journalled beside the output (:mod:`irbis.runs`); after a
crash the same command skips what is done, and the final file is written atomically, equal to
an uninterrupted run's.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .decision import LabelPolicy
from .engines import Engine, close_engine, get_engine
from .formats.md_json import build_results, image_entry, write_results
from .ingest.remote import folder_records
from .models.bundle import ModelBundle
from .options import DEFAULT_THRESHOLD, RunOptions, check_limits
from .outputs import OutputLock, check_output_path
from .progress import Listener
from .records import CATEGORY_NAMES, ImageRecord, record_key
from .runs import RunJournal
from .stages.classifiers import classifier_description
from .stages.classify import ClassifierSpec
from .stages.ensemble import ensemble_by_key
from .stages.repeat_detections import drop_repeats
from .stages.survey import SurveySpec, SurveyStage

__all__ = ["RunOptions", "RunReport", "run_survey", "assemble", "detect_records", "load_components",
           "results_document", "record_key"]


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
                 f"{len(self.failures)} failed"
                 + (f" ({self.resumed} resumed from the journal)" if self.resumed else "")]
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


class JournalSink:
    """Engine sink: each photo's detections (or failure) appended to a journal under its key.

    ``journal``: anything with ``append(key, record)``: a :class:`RunJournal` or the service's
    shard sink."""

    def __init__(self, journal):
        self.journal = journal

    def put(self, record: ImageRecord, detections: list) -> None:
        self.journal.append(record_key(record), {"file": record.rel_path, "detections": detections})

    def fail(self, record: ImageRecord, reason: str) -> None:
        self.journal.append(record_key(record), {"file": record.rel_path, "failure": reason})


def detect_records(records: list[ImageRecord], stage: SurveyStage, journal, engine: Engine | None = None,
                   listener: Listener | None = None) -> None:
    """Detect (and classify) every record not yet in the journal; append each as it finishes.

    ``journal``: anything with ``done`` (key -> record) and ``append(key, record)``, e.g. a
    :class:`RunJournal` or a service's shard store. Keys come from :func:`record_key`.
    """
    todo = [r for r in records if record_key(r) not in journal.done]
    sink = JournalSink(journal)
    for r in todo:
        if r.failure:
            sink.fail(r, r.failure)
    (engine or get_engine()).map(stage, [r for r in todo if not r.failure], sink, listener, "detect")


def assemble(records: list[ImageRecord], done: dict[str, dict], options: RunOptions,
             classes: list[str] | None, report: RunReport, policy: LabelPolicy | None = None) -> list[dict]:
    """Journal records -> MD image entries: repeat elimination, sequence ensemble, classifications."""
    frames: list[dict[str, Any]] = []
    for rec in records:
        j = done[record_key(rec)]
        frames.append({"file": rec.rel_path, "deployment": rec.deployment, "sequence": rec.sequence_id,
                       "taken_at": rec.taken_at, "sha256": rec.sha256, "failure": j.get("failure"),
                       "detections": None if j.get("failure") else [dict(d) for d in j.get("detections", [])]})
    repeats = options.repeats
    if repeats is not None:
        report.repeats_dropped = drop_repeats(frames, repeats)
    if classes:
        boxes = [(f["sequence"], d) for f in frames for d in f["detections"] or [] if "probs" in d]
        deployment = {id(d): f["deployment"] for f in frames for d in f["detections"] or []}
        seq: dict = {}
        if options.sequence_ensemble and boxes:
            seq = ensemble_by_key([s for s, _ in boxes], np.array([d["probs"] for _, d in boxes]), classes)
        for s, d in boxes:
            own = np.asarray(d.pop("probs"))
            p = seq.get(s, own) if options.sequence_ensemble else own
            if policy is not None:  # calibration, geofence, thresholds, rollup (irbis.decision)
                d["classifications"] = policy.md_classifications(p, deployment[id(d)])
                report.class_counts[policy.categories[int(d["classifications"][0][0])]] += 1
                continue
            order = np.argsort(-p)[:5]
            d["classifications"] = [[str(int(k)), float(p[k])] for k in order]
            report.class_counts[classes[int(order[0])]] += 1
    entries: list[dict] = []
    for f in frames:
        extra = {"seq_id": f["sequence"]} if f["sequence"] else {}
        if f["sha256"]:
            extra["sha256"] = f["sha256"]   # renamed or moved photos still match their results
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

    stage: SurveyStage
    classes: list[str] | None
    settings: dict
    bundle: ModelBundle | None = None
    policy: LabelPolicy | None = None


def load_components(options: RunOptions, model: str | os.PathLike | None = None) -> Components:
    classifier = ClassifierSpec(str(model), runtime=options.runtime, crop_margin=options.crop_margin) if model else None
    spec = SurveySpec(options.detector, options.runtime, options.threads, options.threshold, classifier,
                      options.classify_threshold, options.mask_strips)
    stage = spec.build()
    bundle = stage.classifier.bundle if stage.classifier else None
    if bundle is not None and bundle.task == "multilabel":
        raise ValueError("irbis run classifies boxes with a single-label model (binary or multiclass)")
    settings = options.settings(stage.detector.id, stage.classifier.digest if stage.classifier else None)
    policy = LabelPolicy(bundle, options.decision) if bundle is not None else None
    return Components(stage, bundle.classes if bundle else None, settings, bundle,
                      policy if policy is not None and policy.active else None)


def results_document(entries: list[dict], options: RunOptions, comp: Components, report: RunReport) -> dict:
    bundle, classes = comp.bundle, comp.policy.categories if comp.policy else comp.classes
    doc = build_results(
        entries, detector=f"irbis {options.detector}", typical_threshold=max(options.threshold, DEFAULT_THRESHOLD),
        conservative_threshold=options.threshold,
        classification_categories={str(i): c for i, c in enumerate(classes)} if classes else None,
        classifier=classifier_description(bundle) if bundle else None,
        extra_info={"irbis": {"detector_id": comp.stage.detector.id, "repeats_dropped": report.repeats_dropped}})
    if comp.policy is not None:  # taxonomy strings, as SpeciesNet's MD output has them
        doc["classification_category_descriptions"] = {
            str(i): t for i, t in enumerate(comp.policy.descriptions) if t}
        doc["info"]["irbis"]["decision"] = comp.policy.summary()
    return doc


def run_survey(photos_dir: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike | None = None,
               options: RunOptions | None = None, catalog_path: str | os.PathLike | None = None,
               listener: Listener | None = None, engine: Engine | None = None) -> RunReport:
    """``irbis detect`` (model None) and ``irbis run`` (with a model bundle)."""
    options = options or RunOptions()
    check_limits(options)
    check_output_path(out)          # before any work: not a folder, in a folder that exists
    with OutputLock(out):           # a second run on this output is refused, not silently mixed in
        comp = load_components(options, model)
        own = engine is None
        engine = engine or options.make_engine(options.decode_threads)
        try:
            records = folder_records(photos_dir, catalog_path, options.sequence_gap, progress=listener is not None,
                                     engine=engine)
            report = RunReport(out=str(out))
            with RunJournal(out, comp.settings) as journal:
                report.resumed = sum(record_key(r) in journal.done for r in records)
                detect_records(records, comp.stage, journal, engine, listener)
                journal.flush()
                entries = assemble(records, journal.done, options, comp.classes, report, comp.policy)
        finally:
            if own:
                close_engine(engine)
        write_results(out, results_document(entries, options, comp, report))
        journal.finish()
    return report
