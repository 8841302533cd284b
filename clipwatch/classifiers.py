"""The classifier families a clip vector can be fitted with, all behind one constructor.

``random-forest`` is the design card's choice: no scaling, robust to the odd feature, and it can
grow more trees on new rows (``warm_start``). The linear families see the vector standardised
(a scaler fitted on the training rows, saved inside the model), which they need and a forest does not.
"""

from __future__ import annotations

import copy
import warnings
from typing import get_args

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from clipwatch.settings import Classifier, Settings

CLASSIFIERS: tuple[str, ...] = get_args(Classifier)


def fit_jobs(s: Settings) -> int:
    """CLIPWATCH_TRAIN_JOBS resolved against the cores this process may use (cgroup quotas included)."""
    if s.train_jobs:
        return s.train_jobs
    from joblib import cpu_count

    return max(1, cpu_count() - 1)


def make_classifier(
    name: str,
    *,
    seed: int,
    n_jobs: int | None = None,
    n_estimators: int = 300,
    logistic_c: float = 1.0,
) -> ClassifierMixin:
    """An unfitted model of family `name`; every family answers predict_proba."""
    if name == "random-forest":
        return make_forest(n_estimators, seed, n_jobs)
    if name == "logistic-regression":
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=logistic_c, class_weight="balanced", max_iter=5000, random_state=seed),
        )
    if name == "linear-svm":
        # The modified Huber loss is a smoothed hinge: a linear SVM's margin, with probabilities.
        return make_pipeline(
            StandardScaler(),
            SGDClassifier(
                loss="modified_huber", alpha=1e-3, class_weight="balanced", max_iter=2000, tol=1e-4, random_state=seed
            ),
        )
    raise ValueError(f"unknown classifier {name!r}; one of {', '.join(CLASSIFIERS)}")


def make_forest(n_estimators: int, seed: int, n_jobs: int | None = None) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=n_estimators,
        class_weight="balanced",
        max_features="sqrt",
        random_state=seed,
        n_jobs=n_jobs,
    )


def family(model) -> str:
    """The family name of a fitted or unfitted model (models saved before the setting existed are forests)."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if isinstance(final, RandomForestClassifier):
        return "random-forest"
    if isinstance(final, LogisticRegression):
        return "logistic-regression"
    if isinstance(final, SGDClassifier):
        return "linear-svm"
    return type(final).__name__


def can_grow(model) -> bool:
    """Whether retraining may extend this model instead of refitting it (warm_start)."""
    return isinstance(model, RandomForestClassifier)


def describe(model) -> dict:
    """What the metadata records about a model."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    out: dict = {"classifier": family(model), "model": type(final).__name__, "class_weight": "balanced"}
    if isinstance(model, Pipeline):
        out["standardised"] = True
    if isinstance(final, RandomForestClassifier):
        out["n_estimators"] = int(final.n_estimators)
    if isinstance(final, LogisticRegression):
        out["C"] = float(final.C)
    return out


def from_settings(s, n_jobs: int | None = None) -> ClassifierMixin:
    """An unfitted model of the configured family (CLIPWATCH_CLASSIFIER and its parameters)."""
    return make_classifier(
        s.classifier,
        seed=s.seed,
        n_jobs=fit_jobs(s) if n_jobs is None else n_jobs,
        n_estimators=s.n_estimators,
        logistic_c=s.logistic_c,
    )


def fit_challenger(s: Settings, champion_model, X: np.ndarray, y: np.ndarray):
    """A challenger fitted on (X, y): from scratch, or the champion with more trees; and the mode used."""
    if s.retrain_mode == "warm_start" and why_scratch(s, champion_model, y) is None:
        model = copy.deepcopy(champion_model)
        model.set_params(warm_start=True, n_estimators=model.n_estimators + s.warm_start_trees, n_jobs=fit_jobs(s))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X, y)
        model.set_params(warm_start=False)
        return model, "warm_start"
    return from_settings(s).fit(X, y), "scratch"


def why_scratch(s: Settings, champion_model, y: np.ndarray) -> str | None:
    """Why warm_start can't extend the champion, or None when it can."""
    if not can_grow(champion_model) or s.classifier != "random-forest":
        return f"{s.classifier} over a {family(champion_model)} champion has no warm start"
    if list(champion_model.classes_) != sorted(set(y)):
        return "class set changed"  # the champion's trees can't be extended to a new class
    if champion_model.n_estimators + s.warm_start_trees > s.max_trees:
        return "tree cap (CLIPWATCH_MAX_TREES)"  # growing further would cost every prediction more
    return None
