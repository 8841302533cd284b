"""One champion/challenger retrain on reference + feedback rows (its outcome goes to clipwatch.history).

The two models are compared on the feedback rows appended since the champion was built, the only
rows it never trained on. Each of those rows is predicted by a challenger fitted without it
(cross-fitting, clipwatch.quality), then the challenger is fitted on everything but the guard set
(from scratch, or by growing more trees on the champion with ``warm_start``) and published only if
the policy allows. Under ``if_better`` it must also hold on the guard set (clipwatch.guard): no
worse than the champion by more than CLIPWATCH_GUARD_TOLERANCE, which k mislabelled rows cannot fake.
When and under which lock a retrain runs is clipwatch.loop's business; every run, promoted or not,
is appended to ``artifacts/history.jsonl``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from clipwatch import classifiers, guard
from clipwatch.artifacts import ArtifactStore
from clipwatch.calibration import calibrate
from clipwatch.contract import REBUILD, check_table, from_metadata, mismatches
from clipwatch.dataset import read_embeddings
from clipwatch.errors import DatasetError
from clipwatch.history import RetrainOutcome, now
from clipwatch.lineage import feedback_start, rows_seen
from clipwatch.paths import Paths
from clipwatch.quality import classification_metrics, compare, cross_fit, headline
from clipwatch.reference import table_sha256
from clipwatch.settings import Settings
from clipwatch.stores import FeedbackTable, open_store, sample_positions
from clipwatch.train import build_metadata, groups_of_rows, publish_model
from clipwatch.triggers import Trigger

log = logging.getLogger(__name__)

MIN_PROD_ROWS = 4
MIN_CALIBRATION_ROWS = 20  # new rows a challenger's own temperature is fitted on, at least


def challenge(s: Settings, paths: Paths, trigger: Trigger) -> RetrainOutcome:
    """Fit a challenger, compare it with the champion, publish it if the policy allows. Never raises:
    a failure is an outcome like any other."""
    started = time.perf_counter()
    outcome = RetrainOutcome(
        id=uuid.uuid4().hex[:12],
        outcome="failed",
        started_at=now(),
        trigger_rows=trigger.rows,
        trigger=trigger.kind,
        trigger_reason=trigger.reason,
        trigger_keys=trigger.keys,
        rows_at=trigger.rows_at,
        mode=s.retrain_mode,
        policy=s.promotion_policy,
    )
    try:
        _run(s, paths, outcome)
    except Exception as exc:
        log.exception("retrain %s failed", outcome.id)
        outcome.outcome, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"
    outcome.duration_s = round(time.perf_counter() - started, 3)
    log.info(
        "retrain %s (%s: %s): %s (champion %s F1 %s, challenger F1 %s) in %.1f s",
        outcome.id,
        outcome.trigger,
        outcome.trigger_reason,
        outcome.outcome,
        outcome.champion_version,
        outcome.champion_f1,
        outcome.challenger_f1,
        outcome.duration_s,
    )
    return outcome


@dataclass
class _Rows:
    """What one retrain fits and scores on."""

    X_ref: np.ndarray  # reference rows, the guard set left out
    y_ref: np.ndarray
    guard_split: guard.GuardSplit
    X_guard: np.ndarray
    y_guard: np.ndarray
    table: FeedbackTable  # a bounded sample of the feedback rows: every one newer than the champion
    n_prod: int  # feedback rows in the store
    new: np.ndarray  # indices into table of the rows the champion never saw
    old: np.ndarray
    start: int = 0  # the first feedback position of the champion's lineage (clipwatch.projects.deploy)

    @property
    def X_all(self) -> np.ndarray:
        return np.vstack([self.X_ref, self.table.X])

    @property
    def y_all(self) -> np.ndarray:
        return np.concatenate([self.y_ref, self.table.y])


def _run(s: Settings, paths: Paths, outcome: RetrainOutcome) -> None:
    champion = ArtifactStore(paths).load()
    outcome.champion_version = champion.name
    contract = _champion_contract(s, champion)
    rows = _gather_rows(s, paths, champion, contract, outcome)
    if rows is None:
        return  # skipped: outcome.reason says why
    challenger, chal_pred, mode, fit_s, calibration = _fit(s, champion, rows, outcome)
    y_new = rows.table.y[rows.new]
    champ_metrics, chal_metrics = compare(y_new, champion.model.predict(rows.table.X[rows.new]), chal_pred)
    outcome.champion_f1 = round(champ_metrics["macro_f1"], 4)
    outcome.challenger_f1 = round(chal_metrics["macro_f1"], 4)
    champion_rows = (
        np.vstack([rows.X_ref, rows.table.X[rows.old]]),
        np.concatenate([rows.y_ref, rows.table.y[rows.old]]),
    )
    g = rows.guard_split
    guard_metrics = _guard_scores(s, outcome, champion, challenger, g, (rows.X_guard, rows.y_guard), champion_rows)
    if s.promotion_policy == "if_better" and not _passes_gate(s, outcome, champ_metrics, chal_metrics, rows):
        return
    classes = sorted(set(rows.y_all))
    metrics = {
        "evaluation": f"cross-fitting on the {len(rows.new)} feedback rows newer than {champion.name}",
        **classification_metrics(y_new, chal_pred, classes),
        "champion_on_holdout": headline(champ_metrics),
        **({"guard": guard_metrics} if guard_metrics else {}),
        "calibration": calibration,
    }
    y_all = rows.y_all
    training = {
        "rows_ref": len(rows.y_ref),
        "rows_prod": len(rows.table),
        "rows_prod_total": rows.n_prod,
        "guard": {**g.describe(), "fraction": s.guard_fraction},
        "prod_rows_seen": rows.n_prod,
        "feedback_from": rows.start,
        "reference_sha256": table_sha256(paths.ref_data),
        "rows_evaluated": len(rows.new),
        "class_counts": {c: int((y_all == c).sum()) for c in classes},
        "retrain_mode": mode,
        "parent_version": champion.name,
        "fit_seconds": round(fit_s, 2),
    }
    metadata = build_metadata(s, paths, classes, contract, challenger, training, metrics)
    title = f"cross-fitted on {len(rows.new)} new rows, macro F1 {metrics['macro_f1']:.3f}"
    outcome.new_version = publish_model(paths, challenger, metadata, title, rows.X_all, s)
    outcome.outcome = "promoted"


def _champion_contract(s: Settings, champion) -> dict:
    """The champion's embedding contract; the challenger embeds like it, so settings that moved since
    need a rebuild, not a retrain."""
    contract = from_metadata(champion.metadata)
    wanted = {
        "num_frames": s.num_frames,
        "input_size": s.input_size,
        "sampling": s.sampling,
        "pooling": s.pooling,
        "stream": s.stream,
        "dynamic_frames": None if s.stream == "rgb" else s.dynamic_frames,
    }
    if problems := mismatches({k: contract[k] for k in wanted}, wanted):
        raise DatasetError(f"the live model {champion.name}: {'; '.join(problems)}: {REBUILD}")
    return contract


def _gather_rows(s: Settings, paths: Paths, champion, contract: dict, outcome: RetrainOutcome) -> _Rows | None:
    """Reference rows (guard set apart) and a bounded sample of feedback; None, with the reason in
    outcome, when there are too few feedback rows the champion never saw."""
    X_ref, y_ref, _ = read_embeddings(paths.ref_data)
    check_table(paths.ref_data, contract, X_ref.shape[1])
    g = guard.split(y_ref, s, groups_of_rows(paths.ref_data, len(y_ref), s))
    store = open_store(s)
    try:
        n_prod = store.count()
        # A version deployed from a project learnt other actions: feedback from before it is not its lineage's.
        start = feedback_start(champion.metadata.get("training", {}), n_prod)
        if n_prod - start == 0:
            outcome.outcome, outcome.reason = "skipped", "no feedback rows yet"
            return None
        if n_prod - start < MIN_PROD_ROWS:
            outcome.outcome, outcome.reason = "skipped", f"only {n_prod - start} feedback rows (need {MIN_PROD_ROWS})"
            return None
        # The comparison is fair only on rows the champion never trained on: the ones appended since it was built.
        seen = max(rows_seen(champion.metadata.get("training", {}), n_prod), start)
        if n_prod - seen < MIN_PROD_ROWS:
            outcome.outcome = "skipped"
            outcome.reason = f"only {n_prod - seen} feedback rows newer than {champion.name} (need {MIN_PROD_ROWS})"
            return None
        # A bounded fit: every row newer than the champion, then a uniform sample of the older ones.
        picked = sample_positions(n_prod - start, seen - start, s.retrain_max_rows, s.seed + n_prod)
        table = store.read(start + picked)
        store.check_vectors(table.X.shape[1], contract)
    finally:
        store.close()
    new, old = np.flatnonzero(table.positions >= seen), np.flatnonzero(table.positions < seen)
    if len(table) < n_prod:
        outcome.extra["sample"] = {"rows": len(table), "of": n_prod, "new": len(new), "cap": s.retrain_max_rows}
    return _Rows(X_ref[g.train], y_ref[g.train], g, X_ref[g.guard], y_ref[g.guard], table, n_prod, new, old, start)


def _fit(s: Settings, champion, rows: _Rows, outcome: RetrainOutcome):
    """The challenger fitted on every row, and its cross-fitted predictions of the new rows (each by a
    challenger fitted without it); the mode the published one used, and the seconds it all took."""
    modes: list[str] = []  # how each fit went: warm_start falls back to scratch when a class is missing

    def fit(X: np.ndarray, y: np.ndarray):
        model, mode = classifiers.fit_challenger(s, champion.model, X, y)
        modes.append(mode)
        return model

    X_all, y_all = rows.X_all, rows.y_all
    t0 = time.perf_counter()
    chal_pred, chal_proba, fold_of = cross_fit(
        fit, X_all, y_all, len(rows.y_ref) + rows.new, s.eval_folds, s.seed + rows.n_prod
    )
    challenger = fit(X_all, y_all)
    fit_s = time.perf_counter() - t0
    outcome.extra["fit_seconds"] = round(fit_s, 3)
    if set(modes) != {s.retrain_mode}:
        outcome.extra["warm_start_fallback"] = classifiers.why_scratch(s, champion.model, y_all)
    outcome.holdout_rows, outcome.train_rows = len(rows.new), len(y_all)
    calibration = _calibration(
        champion, chal_proba, np.searchsorted(sorted(set(y_all.tolist())), rows.table.y[rows.new]), fold_of
    )
    return challenger, chal_pred, modes[-1], fit_s, calibration


def _calibration(champion, proba: np.ndarray, y_index: np.ndarray, fold_of: np.ndarray) -> dict:
    """The challenger's temperature, fitted on its cross-fitted probabilities of the new rows; with too
    few of those to fit one, the champion's is kept (and said so)."""
    if len(y_index) >= MIN_CALIBRATION_ROWS:
        return {
            "protocol": "cross-fitted on the feedback rows newer than the champion",
            **calibrate(proba, y_index, fold_of),
        }
    inherited = champion.metadata.get("metrics", {}).get("calibration", {})
    return {
        "method": "temperature",
        "temperature": inherited.get("temperature", 1.0),
        "protocol": f"kept from {champion.name}: {len(y_index)} new rows are too few to fit "
        f"(need {MIN_CALIBRATION_ROWS})",
        **{k: inherited[k] for k in ("ece", "ece_uncalibrated", "bins", "rows", "reliability") if k in inherited},
    }


def _passes_gate(s: Settings, outcome: RetrainOutcome, champ_metrics: dict, chal_metrics: dict, rows: _Rows) -> bool:
    """if_better: the challenger must score at least the champion's on the new rows and hold on the guard set."""
    if chal_metrics["macro_f1"] < champ_metrics["macro_f1"]:
        outcome.outcome, outcome.reason = "kept", f"challenger scored lower on the {len(rows.new)} new rows"
        return False
    if outcome.challenger_guard_f1 is not None and (
        outcome.challenger_guard_f1 < outcome.champion_guard_f1 - s.guard_tolerance
    ):
        outcome.outcome = "kept"
        outcome.reason = (
            f"refused by the guard set: the challenger scored macro F1 {outcome.challenger_guard_f1:.3f} on the "
            f"{len(rows.guard_split.guard)} guard rows against the champion's {outcome.champion_guard_f1:.3f}, "
            f"worse by more than CLIPWATCH_GUARD_TOLERANCE={s.guard_tolerance:g}: the new rows may be mislabelled"
        )
        log.warning("retrain %s: %s", outcome.id, outcome.reason)
        return False
    return True


def _guard_scores(s, outcome, champion, challenger, g, guard_rows, champion_rows) -> dict | None:
    """Both models' macro F1 on the guard rows, into the outcome; the challenger's headline figures.

    A champion that trained on the guard rows (published before the guard set existed, or with
    another ref_data.csv) would be flattered by them: it is stood in for by a forest fitted on the
    rows it trained on (champion_rows), without the guard rows."""
    outcome.guard_rows = len(g.guard)
    if not len(g.guard):
        return None
    X_guard, y_guard = guard_rows
    if guard.trained_without(champion.metadata, g):
        baseline = champion.model
    else:
        baseline = clone(champion.model).fit(*champion_rows)
        outcome.extra["guard_baseline"] = "a refit of the champion's rows without the guard set"
    champ, chal = compare(y_guard, baseline.predict(X_guard), challenger.predict(X_guard))
    outcome.champion_guard_f1 = round(champ["macro_f1"], 4)
    outcome.challenger_guard_f1 = round(chal["macro_f1"], 4)
    return headline(chal)
