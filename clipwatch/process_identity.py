"""Which process owns something on disk (an upload folder, a running job): its pid and its start time, so a
pid reused after a restart (PID 1 in every container) is not taken for the owner that is gone."""

from __future__ import annotations

from pathlib import Path


def started(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '0' where /proc has none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the command name
