"""Champion/challenger retraining on reference + feedback rows.

A stratified slice of the prod rows is held out; the challenger is trained on
everything else (from scratch, or by growing more trees on the champion with
``warm_start``); both models are scored on the same slice and the challenger
is promoted only if the policy allows. Every run, promoted or not, is appended
to ``artifacts/history.jsonl``. A file lock makes sure at most one retrain
runs at a time across every process sharing the artifacts directory.
"""

from __future__ import annotations

import copy
import fcntl
import json
import logging
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from clipwatch.artifacts import ArtifactStore
from clipwatch.dataset import read_embeddings
from clipwatch.paths import Paths
from clipwatch.settings import Settings, get_settings
from clipwatch.train import build_metadata, classification_metrics, make_forest, publish_model

log = logging.getLogger(__name__)

MIN_PROD_ROWS = 4


@dataclass
class RetrainOutcome:
    id: str
    outcome: str  # promoted | kept | skipped | failed
    started_at: str
    duration_s: float = 0.0
    trigger_rows: int | None = None
    mode: str = "scratch"
    policy: str = "if_better"
    champion_version: str | None = None
    champion_f1: float | None = None
    challenger_f1: float | None = None
    new_version: str | None = None
    holdout_rows: int = 0
    train_rows: int = 0
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def history_path(paths: Paths) -> Path:
    return paths.artifacts_dir / "history.jsonl"


def read_history(paths: Paths, limit: int | None = None) -> list[dict]:
    path = history_path(paths)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a crash: ignore it
            continue
    return entries[-limit:] if limit else entries


def _append_history(paths: Paths, outcome: RetrainOutcome) -> None:
    fd = os.open(history_path(paths), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(outcome.as_dict()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def retrain_lock(paths: Paths) -> Iterator[None]:
    paths.artifacts_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.artifacts_dir / ".retrain.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    counts = {c: int((y == c).sum()) for c in set(y)}
    n_test = max(1, round(fraction * len(y)))
    if min(counts.values()) >= 2 and n_test >= len(counts) and len(y) - n_test >= len(counts):
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
    else:  # some class too rare to stratify: a plain random slice
        splitter = ShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
    train_idx, test_idx = next(splitter.split(np.zeros(len(y)), y))
    return train_idx, test_idx


def retrain(settings: Settings | None = None, *, trigger_rows: int | None = None) -> RetrainOutcome:
    s = settings or get_settings()
    paths = Paths.from_settings(s)
    with retrain_lock(paths):
        started = time.perf_counter()
        outcome = RetrainOutcome(
            id=uuid.uuid4().hex[:12],
            outcome="failed",
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            trigger_rows=trigger_rows,
            mode=s.retrain_mode,
            policy=s.promotion_policy,
        )
        try:
            _run(s, paths, outcome)
        except Exception as exc:
            log.exception("retrain %s failed", outcome.id)
            outcome.outcome, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"
        outcome.duration_s = round(time.perf_counter() - started, 3)
        _append_history(paths, outcome)
        log.info(
            "retrain %s: %s (champion %s F1 %s, challenger F1 %s) in %.1f s",
            outcome.id,
            outcome.outcome,
            outcome.champion_version,
            outcome.champion_f1,
            outcome.challenger_f1,
            outcome.duration_s,
        )
        return outcome


def _run(s: Settings, paths: Paths, outcome: RetrainOutcome) -> None:
    store = ArtifactStore(paths)
    champion = store.load()
    outcome.champion_version = champion.name
    X_ref, y_ref, _ = read_embeddings(paths.ref_data)
    if not paths.prod_data.exists():
        outcome.outcome, outcome.reason = "skipped", "no feedback rows yet"
        return
    X_prod, y_prod, _ = read_embeddings(paths.prod_data)
    if len(y_prod) < MIN_PROD_ROWS:
        outcome.outcome, outcome.reason = "skipped", f"only {len(y_prod)} feedback rows (need {MIN_PROD_ROWS})"
        return
    train_idx, test_idx = _holdout_split(y_prod, s.holdout_fraction, s.seed + len(y_prod))
    X_train = np.vstack([X_ref, X_prod[train_idx]])
    y_train = np.concatenate([y_ref, y_prod[train_idx]])
    X_hold, y_hold = X_prod[test_idx], y_prod[test_idx]
    outcome.holdout_rows, outcome.train_rows = len(test_idx), len(y_train)

    classes = sorted(set(y_train))
    t0 = time.perf_counter()
    mode = s.retrain_mode
    if mode == "warm_start" and list(champion.model.classes_) != classes:
        mode = "scratch"  # new classes: the champion's trees can't be extended
        outcome.extra["warm_start_fallback"] = "class set changed"
    if mode == "warm_start":
        challenger = copy.deepcopy(champion.model)
        challenger.set_params(warm_start=True, n_estimators=challenger.n_estimators + s.warm_start_trees)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            challenger.fit(X_train, y_train)
        challenger.set_params(warm_start=False)
    else:
        challenger = make_forest(s.n_estimators, s.seed, s.train_jobs).fit(X_train, y_train)
    fit_s = time.perf_counter() - t0
    outcome.extra["fit_seconds"] = round(fit_s, 3)

    champ_pred, chal_pred = champion.model.predict(X_hold), challenger.predict(X_hold)
    # Macro F1 over the labels that occur in the holdout or in either model's answers, the same set for both.
    eval_classes = sorted(set(y_hold) | set(champ_pred) | set(chal_pred))
    champ_metrics = classification_metrics(y_hold, champ_pred, eval_classes)
    chal_metrics = classification_metrics(y_hold, chal_pred, eval_classes)
    outcome.champion_f1 = round(champ_metrics["macro_f1"], 4)
    outcome.challenger_f1 = round(chal_metrics["macro_f1"], 4)
    promote = s.promotion_policy == "always" or chal_metrics["macro_f1"] >= champ_metrics["macro_f1"]
    if not promote:
        outcome.outcome, outcome.reason = "kept", "challenger scored lower on the holdout"
        return

    metrics = {
        "evaluation": f"holdout of {len(test_idx)} feedback rows",
        **classification_metrics(y_hold, chal_pred, classes),
        "champion_on_holdout": {k: champ_metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
    }
    training = {
        "rows_ref": len(y_ref),
        "rows_prod": len(train_idx),
        "rows_holdout": len(test_idx),
        "class_counts": {c: int((y_train == c).sum()) for c in classes},
        "retrain_mode": mode,
        "parent_version": champion.name,
        "fit_seconds": round(fit_s, 2),
    }
    metadata = build_metadata(s, paths, classes, int(X_train.shape[1]), challenger, training, metrics)
    title = f"holdout ({len(test_idx)} rows), macro F1 {metrics['macro_f1']:.3f}"
    outcome.new_version = publish_model(paths, challenger, metadata, title)
    outcome.outcome = "promoted"
