"""Reading the simulated node's state files cheaply.

The simulated NVML and AMD SMI read their state files on every call, so that another process
can inject a fault at any moment; a full check pass makes hundreds of such calls. `stat_cache`
keeps the parsed content of a file until the file changes: one `stat` instead of open, read and
parse. Writers replace files whole (`atomic_write`: a new inode), so a change is never missed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_StatKey = tuple[int, int, int] | None


def _key(path: Path) -> _StatKey:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def stat_cache(path_of: Callable[..., Path]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache a reader's (immutable) result per arguments, until the file `path_of(*args)`
    changes. The reader must return a value nobody mutates."""

    def wrap(reader: Callable[..., T]) -> Callable[..., T]:
        cache: dict[tuple[Any, ...], tuple[_StatKey, T]] = {}

        @functools.wraps(reader)
        def cached(*args: Any) -> T:
            key = _key(path_of(*args))
            hit = cache.get(args)
            if hit is not None and key is not None and hit[0] == key:
                return hit[1]
            value = reader(*args)
            if len(cache) > 256:
                cache.clear()
            cache[args] = (key, value)
            return value

        return cached

    return wrap
