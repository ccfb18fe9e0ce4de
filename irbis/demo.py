"""``irbis demo``: train on part of the bundled real photos, predict the rest, show the result."""

from __future__ import annotations

import csv
from pathlib import Path

from .detection_run import run_survey
from .formats.md_json import read_results
from .options import RunOptions
from .predict import predict
from .progress import Listener
from .records import ANIMAL
from .report.html_summary import write_summary
from .train import train

# The photos' folder says the truth: animals/ and heron_burst/ hold animals, empty/ and no_animals/ none.
TRUTH = {"animals": "animal", "heron_burst": "animal", "no_animals": "no_animal", "empty": "empty"}


def bundled_demo_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "examples" / "demo" / "traps"
    if not here.is_dir():
        raise FileNotFoundError(f"demo photos not found at {here}; run from a clone of the irbis repository "
                                f"or pass --data")
    return here


def run_demo(out: Path, data: Path | None = None, listener: Listener | None = None,
             blur_people: bool = False) -> int:
    data = data or bundled_demo_dir()
    out.mkdir(parents=True, exist_ok=True)
    model, preds_csv = out / "animal-vs-empty.irbis", out / "predictions.csv"
    catalog = out / "catalog.sqlite"
    print(f"== 1/4 train: {data / 'train' / 'labels.csv'} (EfficientNet-Lite0 features, flip augmentation, "
          "logistic regression)")
    report = train(data / "train" / "labels.csv", model, catalog_path=catalog, listener=listener)
    print(report.summary())
    print(f"\n== 2/4 predict: {data / 'test'} (held-out trap frames: other cameras, Serengeti bursts, a night-IR "
          "heron burst)")
    pr = predict(model, data / "test", preds_csv, by_sequence=True, catalog_path=catalog, listener=listener)
    print(pr.summary())

    md_json = out / "results.json"
    print(f"\n== 3/4 the main job: detect animals, people, vehicles; classify every animal box; "
          f"ensemble bursts -> {md_json} (MegaDetector batch format, opens in Timelapse)")
    run_report = run_survey(data / "test", md_json, model, RunOptions(), catalog_path=catalog, listener=listener)
    print(run_report.summary())
    md = read_results(md_json)
    names = md["detection_categories"]
    classes = md.get("classification_categories", {})
    boxes_by_file, people_by_file = {}, {}
    animal_files = {im["file"] for im in md["images"] for d in im.get("detections") or [] if d["category"] == ANIMAL}
    for im in md["images"]:
        if blur_people:
            from .privacy import person_boxes
            people_by_file[im["file"]] = person_boxes(im.get("detections"))
        labelled = []
        for d in im.get("detections") or []:
            label = names[d["category"]]
            if d.get("classifications"):
                label = f"{classes[d['classifications'][0][0]]} {d['conf']:.2f}"
            labelled.append((d["bbox"], label))
        boxes_by_file[im["file"]] = labelled

    print("\n== zero-shot species on the main job's animal boxes (imagenet-species: ImageNet head, "
          "taxonomic rollup; no labels needed)")
    from .box_species import species_for_boxes
    for f, answers in sorted(species_for_boxes(md, data / "test", runtime="auto").items()):
        print(f"  {f[:48]:<48} " + "; ".join(f"{a} {s:.2f}" for _b, a, s in answers))
        if f in boxes_by_file:
            boxes_by_file[f] = [(b, f"{lbl} / {a}") for (b, lbl), (_b, a, _s) in
                                zip(boxes_by_file[f], answers, strict=False)] + boxes_by_file[f][len(answers):]

    rows = list(csv.DictReader(open(preds_csv, newline="", encoding="utf-8")))
    print(f"\n== 4/4 results\n{'file':<48} {'truth':<10} {'photo':<10} {'conf':>5}  {'burst ensemble':<14}")
    correct = seq_correct = n = unsure = 0
    groups: dict[str, list[dict]] = {}
    for r in rows:
        folder = r["file"].split("/")[0]
        truth = TRUTH.get(folder)
        if r["failure"]:
            print(f"{r['file']:<48} {truth or '?':<10} FAILED: {r['failure']}")
            continue
        n += 1
        correct += r["predicted"] == truth
        seq_correct += r["sequence_predicted"] == truth
        unsure += r["predicted"] == "unknown"   # below the class's cross-validated threshold
        mark = "" if r["predicted"] == truth else "  <-- unsure" if r["predicted"] == "unknown" else "  <-- wrong"
        print(f"{r['file'][:48]:<48} {truth:<10} {r['predicted']:<10} {float(r['confidence']):>5.2f}  "
              f"{r['sequence_predicted']:<14}{mark}")
        groups.setdefault(folder, []).append({
            "path": data / "test" / r["file"], "file": r["file"].split("/")[-1], "predicted": r["predicted"],
            "confidence": r["confidence"], "truth": truth, "boxes": boxes_by_file.get(r["file"], []),
            "blur": people_by_file.get(r["file"]),
            "extra": f"sequence {r['sequence']}: {r['sequence_predicted']} {float(r['sequence_confidence']):.2f}"})
    acc, seq_acc = correct / max(n, 1), seq_correct / max(n, 1)
    cv = report.metrics
    metrics = [("photos predicted", str(n)),
               ("accuracy per photo", f"{acc:.3f} ({correct}/{n})"),
               ("accuracy with sequence ensembling", f"{seq_acc:.3f} ({seq_correct}/{n})"),
               ("training photos", f"{report.n_photos} ({report.n_rows} rows with flipped copies)")]
    # Animal boxes only: people and vehicles in the animal-free scenes are right to be boxed.
    found = sum(r["file"] in animal_files for r in rows if TRUTH.get(r["file"].split("/")[0]) == "animal")
    n_animal = sum(TRUTH.get(r["file"].split("/")[0]) == "animal" for r in rows)
    false_boxes = sum(r["file"] in animal_files for r in rows
                      if TRUTH.get(r["file"].split("/")[0]) not in (None, "animal"))
    metrics.append(("detector: animal photos with an animal box", f"{found}/{n_animal}"))
    metrics.append(("detector: animal-free photos with an animal box", f"{false_boxes}/{n - n_animal}"))
    if "cv_accuracy" in cv:
        metrics.append(("cross-validated accuracy (training set)", f"{cv['cv_accuracy']:.3f}"))
    page = write_summary(out / "summary.html", "irbis demo: animal vs empty on real camera-trap frames",
                         "Trained on real trap frames from LILA camera-trap datasets, evaluated on frames of "
                         "other cameras, Snapshot Serengeti bursts and a night-IR heron burst (labels by eye).",
                         metrics, groups)
    print(f"\naccuracy per photo {acc:.3f} ({correct}/{n}, {unsure} answered 'unknown': below the "
          f"cross-validated threshold for precision 0.95); with sequence ensembling {seq_acc:.3f}")
    print(f"detector: animal boxes on {found}/{n_animal} animal photos and {false_boxes}/{n - n_animal} animal-free "
          f"ones")
    print(f"model: {model}\npredictions: {preds_csv}\nMegaDetector JSON: {md_json}\nHTML summary: {page}")
    return 0
