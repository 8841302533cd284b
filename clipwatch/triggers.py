"""What starts a retrain (RETRAIN_TRIGGERS): every k feedback rows, detected drift, falling performance.

- ``rows``: the feedback count crossed a multiple of k (RETRAIN_EVERY_K); clipwatch.loop counts them.
- ``drift``: the latest report (clipwatch.reporting, latest.json) detected drift. One drift episode,
  however many report runs it lasts, fires once: it is keyed by the run that first saw it.
- ``performance``: macro F1 of the live model on the latest CLIPWATCH_RETRAIN_F1_WINDOW feedback rows
  fell below CLIPWATCH_RETRAIN_MIN_F1, or below the model's own recorded macro F1 by more than
  CLIPWATCH_RETRAIN_F1_DROP. Only rows the live version predicted count, and a window fires once:
  the next check needs a whole window of newer rows.

Drift and performance are checked every CLIPWATCH_TRIGGER_CHECK_S and wait CLIPWATCH_RETRAIN_MIN_INTERVAL_S
after the previous retrain started. Every retrain records which trigger fired and why (history.jsonl).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from clipwatch.artifacts import ArtifactStore
from clipwatch.paths import Paths
from clipwatch.settings import Settings
from clipwatch.stores import open_store


@dataclass
class Trigger:
    kind: str  # rows | drift | performance | manual; joined with "+" when one run answers several
    reason: str
    rows: int | None = None  # the rows trigger: the feedback count that crossed a multiple of k
    rows_at: int | None = None  # feedback rows when it fired
    keys: list[str] = field(default_factory=list)  # drift episode, performance window: one retrain each

    def merge(self, other: Trigger) -> Trigger:
        """One waiting run answers both (it trains on every row there is)."""
        kinds = list(dict.fromkeys(self.kind.split("+") + other.kind.split("+")))
        rows = max((r for r in (self.rows, other.rows) if r is not None), default=None)
        rows_at = max((r for r in (self.rows_at, other.rows_at) if r is not None), default=None)
        reason = "; ".join(dict.fromkeys([self.reason, other.reason]))
        return Trigger("+".join(kinds), reason, rows, rows_at, list(dict.fromkeys(self.keys + other.keys)))


def rows_trigger(rows: int, k: int) -> Trigger:
    return Trigger("rows", f"feedback row {rows} (every {k} rows)", rows=rows, rows_at=rows)


def answered(trigger: Trigger, history: list[dict]) -> bool:
    """Whether earlier runs (of this process or another) already answered every part of this trigger."""
    rows_done = trigger.rows is None or any(e.get("trigger_rows") == trigger.rows for e in history)
    keys_done = {k for e in history for k in (e.get("trigger_keys") or [])}
    return rows_done and all(k in keys_done for k in trigger.keys) and bool(trigger.rows is not None or trigger.keys)


def seconds_since_last_retrain(history: list[dict], now: datetime | None = None) -> float | None:
    now = now or datetime.now(timezone.utc)
    times = []
    for e in history:
        if e.get("outcome") == "skipped":
            continue
        try:
            times.append(datetime.fromisoformat(e["started_at"]))
        except (KeyError, TypeError, ValueError):
            continue
    return (now - max(times)).total_seconds() if times else None


def latest_report(paths: Paths) -> dict:
    """The latest report run's summary (latest.json, written by clipwatch.reporting), or {}.

    Read here as plain JSON: the API checks the drift trigger without the reporting stack installed."""
    try:
        return json.loads(paths.latest_report.read_text())
    except (OSError, ValueError):
        return {}


def drift_trigger(latest: dict, history: list[dict]) -> Trigger | None:
    """The latest report's drift verdict, if it is on and its episode has not had its retrain."""
    if not latest.get("drift_detected") or not latest.get("drift_since"):
        return None
    key = f"drift:{latest['drift_since']}"
    trigger = Trigger(
        "drift",
        f"the report of {latest.get('timestamp')} detected drift: {latest.get('drift_share') or 0:.0%} of the "
        f"embedding's components drifted, embedding drift score {latest.get('embedding_drift') or 0:.2f}",
        keys=[key],
    )
    return None if answered(trigger, history) else trigger


def performance_trigger(s: Settings, paths: Paths, rows_now: int, history: list[dict]) -> Trigger | None:
    """Macro F1 of the live model on the latest window of feedback, if it fell too low."""
    from sklearn.metrics import f1_score

    window = s.retrain_f1_window
    last = max((e.get("rows_at") or 0 for e in history if "performance" in (e.get("trigger") or "")), default=0)
    if rows_now - last < window:
        return None  # a window fires once: wait for a whole window of newer rows
    store = ArtifactStore(paths)
    live = store.current_name()
    if live is None:
        return None
    rows_store = open_store(s)
    try:
        recent = rows_store.recent(window)
    finally:
        rows_store.close()
    if len(recent) < window or any(not r.get("prediction") for r in recent):
        return None  # too few rows, or rows without the prediction they got (nothing to score)
    if any(r.get("model_version") and r["model_version"] != live for r in recent):
        return None  # rows an earlier model predicted say nothing about the live one
    y = [r["target"] for r in recent]
    f1 = float(f1_score(y, [r["prediction"] for r in recent], average="macro", labels=sorted(set(y)), zero_division=0))
    own = store.metadata(live).get("metrics", {}).get("macro_f1")
    floor = s.retrain_min_f1 if own is None else max(s.retrain_min_f1, own - s.retrain_f1_drop)
    if f1 >= floor:
        return None
    because = (
        f"CLIPWATCH_RETRAIN_MIN_F1={s.retrain_min_f1:g}"
        if own is None or floor == s.retrain_min_f1
        else f"{live}'s own macro F1 {own:.3f} less CLIPWATCH_RETRAIN_F1_DROP={s.retrain_f1_drop:g}"
    )
    return Trigger(
        "performance",
        f"macro F1 {f1:.3f} on the latest {window} feedback rows, below {floor:.3f} ({because})",
        rows_at=rows_now,
        keys=[f"performance:{live}:{rows_now}"],
    )


def due(s: Settings, paths: Paths, rows_now: int, history: list[dict], latest: dict) -> Trigger | None:
    """The drift or performance trigger that fires now, if any (the rows trigger is counted as rows arrive)."""
    wanted = set(s.retrain_triggers) & {"drift", "performance"}
    if not wanted:
        return None
    since = seconds_since_last_retrain(history)
    if since is not None and since < s.retrain_min_interval_s:
        return None
    fired = []
    if "drift" in wanted and (t := drift_trigger(latest, history)):
        fired.append(t)
    if "performance" in wanted and (t := performance_trigger(s, paths, rows_now, history)):
        fired.append(t)
    if not fired:
        return None
    trigger = fired[0] if len(fired) == 1 else fired[0].merge(fired[1])
    trigger.rows_at = rows_now
    return trigger
