"""/feedback: by prediction id or by upload, validation, and the retrain it triggers."""

import time

import numpy as np
import pytest

from clipwatch.dataset import discover, read_embeddings
from clipwatch.embedding import ClipEmbedder
from tests.service.conftest import clip_bytes


def predict(client, videos, action="walk", i=0):
    r = client.post("/predict", files={"file": ("c.mp4", clip_bytes(videos, action, i))})
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(cond, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_feedback_by_prediction_id_stores_the_exact_vector(client, videos, settings):
    p = predict(client, videos, "wave")
    r = client.post("/feedback", json={"prediction_id": p["prediction_id"], "target": "wave"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1 and r.json()["retrain_triggered"] is False and r.json()["store"] == "prod_data.csv"
    service = client.app.state.service
    X, y, df = read_embeddings(service.paths.prod_data)
    assert y.tolist() == ["wave"] and df["prediction"].tolist() == [p["label"]]
    assert df["prediction_id"].tolist() == [p["prediction_id"]]
    assert df["model_version"].tolist() == [p["model_version"]]
    # Same function, same vector: what build-ref would write for this clip.
    clip = sorted((videos / "wave").glob("*.mp4"))[0]
    np.testing.assert_array_equal(X[0], ClipEmbedder.from_settings(settings).embed(clip).vector)


def test_motion_features_are_identical_from_build_ref_predict_and_feedback(client, videos, settings):
    """The clip vector (mean + motion, by default) is computed once, one way: ref_data.csv's row, the
    vector /predict classified and /feedback stored (by id or by upload) are the same bits."""
    service = client.app.state.service
    assert service.predictor().embedder.pooling == settings.pooling == "mean+motion"
    clip = sorted((videos / "wave").glob("*.mp4"))[0]
    X_ref, _, _ = read_embeddings(service.paths.ref_data)
    ref_row = X_ref[discover(videos).clips.index((clip, "wave"))]
    p = predict(client, videos, "wave")
    assert client.post("/feedback", json={"prediction_id": p["prediction_id"], "target": "wave"}).status_code == 200
    r = client.post("/feedback", files={"file": ("c.mp4", clip.read_bytes())}, data={"target": "wave"})
    assert r.status_code == 200, r.text
    X_prod, _, _ = read_embeddings(service.paths.prod_data)
    np.testing.assert_array_equal(X_prod[0], ref_row)
    np.testing.assert_array_equal(X_prod[1], ref_row)
    half = len(ref_row) // 2
    assert np.abs(ref_row[half:]).sum() > 0  # the motion half moves: the figure waves


def test_feedback_by_upload_matches_the_seed_form(client, videos):
    data = clip_bytes(videos, "clap")
    r = client.post("/feedback", files={"file": ("c.mp4", data)}, data={"target": "clap", "prediction": "wave"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1 and r.json()["prediction"] == "wave"
    _, y, df = read_embeddings(client.app.state.service.paths.prod_data)
    assert y.tolist() == ["clap"] and df["prediction"].tolist() == ["wave"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"prediction_id": "0" * 32, "target": "walk"}, 404, "unknown or expired"),
        ({"prediction_id": "../../etc/passwd", "target": "walk"}, 404, "unknown or expired"),
        ({"prediction_id": "PID", "target": "bad\nname"}, 422, "a new class name must be"),
        ({"target": "walk"}, 422, "prediction_id"),
        ({"prediction_id": "PID"}, 422, "target"),
    ],
)
def test_bad_feedback_is_refused_and_writes_nothing(client, videos, body, status, reason):
    pid = predict(client, videos)["prediction_id"]
    body = {k: (pid if v == "PID" else v) for k, v in body.items()}
    r = client.post("/feedback", json=body)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    assert not client.app.state.service.paths.prod_data.exists()


def test_feedback_upload_without_target_or_file_is_422(client, videos):
    r = client.post("/feedback", files={"file": ("c.mp4", clip_bytes(videos))})
    assert r.status_code == 422 and "target" in r.json()["detail"]
    r = client.post("/feedback", data={"target": "walk"}, files={"x": ("c.mp4", b"")})
    assert r.status_code == 422 and "missing clip" in r.json()["detail"]
    assert not client.app.state.service.paths.prod_data.exists()


def test_new_actions_by_default_and_only_known_ones_when_turned_off(client_for, videos):
    client = client_for()  # a key holder teaches a new action by naming it: on by default
    pid = predict(client, videos)["prediction_id"]
    assert client.post("/feedback", json={"prediction_id": pid, "target": "moonwalk"}).status_code == 200
    info = client.get("/model").json()
    assert info["allow_new_classes"] is True
    assert info["feedback_actions"] == {"moonwalk": 1} and "moonwalk" not in info["classes"]  # for the Model page
    closed = client_for(allow_new_classes=False)
    pid = predict(closed, videos)["prediction_id"]
    r = closed.post("/feedback", json={"prediction_id": pid, "target": "moonwalk"})
    assert r.status_code == 422 and "known classes: clap, jump" in r.json()["detail"]
    assert "ALLOW_NEW_CLASSES=true" in r.json()["detail"]


def test_kth_feedback_triggers_a_background_retrain_and_a_hot_swap(client_for, videos):
    client = client_for(retrain_every_k=4, promotion_policy="always")
    v0 = client.get("/model").json()["version"]
    actions = ["walk", "run", "clap", "wave"]
    responses = []
    for i, action in enumerate(actions):
        pid = predict(client, videos, action, i)["prediction_id"]
        responses.append(client.post("/feedback", json={"prediction_id": pid, "target": action}).json())
    assert [r["retrain_triggered"] for r in responses] == [False, False, False, True]
    # /predict keeps answering while the retrain runs.
    assert predict(client, videos)["label"]
    assert wait_for(lambda: client.get("/model").json()["retrain"]["completed"] == 1)
    model = client.get("/model").json()
    entry = model["history"][-1]
    assert entry["outcome"] == "promoted" and entry["trigger_rows"] == 4
    assert entry["champion_version"] == v0 and entry["new_version"] == model["version"] != v0
    assert entry["champion_f1"] is not None and entry["challenger_f1"] is not None
    assert model["training"]["rows_prod"] == model["training"]["prod_rows_seen"] == 4
    assert predict(client, videos)["model_version"] == model["version"]
    metrics = client.get("/metrics").text
    assert 'clipwatch_retrains_total{outcome="promoted"} 1.0' in metrics


def test_if_better_policy_keeps_a_worse_challenger(client_for, videos):
    # Feedback that contradicts the clips (every clip labelled 'jump') makes a challenger that can't
    # beat the champion on held-out rows labelled the same way, or it can: either way the scores are recorded.
    client = client_for(retrain_every_k=4, promotion_policy="if_better")
    for i in range(4):
        pid = predict(client, videos, "walk", i)["prediction_id"]
        client.post("/feedback", json={"prediction_id": pid, "target": "walk"})
    assert wait_for(lambda: client.get("/model").json()["retrain"]["completed"] == 1)
    entry = client.get("/model").json()["history"][-1]
    assert entry["outcome"] in ("promoted", "kept")
    if entry["outcome"] == "kept":  # it scored lower on the new rows, or the guard set refused it
        assert entry["new_version"] is None
        assert entry["challenger_f1"] < entry["champion_f1"] or "guard set" in entry["reason"], entry
    else:
        assert entry["challenger_f1"] >= entry["champion_f1"]


@pytest.mark.parametrize(
    "prediction", ['=HYPERLINK("http://evil.example","walk")', "walk\n0,0,0", "@SUM(A1)", "not-a-class"]
)
def test_a_claimed_prediction_must_be_one_of_the_models_classes(client, videos, prediction):
    files = {"file": ("a.mp4", clip_bytes(videos))}
    r = client.post("/feedback", files=files, data={"target": "walk", "prediction": prediction})
    assert r.status_code == 422 and "not one of the model's classes" in r.json()["detail"]
    assert not (client.app.state.service.paths.prod_data).exists()
