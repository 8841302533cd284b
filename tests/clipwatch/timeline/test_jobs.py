"""The timeline job store on disk: atomic status, stale jobs, cancelling, expiry."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from clipwatch.timeline.jobs import STALE_S, JobNotFound, JobStore


def test_a_job_whose_process_died_reads_as_failed(tmp_path):
    store = JobStore(tmp_path)
    job_id, files = store.create(window_s=4.0, stride_s=1.0)
    status = json.loads(files.status.read_text())
    files.status.write_text(json.dumps(status | {"status": "running", "updated": time.time() - STALE_S - 1}))
    got = store.status(job_id)
    assert got["status"] == "failed" and "submit it again" in got["error"]


def test_a_queued_job_cancelled_reads_cancelled_at_once(tmp_path):
    store = JobStore(tmp_path)
    job_id, _ = store.create(window_s=4.0, stride_s=1.0)
    assert store.request_cancel(job_id)["status"] == "cancelled"
    assert store.cancel_requested(job_id)


def test_window_vectors_are_read_back_one_at_a_time_and_ids_are_checked(tmp_path):
    store = JobStore(tmp_path)
    job_id, files = store.create(window_s=4.0, stride_s=1.0)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    files.vectors.write_bytes(vectors.tobytes())
    with pytest.raises(JobNotFound, match="not finished"):
        store.vector(job_id, 0)
    store.update(job_id, dim=4, windows_done=3)
    store.finish(job_id, {"windows": []})
    np.testing.assert_array_equal(store.vector(job_id, 2), vectors[2])
    with pytest.raises(IndexError, match=r"windows 0\.\.2"):
        store.vector(job_id, 3)
    for bad in ("../../etc", "x" * 32, ""):
        with pytest.raises(JobNotFound):
            store.status(bad)
