"""Against a real uvicorn server: concurrency, several workers, a retrain killed mid-way."""

import csv
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from clipwatch.artifacts import ArtifactStore
from clipwatch.history import read_history
from clipwatch.paths import Paths
from tests.service.conftest import clip_bytes

pytestmark = pytest.mark.slow


def test_50_concurrent_feedbacks_make_50_whole_rows_and_the_right_number_of_retrains(live_server, videos):
    server = live_server(workers=2, retrain_every_k=20, promotion_policy="always")
    paths = Paths.from_settings(server.settings)
    with httpx.Client(base_url=server.url, timeout=60, headers=server.auth) as c:
        pids = [
            c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos, a, 0))}).json()["prediction_id"]
            for a in ("walk", "run", "clap", "wave", "jump")
        ]
        before = 0

        def send(i):
            return c.post("/feedback", json={"prediction_id": pids[i % 5], "target": "walk"})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, range(50)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert sorted(r.json()["rows"] for r in responses) == list(range(1, 51))
    assert sum(r.json()["retrain_triggered"] for r in responses) == 50 // 20 - before // 20 == 2
    with open(paths.prod_data, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert len(body) == 50 and all(len(r) == len(header) for r in body)
    deadline = time.time() + 120
    while len(read_history(paths)) < 2 and time.time() < deadline:
        time.sleep(0.5)
    history = read_history(paths)
    assert [h["trigger_rows"] for h in history] == [20, 40]
    assert history[0]["outcome"] == "promoted"
    # The burst outruns the first retrain, which then learns every row so far; the second either does
    # the same or finds nothing newer than that model and skips.
    second = history[1]
    assert second["outcome"] == "promoted" or "feedback rows newer than" in second["reason"], second
    assert ArtifactStore(paths).load().metadata["training"]["prod_rows_seen"] == 50


def test_every_worker_picks_up_a_promoted_model_within_2_s(live_server):
    server = live_server(workers=2)
    store = ArtifactStore(Paths.from_settings(server.settings))
    live = store.load()
    with httpx.Client(base_url=server.url, timeout=10, headers=server.auth) as c:
        assert {c.get("/ready").json()["model_version"] for _ in range(10)} == {"v0001"}
        new = store.publish(live.model, live.metadata)
        time.sleep(2.0)
        seen = {c.get("/ready").json()["model_version"] for _ in range(20)}
    assert seen == {new}


def test_metrics_add_up_across_workers(live_server, tmp_path):
    """With --workers 2 any scrape lands on one worker; it must still count every request either served."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    server = live_server(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    series = 'clipwatch_requests_total{endpoint="/health",method="GET",status="200"}'
    for _ in range(40):  # a new connection each time, so both workers get some
        assert httpx.get(f"{server.url}/health", headers=server.auth, timeout=10).status_code == 200
    writers = {p.stem.rsplit("_", 1)[-1] for p in folder.glob("counter_*.db")}
    assert len(writers) == 2, writers  # both workers answered and recorded
    for _ in range(6):
        text = httpx.get(f"{server.url}/metrics", headers=server.auth, timeout=10).text
        counted = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series)]
        assert counted == [40.0], counted
        live = [
            line for line in text.splitlines() if line.startswith("clipwatch_model_info{") and line.endswith(" 1.0")
        ]
        assert len(live) == 1 and 'version="v0001"' in live[0], live


def test_a_retrain_killed_mid_way_leaves_the_previous_model_serving(make_settings, live_server, videos):
    settings = make_settings(classifier="random-forest", n_estimators=3000, train_jobs=1)
    paths = Paths.from_settings(settings)
    # Enough feedback rows for a retrain to have work to do.
    from clipwatch.dataset import read_embeddings
    from clipwatch.stores import FeedbackRow
    from clipwatch.stores.csv_rows import CsvAppender

    X, y, _ = read_embeddings(paths.ref_data)
    CsvAppender(paths.prod_data, X.shape[1]).append([FeedbackRow(X[i], y[i], y[i]) for i in range(0, len(y), 3)])
    env = {
        **os.environ,
        "CLIPWATCH_DATA_DIR": str(paths.data_dir),
        "CLIPWATCH_ARTIFACTS_DIR": str(paths.artifacts_dir),
        "CLIPWATCH_CLASSIFIER": "random-forest",  # 3000 trees: slow enough to be killed mid-fit
        "CLIPWATCH_N_ESTIMATORS": "3000",
        "CLIPWATCH_TRAIN_JOBS": "1",
        "PROMOTION_POLICY": "always",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipwatch", "retrain"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(4)  # inside the forest fit
    assert proc.poll() is None, "retrain finished too fast to be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ArtifactStore(paths)
    assert store.current_name() == "v0001" and store.versions() == ["v0001"]
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30, headers=server.auth) as c:
        assert c.get("/ready").json()["model_version"] == "v0001"
        r = c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))})
        assert r.status_code == 200
    # The lock died with the process: the next retrain runs.
    res = subprocess.run(
        [sys.executable, "-m", "clipwatch", "retrain"],
        env={**env, "CLIPWATCH_N_ESTIMATORS": "20"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert store.current_name() == "v0002"
