"""irbis evaluate on proxy bursts and real camera-trap frames; metrics, detector scoring, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import read_rows, run_cli, write_csv
from irbis.evaluate.core import evaluate
from irbis.evaluate.metrics import aggregated_log_loss, detection_metrics, empty_filter_table, iou
from irbis.evaluate.truth import TruthError, match_files, read_truth
from irbis.predict import predict
from irbis.synth import SynthConfig, build_synth, load_kit

SMALL = dict(seed=5, cameras=4, bursts_per_camera=6, width=512, height=384, empty_fraction=0.5)




@pytest.fixture(scope="module")
def proxy(kit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("proxy") / "synth"
    build_synth(out, load_kit(kit), SynthConfig(**SMALL), progress=False)
    return out


@pytest.fixture(scope="module")
def model(proxy, tmp_path_factory) -> Path:
    """Animal-vs-empty model trained on the proxy's train cameras."""
    rows = [r for r in read_rows(proxy / "labels.csv") if r["split"] == "train"]
    labels = write_csv(proxy / "train_binary.csv", ["file", "label", "sequence", "deployment"],
                       [[r["file"], "empty" if r["label"] == "empty" else "animal", r["sequence"], r["deployment"]]
                        for r in rows])
    out = tmp_path_factory.mktemp("model") / "binary.irbis"
    run_cli("train", labels, "--out", out, "--C", "0.1", "--quiet")
    return out


@pytest.fixture(scope="module")
def test_predictions(proxy, model, tmp_path_factory) -> Path:
    test_cams = {r["deployment"] for r in read_rows(proxy / "labels.csv") if r["split"] == "test"}
    root = tmp_path_factory.mktemp("pred")
    # only the held-out cameras; files come out as CAMxx/..., the truth says photos/CAMxx/...
    for cam in test_cams:
        shutil.copytree(proxy / "photos" / cam, root / "photos" / cam)
    out = root / "test.csv"
    run_cli("predict", model, root / "photos", "--out", out, "--by-sequence", "--quiet")
    return out


def test_classifier_report_on_proxy(proxy, test_predictions, tmp_path):
    binary = tmp_path / "truth.csv"
    write_csv(binary, ["file", "label", "sequence"],
              [[r["file"], "empty" if r["label"] == "empty" else "animal", r["sequence"]]
               for r in read_rows(proxy / "labels.csv")])
    report = tmp_path / "report.html"
    proc = run_cli("evaluate", test_predictions, "--truth", binary, "--out", report,
                   "--data-label", "proxy data built from the kit's real photos")
    assert "accuracy" in proc.stdout and "ROC AUC" in proc.stdout
    m = json.loads((tmp_path / "report.metrics.json").read_text())
    assert m["matched_files"] == len(read_rows(test_predictions))
    img = m["image"]
    # the figures agree with the CSV recomputed by hand (quality on a 4-camera proxy is not the point)
    truth = {r["file"].removeprefix("photos/"): "empty" if r["label"] == "empty" else "animal"
             for r in read_rows(proxy / "labels.csv")}
    preds = read_rows(test_predictions)
    assert img["accuracy"] == pytest.approx(np.mean([p["predicted"] == truth[p["file"]] for p in preds]))
    assert 0 <= img["roc_auc"] <= 1
    assert set(img["per_class"]) == {"animal", "empty"}
    assert sum(map(sum, img["confusion_matrix"]["rows_true_cols_predicted"])) == img["n"]
    assert [r["threshold"] for r in img["empty_filter"]][:3] == [0.05, 0.1, 0.2]
    assert "image_sequence_ensemble" in m
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 4 and "src=\"http" not in html
    assert "proxy data built from the kit&#x27;s real photos" in html
    for name in ("roc", "pr", "confusion", "empty_filter"):
        assert (tmp_path / "report_plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_species_labels_need_a_mapping(proxy, test_predictions, tmp_path):
    """The synth's labels.csv names species the binary model does not know: a clear error."""
    with pytest.raises(TruthError) as err:
        evaluate(test_predictions, proxy / "labels.csv")
    msg = str(err.value)
    assert "not among the predictions' classes (animal, empty)" in msg
    assert "line " in msg and "--map" in msg and "--drop-class" in msg


def test_detector_output_against_cct_boxes(proxy, tmp_path):
    """A detector that finds every box plus one false alarm per empty frame in half of them."""
    cct = json.loads((proxy / "cct.json").read_text())
    size = {im["id"]: (im["width"], im["height"], im["file_name"]) for im in cct["images"]}
    images, n_boxes, n_false = [], 0, 0
    for k, ann in enumerate(cct["annotations"]):
        w, h, f = size[ann["image_id"]]
        dets = []
        if "bbox" in ann:
            x, y, bw, bh = ann["bbox"]
            dets.append({"category": "1", "conf": 0.9, "bbox": [x / w, y / h, bw / w, bh / h]})
            n_boxes += 1
        elif k % 2:
            dets.append({"category": "1", "conf": 0.3, "bbox": [0.0, 0.0, 0.05, 0.05]})
            n_false += 1
        images.append({"file": f, "detections": dets})
    md = tmp_path / "md.json"
    md.write_text(json.dumps({"info": {"format_version": "1.6", "detector": "test",
                                       "detector_metadata": {"typical_detection_threshold": 0.2}},
                              "detection_categories": {"1": "animal"}, "images": images}))
    ev = evaluate(md, proxy / "cct.json")
    m = {"data": ev.data_label, **ev.metrics}
    assert {"detection", "empty_filter", "roc"} <= set(ev.figures)
    det = m["detection"]
    assert det["boxes"] == n_boxes and det["at_threshold"]["recall"] == 1.0
    assert det["at_threshold"]["precision"] == pytest.approx(n_boxes / (n_boxes + n_false))
    at_05 = next(r for r in det["by_threshold"] if r["threshold"] == 0.5)
    assert at_05["precision"] == 1.0
    filt = {r["threshold"]: r for r in m["frames"]["empty_filter"]}
    assert filt[0.5]["empty_filtered"] == 1.0 and filt[0.5]["non_empty_lost"] == 0.0
    assert "proxy data" in m["data"]


def test_real_frames_manifest_and_camtrap_dp_boxes(kit, model, tmp_path):
    """Real trap frames (dev only): the heron burst's Camtrap DP boxes and the manifest's kinds."""
    truth = read_truth(kit / "cameratrap" / "manifest.csv")
    assert truth.format == "manifest" and truth.column == "kind"
    heron = {k: v for k, v in truth.boxes.items() if k.startswith("dev/camtrapdp_heron/")}
    assert len(heron) == 10 and all(len(b) == 1 for b in heron.values())
    images = [{"file": f"dev/camtrapdp_heron/{Path(k).name}", "detections": [
        {"category": "1", "conf": 0.8, "bbox": [b[0][0] + 0.01, b[0][1], b[0][2], b[0][3]]}]} for k, b in heron.items()]
    md = tmp_path / "heron.json"
    md.write_text(json.dumps({"info": {"detector": "test"}, "images": images}))
    ev = evaluate(md, kit / "cameratrap" / "manifest.csv")
    assert ev.metrics["detection"]["boxes"] == 10 and ev.metrics["detection"]["at_threshold"]["recall"] == 1.0
    assert ev.data_label == "real camera-trap frames, cameratrap/dev"
    # the classifier on the heron burst, scored against the manifest's kind column
    pred = tmp_path / "heron.csv"
    predict(model, kit / "cameratrap" / "dev" / "camtrapdp_heron", pred)
    c = evaluate(pred, kit / "cameratrap" / "manifest.csv").metrics
    assert c["matched_files"] == 10 and c["image"]["n"] == 10


def test_bad_predictions_are_named_by_line(tmp_path):
    truth = write_csv(tmp_path / "t.csv", ["file", "label"], [["a.jpg", "animal"], ["b.jpg", "empty"]])
    head = ["file", "sequence", "predicted", "confidence", "failure", "prob_animal", "prob_empty"]
    bad = write_csv(tmp_path / "p.csv", head, [["a.jpg", "", "animal", "1.2", "", "1.2", "-0.2"],
                                               ["b.jpg", "", "empty", "0.9", "", "0.1", "0.9"],
                                               ["b.jpg", "", "empty", "0.9", "", "0.1", "0.9"]])
    proc = run_cli("evaluate", bad, "--truth", truth, "--out", tmp_path / "r.html", check=False)
    assert proc.returncode == 2 and not (tmp_path / "r.html").exists()
    assert "line 2 (a.jpg): prob_animal='1.2' is not a probability in [0, 1]" in proc.stderr
    assert "line 4: duplicate file 'b.jpg' (first on line 3)" in proc.stderr
    good = write_csv(tmp_path / "g.csv", head, [["a.jpg", "", "animal", "0.8", "", "0.8", "0.2"]])
    with pytest.raises(TruthError, match=r"missing column\(s\) prob_<class>"):
        evaluate(write_csv(tmp_path / "n.csv", ["file", "predicted"], [["a.jpg", "animal"]]), truth)
    dup = write_csv(tmp_path / "d.csv", ["file", "label"], [["a.jpg", "animal"], ["a.jpg", "empty"]])
    with pytest.raises(TruthError, match="line 3: a.jpg is already labelled on line 2"):
        evaluate(good, dup)
    with pytest.raises(TruthError, match="missing column"):
        evaluate(good, write_csv(tmp_path / "nolabel.csv", ["file", "class"], [["a.jpg", "animal"]]))
    other = write_csv(tmp_path / "o.csv", ["file", "label"], [["x.jpg", "animal"]])
    with pytest.raises(TruthError, match="no predicted file matches"):
        evaluate(good, other)


def test_metric_definitions():
    Y = np.array([[1, 0], [0, 1]])
    P = np.array([[0.8, 0.1], [0.3, 0.6]])
    expected = -np.mean([np.log(0.8), np.log(0.9), np.log(0.7), np.log(0.6)])
    assert aggregated_log_loss(Y, P) == pytest.approx(expected)
    assert aggregated_log_loss(Y, Y.astype(float)) < 1e-12
    assert iou([0, 0, 1, 1], [0.5, 0, 1, 1]) == pytest.approx(1 / 3)
    gt = {"a": [[0.1, 0.1, 0.2, 0.2]], "b": []}
    dets = {"a": [(0.9, [0.1, 0.1, 0.2, 0.2]), (0.8, [0.11, 0.1, 0.2, 0.2])], "b": [(0.4, [0, 0, 0.1, 0.1])]}
    rows = {r["threshold"]: r for r in detection_metrics(gt, dets, 0.5, (0.3, 0.85))["by_threshold"]}
    assert rows[0.3]["recall"] == 1.0 and rows[0.3]["precision"] == pytest.approx(1 / 3)   # duplicate = false
    assert rows[0.85]["precision"] == 1.0
    f = empty_filter_table(np.array([True, True, False, False]), np.array([0.1, 0.6, 0.4, 0.9]), (0.5,))[0]
    assert (f["empty_filtered"], f["non_empty_lost"], f["all_filtered"]) == (0.5, 0.5, 0.5)
    assert match_files(["CAM1/x.jpg"], ["photos/CAM1/x.jpg", "photos/CAM2/x.jpg"]) == {
        "CAM1/x.jpg": "photos/CAM1/x.jpg"}


@pytest.mark.slow
def test_tiny_ablation(proxy, tmp_path):
    """The ablation command end to end on a handful of bursts (the README's table uses the full proxy)."""
    proc = run_cli("ablation", "--data", proxy, "--out", tmp_path / "abl", "--quiet")
    res = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    names = [r["row"] for r in res["rows"]]
    assert names == ["1 raw pixels", "2 pretrained features", "3 earlier cut (stage7)", "3 earlier cut (stage6)",
                     "4 + flip augmentation", "5 + sequence ensembling"]
    assert res["chosen_cut"] in ("stage7", "stage6") and "proxy data" in res["data"]
    assert all(0 <= r["accuracy"] <= 1 for r in res["rows"])
    assert (tmp_path / "abl" / "ablation_roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 5 + sequence ensembling |" in (tmp_path / "abl" / "ablation.md").read_text()
    assert "Data: proxy data" in proc.stdout
