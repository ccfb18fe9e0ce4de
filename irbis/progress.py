"""Progress as events: engines report, callers listen (a progress bar, a log, the dashboard).

A job takes ``listener`` (a callable receiving :class:`Progress` events); ``None`` is silent.
:func:`progress_bar` is the listener the CLI uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .records import ImageRecord


@dataclass(frozen=True)
class Progress:
    """One event of a map over photos: ``kind`` is "start" (``total`` known), "photo" (one done,
    ``failure`` set when it failed) or "end"."""

    kind: str
    task: str                    # what is being done, e.g. "detect", "featurize"
    total: int
    done: int = 0
    failed: int = 0
    record: ImageRecord | None = None
    failure: str | None = None


Listener = Callable[[Progress], None]


def progress_bar(unit: str = "photo") -> Listener:
    """A listener drawing one tqdm bar per map (none for an empty one), on standard error."""
    from tqdm import tqdm
    bars: dict[str, tqdm] = {}

    def listen(ev: Progress) -> None:
        if ev.kind == "start" and ev.total:
            bars[ev.task] = tqdm(total=ev.total, desc=ev.task, unit=unit)
        elif ev.kind == "photo" and ev.task in bars:
            bars[ev.task].update(1)
        elif ev.kind == "end" and ev.task in bars:
            bars.pop(ev.task).close()
    return listen


def emit(listener: Listener | None, event: Progress) -> None:
    if listener is not None:
        listener(event)
