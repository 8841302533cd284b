"""A small client of the serving API, shared by the web app and `clipwatch score`.

Every call has a timeout, and every failure becomes an ApiError whose message
a person can act on (API down, too slow, or what the API said was wrong).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from clipwatch.errors import ClipwatchError
from clipwatch.projects.names import CLIP_ID, PROJECT_JOB_ID, PROJECT_NAME

GET_RETRIES = 3  # 0.3, 0.6, 1.2 s apart


JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class ApiError(ClipwatchError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class ApiClient:
    base_url: str
    api_key: str | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = requests.Session()
        # GETs are idempotent: a refused connection or a 502/503/504 (an API restarting, a replica
        # draining, Retry-After honoured) is retried with back-off. A POST is never replayed.
        retry = Retry(
            total=GET_RETRIES,
            backoff_factor=0.3,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, HTTPAdapter(max_retries=retry))

    def _call(self, method: str, path: str, timeout: float | None = None, raw: bool = False, keyed: bool = True, **kw):
        url = f"{self.base_url}{path}"
        timeout = timeout or self.timeout
        # The key goes only with calls the API guards: /predict and /health need none, so `clipwatch score
        # --api <any URL>` never hands the key to a server that has no business seeing it.
        if keyed and self.api_key:
            kw["headers"] = {**kw.get("headers", {}), "Authorization": f"Bearer {self.api_key}"}
        try:
            r = self.session.request(method, url, timeout=timeout, **kw)
        except requests.exceptions.Timeout as exc:
            raise ApiError(f"the serving API at {self.base_url} did not answer within {timeout:.0f} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise ApiError(f"the serving API at {self.base_url} is not reachable: is it running?") from exc
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text or r.reason
            raise ApiError(f"{r.status_code}: {str(detail)[:500]}", r.status_code)
        if raw == "bytes":
            return r.content
        return r.text if raw else r.json()

    def health(self) -> dict:
        return self._call("GET", "/health", timeout=5, keyed=False)

    def model(self) -> dict:
        return self._call("GET", "/model", timeout=15)

    def predict(self, filename: str, data: bytes) -> dict:
        files = {"file": (filename, data, "application/octet-stream")}
        return self._call("POST", "/predict", files=files, keyed=False)

    def predict_batch(self, files: Iterable[tuple[str, bytes]]) -> dict:
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
        return self._call("POST", "/predict/batch", files=parts, timeout=self.timeout * max(1, len(parts)), keyed=False)

    def feedback(self, prediction_id: str, target: str) -> dict:
        return self._call("POST", "/feedback", json={"prediction_id": prediction_id, "target": target}, timeout=30)

    # Timelines of long videos (POST /jobs/timeline and the job routes).
    def start_timeline(
        self,
        fileobj: BinaryIO,
        size: int,
        filename: str,
        window_s: float | None = None,
        stride_s: float | None = None,
        on_bytes: Callable[[int], None] | None = None,
        smooth: int | None = None,
    ) -> dict:
        """Stream a long video as the raw body (never held whole in memory); returns the new job."""
        params = {k: v for k, v in (("window_s", window_s), ("stride_s", stride_s), ("smooth", smooth)) if v}
        headers = {"Content-Type": "application/octet-stream", "X-Filename": filename}
        body = _Counting(fileobj, size, on_bytes)
        return self._call(
            "POST", "/jobs/timeline", params=params, data=body, headers=headers, timeout=max(self.timeout, 3600)
        )

    def job(self, job_id: str) -> dict:
        return self._call("GET", _job_path(job_id), timeout=30)

    def job_csv(self, job_id: str) -> str:
        return self._call("GET", f"{_job_path(job_id)}/result.csv", timeout=60, raw=True)

    def cancel_job(self, job_id: str) -> dict:
        return self._call("DELETE", _job_path(job_id), timeout=30)

    def window_feedback(self, job_id: str, window: int, target: str) -> dict:
        path = f"{_job_path(job_id)}/feedback"
        return self._call("POST", path, json={"window": window, "target": target}, timeout=30)

    # Projects: teach the model your own actions (the /projects routes).
    def projects(self) -> dict:
        return self._call("GET", "/projects", timeout=30)

    def create_project(self, name: str) -> dict:
        return self._call("POST", "/projects", json={"name": name}, timeout=30)

    def project(self, name: str) -> dict:
        return self._call("GET", _project_path(name), timeout=30)

    def delete_project(self, name: str) -> dict:
        return self._call("DELETE", _project_path(name), timeout=60)

    def add_clips(
        self,
        name: str,
        files: Iterable[tuple[str, bytes]],
        action: str = "",
        recording: str = "",
        by_name: bool = False,
    ) -> dict:
        """Labelled clips (or zips of <action>/<clip> folders); each embedded as /predict embeds."""
        parts = [("files", (fname, data, "application/octet-stream")) for fname, data in files]
        fields = {"action": action, "recording": recording, **({"recording_from": "name"} if by_name else {})}
        timeout = self.timeout * max(1, len(parts))
        return self._call("POST", f"{_project_path(name)}/clips", files=parts, data=fields, timeout=timeout)

    def remove_clip(self, name: str, clip_id: str) -> dict:
        return self._call("DELETE", f"{_project_path(name)}/clips/{_checked(CLIP_ID, clip_id)}", timeout=30)

    def remove_action(self, name: str, action: str) -> dict:
        return self._call("DELETE", f"{_project_path(name)}/actions/{quote(action, safe='')}", timeout=30)

    def thumbnail(self, name: str, clip_id: str) -> bytes:
        path = f"{_project_path(name)}/clips/{_checked(CLIP_ID, clip_id)}/thumbnail"
        return self._call("GET", path, timeout=30, raw="bytes")

    def start_project_job(self, name: str, kind: str, version: str | None = None) -> dict:
        body = {"kind": kind, **({"version": version} if version else {})}
        return self._call("POST", f"{_project_path(name)}/jobs", json=body, timeout=30)

    def project_job(self, name: str, job_id: str) -> dict:
        return self._call("GET", f"{_project_path(name)}/jobs/{_checked(PROJECT_JOB_ID, job_id)}", timeout=30)


def _checked(pattern: re.Pattern, value: str) -> str:
    """A path segment of the API's own form only: one from a page must not steer the key to another route."""
    if not pattern.match(str(value)):
        raise ApiError(f"{str(value)[:40]!r} is not a valid name here", 404)
    return str(value)


def _project_path(name: str) -> str:
    return f"/projects/{_checked(PROJECT_NAME, name)}"


def _job_path(job_id: str) -> str:
    """/jobs/<id>, for an id of the API's form only: an id from a URL must not steer the key elsewhere
    (`../model` would otherwise reach an admin route with this client's key)."""
    if not JOB_ID.match(str(job_id)):
        raise ApiError(f"{str(job_id)[:40]!r} is not a job id (32 hex digits)", 404)
    return f"/jobs/{job_id}"


class _Counting:
    """A file as a request body that reports each chunk read (an upload progress bar), with its length
    known, so the request carries a Content-Length the server can refuse early."""

    def __init__(self, fileobj: BinaryIO, size: int, on_bytes: Callable[[int], None] | None):
        self.fileobj, self.size, self.on_bytes = fileobj, size, on_bytes

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        data = self.fileobj.read(n)
        if data and self.on_bytes is not None:
            self.on_bytes(len(data))
        return data
