"""Soak: mixed load (predict, batch, feedback that fires retrains) on a live server, watching it age.

`make soak` runs this module for 10 minutes and writes benchmarks/results/soak.json; the fast tier
runs the same loop for under a minute (tests/reliability/test_soak.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import psutil

from clipwatch.artifacts import ArtifactStore
from clipwatch.history import read_history
from clipwatch.paths import MODEL_FILE, Paths
from clipwatch.settings import PROJECT_ROOT, Settings
from devtools.sandbox import auth, private_copy

MIX = (("predict", 0.6), ("batch", 0.15), ("feedback", 0.25))


def pick_clips(videos: Path, per_class: int = 2) -> list[tuple[bytes, str]]:
    return [
        (p.read_bytes(), d.name)
        for d in sorted(videos.iterdir())
        if d.is_dir()
        for p in sorted(d.glob("*.mp4"))[:per_class]
    ]


class Soak:
    def __init__(self, url: str, pid: int, settings: Settings, clips: list[tuple[bytes, str]], seed: int = 0):
        self.url, self.pid, self.clips = url, pid, clips
        self.auth = auth(settings)
        self.upload_dir = settings.upload_dir
        self.paths = Paths.from_settings(settings)
        self.store = ArtifactStore(self.paths)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.labelled: list[tuple[str, str]] = []  # (prediction_id, true label); feedback takes the newest
        self.latency: list[tuple[float, float]] = []  # (t, seconds) of single predictions
        self.counts: dict[str, int] = defaultdict(int)
        self.failures: list[str] = []
        self.samples: list[dict] = []
        self.t0 = 0.0

    def _one(self, c: httpx.Client) -> None:
        with self.lock:
            kind = self.rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
            if kind == "feedback" and not self.labelled:
                kind = "predict"
            data, label = self.rng.choice(self.clips)
            batch = self.rng.sample(self.clips, 3)
            pending = self.labelled.pop() if kind == "feedback" else None
            del self.labelled[:-100]  # older ones are never labelled, as with a person giving feedback
        start = time.perf_counter()
        try:
            if kind == "predict":
                r = c.post("/predict", files={"file": ("clip.mp4", data)})
            elif kind == "batch":
                r = c.post("/predict/batch", files=[("files", (f"{i}.mp4", d)) for i, (d, _) in enumerate(batch)])
            else:
                r = c.post("/feedback", json={"prediction_id": pending[0], "target": pending[1]})
        except httpx.HTTPError as exc:
            r, error = None, f"{kind}: {type(exc).__name__}: {exc}"
        else:
            error = None if r.status_code == 200 else f"{kind}: {r.status_code} {r.text[:200]}"
            if kind == "batch" and not error and r.json()["failed"]:
                error = f"batch: {r.json()['failed']} item(s) failed"
        seconds = time.perf_counter() - start
        with self.lock:
            self.counts[kind] += 1
            if error:
                self.failures.append(error)
            elif kind == "predict":
                self.latency.append((time.perf_counter() - self.t0, seconds))
                self.labelled.append((r.json()["prediction_id"], label))

    def _sample(self) -> None:
        proc = psutil.Process(self.pid)
        model = self.store.current_name()
        self.samples.append(
            {
                "t": round(time.perf_counter() - self.t0, 1),
                "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                "fds": proc.num_fds(),
                "threads": proc.num_threads(),
                "temp_files": sum(1 for p in self.upload_dir.rglob("*") if p.is_file()),
                "model": model,
                "model_mb": round((self.paths.versions / model / MODEL_FILE).stat().st_size / 2**20, 1),
            }
        )

    def run(self, seconds: float, workers: int = 3, sample_every: float = 5.0) -> None:
        self.t0 = time.perf_counter()
        stop = time.perf_counter() + seconds

        def worker():
            with httpx.Client(base_url=self.url, timeout=120, headers=self.auth) as c:
                while time.perf_counter() < stop:
                    self._one(c)

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            self._sample()
            for t in threads:
                t.join(timeout=sample_every / len(threads))
        self._sample()


def figures(soak: Soak, seconds: float, history: list[dict], warmup_s: float) -> dict:
    """The soak's verdict: failures, memory and descriptor growth after warm-up, p95 per window."""
    after = [s for s in soak.samples if s["t"] >= warmup_s] or soak.samples
    windows = max(2, min(10, round(seconds / 60)))
    width = seconds / windows
    p95 = []
    for w in range(windows):
        lat = [x for t, x in soak.latency if w * width <= t < (w + 1) * width]
        p95.append(round(float(np.percentile(lat, 95)) * 1e3, 1) if lat else None)
    total = sum(soak.counts.values())
    return {
        "seconds": round(seconds),
        "requests": dict(soak.counts),
        "requests_total": total,
        "failed": len(soak.failures),
        "failures": soak.failures[:10],
        "retrains": len(history),
        "retrain_outcomes": {o: sum(e["outcome"] == o for e in history) for o in {e["outcome"] for e in history}},
        **trend(after),
        "fds_min_max_after_warmup": [min(s["fds"] for s in after), max(s["fds"] for s in after)],
        "threads_min_max_after_warmup": [min(s["threads"] for s in after), max(s["threads"] for s in after)],
        "temp_files_max": max(s["temp_files"] for s in soak.samples),
        "temp_files_at_end": soak.samples[-1]["temp_files"],
        "predict_p95_ms_per_window": p95,
        "window_s": round(width),
        "p95_last_over_first": round(p95[-1] / p95[0], 2) if p95[0] and p95[-1] else None,
        "samples": soak.samples,
    }


def trend(samples: list[dict]) -> dict:
    """Where memory and descriptors start and end after warm-up: medians of the first and last five
    samples, so in-flight requests (a socket, a temp file, a retrain's arrays) don't read as growth."""
    n = min(5, max(1, len(samples) // 3))

    def ends(key: str) -> tuple[float, float]:
        return float(np.median([s[key] for s in samples[:n]])), float(np.median([s[key] for s in samples[-n:]]))

    rss0, rss1 = ends("rss_mb")
    fd0, fd1 = ends("fds")
    return {
        "rss_mb_after_warmup": round(rss0, 1),
        "rss_mb_at_end": round(rss1, 1),
        "rss_growth_pct": round(100 * (rss1 - rss0) / rss0, 2),
        "fds_after_warmup_and_at_end": [fd0, fd1],
    }


def verdict(f: dict) -> list[str]:
    problems = []
    if f["failed"]:
        problems.append(f"{f['failed']} failed request(s)")
    if f["rss_growth_pct"] >= 10:
        problems.append(f"RSS grew {f['rss_growth_pct']}% after warm-up")
    fd0, fd1 = f["fds_after_warmup_and_at_end"]
    if fd1 - fd0 > 4:
        problems.append(f"open descriptors grew from {fd0:.0f} to {fd1:.0f}")
    if f["temp_files_at_end"]:
        problems.append(f"{f['temp_files_at_end']} temp file(s) left")
    if f["p95_last_over_first"] and f["p95_last_over_first"] > 1.5:
        problems.append(f"p95 rose {f['p95_last_over_first']}x from the first window to the last")
    return problems


def main() -> None:
    from tests.service.conftest import LiveServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--retrain-every-k", type=int, default=100)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="clipwatch-soak-") as tmp:
        s = private_copy(tmp, retrain_every_k=args.retrain_every_k)
        server = LiveServer(s).start()
        try:
            soak = Soak(server.url, server.proc.pid, s, pick_clips(Paths.from_settings(Settings()).videos))
            soak.run(seconds)
            history = [e for e in read_history(Paths.from_settings(s)) if e.get("trigger_rows")]
        finally:
            server.stop()
    f = figures(soak, seconds, history, warmup_s=min(60.0, seconds / 5))
    f["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(f, indent=2) + "\n")
    print(f"requests {f['requests_total']} ({f['requests']}), failed {f['failed']}, retrains {f['retrains']}")
    print(f"RSS {f['rss_mb_after_warmup']} -> {f['rss_mb_at_end']} MB ({f['rss_growth_pct']:+.1f}%)")
    print(
        f"fds {f['fds_after_warmup_and_at_end']} (range {f['fds_min_max_after_warmup']}), "
        f"temp files max {f['temp_files_max']} end {f['temp_files_at_end']}"
    )
    print(f"/predict p95 per {f['window_s']} s window (ms): {f['predict_p95_ms_per_window']}")
    problems = verdict(f)
    print(f"wrote {args.out}; " + ("; ".join(problems) if problems else "all targets met"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
