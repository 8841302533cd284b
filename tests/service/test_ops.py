"""Health, readiness, metrics, /model, rollback and the API key."""

import shutil

from tests.service.conftest import clip_bytes


def test_docs_work_offline(client):
    # The stack runs without internet: /docs must not pull Swagger UI from a CDN.
    html = client.get("/docs").text
    assert "cdn.jsdelivr.net" not in html and "/docs-assets/swagger-ui-bundle.js" in html
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 500_000
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200


def test_health_ready_and_docs(client, trained):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["model_version"] == trained[0]
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/predict",
        "/predict/batch",
        "/feedback",
        "/model",
        "/model/rollback",
        "/health",
        "/ready",
        "/metrics",
    } <= set(paths)


def test_not_ready_without_artifacts_then_ready_once_they_appear(make_settings, tmp_path):
    from fastapi.testclient import TestClient

    from clipwatch.service.main import create_app

    s = make_settings()
    stash = tmp_path / "stash"
    shutil.move(s.artifacts_dir, stash)
    s.artifacts_dir.mkdir()
    with TestClient(create_app(s)) as client:
        r = client.get("/ready")
        assert r.status_code == 503 and "make run" in r.json()["detail"]
        assert client.post("/predict", files={"file": ("a.mp4", b"x")}).status_code == 503
        shutil.rmtree(s.artifacts_dir)
        shutil.copytree(stash, s.artifacts_dir)
        import time

        deadline = time.time() + 10
        while client.get("/ready").status_code != 200 and time.time() < deadline:
            time.sleep(0.2)
        assert client.get("/ready").status_code == 200


def test_metrics_expose_requests_stages_predictions_and_model(client, videos):
    client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))})
    client.post("/predict", files={"file": ("a.mp4", b"junk")})
    text = client.get("/metrics").text
    for series in (
        'clipwatch_requests_total{endpoint="/predict",method="POST",status="200"} 1.0',
        'clipwatch_requests_total{endpoint="/predict",method="POST",status="422"} 1.0',
        'clipwatch_request_duration_seconds_bucket{endpoint="/predict"',
        'clipwatch_stage_duration_seconds_count{stage="decode"} 1.0',
        "clipwatch_predictions_total{label=",
        "clipwatch_prediction_confidence_count 1.0",
        "clipwatch_model_version 1.0",
        # the live model as labels, and the process's own health (lost with a custom registry before)
        'clipwatch_model_info{backbone="',
        'k="8",pooling="mean+motion",version="v0001"} 1.0',
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "python_gc_collections_total{generation=",
    ):
        assert series in text, series


NO_KEY = {"Authorization": ""}


def test_api_key_guards_writes_and_admin(client_for, videos):
    client = client_for(api_key="s3cret")
    pid = client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}, headers=NO_KEY).json()
    body = {"prediction_id": pid["prediction_id"], "target": "walk"}
    assert client.post("/feedback", json=body, headers=NO_KEY).status_code == 401
    assert client.post("/feedback", json=body, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/model", headers=NO_KEY).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    assert client.post("/feedback", json=body, headers=ok).status_code == 200
    assert client.get("/model", headers=ok).status_code == 200
    assert client.post("/model/rollback", headers={"Authorization": "Bearer nope"}).status_code == 403
    r = client.post("/model/rollback", headers=ok)
    assert r.status_code == 404 and "no version before" in r.json()["detail"]


def test_a_blank_key_in_the_environment_means_the_generated_one(client_for, videos, monkeypatch):
    # What Compose passes when .env leaves CLIPWATCH_API_KEY empty: `init` has generated one.
    monkeypatch.setenv("CLIPWATCH_API_KEY", " ")
    client = client_for()
    settings = client.app.state.service.settings
    assert settings.api_key.get_secret_value() == (settings.secrets_path / "api_key").read_text().strip()
    pid = client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).json()["prediction_id"]
    assert client.post("/feedback", json={"prediction_id": pid, "target": "walk"}, headers=NO_KEY).status_code == 401
    assert client.post("/feedback", json={"prediction_id": pid, "target": "walk"}).status_code == 200


def test_without_any_key_writes_and_admin_are_closed_not_open(client_for, videos, tmp_path, monkeypatch):
    signed_with = client_for().app.state.service.holder.paths.secrets / "model_key"
    monkeypatch.setenv("CLIPWATCH_MODEL_KEY", signed_with.read_text().strip())  # the models still load
    client = client_for(secrets_dir=tmp_path / "no-secrets")
    assert client.app.state.service.settings.api_key is None
    pid = client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).json()["prediction_id"]
    for r in (
        client.post("/feedback", json={"prediction_id": pid, "target": "walk"}),
        client.post("/model/rollback"),
        client.get("/model"),
    ):
        assert r.status_code == 403 and "no API key is configured" in r.json()["detail"]


def test_rollback_switches_the_live_model(client_for, videos):
    client = client_for(api_key="k")
    ok = {"Authorization": "Bearer k"}
    service = client.app.state.service
    live = service.holder.predictor.version
    service.holder.store.publish(live.model, {**live.metadata})  # a second version, v0002
    service.holder.reload()
    assert client.get("/ready").json()["model_version"] == "v0002"
    r = client.post("/model/rollback", headers=ok)
    assert r.status_code == 200 and r.json()["version"] == "v0001"
    assert client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).json()["model_version"] == "v0001"
    r = client.post("/model/rollback", json={"version": "v0042"}, headers=ok)
    assert r.status_code == 404 and "v0001, v0002" in r.json()["detail"]


def test_cors_is_closed_by_default(client):
    r = client.options("/predict", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_model_says_how_it_turns_a_clip_into_a_vector(client_for):
    client = client_for()
    settings = client.app.state.service.settings
    embedding = client.get("/model").json()["embedding"]
    assert embedding == {
        "num_frames": settings.num_frames,
        "input_size": settings.input_size,
        "sampling": settings.sampling,
        "pooling": settings.pooling,
        "stream": settings.stream,
        "dim": client.app.state.service.predictor().embedder.dim,
    }
