"""Photos Spark reads itself: the ``binaryFile`` source on ``file://``, ``s3a://``, ``hdfs://``, ... URLs.

The driver never opens a photo: it lists them (URL, size, modification time: Spark reads no
bytes for that), the executors read the new or changed ones to catalogue them (content hash,
EXIF time: :func:`irbis.ingest.metadata.read_metadata_bytes`), and the stage's map reads each
photo's bytes on the executor that decodes it (:func:`file_items`): the record carries them
(``ImageRecord.content``) and ``prepare`` decodes them as it decodes a file, hash included, so
the "file changed since it was catalogued" check holds across the two reads.

Listing follows Spark's file sources: ``recursiveFileLookup`` (every folder below the URL),
``pathGlobFilter`` for the photo extensions in any case, files or folders whose names start with
``.`` or ``_`` are left out (Spark's rule). Files deleted or unreadable between listing and
reading are skipped by Spark (``ignoreMissingFiles``, ``ignoreCorruptFiles``) and come back as
failures of those photos, never as a failed job.
"""

from __future__ import annotations

import pickle
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

from ..imageio import IMAGE_EXTENSIONS
from ..records import ImageRecord


def _any_case(ext: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in ext)


PHOTO_GLOB = "{" + ",".join(f"*{_any_case(e)}" for e in IMAGE_EXTENSIONS) + "}"
META_SCHEMA = ("path string, size long, mtime double, sha256 string, failure string, datetime_original string, "
               "make string, model string, serial string, width int, height int, orientation int")


def reader(spark, **options: str):
    r = spark.read.format("binaryFile").option("pathGlobFilter", PHOTO_GLOB).option(
        "ignoreMissingFiles", "true").option("ignoreCorruptFiles", "true")
    for k, v in options.items():
        r = r.option(k, v)
    return r


def list_photos(spark, url: str) -> list[tuple[str, int, float]]:
    """(URL as Spark names it, size, modification time in seconds) of every photo below ``url``;
    no photo's bytes are read (only the listing's columns are selected)."""
    from pyspark.sql import functions as F
    df = reader(spark, recursiveFileLookup="true").load(url).select(
        "path", "length", (F.unix_micros("modificationTime") / 1e6).alias("mtime"))
    return sorted((r[0], int(r[1]), float(r[2])) for r in df.collect())


def photo_metadata(spark, urls: Sequence[str]) -> dict[str, dict]:
    """URL -> catalogue facts of each file (:func:`~irbis.ingest.metadata.read_metadata_bytes`),
    read on the executors; files Spark skipped are absent."""
    from pyspark.sql import functions as F
    if not urls:
        return {}
    df = reader(spark).load([escape_glob(u) for u in urls]).select(
        "path", "content", (F.unix_micros("modificationTime") / 1e6).alias("mtime"))
    out: dict[str, dict] = {}
    for r in df.mapInPandas(_metadata_batches, META_SCHEMA).collect():
        d = r.asDict()
        out[d.pop("path")] = d
    return out


def escape_glob(url: str) -> str:
    """Spark reads the paths it is given as glob patterns: a name with ``[``, ``{``, ``*`` or ``?``
    must match itself only."""
    return "".join("\\" + c if c in "[]{}*?\\" else c for c in url)


def _metadata_batches(batches: Iterator) -> Iterator:
    import pandas as pd

    from ..ingest.metadata import read_metadata_bytes
    cols = [c.split()[0] for c in META_SCHEMA.split(", ")]
    for pdf in batches:
        rows = []
        for path, content, mtime in zip(pdf["path"], pdf["content"], pdf["mtime"], strict=True):
            meta = read_metadata_bytes(bytes(content), float(mtime))
            rows.append([path] + [meta.get(c) for c in cols[1:]])
        yield pd.DataFrame(rows, columns=cols)


def url_key(url: str) -> str:
    """A URL as Spark names the file it read (``file:///a/b`` -> ``file:/a/b``), to match the two."""
    parts = urlsplit(url)
    return f"{parts.scheme}:{'//' + parts.netloc if parts.netloc else ''}{parts.path}"


def photo_index(records: Sequence[ImageRecord], first: int = 0) -> dict[str, list[tuple[int, bytes]]]:
    """URL -> [(idx, pickled record)] of the photos a job reads (a path listed twice is read once)."""
    index: dict[str, list[tuple[int, bytes]]] = {}
    for i, r in enumerate(records):
        index.setdefault(url_key(r.path), []).append((first + i, pickle.dumps(r, protocol=5)))
    return index


def read_photos(spark, urls: Sequence[str]):
    """A DataFrame ``(path, content)`` of these photos, read by the executors."""
    return reader(spark).load([escape_glob(u) for u in urls]).select("path", "content")


def file_items(index: dict[str, list[tuple[int, bytes]]], batches: Iterator) -> Iterator[tuple[int, ImageRecord]]:
    """Executor side: pandas batches of ``(path, content)`` -> (idx, record carrying its bytes)
    for every record of the :func:`photo_index` naming that file."""
    from dataclasses import replace
    for pdf in batches:
        for path, content in zip(pdf["path"], pdf["content"], strict=True):
            for idx, blob in index.get(url_key(path), ()):
                yield idx, replace(pickle.loads(blob), content=bytes(content))


def unread(indices: Any, seen: set[int]) -> Iterator[tuple[int, bool, Any, str]]:
    """Failure rows for the photos Spark skipped (deleted or unreadable after they were listed)."""
    from ..ingest.remote import UNREAD
    for i in indices:
        if i not in seen:
            yield i, False, None, UNREAD
