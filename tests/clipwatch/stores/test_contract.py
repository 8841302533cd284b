"""One contract, every feedback store backend: what the API, the trainer and the reports rely on.

Each test runs against the file store and against PostgreSQL (a real server on loopback; skipped with
a message where Debian's package is absent). A new backend joins by adding itself to `BACKENDS`.
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from clipwatch.dataset import read_embeddings
from clipwatch.errors import DatasetError
from clipwatch.settings import Settings
from clipwatch.stores import CachedPrediction, FeedbackRow, FeedbackStore, StoreMismatchError, open_store

DIM = 48
CONTRACT = {"backbone_sha256": "ab" * 32, "num_frames": 16, "pooling": "mean+motion", "embedding_dim": DIM}
BACKENDS = ["csv", "postgres"]


@pytest.fixture(params=BACKENDS)
def settings_for(request, tmp_path):
    """A function giving Settings for one backend over one shared place (folder or database)."""
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None

    def make(**kw) -> Settings:
        return Settings(
            data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts", database_url=url, _env_file=None, **kw
        )

    make.kind = request.param
    return make


@pytest.fixture
def store(settings_for):
    s = open_store(settings_for())
    s.bind(DIM, CONTRACT)
    yield s
    s.close()


def rows(n: int, seed: int = 0, target: str = "walk") -> list[FeedbackRow]:
    rng = np.random.default_rng(seed)
    return [
        FeedbackRow(rng.standard_normal(DIM).astype(np.float32), target, "run", uuid.uuid4().hex, "v0002", 0.25)
        for _ in range(n)
    ]


def test_the_backend_is_the_one_the_settings_name_and_offers_the_whole_interface(store, settings_for):
    assert store.kind == settings_for.kind
    assert isinstance(store, FeedbackStore)


def test_appends_are_numbered_without_gaps_and_counted(store):
    first, second = store.append(rows(3)), store.append(rows(2, seed=1))
    assert (first.rows_before, first.rows, second.rows_before, second.rows) == (0, 3, 3, 5)
    assert store.count() == 5


def test_rows_come_back_as_they_went_in_whole_or_by_position(store):
    sent = rows(6, seed=2)
    store.append(sent[:4])
    store.append(sent[4:])
    table = store.read()
    assert list(table.positions) == list(range(6)) and len(table) == 6
    assert np.array_equal(table.X, np.stack([r.vector for r in sent]))
    assert list(table.y) == ["walk"] * 6
    assert list(table.frame["prediction"]) == ["run"] * 6
    assert list(table.frame["model_version"]) == ["v0002"] * 6
    picked = store.read(np.array([1, 4]))
    assert list(picked.positions) == [1, 4] and np.array_equal(picked.X[1], sent[4].vector)


def test_recent_rows_are_the_newest_oldest_first_without_the_vector(store):
    sent = rows(5, seed=3)
    store.append(sent)
    recent = store.recent(2)
    assert [r["prediction_id"] for r in recent] == [sent[3].prediction_id, sent[4].prediction_id]
    assert recent[0]["target"] == "walk" and recent[0]["prediction"] == "run"
    assert not any(k.startswith("emb_") for k in recent[0])
    assert store.recent(0) == []


def test_an_unbound_store_refuses_to_append(settings_for):
    s = open_store(settings_for())
    try:
        with pytest.raises(RuntimeError, match="bind"):
            s.append(rows(1))
    finally:
        s.close()


def test_a_vector_of_the_wrong_width_is_refused_and_nothing_is_written(store):
    store.append(rows(2))
    with pytest.raises(ValueError, match="values"):
        store.append([FeedbackRow(np.zeros(DIM + 1, np.float32), "walk", "walk")])
    assert store.count() == 2


def test_rows_of_another_embedding_are_refused_and_nothing_is_written(store, settings_for):
    store.append(rows(3))
    other = open_store(settings_for())  # another process, after the embedding changed
    try:
        other.bind(DIM, {**CONTRACT, "num_frames": 8})
        with pytest.raises(StoreMismatchError):
            other.append(rows(1))
    finally:
        other.close()
    assert store.count() == 3


def test_vectors_read_back_are_checked_against_the_embedding(store):
    store.append(rows(1))
    store.check_vectors(DIM, CONTRACT)
    with pytest.raises(DatasetError):
        store.check_vectors(DIM, {**CONTRACT, "embedding_dim": DIM * 2})


def test_two_processes_appending_at_once_get_distinct_positions(store, settings_for):
    other = open_store(settings_for())
    other.bind(DIM, CONTRACT)
    results = []

    def append(s, seed):
        for i in range(10):
            results.append(s.append(rows(2, seed=seed * 100 + i)))

    threads = [threading.Thread(target=append, args=(s, n)) for n, s in enumerate((store, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    spans = sorted((r.rows_before, r.rows) for r in results)
    assert spans == [(i, i + 2) for i in range(0, 40, 2)]  # every append its own two positions, no gap
    assert store.count() == 40 and list(store.read().positions) == list(range(40))


def test_the_export_is_the_seeds_prod_data_csv(store, tmp_path):
    sent = rows(7, seed=4)
    store.append(sent)
    out = tmp_path / "export" / "prod_data.csv"
    out.parent.mkdir()
    assert store.export_csv(out) == 7
    X, y, df = read_embeddings(out)
    assert np.array_equal(X, np.stack([r.vector for r in sent])) and list(y) == ["walk"] * 7
    assert list(df["prediction_id"]) == [r.prediction_id for r in sent]


def test_predictions_are_found_by_id_until_their_ttl_then_swept(settings_for):
    s = open_store(settings_for(prediction_ttl_s=1.0))
    try:
        vec = np.linspace(0, 1, DIM, dtype=np.float32)
        s.log_prediction("a" * 32, CachedPrediction(vec, "walk", 0.75, "v0002", time.time(), "clip.mp4"))
        found = s.find_prediction("a" * 32)
        assert found is not None and np.array_equal(found.vector, vec)
        assert (found.label, found.model_version, found.filename) == ("walk", "v0002", "clip.mp4")
        assert found.confidence == pytest.approx(0.75)
        assert s.find_prediction("b" * 32) is None
        assert s.find_prediction("../../etc/passwd") is None
        time.sleep(1.3)
        assert s.find_prediction("a" * 32) is None  # expired: gone for feedback at once
        assert s.prune_predictions() == 1
    finally:
        s.close()


def test_rows_per_action_count_every_row_and_follow_new_appends(store):
    """The Model page lists actions known only from feedback, with their counts, in either store."""
    assert store.label_counts() == {}
    store.append(rows(3) + rows(2, seed=1, target="=fall"))  # a name a spreadsheet would run, stored neutralised
    assert store.label_counts() == {"walk": 3, "=fall": 2}
    store.append(rows(1, seed=2, target="fight"))  # counted from where the last count ended
    assert store.label_counts() == {"walk": 3, "=fall": 2, "fight": 1}
    # A deployed project's lineage learns from a later position on: the Model page counts from there.
    assert store.label_counts(5) == {"fight": 1}
    assert store.label_counts(3) == {"=fall": 2, "fight": 1}
