"""Output paths checked before any work starts, and a lock so two runs never share one output."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be used (a folder, a missing or unwritable folder, locked)."""


def check_output_path(out: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse, before any work, an output that names a folder or sits in a missing / unwritable one."""
    p = Path(out)
    if str(out).endswith(os.sep) or p.is_dir():
        raise OutputError(f"{flag} {out} is a folder; give a file name, e.g. {p / 'results.json'}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{flag} {out}: the folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {out}: the folder {parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputError(f"{flag} {out} exists and is not writable")
    return p


class OutputLock:
    """An exclusive lock on ``<out>.lock`` for the length of a run (fcntl: freed if the process dies).

    A second run on the same output is refused at once with :class:`OutputError`, rather than the
    last writer silently winning. The lock file is removed on release."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(str(out) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"another irbis run (pid {holder or '?'}) is writing {str(self.path)[:-5]}; "
                                  f"wait for it or choose another --out") from None
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)   # who holds it, for the refusal message
        except OSError:
            self.path.unlink(missing_ok=True)
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)   # while still held: no one else can take this inode
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
