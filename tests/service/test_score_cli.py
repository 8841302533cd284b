"""`clipwatch score` against a live API: a folder in, a CSV out, bad files reported per row."""

import csv
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_score_a_folder_through_the_api(live_server, videos, tmp_path):
    server = live_server()
    folder = tmp_path / "clips"
    folder.mkdir()
    for action in ("walk", "clap"):
        shutil.copy(sorted((videos / action).glob("*.mp4"))[0], folder / f"{action}.mp4")
    (folder / "broken.mp4").write_bytes(b"nope")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "scores.csv"
    res = subprocess.run(
        [sys.executable, "-m", "clipwatch", "score", str(folder), "--api", server.url, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert res.returncode == 1  # one clip failed
    assert "2 scored, 1 failed" in res.stdout
    with open(out, newline="") as fh:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {"walk.mp4", "clap.mp4", "broken.mp4"}
    assert rows["walk.mp4"]["label"] and float(rows["walk.mp4"]["confidence"]) > 0
    assert rows["broken.mp4"]["error"].startswith("HTTP 422")


def test_score_says_when_the_api_is_down(tmp_path, videos):
    res = subprocess.run(
        [sys.executable, "-m", "clipwatch", "score", str(videos / "walk"), "--api", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "the serving API at http://127.0.0.1:9 is not reachable" in res.stderr
