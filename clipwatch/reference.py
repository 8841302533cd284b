"""What the reference set (ref_data.csv) holds, per action: the clips, the recordings they were cut from,
and what an action still lacks for an honest estimate. `GET /reference` and `clipwatch info` show it;
the page that teaches the model new actions builds on it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from clipwatch.dataset import TARGET, restore_cell
from clipwatch.groups import clips_sidecar


def recorded_groups(ref: Path, rows: int) -> list[str] | None:
    """Each row's recording as build-ref recorded it ("" where unknown); None without a matching sidecar."""
    path = clips_sidecar(ref)
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        groups = [r.get("group", "") for r in csv.DictReader(fh)]
    return groups if len(groups) == rows else None


def summarize(ref: Path) -> list[dict]:
    """One entry per action, sorted by name: clips, known recordings, clips of no known recording, needs."""
    if not Path(ref).is_file():
        return []
    targets = pd.read_csv(ref, usecols=[TARGET], dtype=str, keep_default_na=False)[TARGET].map(restore_cell)
    groups = recorded_groups(Path(ref), len(targets)) or [""] * len(targets)
    out = []
    for action in sorted(set(targets)):
        mine = [g for t, g in zip(targets, groups, strict=True) if t == action]
        recordings = {g for g in mine if g}
        needs = []
        if len(mine) < 2:
            needs.append("at least 2 clips, for cross-validation")
        if not recordings:
            needs.append("the recording each clip was cut from, for an estimate grouped by recording")
        elif len(recordings) < 2:
            needs.append("clips from a second recording, for an estimate grouped by recording")
        out.append(
            {
                "action": action,
                "clips": len(mine),
                "recordings": len(recordings),
                "clips_without_recording": sum(1 for g in mine if not g),
                "needs": needs,
            }
        )
    return out
