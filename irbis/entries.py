"""What a directory entry is, in words, and reading a photo's bytes safely.

A photo folder may hold anything a file system can: dangling or looping symbolic links, FIFOs,
device files, unreadable files, names that are not valid UTF-8. Each must become a per-photo
failure that says what the entry is (never a crash, never a blocked read of a FIFO).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class EntryError(OSError):
    """A directory entry that is not a readable photo file; ``str(err)`` says what it is."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "unusable entry"


def kind_of(mode: int) -> str | None:
    """'a FIFO (named pipe)', ... for a non-regular file's st_mode; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def entry_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a readable regular file (following links), or None when it is one.

    Never names a link's target: the reason may be shown to a client of the batch API."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return "file no longer exists (deleted or renamed after it was catalogued)"
    except PermissionError:
        return "permission denied (cannot look at the file)"
    except OSError as exc:
        return f"cannot look at the file: {exc.strerror or exc}"
    link = stat.S_ISLNK(lst.st_mode)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "dangling symbolic link (its target does not exist)" if link else "file no longer exists"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        return f"cannot look at the file: {exc.strerror or exc}"
    kind = kind_of(st.st_mode)
    if kind:
        return f"not a regular file: {'a symbolic link to ' if link else ''}{kind}"
    if not os.access(path, os.R_OK):
        return "permission denied (file not readable)"
    return None


def size_problem(size: int, max_bytes: int) -> str | None:
    """Why a file of ``size`` bytes cannot be a photo (empty, or over ``max_bytes``), else None."""
    if size == 0:
        return "empty file (0 bytes)"
    if size > max_bytes:
        return f"file too large: {size / 2**20:.0f} MB exceeds the {max_bytes / 2**20:.0f} MB limit"
    return None


def read_file_bytes(path: str | os.PathLike, max_bytes: int) -> tuple[bytes, str]:
    """The bytes of a regular file and their SHA-256, from one read.

    Raises :class:`EntryError` (what the entry is) for anything but a readable regular file,
    ``ValueError`` for an empty file or one over ``max_bytes``. A FIFO is never opened for a
    blocking read (O_NONBLOCK, then the type is checked on the open descriptor)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise EntryError(entry_problem(path) or f"cannot read file: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind:
            raise EntryError(f"not a regular file: {kind}")
        problem = size_problem(st.st_size, max_bytes)
        if problem:
            raise ValueError(problem)
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
            total += len(block)
            if total > max_bytes:
                raise ValueError(f"file too large: grew past the {max_bytes / 2**20:.0f} MB limit while read")
    except OSError as exc:
        if isinstance(exc, EntryError):
            raise
        raise EntryError(f"cannot read file: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data:
        raise ValueError("empty file (0 bytes)")
    return data, hashlib.sha256(data).hexdigest()
