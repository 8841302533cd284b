"""The file store's reads and the bounded samples the retrain and the reports take."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from clipwatch.settings import Settings
from clipwatch.stores import CachedPrediction, FeedbackRow, open_store, sample_positions
from clipwatch.stores.csv import CsvStore
from clipwatch.stores.csv_predictions import DirectoryLog
from clipwatch.stores.csv_rows import CsvAppender

DIM = 16


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts", _env_file=None, **kw)


def filled(tmp_path, n: int, targets=None) -> tuple[CsvStore, np.ndarray]:
    s = settings(tmp_path)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    X = np.random.default_rng(0).standard_normal((n, DIM)).astype(np.float32)
    targets = targets or [f"c{i % 3}" for i in range(n)]
    CsvAppender(s.data_dir / "prod_data.csv", DIM).append(
        [FeedbackRow(x, t, "c0", f"{i:032x}", "v0001", 0.5) for i, (x, t) in enumerate(zip(X, targets, strict=True))]
    )
    return CsvStore(s), X


def test_sample_keeps_every_new_row_then_samples_the_old_ones():
    p = sample_positions(100_000, 99_000, 10_000, seed=1)
    assert len(p) == 10_000 and np.all(np.diff(p) > 0)
    assert set(range(99_000, 100_000)) <= set(p.tolist())  # every row newer than the champion
    old = p[p < 99_000]
    assert old.min() < 10_000 and old.max() > 90_000  # spread over the whole history, not its tail
    assert list(sample_positions(50, 10, 100, seed=1)) == list(range(50))  # under the cap: everything
    # More new rows than the cap: the newest of them.
    assert list(sample_positions(1000, 0, 300, seed=1)) == list(range(700, 1000))
    # The same store and seed give the same sample (a retrain is reproducible).
    assert np.array_equal(sample_positions(5000, 100, 400, 7), sample_positions(5000, 100, 400, 7))


def test_the_file_store_reads_the_rows_asked_for_bit_for_bit(tmp_path):
    store, X = filled(tmp_path, 50)
    assert store.kind == "csv" and store.count() == 50
    table = store.read(np.array([0, 7, 49]))
    assert list(table.positions) == [0, 7, 49]
    assert np.array_equal(table.X, X[[0, 7, 49]]) and table.X.dtype == np.float32
    assert list(table.y) == ["c0", "c1", "c1"]
    assert list(table.frame["prediction_id"]) == [f"{i:032x}" for i in (0, 7, 49)]
    assert len(store.read()) == 50


def test_a_torn_last_line_is_not_a_row(tmp_path):
    store, X = filled(tmp_path, 5)
    with open(store.path, "ab") as fh:
        fh.write(b"0.1,0.2,0.3")  # a crash mid-append: never acknowledged
    table = store.read()
    assert len(table) == 5 and np.array_equal(table.X, X)


def test_a_class_name_with_a_newline_is_read_as_one_row(tmp_path):
    """A hand-made file may quote a newline into a cell: the reader falls back to the CSV parser."""
    store, X = filled(tmp_path, 4, targets=["c0", "two\nlines", "c2", "c0"])
    assert store.count() == 4
    table = store.read(np.array([1, 2]))
    assert list(table.y) == ["two\nlines", "c2"] and np.array_equal(table.X, X[[1, 2]])


def test_open_store_is_the_files_without_a_database_url(tmp_path):
    assert open_store(settings(tmp_path)).kind == "csv"
    assert open_store(settings(tmp_path, database_url="")).kind == "csv"  # Compose's ${VAR:-} when unset


def test_predictions_stay_for_the_ttl_however_many_come(tmp_path):
    """The old folder kept each process's 2000 newest files whatever the TTL said; now only the TTL (or
    the size cap, with a warning) removes a prediction."""
    log = DirectoryLog(tmp_path / "p", ttl_s=3600, max_mb=100, prune_every_s=0)
    vec = np.zeros(DIM, np.float32)
    ids = [f"{i:032x}" for i in range(2500)]
    for pid in ids:
        log.log_prediction(pid, CachedPrediction(vec, "walk", 0.9, "v0001", 0.0))
    assert log.find_prediction(ids[0]) is not None  # the first of 2500 is still there
    old = tmp_path / "p" / f"{ids[1]}.npz"
    os.utime(old, (0, 0))  # made in 1970: expired
    assert log.find_prediction(ids[1]) is None
    assert log.prune_predictions() == 1 and not old.exists()


def test_the_size_cap_drops_the_oldest_first(tmp_path, caplog):
    log = DirectoryLog(tmp_path / "p", ttl_s=3600, max_mb=0.01, prune_every_s=3600)
    vec = np.zeros(256, np.float32)  # about 1.3 KB a file: some 8 fit in 10 KB
    ids = [f"{i:032x}" for i in range(20)]
    now = time.time()
    for i, pid in enumerate(ids):
        log.log_prediction(pid, CachedPrediction(vec, "walk", 0.9, "v0001", 0.0))
        os.utime(tmp_path / "p" / f"{pid}.npz", (now - 20 + i, now - 20 + i))  # oldest first, all within the TTL
    assert log.prune_predictions() > 0
    assert "PREDICTION_LOG_MAX_MB" in caplog.text  # dropped before the TTL: said so
    left = sorted(p.stem for p in (tmp_path / "p").glob("*.npz"))
    assert 0 < len(left) < 20 and left == ids[-len(left) :]  # the newest are the ones kept
    assert sum(f.stat().st_size for f in (tmp_path / "p").glob("*.npz")) <= 0.01 * 2**20


@pytest.mark.parametrize("pid", ["../etc/passwd", "A" * 32, ""])
def test_a_malformed_prediction_id_never_touches_the_disk(tmp_path, pid):
    log = DirectoryLog(tmp_path / "p", ttl_s=3600, max_mb=1, prune_every_s=3600)
    assert log.find_prediction(pid) is None
