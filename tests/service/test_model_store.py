"""A model store that cannot be broken from outside: rollback checks before it moves CURRENT, takes the
retrain lock, and a broken current version leaves the server up and saying why."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient

from clipwatch import rollback
from clipwatch.locking import exclusive
from clipwatch.paths import METADATA_FILE, MODEL_FILE
from clipwatch.service.main import create_app

KEY = {"Authorization": "Bearer k"}


def second_version(client, **metadata_changes) -> str:
    """Publish a copy of the live model as a new version (CURRENT moves to it), then go back to v0001."""
    service = client.app.state.service
    live = service.holder.predictor.version
    name = service.holder.store.publish(live.model, {**live.metadata, **metadata_changes})
    service.holder.store.promote(live.name)
    return name


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"num_frames": 3}, "num_frames built with 3"),
        ({"pooling": "mean"}, "pooling built with mean"),
        ({"versions": {"sklearn": "0.1.0"}}, "sklearn 0.1.0"),
        # A version on another backbone (a fine-tune lies between): its tables are archived with that backbone.
        ({"backbone": {"sha256": "0" * 64}}, "clipwatch finetune --rollback"),
    ],
)
def test_rollback_to_a_version_that_does_not_fit_is_409_and_moves_nothing(client_for, change, reason):
    client = client_for(api_key="k")
    bad = second_version(client, **change)
    r = client.post("/model/rollback", json={"version": bad}, headers=KEY)
    assert r.status_code == 409 and reason in r.json()["detail"]
    service = client.app.state.service
    assert service.holder.store.current_name() == "v0001" and client.get("/ready").json()["model_version"] == "v0001"


def test_rollback_waits_for_a_running_retrain_then_gives_409(client_for, monkeypatch):
    client = client_for(api_key="k")
    target = second_version(client)
    monkeypatch.setattr(rollback, "WAIT_S", 0.3)
    held, release = threading.Event(), threading.Event()

    def retrain_holding_the_lock():
        with exclusive(client.app.state.service.paths.retrain_lock):
            held.set()
            release.wait(10)

    t = threading.Thread(target=retrain_holding_the_lock)
    t.start()
    held.wait(5)
    try:
        r = client.post("/model/rollback", json={"version": target}, headers=KEY)
    finally:
        release.set()
        t.join()
    assert r.status_code == 409 and "retrain is running" in r.json()["detail"]
    assert client.post("/model/rollback", json={"version": target}, headers=KEY).status_code == 200


@pytest.mark.parametrize("damage", ["truncated pickle", "corrupt metadata", "other sklearn"])
def test_a_broken_current_version_leaves_the_server_up_and_not_ready(make_settings, damage):
    settings = make_settings()
    vdir = settings.artifacts_dir / "versions" / "v0001"
    if damage == "truncated pickle":
        data = (vdir / MODEL_FILE).read_bytes()
        (vdir / MODEL_FILE).write_bytes(data[: len(data) // 3])
    elif damage == "corrupt metadata":
        (vdir / METADATA_FILE).write_text('{"classes": ["walk", ')
    else:
        meta = json.loads((vdir / METADATA_FILE).read_text())
        meta["versions"]["sklearn"] = "0.1.0"
        (vdir / METADATA_FILE).write_text(json.dumps(meta))
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        r = client.get("/ready")
        assert r.status_code == 503 and "v0001" in r.json()["detail"]
        assert str(settings.artifacts_dir) not in r.text and "Error(" not in r.text  # details stay in the log
        holder = client.app.state.service.holder
        calls = []
        original = holder.store.load
        holder.store.load = lambda name=None: calls.append(name) or original(name)
        for _ in range(5):
            holder.reload()  # what the watcher does twice a second
        assert calls == []  # the same broken files are not unpickled again
        assert client.post("/predict", content=b"x", headers={"content-type": "video/mp4"}).status_code == 503


def test_a_replica_with_read_only_artifacts_names_where_to_roll_back(client_for, monkeypatch):
    """Kubernetes mounts artifacts/ read-only in the API pods: a rollback there says where it can run."""
    client = client_for(api_key="k")
    target = second_version(client)
    monkeypatch.setattr(rollback.os, "access", lambda path, mode: False)  # what a read-only mount answers
    r = client.post("/model/rollback", json={"version": target}, headers=KEY)
    assert r.status_code == 409 and "clipwatch rollback" in r.json()["detail"]
    assert client.app.state.service.holder.store.current_name() == "v0001"


def test_the_reference_set_per_action_needs_the_key(client_for):
    client = client_for(api_key="k")
    assert client.get("/reference", headers={"Authorization": ""}).status_code == 401
    r = client.get("/reference", headers=KEY).json()
    service = client.app.state.service
    assert r["rows"] == len(service.paths.ref_data.read_text().splitlines()) - 1
    assert [a["action"] for a in r["actions"]] == sorted(service.holder.predictor.version.classes)
    # The rendered dataset names no recordings: every action says what a grouped estimate still needs.
    assert all(a["recordings"] == 0 and "recording" in a["needs"][-1] for a in r["actions"])
