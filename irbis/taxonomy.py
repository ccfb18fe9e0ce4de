"""Taxonomy strings and the rollup: when the top classes disagree, answer their common taxon.

A taxonomy string is ``class;order;family;genus;species`` in lower case, as SpeciesNet writes
them (``mammalia;carnivora;felidae;panthera;uncia``); empty trailing fields mean "not known
below this rank" (``mammalia;carnivora;mustelidae;;`` for "otter", a subfamily). The table
``irbis/data/imagenet_species.csv`` maps every ImageNet-1k animal class (0-397) to a common
name, a scientific name and such a string, written from public taxonomy facts; a breed or a
loose group is mapped to the lowest rank that is sure (all 118 dog breeds -> domestic dog,
"gazelle" -> Bovidae, "porcupine" -> Rodentia).

:class:`Rollup` turns probabilities over labelled leaves into one answer (SpeciesNet's rule,
applied to any leaves): the top leaf when it reaches its threshold, else the finest ancestor
(genus, family, order, class) whose summed probability reaches it, labelled "(rank, rolled up)".
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RANKS = ("class", "order", "family", "genus", "species")
IMAGENET_TABLE = Path(__file__).parent / "data" / "imagenet_species.csv"
UNKNOWN = "unknown"
ANIMAL = "animal (rolled up)"


class TaxonomyError(ValueError):
    """A taxonomy table that cannot be used; the message names the row."""


def split_taxonomy(tax: str) -> tuple[str, ...]:
    """``"a;b;c"`` -> ``("a", "b", "c", "", "")``: always five lower-case fields."""
    parts = [p.strip().lower() for p in tax.split(";")]
    if len(parts) > len(RANKS):
        raise TaxonomyError(f"taxonomy {tax!r} has more than {len(RANKS)} fields ({';'.join(RANKS)})")
    parts += [""] * (len(RANKS) - len(parts))
    depth = depth_of(parts)
    if any(not p for p in parts[:depth + 1]):
        raise TaxonomyError(f"taxonomy {tax!r} has an empty rank above a filled one")
    return tuple(parts)


def depth_of(parts) -> int:
    """Index of the finest filled rank (-1: nothing known below the kingdom)."""
    return max((i for i, p in enumerate(parts) if p), default=-1)


def join_taxonomy(parts) -> str:
    return ";".join(parts)


def prefix(parts, depth: int) -> tuple[str, ...]:
    """Ancestor at rank index ``depth`` (fields below it emptied)."""
    return tuple(p if i <= depth else "" for i, p in enumerate(parts))


def within(parts, ancestor) -> bool:
    """True when ``parts`` lies in (or is) the taxon ``ancestor``."""
    d = depth_of(ancestor)
    return all(parts[i] == ancestor[i] for i in range(d + 1))


def taxon_label(parts) -> str:
    """Name of a rolled-up taxon: ``Felidae (family, rolled up)``."""
    d = depth_of(parts)
    if d < 0:
        return ANIMAL
    name = f"{parts[3].capitalize()} {parts[4]}" if d == 4 else parts[d].capitalize()
    return f"{name} ({RANKS[d]}, rolled up)"


@dataclass(frozen=True)
class ImageNetSpecies:
    index: int            # ImageNet-1k class index
    imagenet_name: str
    common_name: str
    scientific_name: str
    rank: str
    taxonomy: tuple[str, ...]


def read_imagenet_table(path: str | os.PathLike = IMAGENET_TABLE) -> list[ImageNetSpecies]:
    """The committed ImageNet class -> species table, checked row by row."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                parts = split_taxonomy(row["taxonomy"])
                out.append(ImageNetSpecies(int(row["imagenet_index"]), row["imagenet_name"], row["common_name"],
                                           row["scientific_name"], row["rank"], parts))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise TaxonomyError(f"{path}: line {line}: {exc}") from exc
    return out


def read_label_taxonomy(path: str | os.PathLike, labels: list[str]) -> dict[str, str]:
    """A user's ``label,taxonomy`` CSV (or ``label,class,order,family,genus,species``) -> label -> string.

    Every row must name one of ``labels`` (the model's classes); labels left out get no taxonomy
    (they are never rolled up). Errors name the row."""
    path = Path(path)
    if not path.is_file():
        raise TaxonomyError(f"taxonomy file not found: {path}")
    known = {c.lower(): c for c in labels}
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip().lower() for c in reader.fieldnames or []]
        split = all(r in cols for r in RANKS)
        if "label" not in cols or not ("taxonomy" in cols or split):
            raise TaxonomyError(f"{path}: expected columns label,taxonomy (or label,{','.join(RANKS)}); "
                                f"found {cols or 'no header'}")
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if None in raw:
                raise TaxonomyError(f"{path}: line {line}: more fields than the header has")
            label = row.get("label", "")
            if not label:
                raise TaxonomyError(f"{path}: line {line}: empty label")
            if label.lower() not in known:
                raise TaxonomyError(f"{path}: line {line}: unknown species {label!r}; the model's classes are "
                                    f"{', '.join(labels)}")
            tax = ";".join(row.get(r, "") for r in RANKS) if split and not row.get("taxonomy") else row["taxonomy"]
            try:
                parts = split_taxonomy(tax)
            except TaxonomyError as exc:
                raise TaxonomyError(f"{path}: line {line}: {exc}") from exc
            if depth_of(parts) < 0:
                raise TaxonomyError(f"{path}: line {line}: empty taxonomy for {label!r}")
            out[known[label.lower()]] = join_taxonomy(parts)
    return out


class Rollup:
    """Probabilities over leaves -> one answer: a leaf, a rolled-up taxon, or ``fallback``.

    Parameters
    ----------
    leaves : leaf names (a model's classes, or zero-shot species).
    taxonomies : one taxonomy string per leaf, or None for a leaf that is never rolled up.
    fallback : ``"unknown"`` (trained models) or :data:`ANIMAL` (zero-shot: the box is an animal).

    Output categories are the leaves (same indices), then every ancestor taxon, then the fallback
    (:data:`ANIMAL`, when it is the fallback) and "unknown" last (a geofence that removes every class).
    """

    def __init__(self, leaves: list[str], taxonomies: list[str | None], fallback: str = UNKNOWN):
        self.leaves = list(leaves)
        self.parts = [split_taxonomy(t) if t else None for t in taxonomies]
        ancestors: set[tuple[str, ...]] = set()
        for p in self.parts:
            if p is not None:  # a leaf's own taxon is a rollup only when other leaves share it
                ancestors.update(prefix(p, d) for d in range(depth_of(p)))
                if sum(q == p for q in self.parts) > 1:
                    ancestors.add(p)
        self.ancestors = sorted(ancestors)
        self.fallback = fallback
        tail = [ANIMAL, UNKNOWN] if fallback == ANIMAL else [UNKNOWN]
        self.categories = self.leaves + [taxon_label(a) for a in self.ancestors] + tail
        self.descriptions = ([join_taxonomy(p) if p else "" for p in self.parts]
                             + [join_taxonomy(a) for a in self.ancestors]
                             + ["animalia" if t == ANIMAL else "" for t in tail])
        self._anc_index = {a: len(self.leaves) + i for i, a in enumerate(self.ancestors)}
        # member[a] = leaf indices inside ancestor a
        self._members = {a: np.array([j for j, p in enumerate(self.parts) if p is not None and within(p, a)])
                         for a in self.ancestors}

    @property
    def unknown_index(self) -> int:
        return len(self.categories) - 1

    def is_rollup(self, category: int) -> bool:
        return len(self.leaves) <= category < self.unknown_index

    def decide(self, p: np.ndarray, thresholds: np.ndarray | float, rollup: bool = True) -> tuple[int, float]:
        """``p`` over leaves -> (category, score). All zero (a geofence removed every class) -> "unknown"."""
        p = np.asarray(p, dtype=float)
        if not np.isfinite(p).all() or p.sum() <= 0:
            return self.unknown_index, 0.0
        k = int(np.argmax(p))
        t = float(np.broadcast_to(thresholds, p.shape)[k])
        if p[k] >= t:
            return k, float(p[k])
        parts = self.parts[k]
        if rollup and parts is not None:
            for d in range(depth_of(parts), -1, -1):
                anc = prefix(parts, d)
                if anc not in self._anc_index:
                    continue
                mass = float(p[self._members[anc]].sum())
                if mass > p[k] + 1e-9 and mass >= t:
                    return self._anc_index[anc], mass
        if self.fallback == ANIMAL:
            return self.unknown_index - 1, float(p.sum())
        return self.unknown_index, float(p[k])
