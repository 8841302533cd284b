"""One champion/challenger retrain on reference + feedback rows, and the history of every run.

The two models are compared on the feedback rows appended since the champion was built, the only
rows it never trained on. Each of those rows is predicted by a challenger fitted without it
(cross-fitting, clipwatch.evaluate), then the challenger is fitted on everything but the guard set
(from scratch, or by growing more trees on the champion with ``warm_start``) and published only if
the policy allows. Under ``if_better`` it must also hold on the guard set (clipwatch.guard): no
worse than the champion by more than CLIPWATCH_GUARD_TOLERANCE, which k mislabelled rows cannot fake.
When and under which lock a retrain runs is clipwatch.loop's business; every run, promoted or not,
is appended to ``artifacts/history.jsonl``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
from sklearn.base import clone

from clipwatch import classifiers, guard
from clipwatch.artifacts import ArtifactStore
from clipwatch.contract import REBUILD, check_table, from_metadata, mismatches
from clipwatch.dataset import read_embeddings
from clipwatch.errors import DatasetError
from clipwatch.evaluate import classification_metrics, compare, cross_fit, headline
from clipwatch.paths import Paths
from clipwatch.settings import Settings
from clipwatch.stores import open_store, sample_positions
from clipwatch.train import build_metadata, publish_model
from clipwatch.triggers import Trigger

log = logging.getLogger(__name__)

MIN_PROD_ROWS = 4


@dataclass
class RetrainOutcome:
    id: str
    outcome: str  # promoted | kept | skipped | failed
    started_at: str
    duration_s: float = 0.0
    trigger_rows: int | None = None  # the rows trigger's feedback count (a multiple of k)
    trigger: str = "rows"  # what started it: rows | drift | performance | manual, "+"-joined when coalesced
    trigger_reason: str = ""
    trigger_keys: list[str] = field(default_factory=list)  # the drift episode / performance window answered
    rows_at: int | None = None  # feedback rows when it was triggered
    mode: str = "scratch"
    policy: str = "if_better"
    champion_version: str | None = None
    champion_f1: float | None = None
    challenger_f1: float | None = None
    champion_guard_f1: float | None = None
    challenger_guard_f1: float | None = None
    guard_rows: int = 0
    new_version: str | None = None
    holdout_rows: int = 0
    train_rows: int = 0
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def read_history(paths: Paths, limit: int | None = None) -> list[dict]:
    if not paths.history.exists():
        return []
    entries = []
    for line in paths.history.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a crash: ignore it
            continue
    return entries[-limit:] if limit else entries


def append_history(paths: Paths, outcome: RetrainOutcome) -> None:
    fd = os.open(paths.history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(outcome.as_dict()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def rows_seen(champion_training: dict, n_prod: int) -> int:
    """How many leading prod rows the champion could have trained on (prod_data.csv is append-only)."""
    if "prod_rows_seen" in champion_training:
        seen = int(champion_training["prod_rows_seen"])
    else:  # versions published before prod_rows_seen was recorded
        seen = int(champion_training.get("rows_prod", 0)) + int(champion_training.get("rows_holdout", 0))
    return seen if seen <= n_prod else 0  # prod_data.csv was replaced: every row is new to the champion


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


def _run(s: Settings, paths: Paths, outcome: RetrainOutcome) -> None:
    store = ArtifactStore(paths)
    champion = store.load()
    outcome.champion_version = champion.name
    # The challenger embeds like the champion: settings that moved since need a rebuild, not a retrain.
    contract = from_metadata(champion.metadata)
    wanted = {"num_frames": s.num_frames, "input_size": s.input_size, "sampling": s.sampling, "pooling": s.pooling}
    if problems := mismatches({k: contract[k] for k in wanted}, wanted):
        raise DatasetError(f"the live model {champion.name}: {'; '.join(problems)}: {REBUILD}")
    X_ref, y_ref, _ = read_embeddings(paths.ref_data)
    check_table(paths.ref_data, contract, X_ref.shape[1])
    g = guard.split(y_ref, s)
    X_guard, y_guard = X_ref[g.guard], y_ref[g.guard]
    X_ref, y_ref = X_ref[g.train], y_ref[g.train]
    store = open_store(s)
    try:
        n_prod = store.count()
        if n_prod == 0:
            outcome.outcome, outcome.reason = "skipped", "no feedback rows yet"
            return
        if n_prod < MIN_PROD_ROWS:
            outcome.outcome, outcome.reason = "skipped", f"only {n_prod} feedback rows (need {MIN_PROD_ROWS})"
            return
        # The comparison is fair only on rows the champion never trained on: the ones appended since it was built.
        seen = rows_seen(champion.metadata.get("training", {}), n_prod)
        if n_prod - seen < MIN_PROD_ROWS:
            outcome.outcome = "skipped"
            outcome.reason = f"only {n_prod - seen} feedback rows newer than {champion.name} (need {MIN_PROD_ROWS})"
            return
        # A bounded fit: every row newer than the champion, then a uniform sample of the older ones.
        table = store.read(sample_positions(n_prod, seen, s.retrain_max_rows, s.seed + n_prod))
    finally:
        store.close()
    X_prod, y_prod = table.X, table.y
    if store.kind == "csv":
        check_table(paths.prod_data, contract, X_prod.shape[1])
    elif X_prod.shape[1] != X_ref.shape[1]:
        raise DatasetError(f"the database's vectors have {X_prod.shape[1]} values, ref_data.csv's {X_ref.shape[1]}")
    new = np.flatnonzero(table.positions >= seen)
    old = np.flatnonzero(table.positions < seen)
    if len(y_prod) < n_prod:
        outcome.extra["sample"] = {"rows": len(y_prod), "of": n_prod, "new": len(new), "cap": s.retrain_max_rows}
    X_all = np.vstack([X_ref, X_prod])
    y_all = np.concatenate([y_ref, y_prod])
    modes: list[str] = []  # how each fit went: warm_start falls back to scratch when a class is missing

    def fit(X: np.ndarray, y: np.ndarray):
        model, mode = _fit_challenger(s, champion.model, X, y)
        modes.append(mode)
        return model

    t0 = time.perf_counter()
    chal_pred = cross_fit(fit, X_all, y_all, len(y_ref) + new, s.eval_folds, s.seed + n_prod)
    challenger = fit(X_all, y_all)
    fit_s = time.perf_counter() - t0
    mode = modes[-1]  # the published challenger's
    outcome.extra["fit_seconds"] = round(fit_s, 3)
    if set(modes) != {s.retrain_mode}:
        outcome.extra["warm_start_fallback"] = _why_scratch(s, champion.model, y_all)
    outcome.holdout_rows, outcome.train_rows = len(new), len(y_all)

    y_new = y_prod[new]
    champ_metrics, chal_metrics = compare(y_new, champion.model.predict(X_prod[new]), chal_pred)
    outcome.champion_f1 = round(champ_metrics["macro_f1"], 4)
    outcome.challenger_f1 = round(chal_metrics["macro_f1"], 4)
    champion_rows = (np.vstack([X_ref, X_prod[old]]), np.concatenate([y_ref, y_prod[old]]))
    guard_metrics = _guard_scores(s, outcome, champion, challenger, g, (X_guard, y_guard), champion_rows)
    if s.promotion_policy == "if_better":
        if chal_metrics["macro_f1"] < champ_metrics["macro_f1"]:
            outcome.outcome, outcome.reason = "kept", f"challenger scored lower on the {len(new)} new rows"
            return
        if guard_metrics and outcome.challenger_guard_f1 < outcome.champion_guard_f1 - s.guard_tolerance:
            outcome.outcome = "kept"
            outcome.reason = (
                f"refused by the guard set: the challenger scored macro F1 {outcome.challenger_guard_f1:.3f} on the "
                f"{len(g.guard)} guard rows against the champion's {outcome.champion_guard_f1:.3f}, worse by more "
                f"than CLIPWATCH_GUARD_TOLERANCE={s.guard_tolerance:g}: the new rows may be mislabelled"
            )
            log.warning("retrain %s: %s", outcome.id, outcome.reason)
            return

    classes = sorted(set(y_all))
    metrics = {
        "evaluation": f"cross-fitting on the {len(new)} feedback rows newer than {champion.name}",
        **classification_metrics(y_new, chal_pred, classes),
        "champion_on_holdout": headline(champ_metrics),
        **({"guard": guard_metrics} if guard_metrics else {}),
    }
    training = {
        "rows_ref": len(y_ref),
        "rows_prod": len(y_prod),
        "rows_prod_total": n_prod,
        "guard": {**g.describe(), "fraction": s.guard_fraction},
        "prod_rows_seen": n_prod,
        "rows_evaluated": len(new),
        "class_counts": {c: int((y_all == c).sum()) for c in classes},
        "retrain_mode": mode,
        "parent_version": champion.name,
        "fit_seconds": round(fit_s, 2),
    }
    metadata = build_metadata(s, paths, classes, contract, challenger, training, metrics)
    title = f"cross-fitted on {len(new)} new rows, macro F1 {metrics['macro_f1']:.3f}"
    outcome.new_version = publish_model(paths, challenger, metadata, title)
    outcome.outcome = "promoted"


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


def _fit_challenger(s: Settings, champion_model, X: np.ndarray, y: np.ndarray):
    """A challenger fitted on (X, y): from scratch, or the champion with more trees; and the mode used."""
    if s.retrain_mode == "warm_start" and _why_scratch(s, champion_model, y) is None:
        model = copy.deepcopy(champion_model)
        model.set_params(
            warm_start=True, n_estimators=model.n_estimators + s.warm_start_trees, n_jobs=classifiers.fit_jobs(s)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X, y)
        model.set_params(warm_start=False)
        return model, "warm_start"
    return classifiers.from_settings(s).fit(X, y), "scratch"


def _why_scratch(s: Settings, champion_model, y: np.ndarray) -> str | None:
    """Why warm_start can't extend the champion, or None when it can."""
    if not classifiers.can_grow(champion_model) or s.classifier != "random-forest":
        return f"{s.classifier} over a {classifiers.family(champion_model)} champion has no warm start"
    if list(champion_model.classes_) != sorted(set(y)):
        return "class set changed"  # the champion's trees can't be extended to a new class
    if champion_model.n_estimators + s.warm_start_trees > s.max_trees:
        return "tree cap (CLIPWATCH_MAX_TREES)"  # growing further would cost every prediction more
    return None
