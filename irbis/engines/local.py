"""Local engine: decode on worker threads, infer on the calling thread.

On a 2-core laptop one decode thread (Pillow releases the GIL) keeps one ONNX Runtime thread
busy; ``decode_threads`` raises that on bigger machines. Photos go through the stage one at a
time (batch 1, the graphs are exported at batch 1), in order.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence

from ..faults import is_machine_fault, machine_fault
from ..imageio import ImageReadError
from ..progress import Listener, Progress, emit
from ..records import ImageRecord
from ..stages import Stage, content_changed
from . import Sink

_END = object()


def map_prepared(items: Iterable, prepare: Callable, decode_threads: int = 1) -> Iterator[tuple]:
    """Yield (item, prepared, error) in order, ``prepare(item)`` running ahead on worker threads.

    The caller runs inference on what it receives, so decoding (threads, GIL released by Pillow)
    overlaps inference (the calling thread). ``error`` is the reason text when prepare failed.
    """
    def safe(item):
        try:
            return prepare(item), None
        except ImageReadError as exc:
            return None, str(exc)
        except Exception as exc:  # never let one photo stop a survey
            return None, f"unexpected decode error: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, decode_threads)) as pool:
        window: deque = deque()
        it = iter(items)
        ahead = 4 * max(1, decode_threads)

        def submit_next() -> None:
            item = next(it, _END)
            if item is not _END:
                window.append((item, pool.submit(safe, item)))

        for _ in range(ahead):
            submit_next()
        while window:
            item, fut = window.popleft()
            submit_next()
            prepared, error = fut.result()
            yield item, prepared, error


class LocalEngine:
    name = "local"

    def __init__(self, decode_threads: int = 1):
        self.decode_threads = decode_threads

    def map(self, stage: Stage, records: Sequence[ImageRecord], sink: Sink, listener: Listener | None = None,
            task: str = "process") -> None:
        total, done, failed = len(records), 0, 0
        emit(listener, Progress("start", task, total))
        for rec, prepared, error in map_prepared(records, stage.prepare, self.decode_threads):
            error = error or content_changed(rec, prepared)
            if error is None:
                try:
                    result = stage.run([prepared])[0]
                except Exception as exc:  # a model error on one photo must not end the survey
                    if is_machine_fault(exc):  # ... but a full disk or a model that cannot load must
                        raise machine_fault(exc, f"{stage.failure_label} stopped at {rec.rel_path}") from exc
                    error = f"{stage.failure_label} failed: {type(exc).__name__}: {exc}"
            if error is None:
                sink.put(rec, result)
            else:
                sink.fail(rec, error)
                failed += 1
            done += 1
            emit(listener, Progress("photo", task, total, done, failed, rec, error))
        emit(listener, Progress("end", task, total, done, failed))
