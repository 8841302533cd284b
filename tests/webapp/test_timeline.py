"""The Timeline page against a faked API: start a job, follow it, see segments, seek, correct a window."""

from __future__ import annotations

import json

import responses

from tests.webapp.conftest import API, CLASSES

JOB = "f" * 32


def result() -> dict:
    def window(i: int, label: str) -> dict:
        probs = {c: (0.8 if c == label else 0.04) for c in CLASSES}
        return {
            "index": i,
            "start_s": float(i),
            "end_s": i + 4.0,
            "label": label,
            "confidence": 0.8,
            "probabilities": probs,
        }

    labels = ["clap"] * 8 + ["run"] * 9 + ["wave"] * 9
    return {
        "duration_s": 30.0,
        "window_s": 4.0,
        "stride_s": 1.0,
        "model_version": "v0003",
        "classes": CLASSES,
        "smooth": 5,
        "windows": [window(i, lab) for i, lab in enumerate(labels)],
        "segments": [
            {"start_s": 0.0, "end_s": 10.5, "label": "clap", "windows": 8, "mean_confidence": 0.8},
            {"start_s": 10.5, "end_s": 19.5, "label": "run", "windows": 9, "mean_confidence": 0.8},
            {"start_s": 19.5, "end_s": 30.0, "label": "wave", "windows": 9, "mean_confidence": 0.8},
        ],
        "video": {},
        "timings_s": {"total": 2.0},
    }


def job(status: str, **extra) -> dict:
    return {
        "id": JOB,
        "status": status,
        "progress": 1.0 if status == "done" else 0.0,
        "processed_s": 30.0 if status == "done" else 0.0,
        "duration_s": 30.0,
        "filename": "practice.mp4",
        "window_s": 4.0,
        "stride_s": 1.0,
        "smooth": 5,
        "created": 0.0,
        "updated": 0.0,
        "model_version": "v0003",
        "result": result() if status == "done" else None,
        **extra,
    }


def upload(at, videos):
    data = sorted((videos / "wave").glob("*.mp4"))[0].read_bytes()
    at.file_uploader[0].set_value(("practice.mp4", data, "video/mp4"))
    return at.run()


@responses.activate
def test_start_a_timeline_then_see_segments_seek_and_correct_a_window(page, videos):
    responses.post(f"{API}/jobs/timeline", json=job("queued"), status=202)
    responses.get(f"{API}/jobs/{JOB}", json=job("done"))
    responses.get(f"{API}/jobs/{JOB}/result.csv", body="window,start_s\n0,0.0\n")
    responses.post(
        f"{API}/jobs/{JOB}/feedback",
        json={
            "rows": 3,
            "retrain_triggered": False,
            "retrain_every_k": 20,
            "prediction": "run",
            "model_version": "v0003",
        },
    )
    at = page("timeline").run()
    assert at.info[0].value.startswith("Upload a recording")
    upload(at, videos)
    assert not at.exception and len(at.get("video")) == 1
    at.number_input[0].set_value(4.0)
    at.button[0].click().run()  # Make the timeline
    sent = responses.calls[0].request
    assert sent.url.startswith(f"{API}/jobs/timeline?") and "window_s=4.0" in sent.url and "smooth=7" in sent.url
    assert sent.headers["X-Filename"] == "practice.mp4"
    assert at.query_params["job"] == JOB  # a reload finds the job again
    assert not at.exception
    assert "3 segments, 26 windows" in at.subheader[0].value
    run_button = next(b for b in at.button if b.label.startswith("0:10") and "run" in b.label)
    run_button.click().run()
    assert at.session_state.seek == 10
    assert at.get("video")[0].proto.start_time == 10  # the player starts at the segment
    at.selectbox[0].select(12)
    at.selectbox[1].select("wave")
    next(b for b in at.button if b.label == "Send window feedback").click().run()
    assert json.loads(responses.calls[-1].request.body) == {"window": 12, "target": "wave"}
    assert "prod_data.csv now has 3 rows" in at.success[0].value  # an API that names no store: the files


@responses.activate
def test_a_reload_with_the_job_in_the_url_shows_it_and_a_failed_job_says_why(page):
    responses.get(f"{API}/jobs/{JOB}", json=job("done"))
    responses.get(f"{API}/jobs/{JOB}/result.csv", body="window\n")
    at = page("timeline")
    at.query_params["job"] = JOB
    at.run()
    assert not at.exception and "3 segments" in at.subheader[0].value
    responses.replace(
        responses.GET, f"{API}/jobs/{JOB}", json=job("failed", error="uploaded file: not a readable video")
    )
    at = page("timeline")
    at.query_params["job"] = JOB
    at.run()
    assert "not a readable video" in at.error[0].value


@responses.activate
def test_a_running_job_is_cancelled_only_by_a_signed_in_user(page, exposed, monkeypatch):
    """The web app cancels with the install's key: a visitor holding the job's link must not."""
    responses.get(f"{API}/jobs/{JOB}", json=job("running"))
    monkeypatch.setenv("CLIPWATCH_WEBAPP_PASSWORD", "a-password-of-16-chars")
    at = page("timeline")
    at.query_params["job"] = JOB
    at.run()
    assert not at.exception
    assert "Cancel" not in [b.label for b in at.button]
    assert any("Sign in (in the sidebar) to cancel" in c.value for c in at.caption)
    exposed("127.0.0.1")  # the local user of `make run`, signed in by being there
    at = page("timeline")
    at.query_params["job"] = JOB
    at.run()
    assert "Cancel" in [b.label for b in at.button]
