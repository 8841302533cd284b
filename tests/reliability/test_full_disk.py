"""A full data disk: feedback is refused with 507 and leaves no partial row; predictions keep working."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import httpx
import pytest

from clipwatch.paths import Paths
from tests.reliability.test_crash import _whole_csv
from tests.service.conftest import LiveServer, clip_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_fs(tmp_path):
    """An 8 MB tmpfs (needs root, as in CI and the containers' build host); skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or 'not root'})")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path, leave: int) -> None:
    """Write until the filesystem is full, then give back `leave` bytes."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(path, os.path.getsize(path) - leave)


def test_full_data_disk_refuses_feedback_cleanly_and_keeps_predicting(make_settings, tiny_fs, videos):
    base = make_settings(retrain_every_k=0)
    shutil.copy(Paths.from_settings(base).ref_data, tiny_fs / "ref_data.csv")
    settings = make_settings(retrain_every_k=0, data_dir=tiny_fs)
    paths = Paths.from_settings(settings)
    server = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=server.auth) as c:
            pid = c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).json()["prediction_id"]
            assert c.post("/feedback", json={"prediction_id": pid, "target": "walk"}).json()["rows"] == 1
            before = paths.prod_data.read_bytes()

            # Room for part of a row (a row is ~13 kB): the append must roll back, not leave half a row.
            _fill(tiny_fs / "filler", leave=6000)
            for attempt in range(3):
                r = c.post("/feedback", json={"prediction_id": pid, "target": "clap"})
                assert r.status_code == 507, r.text
                assert "no space left" in r.json()["detail"]
                r = c.post("/feedback", files={"file": ("a.mp4", clip_bytes(videos))}, data={"target": "clap"})
                assert r.status_code == 507, (attempt, r.text)
            assert paths.prod_data.read_bytes() == before, "a refused feedback changed prod_data.csv"

            r = c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos, "clap"))})
            assert r.status_code == 200, r.text
            assert c.get("/ready").status_code == 200

            (tiny_fs / "filler").unlink()  # space comes back: so does feedback
            r = c.post("/feedback", json={"prediction_id": pid, "target": "clap"})
            assert r.status_code == 200 and r.json()["rows"] == 2
    finally:
        server.stop()
    assert len(_whole_csv(paths.prod_data)) == 2
    assert "Traceback" not in server.log.read_text()
