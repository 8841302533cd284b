"""Several API replicas and one trainer: feedback for a prediction made on another replica, the
trainer retraining every k rows from either store, and the replicas swapping to what it publishes."""

from __future__ import annotations

import time

import psycopg
import pytest

from clipwatch.history import read_history
from clipwatch.paths import Paths
from clipwatch.trainer import Trainer
from tests.service.test_feedback import predict, wait_for


def test_feedback_by_id_finds_a_prediction_another_replica_made(client_for, videos, database_url):
    a = client_for(database_url=database_url)
    b = client_for(database_url=database_url)
    pid = predict(a, videos, "clap")["prediction_id"]
    r = b.post("/feedback", json={"prediction_id": pid, "target": "clap"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1 and r.json()["store"] == "PostgreSQL"
    paths = b.app.state.service.paths
    assert not paths.prod_data.exists()  # the row went to PostgreSQL, not prod_data.csv
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT prediction_id, target FROM feedback").fetchall() == [(pid, "clap")]
        assert conn.execute("SELECT filename FROM predictions WHERE id = %s", (pid,)).fetchone()[0] == "c.mp4"


def test_an_unknown_prediction_id_is_404_with_the_database_too(client_for, database_url):
    c = client_for(database_url=database_url)
    r = c.post("/feedback", json={"prediction_id": "0" * 32, "target": "walk"})
    assert r.status_code == 404 and "unknown or expired" in r.json()["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "postgres"])
def test_the_trainer_retrains_every_k_rows_and_the_replicas_swap(client_for, videos, kind, request):
    url = request.getfixturevalue("database_url") if kind == "postgres" else None
    k = 4
    opts = {"retrain_every_k": k, "promotion_policy": "always", "trainer": "external", "database_url": url}
    replicas = [client_for(**opts), client_for(**opts)]
    settings = replicas[0].app.state.service.settings
    v0 = replicas[0].get("/model").json()["version"]
    actions = ["walk", "run", "clap", "wave"]
    answers = []
    for i, action in enumerate(actions):  # predicted on one replica, corrected on the other
        pid = predict(replicas[i % 2], videos, action, i)["prediction_id"]
        answers.append(replicas[(i + 1) % 2].post("/feedback", json={"prediction_id": pid, "target": action}).json())
    assert [a["rows"] for a in answers] == [1, 2, 3, 4]
    assert answers[-1]["retrain_triggered"] is True
    time.sleep(1.0)
    assert read_history(Paths.from_settings(settings)) == []  # the API processes never retrain themselves

    trainer = Trainer(settings.model_copy(update={"trainer_poll_s": 0.2}))
    try:
        assert trainer.check() == k
        assert trainer.check() is None  # queued once, however often it looks
        assert wait_for(lambda: trainer.loop.completed == 1, timeout=120)
        published = time.monotonic()
        history = read_history(Paths.from_settings(settings))
        assert len(history) == 1 and history[0]["outcome"] == "promoted" and history[0]["trigger_rows"] == k
        new = history[0]["new_version"]
        # Every replica serves the new version within 2 s of its publication.
        for r in replicas:
            assert wait_for(lambda r=r: r.get("/model").json()["version"] == new, timeout=2.0), v0
        assert time.monotonic() - published < 2.5
        assert trainer.check() is None  # the history shows the trigger answered: no second run
        model = replicas[1].get("/model").json()
        assert model["training"]["prod_rows_seen"] == k and model["history"][-1]["new_version"] == new
    finally:
        trainer.stop(timeout=60)


def test_a_database_that_goes_away_is_a_503_to_retry_and_the_api_stays_up(client_for, videos, postgres_server):
    from devtools.pg_local import LocalPostgres

    with LocalPostgres() as pg:
        c = client_for(database_url=pg.url, database_connect_timeout_s=2)
        pid = predict(c, videos)["prediction_id"]
    # The server is gone: feedback cannot be stored, and says so (nothing half-written to retry over).
    r = c.post("/feedback", json={"prediction_id": pid, "target": "walk"})
    assert r.status_code == 503 and r.headers["Retry-After"] and "retry" in r.json()["detail"]
    assert c.get("/health").status_code == 200
