"""Evidently reports on clip embeddings (drift) and on feedback (classification quality), over time.

Each run adds timestamped snapshots to a local Evidently workspace (browse it
with `evidently ui`), for all feedback rows and for the latest window:

- drift: per-component K-S drift on a PCA of the embeddings fitted once on
  ref_data.csv (1280 raw columns are too slow for a report), with the share of
  drifted components, and whole-embedding drift (Evidently's model-based
  method, on the full vectors);
- quality: F1, precision, recall (macro; for multiclass, macro recall is the
  balanced accuracy), accuracy, per-class recall, on target vs prediction.

A summary of the latest run goes to <workspace>/latest.json, which the
reporting service also exposes as Prometheus gauges.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from clipwatch.artifacts import ArtifactStore
from clipwatch.backbone import file_sha256
from clipwatch.dataset import PREDICTION, TARGET, read_embeddings
from clipwatch.locking import exclusive
from clipwatch.paths import Paths
from clipwatch.reporting.dashboard import DRIFT_SHARE_ALERT, MIN_ROWS, project
from clipwatch.reporting.snapshots import drift_report, quality_report, reducer
from clipwatch.settings import Settings, get_settings
from clipwatch.stores import open_store, sample_positions

log = logging.getLogger(__name__)

# Beyond the vector and target, what each prod_data.csv column feeds (and what is skipped without it).
OPTIONAL_COLUMNS = {
    PREDICTION: "the quality reports (F1, precision, recall, accuracy) are skipped",
    "model_version": "the model-version panel is skipped",
}
_SAID: set[tuple[Path, str]] = set()  # (file, column) already reported missing by this process
# Whole-embedding drift: ROC AUC of a classifier telling reference from current apart (0.5: no drift).
# A fixed cut-off misfires on small samples (0.59 measured on 30 undrifted clips against 90), so the
# decision compares the score with a bootstrapped null distribution (95% quantile) instead.


@dataclass
class RunSummary:
    timestamp: str
    prod_rows: int
    window_rows: int
    model_version: str | None
    status: str = "ok"  # ok | too_few_rows | no_reference
    drift_share: float | None = None
    drift_share_window: float | None = None
    # Feedback rows unlike anything the live model trained on (clipwatch.novelty); None without a novelty model.
    unfamiliar_share: float | None = None
    unfamiliar_share_window: float | None = None
    embedding_drift: float | None = None
    embedding_drift_window: float | None = None
    embedding_drift_detected: bool | None = None
    drift_detected: bool | None = None
    drift_since: str | None = None  # while drift is detected: the timestamp of the run that first saw it
    f1: float | None = None
    balanced_accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    accuracy: float | None = None
    f1_window: float | None = None
    rows_read: int | None = None  # rows the reports ran on: all of them, or CLIPWATCH_REPORT_MAX_ROWS' sample
    missing_columns: list[str] = field(default_factory=list)  # optional prod_data.csv columns it lacks
    timings_s: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def run_reports(settings: Settings | None = None) -> RunSummary:
    """Compute the reports, add them to the workspace, write latest.json. Never fails on too little data.

    One run at a time per workspace, across processes (the watcher, a CronJob, a run by hand): a second
    waits for the first, so snapshots and latest.json are never written by two at once."""
    s = settings or get_settings()
    with exclusive(Paths.from_settings(s).report_lock):
        return _run_reports(s)


def _run_reports(s: Settings) -> RunSummary:
    from evidently.ui.workspace import Workspace

    paths = Paths.from_settings(s)
    paths.workspace.mkdir(parents=True, exist_ok=True)
    ws = Workspace.create(str(paths.workspace))
    project_id = project(ws).id
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    n, window, table = _sample_feedback(s)
    summary = RunSummary(now.isoformat(timespec="seconds"), n, window, ArtifactStore(paths).current_name())
    if not paths.ref_data.exists():
        summary.status = "no_reference"
    elif n < MIN_ROWS:
        summary.status = "too_few_rows"
    if summary.status != "ok":
        return _record_status(ws, project_id, paths, summary, now)

    ref_X, _, _ = read_embeddings(paths.ref_data)
    pca = reducer(ref_X, file_sha256(paths.ref_data), paths.report_pca, s.report_pca_components, s.seed)
    summary.rows_read = len(table)
    prod = _feedback_frame(paths, table.frame, summary)
    unfamiliar = _unfamiliar(paths, table.X)
    if unfamiliar is not None:
        prod = prod.assign(unfamiliar=unfamiliar)
    has_prediction = PREDICTION in prod.columns
    classes = sorted(set(prod[TARGET].astype(str)) | set(prod[PREDICTION].astype(str))) if has_prediction else []
    latest = table.positions >= n - window
    for scope, rows in (("all", slice(None)), ("window", latest)):
        part = prod[rows] if scope == "window" else prod
        _report_scope(ws, project_id, s, summary, scope, (ref_X, table.X[rows], pca), part, classes, now)
    # The alert needs both signals: the model-based verdict alone fires on small undrifted samples
    # (seen: 30 ordinary clips against a 90-row reference scored 0.68 and were flagged).
    summary.drift_detected = bool((summary.drift_share or 0) > DRIFT_SHARE_ALERT and summary.embedding_drift_detected)
    if summary.drift_detected:
        # One drift episode, one id, however many runs it lasts: what the drift retrain trigger keys on.
        previous = read_latest(s) or {}
        summary.drift_since = (
            previous.get("drift_since") if previous.get("drift_detected") else None
        ) or summary.timestamp
    summary.timings_s["total"] = round(time.perf_counter() - t0, 2)
    _write_latest(paths, summary)
    log.info(
        "reports: %d rows, drift share %.2f, embedding drift %.2f, F1 %s in %.1f s",
        n,
        summary.drift_share,
        summary.embedding_drift,
        "n/a" if summary.f1 is None else f"{summary.f1:.3f}",
        summary.timings_s["total"],
    )
    return summary


def _sample_feedback(s: Settings):
    """(rows in the store, the latest window's size, a bounded sample: the latest window, then a uniform
    sample of the older rows), so a run costs the same whatever the store's size."""
    store = open_store(s)
    try:
        n = store.count()
        window = min(n, s.report_window)
        table = store.read(sample_positions(n, n - window, max(s.report_max_rows, window), s.seed + n)) if n else None
    finally:
        store.close()
    return n, window, table


def _record_status(ws, project_id, paths: Paths, summary: RunSummary, now: datetime) -> RunSummary:
    """A run with nothing to report records the fact, with the row count, so the dashboard shows why
    nothing else moved."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import RowCount

    df = pd.DataFrame({"rows": [summary.prod_rows]})
    snap = Report([RowCount()]).run(
        Dataset.from_pandas(df, data_definition=DataDefinition(numerical_columns=["rows"])),
        None,
        timestamp=now,
        tags=["status", summary.status],
    )
    ws.add_run(project_id, snap, include_data=False, name=summary.status)
    _write_latest(paths, summary)
    log.info("reports: %s (%d feedback rows, need %d)", summary.status, summary.prod_rows, MIN_ROWS)
    return summary


def _feedback_frame(paths: Paths, prod: pd.DataFrame, summary: RunSummary) -> pd.DataFrame:
    """The feedback rows' cells, with the model version as a number. The seed's prod_data.csv has the
    vector, target and prediction only; a hand-made one may lack the prediction too. What a column
    feeds is skipped without it, and said once per process."""
    summary.missing_columns = [c for c in OPTIONAL_COLUMNS if c not in prod.columns]
    _say_missing(paths.prod_data, summary.missing_columns)
    if "model_version" in prod.columns:
        prod = prod.assign(
            model_number=prod["model_version"].astype(str).str.lstrip("v").apply(pd.to_numeric, errors="coerce")
        )
    return prod


def _report_scope(ws, project_id, s: Settings, summary, scope: str, vectors, part, classes, now) -> None:
    """Drift, quality and model-version snapshots over one scope ("all" rows read, or the latest
    "window"), into the workspace and the summary."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    ref_X, prod_X, pca = vectors
    t = time.perf_counter()
    snap, share, score, detected = drift_report(
        ref_X, prod_X, pca, share_alert=DRIFT_SHARE_ALERT, timestamp=now, tags=["drift", scope]
    )
    ws.add_run(project_id, snap, include_data=False, name=f"drift ({scope})")
    summary.timings_s[f"drift_{scope}"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    numbers = {}
    if PREDICTION in part.columns:
        qsnap, numbers = quality_report(part, classes, min_f1=s.retrain_min_f1, timestamp=now, tags=["quality", scope])
        ws.add_run(project_id, qsnap, include_data=False, name=f"quality ({scope})")
    if "model_number" in part.columns:
        versions = part[["model_number"]].fillna(0)
        vsnap = Report([MeanValue(column="model_number")]).run(
            Dataset.from_pandas(versions, data_definition=DataDefinition(numerical_columns=["model_number"])),
            None,
            timestamp=now,
            tags=["quality", scope],
        )
        ws.add_run(project_id, vsnap, include_data=False, name=f"model version ({scope})")
    if "unfamiliar" in part.columns:
        usnap = Report([MeanValue(column="unfamiliar")]).run(
            Dataset.from_pandas(part[["unfamiliar"]], data_definition=DataDefinition(numerical_columns=["unfamiliar"])),
            None,
            timestamp=now,
            tags=["novelty", scope],
        )
        ws.add_run(project_id, usnap, include_data=False, name=f"unfamiliar clips ({scope})")
        unfamiliar = float(part["unfamiliar"].mean()) if len(part) else None
        if scope == "all":
            summary.unfamiliar_share = unfamiliar
        else:
            summary.unfamiliar_share_window = unfamiliar
    summary.timings_s[f"quality_{scope}"] = round(time.perf_counter() - t, 2)
    if scope == "all":
        summary.drift_share, summary.embedding_drift = share, score
        summary.embedding_drift_detected = detected
        summary.f1, summary.precision = numbers.get("F1Score"), numbers.get("Precision")
        summary.recall = summary.balanced_accuracy = numbers.get("Recall")
        summary.accuracy = numbers.get("Accuracy")
    else:
        summary.drift_share_window, summary.embedding_drift_window = share, score
        summary.f1_window = numbers.get("F1Score")


def _unfamiliar(paths: Paths, X: np.ndarray):
    """1 for each feedback row unlike anything the live model trained on, else 0 (clipwatch.novelty);
    None when the live version has no novelty model."""
    from clipwatch.novelty import NOVELTY_FILE, Novelty

    name = ArtifactStore(paths).current_name()
    path = paths.version_dir(name) / NOVELTY_FILE if name else None
    if path is None or not path.is_file():
        return None
    return (Novelty.load(path).score(X) > 1.0).astype(float)


def _say_missing(prod_data: Path, missing: list[str]) -> None:
    for column in missing:
        if (prod_data, column) not in _SAID:
            _SAID.add((prod_data, column))
            log.warning("%s has no %r column: %s", prod_data, column, OPTIONAL_COLUMNS[column])


def _write_latest(paths: Paths, summary: RunSummary) -> None:
    tmp = paths.latest_report.with_name(f".{paths.latest_report.name}.tmp")
    tmp.write_text(json.dumps(summary.as_dict(), indent=2))
    tmp.replace(paths.latest_report)


def read_latest(settings: Settings | None = None) -> dict | None:
    try:
        return json.loads(Paths.from_settings(settings).latest_report.read_text())
    except (OSError, ValueError):
        return None
