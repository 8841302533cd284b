"""/predict and /predict/batch, including every kind of bad input."""

import numpy as np
import pytest

from tests.conftest import gradient_frames, write_clip
from tests.service.conftest import clip_bytes


def _no_leftovers(client):
    service = client.app.state.service
    assert list(service.tmp_dir.iterdir()) == [], "temporary upload files left behind"
    assert not service.paths.prod_data.exists(), "a prediction must never write a feedback row"


def test_predict_multipart_returns_label_probabilities_timings_and_video(client, videos, trained):
    r = client.post("/predict", files={"file": ("walk.mp4", clip_bytes(videos, "walk"), "video/mp4")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["prediction_id"]) == 32
    assert body["label"] in trained[1]["classes"]
    assert sorted(body["probabilities"]) == trained[1]["classes"]
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert body["model_version"] == trained[0]
    assert set(body["timings_ms"]) == {"decode", "embed", "classify", "total"}
    assert body["timings_ms"]["total"] >= body["timings_ms"]["embed"] > 0
    v = body["video"]
    assert (
        v["sampled_frames"] == 32 and v["frames"] > 32
    )  # K=8 segments of T=4 and v["width"] in (160, 192, 240, 256, 320)
    assert 1.9 < v["duration_s"] < 5.1
    _no_leftovers(client)


def test_predict_raw_body_gives_the_same_answer(client, videos):
    data = clip_bytes(videos, "squat")
    a = client.post("/predict", files={"file": ("x.mp4", data)}).json()
    b = client.post("/predict", content=data, headers={"content-type": "application/octet-stream"}).json()
    c = client.post("/predict", content=data, headers={"content-type": "video/mp4"}).json()
    assert a["probabilities"] == b["probabilities"] == c["probabilities"]
    assert len({a["prediction_id"], b["prediction_id"], c["prediction_id"]}) == 3


def _zero_frame_video(path):
    """An AVI whose video stream has no frames (PyAV writes no file without packets)."""
    import cv2

    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64)).release()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("empty multipart file", 400, "empty"),
        ("empty raw body", 400, "empty"),
        ("random bytes", 422, "not a readable video"),
        ("truncated mp4", 422, "truncated"),
        ("text named .mp4", 422, "not a readable video"),
        ("zero-frame video", 422, "no frames"),
        ("huge resolution", 422, "exceeds the limit"),
        ("wrong content type", 415, "unsupported content type"),
        ("missing field", 422, "missing clip"),
        ("malformed multipart", 400, "multipart"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(client_for, videos, tmp_path, case, status, reason):
    client = client_for(max_frame_pixels=320 * 240)
    good = clip_bytes(videos)
    if case == "empty multipart file":
        r = client.post("/predict", files={"file": ("a.mp4", b"")})
    elif case == "empty raw body":
        r = client.post("/predict", content=b"", headers={"content-type": "video/mp4"})
    elif case == "random bytes":
        r = client.post("/predict", files={"file": ("a.mp4", np.random.default_rng(0).bytes(50_000))})
    elif case == "truncated mp4":
        r = client.post("/predict", files={"file": ("a.mp4", good[: len(good) // 3])})
    elif case == "text named .mp4":
        r = client.post("/predict", files={"file": ("a.mp4", b"hello, I am not a video\n" * 100)})
    elif case == "zero-frame video":
        r = client.post("/predict", files={"file": ("a.avi", _zero_frame_video(tmp_path / "z.avi"))})
    elif case == "huge resolution":
        big = write_clip(tmp_path / "big.mp4", gradient_frames(10, 480, 640)).read_bytes()
        r = client.post("/predict", files={"file": ("a.mp4", big)})
    elif case == "wrong content type":
        r = client.post("/predict", content=good, headers={"content-type": "text/plain"})
    elif case == "missing field":
        r = client.post("/predict", files={"other": ("a.mp4", good)})
    elif case == "malformed multipart":
        r = client.post(
            "/predict", content=b"--xyz\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=abc"}
        )
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    assert str(tmp_path) not in r.json()["detail"], "server paths must not leak"
    _no_leftovers(client)


def test_over_limit_upload_is_413_declared_or_streamed(client_for, videos):
    client = client_for(max_upload_mb=0.05)  # 52 kB
    big = np.random.default_rng(1).bytes(200_000)
    r = client.post("/predict", files={"file": ("a.mp4", big)})
    assert r.status_code == 413 and "MAX_UPLOAD_MB" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    r = client.post("/predict", content=chunks(), headers={"content-type": "video/mp4"})
    assert r.status_code == 413
    _no_leftovers(client)


def test_client_filename_never_becomes_a_path(client, videos):
    evil = "../../../etc/passwd;rm -rf $(HOME).mp4"
    r = client.post("/predict", files={"file": (evil, clip_bytes(videos))})
    assert r.status_code == 200
    r = client.post("/predict/batch", files=[("files", (evil, clip_bytes(videos)))])
    assert r.json()["items"][0]["filename"] == "passwd;rm -rf $(HOME).mp4"
    _no_leftovers(client)


def test_batch_scores_each_file_and_isolates_bad_ones(client, videos):
    files = [
        ("files", ("walk.mp4", clip_bytes(videos, "walk"))),
        ("files", ("junk.mp4", b"junk" * 100)),
        ("files", ("clap.mp4", clip_bytes(videos, "clap"))),
        ("files", ("empty.mp4", b"")),
    ]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["succeeded"], body["failed"]) == (2, 2)
    items = body["items"]
    assert [i["filename"] for i in items] == ["walk.mp4", "junk.mp4", "clap.mp4", "empty.mp4"]
    assert items[0]["ok"] and items[0]["prediction"]["label"]
    assert not items[1]["ok"] and "not a readable video" in items[1]["error"]
    assert not items[3]["ok"] and "empty" in items[3]["error"]
    _no_leftovers(client)


def test_a_batch_has_one_decode_budget_and_the_clips_past_it_fail_alone(client_for, videos):
    # Each clip is within its own budget; together they are not. The answer is still 200, clip by clip.
    client = client_for(batch_decode_cpu_s=0.05, max_concurrent_predictions=1)
    files = [("files", (f"{i}.mp4", clip_bytes(videos, "walk", i))) for i in range(6)]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    failed = [i for i in items if not i["ok"]]
    assert failed and all("CLIPWATCH_BATCH_DECODE_CPU_S" in i["error"] for i in failed), items
    assert client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).status_code == 200  # per request
    _no_leftovers(client)


def test_batch_refuses_too_many_files(client_for, videos):
    client = client_for(batch_max_files=2)
    files = [("files", (f"{i}.mp4", clip_bytes(videos))) for i in range(3)]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 413 and "at most 2" in r.json()["detail"]
    _no_leftovers(client)


def test_batch_without_files_is_422(client):
    r = client.post("/predict/batch", files={"file": ("a.mp4", b"x")})
    assert r.status_code == 422


def test_dynamic_batching_gives_the_same_answers(client_for, videos):
    files = [("files", (f"{a}.mp4", clip_bytes(videos, a))) for a in ("walk", "clap", "jump", "wave")]
    plain = client_for().post("/predict/batch", files=files).json()["items"]
    batching = client_for(batch_window_ms=200, max_concurrent_predictions=4)  # a wide window: batches surely form
    batched = batching.post("/predict/batch", files=files).json()["items"]
    batcher = batching.app.state.service.holder.predictor.embedder.batcher
    assert batcher is not None and batcher.frames == 4 * 16 and batcher.batches < 4
    for a, b in zip(plain, batched, strict=True):
        assert a["prediction"]["label"] == b["prediction"]["label"]
        for c, p in a["prediction"]["probabilities"].items():
            assert b["prediction"]["probabilities"][c] == pytest.approx(p, abs=1e-6)


@pytest.mark.real_clips
def test_an_unfamiliar_clip_says_so_and_is_counted(client, videos, real_clips):
    known = client.post("/predict", files={"file": ("walk.mp4", clip_bytes(videos, "walk"), "video/mp4")}).json()
    assert known["familiar"] is True and known["novelty"] <= 1
    street = (real_clips / "kth" / "boxing" / "person01_boxing_d2_uncomp.mp4").read_bytes()
    r = client.post("/predict", files={"file": ("boxing.mp4", street, "video/mp4")})
    assert r.status_code == 200 and r.json()["familiar"] is False and r.json()["novelty"] > 1
    metrics = client.get("/metrics").text
    assert "clipwatch_predictions_unfamiliar_total 1.0" in metrics
