"""Three API replicas behind the scale profile's nginx (serving/nginx.conf, on loopback), PostgreSQL
and one trainer: load spreads over the replicas, feedback for a prediction made on any replica is
stored once, each k rows give one retrain, and every replica serves it within 2 s."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest
import requests

from clipwatch.history import read_history
from clipwatch.paths import Paths
from clipwatch.trainer import Trainer
from devtools.nginx_local import LocalNginx, binary
from tests.service.conftest import clip_bytes

pytestmark = pytest.mark.slow
K = 4
ACTIONS = ["walk", "run", "clap", "wave", "jump", "sit"]


def served(replica) -> float:
    text = requests.get(f"{replica.url}/metrics", timeout=10).text
    return sum(
        float(v) for v in re.findall(r'clipwatch_requests_total\{endpoint="/predict",[^}]*status="200"\} (\S+)', text)
    )


@pytest.fixture
def scale(live_server, database_url):
    if binary() is None:
        pytest.skip("nginx not installed (Debian package 'nginx'; .ci/run installs it)")
    opts = {"retrain_every_k": K, "promotion_policy": "always", "trainer": "external", "database_url": database_url}
    env = {"CLIPWATCH_DATABASE_URL": database_url, "CLIPWATCH_TRAINER": "external", "CLIPWATCH_MODEL_POLL_S": "0.5"}
    replicas = [live_server(env=env, **opts) for _ in range(3)]
    with LocalNginx([f"127.0.0.1:{r.port}" for r in replicas]) as lb:
        yield lb, replicas


def test_three_replicas_behind_nginx_with_one_trainer(scale, videos, database_url):
    lb, replicas = scale
    settings = replicas[0].settings.model_copy(update={"trainer_poll_s": 0.2})
    auth = replicas[0].auth
    failures: list[str] = []
    stop = threading.Event()

    def background_predictions():  # steady load through the balancer for the whole test
        i = 0
        while not stop.is_set():
            files = {"file": ("c.mp4", clip_bytes(videos, ACTIONS[i % 6], i % 5))}
            r = requests.post(f"{lb.url}/predict", files=files, timeout=60)
            if r.status_code != 200:
                failures.append(f"predict {r.status_code}: {r.text[:200]}")
            i += 1

    trainer = Trainer(settings)
    threading.Thread(target=trainer.run, daemon=True).start()
    load = [threading.Thread(target=background_predictions, daemon=True) for _ in range(2)]
    for t in load:
        t.start()
    swaps = []
    try:
        for round_ in range(3):
            # k predictions, each corrected through the balancer: nginx picks the replica either time.
            pids = []
            for j in range(K):
                clip = clip_bytes(videos, ACTIONS[j], round_)
                r = requests.post(f"{lb.url}/predict", files={"file": ("c.mp4", clip)}, timeout=60)
                assert r.status_code == 200, r.text
                pids.append((r.json()["prediction_id"], ACTIONS[j]))
            before = {
                r.url: requests.get(f"{r.url}/model", headers=auth, timeout=10).json()["version"] for r in replicas
            }
            for pid, target in pids:
                r = requests.post(
                    f"{lb.url}/feedback", json={"prediction_id": pid, "target": target}, headers=auth, timeout=30
                )
                assert r.status_code == 200, r.text
            # The trainer runs the retrain and publishes; every replica serves the new version within 2 s.
            deadline = time.monotonic() + 180
            while len(read_history(Paths.from_settings(settings))) <= round_:
                assert time.monotonic() < deadline, "no retrain"
                time.sleep(0.1)
            published = time.monotonic()
            entry = read_history(Paths.from_settings(settings))[-1]
            assert entry["outcome"] == "promoted" and entry["trigger_rows"] == K * (round_ + 1), entry
            for rep in replicas:
                while (
                    requests.get(f"{rep.url}/model", headers=auth, timeout=10).json()["version"] != entry["new_version"]
                ):
                    assert time.monotonic() - published < 2.0, f"{rep.url} still on {before[rep.url]}"
                    time.sleep(0.05)
            swaps.append(time.monotonic() - published)
    finally:
        stop.set()
        for t in load:
            t.join(60)
        trainer.stop(timeout=60)
    assert not failures, failures[:5]
    assert len(read_history(Paths.from_settings(settings))) == 3  # exactly one retrain per k rows
    with psycopg.connect(database_url) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM feedback ORDER BY seq")]
        dupes = conn.execute("SELECT count(*) - count(DISTINCT prediction_id) FROM feedback").fetchone()[0]
    assert seqs == list(range(3 * K)) and dupes == 0  # every acknowledged row stored exactly once
    assert all(served(r) > 0 for r in replicas)  # least_conn spread the predictions over all three


def test_the_balancer_passes_the_apis_upload_limit_through(scale):
    """nginx sets no limit of its own and streams the body: the API's 413 (MAX_UPLOAD_MB) reaches the client."""
    lb, replicas = scale
    limit = int(replicas[0].settings.max_upload_mb * 2**20)

    def body():
        chunk = b"\0" * 2**20
        for _ in range(limit // 2**20 + 8):
            yield chunk

    r = requests.post(f"{lb.url}/predict", data=body(), headers={"Content-Type": "video/mp4"}, timeout=120)
    assert r.status_code == 413, r.text[:300]
    assert "MAX_UPLOAD_MB" in r.text or "too large" in r.text.lower()


def _post_from(source: str, port: int, body: bytes, content_type: str, timeout: float = 60) -> int:
    """POST /predict to 127.0.0.1:port from the loopback address `source`: another client to nginx."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
        return conn.getresponse().status
    finally:
        conn.close()


def _trickle_from(source: str, port: int, stop: threading.Event, statuses: list[int]) -> None:
    """A body announced as 1 MB that trickles a byte every 2 s, from `source`, until cut or stopped."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0)) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 1048576\r\n\r\n")
        s.settimeout(2)
        while not stop.is_set():
            try:
                s.sendall(b"x")
                answer = s.recv(200)
                if answer:
                    statuses.append(int(answer.split()[1]))
                    return
            except TimeoutError:
                continue
            except OSError:
                return


def test_slow_bodies_from_one_client_leave_the_others_their_uploads(live_server, videos):
    """The issue's target, from outside: while eight bodies trickle from one address, a well-behaved
    /predict from another gets 200 within 20 s (per-client slots behind nginx, and a minimum rate)."""
    if binary() is None:
        pytest.skip("nginx not installed (Debian package 'nginx'; .ci/run installs it)")
    env = {"CLIPWATCH_TRUSTED_PROXIES": "127.0.0.1", "CLIPWATCH_MAX_UPLOADS_PER_CLIENT": "2"}
    replica = live_server(env=env)
    with LocalNginx([f"127.0.0.1:{replica.port}"]) as lb:
        stop, statuses = threading.Event(), []
        attackers = [
            threading.Thread(target=_trickle_from, args=("127.0.0.2", lb.port, stop, statuses), daemon=True)
            for _ in range(8)
        ]
        for t in attackers:
            t.start()
        time.sleep(1.0)  # every trickle has its request in
        try:
            t0 = time.monotonic()
            status = _post_from("127.0.0.3", lb.port, clip_bytes(videos), "video/mp4", timeout=20)
            took = time.monotonic() - t0
        finally:
            stop.set()
            for t in attackers:
                t.join(10)
    assert status == 200 and took < 20, (status, took)
    # The trickles were turned away (503: over their address's slots) or cut for being slow (408).
    assert statuses and set(statuses) <= {408, 503}, statuses
