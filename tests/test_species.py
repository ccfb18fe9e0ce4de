"""Species: the ImageNet taxonomy table, rollup, zero-shot runs, calibration, thresholds, geofence."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, validate_md_json, write_csv

from irbis.calibration import (
    apply_temperature,
    class_thresholds,
    expected_calibration_error,
    fit_temperature,
    fit_trust,
)
from irbis.decision import DecisionOptions, LabelPolicy
from irbis.geofence import AllowList, GeofenceError
from irbis.stages.verify_boxes import GROUPS
from irbis.taxonomy import ANIMAL, UNKNOWN, Rollup, TaxonomyError, read_imagenet_table, read_label_taxonomy

BORNEO = "cameratrap/extra/camtrapR"


class Model:
    """The attributes LabelPolicy reads from a bundle."""

    def __init__(self, classes, trust=None):
        self.classes, self.trust = classes, trust or {}


# -- the committed table ---------------------------------------------------------------------
def test_imagenet_table_covers_every_animal_class_and_agrees_with_the_groups():
    rows = read_imagenet_table()
    assert [r.index for r in rows] == list(range(398))
    by = {r.index: r for r in rows}
    assert by[289].common_name == "snow leopard" and by[289].scientific_name == "Panthera uncia"
    assert by[289].taxonomy == ("mammalia", "carnivora", "felidae", "panthera", "uncia")
    assert {by[i].common_name for i in GROUPS["dogs"]} == {"domestic dog"}
    # (the coarse "wild_canids" group holds the hyena too)
    expect = {"cats": ("mammalia", "carnivora", "felidae"), "wild_canids": ("mammalia", "carnivora"),
              "bears": ("mammalia", "carnivora", "ursidae"), "primates": ("mammalia", "primates"),
              "ungulates": ("mammalia",), "birds": ("aves",), "reptiles": ("reptilia",),
              "amphibians": ("amphibia",)}
    for group, head in expect.items():
        for i in GROUPS[group]:
            assert by[i].taxonomy[:len(head)] == head, (group, by[i])
    for r in rows:   # the rank column says how deep the taxonomy goes
        depth = max((k for k, p in enumerate(r.taxonomy) if p), default=-1)
        assert r.rank == ("kingdom", "class", "order", "family", "genus", "species")[depth + 1], r


# -- rollup ----------------------------------------------------------------------------------
def _zero_shot_policy():
    from irbis.stages.zero_shot import ZeroShotSpecies
    zs = ZeroShotSpecies()
    return zs, LabelPolicy(zs)


def test_two_big_cats_roll_up_and_a_sure_answer_does_not():
    zs, policy = _zero_shot_policy()
    p = np.zeros(len(zs.classes))
    p[zs.classes.index("leopard")], p[zs.classes.index("jaguar")] = 0.45, 0.40
    p[zs.classes.index("domestic dog")] = 0.15
    assert policy.label(p) == ("Panthera (genus, rolled up)", pytest.approx(0.85))
    p = np.zeros(len(zs.classes))
    p[zs.classes.index("cheetah")], p[zs.classes.index("lion")], p[zs.classes.index("koala")] = 0.36, 0.32, 0.32
    assert policy.label(p) == ("Felidae (family, rolled up)", pytest.approx(0.68))
    p = np.zeros(len(zs.classes))
    p[zs.classes.index("snow leopard")], p[zs.classes.index("leopard")] = 0.8, 0.2
    assert policy.label(p) == ("snow leopard", pytest.approx(0.8))
    p = np.zeros(len(zs.classes))
    p[zs.classes.index("common ostrich")], p[zs.classes.index("koala")], p[zs.classes.index("tench")] = .49, .4, .11
    assert policy.label(p)[0] == ANIMAL   # bird vs mammal vs fish: nothing finer than "animal" reaches 0.5
    # the switch: off answers the top class
    assert LabelPolicy(zs, DecisionOptions(threshold_mode="off")).label(p)[0] == "common ostrich"


def test_rollup_of_leaves_sharing_a_taxon_and_the_unknown_fallback():
    r = Rollup(["otter", "badger", "lion", "empty"], ["mammalia;carnivora;mustelidae;;",
                                                      "mammalia;carnivora;mustelidae;;",
                                                      "mammalia;carnivora;felidae;panthera;leo", None])
    p = np.array([0.4, 0.35, 0.15, 0.1])
    assert r.categories[r.decide(p, 0.6)[0]] == "Mustelidae (family, rolled up)"
    assert r.categories[r.decide(p, 0.8)[0]] == "Carnivora (order, rolled up)"
    assert r.categories[r.decide(p, 0.95)[0]] == UNKNOWN
    assert r.categories[r.decide(np.zeros(4), 0.5)[0]] == UNKNOWN


# -- user CSVs: errors name the row ------------------------------------------------------------
def test_taxonomy_csv_errors_name_the_row(tmp_path):
    classes = ["leopard cat", "mousedeer"]
    good = write_csv(tmp_path / "t.csv", ["label", "taxonomy"],
                     [["leopard cat", "mammalia;carnivora;felidae;prionailurus;bengalensis"],
                      ["Mousedeer", "mammalia;cetartiodactyla;tragulidae;tragulus;"]])
    assert read_label_taxonomy(good, classes)["mousedeer"] == "mammalia;cetartiodactyla;tragulidae;tragulus;"
    bad = write_csv(tmp_path / "b.csv", ["label", "taxonomy"],
                    [["leopard cat", "mammalia;carnivora;felidae;prionailurus;bengalensis"], ["tiger", "mammalia"]])
    with pytest.raises(TaxonomyError, match=r"line 3: unknown species 'tiger'"):
        read_label_taxonomy(bad, classes)
    bad.write_text("label,taxonomy\nleopard cat,mammalia;;felidae;;\n")
    with pytest.raises(TaxonomyError, match="line 2: .*empty rank above a filled one"):
        read_label_taxonomy(bad, classes)
    bad.write_text("label,taxonomy\nleopard cat,mammalia,extra\n")
    with pytest.raises(TaxonomyError, match="line 2: more fields"):
        read_label_taxonomy(bad, classes)


def test_allow_list_errors_name_the_row_and_an_empty_result_is_unknown(tmp_path):
    zs, _ = _zero_shot_policy()
    bad = write_csv(tmp_path / "a.csv", ["deployment", "species"], [["CAM1", "snow leopard"], ["CAM1", "yeti"]])
    with pytest.raises(GeofenceError, match=r"line 3: unknown species 'yeti'"):
        AllowList.read(bad, zs.classes, zs.taxonomy, zs.scientific)
    bad.write_text("deployment,species\nCAM1,\n")
    with pytest.raises(GeofenceError, match="line 2: empty 'species'"):
        AllowList.read(bad, zs.classes, zs.taxonomy, zs.scientific)
    allow = write_csv(tmp_path / "ok.csv", ["deployment", "country", "species"],
                      [["CAM1", "", "Panthera uncia"], ["CAM1", "", "Capra"], ["", "KG", "Felidae"],
                       ["", "", "domestic dog"]])
    policy = LabelPolicy(zs, DecisionOptions(allow_species=str(allow), country="kg"))
    p = np.zeros(len(zs.classes))
    p[zs.classes.index("leopard")], p[zs.classes.index("snow leopard")] = 0.7, 0.2
    p[zs.classes.index("ibex")] = 0.1
    assert policy.label(p, "CAM1") == ("snow leopard", pytest.approx(2 / 3))   # leopard suppressed, renormalised
    assert policy.label(p, "CAM2")[0] == "leopard"                            # country rows: any cat
    no_country = LabelPolicy(zs, DecisionOptions(allow_species=str(allow)))
    assert no_country.label(p, "CAM2") == (UNKNOWN, 0.0)                      # only dogs allowed: nothing left


# -- calibration and thresholds ---------------------------------------------------------------
def test_temperature_fixes_overconfidence_and_thresholds_reach_the_target():
    rng = np.random.default_rng(0)
    n, k = 2000, 3
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.0
    honest = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    over = apply_temperature(honest, 0.3)                  # sharpened: overconfident
    t = fit_temperature(over, y)
    assert 2.8 < t < 4.0                                   # ~1 / 0.3 undoes it
    assert expected_calibration_error(apply_temperature(over, t), y) < expected_calibration_error(over, y) / 2
    thr, stats = class_thresholds(honest, y, k, 0.9)
    for c in range(k):
        answered = (honest.argmax(1) == c) & (honest.max(1) >= thr[c])
        assert (y[answered] == c).mean() >= 0.9 and stats[c]["answers"] == answered.sum()
    trust = fit_trust(over, y, np.arange(n) % 5, ["a", "b", "c"], 0.9)
    assert trust["ece_after"] < trust["ece_before"]


# -- real photos end to end ------------------------------------------------------------------------
def _borneo_labels(kit: Path, tmp_path: Path) -> Path:
    rows = []
    with open(kit / BORNEO / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] == "animal" and r["file"].startswith("Station"):
                rows.append([str(kit / BORNEO / r["file"]), r["label"].split(" (")[0]])
    # no deployment column: three species were seen at one station only, so CV groups by sequence
    return write_csv(tmp_path / "labels.csv", ["file", "label"], rows)


def test_train_records_trust_and_predict_uses_it(kit, tmp_path):
    labels = _borneo_labels(kit, tmp_path)
    tax = write_csv(tmp_path / "tax.csv", ["label", "class", "order", "family", "genus", "species"],
                    [["leopard cat", "mammalia", "carnivora", "felidae", "prionailurus", "bengalensis"],
                     ["Malay civet", "mammalia", "carnivora", "viverridae", "viverra", "tangalunga"],
                     ["moonrat", "mammalia", "eulipotyphla", "erinaceidae", "echinosorex", "gymnura"],
                     ["mousedeer", "mammalia", "cetartiodactyla", "tragulidae", "tragulus", ""],
                     ["southern pig-tailed macaque", "mammalia", "primates", "cercopithecidae", "macaca",
                      "nemestrina"]])
    model = tmp_path / "m.irbis"
    proc = run_cli("train", labels, "--out", model, "--target-precision", "0.9", "--taxonomy", tax, "--quiet")
    assert "calibration" in proc.stdout
    bundle = pickle.loads(model.read_bytes())["bundle"]
    trust = bundle.trust
    assert len(trust["thresholds"]) == 5 and trust["target_precision"] == 0.9 and trust["temperature"] > 0
    assert trust["taxonomy"]["moonrat"].startswith("mammalia;eulipotyphla")
    photos = tmp_path / "photos"
    shutil.copytree(kit / BORNEO / "StationC", photos)
    out_on, out_off = tmp_path / "on.csv", tmp_path / "off.csv"
    run_cli("predict", model, photos, "--out", out_on, "--quiet")
    run_cli("predict", model, photos, "--out", out_off, "--quiet", "--threshold-mode", "off")
    on = list(csv.DictReader(open(out_on)))
    off = list(csv.DictReader(open(out_off)))
    assert {r["predicted"] for r in off} <= set(bundle.classes)
    assert {r["predicted"] for r in on} <= set(LabelPolicy(bundle).categories)
    for a, b in zip(on, off, strict=True):   # a thresholded answer is either the same class or says it is unsure
        assert a["predicted"] == b["predicted"] or a["predicted"] == UNKNOWN or "rolled up" in a["predicted"]
    bad = write_csv(tmp_path / "allow.csv", ["species"], [["tiger"]])
    proc = run_cli("predict", model, photos, "--out", tmp_path / "x.csv", "--allow-species", bad, check=False)
    assert proc.returncode == 2 and "line 2: unknown species 'tiger'" in proc.stderr
    assert not (tmp_path / "x.csv").exists()


def test_run_zero_shot_species_on_the_heron_burst(kit, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(kit / "cameratrap/dev/camtrapdp_heron", photos / "heron",
                    ignore=shutil.ignore_patterns("*.csv", "*.json"))
    out = tmp_path / "run.json"
    proc = run_cli("run", photos, "--classifier", "imagenet-species", "--out", out,
                   "--detector", "megadetector-lite-fast", "--quiet")
    assert "animal boxes by class" in proc.stdout
    assert validate_md_json(out)["errors"] == []
    d = json.loads(out.read_text())
    cats, desc = d["classification_categories"], d["classification_category_descriptions"]
    assert desc[next(k for k, v in cats.items() if v == "snow leopard")] == "mammalia;carnivora;felidae;panthera;uncia"
    answers = [cats[det["classifications"][0][0]] for im in d["images"] for det in im["detections"] or []
               if det["category"] == "1" and det.get("classifications")]
    assert answers
    birds = [a for a in answers if desc.get(next(k for k, v in cats.items() if v == a), "").startswith("aves")]
    assert len(birds) >= len(answers) / 2, answers     # a heron: a bird (species or rolled up)
    predict_out = tmp_path / "p.csv"
    run_cli("predict", "imagenet-species", photos, "--out", predict_out, "--quiet")
    assert len(list(csv.DictReader(open(predict_out)))) == 10
