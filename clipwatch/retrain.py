"""Champion/challenger retraining on reference + feedback rows.

The two models are compared on the feedback rows appended since the champion was built, the only
rows it never trained on. Each of those rows is predicted by a challenger fitted without it
(cross-fitting), then the challenger is fitted on everything (from scratch, or by growing more trees
on the champion with ``warm_start``) and promoted only if the policy allows. Every run, promoted or
not, is appended to ``artifacts/history.jsonl``. A file lock makes sure at most one retrain runs at a
time across every process sharing the artifacts directory.
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
from sklearn.model_selection import KFold, StratifiedKFold

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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def missed_trigger(paths: Paths, rows: int, k: int) -> int | None:
    """The last multiple of k the feedback count has reached if no retrain ran for it (a crash lost it)."""
    if not k or rows < k:
        return None
    boundary = rows // k * k
    answered = max((e.get("trigger_rows") or 0 for e in read_history(paths)), default=0)
    return boundary if boundary > answered else None


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


def rows_seen(champion_training: dict, n_prod: int) -> int:
    """How many leading prod rows the champion could have trained on (prod_data.csv is append-only)."""
    if "prod_rows_seen" in champion_training:
        seen = int(champion_training["prod_rows_seen"])
    else:  # versions published before prod_rows_seen was recorded
        seen = int(champion_training.get("rows_prod", 0)) + int(champion_training.get("rows_holdout", 0))
    return seen if seen <= n_prod else 0  # prod_data.csv was replaced: every row is new to the champion


def _folds(y: np.ndarray, n_folds: int, seed: int):
    n_folds = max(2, min(n_folds, len(y)))
    if min(int((y == c).sum()) for c in set(y)) >= n_folds:
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))


def retrain(settings: Settings | None = None, *, trigger_rows: int | None = None) -> RetrainOutcome:
    s = settings or get_settings()
    paths = Paths.from_settings(s)
    with retrain_lock(paths):
        if trigger_rows is not None and any(e.get("trigger_rows") == trigger_rows for e in read_history(paths)):
            # Several processes found the same missed trigger at start-up; the first one ran it.
            return RetrainOutcome(
                uuid.uuid4().hex[:12],
                "skipped",
                _now(),
                trigger_rows=trigger_rows,
                reason=f"feedback row {trigger_rows} already had its retrain",
            )
        started = time.perf_counter()
        outcome = RetrainOutcome(
            id=uuid.uuid4().hex[:12],
            outcome="failed",
            started_at=_now(),
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
    # The comparison is fair only on rows the champion never trained on: the ones appended since it was
    # built. Each is predicted by a challenger fitted without it (cross-fitting over those rows, with all
    # older rows and the reference always in training), then the challenger is refitted on everything.
    seen = rows_seen(champion.metadata.get("training", {}), len(y_prod))
    new = np.arange(seen, len(y_prod))
    if len(new) < MIN_PROD_ROWS:
        outcome.outcome = "skipped"
        outcome.reason = f"only {len(new)} feedback rows newer than {champion.name} (need {MIN_PROD_ROWS})"
        return
    X_all = np.vstack([X_ref, X_prod])
    y_all = np.concatenate([y_ref, y_prod])
    new_all = len(y_ref) + new  # the new rows' positions in X_all
    t0 = time.perf_counter()
    oof = np.empty(len(new), dtype=object)
    modes: set[str] = set()
    for _, test_new in _folds(y_prod[new], s.eval_folds, s.seed + len(y_prod)):
        keep = np.ones(len(y_all), dtype=bool)
        keep[new_all[test_new]] = False
        fold_model, fold_mode = _fit_challenger(s, champion.model, X_all[keep], y_all[keep])
        modes.add(fold_mode)
        oof[test_new] = fold_model.predict(X_prod[new[test_new]])
    challenger, mode = _fit_challenger(s, champion.model, X_all, y_all)
    modes.add(mode)
    fit_s = time.perf_counter() - t0
    outcome.extra["fit_seconds"] = round(fit_s, 3)
    if modes != {s.retrain_mode}:
        outcome.extra["warm_start_fallback"] = "class set changed"
    outcome.holdout_rows, outcome.train_rows = len(new), len(y_all)

    y_new, champ_pred = y_prod[new], champion.model.predict(X_prod[new])
    chal_pred = oof.astype(str)
    # Macro F1 over the labels that occur in the new rows or in either model's answers, the same set for both.
    eval_classes = sorted(set(y_new) | set(champ_pred) | set(chal_pred))
    champ_metrics = classification_metrics(y_new, champ_pred, eval_classes)
    chal_metrics = classification_metrics(y_new, chal_pred, eval_classes)
    outcome.champion_f1 = round(champ_metrics["macro_f1"], 4)
    outcome.challenger_f1 = round(chal_metrics["macro_f1"], 4)
    promote = s.promotion_policy == "always" or chal_metrics["macro_f1"] >= champ_metrics["macro_f1"]
    if not promote:
        outcome.outcome, outcome.reason = "kept", f"challenger scored lower on the {len(new)} new rows"
        return

    classes = sorted(set(y_all))
    metrics = {
        "evaluation": f"cross-fitting on the {len(new)} feedback rows newer than {champion.name}",
        **classification_metrics(y_new, chal_pred, classes),
        "champion_on_holdout": {k: champ_metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
    }
    training = {
        "rows_ref": len(y_ref),
        "rows_prod": len(y_prod),
        "prod_rows_seen": len(y_prod),
        "rows_evaluated": len(new),
        "class_counts": {c: int((y_all == c).sum()) for c in classes},
        "retrain_mode": mode,
        "parent_version": champion.name,
        "fit_seconds": round(fit_s, 2),
    }
    metadata = build_metadata(s, paths, classes, int(X_all.shape[1]), challenger, training, metrics)
    title = f"cross-fitted on {len(new)} new rows, macro F1 {metrics['macro_f1']:.3f}"
    outcome.new_version = publish_model(paths, challenger, metadata, title)
    outcome.outcome = "promoted"


def _fit_challenger(s: Settings, champion_model, X: np.ndarray, y: np.ndarray):
    """A challenger fitted on (X, y): from scratch, or the champion with more trees; and the mode used."""
    if s.retrain_mode == "warm_start" and list(champion_model.classes_) == sorted(set(y)):
        model = copy.deepcopy(champion_model)
        model.set_params(warm_start=True, n_estimators=model.n_estimators + s.warm_start_trees)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X, y)
        model.set_params(warm_start=False)
        return model, "warm_start"
    # scratch, or warm_start with a changed class set (the champion's trees can't be extended)
    return make_forest(s.n_estimators, s.seed, s.train_jobs).fit(X, y), "scratch"
