"""Web app tests: Streamlit AppTest with the serving API faked at the HTTP boundary (responses)."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

from clipwatch.settings import PROJECT_ROOT

API = "http://api.test"
WEBAPP = PROJECT_ROOT / "webapp"
os.environ["API_URL"] = API  # read once by the app's cached settings
# No generated secrets from a local `make run` leak in: each test says whether there is a password.
os.environ["CLIPWATCH_SECRETS_DIR"] = tempfile.mkdtemp(prefix="clipwatch-webapp-secrets-")
sys.path.insert(0, str(WEBAPP))  # pages import `common`, as under `streamlit run`

CLASSES = ["clap", "jump", "run", "squat", "walk", "wave"]


def prediction(label="walk", version="v0001", pid="a" * 32) -> dict:
    probs = {c: (0.55 if c == label else 0.09) for c in CLASSES}
    return {
        "prediction_id": pid,
        "label": label,
        "confidence": 0.55,
        "probabilities": probs,
        "model_version": version,
        "timings_ms": {"decode": 20.0, "embed": 80.0, "classify": 5.0, "total": 105.0},
        "video": {"frames": 75, "fps": 25.0, "width": 320, "height": 240, "duration_s": 3.0, "sampled_frames": 16},
    }


def model_info(history=None, version="v0001", allow_new=False) -> dict:
    return {
        "version": version,
        "classes": CLASSES,
        "embedding": {
            "num_frames": 16,
            "input_size": 224,
            "sampling": "segment-centres",
            "pooling": "mean+motion",
            "dim": 2560,
        },
        "metrics": {
            "macro_f1": 0.745,
            "accuracy": 0.75,
            "balanced_accuracy": 0.75,
            "evaluation": "5-fold stratified CV, grouped by recording (12 groups)",
            "protocol": "grouped by recording (12 groups)",
            "confusion_matrix": [[5 if i == j else 1 for j in range(6)] for i in range(6)],
            "calibration": {
                "method": "temperature",
                "temperature": 2.5,
                "ece_uncalibrated": 0.31,
                "ece": 0.06,
                "bins": 15,
                "protocol": "grouped by recording (12 groups)",
                "reliability": [
                    {"low": 0.4, "high": 0.467, "confidence": 0.45, "accuracy": 0.5, "rows": 10},
                    {"low": 0.8, "high": 0.867, "confidence": 0.83, "accuracy": 0.8, "rows": 30},
                ],
            },
        },
        "created_at": "2026-11-28T00:00:00+00:00",
        "training": {"classifier": "logistic-regression"},
        "versions": ["v0001"],
        "history": history or [],
        "retrain": {"running": False, "pending": 0, "completed": 0, "last": None},
        "retrain_every_k": 20,
        "policy": "if_better",
        "mode": "scratch",
        "allow_new_classes": allow_new,
        "version_scores": [{"version": "v0001", "macro_f1": 0.745}],
    }


@pytest.fixture
def exposed(monkeypatch):
    """The app as Compose runs it: listening beyond localhost. address(None) undoes it."""
    import streamlit as st
    from streamlit import config

    def set_address(address: str | None = "0.0.0.0") -> None:
        config.set_option("server.address", address)

    st.cache_resource.clear()  # the sign-in throttle is process-wide
    monkeypatch.delenv("CLIPWATCH_WEBAPP_PASSWORD", raising=False)
    set_address()
    yield set_address
    set_address("127.0.0.1")


@pytest.fixture
def page():
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    # `make run`'s web app: on localhost, where its one user may send feedback without signing in.
    config.set_option("server.address", "127.0.0.1")

    def load(name: str) -> AppTest:
        import streamlit as st

        st.cache_data.clear()  # /model is cached for a few seconds: each test brings its own API answers
        at = AppTest.from_file(str(WEBAPP / "views" / f"{name}.py"), default_timeout=60)
        return at

    return load


# The browser test runs the real API: reuse the serving tests' fixtures.
from tests.service.conftest import live_server, make_settings  # noqa: E402, F401
