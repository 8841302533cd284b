"""Serving fixtures: a private copy of the trained artifacts per test, an in-process client, a live server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clipwatch.settings import Settings
from devtools.processes import free_port, serving_cmd, start, stop
from devtools.sandbox import auth, private_copy


@pytest.fixture
def make_settings(settings, trained, tmp_path):
    """Settings over a fresh copy of the session's trained artifacts and ref_data.csv."""

    def make(**overrides) -> Settings:
        return private_copy(tmp_path, settings, **{"n_estimators": 50, "cv_folds": 3, **overrides})

    return make


@pytest.fixture
def client_for(make_settings):
    """client_for(**settings) -> a TestClient with the app's lifespan running."""
    from clipwatch.service.main import create_app

    clients = []

    def make(**overrides) -> TestClient:
        settings = make_settings(**overrides)
        # Sends the install's key by default, as the web app and the CLI clients do.
        c = TestClient(create_app(settings), headers=auth(settings))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_for) -> TestClient:
    return client_for()


def clip_bytes(videos: Path, action: str = "walk", i: int = 0) -> bytes:
    return sorted((videos / action).glob("*.mp4"))[i].read_bytes()


class LiveServer:
    def __init__(self, settings: Settings, workers: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.env = {
            **os.environ,
            "CLIPWATCH_DATA_DIR": str(settings.data_dir),
            "CLIPWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "CLIPWATCH_SECRETS_DIR": str(settings.secrets_path),
            **({"CLIPWATCH_API_KEY": settings.api_key.get_secret_value()} if settings.api_key else {}),
            **({"CLIPWATCH_UPLOAD_DIR": str(settings.upload_dir)} if settings.upload_dir else {}),
            "CLIPWATCH_N_ESTIMATORS": str(settings.n_estimators),
            "CLIPWATCH_CLASSIFIER": settings.classifier,
            "RETRAIN_TRIGGERS": ",".join(settings.retrain_triggers),
            "RETRAIN_EVERY_K": str(settings.retrain_every_k),
            "PROMOTION_POLICY": settings.promotion_policy,
            "RETRAIN_MODE": settings.retrain_mode,
            "CLIPWATCH_EVAL_FOLDS": str(settings.eval_folds),
            **(env or {}),
        }
        self.auth = auth(settings)
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        # Beside the data directory, not in it: some tests fill that disk up.
        self.log = Path(settings.data_dir).parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60) -> LiveServer:
        cmd = serving_cmd(self.port, "127.0.0.1", "--workers", str(self.workers))
        self.proc = start(cmd, f"{self.url}/ready", log=self.log, env=self.env, timeout=timeout)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)


@pytest.fixture
def live_server(make_settings):
    servers: list[LiveServer] = []

    def start(workers: int = 1, env: dict | None = None, **overrides) -> LiveServer:
        server = LiveServer(make_settings(**overrides), workers, env).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()
