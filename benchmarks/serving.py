"""Load run against a live serving API on loopback (a private copy of the artifacts).

/predict p50/p95, requests/s and the server's CPU use at concurrency 1, 4 and 16 for a 3 s 320x240
H.264 clip, with and without dynamic batching; `clipwatch score` clips/s over 100 clips of the
embedded dataset; errors; the server's overhead over calling the pipeline in-process; and the
longest /predict latency while a retrain and hot swap happen.
Writes benchmarks/results/serving.json and prints a table. Run: make bench
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_clip, median_ms, print_targets, private_copy, table, write_results

from clipwatch.client.score_folders import score_paths
from clipwatch.dataset import discover
from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.settings import get_settings
from devtools.processes import free_port, serving_cmd, start


def start_server(data: Path, artifacts: Path, **env) -> tuple[subprocess.Popen, str]:
    port = free_port()
    full_env = {
        **os.environ,
        "CLIPWATCH_DATA_DIR": str(data),
        "CLIPWATCH_ARTIFACTS_DIR": str(artifacts),
        "CLIPWATCH_LOG_LEVEL": "WARNING",
        **{k: str(v) for k, v in env.items()},
    }
    url = f"http://127.0.0.1:{port}"
    return start(serving_cmd(port, "127.0.0.1"), f"{url}/ready", env=full_env), url


class CpuMeter:
    """A process's CPU time over a block, as a share of all cores (1.0: every core busy throughout)."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), sum(self.proc.cpu_times()[:2])
        return self

    def __exit__(self, *exc):
        busy = sum(self.proc.cpu_times()[:2]) - self.c0
        self.share = busy / ((time.perf_counter() - self.t0) * psutil.cpu_count())


def load(url: str, pid: int, clip: bytes, n: int, concurrency: int) -> dict:
    client = httpx.Client(base_url=url, timeout=120)  # keep-alive, as a real client would

    def one(_):
        t = time.perf_counter()
        r = client.post("/predict", files={"file": ("c.mp4", clip, "video/mp4")})
        return (time.perf_counter() - t) * 1e3, r.status_code

    with client, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # warm-up
        t0 = time.perf_counter()
        with CpuMeter(pid) as cpu:
            results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results])
    return {
        "concurrency": concurrency,
        "requests": n,
        "errors": int(sum(r[1] != 200 for r in results)),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()),
        "rps": n / wall,
        "server_cpu_share": cpu.share,
    }


def score_run(url: str, pid: int, clips: list[Path], concurrency: int) -> dict:
    """`clipwatch score` over a folder's clips, as a user runs it against this server."""
    t0 = time.perf_counter()
    with CpuMeter(pid) as cpu:
        results = score_paths(clips, api=url, concurrency=concurrency, progress=False)
    wall = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "clips": len(clips),
        "errors": sum(1 for r in results if r["error"]),
        "clips_per_s": len(clips) / wall,
        "server_cpu_share": cpu.share,
    }


def retrain_under_load(url: str, clip: bytes, k: int) -> dict:
    """Predict continuously at concurrency 2 while k feedbacks trigger a retrain and promotion."""
    stop = time.perf_counter() + 600
    latencies: list[float] = []
    errors = 0
    done = {"flag": False}

    def predictor_loop():
        nonlocal errors
        while not done["flag"] and time.perf_counter() < stop:
            t = time.perf_counter()
            r = httpx.post(f"{url}/predict", files={"file": ("c.mp4", clip, "video/mp4")}, timeout=120)
            latencies.append((time.perf_counter() - t) * 1e3)
            errors += r.status_code != 200

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(predictor_loop) for _ in range(2)]
        v0 = httpx.get(f"{url}/model", timeout=30).json()["version"]
        t0 = time.perf_counter()
        for _ in range(k):
            pid = httpx.post(f"{url}/predict", files={"file": ("c.mp4", clip)}, timeout=120).json()["prediction_id"]
            httpx.post(f"{url}/feedback", json={"prediction_id": pid, "target": "walk"}, timeout=60)
        while httpx.get(f"{url}/model", timeout=30).json()["version"] == v0 and time.perf_counter() - t0 < 300:
            time.sleep(0.2)
        swap_s = time.perf_counter() - t0
        time.sleep(1)
        done["flag"] = True
        for f in futures:
            f.result()
    model = httpx.get(f"{url}/model", timeout=30).json()
    return {
        "requests": len(latencies),
        "errors": errors,
        "max_ms": float(max(latencies)),
        "p50_ms": float(np.median(latencies)),
        "seconds_to_swap": swap_s,
        "new_version": model["version"],
        "retrain_s": model["history"][-1]["duration_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--score-clips", type=int, default=100)
    args = parser.parse_args()

    src = Paths.from_settings(get_settings())
    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-serving-"))
    sandbox = private_copy(tmp)
    data, artifacts = sandbox.data_dir, sandbox.artifacts_dir
    clip_path = make_clip(tmp / "clip.mp4", (320, 240), 3, 25)
    clip = clip_path.read_bytes()
    every = discover(src.videos).clips
    score_clips = [every[i][0] for i in np.random.default_rng(0).permutation(len(every))[: args.score_clips]]

    predictor = Predictor.load(sandbox)
    inproc, _ = median_ms(lambda: predictor.predict_path(clip_path), 15, warmup=2)

    runs: dict[str, list[dict]] = {}
    # The default (no batching, two requests embedded at once) and dynamic batching (3 ms window, four
    # requests decoding at once so that batches can form).
    modes = {
        "unbatched": {"CLIPWATCH_BATCH_WINDOW_MS": 0},
        "batched": {"CLIPWATCH_BATCH_WINDOW_MS": 3, "CLIPWATCH_MAX_CONCURRENT_PREDICTIONS": 4},
    }
    for mode, env in modes.items():
        proc, url = start_server(data, artifacts, RETRAIN_EVERY_K=0, **env)
        try:
            runs[mode] = [load(url, proc.pid, clip, args.requests * (1 if c == 1 else 2), c) for c in (1, 4, 16)]
            if mode == "unbatched":
                score = [score_run(url, proc.pid, score_clips, c) for c in (1, 4)]
        finally:
            proc.terminate()
            proc.wait()
    c1, c4, _ = runs["unbatched"]
    proc, url = start_server(data, artifacts, RETRAIN_EVERY_K=10, PROMOTION_POLICY="always")
    try:
        swap = retrain_under_load(url, clip, 10)
    finally:
        proc.terminate()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)

    overhead = (c1["p50_ms"] - inproc) / inproc
    rows = [
        {
            "run": f"{mode}, concurrency {r['concurrency']}",
            "requests": r["requests"],
            "errors": r["errors"],
            "p50 ms": f"{r['p50_ms']:.0f}",
            "p95 ms": f"{r['p95_ms']:.0f}",
            "req/s": f"{r['rps']:.2f}",
            "server CPU": f"{100 * r['server_cpu_share']:.0f}%",
        }
        for mode, rs in runs.items()
        for r in rs
    ]
    rows += [
        {
            "run": f"clipwatch score, concurrency {r['concurrency']}",
            "requests": r["clips"],
            "errors": r["errors"],
            "req/s": f"{r['clips_per_s']:.2f}",
            "server CPU": f"{100 * r['server_cpu_share']:.0f}%",
        }
        for r in score
    ]
    rows.append(
        {
            "run": "during retrain+swap",
            "requests": swap["requests"],
            "errors": swap["errors"],
            "p50 ms": f"{swap['p50_ms']:.0f}",
            "p95 ms": f"max {swap['max_ms']:.0f}",
            "req/s": "",
        }
    )
    targets = {
        "server overhead at concurrency 1 <= 15%": overhead <= 0.15,
        "zero errors": all(r["errors"] == 0 for rs in [*runs.values(), score] for r in rs) and swap["errors"] == 0,
        "/predict at concurrency 4 >= 1.5x the requests/s of concurrency 1": c4["rps"] >= 1.5 * c1["rps"],
    }
    out = write_results(
        "serving",
        {
            "clip": "320x240 H.264 3 s 25 fps",
            "in_process_p50_ms": inproc,
            "server_overhead_c1": overhead,
            "concurrency_1": c1,
            "concurrency_4": c4,
            "c4_over_c1": c4["rps"] / c1["rps"],
            "runs": runs,
            "score": score,
            "retrain_under_load": swap,
            "targets_met": targets,
        },
    )
    print(table(rows, ["run", "requests", "errors", "p50 ms", "p95 ms", "req/s", "server CPU"]))
    print("(server CPU: the API process's CPU time as a share of both cores over the run)")
    print(f"\nin-process p50 {inproc:.0f} ms; server overhead at concurrency 1: {100 * overhead:+.1f}%")
    print(
        f"retrain + hot swap under load: {swap['seconds_to_swap']:.1f} s to {swap['new_version']}, "
        f"longest /predict {swap['max_ms']:.0f} ms, {swap['errors']} errors"
    )
    print_targets(targets)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
