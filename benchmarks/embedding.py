"""Clip-embedding cost per clip (K=8): our pipeline against a naive one, in the same run.

naive : OpenCV reads every frame, keeps the K sampled ones, torch eager runs them one by one
fp32  : clipwatch (decord seek + resize in FFmpeg, one ONNX Runtime batch of K)
int8  : the same with the static INT8 backbone

Writes benchmarks/results/embedding.json and prints a table. Run: make bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_clip, median_ms, table, write_results

from clipwatch.backbone import Backbone
from clipwatch.embedding import ClipEmbedder
from clipwatch.paths import Paths
from clipwatch.preprocess import to_input
from clipwatch.settings import get_settings
from clipwatch.video import segment_centres

GFLOP_PER_FRAME = 0.77  # EfficientNet-Lite0 at 224x224 (multiply-adds x 2)


def sgemm_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 peak as this machine reaches it in practice: a large single-precision matmul."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    ms, _ = median_ms(lambda: a @ a, repeats)
    return 2 * n**3 / (ms / 1e3) / 1e9


def naive_embed(path: Path, model, k: int, size: int):
    import torch

    t0 = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    picked = [
        cv2.resize(cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB), (size, size)) for i in segment_centres(len(frames), k)
    ]
    t1 = time.perf_counter()
    with torch.no_grad():
        vecs = [model(torch.from_numpy(to_input(f[None]))).numpy() for f in picked]
    t2 = time.perf_counter()
    return np.concatenate(vecs).mean(0), (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from clipwatch.export import _feature_extractor, load_torch_model

    s = get_settings()
    paths = Paths.from_settings(s)
    torch_model = _feature_extractor(load_torch_model())
    fp32 = ClipEmbedder(Backbone(paths.backbone, intra_op_threads=s.intra_op_threads), s)
    embedders = {"fp32": fp32}
    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-"))
    int8_path = paths.backbone_int8
    if not int8_path.is_file():
        from clipwatch.quantize import quantize_static_int8

        clips = sorted(paths.videos.rglob("*.mp4"))[::8][:32]
        calib = np.concatenate([fp32.frames(p)[0] for p in clips])
        int8_path = quantize_static_int8(paths.backbone, tmp / "int8.onnx", calib)
    embedders["int8"] = ClipEmbedder(Backbone(int8_path, intra_op_threads=s.intra_op_threads), s)

    clips = {
        "320x240 H.264 3 s": make_clip(tmp / "small.mp4", (320, 240), 3, 25),
        "1280x720 H.264 5 s": make_clip(tmp / "hd.mp4", (1280, 720), 5, 30),
    }
    rows, results = [], []
    for clip_name, clip in clips.items():
        parts = {}
        _, runs = median_ms(lambda c=clip: naive_embed(c, torch_model, s.num_frames, s.input_size), args.repeats)
        dec, cnn = zip(*[naive_embed(clip, torch_model, s.num_frames, s.input_size)[1:] for _ in range(3)], strict=True)
        parts["naive"] = {
            "total_ms": float(np.median(runs)),
            "decode_ms": float(np.median(dec)),
            "cnn_ms": float(np.median(cnn)),
        }
        for name, emb in embedders.items():
            timings = []
            emb.embed(clip)
            for _ in range(args.repeats):
                t = time.perf_counter()
                r = emb.embed(clip)
                timings.append(((time.perf_counter() - t) * 1e3, r.timings_ms["decode"], r.timings_ms["embed"]))
            tot, dec, cnn = (float(np.median(x)) for x in zip(*timings, strict=True))
            parts[name] = {"total_ms": tot, "decode_ms": dec, "cnn_ms": cnn}
        base = parts["naive"]["total_ms"]
        for name, p in parts.items():
            p["speedup_vs_naive"] = base / p["total_ms"]
            rows.append(
                {
                    "clip": clip_name,
                    "pipeline": name,
                    "decode ms": f"{p['decode_ms']:.1f}",
                    "CNN ms": f"{p['cnn_ms']:.1f}",
                    "total ms": f"{p['total_ms']:.1f}",
                    "x naive": f"{p['speedup_vs_naive']:.2f}",
                }
            )
        results.append({"clip": clip_name, **parts})

    # CNN efficiency: one ORT batch of 16 frames against the machine's fp32 peak.
    peak = sgemm_peak_gflops()
    x = to_input(np.random.default_rng(0).integers(0, 256, (16, 224, 224, 3), dtype=np.uint8))
    cnn = {}
    for name, emb in embedders.items():
        ms, _ = median_ms(lambda e=emb: e.backbone.embed_inputs(x), args.repeats)
        cnn[name] = {"batch16_ms": ms, "gflops": GFLOP_PER_FRAME * 16 / (ms / 1e3)}
        cnn[name]["fraction_of_fp32_peak"] = cnn[name]["gflops"] / peak
    shutil.rmtree(tmp, ignore_errors=True)  # the clips and any int8 model built for this run
    targets = {
        "fp32 >= 2.5x naive at 320x240": results[0]["fp32"]["speedup_vs_naive"] >= 2.5,
        "fp32 >= 1.8x naive at 720p": results[1]["fp32"]["speedup_vs_naive"] >= 1.8,
    }
    out = write_results(
        "embedding",
        {
            "k": s.num_frames,
            "repeats": args.repeats,
            "clips": results,
            "sgemm_peak_gflops": peak,
            "cnn_batch16": cnn,
            "targets_met": targets,
        },
    )
    print(table(rows, ["clip", "pipeline", "decode ms", "CNN ms", "total ms", "x naive"]))
    print()
    print(f"fp32 peak (numpy sgemm 2048^3, both cores): {peak:.0f} GFLOP/s")
    for name, c in cnn.items():
        print(
            f"CNN {name} batch 16: {c['batch16_ms']:.1f} ms, {c['gflops']:.0f} GFLOP/s "
            f"({100 * c['fraction_of_fp32_peak']:.0f}% of fp32 peak)"
        )
    for t, ok in targets.items():
        print(f"target {t}: {'met' if ok else 'NOT met'}")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
