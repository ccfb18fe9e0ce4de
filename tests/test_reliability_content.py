"""Caches and journals are keyed by the hash of the bytes actually decoded (issue 9, item 1).

The probe: a photo replaced between ingest and featurizing stored the new photo's features under
the old photo's hash, and every later run on a pristine copy of the old photo got them."""

from __future__ import annotations

import shutil

import numpy as np
from conftest import DEMO

from irbis.detection_run import detect_records
from irbis.feature_cache import FeatureCache
from irbis.features import compute_features
from irbis.hashing import content_hash
from irbis.predict import folder_records
from irbis.runs import RunJournal
from irbis.stages.featurize import FeaturizeSpec
from irbis.stages.survey import SurveySpec

OWL = DEMO / "train" / "animals" / "polar_bear.webp"
EMPTY = sorted((DEMO / "train" / "no_animals").glob("*.webp"))[0]


def test_a_photo_replaced_after_ingest_never_poisons_the_feature_cache(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(OWL, photos / "owl.webp")
    records = folder_records(photos, tmp_path / "c.sqlite")          # hash taken: the owl
    owl_sha = records[0].sha256
    shutil.copy(EMPTY, photos / "owl.webp")                          # a sync tool rewrites the file
    stage = FeaturizeSpec().build()
    cache = FeatureCache(tmp_path / "features.sqlite")
    table = compute_features(records, stage, cache=cache)
    assert "changed after it was catalogued" in table.failures[records[0].id]
    assert cache.get_many(stage.id, [(owl_sha, False)]) == {}          # nothing stored under the owl's hash
    # The next run sees the new content and stores it under its own hash; a pristine owl is computed afresh.
    records = folder_records(photos, tmp_path / "c.sqlite")
    assert records[0].sha256 == content_hash(EMPTY)
    table = compute_features(records, stage, cache=cache)
    assert table.computed == 1 and not table.failures
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(OWL, clean / "owl.webp")
    owl = folder_records(clean, tmp_path / "c2.sqlite")
    t2 = compute_features(owl, stage, cache=cache)
    assert t2.computed == 1 and t2.cached == 0
    fresh = compute_features(owl, stage, cache=False)
    assert np.allclose(t2.features[(owl[0].id, False)], fresh.features[(owl[0].id, False)])
    cache.close()


def test_prepare_hashes_the_bytes_it_decodes(tmp_path):
    photos = tmp_path / "p"
    photos.mkdir()
    shutil.copy(OWL, photos / "a.webp")
    rec = folder_records(photos, tmp_path / "c.sqlite")[0]
    assert FeaturizeSpec().build().prepare(rec).sha256 == content_hash(OWL)


def test_a_photo_replaced_after_ingest_is_not_journalled_with_another_photos_detections(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(OWL, photos / "a.webp")
    records = folder_records(photos, tmp_path / "c.sqlite")
    shutil.copy(EMPTY, photos / "a.webp")
    with RunJournal(tmp_path / "out.json", {"s": 1}) as journal:
        detect_records(records, SurveySpec("megadetector-lite-raw").build(), journal)
        entry = next(iter(journal.done.values()))
    assert "changed after it was catalogued" in entry["failure"] and "detections" not in entry
