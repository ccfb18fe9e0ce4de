"""The engine seam: stages rebuild from picklable specs; the local engine hands every photo to the sink
exactly once (result or failure) and reports progress as events."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import DEMO
from irbis.engines import get_engine
from irbis.imageio import ImageReadError
from irbis.progress import Progress
from irbis.records import ImageRecord
from irbis.stages import Stage, StageSpec
from irbis.stages.classify import ClassifierSpec
from irbis.stages.crops import CropFeaturizeSpec
from irbis.stages.featurize import FeaturizeSpec
from irbis.stages.survey import SurveySpec


def rec(i: int, path: str = "x.jpg") -> ImageRecord:
    return ImageRecord(i, path, "/", path, "cam", f"sha{i}", None, None, None, None, None)


@dataclass(frozen=True)
class ToySpec:
    def build(self) -> "ToyStage":
        return ToyStage(self)


class ToyStage:
    """prepare fails for photo 1 (a bad file), run fails for photo 2 (a model error)."""
    failure_label = "toy"

    def __init__(self, spec: ToySpec):
        self.spec = spec

    @property
    def id(self) -> str:
        return "toy"

    def prepare(self, record: ImageRecord):
        if record.id == 1:
            raise ImageReadError("corrupt image: not a JPEG")
        return record.id

    def run(self, batch):
        if 2 in batch:
            raise RuntimeError("boom")
        return [x * 10 for x in batch]


class ListSink:
    def __init__(self):
        self.results, self.failures = {}, {}

    def put(self, record, result):
        assert record.id not in self.results
        self.results[record.id] = result

    def fail(self, record, reason):
        assert record.id not in self.failures
        self.failures[record.id] = reason


def test_local_engine_gives_each_photo_once_with_failures_and_progress_events():
    sink, events = ListSink(), []
    stage = ToySpec().build()
    assert isinstance(stage, Stage) and isinstance(stage.spec, StageSpec)
    get_engine("local", decode_threads=2).map(stage, [rec(i) for i in range(6)], sink, events.append, "toy")
    assert sink.results == {0: 0, 3: 30, 4: 40, 5: 50}
    assert sink.failures == {1: "corrupt image: not a JPEG", 2: "toy failed: RuntimeError: boom"}
    assert [e.kind for e in events] == ["start"] + ["photo"] * 6 + ["end"]
    assert events[-1] == Progress("end", "toy", 6, 6, 2)
    assert [e.record.id for e in events if e.kind == "photo"] == list(range(6))   # in order


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("mapreduce")


@pytest.mark.parametrize("spec", [
    FeaturizeSpec(flips=(False, True)),
    CropFeaturizeSpec(FeaturizeSpec(), "megadetector-lite-raw"),
    SurveySpec("megadetector-lite-raw", threshold=0.3),
], ids=["featurize", "crops", "survey"])
def test_specs_pickle_and_rebuild_an_equal_stage(spec):
    clone = pickle.loads(pickle.dumps(spec))
    assert clone == spec
    a, b = spec.build(), clone.build()
    assert a.id == b.id and isinstance(a, Stage)


def test_classifier_stage_from_a_bundle_spec(tmp_path):
    from irbis.train import train
    bundle = tmp_path / "m.irbis"
    train(DEMO / "train" / "labels.csv", bundle, flip=False, C=1.0)
    spec = pickle.loads(pickle.dumps(ClassifierSpec(str(bundle))))
    clf = spec.build()
    from PIL import Image
    im = Image.open(sorted((DEMO / "train" / "animals").iterdir())[0]).convert("RGB")
    p = clf.predict_images([im, im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert clf.classes == ["animal", "no_animal"]
