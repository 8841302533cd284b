"""RETRAIN_TRIGGERS: rows, drift and performance each fire on data built to fire them, and not otherwise."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from clipwatch.dataset import read_embeddings
from clipwatch.history import read_history
from clipwatch.loop import RetrainLoop
from clipwatch.paths import Paths
from clipwatch.stores import FeedbackRow
from clipwatch.stores.csv_rows import CsvAppender, recent_rows
from clipwatch.triggers import Trigger, answered, drift_trigger, due, performance_trigger

DRIFT = {"timestamp": "2026-12-02T10:00:00+00:00", "drift_detected": True, "drift_since": "2026-12-02T09:00:00+00:00",
         "drift_share": 0.62, "embedding_drift": 1.0}  # fmt: skip


def feedback(s, n: int, wrong: bool, version: str = "v0001", offset: int = 0) -> int:
    """n feedback rows of reference vectors; wrong: each says the model predicted another class."""
    paths = Paths.from_settings(s)
    X, y, _ = read_embeddings(paths.ref_data)
    classes = sorted(set(y))
    rows = []
    for i in range(offset, offset + n):
        target = str(y[i % len(y)])
        pred = classes[(classes.index(target) + 1) % len(classes)] if wrong else target
        rows.append(FeedbackRow(X[i % len(y)], target, pred, f"{i:032x}", version, 0.9))
    return CsvAppender(paths.prod_data, X.shape[1]).append(rows).rows


def write_latest(s, body: dict) -> None:
    path = Paths.from_settings(s).latest_report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def test_drift_fires_once_per_episode_and_not_without_drift():
    assert drift_trigger({**DRIFT, "drift_detected": False, "drift_since": None}, []) is None
    fired = drift_trigger(DRIFT, [])
    assert fired.kind == "drift" and "62% of the embedding's components drifted" in fired.reason
    history = [{"trigger": "drift", "trigger_keys": fired.keys, "started_at": "x"}]
    assert drift_trigger({**DRIFT, "timestamp": "later"}, history) is None  # the same episode, a later report
    assert drift_trigger({**DRIFT, "drift_since": "2026-12-03T00:00:00+00:00"}, history) is not None  # a new one


def test_performance_fires_when_f1_on_the_live_models_rows_falls(make_settings):
    s = make_settings(retrain_triggers=["performance"], retrain_f1_window=12)
    paths = Paths.from_settings(s)
    rows = feedback(s, 12, wrong=False)
    assert performance_trigger(s, paths, rows, []) is None  # right answers: no fall
    rows = feedback(s, 12, wrong=True, offset=12)
    fired = performance_trigger(s, paths, rows, [])
    assert fired is not None and "macro F1 0.000 on the latest 12 feedback rows" in fired.reason
    # A window fires once: after its retrain the next check needs 12 newer rows.
    assert performance_trigger(s, paths, rows, [{"trigger": "performance", "rows_at": rows}]) is None
    # Rows another version predicted say nothing about the live one.
    rows = feedback(s, 12, wrong=True, version="v0000", offset=24)
    assert performance_trigger(s, paths, rows, [{"trigger": "performance", "rows_at": 24}]) is None


def test_drift_and_performance_wait_the_minimum_interval(make_settings):
    s = make_settings(retrain_triggers=["drift"], retrain_min_interval_s=600)
    paths = Paths.from_settings(s)
    recent = [{"outcome": "kept", "started_at": (datetime.now(timezone.utc) - timedelta(seconds=60)).isoformat()}]
    old = [{"outcome": "kept", "started_at": (datetime.now(timezone.utc) - timedelta(seconds=900)).isoformat()}]
    assert due(s, paths, 0, recent, DRIFT) is None
    assert due(s, paths, 0, old, DRIFT).kind == "drift"
    assert due(s.model_copy(update={"retrain_triggers": ["rows"]}), paths, 0, old, DRIFT) is None  # not enabled


def test_coalesced_triggers_keep_every_reason_and_key():
    t = Trigger("rows", "feedback row 40", rows=40, rows_at=40).merge(Trigger("drift", "drift", keys=["drift:a"]))
    assert (t.kind, t.rows, t.keys) == ("rows+drift", 40, ["drift:a"]) and t.reason == "feedback row 40; drift"
    assert not answered(t, [{"trigger_rows": 40}]) and answered(
        t, [{"trigger_rows": 40}, {"trigger_keys": ["drift:a"]}]
    )


def test_without_the_rows_trigger_k_rows_start_nothing(make_settings):
    s = make_settings(retrain_triggers=["performance"], retrain_every_k=5)
    loop = RetrainLoop(s)
    try:
        assert loop.rows_appended(4, 5) is False and loop.pending == 0
    finally:
        loop.stop(5)


@pytest.mark.parametrize("kind", ["drift", "performance"])
def test_the_loop_runs_and_records_a_drift_or_performance_retrain(make_settings, kind):
    s = make_settings(
        retrain_triggers=[kind], retrain_f1_window=8, retrain_min_interval_s=0, trigger_check_s=0.2,
        promotion_policy="always",
    )  # fmt: skip
    rows = feedback(s, 8, wrong=True)  # also what the retrain needs: rows newer than the champion
    if kind == "drift":
        write_latest(s, DRIFT)
    loop = RetrainLoop(s)
    try:
        loop.recover(rows)
        deadline = datetime.now() + timedelta(seconds=120)
        while not read_history(Paths.from_settings(s)) and datetime.now() < deadline:
            loop._thread.join(0.2)
    finally:
        loop.stop(60)
    (entry,) = read_history(Paths.from_settings(s))
    assert entry["trigger"] == kind and entry["outcome"] == "promoted" and entry["trigger_reason"]
    assert entry["rows_at"] == 8 and entry["trigger_keys"]
    # Checked again, nothing new: no second run for the same episode or window.
    assert loop.check_triggers() is None


def test_a_report_run_keeps_one_drift_episode_across_runs(make_settings, tmp_path):
    from clipwatch.reporting import run_reports
    from clipwatch.synth import generate_dataset
    from devtools.sandbox import feed as feed_clips

    s = make_settings()
    clips = generate_dataset(tmp_path / "clips", per_class=3, seed=11, shift=True, start=3000, progress=False)
    feed_clips(s, clips)
    write_latest(s, DRIFT)  # the previous run already saw this drift
    summary = run_reports(s)
    assert summary.drift_detected and summary.drift_since == DRIFT["drift_since"]
    assert recent_rows(Paths.from_settings(s).prod_data, 3)[-1]["target"] == clips[-1].parent.name
    np.testing.assert_equal(len(recent_rows(Paths.from_settings(s).prod_data, 100)), len(clips))
