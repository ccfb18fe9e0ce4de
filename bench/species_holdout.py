"""HOLDOUT figure for zero-shot species: run once, at the end; never tune on it.

    PYTHONPATH=. python bench/species_holdout.py [--kit ../shared/data]

Photos: ``cameratrap/holdout`` (animl southwest + SpeciesNet test images) and
``cameratrap/extra/animl_r_peru`` rows whose label names an animal (by-eye labels; vague ones
such as "animal partly visible" are left out). Same scoring and crops as ``species_eval.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import species_eval as ev  # noqa: E402

from irbis.stages.featurize import Featurizer  # noqa: E402
from irbis.stages.zero_shot import ZeroShotSpecies  # noqa: E402

HOLDOUT_TRUTH = {
    "african elephants": "mammalia;proboscidea;elephantidae;loxodonta;",
    "american black bear": "mammalia;carnivora;ursidae;ursus;americanus",
    "bobcat": "mammalia;carnivora;felidae;lynx;rufus",
    "cougar": "mammalia;carnivora;felidae;puma;concolor",
    "coyote": "mammalia;carnivora;canidae;canis;latrans",
    "deer": "mammalia;cetartiodactyla;cervidae;;",
    "domestic cattle": "mammalia;cetartiodactyla;bovidae;bos;taurus",
    "domestic dog": "mammalia;carnivora;canidae;canis;familiaris",
    "fox": "mammalia;carnivora;canidae;;",
    "ocelot": "mammalia;carnivora;felidae;leopardus;pardalis",
    "owl": "aves;strigiformes;;;",
    "rabbit": "mammalia;lagomorpha;leporidae;;",
    "wolf": "mammalia;carnivora;canidae;canis;lupus",
    "jaguar": "mammalia;carnivora;felidae;panthera;onca",
    "lowland paca": "mammalia;rodentia;cuniculidae;cuniculus;paca",
    "lowland tapir": "mammalia;perissodactyla;tapiridae;tapirus;terrestris",
    "brocket deer": "mammalia;cetartiodactyla;cervidae;mazama;",
    "ground dove (bird) walking": "aves;columbiformes;columbidae;;",
    "small ground bird with orange breast": "aves;;;;",
    "small rufous ground bird": "aves;;;;",
    "snake crossing the ground": "reptilia;squamata;;;",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default=str(REPO.parent / "shared" / "data"))
    kit = Path(ap.parse_args(argv).kit)
    ev.TRUTH.update(HOLDOUT_TRUTH)
    sets = {}
    for name, manifest, base in (("holdout", kit / "cameratrap/manifest.csv", kit / "cameratrap"),
                                 ("animl_r_peru", kit / "cameratrap/extra/animl_r_peru/manifest.csv",
                                  kit / "cameratrap/extra/animl_r_peru")):
        with open(manifest, newline="") as fh:
            sets[name] = [(base / r["file"], r["label"]) for r in csv.DictReader(fh)
                          if r["split"] == "holdout" and r["label"] in HOLDOUT_TRUTH]
    featurizer, zs = Featurizer(), ZeroShotSpecies()
    for name, items in sets.items():
        for crops in (False, True):
            X, labels, _ = ev.features(items, featurizer, crops)
            print(f"\n== {name} ({'crop' if crops else 'whole'}, {len(labels)} photos) HOLDOUT ==")
            for key, thr in (("top1", None), ("rollup@0.5", 0.5)):
                z = ev.zero_shot(X, labels, zs, thr)
                print(f"  zero-shot {key:<11} exact {z['exact']:.3f}  consistent {z['consistent']:.3f}  "
                      f"family-or-finer {z['family_or_finer']:.3f}  by rank {z['consistent_by_rank']}  "
                      f"answers {z['answers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
