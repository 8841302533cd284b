"""What the default chosen by grouped evidence costs against the previous default.

previous : rgb stream, K=16, mean+motion pooling, standardised logistic regression
default  : rgb+dynamic stream (a frame and a dynamic image of T=4 frames per segment), K=8,
           mean+motion pooling, standardised logistic regression

For each: embedding time per clip in-process (median over clips of the embedded dataset and the
real clips in ../shared/data/real-clips), and /predict p50/p95 through a live server on loopback
for a 3 s H.264 clip at 320x240 and at 1280x720, each with a model trained under that configuration
on 10 clips per class. Accuracy is not measured here: `clipwatch evaluate` did that, grouped by
recording (docs/embedding.md, "Choosing the embedding").

Writes benchmarks/results/default_cost.json and prints a table. Run: make bench
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REAL_CLIPS, make_clip, table, write_results

from clipwatch.dataset import build_reference, discover
from clipwatch.embedding import ClipEmbedder
from clipwatch.paths import Paths
from clipwatch.secrets import ensure_secrets
from clipwatch.settings import Settings, get_settings
from clipwatch.train import train
from devtools.sandbox import auth
from serving import start_server

CONFIGS = {
    "previous (rgb, K=16 mean+motion)": {
        "stream": "rgb",
        "num_frames": 16,
        "pooling": "mean+motion",
        "classifier": "logistic-regression",
    },
    "default (rgb+dynamic T=4, K=8 mean+motion)": {
        "stream": "rgb+dynamic",
        "num_frames": 8,
        "dynamic_frames": 4,
        "pooling": "mean+motion",
        "classifier": "logistic-regression",
    },
}
SIZES = {"320x240": (320, 240), "1280x720": (1280, 720)}


def setup(root: Path, cfg: dict, per_class: int) -> Settings:
    """An install under root: the backbone, per_class clips of each action (links), ref_data.csv, a model."""
    src = Paths.from_settings(get_settings())
    (root / "artifacts").mkdir(parents=True)
    shutil.copy(src.backbone, root / "artifacts" / src.backbone.name)
    ensure_secrets(root / "artifacts" / "secrets", env={})
    s = Settings(data_dir=root / "data", artifacts_dir=root / "artifacts", _env_file=None, **cfg)
    videos = Paths.from_settings(s).videos
    for clip, label in discover(src.videos).clips:
        folder = videos / label
        folder.mkdir(parents=True, exist_ok=True)
        if len(list(folder.iterdir())) < per_class:
            (folder / clip.name).symlink_to(clip.resolve())
    build_reference(ClipEmbedder.from_settings(s), videos, Paths.from_settings(s).ref_data, progress=False)
    train(s)
    return s


def embed_ms(embedder: ClipEmbedder, clips: list[Path]) -> float:
    embedder.embed(clips[0])  # warm-up
    runs = []
    for clip in clips:
        t = time.perf_counter()
        embedder.embed(clip)
        runs.append((time.perf_counter() - t) * 1e3)
    return statistics.median(runs)


def predict_latency(s: Settings, cfg: dict, clips: dict[str, bytes], n: int) -> dict:
    """/predict p50 and p95 per clip size, one live server per configuration."""
    env = {f"CLIPWATCH_{k.upper()}": str(v) for k, v in cfg.items()}
    proc, url = start_server(s.data_dir, s.artifacts_dir, RETRAIN_EVERY_K=0, **env)
    out = {}
    try:
        with httpx.Client(base_url=url, timeout=120, headers=auth(s)) as client:
            for size, clip in clips.items():
                runs = []
                for i in range(n + 2):
                    t = time.perf_counter()
                    r = client.post("/predict", files={"file": ("c.mp4", clip, "video/mp4")})
                    r.raise_for_status()
                    if i >= 2:  # two warm-up requests
                        runs.append((time.perf_counter() - t) * 1e3)
                runs.sort()
                out[size] = {"p50_ms": statistics.median(runs), "p95_ms": runs[int(0.95 * (len(runs) - 1))]}
    finally:
        proc.terminate()
        proc.wait()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=30, help="clips of the embedded dataset timed per config")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--per-class", type=int, default=10, help="training clips per action for each model")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-default-"))
    clips = {name: make_clip(tmp / f"clip-{name}.mp4", size, 3, 25).read_bytes() for name, size in SIZES.items()}
    every = [p for p, _ in discover(Paths.from_settings(get_settings()).videos).clips]
    embedded = every[:: max(1, len(every) // args.clips)][: args.clips]
    real = sorted(p for p in REAL_CLIPS.rglob("*") if p.suffix in (".avi", ".mp4")) if REAL_CLIPS.is_dir() else []

    results = {}
    try:
        for i, (name, cfg) in enumerate(CONFIGS.items()):
            s = setup(tmp / f"c{i}", cfg, args.per_class)
            embedder = ClipEmbedder.from_settings(s)
            results[name] = {
                **cfg,
                "dim": embedder.dim,
                "embed_ms_embedded": embed_ms(embedder, embedded),
                "embed_ms_real": embed_ms(embedder, real) if real else None,
                "predict": predict_latency(s, cfg, clips, args.requests),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    (prev, new) = results.values()
    ratios = {
        "embed_embedded": new["embed_ms_embedded"] / prev["embed_ms_embedded"],
        "embed_real": new["embed_ms_real"] / prev["embed_ms_real"] if real else None,
        **{f"predict_p50_{size}": new["predict"][size]["p50_ms"] / prev["predict"][size]["p50_ms"] for size in SIZES},
    }
    rows = [
        {
            "configuration": name,
            "dim": r["dim"],
            "embed ms/clip (embedded)": f"{r['embed_ms_embedded']:.0f}",
            "embed ms/clip (real)": f"{r['embed_ms_real']:.0f}" if r["embed_ms_real"] else "-",
            **{f"/predict p50 ms {size}": f"{r['predict'][size]['p50_ms']:.0f}" for size in SIZES},
            **{f"/predict p95 ms {size}": f"{r['predict'][size]['p95_ms']:.0f}" for size in SIZES},
        }
        for name, r in results.items()
    ]
    print(table(rows, list(rows[0])))
    print(
        f"default / previous: embedding x{ratios['embed_embedded']:.2f} (embedded)"
        + (f", x{ratios['embed_real']:.2f} (real)" if real else "")
        + "; /predict p50 "
        + ", ".join(f"x{ratios[f'predict_p50_{size}']:.2f} at {size}" for size in SIZES)
    )
    out = write_results(
        "default_cost",
        {"clips_embedded": len(embedded), "clips_real": len(real), "results": results, "ratios": ratios},
    )
    print(f"results in {out}")


if __name__ == "__main__":
    main()
