"""Geofence: a user-editable allow-list of the species that may occur, per deployment or country.

CSV columns: ``species`` (required) and optional ``deployment`` and ``country``, e.g.::

    deployment,country,species
    CAM01,,snow leopard
    ,KG,Capra
    ,,Felidae

A row applies to photos of its deployment; a row with only a country applies to every photo
when that country is given (``--country KG``); a row with neither applies everywhere. A photo
gets the rows of its deployment if there are any, else its country's, else the global ones, else
no restriction. ``species`` is a class of the model, a common or scientific name, or any taxon
of the model's taxonomy (``Felidae``, ``Panthera``, ``mammalia``): every class inside it is allowed.

Applied to probabilities, the geofence zeroes the classes that may not occur and renormalises;
when it removes every class with probability, the answer is "unknown" (never a division by zero).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .taxonomy import split_taxonomy


class GeofenceError(ValueError):
    """An allow-list that cannot be used; the message names the row."""


def _names(classes: list[str], taxonomy: dict[str, str], scientific: dict[str, str]) -> dict[str, set[int]]:
    """Every name a user may write -> the class indices it allows."""
    names: dict[str, set[int]] = {}
    for i, c in enumerate(classes):
        names.setdefault(c.lower(), set()).add(i)
        if scientific.get(c):
            names.setdefault(scientific[c].lower(), set()).add(i)
        tax = taxonomy.get(c)
        if tax:
            parts = split_taxonomy(tax)
            for d, p in enumerate(parts):
                if p:
                    names.setdefault(p if d < 4 else f"{parts[3]} {p}", set()).add(i)
    return names


class AllowList:
    """Parsed allow-list: ``mask(deployment, country)`` -> boolean mask over classes, or None."""

    def __init__(self, by_deployment: dict[str, set[int]], by_country: dict[str, set[int]], everywhere: set[int],
                 n_classes: int, source: str = ""):
        self.by_deployment, self.by_country, self.everywhere = by_deployment, by_country, everywhere
        self.n_classes, self.source = n_classes, source

    @classmethod
    def read(cls, path: str | os.PathLike, classes: list[str], taxonomy: dict[str, str] | None = None,
             scientific: dict[str, str] | None = None) -> "AllowList":
        path = Path(path)
        if not path.is_file():
            raise GeofenceError(f"allow-list file not found: {path}")
        names = _names(classes, taxonomy or {}, scientific or {})
        by_dep: dict[str, set[int]] = {}
        by_country: dict[str, set[int]] = {}
        everywhere: set[int] = set()
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = [(c or "").strip().lower() for c in reader.fieldnames or []]
            if "species" not in cols:
                raise GeofenceError(f"{path}: needs a 'species' column (optional: deployment, country); "
                                    f"found {cols or 'no header'}")
            for line, raw in enumerate(reader, start=2):
                if None in raw:
                    raise GeofenceError(f"{path}: line {line}: more fields than the header has")
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not any(row.values()):
                    continue
                species = row.get("species", "")
                if not species:
                    raise GeofenceError(f"{path}: line {line}: empty 'species'")
                allowed = names.get(species.lower())
                if allowed is None:
                    raise GeofenceError(f"{path}: line {line}: unknown species {species!r}: not a class, common or "
                                        f"scientific name, or taxon of this model")
                dep, country = row.get("deployment", ""), row.get("country", "").upper()
                if dep:
                    by_dep.setdefault(dep, set()).update(allowed)
                elif country:
                    by_country.setdefault(country, set()).update(allowed)
                else:
                    everywhere.update(allowed)
        return cls(by_dep, by_country, everywhere, len(classes), str(path))

    def mask(self, deployment: str | None = None, country: str | None = None) -> np.ndarray | None:
        allowed = (self.by_deployment.get(deployment or "") or self.by_country.get((country or "").upper())
                   or self.everywhere)
        if not allowed:
            return None
        m = np.zeros(self.n_classes, bool)
        m[sorted(allowed)] = True
        return m


def apply_mask(p: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Zero the classes outside ``mask`` and renormalise; all zero stays all zero (-> "unknown")."""
    p = np.asarray(p, dtype=float)
    if mask is None:
        return p
    q = np.where(mask, p, 0.0)
    s = q.sum()
    return q / s if s > 0 else q
