"""The feedback-to-retrain loop: when a retrain is due, and recovering one a killed process lost."""

import pytest

from clipwatch.history import RetrainOutcome, append_history
from clipwatch.loop import RetrainLoop, missed_trigger, retrain_due
from clipwatch.paths import Paths


@pytest.mark.parametrize(
    ("before", "after", "k", "due"),
    [(18, 19, 20, False), (19, 20, 20, True), (39, 41, 20, True), (20, 21, 20, False), (5, 500, 0, False)],
)
def test_a_retrain_is_due_each_time_the_row_count_crosses_a_multiple_of_k(before, after, k, due):
    assert retrain_due(before, after, k) is due


def test_a_trigger_without_a_run_in_the_history_is_found_again(tmp_path):
    paths = Paths(tmp_path / "data", tmp_path / "artifacts")
    paths.artifacts_dir.mkdir()
    assert missed_trigger(paths, 45, 20) == 40  # no history at all: the last boundary was lost
    append_history(paths, RetrainOutcome("a", "promoted", "t", trigger_rows=40))
    assert missed_trigger(paths, 45, 20) is None
    assert missed_trigger(paths, 61, 20) == 60
    assert missed_trigger(paths, 19, 20) is None and missed_trigger(paths, 100, 0) is None


def test_the_loop_queues_only_due_rows_and_reports_each_run(make_settings):
    s = make_settings(retrain_every_k=3)
    heard: list[RetrainOutcome] = []
    loop = RetrainLoop(s, on_outcome=heard.append)
    try:
        assert loop.rows_appended(0, 2) is False
        assert loop.rows_appended(2, 3) is True
        loop.stop(timeout=120)  # the queued run finishes first
    finally:
        loop.stop()
    assert [o.trigger_rows for o in heard] == [3]
    assert heard[0].outcome == "skipped"  # no prod_data.csv in this copy: nothing to learn from
    assert [e["trigger_rows"] for e in loop.history()] == [3]
    assert loop.state()["completed"] == 1 and loop.state()["last"]["trigger_rows"] == 3


def test_triggers_coalesce_into_one_waiting_run(make_settings, monkeypatch):
    import threading
    import time

    from clipwatch import loop as loop_module

    release = threading.Event()
    runs: list[int] = []

    def slow_retrain(settings, *, trigger):
        release.wait(30)
        runs.append(trigger.rows)
        return RetrainOutcome("x", "kept", "t", trigger_rows=trigger.rows)

    monkeypatch.setattr(loop_module, "retrain", slow_retrain)
    loop = RetrainLoop(make_settings(retrain_every_k=1))
    try:
        loop.rows_appended(0, 1)
        for _ in range(500):  # until the worker has taken the first trigger
            if loop.running:
                break
            time.sleep(0.01)
        for rows in range(2, 51):  # 49 more triggers while the first run is still going
            loop.rows_appended(rows - 1, rows)
        assert loop.pending == 1 and loop.coalesced == 48
        release.set()
        loop.stop(timeout=30)
    finally:
        release.set()
        loop.stop()
    assert runs[0] == 1 and runs[-1] == 50 and len(runs) == 2  # the running one, then the newest
