"""What the two fast options cost in accuracy, against the default (fp32 backbone, exact sampling).

int8      : the static INT8 backbone (`clipwatch export --int8`), exact sampling
keyframes : the fp32 backbone with CLIPWATCH_SAMPLING=keyframes

For the embedded dataset (data/videos) and for the real clips in ../shared/data/real-clips:
each clip's embedding cosine to the default's, cross-validated macro F1 of the forest trained
and tested on that variant's embeddings (same folds and seed), and decode + CNN time per clip.
Keyframe sampling's speed on a long file, where it is meant to pay, is in benchmarks/embedding.py.

The rule from the performance issue: a variant may become the default only if every clip's
cosine stays >= 0.99 and macro F1 drops by at most 1 point, on both datasets.

Writes benchmarks/results/accuracy_cost.json and prints a table. Run: make bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REAL_CLIPS, int8_backbone, print_targets, table, write_results

from clipwatch.backbone import Backbone
from clipwatch.classifiers import fit_jobs, make_forest
from clipwatch.dataset import discover, embed_many
from clipwatch.embedding import ClipEmbedder
from clipwatch.paths import Paths
from clipwatch.quality import cross_validate
from clipwatch.settings import get_settings

COSINE_FLOOR = 0.99
F1_DROP_POINTS = 1.0


def real_clips() -> list[tuple[Path, str]]:
    """<dataset>/<class>/<clip> under the shared folder, as (path, class)."""
    if not (REAL_CLIPS / "manifest.csv").is_file():
        return []
    return [clip for d in sorted(p for p in REAL_CLIPS.iterdir() if p.is_dir()) for clip in discover(d).clips]


def embed_all(embedder: ClipEmbedder, clips: list[tuple[Path, str]]) -> tuple[np.ndarray, np.ndarray, float]:
    """Vectors and labels of the clips that decode, and the wall time per clip (2 clips in flight, as build-ref)."""
    labels = dict(clips)
    t0 = time.perf_counter()
    rows = [(v, labels[p]) for p, v, err in embed_many(embedder, labels) if err is None]
    per_clip_ms = (time.perf_counter() - t0) * 1e3 / len(clips)
    return np.stack([v for v, _ in rows]), np.array([c for _, c in rows]), per_clip_ms


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def macro_f1(X: np.ndarray, y: np.ndarray, folds: int, s) -> float:
    keep = np.isin(y, [c for c in np.unique(y) if (y == c).sum() >= 2])  # CV needs 2 clips per class
    classes = sorted(set(y[keep]))
    return cross_validate(make_forest(s.n_estimators, s.seed, fit_jobs(s)), X[keep], y[keep], classes, folds, s.seed)[
        "macro_f1"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()

    s = get_settings()
    paths = Paths.from_settings(s)
    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-accuracy-"))
    fp32 = Backbone(paths.backbone, intra_op_threads=s.intra_op_threads)
    variants = {
        "default": ClipEmbedder(fp32, s),
        "int8": ClipEmbedder(Backbone(int8_backbone(tmp), intra_op_threads=s.intra_op_threads), s),
        "keyframes": ClipEmbedder(fp32, s.model_copy(update={"sampling": "keyframes"})),
    }
    datasets = {"embedded dataset": discover(paths.videos).clips, "real clips": real_clips()}
    rows, results = [], {}
    for ds_name, clips in datasets.items():
        if not clips:
            print(f"{ds_name}: not found at {REAL_CLIPS}; skipped")
            continue
        folds = s.cv_folds if ds_name == "embedded dataset" else 2  # the real classes have 2-5 clips
        embedded = {name: embed_all(emb, clips) for name, emb in variants.items()}
        X0, y0, ms0 = embedded["default"]
        f1_0 = macro_f1(X0, y0, folds, s)
        results[ds_name] = {"clips": len(clips), "cv_folds": folds}
        for name, (X, y, ms) in embedded.items():
            cos = cosines(X, X0) if len(X) == len(X0) else np.array([np.nan])
            f1 = f1_0 if name == "default" else macro_f1(X, y, folds, s)
            r = {
                "ms_per_clip": ms,
                "speedup": ms0 / ms,
                "cosine_min": float(cos.min()),
                "cosine_median": float(np.median(cos)),
                "macro_f1": f1,
                "f1_drop_points": 100 * (f1_0 - f1),
            }
            results[ds_name][name] = r
            rows.append(
                {
                    "data": ds_name,
                    "variant": name,
                    "ms/clip": f"{ms:.0f}",
                    "x default": f"{r['speedup']:.2f}",
                    "cosine min": f"{r['cosine_min']:.3f}",
                    "cosine median": f"{r['cosine_median']:.3f}",
                    "macro F1": f"{f1:.3f}",
                    "F1 drop (pts)": f"{r['f1_drop_points']:+.1f}",
                }
            )

    shutil.rmtree(tmp, ignore_errors=True)

    verdict = {
        name: all(
            r[name]["cosine_min"] >= COSINE_FLOOR and r[name]["f1_drop_points"] <= F1_DROP_POINTS
            for r in results.values()
        )
        for name in ("int8", "keyframes")
    }
    out = write_results(
        "accuracy_cost",
        {
            "rule": {"cosine_min_at_least": COSINE_FLOOR, "macro_f1_drop_at_most_points": F1_DROP_POINTS},
            "datasets": results,
            "may_become_default": verdict,
        },
    )
    cols = ["data", "variant", "ms/clip", "x default", "cosine min", "cosine median", "macro F1", "F1 drop (pts)"]
    print(table(rows, cols))
    print()
    print_targets(
        {f"{name} as the default (cosine >= 0.99, F1 -1 pt)": ok for name, ok in verdict.items()},
        "allowed",
        "not allowed",
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
