import csv
import errno
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from clipwatch.dataset import read_embeddings
from clipwatch.stores import FeedbackRow, StorageFullError
from clipwatch.stores.csv_rows import CsvAppender, count_records

DIM = 16


def row(i: int, target: str = "walk") -> FeedbackRow:
    return FeedbackRow(np.full(DIM, i, np.float32) / 7, target, "run", f"{i:032x}", "v0001", 0.5)


def test_append_writes_header_once_and_counts(tmp_path):
    store = CsvAppender(tmp_path / "prod.csv", DIM)
    assert store.count() == 0
    assert (store.append([row(1)]).rows_before, store.append([row(2), row(3)]).rows) == (0, 3)
    X, y, df = read_embeddings(tmp_path / "prod.csv")
    assert X.shape == (3, DIM) and list(y) == ["walk"] * 3
    assert list(df.columns[-6:]) == [
        "target",
        "prediction",
        "timestamp",
        "prediction_id",
        "model_version",
        "confidence",
    ]
    np.testing.assert_array_equal(X[1], row(2).vector)
    # Another process (a fresh store object) sees the same count.
    assert CsvAppender(tmp_path / "prod.csv", DIM).count() == 3


def test_concurrent_appends_never_interleave(tmp_path):
    store = CsvAppender(tmp_path / "prod.csv", DIM)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: CsvAppender(tmp_path / "prod.csv", DIM).append([row(i)]), range(64)))
    assert sorted(r.rows for r in results) == list(range(1, 65))
    with open(tmp_path / "prod.csv", newline="") as fh:
        lines = list(csv.reader(fh))
    assert len(lines) == 65 and {len(line) for line in lines} == {DIM + 6}
    assert store.count() == 64


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path):
    path = tmp_path / "prod.csv"
    store = CsvAppender(path, DIM)
    store.append([row(1), row(2)])
    with open(path, "a") as fh:  # what a crash mid-write leaves: half a row, no newline
        fh.write("0.1,0.2,0.3")
    store2 = CsvAppender(path, DIM)
    assert store2.append([row(3)]).rows == 3
    X, _, _ = read_embeddings(path)
    assert X.shape == (3, DIM)


def test_a_full_disk_leaves_no_partial_row(tmp_path, monkeypatch):
    path = tmp_path / "prod.csv"
    store = CsvAppender(path, DIM)
    store.append([row(1)])
    before = path.read_bytes()
    real_write = os.write

    def half_then_enospc(fd, data):
        if len(data) > 10:
            real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(StorageFullError, match="no space left"):
        store.append([row(2)])
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == before
    assert store.count() == 1


def test_a_vector_of_the_wrong_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expects 16"):
        CsvAppender(tmp_path / "p.csv", DIM).append([FeedbackRow(np.zeros(3, np.float32), "a", "b")])


def test_cells_a_spreadsheet_would_run_are_neutralised_and_read_back_as_written(tmp_path):
    store = CsvAppender(tmp_path / "prod.csv", 4)
    store.append([FeedbackRow(np.zeros(4, np.float32), "-jump", "=1+1", "abc", "@v1")])
    text = (tmp_path / "prod.csv").read_text()
    assert "'-jump,'=1+1" in text and ",'@v1," in text
    _, y, df = read_embeddings(tmp_path / "prod.csv")
    assert list(y) == ["-jump"] and list(df["prediction"]) == ["=1+1"]


def test_rows_are_counted_as_csv_records_not_lines(tmp_path):
    store = CsvAppender(tmp_path / "prod.csv", 4)
    store.append([FeedbackRow(np.zeros(4, np.float32), "walk", 'say "hi"\nthere', "id")])
    store.append([FeedbackRow(np.zeros(4, np.float32), "walk", "walk", "id2")])
    assert store.count() == 2
    assert CsvAppender(tmp_path / "prod.csv", 4).count() == 2  # counted afresh, not from the cache
    assert count_records([b'a,"x\n', b'y"\n', b'b,"""\n"""\n']) == 2
