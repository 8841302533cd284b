"""Evidently reports: too little data is recorded, drift shows on shifted clips and not on ordinary ones."""

import contextlib
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from clipwatch.paths import Paths
from clipwatch.reporting import DRIFT_SHARE_ALERT, run_reports
from clipwatch.settings import PROJECT_ROOT
from clipwatch.synth import generate_dataset
from devtools.processes import NotReady, free_port, stop, wait_http
from devtools.sandbox import feed

pytestmark = pytest.mark.slow


def test_too_few_rows_is_recorded_not_an_error(make_settings, videos):
    s = make_settings()
    summary = run_reports(s)
    assert summary.status == "too_few_rows" and summary.prod_rows == 0
    feed(s, sorted(videos.rglob("*.mp4"))[:3])
    summary = run_reports(s)
    assert summary.status == "too_few_rows" and summary.prod_rows == 3
    latest = json.loads((Paths.from_settings(s).workspace / "latest.json").read_text())
    assert latest["status"] == "too_few_rows"


@pytest.mark.parametrize("shift", [True, False])
def test_shifted_clips_drift_and_ordinary_clips_do_not(make_settings, tmp_path, shift):
    s = make_settings()
    clips = generate_dataset(tmp_path / "clips", per_class=5, seed=11, shift=shift, start=3000, progress=False)
    feed(s, clips)
    summary = run_reports(s)
    assert summary.status == "ok" and summary.prod_rows == 30
    if shift:
        assert summary.drift_share > DRIFT_SHARE_ALERT, summary
        assert summary.embedding_drift_detected and summary.embedding_drift > 0.7, summary
        assert summary.drift_detected
    else:
        assert summary.drift_share < DRIFT_SHARE_ALERT, summary
        assert summary.embedding_drift < 0.7, summary  # shifted clips score ~0.74 on the PCA components
        assert not summary.drift_detected
    assert 0 <= summary.f1 <= 1 and summary.balanced_accuracy == summary.recall
    # Rendered clips like the training ones are familiar to the live model: few are flagged either way.
    assert summary.unfamiliar_share is not None and summary.unfamiliar_share <= 0.2, summary
    # Both scopes ran, and the snapshots landed in the workspace.
    assert {"drift_all", "drift_window", "quality_all", "quality_window"} <= set(summary.timings_s)
    assert len(list(Paths.from_settings(s).workspace.rglob("snapshots/*.json"))) >= 6
    # The alert lines are Evidently tests: the UI shows each run's verdict.
    verdicts = {}
    for snap in Paths.from_settings(s).workspace.rglob("snapshots/*.json"):
        for result in json.loads(snap.read_text())["metric_results"].values():
            for test in result.get("tests") or []:
                verdicts.setdefault(test["name"].split(":")[0], set()).add(test["status"])
    drift = verdicts["Share of Drifted Columns"]
    assert drift == ({"FAIL"} if shift else {"SUCCESS"}), verdicts
    assert verdicts["F1 score metric"] <= {"SUCCESS", "FAIL"}, verdicts  # against CLIPWATCH_RETRAIN_MIN_F1


def test_watch_mode_serves_the_latest_figures_as_gauges(make_settings, videos):
    s = make_settings()
    feed(s, sorted(videos.rglob("*.mp4"))[:12])
    port = free_port()
    env = {
        **os.environ,
        "CLIPWATCH_DATA_DIR": str(s.data_dir),
        "CLIPWATCH_ARTIFACTS_DIR": str(s.artifacts_dir),
        "CLIPWATCH_REPORTING_METRICS_PORT": str(port),
        "REPORT_EVERY_S": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "reporting" / "project.py"), "--watch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        text = ""
        with contextlib.suppress(NotReady):
            url = f"http://127.0.0.1:{port}/metrics"
            text = wait_http(url, 120, ok=lambda r: "clipwatch_report_f1" in r.text, proc=proc, interval=1).text
        assert "clipwatch_report_f1 " in text
        assert "clipwatch_report_drift_share " in text and "clipwatch_report_prod_rows 12.0" in text
    finally:
        stop(proc, 10)
    shutil.rmtree(Paths.from_settings(s).workspace, ignore_errors=True)


def seed_format_prod_data(settings, columns: list[str]) -> Paths:
    """prod_data.csv as the course handout's seed writes it: the vector, target and prediction, no more."""
    paths = Paths.from_settings(settings)
    ref = pd.read_csv(paths.ref_data)
    rows = ref.sample(n=24, random_state=0).reset_index(drop=True)
    rows["prediction"] = rows["target"].where(rows.index % 4 != 0, rows["target"].iloc[::-1].to_numpy())
    rows[[c for c in rows.columns if c.startswith("emb_")] + columns].to_csv(paths.prod_data, index=False)
    return paths


def test_the_seeds_prod_data_csv_is_reported_without_the_extra_columns(make_settings):
    s = make_settings()
    seed_format_prod_data(s, ["target", "prediction"])
    summary = run_reports(s)
    assert summary.status == "ok" and summary.prod_rows == 24
    assert summary.drift_share is not None and 0 < summary.f1 < 1
    assert summary.missing_columns == ["model_version"]


def test_without_predictions_drift_is_reported_and_the_gap_said_once(make_settings, caplog):
    s = make_settings()
    paths = seed_format_prod_data(s, ["target"])
    with caplog.at_level("WARNING", logger="clipwatch.reporting.run"):
        first, second = run_reports(s), run_reports(s)
    assert first.status == "ok" and first.drift_share is not None and first.f1 is None
    assert second.missing_columns == ["prediction", "model_version"]
    said = [r.getMessage() for r in caplog.records if str(paths.prod_data) in r.getMessage()]
    assert len(said) == 2, said  # one line per missing column, not one per run
    assert "no 'prediction' column: the quality reports" in said[0]


def test_report_runs_take_turns(make_settings):
    """Two report runs on one workspace (the watcher and a CronJob) never write at once: the second waits."""
    import threading

    from clipwatch.locking import exclusive

    s = make_settings()
    done = threading.Event()
    with exclusive(Paths.from_settings(s).report_lock):
        t = threading.Thread(target=lambda: (run_reports(s), done.set()), daemon=True)
        t.start()
        assert not done.wait(1.5), "a report run went ahead while another held the workspace"
    assert done.wait(120)
