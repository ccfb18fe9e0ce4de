"""Features are cached by content: a re-run computes only new photos."""

from __future__ import annotations

import shutil

import numpy as np

from conftest import DEMO
from irbis.catalog import Catalog
from irbis.features import compute_features
from irbis.feature_cache import FeatureCache
from irbis.ingest import ingest_folder
from irbis.stages.featurize import Featurizer, FeaturizeSpec, FeaturizeStage


def test_rerun_skips_recomputation_and_new_photos_only_are_computed(tmp_path, featurizer, monkeypatch):
    photos = tmp_path / "photos"
    shutil.copytree(DEMO / "test" / "heron_burst", photos / "cam")
    cache = FeatureCache(tmp_path / "features.sqlite")
    both = FeaturizeStage(FeaturizeSpec(flips=(False, True)), featurizer)
    one = FeaturizeStage(FeaturizeSpec(), featurizer)
    with Catalog(tmp_path / "c.sqlite") as cat:
        ingest_folder(photos, cat, progress=False)
        recs = cat.images(photos)
        first = compute_features(recs, both, cache=cache)
        assert (first.computed, first.cached) == (10, 0)
        calls = []
        real_run = Featurizer.run
        monkeypatch.setattr(Featurizer, "run", lambda self, b: calls.append(len(b)) or real_run(self, b))
        second = compute_features(recs, both, cache=cache)
        assert (second.computed, second.cached, calls) == (0, 10, [])
        for key, vec in first.features.items():
            np.testing.assert_array_equal(vec, second.features[key])
        # a renamed copy has the same content: still no work; one new photo: one computation
        shutil.copy(photos / "cam" / "20210531082538-RCNX0031.JPG", photos / "cam" / "copy.JPG")
        shutil.copy(DEMO / "train" / "animals" / "jaguar.webp", photos / "cam" / "new.webp")
        ingest_folder(photos, cat, progress=False)
        third = compute_features(cat.images(photos), one, cache=cache)
        assert (third.computed, third.cached) == (1, 11) and len(calls) == 1
    # another layer is another key
    other = compute_features(recs[:2], FeaturizeSpec(layer="stage6").build(), cache=cache)
    assert other.computed == 2
    assert cache.count() == 10 * 2 + 1 + 2
