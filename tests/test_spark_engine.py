"""The spark engine gives the local engine's results: features, detections, predictions, failures.

One real local Spark session (``local[2]``, task retries on) for the module; Spark's Python
workers import irbis and tests/spark_stages.py from this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, REPO, read_rows, run_cli
from test_bad_input import make_bad_folder
from test_detect_run import comparable

from irbis.engines import get_engine
from irbis.engines.spark import EngineUnavailable, SparkEngine, check_java, java_version, with_local_retries
from irbis.hashing import content_hash
from irbis.records import ImageRecord
from irbis.stages.featurize import FeaturizeSpec

FAST = "megadetector-lite-fast"


class ListSink:
    """Every put / fail in the order received."""

    def __init__(self):
        self.calls: list[tuple[int, str, object]] = []

    def put(self, record, result):
        self.calls.append((record.id, "put", result))

    def fail(self, record, reason):
        self.calls.append((record.id, "fail", reason))


def records_for(paths: list[Path]) -> list[ImageRecord]:
    # The real content hash: engines check that the bytes they decode are the ones catalogued.
    return [ImageRecord(i, str(p), str(p.parent), p.name, "d", content_hash(p) if p.is_file() else None, None, None,
                        None, None, None)
            for i, p in enumerate(paths)]


# -- no Spark needed ---------------------------------------------------------------------------
def test_local_masters_get_task_retries():
    assert with_local_retries("local[2]") == "local[2,4]"
    assert with_local_retries("local[*]") == "local[*,4]"
    assert with_local_retries("local") == "local[1,4]"
    assert with_local_retries("local[2,3]") == "local[2,3]"
    assert with_local_retries("spark://head:7077") == "spark://head:7077"


def test_java_version_of_this_machine_is_found():
    assert java_version(check_java()) >= 17


def test_missing_java_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(EngineUnavailable, match="Java 17"):
        get_engine("spark")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(DEMO / "train/animals/polar_bear.webp", photos)
    env = {"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": str(Path(sys.executable).parent)}
    proc = run_cli("featurize", photos, "--engine", "spark", "--quiet", env=env, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Java 17" in lines[0] and "openjdk-17" in lines[0], proc.stderr


def test_retried_rows_reach_the_sink_once_and_in_order():
    class Duplicating(SparkEngine):
        def results(self, stage, records):      # a retried task's rows arriving twice, out of order
            yield from [(2, True, "c", None), (0, True, "a", None), (2, True, "c", None),
                        (1, False, None, "bad"), (0, True, "a", None)]

    engine = Duplicating.__new__(Duplicating)
    recs = records_for([Path(f"/x/{i}.jpg") for i in range(3)])
    sink = ListSink()
    engine.map(None, recs, sink)
    assert sink.calls == [(0, "put", "a"), (1, "fail", "bad"), (2, "put", "c")]


# -- a real local Spark ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark(irbis_home):
    from irbis.engines.spark import spark_session
    tests = str(REPO / "tests")
    path = os.pathsep.join([str(REPO), tests] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    session = spark_session("local[2]", conf={"spark.executorEnv.PYTHONPATH": path})
    yield session
    session.stop()


@pytest.fixture()
def engine(spark):
    # small partitions and windows: several Spark jobs and tasks even for a dozen photos
    return SparkEngine(spark=spark, batch_size=2, partition_photos=3, window=2)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, kit) -> Path:
    """Real trap frames (a heron burst, jaguars, MegaDetector's hard cases) and broken files."""
    root = tmp_path_factory.mktemp("spark-photos")
    shutil.copytree(kit / "cameratrap/dev/camtrapdp_heron", root / "heron",
                    ignore=shutil.ignore_patterns("*.csv", "*.json"))
    for sub, n in (("animl_Jaguar", 4), ("megadetector_samples", 4)):
        (root / sub).mkdir()
        for f in sorted((kit / "cameratrap/dev" / sub).glob("*.jpg"))[:n]:
            shutil.copy(f, root / sub / f.name)
    make_bad_folder(root / "bad")
    (root / "bad" / "enormous.JPG").unlink()     # 600 MB sparse file: test_bad_input covers it
    return root


@pytest.mark.slow
def test_features_equal_the_local_engine(engine, photos):
    from irbis.features import compute_features
    from irbis.predict import folder_records
    records = folder_records(photos, photos.parent / "catalog-f.sqlite")
    stage = FeaturizeSpec(flips=(False, True)).build()
    local = compute_features(records, stage, get_engine("local"), cache=False)
    spark = compute_features(records, stage, engine, cache=False)
    assert local.computed == spark.computed > 15
    assert spark.failures == local.failures and len(spark.failures) >= 5
    assert spark.features.keys() == local.features.keys()
    diff = max(float(np.abs(spark.features[k] - local.features[k]).max()) for k in local.features)
    assert diff <= 1e-5


@pytest.mark.slow
def test_broken_files_become_failure_rows(engine, tmp_path):
    """Files the engine itself must survive (ingest would catch most of them first)."""
    expected = make_bad_folder(tmp_path)
    names = ["good.webp", "truncated.jpg", "bomb.png", "text.jpg", "zero.jpg", "one_pixel.png", "cmyk.jpg"]
    recs = records_for([tmp_path / n for n in names])
    stage = FeaturizeSpec().build()
    sink, local = ListSink(), ListSink()
    engine.map(stage, recs, sink)
    get_engine("local").map(stage, recs, local)
    assert [c[:2] for c in sink.calls] == [c[:2] for c in local.calls]
    for (_, kind, value), name in zip(sink.calls, names, strict=True):
        if expected[name] is None:
            assert kind == "put"
        else:
            assert kind == "fail" and expected[name] in value
    assert [c[2] for c in sink.calls if c[1] == "fail"] == [c[2] for c in local.calls if c[1] == "fail"]


@pytest.mark.slow
def test_a_killed_python_worker_loses_and_duplicates_nothing(engine, photos, tmp_path):
    from spark_stages import CrashOnceSpec
    paths = sorted((photos / "heron").glob("*.JPG"))
    recs = records_for(paths)
    marker = tmp_path / "killed"
    stage = CrashOnceSpec(FeaturizeSpec(), str(marker), crash_at=4).build()
    sink, local = ListSink(), ListSink()
    engine.map(stage, recs, sink)
    assert marker.is_file(), "the worker was not killed"
    assert [c[0] for c in sink.calls] == [r.id for r in recs]
    assert all(c[1] == "put" for c in sink.calls)
    get_engine("local").map(FeaturizeSpec().build(), recs, local)
    for a, b in zip(sink.calls, local.calls, strict=True):
        assert np.array_equal(a[2].vectors, b[2].vectors)


@pytest.mark.slow
def test_detections_equal_the_local_engine(engine, photos, tmp_path):
    from irbis.detection_run import RunOptions, run_survey
    options = RunOptions(detector=FAST, threads=1)
    run_survey(photos, tmp_path / "local.json", None, options, tmp_path / "c1.sqlite", engine=get_engine("local"))
    report = run_survey(photos, tmp_path / "spark.json", None, options, tmp_path / "c2.sqlite", engine=engine)
    assert report.failures and report.with_detections > 5
    assert comparable(tmp_path / "spark.json") == comparable(tmp_path / "local.json")


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory) -> Path:
    from irbis.train import train
    out = tmp_path_factory.mktemp("m") / "quick.irbis"
    train(DEMO / "train" / "labels.csv", out, C=1.0, flip=False)
    return out


@pytest.mark.slow
def test_predict_writes_the_local_csv(engine, photos, quick_model, tmp_path, monkeypatch):
    from irbis.predict import predict
    outs = {}
    for name, eng in (("local", get_engine("local")), ("spark", engine)):
        # a feature cache per engine, so the second run computes its features too
        monkeypatch.setattr("irbis.features.feature_cache_path", lambda n=name: tmp_path / f"{n}.sqlite")
        report = predict(quick_model, photos, tmp_path / f"{name}.csv", by_sequence=True,
                         catalog_path=tmp_path / f"{name}-catalog.sqlite", engine=eng)
        assert report.computed > 15 and report.cached == 0
        outs[name] = (tmp_path / f"{name}.csv").read_bytes()
    assert outs["spark"] == outs["local"]
    assert any(r["failure"] for r in read_rows(tmp_path / "spark.csv"))


@pytest.mark.slow
def test_cli_detect_engine_spark_writes_the_local_file(photos, tmp_path):
    heron = photos / "heron"
    for engine in ("local", "spark"):
        run_cli("detect", heron, "--out", tmp_path / f"{engine}.json", "--detector", FAST, "--threads", "1",
                "--engine", engine, "--spark-master", "local[2]", "--catalog", tmp_path / f"{engine}.sqlite",
                "--quiet")
    assert comparable(tmp_path / "spark.json") == comparable(tmp_path / "local.json")
    assert json.loads((tmp_path / "spark.json").read_text())["images"]


@pytest.mark.slow
def test_sequence_ensemble_groupby_equals_the_local_one(spark):
    from irbis.engines.spark_ensemble import ensemble_on_spark
    from irbis.stages.ensemble import ensemble_by_key
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=40)
    probs[5, 0] = 0.0                                # clipped for the geometric mean
    keys = [f"s{i % 7}" if i % 9 else None for i in range(40)]
    classes = ["empty", "deer", "fox"]
    local = ensemble_by_key(keys, probs, classes)
    got = ensemble_on_spark(spark, keys, probs, classes)
    assert got.keys() == local.keys()
    for k in local:
        np.testing.assert_allclose(got[k], local[k], rtol=0, atol=1e-12)


# -- photos read by URL (binaryFile) ----------------------------------------------------------
def test_a_url_with_the_local_engine_is_one_clear_line(tmp_path):
    proc = run_cli("detect", tmp_path.as_uri(), "--out", tmp_path / "md.json", "--quiet", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--engine spark" in lines[0], proc.stderr


def by_name(records, values: dict) -> dict:
    return {r.rel_path: values[r.id] for r in records if r.id in values}


@pytest.mark.slow
def test_url_input_gives_the_path_input_results(engine, photos, tmp_path):
    """file:// URLs read by the executors (the driver opens no photo) give path input's catalog,
    features, failures and MD JSON; Spark's listing leaves out empty files (the one difference)."""
    from irbis.detection_run import RunOptions, run_survey
    from irbis.features import compute_features
    from irbis.predict import folder_records
    root = tmp_path / "photos"
    shutil.copytree(photos, root)
    with open(root / "bad" / "enormous.JPG", "wb") as fh:   # sparse: listed, never read
        fh.truncate(600 * 2**20)
    url = root.as_uri()
    assert url.startswith("file:///")
    path_recs = folder_records(root, tmp_path / "c-path.sqlite")
    url_recs = folder_records(url, tmp_path / "c-url.sqlite", engine=engine)
    empty = {r.rel_path for r in path_recs if r.failure and "empty file" in r.failure}
    assert empty == {"bad/zero.jpg"}
    assert {r.rel_path for r in url_recs} == {r.rel_path for r in path_recs} - empty
    assert all(r.path.startswith("file:/") for r in url_recs)
    fields = ("sha256", "taken_at", "sequence_id", "deployment", "width", "height", "failure")
    path_by = {r.rel_path: r for r in path_recs}
    for r in url_recs:
        assert [getattr(r, f) for f in fields] == [getattr(path_by[r.rel_path], f) for f in fields], r.rel_path
    assert "file too large" in {r.rel_path: r.failure for r in url_recs}["bad/enormous.JPG"]

    stage = FeaturizeSpec(flips=(False, True)).build()
    local = compute_features([r for r in path_recs if r.rel_path not in empty], stage, get_engine("local"),
                             cache=False)
    spark = compute_features(url_recs, stage, engine, cache=False)
    assert spark.computed == local.computed > 15
    assert by_name(url_recs, spark.failures) == by_name(path_recs, local.failures)
    ids = {r.rel_path: r.id for r in url_recs}
    for r in path_recs:
        for flip in (False, True):
            if (r.id, flip) in local.features:
                diff = np.abs(spark.features[(ids[r.rel_path], flip)] - local.features[(r.id, flip)]).max()
                assert diff <= 1e-5, r.rel_path

    options = RunOptions(detector=FAST, threads=1)
    run_survey(root, tmp_path / "local.json", None, options, tmp_path / "d1.sqlite", engine=get_engine("local"))
    report = run_survey(url, tmp_path / "spark.json", None, options, tmp_path / "d2.sqlite", engine=engine)
    assert report.failures and report.with_detections > 5
    want = comparable(tmp_path / "local.json")
    want["images"] = [im for im in want["images"] if im["file"] not in empty]
    assert comparable(tmp_path / "spark.json") == want


@pytest.mark.slow
def test_url_input_survives_a_killed_python_worker(engine, photos, tmp_path):
    """As for path input: a Python worker killed mid-job (SIGKILL) loses and duplicates nothing."""
    from spark_stages import CrashOnceSpec

    from irbis.predict import folder_records
    recs = folder_records((photos / "heron").as_uri(), tmp_path / "c.sqlite", engine=engine)
    marker = tmp_path / "killed"
    stage = CrashOnceSpec(FeaturizeSpec(), str(marker), crash_at=recs[4].id).build()
    sink = ListSink()
    engine.map(stage, recs, sink)
    assert marker.is_file(), "the worker was not killed"
    assert [c[0] for c in sink.calls] == [r.id for r in recs] and len(recs) >= 6
    assert all(c[1] == "put" for c in sink.calls)


@pytest.mark.slow
def test_cli_featurize_reads_a_url_with_engine_spark(photos, tmp_path):
    heron = tmp_path / "heron"
    shutil.copytree(photos / "heron", heron)
    # an irbis home of its own: other tests have cached these frames' features in the session's home
    proc = run_cli("featurize", heron.as_uri(), "--engine", "spark", "--spark-master", "local[2]",
                   "--catalog", tmp_path / "c.sqlite", "--parquet", tmp_path / "features", "--quiet",
                   env={"IRBIS_HOME": str(tmp_path / "home")})
    n = len(list(heron.glob("*.JPG")))
    assert f"{n} photos: {n} featurized" in proc.stdout, proc.stdout
    import pyarrow.dataset as ds
    table = ds.dataset(tmp_path / "features", partitioning="hive").to_table().to_pylist()
    assert sorted(r["file"] for r in table) == sorted(p.name for p in heron.glob("*.JPG"))


# -- --trainer spark ---------------------------------------------------------------------------
def predicted(csv_path: Path) -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for r in read_rows(csv_path):
        if not r["failure"]:
            probs = np.array([float(v) for k, v in r.items() if k.startswith("prob_")])
            out[r["file"]] = (r["predicted"], probs)
    return out


def agreement(a: dict, b: dict) -> tuple[float, float]:
    """Share of photos with the same top class, and the largest probability difference."""
    assert a.keys() == b.keys() and len(a) > 10
    same = np.mean([a[k][0] == b[k][0] for k in a])
    return float(same), max(float(np.abs(a[k][1] - b[k][1]).max()) for k in a)


@pytest.mark.slow
def test_spark_trainer_predicts_as_sklearn_multiclass(engine, photos, tmp_path):
    """Spark ML's multinomial fit in the bundle's scikit-learn model: the same answers as
    scikit-learn's own fit at the same C. Coefficients are not identical (Spark standardises with
    the sample standard deviation and stops at its own tolerance; regParam = 1 / (C n) maps the
    penalty), so probabilities may differ a little: measured <= 0.005 on the dev frames."""
    from irbis.models.bundle import ModelBundle
    from irbis.predict import predict
    from irbis.train import train
    labels = tmp_path / "labels.csv"
    rows = [(f"{sub}/{p.name}", sub) for sub in ("heron", "animl_Jaguar", "megadetector_samples")
            for p in sorted((photos / sub).iterdir())]
    labels.write_text("file,label\n" + "".join(f"{photos / f},{c}\n" for f, c in rows))
    outs = {}
    for trainer in ("sklearn", "spark"):
        model = tmp_path / f"{trainer}.irbis"
        report = train(labels, model, C=1.0, flip=False, catalog_path=tmp_path / "train.sqlite", trainer=trainer,
                       engine=engine if trainer == "spark" else None)
        assert report.classes == ["animl_Jaguar", "heron", "megadetector_samples"]
        predict(model, photos, tmp_path / f"{trainer}.csv", catalog_path=tmp_path / "p.sqlite")
        outs[trainer] = predicted(tmp_path / f"{trainer}.csv")
    bundle = ModelBundle.load(tmp_path / "spark.irbis")
    assert bundle.task == "multiclass" and bundle.metrics["trainer"] == "spark" and "thresholds" not in bundle.trust
    assert bundle.classifier[-1].coef_.shape == (3, 1280)
    same, diff = agreement(outs["spark"], outs["sklearn"])
    assert same >= 0.95 and diff <= 0.05, (same, diff)


@pytest.mark.slow
def test_cli_train_trainer_spark_binary(quick_model, tmp_path):
    """`irbis train --trainer spark` (binomial) writes a bundle `irbis predict` uses unchanged,
    answering as the scikit-learn bundle of the same C; it says calibration is not available."""
    model = tmp_path / "spark.irbis"
    proc = run_cli("train", DEMO / "train" / "labels.csv", "--out", model, "--C", "1", "--no-flip", "--trainer",
                   "spark", "--spark-master", "local[2]", "--quiet")
    assert "--trainer spark: no cross-validation" in proc.stdout and "calibration: none" in proc.stdout, proc.stdout
    outs = {}
    for name, m in (("spark", model), ("sklearn", quick_model)):
        run_cli("predict", m, DEMO / "test", "--out", tmp_path / f"{name}.csv", "--quiet",
                "--catalog", tmp_path / "c.sqlite")
        outs[name] = predicted(tmp_path / f"{name}.csv")
    same, diff = agreement(outs["spark"], outs["sklearn"])
    assert same >= 0.95 and diff <= 0.05, (same, diff)
