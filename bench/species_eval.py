"""Zero-shot species, few-shot accuracy and calibration on real species-labelled trap photos (dev only).

    PYTHONPATH=. python bench/species_eval.py [--kit ../shared/data] [--draws 20] [--no-crops] [--out FILE.json]

Data (all dev; the holdout folders are never read): camtrapR's Borneo thumbnails (5 species),
the ENA24 photos of zamba's test assets (8 labels, 7 with >= 2 photos), the 12 Snapshot
Serengeti crops, the animl jaguars and the Camtrap DP heron burst (sanity checks).

Zero-shot (``imagenet-species``): each photo (``whole``) or its most confident animal box as
``irbis run`` crops it (``crop``, default detector) -> species probabilities -> the rollup.
Scored against the truth's taxonomy: ``exact`` (the answer's taxonomy equals the truth's),
``consistent`` (the answer is the truth or one of its ancestors: a rollup that says nothing
false) and the rank answered. ``top1`` is the same without rollup (top species only).

Few-shot: k = 1, 3, 5 labelled photos per species drawn at random (``--draws`` times), a logistic
regression on the head features, accuracy on the other photos of those species, excluding photos
that share a sequence (EXIF burst) with a training photo; mean and standard deviation over draws.

Calibration: ``irbis train``'s grouped cross-validation on Borneo (expected calibration error of
out-of-fold probabilities before / after the cross-fitted temperature), printed by ``irbis train``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from irbis.decision import DecisionOptions, LabelPolicy  # noqa: E402
from irbis.progress import progress_bar  # noqa: E402
from irbis.stages.crops import CropFeaturizeSpec, CropFeaturizeStage  # noqa: E402
from irbis.stages.featurize import Featurizer, FeaturizeSpec, FeaturizeStage  # noqa: E402
from irbis.stages.zero_shot import ZeroShotSpecies  # noqa: E402
from irbis.taxonomy import RANKS, depth_of, split_taxonomy, within  # noqa: E402
from irbis.train import featurize_files, make_classifier  # noqa: E402

TRUTH = {
    "leopard cat": "mammalia;carnivora;felidae;prionailurus;bengalensis",
    "Malay civet": "mammalia;carnivora;viverridae;viverra;tangalunga",
    "moonrat": "mammalia;eulipotyphla;erinaceidae;echinosorex;gymnura",
    "mousedeer": "mammalia;cetartiodactyla;tragulidae;tragulus;",
    "southern pig-tailed macaque": "mammalia;primates;cercopithecidae;macaca;nemestrina",
    "American Black Bear": "mammalia;carnivora;ursidae;ursus;americanus",
    "American Crow": "aves;passeriformes;corvidae;corvus;brachyrhynchos",
    "Chicken": "aves;galliformes;phasianidae;gallus;gallus",
    "Eastern Fox Squirrel": "mammalia;rodentia;sciuridae;sciurus;niger",
    "Grey Fox": "mammalia;carnivora;canidae;urocyon;cinereoargenteus",
    "Striped Skunk": "mammalia;carnivora;mephitidae;mephitis;mephitis",
    "Virginia Opossum": "mammalia;didelphimorphia;didelphidae;didelphis;virginiana",
    "white-tailed deer": "mammalia;cetartiodactyla;cervidae;odocoileus;virginianus",
    "Thomson's gazelle": "mammalia;cetartiodactyla;bovidae;eudorcas;thomsonii",
    "aardwolf": "mammalia;carnivora;hyaenidae;proteles;cristata",
    "caracal": "mammalia;carnivora;felidae;caracal;caracal",
    "civet": "mammalia;carnivora;viverridae;civettictis;civetta",
    "leopard": "mammalia;carnivora;felidae;panthera;pardus",
    "mongoose": "mammalia;carnivora;herpestidae;;",
    "ostrich": "aves;struthioniformes;struthionidae;struthio;camelus",
    "porcupine": "mammalia;rodentia;hystricidae;hystrix;cristata",
    "topi": "mammalia;cetartiodactyla;bovidae;damaliscus;lunatus",
    "wildcat": "mammalia;carnivora;felidae;felis;lybica",
    "zorilla": "mammalia;carnivora;mustelidae;ictonyx;striatus",
    "jaguar": "mammalia;carnivora;felidae;panthera;onca",
    "heron": "aves;pelecaniformes;ardeidae;ardea;",
}


def datasets(kit: Path) -> dict[str, list[tuple[Path, str]]]:
    def manifest(folder: str, keep) -> list[tuple[Path, str]]:
        out = []
        with open(kit / folder / "manifest.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                if r.get("split", "dev") == "dev" and r["kind"] == "animal" and keep(r):
                    out.append((kit / folder / r["file"], r["label"]))
        return out

    borneo = [(p, lab.split(" (")[0]) for p, lab in
              manifest("cameratrap/extra/camtrapR", lambda r: r["file"].startswith("Station"))]
    ena24 = manifest("cameratrap/extra/zamba_test_assets", lambda r: r["file"].startswith("ena24_small/"))
    crops = manifest("cameratrap/extra/microsoft_cameratraps", lambda r: r["file"].startswith("serengeti_crops/"))
    jaguar = [(p, "jaguar") for p in sorted((kit / "cameratrap/dev/animl_Jaguar").glob("*.jpg"))]
    heron = [(p, "heron") for p in sorted((kit / "cameratrap/dev/camtrapdp_heron").glob("*.JPG"))]
    return {"borneo": borneo, "ena24": ena24, "serengeti_crops": crops, "jaguar": jaguar, "heron_burst": heron}


def features(items, featurizer, crops: bool):
    paths = [p for p, _ in items]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage = FeaturizeStage(FeaturizeSpec(), featurizer)
        if crops:
            stage = CropFeaturizeStage(CropFeaturizeSpec(FeaturizeSpec(), "megadetector-lite"))
        records, table = featurize_files(paths, stage, listener=progress_bar())
    keep = [i for i, r in enumerate(records) if (r.id, False) in table.features]
    X = np.stack([table.features[(records[i].id, False)] for i in keep])
    return X, [items[i][1] for i in keep], [records[i].sequence_id or str(i) for i in keep]


def score(answer_tax: str, truth: str) -> tuple[bool, bool, int]:
    """(exact, consistent, depth answered). Exact: the truth, or finer inside it (a genus-level truth
    "Ardea" is matched by "Ardea alba"). Consistent: exact or an ancestor of the truth (says nothing false)."""
    a, t = split_taxonomy(answer_tax) if answer_tax else ("",) * 5, split_taxonomy(truth)
    exact = depth_of(a) >= depth_of(t) and within(a, t)
    return exact, exact or depth_of(a) < 0 or within(t, a), depth_of(a)


def zero_shot(X, labels, zs: ZeroShotSpecies, threshold: float | None) -> dict:
    mode = "off" if threshold is None else "per-class"
    policy = LabelPolicy(zs, DecisionOptions(threshold_mode=mode, min_confidence=threshold))
    P = zs.predict_proba(X)
    rows, answers = [], Counter()
    for p, lab in zip(P, labels, strict=True):
        k, conf = policy.decide(p)
        name, tax = policy.categories[k], policy.descriptions[k]
        tax = "" if tax == "animalia" else tax
        rows.append(score(tax, TRUTH[lab]))
        answers[name] += 1
    exact = np.mean([r[0] for r in rows])
    consistent = np.mean([r[1] for r in rows])
    ranks = Counter("animal" if d < 0 else RANKS[d] for _, c, d in rows if c)
    family = np.mean([c and d >= 2 for _, c, d in rows])   # consistent and at family or finer
    return {"n": len(rows), "exact": float(exact), "consistent": float(consistent), "family_or_finer": float(family),
            "consistent_by_rank": dict(ranks), "answers": dict(answers.most_common(8))}


def few_shot(X, labels, seqs, ks=(1, 3, 5), draws: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    labels, seqs = np.array(labels), np.array(seqs)
    out = {}
    for k in ks:
        species = sorted(c for c in set(labels) if (labels == c).sum() > k)
        if len(species) < 2:
            out[k] = {"skipped": f"fewer than 2 species with more than {k} photos"}
            continue
        accs = []
        for _ in range(draws):
            train = np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False) for c in species])
            test = np.flatnonzero(np.isin(labels, species) & ~np.isin(seqs, seqs[train]))
            if len(test) == 0:
                continue
            clf = make_classifier(1.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X[train], labels[train])
            accs.append(float((clf.predict(X[test]) == labels[test]).mean()))
        out[k] = {"species": len(species), "draws": len(accs), "mean": float(np.mean(accs)),
                  "std": float(np.std(accs)), "chance": 1 / len(species)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--no-crops", action="store_true", help="whole photos only (no detector)")
    ap.add_argument("--out", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    kit = Path(args.kit)
    featurizer = Featurizer()
    zs = ZeroShotSpecies()
    report: dict = {}
    for name, items in datasets(kit).items():
        for crops in ([False] if args.no_crops else [False, True]):
            view = "crop" if crops else "whole"
            X, labels, seqs = features(items, featurizer, crops)
            entry = {"top1": zero_shot(X, labels, zs, None)}
            for t in (0.3, 0.5, 0.7):
                entry[f"rollup@{t:g}"] = zero_shot(X, labels, zs, t)
            if name in ("borneo", "ena24"):
                entry["few_shot"] = few_shot(X, labels, seqs, draws=args.draws)
            report[f"{name}/{view}"] = entry
            print(f"\n== {name} ({view}, {len(labels)} photos) ==")
            for key, z in entry.items():
                if key == "few_shot":
                    for k, f in z.items():
                        print(f"  few-shot k={k}: " + (f["skipped"] if "skipped" in f else
                              f"{f['mean']:.3f} +- {f['std']:.3f} over {f['draws']} draws, {f['species']} species "
                              f"(chance {f['chance']:.2f})"))
                else:
                    print(f"  zero-shot {key:<11} exact {z['exact']:.3f}  consistent {z['consistent']:.3f}  "
                          f"family-or-finer {z['family_or_finer']:.3f}  "
                          f"by rank {z['consistent_by_rank']}  answers {z['answers']}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
