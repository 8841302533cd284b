"""POST /jobs/timeline and the job routes: asynchronous, bounded, cancellable, expiring, with window feedback."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest

from clipwatch.paths import Paths
from clipwatch.synth.long import render_long
from clipwatch.timeline.jobs import JobStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("jobs") / "clap-run.mp4"
    render_long([("clap", 10), ("run", 10)], path, seed=5)
    return path.read_bytes()


@pytest.fixture(scope="module")
def longer_clip(tmp_path_factory) -> bytes:
    """A minute: long enough to be cancelled while it runs."""
    path = tmp_path_factory.mktemp("jobs") / "minute.mp4"
    render_long([("wave", 30), ("walk", 30)], path, seed=6)
    return path.read_bytes()


def wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.get(f"/jobs/{job_id}").json()
        if status["status"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {status['status']} after {timeout} s")


def start(client, data: bytes, **params):
    return client.post("/jobs/timeline", params=params, files={"file": ("practice.mp4", data)})


def test_a_timeline_job_answers_at_once_then_gives_windows_segments_and_csv(client, long_clip):
    r = start(client, long_clip)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["duration_s"] == pytest.approx(20.0)
    assert r.headers["location"] == f"/jobs/{job['id']}"
    status = wait(client, job["id"])
    assert status["status"] == "done" and status["progress"] == 1.0, status
    result = status["result"]
    assert len(result["windows"]) == 17 and result["window_s"] == 4.0 and result["stride_s"] == 1.0
    assert [s["label"] for s in result["segments"]] == ["clap", "run"]
    assert abs(result["segments"][0]["end_s"] - 10.0) <= 1.0
    rows = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job['id']}/result.csv").text)))
    assert len(rows) == 17 and rows[0]["label"] == result["windows"][0]["label"]
    assert {f"p_{c}" for c in result["classes"]} <= set(rows[0])
    # A page of windows instead of the whole result, for a client of a three-hour timeline.
    page = client.get(f"/jobs/{job['id']}", params={"windows_offset": 5, "windows_limit": 3}).json()
    assert page["windows"] == result["windows"][5:8] and page["windows_total"] == 17 and page["result"] is None
    assert client.get(f"/jobs/{job['id']}", params={"windows_limit": 10**6}).status_code == 422
    store = client.app.state.service.jobs
    store.files(job["id"]).windows.unlink()  # a job finished before windows.jsonl existed: paged all the same
    again = client.get(f"/jobs/{job['id']}", params={"windows_offset": 5, "windows_limit": 3}).json()
    assert again["windows"] == result["windows"][5:8]
    assert "client" not in status and "reserved_bytes" not in status  # kept for the server only


def test_window_feedback_becomes_a_prod_row_like_clip_feedback(client_for, long_clip):
    client = client_for(retrain_every_k=2, retrain_triggers=["rows"], promotion_policy="always")
    job = wait(client, start(client, long_clip).json()["id"])
    paths = Paths.from_settings(client.app.state.service.settings)
    window = job["result"]["windows"][12]
    r = client.post(f"/jobs/{job['id']}/feedback", json={"window": 12, "target": "run"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1 and r.json()["prediction"] == window["label"]
    r = client.post(f"/jobs/{job['id']}/feedback", json={"window": 13, "target": "run"})
    assert r.json()["rows"] == 2 and r.json()["retrain_triggered"] is True  # counts toward k like any row
    with open(paths.prod_data, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["target"] for r in rows] == ["run", "run"]
    dim = client.app.state.service.predictor().embedder.dim
    assert sum(1 for k in rows[0] if k.startswith("emb_")) == dim
    # (A new action name is taken, as by /feedback; one that is no name at all is not.)
    for bad, status in (({"window": 17, "target": "run"}, 422), ({"window": 0, "target": "fly\naway"}, 422)):
        assert client.post(f"/jobs/{job['id']}/feedback", json=bad).status_code == status


def test_writes_need_the_key_and_reads_of_unknown_jobs_are_404(client_for, long_clip):
    client = client_for(api_key="s3cret")
    r = client.post("/jobs/timeline", files={"file": ("a.mp4", long_clip)}, headers={"Authorization": ""})
    assert r.status_code == 401
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/jobs/" + "0" * 32).json()["detail"].startswith("no job 000")
    assert client.delete("/jobs/" + "0" * 32).status_code == 404


def test_bad_uploads_are_refused_and_leave_no_job_behind(client_for, long_clip):
    client = client_for(timeline_max_upload_mb=len(long_clip) / 2 / 2**20)
    jobs = Paths.from_settings(client.app.state.service.settings).jobs
    r = client.post("/jobs/timeline", files={"file": ("a.mp4", b"not a video at all")})
    assert r.status_code == 422 and "uploaded file" in r.json()["detail"]
    r = client.post("/jobs/timeline", files={"file": ("a.mp4", long_clip)})
    assert r.status_code == 413 and "CLIPWATCH_TIMELINE_MAX_UPLOAD_MB" in r.json()["detail"]
    assert not any(jobs.iterdir()) if jobs.exists() else True
    for params in ({"window_s": 5e-324}, {"stride_s": 0}, {"smooth": 99}):
        assert start(client, b"x", **params).status_code == 422, params


def test_a_window_too_fine_for_the_video_is_refused_before_the_job_starts(client_for, long_clip):
    client = client_for(timeline_max_frames=50)  # 20 s in 0.5 s segments of 4 pictures each: 160 pictures
    r = start(client, long_clip)
    assert r.status_code == 422 and "CLIPWATCH_TIMELINE_MAX_FRAMES" in r.json()["detail"]


def test_jobs_are_bounded_cancellable_and_expire(client_for, long_clip, longer_clip):
    client = client_for(timeline_jobs=1, timeline_queue=0)
    first = start(client, longer_clip).json()
    r = start(client, long_clip)
    assert r.status_code == 503 and "CLIPWATCH_TIMELINE_QUEUE" in r.json()["detail"]
    assert r.headers["retry-after"]
    cancelled = client.delete(f"/jobs/{first['id']}").json()
    assert cancelled["cancel_requested"] is True or cancelled["status"] == "cancelled"
    assert wait(client, first["id"])["status"] == "cancelled"
    assert start(client, long_clip).status_code == 202  # its place is free again
    store = JobStore(Paths.from_settings(client.app.state.service.settings).jobs)
    assert store.sweep(ttl_s=3600) == 0
    time.sleep(0.05)
    assert store.sweep(ttl_s=0.01) >= 1
    assert client.get(f"/jobs/{first['id']}").status_code == 404


def test_the_cli_here_and_through_a_live_api_give_the_same_timeline(live_server, long_clip, tmp_path):
    """`clipwatch timeline FILE` in-process and `--api URL` (upload, job, progress bar) agree window for window."""
    server = live_server()
    video = tmp_path / "practice.mp4"
    video.write_bytes(long_clip)
    outs = {}
    for how, extra in (("here", []), ("api", ["--api", server.url])):
        out = tmp_path / f"{how}.json"
        done = subprocess.run(
            [sys.executable, "-m", "clipwatch", "timeline", str(video), *extra, "--out", str(out)],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "2 segments" in done.stdout and "17 windows of 4 s every 1 s" in done.stdout
        outs[how] = json.loads(out.read_text())
    here, api = outs["here"], outs["api"]
    assert [w["label"] for w in here["windows"]] == [w["label"] for w in api["windows"]]
    for a, b in zip(here["windows"], api["windows"], strict=True):
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-3)
    assert [(s["label"], s["start_s"], s["end_s"]) for s in here["segments"]] == [
        (s["label"], s["start_s"], s["end_s"]) for s in api["segments"]
    ]


def test_result_csv_names_any_upload_safely():
    """A non-Latin-1 name made result.csv a 500; a quote in it let a client add header parameters."""
    from urllib.parse import unquote

    from clipwatch.service.routes.jobs import attachment

    header = attachment('家族 "x"; filename=evil.exe')
    header.encode("latin-1")  # what Starlette sends headers as: it must not raise
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in fallback and ";" not in fallback and fallback.endswith("-timeline.csv")
    assert header.count("filename=") == 1 and header.count("filename*=") == 1  # nothing smuggled in
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == '家族 "x"; filename=evil.exe-timeline.csv'


def test_expired_jobs_are_swept_on_a_timer_without_a_new_job(client_for, monkeypatch):
    from clipwatch.service import timeline_jobs

    monkeypatch.setattr(timeline_jobs, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(timeline_jobs, "SWEEP_EVERY_S", 0.1)
    client = client_for(timeline_job_ttl_s=0.5)
    store = client.app.state.service.jobs
    job_id, _ = store.create(window_s=4.0, stride_s=1.0, smooth=7)
    store.finish(job_id, {"windows": [], "segments": []})
    deadline = time.monotonic() + 10
    while store.root.joinpath(job_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not store.root.joinpath(job_id).exists()  # gone, and no request had to make it so


def test_one_client_cannot_queue_every_timeline(client_for, long_clip):
    client = client_for(timeline_jobs=1, timeline_queue=4, timeline_jobs_per_client=1)
    assert start(client, long_clip).status_code == 202
    r = start(client, long_clip)
    assert r.status_code == 429 and "CLIPWATCH_TIMELINE_JOBS_PER_CLIENT" in r.json()["detail"]
    assert r.headers["retry-after"]


def test_a_job_is_refused_while_the_running_ones_will_need_the_disk(client_for, long_clip, monkeypatch):
    """Two jobs must not pass one free-space check: what a running job will still write is reserved."""
    from collections import namedtuple

    from clipwatch.service.routes import jobs as routes

    client = client_for()
    store = client.app.state.service.jobs
    running, _ = store.create(window_s=4.0, stride_s=0.1, smooth=7, reserved_bytes=8 * 2**30)  # a 3 h video
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(routes.shutil, "disk_usage", lambda _: usage(2**40, 0, 8 * 2**30 + 300 * 2**20))
    r = start(client, long_clip)
    assert r.status_code == 507 and "running timelines will write" in r.json()["detail"]
    store.finish(running, {"windows": [], "segments": []})  # done: its reservation is released
    r = start(client, long_clip)
    assert r.status_code == 202, r.text
    assert 0 < store.status(r.json()["id"])["reserved_bytes"] < 100 * 2**20  # 20 s of video: MBs, not GBs


def test_finished_jobs_are_held_to_a_byte_cap_oldest_first(tmp_path):
    store = JobStore(tmp_path / "jobs")
    ids = []
    for _ in range(3):
        job_id, files = store.create(window_s=4.0, stride_s=1.0, smooth=7)
        files.vectors.write_bytes(b"\0" * 2**20)
        store.finish(job_id, {"windows": [], "segments": []})
        ids.append(job_id)
        time.sleep(0.02)
    assert store.sweep(ttl_s=3600, max_bytes=2.5 * 2**20) == 1
    assert [store.root.joinpath(i).exists() for i in ids] == [False, True, True]
