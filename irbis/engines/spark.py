"""Spark engine: the same stages on Apache Spark (``local[*]``, a cluster, or Spark Connect).

How a map runs:

* the records become a DataFrame ``(idx, record)`` (the record pickled), sliced into partitions
  of at most ``partition_photos`` contiguous photos; records named by URL (``s3a://``,
  ``file://``, ...) are read by the executors instead, through ``binaryFile``
  (:mod:`irbis.engines.spark_files`), windows of photos at a time;
* ``mapInPandas`` runs :func:`process_batches` on the executors: each Python worker rebuilds the
  stage once from its pickled ``stage.spec`` and runs the local engine's loop (one thread decodes
  ahead, inference photo by photo at batch 1), Arrow batches of ``batch_size`` photos; every error
  is caught per photo and comes back as a failure row (a bad JPEG or a decompression bomb never
  fails a task);
* the driver runs windows of partitions as Spark jobs (all partitions of a window in parallel),
  drops duplicate rows by ``idx`` (a retried task never reaches a sink twice) and hands results to
  the sink in record order, so the sink code (feature cache, run journal) and hence every output
  file are the local engine's.

Results cross the boundary pickled (numpy features and detection dicts round-trip exactly).
A Python worker killed mid-task (kill -9, out of memory) fails that task; Spark retries it
(``spark.task.maxFailures``; for ``local[N]`` masters the engine asks for ``local[N,4]``).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import warnings
from typing import Any, Iterator, Sequence

from ..progress import Listener, Progress, emit
from ..records import ImageRecord, is_url
from ..stages import Stage
from . import Sink

DEFAULT_MASTER = "local[*]"
LOCAL_RETRIES = 4
RESULT_SCHEMA = "idx long, ok boolean, result binary, error string"
LOG4J = ("rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\nappender.console.type = Console\n"
         "appender.console.name = console\nappender.console.target = SYSTEM_ERR\n"
         "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = spark: %p %c{1}: %m%n\n")
JAVA_HELP = ("the spark engine needs Java 17 or newer: install a JDK/JRE 17 (e.g. `apt-get install "
             "openjdk-17-jre-headless`) and put it on PATH or set JAVA_HOME")


class EngineUnavailable(ValueError):
    """The spark engine cannot start here (no pyspark, no Java 17): one line saying what to install."""


# -- set-up checks ----------------------------------------------------------------------------
def java_version(java: str) -> int | None:
    """Major version of the ``java`` executable (8 for 1.8), None when it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java() -> str:
    """The java executable Spark will start (JAVA_HOME first, as Spark does); raises EngineUnavailable."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.isfile(java):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise EngineUnavailable(f"{JAVA_HELP} ({where})")
    major = java_version(java)
    if major is None or major < 17:
        raise EngineUnavailable(f"{JAVA_HELP} ({java} is version {major or 'unknown'})")
    return java


def check_pyspark() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(f"the spark engine needs pyspark and pyarrow: pip install 'irbis[spark]' "
                                f"({exc})") from None


def check_can_start(master: str | None = None) -> None:
    """pyspark and pyarrow, and Java unless ``master`` (or $SPARK_REMOTE) is Spark Connect: raises
    :class:`EngineUnavailable` (one line saying what to install) before any work."""
    check_pyspark()
    if not (master or os.environ.get("SPARK_REMOTE", "")).startswith("sc://"):
        check_java()


def with_local_retries(master: str) -> str:
    """``local[N]`` -> ``local[N,4]``: local mode only retries a failed task when asked to."""
    m = re.fullmatch(r"local\[([^,\]]+)\]", master)
    if master == "local":
        return f"local[1,{LOCAL_RETRIES}]"
    return f"local[{m.group(1)},{LOCAL_RETRIES}]" if m else master


def spark_session(master: str | None = None, app_name: str = "irbis", conf: dict[str, str] | None = None):
    """A SparkSession: Spark Connect when ``master`` (or $SPARK_REMOTE) is ``sc://...``, else a
    classic session on ``master`` (default ``local[*]``) with a small driver."""
    check_pyspark()
    from pyspark.sql import SparkSession
    remote = master if master and master.startswith("sc://") else (None if master else os.environ.get("SPARK_REMOTE"))
    if remote:
        return SparkSession.builder.remote(remote).appName(app_name).getOrCreate()
    check_java()
    quiet_pandas_warning()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    b = SparkSession.builder.master(with_local_retries(master or DEFAULT_MASTER)).appName(app_name)
    settings = {"spark.driver.memory": "1g", "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.execution.arrow.pyspark.enabled": "true"}
    log4j = log4j_config()
    if log4j:   # errors only: no start-up banner or hostname warnings in a command's output
        settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{log4j}"
    for var in ("IRBIS_HOME", "PYTHONPATH"):   # executors find the same models and code
        if os.environ.get(var):
            settings[f"spark.executorEnv.{var}"] = os.environ[var]
    for k, v in {**settings, **(conf or {})}.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def log4j_config() -> str | None:
    """A log4j2 file keeping Spark's JVM to errors, written once under the irbis home."""
    from ..config import irbis_home
    path = irbis_home() / "spark" / "log4j2.properties"
    try:
        if not path.is_file() or path.read_text() != LOG4J:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(LOG4J)
            os.replace(tmp, path)
    except OSError:
        return None
    return str(path)


def quiet_pandas_warning() -> None:
    # pyspark 4.x warns on pandas 3 at every mapInPandas; irbis only passes ints and bytes through it
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


# -- executor side ----------------------------------------------------------------------------
_STAGES: dict[bytes, Stage] = {}


def _stage_for(spec_blob: bytes) -> Stage:
    """The stage of a pickled spec, built once per Python worker and reused by its tasks."""
    stage = _STAGES.get(spec_blob)
    if stage is None:
        stage = pickle.loads(spec_blob).build()
        _STAGES[spec_blob] = stage
    return stage


def process_batches(spec_blob: bytes, batches: Iterator, decode_threads: int = 1, rows_per_batch: int = 8,
                    index: dict[str, list[tuple[int, bytes]]] | None = None) -> Iterator:
    """mapInPandas body: pandas batches of (idx, record) -> (idx, ok, result, error) rows.

    The local engine's loop on an executor: ``decode_threads`` decode ahead (Pillow releases the
    GIL) while the task's thread runs inference photo by photo; every error is that photo's.
    ``index`` (URL -> [(idx, pickled record)]): the batches are ``binaryFile`` rows (path, content)
    instead, and each record carries its photo's bytes (:mod:`irbis.engines.spark_files`)."""
    quiet_pandas_warning()
    import pandas as pd

    from ..stages import content_changed
    from .local import map_prepared
    columns = ["idx", "ok", "result", "error"]

    def items() -> Iterator[tuple[int, ImageRecord]]:
        if index is not None:
            from .spark_files import file_items
            yield from file_items(index, batches)
            return
        for pdf in batches:
            for idx, blob in zip(pdf["idx"], pdf["record"], strict=True):
                yield int(idx), pickle.loads(blob)

    try:
        stage = _stage_for(spec_blob)
    except Exception as exc:  # e.g. weights missing on this executor: every photo says so
        why = f"stage could not be built on executor: {type(exc).__name__}: {exc}"
        for idx, _ in items():
            yield pd.DataFrame([(idx, False, None, why)], columns=columns)
        return
    rows: list[tuple] = []
    for (idx, record), prepared, error in map_prepared(items(), lambda item: stage.prepare(item[1]), decode_threads):
        error = error or content_changed(record, prepared)   # the bytes decoded must be the ones catalogued
        result = None
        if error is None:
            try:
                result = stage.run([prepared])[0]
            except Exception as exc:  # a model error on one photo must not fail the task
                error = f"{stage.failure_label} failed: {type(exc).__name__}: {exc}"
        rows.append((idx, error is None, pickle.dumps(result, protocol=5) if error is None else None, error))
        if len(rows) >= rows_per_batch:
            yield pd.DataFrame(rows, columns=columns)
            rows = []
    if rows:
        yield pd.DataFrame(rows, columns=columns)


# -- driver side ------------------------------------------------------------------------------
class SparkEngine:
    """Map stages on Spark; every record reaches the sink exactly once, in record order.

    Parameters
    ----------
    master : Spark master URL (``local[*]`` default, ``spark://host:7077``, ``yarn``, ``k8s://...``)
        or a Spark Connect URL ``sc://host:15002``; $SPARK_REMOTE is used when none is given.
    batch_size : photos per Arrow batch sent back from a Python worker.
    decode_threads : threads decoding ahead of inference in each task (as the local engine).
    partition_photos : at most this many photos per partition (one task).
    window : partitions per Spark job the driver runs at once (default: 4x the cluster's cores);
        bounds what the driver holds before handing it to the sink.
    spark : an existing SparkSession to use (it is then not stopped by :meth:`close`).
    """

    name = "spark"

    def __init__(self, master: str | None = None, batch_size: int = 8, partition_photos: int = 64,
                 window: int | None = None, spark=None, conf: dict[str, str] | None = None, decode_threads: int = 1):
        self.master, self.batch_size, self.partition_photos = master, batch_size, partition_photos
        self.decode_threads = decode_threads
        self.window, self.conf = window, conf
        self._spark, self._own = spark, spark is None
        if spark is None:
            check_can_start(master)   # fail now, in one line, not at the first map

    @property
    def spark(self):
        if self._spark is None:
            self._spark = spark_session(self.master, conf=self.conf)
        return self._spark

    def close(self) -> None:
        if self._own and self._spark is not None:
            self._spark.stop()
            self._spark = None

    def __enter__(self) -> "SparkEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _is_connect(self) -> bool:
        return not hasattr(self.spark, "sparkContext") or type(self.spark).__module__.startswith(
            "pyspark.sql.connect")

    def parallelism(self) -> int:
        try:
            return max(1, self.spark.sparkContext.defaultParallelism)
        except Exception:  # Spark Connect has no SparkContext
            return 8

    # -- photos read by URL (binaryFile): :mod:`irbis.engines.spark_files` -------------------------
    def list_photos(self, url: str) -> list[tuple[str, int, float]]:
        """(URL, size, modification time) of every photo below ``url``, as Spark lists them."""
        from .spark_files import list_photos
        return list_photos(self.spark, url)

    def photo_metadata(self, urls: list[str]) -> dict[str, dict]:
        """URL -> catalogue facts (hash, EXIF time, size, failure) of each file, read on the executors."""
        from .spark_files import photo_metadata
        return photo_metadata(self.spark, urls)

    def _file_results(self, stage: Stage, records: Sequence[ImageRecord]) -> Iterator[tuple]:
        """:meth:`results` for records named by URL: each window of photos is one Spark job over
        ``binaryFile`` (the executors read the bytes); photos Spark skipped come back as failures."""
        from .spark_files import photo_index, read_photos, unread
        spark, spec_blob = self.spark, pickle.dumps(stage.spec, protocol=5)
        threads, per_batch = self.decode_threads, self.batch_size
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(per_batch))
        step = (self.window or 4 * self.parallelism()) * self.partition_photos
        for first in range(0, len(records), step):
            part = records[first:first + step]
            index = photo_index(part, first)

            def body(batches, index=index):
                return process_batches(spec_blob, batches, threads, per_batch, index)

            seen: set[int] = set()
            files = read_photos(spark, list(dict.fromkeys(r.path for r in part)))
            for row in _decode(files.mapInPandas(body, RESULT_SCHEMA).collect()):
                seen.add(row[0])
                yield row
            yield from unread(range(first, first + len(part)), seen)

    def results(self, stage: Stage, records: Sequence[ImageRecord]) -> Iterator[tuple[int, bool, Any, str | None]]:
        """(index into records, ok, result, error) for every record, each once, in no set order."""
        if not records:
            return
        if is_url(records[0].path):
            yield from self._file_results(stage, records)
            return
        from pyspark.sql.types import BinaryType, LongType, StructField, StructType
        spark = self.spark
        quiet_pandas_warning()
        cores = self.parallelism()
        n = len(records)
        parts = max(min(n, 2 * cores), -(-n // self.partition_photos))
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(self.batch_size))
        rows = [(i, pickle.dumps(r, protocol=5)) for i, r in enumerate(records)]
        schema = StructType([StructField("idx", LongType(), False), StructField("record", BinaryType(), False)])
        spec_blob = pickle.dumps(stage.spec, protocol=5)

        threads, per_batch = self.decode_threads, self.batch_size

        def body(batches):
            return process_batches(spec_blob, batches, threads, per_batch)

        if self._is_connect():
            df = spark.createDataFrame(rows, schema).repartition(parts)
            yield from _decode(df.mapInPandas(body, RESULT_SCHEMA).toLocalIterator())
            return
        sc = spark.sparkContext
        df = spark.createDataFrame(sc.parallelize(rows, parts), schema)
        out = df.mapInPandas(body, RESULT_SCHEMA).rdd
        window = self.window or 4 * cores
        for first in range(0, out.getNumPartitions(), window):
            chunk = list(range(first, min(first + window, out.getNumPartitions())))
            yield from _decode(sc.runJob(out, lambda it: it, chunk))

    def map(self, stage: Stage, records: Sequence[ImageRecord], sink: Sink, listener: Listener | None = None,
            task: str = "process") -> None:
        total, done, failed = len(records), 0, 0
        emit(listener, Progress("start", task, total))
        pending: dict[int, tuple[bool, Any, str | None]] = {}
        seen: set[int] = set()
        for idx, ok, result, error in self.results(stage, records):
            if idx in seen:      # a retried task's rows: the first copy already counts
                continue
            seen.add(idx)
            pending[idx] = (ok, result, error)
            while done in pending:     # hand on in record order, so outputs equal the local engine's
                ok, result, error = pending.pop(done)
                rec = records[done]
                if ok:
                    sink.put(rec, result)
                else:
                    sink.fail(rec, error or "unknown failure")
                    failed += 1
                done += 1
                emit(listener, Progress("photo", task, total, done, failed, rec, None if ok else error))
        if done != total:
            raise RuntimeError(f"spark returned {done} of {total} photos")
        emit(listener, Progress("end", task, total, done, failed))


def _decode(rows) -> Iterator[tuple[int, bool, Any, str | None]]:
    for row in rows:
        idx, ok, blob, error = row[0], row[1], row[2], row[3]
        yield int(idx), bool(ok), pickle.loads(blob) if ok else None, error
