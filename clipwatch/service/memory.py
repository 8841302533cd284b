"""Keeping a long-running server's memory flat.

Two glibc malloc defaults make a server that retrains in-process creep upwards without leaking:
each allocating thread gets its own arena (up to 8 per core) whose freed memory other threads don't
reuse; and after a large block is freed, the threshold above which blocks get their own mapping rises
to that block's size, so the retrain worker's ever larger training arrays (the feedback file grows)
end up on the heap, which is not given back. Capping the arenas and fixing the threshold keeps RSS
flat (see the soak figures in docs/reliability.md). MALLOC_ARENA_MAX and friends do the same before Python starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# From glibc's malloc.h.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2, mmap_threshold: int = 4 << 20) -> bool:
    """Cap glibc's arenas and fix its mmap threshold; False where libc is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold))
    except (OSError, AttributeError):  # musl, macOS: no mallopt, nothing to do
        log.debug("mallopt unavailable; malloc left as it is")
        return False
