"""kill -9 in the middle of writes: nothing acknowledged is lost, nothing half-written is left."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest

from clipwatch.artifacts import ArtifactStore
from clipwatch.dataset import read_embeddings
from clipwatch.history import read_history
from clipwatch.paths import Paths
from tests.service.conftest import LiveServer, clip_bytes

pytestmark = pytest.mark.slow


def _predict_ids(url: str, videos, n: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as c:  # /predict needs no key
        clips = [clip_bytes(videos, a, i) for a in ("walk", "clap", "run") for i in range(3)]
        return [
            c.post("/predict", files={"file": ("c.mp4", clips[i % len(clips)])}).json()["prediction_id"]
            for i in range(n)
        ]


def _whole_csv(path) -> pd.DataFrame:
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the last row is torn"
    df = pd.read_csv(path)
    fields = {line.count(b",") for line in raw.splitlines()}
    assert len(fields) == 1, "rows with different field counts"
    return df


def test_kill_9_during_a_feedback_burst_loses_no_acknowledged_row(make_settings, videos):
    settings = make_settings(retrain_every_k=0)
    paths = Paths.from_settings(settings)
    server = LiveServer(settings).start()
    try:
        ids = _predict_ids(server.url, videos, 60)
        acked: list[str] = []
        lock = threading.Lock()

        def send(pid: str) -> None:
            try:
                r = httpx.post(
                    f"{server.url}/feedback",
                    json={"prediction_id": pid, "target": "walk"},
                    headers=server.auth,
                    timeout=30,
                )
            except httpx.HTTPError:
                return  # the server died under this request: not acknowledged
            if r.status_code == 200:
                with lock:
                    acked.append(pid)

        with ThreadPoolExecutor(8) as pool:
            for pid in ids:
                pool.submit(send, pid)
            deadline = time.time() + 120
            while len(acked) < 20 and time.time() < deadline:
                time.sleep(0.002)
            server.kill()  # SIGKILL with requests in flight
        assert 20 <= len(acked) < len(ids), "the kill should land mid-burst"
    finally:
        server.kill()

    df = _whole_csv(paths.prod_data)
    stored = df["prediction_id"].tolist()
    assert set(acked) <= set(stored), f"{len(set(acked) - set(stored))} acknowledged rows lost"
    assert len(stored) == len(set(stored)), "a row was written twice"
    read_embeddings(paths.prod_data)  # what retraining and reports read

    # The counter resumes where the file is: the next acknowledged row is number len(stored) + 1.
    server = LiveServer(settings).start()
    try:
        r = httpx.post(
            f"{server.url}/feedback", json={"prediction_id": ids[-1], "target": "clap"}, headers=server.auth, timeout=30
        )
        assert r.status_code == 200 and r.json()["rows"] == len(stored) + 1
    finally:
        server.stop()
    assert len(_whole_csv(paths.prod_data)) == len(stored) + 1


def test_kill_9_during_a_retrain_leaves_a_complete_model_and_the_retrain_runs_after_restart(make_settings, videos):
    # A slow forest (many trees, one job) so the kill lands inside the retrain.
    settings = make_settings(
        retrain_every_k=10, classifier="random-forest", n_estimators=1500, train_jobs=1, promotion_policy="always"
    )
    paths = Paths.from_settings(settings)
    server = LiveServer(settings, env={"CLIPWATCH_TRAIN_JOBS": "1"}).start()
    try:
        ids = _predict_ids(server.url, videos, 12)
        with httpx.Client(base_url=server.url, timeout=30, headers=server.auth) as c:
            for i, pid in enumerate(ids[:10]):
                r = c.post("/feedback", json={"prediction_id": pid, "target": ["walk", "clap", "run"][i % 3]})
                assert r.status_code == 200
            assert r.json()["retrain_triggered"]
            deadline = time.time() + 30
            while not c.get("/model").json()["retrain"]["running"] and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(1.5)
            assert c.get("/model").json()["retrain"]["running"], "the retrain finished before the kill"
        server.kill()
    finally:
        server.kill()

    store = ArtifactStore(paths)
    assert store.current_name() == "v0001", "a retrain that never finished must not change the live model"
    for name in store.versions():
        store.load(name)  # every listed version is whole
    assert not [e for e in read_history(paths) if e.get("trigger_rows") == 10]

    # On restart the lost retrain runs (fast now), and the schedule carries on at row 20.
    fast = make_settings(retrain_every_k=10, n_estimators=30, promotion_policy="always")
    server = LiveServer(fast).start()
    try:
        deadline = time.time() + 90
        while not [e for e in read_history(paths) if e.get("trigger_rows") == 10] and time.time() < deadline:
            time.sleep(0.5)
        runs = [e for e in read_history(paths) if e.get("trigger_rows") == 10]
        assert len(runs) == 1 and runs[0]["outcome"] == "promoted", runs
        with httpx.Client(base_url=server.url, timeout=30, headers=server.auth) as c:
            assert c.get("/ready").json()["model_version"] == "v0002"
            more = _predict_ids(server.url, videos, 10)
            answers = [c.post("/feedback", json={"prediction_id": p, "target": "walk"}).json() for p in more]
        assert [a["rows"] for a in answers] == list(range(11, 21))
        assert [a["retrain_triggered"] for a in answers] == [False] * 9 + [True]
    finally:
        server.stop()
