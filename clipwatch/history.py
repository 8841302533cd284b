"""Every retrain's outcome, promoted or not, one JSON line each in artifacts/history.jsonl.

The Model page, `/model`, `clipwatch retrain` and the trainer read it; the loop appends to it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from clipwatch.paths import Paths


@dataclass
class RetrainOutcome:
    id: str
    outcome: str  # promoted | kept | skipped | failed
    started_at: str
    duration_s: float = 0.0
    trigger_rows: int | None = None  # the rows trigger's feedback count (a multiple of k)
    trigger: str = "rows"  # what started it: rows | drift | performance | manual, "+"-joined when coalesced
    trigger_reason: str = ""
    trigger_keys: list[str] = field(default_factory=list)  # the drift episode / performance window answered
    rows_at: int | None = None  # feedback rows when it was triggered
    mode: str = "scratch"
    policy: str = "if_better"
    champion_version: str | None = None
    champion_f1: float | None = None
    challenger_f1: float | None = None
    champion_guard_f1: float | None = None
    challenger_guard_f1: float | None = None
    guard_rows: int = 0
    new_version: str | None = None
    holdout_rows: int = 0
    train_rows: int = 0
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def read_history(paths: Paths, limit: int | None = None) -> list[dict]:
    if not paths.history.exists():
        return []
    entries = []
    for line in paths.history.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a crash: ignore it
            continue
    return entries[-limit:] if limit else entries


def append_history(paths: Paths, outcome: RetrainOutcome) -> None:
    fd = os.open(paths.history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(outcome.as_dict()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
