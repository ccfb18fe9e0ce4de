"""Stages for the spark engine tests; imported by Spark's Python workers (tests/ is on their path)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CrashOnceSpec:
    """Wraps a stage; the first Python worker to reach ``crash_at`` (a record id) kills itself with
    SIGKILL, as ``kill -9`` of a worker mid-job would. ``marker`` records that it happened."""

    inner: Any
    marker: str
    crash_at: int

    def build(self) -> "CrashOnceStage":
        return CrashOnceStage(self)


class CrashOnceStage:
    failure_label = "crash-once"

    def __init__(self, spec: CrashOnceSpec):
        self.spec, self.inner = spec, spec.inner.build()

    @property
    def id(self) -> str:
        return self.inner.id

    def prepare(self, record):
        if record.id == self.spec.crash_at:
            try:
                fd = os.open(self.spec.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.prepare(record)

    def run(self, batch):
        return self.inner.run(batch)
