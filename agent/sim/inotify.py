"""A minimal inotify watch (Linux), so that simulated event readers block instead of polling.

The standard library has no inotify; this is the three libc calls it takes, through ctypes.
Where inotify is unavailable, `DirWatch.open` returns None and the caller polls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
from pathlib import Path

IN_MODIFY = 0x00000002
IN_CREATE = 0x00000100
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000


class DirWatch:
    """Wakes `wait` when a file in `directory` is created, modified or moved in."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def open(cls, directory: Path) -> DirWatch | None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        libc = ctypes.CDLL(name, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a change; True if one came. Drains the queue."""
        readable, _, _ = select.select([self._fd], [], [], max(timeout, 0))
        if not readable:
            return False
        try:
            while os.read(self._fd, 4096):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
