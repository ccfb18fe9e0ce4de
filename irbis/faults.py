"""Faults of the machine, told apart from faults of one photo.

A photo that cannot be read is that photo's failure; the survey goes on. A full disk, a
read-only or forbidden irbis home, or a model that cannot load is a fault of the machine: every
later photo would "fail" the same way, so the run stops with a clear message and a non-zero exit,
records nothing for the photos it did not really process, and a re-run after the fix resumes.
"""

from __future__ import annotations

import errno
import sqlite3

EXIT_FAULT = 3
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                   errno.EMFILE, errno.ENFILE, errno.ENOMEM}
_SQLITE_MACHINE = ("disk is full", "readonly database", "unable to open database", "disk i/o error",
                   "attempt to write a readonly")


class MachineFault(RuntimeError):
    """The machine, not a photo, is at fault: stop the run; ``str(err)`` says what to fix."""


class ModelLoadError(MachineFault):
    """A model (ONNX graph, weights) could not be exported or loaded."""


def is_machine_fault(exc: BaseException) -> bool:
    """True for a disk-full / permission / I/O error on irbis's own state, or a model load failure."""
    if isinstance(exc, (MachineFault, MemoryError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return any(m in str(exc).lower() for m in _SQLITE_MACHINE)
    return isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS


def describe(exc: BaseException) -> str:
    """One line for a person: what failed and where."""
    if isinstance(exc, MachineFault):
        return str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        hint = " (free some space, or point IRBIS_HOME / --out elsewhere)" if exc.errno in (
            errno.ENOSPC, errno.EDQUOT) else ""
        return f"{exc.strerror or type(exc).__name__}{where}{hint}"
    return f"{type(exc).__name__}: {exc}"


def machine_fault(exc: BaseException, doing: str) -> MachineFault:
    """A :class:`MachineFault` for ``exc`` raised while ``doing`` (e.g. 'running the detector')."""
    if isinstance(exc, MachineFault):
        return exc
    return MachineFault(f"{doing}: {describe(exc)}")
