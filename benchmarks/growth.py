"""What feedback costs as it piles up: 1k, 10k and 100k rows, in prod_data.csv and in PostgreSQL.

For each store and size, over a private copy of the default artifacts:
- the store is filled with N feedback rows (the reference's vectors with noise, its labels), as if
  the champion had been trained before them, which is the costliest case: every row is new to it;
- append latency: 200 single-row appends, one at a time, as /feedback makes them (p50, p95);
- a retrain: `clipwatch retrain` in its own process, wall time and peak RSS;
- a report run: `python reporting/project.py` in its own process, wall time and peak RSS.

Targets at 100k rows: retrain under 3 min and 2 GB, report run under 2 min and 2 GB, append p95
under 20 ms. PostgreSQL is Debian's server started on loopback in a temporary folder.

Writes benchmarks/results/growth.json and prints a table. Run: make bench, or
python benchmarks/growth.py [--sizes 1000,10000,100000] [--stores csv,postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, private_copy, table, write_results

from clipwatch.dataset import read_embeddings
from clipwatch.settings import get_settings
from clipwatch.stores import FeedbackRow, open_store
from devtools.pg_local import LocalPostgres, bindir

TARGETS = {"retrain_s": 180, "retrain_mb": 2048, "report_s": 120, "report_mb": 2048, "append_p95_ms": 20}


def fill(settings, n: int, seed: int = 0, batch: int = 1000) -> None:
    """N rows: the reference's vectors with a little noise, under their own labels."""
    X, y, _ = read_embeddings(Path(settings.data_dir) / "ref_data.csv")
    rng = np.random.default_rng(seed)
    store = open_store(settings)
    store.bind(X.shape[1], None)
    try:
        for start in range(0, n, batch):
            idx = rng.integers(0, len(y), min(batch, n - start))
            noisy = X[idx] + rng.normal(0, 0.02, (len(idx), X.shape[1])).astype(np.float32)
            store.append([FeedbackRow(v, t, t, "", "v0001", 0.9) for v, t in zip(noisy, y[idx], strict=True)])
    finally:
        store.close()


def append_latency(settings, n: int = 200) -> list[float]:
    X, y, _ = read_embeddings(Path(settings.data_dir) / "ref_data.csv")
    store = open_store(settings)
    store.bind(X.shape[1], None)
    times = []
    try:
        for i in range(n):
            row = FeedbackRow(X[i % len(y)], y[i % len(y)], y[i % len(y)], os.urandom(16).hex(), "v0001", 0.9)
            t = time.perf_counter()
            store.append([row])
            times.append((time.perf_counter() - t) * 1e3)
    finally:
        store.close()
    return times


def measured(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and the last line of output of a child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024, last[0]


def env_for(settings) -> dict:
    env = {
        **os.environ,
        "CLIPWATCH_DATA_DIR": str(settings.data_dir),
        "CLIPWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "CLIPWATCH_REPORT_WORKSPACE": str(Path(settings.data_dir) / "workspace"),
        "DO_NOT_TRACK": "1",
    }
    if settings.database_url is not None:
        env["CLIPWATCH_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


def one(store: str, n: int, url: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"growth-{store}-{n}-") as tmp:
        s = private_copy(tmp, get_settings(), database_url=url)
        t = time.perf_counter()
        fill(s, n)
        fill_s = time.perf_counter() - t
        lat = sorted(append_latency(s))
        env = env_for(s)
        retrain_s, retrain_mb, retrain_line = measured([sys.executable, "-m", "clipwatch", "retrain"], env)
        report_s, report_mb, _ = measured([sys.executable, "reporting/project.py"], env)
        size_mb = (Path(s.data_dir) / "prod_data.csv").stat().st_size / 2**20 if store == "csv" else database_mb(url)
    return {
        "store": store,
        "rows": n,
        "stored_mb": round(size_mb, 1),
        "fill_s": round(fill_s, 1),
        "append_p50_ms": round(statistics.median(lat), 2),
        "append_p95_ms": round(lat[int(0.95 * len(lat)) - 1], 2),
        "retrain_s": round(retrain_s, 1),
        "retrain_mb": round(retrain_mb),
        "report_s": round(report_s, 1),
        "report_mb": round(report_mb),
        "retrain": retrain_line,
    }


def database_mb(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20


def fresh_database(pg: LocalPostgres, name: str) -> str:
    import psycopg

    admin = pg.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--stores", default="csv,postgres")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    stores = args.stores.split(",")
    if "postgres" in stores and bindir() is None:
        print("benchmarks/growth.py: no PostgreSQL server binaries (Debian package 'postgresql'): csv only")
        stores = [s for s in stores if s != "postgres"]
    rows = []
    pg = LocalPostgres().start() if "postgres" in stores else None
    try:
        for store in stores:
            for n in sizes:
                url = fresh_database(pg, f"growth_{n}") if store == "postgres" else None
                r = one(store, n, url)
                rows.append(r)
                print(table([r], list(r)[:-1]), flush=True)
    finally:
        if pg is not None:
            pg.stop()
    s = get_settings()
    payload = {
        "targets_at_100k": TARGETS,
        "settings": {
            "retrain_max_rows": s.retrain_max_rows,
            "report_max_rows": s.report_max_rows,
            "classifier": s.classifier,
            "train_jobs": s.train_jobs,
        },
        "results": rows,
    }
    out = write_results("growth", payload)
    print()
    print(table(rows, [c for c in rows[0] if c != "retrain"]))
    print(f"\n-> {out}")


if __name__ == "__main__":
    main()
