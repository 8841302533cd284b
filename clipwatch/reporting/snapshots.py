"""The Evidently snapshots one report run adds: embedding drift and classification quality."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from clipwatch.dataset import PREDICTION, TARGET


def reducer(ref_X: np.ndarray, ref_sha: str, path: Path, n_components: int, seed: int):
    """PCA fitted once on the reference embeddings; refitted only when ref_data.csv changes."""
    from sklearn.decomposition import PCA

    if path.exists():
        stored = joblib.load(path)
        if stored.get("ref_sha") == ref_sha:
            return stored["pca"]
    pca = PCA(n_components=min(n_components, *ref_X.shape), random_state=seed).fit(ref_X)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"ref_sha": ref_sha, "pca": pca}, path)
    return pca


def _components(pca, X: np.ndarray) -> pd.DataFrame:
    Z = pca.transform(X)
    return pd.DataFrame(Z, columns=[f"pc_{i + 1}" for i in range(Z.shape[1])])


def metric_type(m: dict) -> str:
    return m["config"]["type"].rsplit(":", 1)[-1]


def drift_report(ref_X, cur_X, pca, *, share_alert: float, **run_kw):
    """Evidently snapshot + (share of drifted components, embedding drift score).

    share_alert: the drift alert's line, an Evidently test on the share, so the UI marks each run pass or fail."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, EmbeddingsDrift
    from evidently.metrics.embeddings import ModelDriftMethod
    from evidently.tests import lte

    # Both checks run on the PCA components, not the raw vector: the model-based check's cost then
    # follows the component count (CLIPWATCH_REPORT_PCA_COMPONENTS), not the embedding's width.
    ref_df, cur_df = _components(pca, ref_X), _components(pca, cur_X)
    pcs = list(ref_df.columns)
    definition = DataDefinition(numerical_columns=pcs, embeddings={"clip": pcs})
    method = ModelDriftMethod(bootstrap=True, quantile_probability=0.95)
    report = Report(
        [
            DriftedColumnsCount(columns=pcs, method="ks", threshold=0.05, share_tests=[lte(share_alert)]),
            EmbeddingsDrift(embeddings_name="clip", drift_method=method),
        ]
    )
    snapshot = report.run(
        Dataset.from_pandas(cur_df, data_definition=definition),
        Dataset.from_pandas(ref_df, data_definition=definition),
        **run_kw,
    )
    share, score = None, None
    for m in snapshot.dict()["metrics"]:
        if metric_type(m) == "DriftedColumnsCount":
            share = float(m["value"]["share"])
        elif metric_type(m) == "EmbeddingsDrift":
            score = float(m["value"])
    # The metric reports the score only; the same method called directly also gives its verdict.
    _, detected, _ = method(cur_df[pcs], ref_df[pcs])
    return snapshot, share, score, bool(detected)


def quality_report(prod: pd.DataFrame, classes: list[str], *, min_f1: float, **run_kw):
    """Evidently snapshot of target vs prediction + the headline numbers.

    min_f1: the low-F1 alert's line (CLIPWATCH_RETRAIN_MIN_F1), an Evidently test on macro F1."""
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.metrics import Accuracy, F1ByLabel, F1Score, Precision, Recall, RecallByLabel, RowCount
    from evidently.tests import gte

    df = prod[[TARGET, PREDICTION]].astype(str)
    definition = DataDefinition(
        categorical_columns=[TARGET, PREDICTION],
        classification=[
            MulticlassClassification(target=TARGET, prediction_labels=PREDICTION, labels={c: c for c in classes})
        ],
    )
    report = Report(
        [F1Score(tests=[gte(min_f1)]), Precision(), Recall(), Accuracy(), F1ByLabel(), RecallByLabel(), RowCount()]
    )
    snapshot = report.run(Dataset.from_pandas(df, data_definition=definition), None, **run_kw)
    numbers = {}
    for m in snapshot.dict()["metrics"]:
        kind = metric_type(m)
        if kind in ("F1Score", "Precision", "Recall", "Accuracy") and not isinstance(m["value"], dict):
            numbers[kind] = float(m["value"])
    return snapshot, numbers
