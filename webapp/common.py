"""What every page shares: the API client, settings, cached clip helpers."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st
from preview import browser_playable, transcode_h264

from clipwatch.client.http import ApiClient, ApiError
from clipwatch.sampling import sample_clip
from clipwatch.settings import Settings
from clipwatch.video import ClipError

__all__ = [
    "ApiError",
    "ClipError",
    "api",
    "clip_preview",
    "digest",
    "embedding_spec",
    "forget_model",
    "live_model",
    "model_info",
    "sampled_frames",
    "settings",
]


@st.cache_resource
def settings() -> Settings:
    return Settings()


@st.cache_resource
def api() -> ApiClient:
    s = settings()
    return ApiClient(s.api_url, s.api_key.get_secret_value() if s.api_key else None, s.api_timeout_s)


MODEL_TTL_S = 5.0  # /model is asked on every rerun of every page; a few seconds old is fresh enough


@st.cache_data(ttl=MODEL_TTL_S, show_spinner=False)
def _model(api_url: str) -> dict:
    return api().model()  # a failure raises, and is not cached


def live_model() -> dict:
    """GET /model, cached for MODEL_TTL_S (raises ApiError)."""
    return _model(settings().api_url)


def forget_model() -> None:
    """Drop the cached /model: after a retrain or a rollback the next page must see the new version."""
    _model.clear()


def model_info() -> dict | None:
    """GET /model (cached briefly), or None after showing why it failed."""
    try:
        return live_model()
    except ApiError as exc:
        st.error(f"Can't reach the model: {exc}")
        return None


def _spill(data: bytes, suffix: str) -> Path:
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115 - removed by the caller
    tmp.write(data)
    tmp.close()
    return Path(tmp.name)


def clip_preview(data: bytes, name: str) -> tuple[bytes, str, bool]:
    """(bytes, mime type, transcoded?) that a browser can play. The original bytes go to the API."""
    suffix = Path(name).suffix.lower() or ".bin"
    copy = _preview_copy(digest(data), suffix, data)
    if copy is None:
        return data, "video/webm" if suffix == ".webm" else "video/mp4", False
    return copy, "video/mp4", True


# Keyed by the upload's digest (a leading underscore keeps Streamlit from hashing the bytes again), and
# holding only what it made: H.264 copies of at most 640 px and 120 s, a few MB each. The upload itself,
# up to MAX_UPLOAD_MB, is never kept here.
@st.cache_data(max_entries=8, show_spinner="Preparing the preview…")
def _preview_copy(key: str, suffix: str, _data: bytes) -> bytes | None:
    """None when the browser plays the upload as it is; else an H.264 copy of it."""
    path = _spill(_data, suffix)
    try:
        if browser_playable(path):
            return None
        out = path.with_suffix(".preview.mp4")
        try:
            transcode_h264(path, out, settings())
            return out.read_bytes()
        finally:
            out.unlink(missing_ok=True)
    finally:
        path.unlink(missing_ok=True)


def embedding_spec() -> tuple[dict, bool]:
    """(K, input size, sampling) as the live model embeds clips, and whether the API said so. The
    API's container may be configured otherwise than this one; when it can't be asked, this app's
    own settings stand in (and the page says so)."""
    try:
        spec = live_model()["embedding"]
        return {k: spec[k] for k in ("num_frames", "input_size", "sampling")}, True
    except (ApiError, KeyError, TypeError):
        s = settings()
        return {"num_frames": s.num_frames, "input_size": s.input_size, "sampling": s.sampling}, False


@st.cache_data(max_entries=16, show_spinner=False)
def sampled_frames(data: bytes, name: str, spec: dict) -> np.ndarray:
    """The frames the model samples, as the model sees them, through the same code as the API."""
    path = _spill(data, Path(name).suffix.lower() or ".bin")
    try:
        return sample_clip(path, settings().model_copy(update=spec))[0]
    finally:
        path.unlink(missing_ok=True)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def saved_text(feedback: dict) -> str:
    """The confirmation after feedback, naming the store the API actually wrote to."""
    store = feedback.get("store", "prod_data.csv")  # an API from before the field kept prod_data.csv
    return f"Saved. {store} now has {feedback['rows']} rows (a retrain runs every {feedback['retrain_every_k']})."
