"""Linux inotify through libc (no extra package): wakes the watcher as soon as a file in the folder
is written and closed, instead of at the next poll. Anywhere it is missing (other systems, network
file systems that send no events, watch limits reached) :func:`folder_notifier` returns None and
the watcher polls."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
from pathlib import Path

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
IN_ISDIR, IN_NONBLOCK, IN_CLOEXEC = 0x40000000, 0o4000, 0o2000000
MASK = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
_EVENT = struct.Struct("iIII")


class FolderNotifier:
    """inotify watches on a folder tree; :meth:`wait` returns the files closed after writing (or
    moved in) since the last call, waiting at most ``timeout`` seconds for the first."""

    def __init__(self, libc, root: Path):
        self.libc = libc
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.dirs: dict[int, Path] = {}
        for d, _, _ in os.walk(root):
            self._add(Path(d))

    def _add(self, d: Path) -> None:
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(d), MASK)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {d} failed")
        self.dirs[wd] = d

    def wait(self, timeout: float) -> set[str]:
        closed: set[str] = set()
        if not select.select([self.fd], [], [], timeout)[0]:
            return closed
        while True:
            try:
                buf = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return closed
            i = 0
            while i + _EVENT.size <= len(buf):
                wd, mask, _, size = _EVENT.unpack_from(buf, i)
                name = buf[i + _EVENT.size: i + _EVENT.size + size].rstrip(b"\0")
                i += _EVENT.size + size
                parent = self.dirs.get(wd)
                if parent is None or not name:
                    continue
                path = parent / os.fsdecode(name)
                if mask & IN_ISDIR:
                    if mask & (IN_CREATE | IN_MOVED_TO):
                        try:
                            self._add(path)
                        except OSError:
                            pass
                elif mask & (IN_CLOSE_WRITE | IN_MOVED_TO):
                    closed.add(str(path.resolve()))

    def close(self) -> None:
        os.close(self.fd)


def folder_notifier(root: str | os.PathLike) -> FolderNotifier | None:
    """A notifier for ``root``, or None where inotify is not available (then poll)."""
    name = ctypes.util.find_library("c")
    if not name or not hasattr(select, "select"):
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch    # noqa: B018 (present on Linux only)
        return FolderNotifier(libc, Path(root))
    except (OSError, AttributeError):
        return None
