"""What a box is, in the words of the exchange formats: observation type, taxon, probability.

A detection is an animal / person / vehicle box; a classified animal box also has the
classifier's best class. A class -> taxon map (CSV ``class,scientificName`` with optional
``taxonID``, ``taxonRank``, ``vernacularName``, ``observationType``) turns class names such as
``deer`` into scientific names; classes named like empty / blank become blank observations and
person / human ones human observations.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

OBSERVATION_TYPES = ("animal", "human", "vehicle", "blank", "unknown", "unclassified")
CATEGORY_TYPES = {"animal": "animal", "person": "human", "human": "human", "vehicle": "vehicle"}
CLASS_TYPES = {"empty": "blank", "blank": "blank", "none": "blank", "nothing": "blank",
               "person": "human", "human": "human", "people": "human", "homo sapiens": "human",
               "vehicle": "vehicle", "car": "vehicle", "unknown": "unknown"}
TAXON_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species", "subspecies")


class TaxonomyError(ValueError):
    """A class -> taxon map that cannot be used; the message names the line."""


@dataclass(frozen=True)
class Taxon:
    scientific_name: str
    taxon_id: str = ""
    taxon_rank: str = ""
    vernacular_name: str = ""
    observation_type: str = "animal"


@dataclass
class TaxonMap:
    by_class: dict[str, Taxon] = field(default_factory=dict)
    unmapped: set[str] = field(default_factory=set)        # animal classes used as their own name

    def observation_type(self, label: str) -> str:
        t = self.by_class.get(label)
        return t.observation_type if t else CLASS_TYPES.get(label.strip().lower(), "animal")

    def taxon(self, label: str) -> Taxon | None:
        """The taxon of an animal class (None for blank / human / vehicle classes)."""
        if self.observation_type(label) != "animal":
            return None
        if label not in self.by_class:
            self.unmapped.add(label)
            return Taxon(label)
        return self.by_class[label]


def read_taxonomy(path: str | os.PathLike | None) -> TaxonMap:
    if path is None:
        return TaxonMap()
    out = TaxonMap()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        if not {"class", "scientificName"} <= cols:
            raise TaxonomyError(f"{path}: needs columns 'class' and 'scientificName'; found {sorted(cols)}")
        for line, row in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in row.items() if k}
            otype = row.get("observationType") or ("animal" if row["scientificName"] else
                                                   CLASS_TYPES.get(row["class"].lower(), "unknown"))
            if otype not in OBSERVATION_TYPES:
                raise TaxonomyError(f"{path} line {line}: observationType {otype!r} is not one of {OBSERVATION_TYPES}")
            if row.get("taxonRank") and row["taxonRank"] not in TAXON_RANKS:
                raise TaxonomyError(f"{path} line {line}: taxonRank {row['taxonRank']!r} is not one of {TAXON_RANKS}")
            if not row["class"]:
                raise TaxonomyError(f"{path} line {line}: empty class")
            out.by_class[row["class"]] = Taxon(row["scientificName"], row.get("taxonID", ""), row.get("taxonRank", ""),
                                               row.get("vernacularName", ""), otype)
    return out


@dataclass(frozen=True)
class BoxLabel:
    observation_type: str            # animal / human / vehicle / blank / unknown
    name: str                        # scientific name for animals (may be ""), else the type
    probability: float | None        # the classifier's for a class, else the detector's confidence
    taxon: Taxon | None = None


def box_label(det: dict, categories: dict[str, str], classes: dict[str, str], taxa: TaxonMap) -> BoxLabel:
    """The label of one MD detection: its best classification when it has one, else its category."""
    category = categories.get(str(det["category"]), "animal")
    otype = CATEGORY_TYPES.get(category, "unknown")
    if otype == "animal" and det.get("classifications"):
        cls_id, p = max(det["classifications"], key=lambda c: c[1])
        label = classes.get(str(cls_id), str(cls_id))
        ctype = taxa.observation_type(label)
        taxon = taxa.taxon(label)
        return BoxLabel(ctype, taxon.scientific_name if taxon else ctype, float(p), taxon)
    return BoxLabel(otype, "" if otype == "animal" else otype, float(det["conf"]), None)


def species_key(label: BoxLabel) -> str:
    """A readable species / kind for tables: the scientific name, else 'animal' / 'human' / ..."""
    return label.name or label.observation_type
