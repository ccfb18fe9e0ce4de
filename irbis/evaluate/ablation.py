"""The seed's ablation, re-measured on proxy camera-trap data (``irbis ablation``).

Rows, each a logistic regression (standardised, class-weighted, C chosen by cross-validation
grouped by camera on the training cameras only), scored on the held-out test cameras:

1. raw pixels: the whole frame resized to 120x120 RGB (the seed's "L120" baseline; the same
   regression, solved in the span of the training rows: see :class:`RowSpace`);
2. pretrained features: EfficientNet-Lite0 head (1280-d, last stage);
3. an earlier cut: stage7 (320-d) and stage6 (192-d), each reported;
4. + flip augmentation: the earlier cut with the lower cross-validated log loss on the training
   cameras, trained on every photo and its mirror image;
5. + sequence ensembling: row 4's probabilities averaged over each burst (geometric mean for
   ``empty``), every frame scored with its burst's answer.

Task ``binary`` (default): animal vs empty per frame; ``species``: empty or the animal's class.
Split ``camera`` (default): train on the train cameras, score on the held-out cameras; ``burst``:
new bursts of cameras seen in training (see :func:`split_rows`).
Data: an ``irbis synth`` folder (``labels.csv`` with file,label,sequence,deployment,split). The
ordering of the rows is a result, not a target: nothing is tuned on the test cameras.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ..catalog import Catalog
from ..config import default_catalog_path
from ..engines import get_engine
from ..features import compute_features
from ..imageio import open_image
from ..ingest import ingest_folder
from ..labels import LabelsError
from ..progress import progress_bar
from ..stages.augment import stack_views
from ..stages.ensemble import ensemble_by_key
from ..stages.featurize import FeaturizeSpec
from ..train import BLAS_THREADS, C_GRID, cross_validate, make_classifier
from .metrics import classification_metrics

PROXY_LABEL = "proxy data built from the kit's real photos"
# The product grid plus two smaller values: on the proxy the product grid's smallest C won the
# cross-validation (on the train cameras) for every row, so the grid is widened downwards.
ABLATION_C_GRID = (0.0003, 0.001, *C_GRID)


@dataclass
class ProxySet:
    root: Path
    paths: list[Path]
    labels: np.ndarray        # per-image class (empty or species)
    sequences: np.ndarray
    cameras: np.ndarray
    split: np.ndarray         # train | test


def load_proxy(data_dir: str | Path) -> ProxySet:
    """Read an ``irbis synth`` folder's ``labels.csv``."""
    import csv
    root = Path(data_dir)
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise LabelsError(f"{root} has no labels.csv; build proxy data first: irbis synth {root} --kit KIT")
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"file", "label", "sequence", "deployment", "split"}
    if not rows or not need <= set(rows[0]):
        raise LabelsError(f"{labels_csv}: needs columns {', '.join(sorted(need))} (an irbis synth output)")
    return ProxySet(root, [(root / r["file"]).resolve() for r in rows], np.array([r["label"] for r in rows]),
                    np.array([r["sequence"] for r in rows]), np.array([r["deployment"] for r in rows]),
                    np.array([r["split"] for r in rows]))


def raw_pixels(paths: list[Path], size: int = 120, progress: bool = True) -> np.ndarray:
    """Whole frame resized to size x size RGB, flattened, scaled to [0, 1] (float32)."""
    out = np.zeros((len(paths), size * size * 3), np.float32)
    for i, p in enumerate(tqdm(paths, desc=f"raw {size}x{size}", unit="photo", disable=not progress)):
        im = open_image(p, min_short_side=size).resize((size, size))
        out[i] = np.asarray(im, dtype=np.float32).reshape(-1) / 255.0
    return out


def cnn_views(records, layer: str, flips: tuple[bool, ...], progress: bool, decode_threads: int) -> list[np.ndarray]:
    """Features of every record per flip (through the shared feature cache)."""
    stage = FeaturizeSpec(layer=layer, flips=flips).build()
    table = compute_features(records, stage, get_engine(decode_threads=decode_threads),
                             progress_bar() if progress else None, f"featurize {layer}")
    if table.failures:
        raise LabelsError(f"{len(table.failures)} proxy photo(s) failed: {list(table.failures.values())[:3]}")
    return [np.stack([table.features[(r.id, f)] for r in records]) for f in flips]


class RowSpace(BaseEstimator, TransformerMixin):
    """Coordinates in the span of the training rows (from the eigenvectors of X X^T).

    An L2-penalised linear model's weights lie in that span, so logistic regression on these
    n coordinates has exactly the decision function it has on the d >> n raw inputs, and fits
    in seconds instead of minutes (43 200 raw pixels, ~1 000 photos)."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float32)
        ev, U = np.linalg.eigh((X @ X.T).astype(np.float64))     # X = U S V^T, K = X X^T = U S^2 U^T
        keep = ev > ev.max() * 1e-6
        self.v_ = (X.T @ (U[:, keep] / np.sqrt(ev[keep]))).astype(np.float32)   # V = X^T U S^-1
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float32) @ self.v_


def make_raw_classifier(C: float) -> object:
    """The product classifier (standardise, balanced L2 logistic regression), solved in the row space."""
    return make_pipeline(StandardScaler(), RowSpace(),
                         LogisticRegression(C=C, class_weight="balanced", max_iter=3000))


def fit_predict(views: list[np.ndarray], y: np.ndarray, groups: np.ndarray, X_test: np.ndarray,
                classes: list[str], C_grid=ABLATION_C_GRID, make=make_classifier) -> tuple[np.ndarray, dict]:
    """CV-choose C on the training rows (grouped), refit on all of them, predict ``X_test``."""
    cv = cross_validate(views, y, groups, classes, C_grid=C_grid, make=make)
    clf = make(cv.get("C", 1.0))
    Xt, yt = stack_views(views, y)
    with warnings.catch_warnings(), threadpool_limits(BLAS_THREADS):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xt, yt)
        proba = np.zeros((len(X_test), len(classes)))
        proba[:, [classes.index(c) for c in clf.classes_]] = clf.predict_proba(X_test)
    return proba, {k: cv[k] for k in ("C", "cv_log_loss", "cv_accuracy", "cv_folds") if k in cv}


def split_rows(ps: ProxySet, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(train rows, test rows, CV groups of the train rows, description).

    ``camera``: the synth's split, whole cameras held out (CV grouped by camera). ``burst``: every
    camera in both; each camera's every third burst (in time order) held out (CV grouped by burst),
    i.e. new bursts of known scenes, as when a survey is labelled and classified camera by camera."""
    if split == "camera":
        tr, te = np.flatnonzero(ps.split == "train"), np.flatnonzero(ps.split == "test")
        if not len(tr) or not len(te):
            raise LabelsError(f"{ps.root}: needs train and test cameras (split column)")
        return tr, te, ps.cameras[tr], (f"{len(set(ps.cameras[tr]))} train cameras, "
                                        f"{len(set(ps.cameras[te]))} held-out test cameras")
    if split != "burst":
        raise ValueError("split must be camera or burst")
    held = set()
    for cam in sorted(set(ps.cameras)):
        seqs = sorted(set(ps.sequences[ps.cameras == cam]))
        held |= set(seqs[2::3])
    is_te = np.array([s in held for s in ps.sequences])
    tr, te = np.flatnonzero(~is_te), np.flatnonzero(is_te)
    return tr, te, ps.sequences[tr], (f"all {len(set(ps.cameras))} cameras; every third burst of each "
                                      f"held out ({len(held)} test bursts)")


def run_ablation(data_dir: str | Path, task: str = "binary", cuts: tuple[str, ...] = ("stage7", "stage6"),
                 raw_size: int = 120, progress: bool = True, decode_threads: int = 1,
                 catalog_path: str | Path | None = None,
                 C_grid: tuple[float, ...] = ABLATION_C_GRID, split: str = "camera") -> dict:
    """Run every row; returns a JSON-ready dict with the table, curves and timings."""
    if task not in ("binary", "species"):
        raise ValueError("task must be binary or species")
    ps = load_proxy(data_dir)
    photos = ps.root / "photos"
    with Catalog(catalog_path or default_catalog_path(photos)) as catalog:
        ingest_folder(photos, catalog, files=ps.paths, progress=False)
        records = catalog.images(paths=[str(p) for p in ps.paths])
    y_all = np.where(ps.labels == "empty", "empty", "animal") if task == "binary" else ps.labels
    classes = sorted(set(y_all))
    tr, te, groups, split_text = split_rows(ps, split)
    y, y_test = y_all[tr], y_all[te]
    rows, timings = [], {}

    def score(name: str, proba: np.ndarray, fit: dict, detail: str) -> None:
        m = classification_metrics(y_test, proba, classes)
        rows.append({"row": name, "detail": detail, **fit, "accuracy": m["accuracy"],
                     "balanced_accuracy": m["balanced_accuracy"], "roc_auc": m.get("roc_auc"),
                     "macro_roc_auc": m.get("macro_roc_auc"), "log_loss": m.get("log_loss"),
                     "roc": m.get("binary", {}).get("roc"), "n_test": m["n"]})

    t0 = time.perf_counter()
    raw = raw_pixels(ps.paths, raw_size, progress)
    proba, fit = fit_predict([raw[tr]], y, groups, raw[te], classes, C_grid, make=make_raw_classifier)
    score("1 raw pixels", proba, fit, f"{raw_size}x{raw_size} RGB, whole frame")
    del raw
    timings["raw"] = time.perf_counter() - t0

    feats = {}
    for layer in ("head", *cuts):
        t0 = time.perf_counter()
        feats[layer] = cnn_views(records, layer, (False, True), progress, decode_threads)
        timings[f"featurize_{layer}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    proba, fit = fit_predict([feats["head"][0][tr]], y, groups, feats["head"][0][te], classes, C_grid)
    score("2 pretrained features", proba, fit, f"EfficientNet-Lite0 head, {feats['head'][0].shape[1]}-d")
    cut_cv = {}
    for layer in cuts:
        proba, fit = fit_predict([feats[layer][0][tr]], y, groups, feats[layer][0][te], classes, C_grid)
        cut_cv[layer] = fit.get("cv_log_loss", float("inf"))
        score(f"3 earlier cut ({layer})", proba, fit, f"{layer}, {feats[layer][0].shape[1]}-d")
    chosen = min(cuts, key=lambda c: cut_cv[c])
    views = [v[tr] for v in feats[chosen]]
    proba, fit = fit_predict(views, y, groups, feats[chosen][0][te], classes, C_grid)
    score("4 + flip augmentation", proba, fit, f"{chosen} (lower CV log loss on the training rows) + mirrored copies")
    seqs = list(ps.sequences[te])
    ens = ensemble_by_key(seqs, proba, classes, normalize=True)
    score("5 + sequence ensembling", np.stack([ens[s] for s in seqs]), fit,
          "row 4 averaged per burst (geometric mean for empty), each frame gets its burst's answer")
    burst = _burst_level(seqs, ens, y_test, classes)
    timings["classifiers"] = time.perf_counter() - t0
    return {"data": f"{PROXY_LABEL} ({ps.root.name}: {split_text})",
            "task": task, "split": split, "classes": classes, "C_grid": list(C_grid), "chosen_cut": chosen,
            "cut_cv_log_loss": cut_cv,
            "n_train": int(len(tr)), "n_test": int(len(te)), "train_cameras": sorted(set(ps.cameras[tr])),
            "test_cameras": sorted(set(ps.cameras[te])), "rows": rows, "burst_level_row5": burst,
            "seconds": timings}


def _burst_level(seqs: list[str], ens: dict, y_test: np.ndarray, classes: list[str]) -> dict:
    """Row 5 scored once per burst against the burst's label (its non-empty frame label, else empty)."""
    truth: dict[str, str] = {}
    for s, lab in zip(seqs, y_test):
        if lab != "empty" or s not in truth:
            truth[s] = lab
    order = list(truth)
    m = classification_metrics([truth[s] for s in order], np.stack([ens[s] for s in order]), classes)
    return {"n_bursts": len(order), "accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
            "roc_auc": m.get("roc_auc")}


def markdown_table(result: dict) -> str:
    """The README table."""
    lines = ["| row | features | C (CV) | accuracy | balanced accuracy | ROC AUC |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['row']} | {r['detail']} | {r.get('C', '–')} | {100 * r['accuracy']:.1f} % | "
                     f"{100 * r['balanced_accuracy']:.1f} % | {r['roc_auc']:.3f} |")
    b = result["burst_level_row5"]
    lines.append("")
    lines.append(f"Row 5 scored per burst instead ({b['n_bursts']} bursts): accuracy {100 * b['accuracy']:.1f} %, "
                 f"balanced accuracy {100 * b['balanced_accuracy']:.1f} %, ROC AUC {b['roc_auc']:.3f}.")
    return "\n".join(lines)


def cmd_ablation(args) -> int:
    from . import plots
    from .report import atomic_write, img, page, table, write_json
    data = Path(args.data)
    if not (data / "labels.csv").is_file():
        from ..synth import SynthConfig, build_synth
        print(build_synth(data, args.kit, SynthConfig(seed=args.seed), progress=not args.quiet).summary())
    t0 = time.perf_counter()
    res = run_ablation(data, args.task, tuple(c.strip() for c in args.cuts.split(",") if c.strip()),
                       progress=not args.quiet, decode_threads=args.decode_threads, split=args.split)
    res["seconds"]["total"] = time.perf_counter() - t0
    out = Path(args.out)
    png = plots.roc_plot([(r["row"], r["roc"]["fpr"], r["roc"]["tpr"], r["roc_auc"]) for r in res["rows"] if r["roc"]],
                         f"Ablation, {args.task}: ROC on held-out {args.split}s", res["data"])
    atomic_write(out / "ablation_roc.png", png)
    md = markdown_table(res)
    atomic_write(out / "ablation.md", f"Data: {res['data']}\n\n{md}\n")
    write_json(out / "ablation.json", res)
    rows = [[r["row"], r["detail"], r.get("C"), r.get("cv_log_loss"), r["accuracy"], r["balanced_accuracy"],
             r["roc_auc"]] for r in res["rows"]]
    html = page(f"irbis ablation ({args.task}, held-out {args.split}s)", res["data"], [
        ("Rows", table(["row", "features", "C", "CV log loss (training rows)", "accuracy", "balanced accuracy",
                        "ROC AUC"], rows)),
        ("ROC", img(png, f"ROC curves of every row on the held-out {args.split}s"))],
        subtitle=f"train {res['n_train']} frames, test {res['n_test']} frames; chosen cut {res['chosen_cut']}")
    atomic_write(out / "ablation.html", html)
    print(f"Data: {res['data']}\n\n{md}\n\nwritten to {out}/ (ablation.md, ablation.json, ablation_roc.png, "
          f"ablation.html) in {res['seconds']['total']:.0f} s")
    return 0
