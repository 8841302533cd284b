"""One lock for files several processes write: an exclusive flock on a lock file beside them."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Busy(Exception):
    """Someone else held the lock for longer than the caller would wait."""


@contextmanager
def exclusive(lock_file: Path, wait_s: float | None = None) -> Iterator[None]:
    """Held by one process at a time among all that share the folder; released if the holder dies.

    wait_s: give up with Busy after that long (None: wait as long as it takes)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as fh:
        if wait_s is None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(str(lock_file)) from None
                    time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
