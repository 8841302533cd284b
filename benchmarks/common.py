"""Helpers shared by the benchmarks: machine description, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for devtools.sandbox, shared with the tests

from devtools.sandbox import private_copy as private_copy  # noqa: E402 - re-exported for the benchmarks

RESULTS = ROOT / "benchmarks" / "results"
# Shared real footage (never copied into the repository); benchmarks that use it skip it when absent.
REAL_CLIPS = Path(os.environ.get("CLIPWATCH_REAL_CLIPS", RESULTS.parents[2] / "shared" / "data" / "real-clips"))


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1e3)
    return statistics.median(runs), runs


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {"machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}, indent=2
        )
    )
    return out


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join([line, sep, *body])


def make_clip(out: Path, size: tuple[int, int], seconds: float, fps: int, gop: int | None = None) -> Path:
    """A rendered walk clip, scaled to size, as H.264: x264's long GOP, or a keyframe every gop frames."""
    import cv2

    from clipwatch.synth import ClipSpec, render_clip
    from clipwatch.synth.generate import encode_h264

    frames, _, _ = render_clip(ClipSpec("walk", 0, 0))
    frames = list(frames)
    n = int(seconds * fps)
    seq = (cv2.resize(frames[i % len(frames)], size, interpolation=cv2.INTER_LINEAR) for i in range(n))
    encode_h264(seq, fps, size, out, gop=gop)
    return out


def int8_backbone(workdir: Path) -> Path:
    """The INT8 backbone `clipwatch export --int8` makes, built into workdir when the artifacts have none."""
    from clipwatch.paths import Paths
    from clipwatch.settings import get_settings

    paths = Paths.from_settings(get_settings())
    if paths.backbone_int8.is_file():
        return paths.backbone_int8
    from clipwatch.quantize import quantize_from_clips

    return quantize_from_clips(paths.backbone, workdir / "int8.onnx", paths.videos, 32, get_settings())


def print_targets(targets: dict[str, bool], met: str = "met", missed: str = "NOT met") -> None:
    for target, ok in targets.items():
        print(f"target {target}: {met if ok else missed}")
