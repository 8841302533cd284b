"""Which process owns something on disk (an upload folder, a running job): its pid and its start time, so a
pid reused after a restart (PID 1 in every container) is not taken for the owner that is gone."""

from __future__ import annotations

import os
from pathlib import Path


def started(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '0' where /proc has none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the command name


def alive(pid: int, started_at: str = "") -> bool:
    """Whether the process that had `pid` when it started at `started_at` (see started) is still running:
    False once it is gone, or when its pid now belongs to a process started later."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    return not started_at or started(pid) == started_at
