"""Evidently reports on clip embeddings (drift) and feedback (quality): clipwatch.reporting.run."""

from clipwatch.reporting.dashboard import DRIFT_SHARE_ALERT
from clipwatch.reporting.run import RunSummary, read_latest, run_reports

__all__ = ["DRIFT_SHARE_ALERT", "RunSummary", "read_latest", "run_reports"]
