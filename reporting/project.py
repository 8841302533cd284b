"""Reporting entry point (the seed's `reporting/project.py`).

    python project.py            build the Evidently project and add one run of reports, then exit
    python project.py --watch    keep reports fresh: a run every REPORT_EVERY_S and after every retrain,
                                 and serve the latest figures as Prometheus gauges on :8083/metrics

The container runs `python project.py && (python project.py --watch &) && evidently ui ...`,
so the UI never needs restarting: it reads the workspace as runs land.
All logic lives in clipwatch.reporting.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import datetime

os.environ.setdefault("DO_NOT_TRACK", "1")

from clipwatch.logs import configure
from clipwatch.paths import Paths
from clipwatch.reporting import read_latest, run_reports
from clipwatch.settings import get_settings

log = logging.getLogger("reporting")
GAUGES = {
    "drift_share": "share of drifted embedding PCA components (all feedback rows)",
    "drift_share_window": "share of drifted embedding PCA components (latest window)",
    "embedding_drift": "whole-embedding drift score, ROC AUC (all feedback rows)",
    "embedding_drift_window": "whole-embedding drift score, ROC AUC (latest window)",
    "f1": "macro F1 on feedback rows",
    "balanced_accuracy": "balanced accuracy (macro recall) on feedback rows",
    "precision": "macro precision on feedback rows",
    "accuracy": "accuracy on feedback rows",
    "prod_rows": "feedback rows in prod_data.csv",
    "unfamiliar_share": "share of feedback rows unlike anything the live model trained on (all rows)",
    "unfamiliar_share_window": "share of feedback rows unlike anything the live model trained on (latest window)",
}


def serve_gauges(port: int, host: str) -> None:
    from prometheus_client import REGISTRY, start_http_server
    from prometheus_client.core import GaugeMetricFamily

    class LatestCollector:
        def collect(self):
            latest = read_latest() or {}
            for key, doc in GAUGES.items():
                value = latest.get(key)
                if value is not None:
                    g = GaugeMetricFamily(f"clipwatch_report_{key}", doc)
                    g.add_metric([], float(value))
                    yield g
            g = GaugeMetricFamily("clipwatch_report_drift_detected", "1 when the latest run flagged drift")
            g.add_metric([], float(bool(latest.get("drift_detected"))))
            yield g
            if latest.get("timestamp"):
                g = GaugeMetricFamily(
                    "clipwatch_report_last_run_timestamp_seconds", "when the latest report run finished (Unix time)"
                )
                g.add_metric([], datetime.fromisoformat(latest["timestamp"]).timestamp())
                yield g

    REGISTRY.register(LatestCollector())
    start_http_server(port, host)


def safe_run() -> None:
    try:
        run_reports()
    except Exception:  # a bad run must not stop the scheduler; the next one may succeed
        log.exception("report run failed")


def watch() -> None:
    s = get_settings()
    serve_gauges(s.reporting_metrics_port, s.metrics_host)
    history = Paths.from_settings(s).history

    def stamp() -> float:
        try:
            return history.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    seen, next_run = stamp(), time.monotonic() + s.report_every_s
    log.info(
        "watching: a run every %.0f s and after each retrain; gauges on %s:%d",
        s.report_every_s,
        s.metrics_host,
        s.reporting_metrics_port,
    )
    while True:
        time.sleep(1)
        if stamp() != seen or time.monotonic() >= next_run:
            seen = stamp()
            safe_run()
            next_run = time.monotonic() + s.report_every_s


def main() -> int:
    configure()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watch", action="store_true", help="keep running: scheduled and post-retrain runs")
    args = parser.parse_args()
    if args.watch:
        watch()
        return 0
    summary = run_reports()
    print(f"reports: {summary.status}, {summary.prod_rows} feedback rows, workspace {Paths.from_settings().workspace}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
