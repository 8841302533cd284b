"""Retraining on drifted feedback: from scratch vs warm_start, accuracy and time.

Renders shifted clips (`--shift`: darker, colour-cast, noisier, softer), feeds
half of them as labelled feedback, retrains in each mode on a private copy of
the artifacts, and scores champion and challenger on the other, never-seen
half. Writes benchmarks/results/retrain_modes.json. Run: make bench
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import private_copy, table, write_results

from clipwatch.artifacts import ArtifactStore
from clipwatch.embedding import ClipEmbedder
from clipwatch.loop import retrain
from clipwatch.paths import Paths
from clipwatch.predictor import forest_proba
from clipwatch.quality import classification_metrics
from clipwatch.settings import get_settings
from clipwatch.stores import FeedbackRow
from clipwatch.stores.csv_rows import CsvAppender
from clipwatch.synth import generate_dataset


def main(per_class: int = 16) -> None:
    base = get_settings()
    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-retrain-"))
    clips = generate_dataset(tmp / "shift", per_class=per_class, seed=base.seed + 1, shift=True, start=5000)
    embedder = ClipEmbedder.from_settings(base)
    vecs = {p: embedder.embed(p).vector for p in clips}
    labels = {p: p.parent.name for p in clips}
    feed = [p for i, p in enumerate(sorted(clips)) if i % 2 == 0]
    test = [p for i, p in enumerate(sorted(clips)) if i % 2 == 1]
    X_test = np.stack([vecs[p] for p in test])
    y_test = [labels[p] for p in test]

    rows, results = [], {}
    for mode in ("scratch", "warm_start"):
        s = private_copy(tmp / mode, base, retrain_mode=mode, promotion_policy="always")
        paths = Paths.from_settings(s)
        CsvAppender(paths.prod_data, embedder.dim, embedder.contract()).append(
            [FeedbackRow(vecs[p], labels[p], "") for p in feed]
        )
        store = ArtifactStore(paths)
        champion = store.load()
        t = time.perf_counter()
        outcome = retrain(s)
        elapsed = time.perf_counter() - t
        challenger = store.load()
        classes = sorted(set(y_test))
        score = {}
        for name, m in (("champion", champion.model), ("challenger", challenger.model)):
            pred = np.asarray(m.classes_)[forest_proba(m, X_test).argmax(1)]
            score[name] = classification_metrics(y_test, pred, classes)["macro_f1"]
        results[mode] = {
            "retrain_s": elapsed,
            "outcome": outcome.as_dict(),
            "fresh_shifted_macro_f1": score,
            "trees": int(challenger.model.n_estimators),
        }
        rows.append(
            {
                "mode": mode,
                "trees": challenger.model.n_estimators,
                "retrain s": f"{elapsed:.1f}",
                "v1 F1 on fresh shifted": f"{score['champion']:.3f}",
                "new F1 on fresh shifted": f"{score['challenger']:.3f}",
            }
        )
    shutil.rmtree(tmp, ignore_errors=True)
    out = write_results("retrain_modes", {"feedback_rows": len(feed), "test_clips": len(test), "modes": results})
    print(table(rows, ["mode", "trees", "retrain s", "v1 F1 on fresh shifted", "new F1 on fresh shifted"]))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
