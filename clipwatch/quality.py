"""How good a model is: the metrics, cross-validation, and the fair champion/challenger comparison."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold, cross_val_predict

from clipwatch.calibration import calibrate
from clipwatch.errors import DatasetError
from clipwatch.groups import RANDOM, is_grouped, protocol


def classification_metrics(y_true, y_pred, classes: list[str]) -> dict:
    kw = {"labels": classes, "average": "macro", "zero_division": 0}
    recall = recall_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, **kw)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_precision": float(precision_score(y_true, y_pred, **kw)),
        "macro_recall": float(recall_score(y_true, y_pred, **kw)),
        "per_class_recall": {c: float(r) for c, r in zip(classes, recall, strict=True)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def headline(metrics: dict) -> dict:
    """The three figures worth a line: accuracy, macro F1, balanced accuracy."""
    return {k: round(metrics[k], 4) for k in ("accuracy", "macro_f1", "balanced_accuracy")}


def cross_validate(
    model, X: np.ndarray, y: np.ndarray, classes: list[str], folds: int, seed: int, groups: np.ndarray | None = None
) -> dict:
    """Stratified k-fold predictions of an unfitted model on (X, y), and their metrics. With groups (the
    source recording of each row, clipwatch.groups) every recording stays in one fold; `protocol` says
    which it was, since random folds over clips of shared recordings overstate accuracy."""
    splits, how = stratified_splits(y, groups, folds, seed, classes)
    folds = len(splits)
    # Out-of-fold probabilities: the prediction is their argmax, and they calibrate the version.
    proba = cross_val_predict(clone(model), X, y, cv=splits, method="predict_proba")
    order = np.array(sorted(set(y.tolist())))  # predict_proba's columns
    pred = order[proba.argmax(axis=1)]
    fold_of = np.empty(len(y), dtype=int)
    for i, (_, test) in enumerate(splits):
        fold_of[test] = i
    return {
        "evaluation": f"{folds}-fold stratified CV, {how}",
        "protocol": how,
        "cv_folds": folds,
        **classification_metrics(y, pred, classes),
        "calibration": {"protocol": how, **calibrate(proba, np.searchsorted(order, y), fold_of)},
    }


def stratified_splits(
    y: np.ndarray, groups: np.ndarray | None, folds: int, seed: int, classes: list[str] | None = None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Stratified folds that keep every recording on one side when groups say which (and every class has
    2 recordings), stratified clip folds otherwise; and the protocol, in the words every report uses.
    Every class (of `classes`, default those in y) needs at least 2 rows."""
    classes = classes or sorted(set(y.tolist()))
    too_few = {c: n for c in classes if (n := int((y == c).sum())) < 2}
    if too_few:
        raise DatasetError(
            "every class needs at least 2 clips for cross-validation; too few: "
            + ", ".join(f"{c} ({n})" for c, n in sorted(too_few.items()))
        )
    rows = np.zeros(len(y))
    sources = {c: len(set(groups[y == c].tolist())) for c in classes} if groups is not None else {}
    if groups is not None and is_grouped(groups) and min(sources.values()) >= 2:
        cv = StratifiedGroupKFold(n_splits=min(folds, min(sources.values())), shuffle=True, random_state=seed)
        return list(cv.split(rows, y, groups)), protocol(groups)
    cv = StratifiedKFold(
        n_splits=min(folds, min(int((y == c).sum()) for c in classes)), shuffle=True, random_state=seed
    )
    how = RANDOM
    if groups is not None and is_grouped(groups):
        how += " (a class has fewer than 2 recordings, so grouped folds could not test it)"
    return list(cv.split(rows, y)), how


def folds(y: np.ndarray, n_folds: int, seed: int):
    """Stratified splits when every class has n_folds rows, plain shuffled ones otherwise."""
    n_folds = max(2, min(n_folds, len(y)))
    if min(int((y == c).sum()) for c in set(y)) >= n_folds:
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))


def cross_fit(
    fit: Callable[[np.ndarray, np.ndarray], object],
    X: np.ndarray,
    y: np.ndarray,
    held: np.ndarray,
    n_folds: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold predictions for the rows at positions `held`: each is predicted by a model fitted
    on every row but its fold's (all rows outside `held` always train). Also their probabilities, in
    the columns of sorted(set(y)), and each held row's fold (what calibration is fitted on)."""
    order = np.array(sorted(set(y.tolist())))
    oof = np.empty(len(held), dtype=object)
    proba = np.zeros((len(held), len(order)))
    fold_of = np.zeros(len(held), dtype=int)
    for i, (_, test) in enumerate(folds(y[held], n_folds, seed)):
        keep = np.ones(len(y), dtype=bool)
        keep[held[test]] = False
        model = fit(X[keep], y[keep])
        oof[test] = model.predict(X[held[test]])
        # A fold's model may lack a class that only its held rows have: that column stays 0.
        proba[np.ix_(test, np.searchsorted(order, model.classes_))] = model.predict_proba(X[held[test]])
        fold_of[test] = i
    return oof.astype(str), proba, fold_of


def compare(y_true: np.ndarray, champion_pred: np.ndarray, challenger_pred: np.ndarray) -> tuple[dict, dict]:
    """Both models' metrics over the same label set: those in the rows or in either model's answers."""
    classes = sorted(set(y_true) | set(champion_pred) | set(challenger_pred))
    return classification_metrics(y_true, champion_pred, classes), classification_metrics(
        y_true, challenger_pred, classes
    )
