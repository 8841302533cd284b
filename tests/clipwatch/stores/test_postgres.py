"""The PostgreSQL store against a real server (tests/conftest.py starts Debian's on loopback)."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import psycopg
import pytest

from clipwatch.dataset import read_embeddings
from clipwatch.loop import retrain_due
from clipwatch.settings import Settings
from clipwatch.stores import CachedPrediction, FeedbackRow, StoreMismatchError
from clipwatch.stores.csv import CsvStore
from clipwatch.stores.postgres import PostgresStore
from clipwatch.stores.postgres_schema import migrate, migrations

DIM = 64


def pg_settings(tmp_path, url: str, **kw) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts", database_url=url, _env_file=None, **kw
    )


def rows(n: int, seed: int = 0, target: str = "walk") -> list[FeedbackRow]:
    rng = np.random.default_rng(seed)
    return [
        FeedbackRow(rng.standard_normal(DIM).astype(np.float32), target, "run", uuid.uuid4().hex, "v0001", 0.5)
        for _ in range(n)
    ]


@pytest.fixture
def store(tmp_path, database_url):
    s = PostgresStore(pg_settings(tmp_path, database_url))
    s.bind(DIM, {"num_frames": 16})
    yield s
    s.close()


def test_migrations_apply_once_even_from_many_replicas_at_once(database_url):
    applied = []

    def start():
        with psycopg.connect(database_url) as conn:
            applied.extend(migrate(conn))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert applied == [name for _, name, _ in migrations()]  # each file by exactly one of the six
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(migrations())
        assert conn.execute("SELECT rows FROM feedback_counter").fetchone()[0] == 0


def test_concurrent_replicas_number_rows_without_gaps_and_see_each_multiple_of_k_once(tmp_path, database_url):
    """Eight 'replicas' (own pools) append 25 rows each, one at a time: 200 rows, positions 0..199,
    and exactly 200 / k appends report crossing a multiple of k."""
    k, per, replicas = 7, 25, 8
    crossings, sent, errors = [], [], []

    def replica(i: int):
        s = PostgresStore(pg_settings(tmp_path, database_url, database_pool_size=2))
        s.bind(DIM, {"num_frames": 16})
        try:
            for row in rows(per, seed=i):
                r = s.append([row])
                sent.append(row.prediction_id)
                if retrain_due(r.rows_before, r.rows, k):
                    crossings.append(r.rows // k)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = per * replicas
    assert sorted(crossings) == list(range(1, total // k + 1))  # every multiple once, none twice
    with psycopg.connect(database_url) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM feedback ORDER BY seq")]
        ids = [r[0] for r in conn.execute("SELECT prediction_id FROM feedback")]
    assert seqs == list(range(total))
    assert sorted(ids) == sorted(sent)  # every acknowledged row stored, exactly once


def test_vectors_come_back_bit_identical_in_binary(store):
    sent = rows(30, seed=3)
    store.append(sent[:10])
    store.append(sent[10:])
    assert store.count() == 30
    table = store.read(np.array([0, 5, 29]))
    assert list(table.positions) == [0, 5, 29]
    assert table.X.dtype == np.float32
    for got, want in zip(table.X, (sent[0], sent[5], sent[29]), strict=True):
        assert np.array_equal(got, want.vector)
    assert list(table.y) == ["walk"] * 3 and list(table.frame["prediction"]) == ["run"] * 3
    with psycopg.connect(store.settings.database_url.get_secret_value()) as conn:
        assert conn.execute("SELECT max(length(vector)) FROM feedback").fetchone()[0] == DIM * 4
    assert [r["prediction_id"] for r in store.recent(2)] == [sent[28].prediction_id, sent[29].prediction_id]


def test_rows_of_another_embedding_are_refused_and_nothing_is_written(store, tmp_path, database_url):
    store.append(rows(3))
    other = PostgresStore(pg_settings(tmp_path, database_url))
    try:
        other.bind(DIM * 2, {"num_frames": 16})
        with pytest.raises(StoreMismatchError, match="another embedding"):
            other.append([FeedbackRow(np.zeros(DIM * 2, np.float32), "walk", "walk")])
        other.bind(DIM, {"num_frames": 8})
        with pytest.raises(StoreMismatchError):
            other.append(rows(1))
    finally:
        other.close()
    assert store.count() == 3


def test_predictions_are_found_by_id_until_the_ttl_then_swept(tmp_path, database_url):
    s = PostgresStore(pg_settings(tmp_path, database_url, prediction_ttl_s=3600))
    try:
        vec = np.arange(DIM, dtype=np.float32)
        for pid in ("a" * 32, "b" * 32):
            s.log_prediction(pid, CachedPrediction(vec, "walk", 0.9, "v0001", 0.0, "clip.mp4"))
        found = s.find_prediction("a" * 32)
        assert found is not None and np.array_equal(found.vector, vec)
        assert (found.label, found.model_version, found.filename) == ("walk", "v0001", "clip.mp4")
        assert s.find_prediction("c" * 32) is None
        with psycopg.connect(database_url) as conn:  # one of them made two hours ago
            conn.execute("UPDATE predictions SET created = now() - interval '2 hours' WHERE id = %s", ("b" * 32,))
        assert s.find_prediction("b" * 32) is None  # expired: gone for feedback at once
        assert s.prune_predictions() == 1
        assert s.find_prediction("a" * 32) is not None
    finally:
        s.close()


def test_a_predict_flood_within_the_ttl_is_held_to_the_size_cap(tmp_path, database_url, caplog):
    """Anonymous /predict calls log a row each; the table keeps the newest that fit PREDICTION_LOG_MAX_MB."""
    vec = np.zeros(2048, np.float32)  # 8 KB a row: some 12 fit in 0.1 MB
    s = PostgresStore(pg_settings(tmp_path, database_url, prediction_log_max_mb=0.1, prediction_prune_every_s=3600))
    try:
        ids = [f"{i:032x}" for i in range(40)]
        for pid in ids:
            s.log_prediction(pid, CachedPrediction(vec, "walk", 0.9, "v0001", 0.0, "clip.mp4"))
        assert s.prune_predictions() > 0 and "PREDICTION_LOG_MAX_MB" in caplog.text
        with psycopg.connect(database_url) as conn:
            (left,), (size,) = conn.execute(
                "SELECT count(*) FROM predictions UNION ALL SELECT sum(octet_length(vector)) FROM predictions"
            ).fetchall()
        assert 0 < left < 40 and size <= 0.1 * 2**20
        assert s.find_prediction(ids[-1]) is not None and s.find_prediction(ids[0]) is None  # newest kept
    finally:
        s.close()


def test_export_prod_writes_the_seed_format_from_the_database(store, tmp_path):
    sent = rows(12, seed=5)
    store.append(sent)
    out = tmp_path / "export" / "prod_data.csv"
    out.parent.mkdir()
    assert store.export_csv(out) == 12
    X, y, df = read_embeddings(out)
    assert X.shape == (12, DIM) and np.array_equal(X, np.stack([r.vector for r in sent]))
    assert list(y) == ["walk"] * 12 and list(df["prediction_id"]) == [r.prediction_id for r in sent]
    assert df["timestamp"].notna().all()
    # The CSV store reads the export as it reads its own file.
    csv = CsvStore(Settings(data_dir=out.parent, artifacts_dir=tmp_path / "a", _env_file=None))
    assert csv.count() == 12 and np.array_equal(csv.read(np.array([3])).X[0], sent[3].vector)
