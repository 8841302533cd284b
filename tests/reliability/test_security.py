"""Keys, upload limits on a real socket, and client-supplied names."""

from __future__ import annotations

import re

import httpx
import pytest

from clipwatch.service.uploads import Upload, _new_file
from tests.service.conftest import clip_bytes

pytestmark = pytest.mark.slow

SECURED = {
    ("post", "/feedback"),
    ("get", "/model"),
    ("get", "/reference"),  # what the model learns from: an install's own action names and counts
    ("post", "/model/rollback"),
    # a timeline job holds a long upload and minutes of CPU; cancelling and correcting are writes
    ("post", "/jobs/timeline"),
    ("delete", "/jobs/{job_id}"),
    ("post", "/jobs/{job_id}/feedback"),
    # projects: an install's own clips and actions, and the deploys and rollbacks they start
    ("get", "/projects"),
    ("post", "/projects"),
    ("get", "/projects/{name}"),
    ("delete", "/projects/{name}"),
    ("post", "/projects/{name}/clips"),
    ("delete", "/projects/{name}/clips/{clip_id}"),
    ("delete", "/projects/{name}/actions/{action}"),
    ("get", "/projects/{name}/clips/{clip_id}/thumbnail"),
    ("post", "/projects/{name}/jobs"),
    ("get", "/projects/{name}/jobs/{job_id}"),
}


def test_every_write_and_admin_endpoint_refuses_a_missing_or_wrong_key(client_for):
    client = client_for(api_key="s3cret")
    schema = client.get("/openapi.json").json()
    secured = {(m, p) for p, ops in schema["paths"].items() for m, op in ops.items() if op.get("security")}
    assert secured == SECURED, "a new endpoint must be classed as open or key-protected on purpose"
    for method, path in sorted(secured):
        path = path.replace("{job_id}", "0" * 32).replace("{name}", "mine").replace("{clip_id}", "0" * 12)
        path = path.replace("{action}", "fall")
        missing = client.request(method, path, headers={"Authorization": ""})
        wrong = client.request(method, path, headers={"Authorization": "Bearer wrong"})
        basic = client.request(method, path, headers={"Authorization": "Basic czNjcmV0"})
        assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 403, 401), path
        assert missing.headers["www-authenticate"] == "Bearer"


def test_chunked_upload_without_length_is_cut_off_at_the_limit_on_a_real_socket(live_server, tmp_path):
    server = live_server(env={"MAX_UPLOAD_MB": "1"})
    sent = 0

    def body():
        nonlocal sent
        for _ in range(64):  # 8 MB offered, 1 MB allowed
            sent += 131072
            yield b"\0" * 131072

    r = httpx.post(f"{server.url}/predict", content=body(), headers={"content-type": "video/mp4"}, timeout=30)
    assert r.status_code == 413 and "MAX_UPLOAD_MB" in r.json()["detail"]
    uploads = server.settings.upload_dir
    assert not [p for p in uploads.rglob("*") if p.is_file()], "the refused upload left a file"


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.mp4", "/abs/path.avi", "a\\..\\..\\b.mov", "x;rm -rf ~;$(id).webm", "\x00.mp4", ""]
)
def test_a_client_filename_never_reaches_the_filesystem(tmp_path, name):
    fh, entry = _new_file(Upload(), tmp_path, "file", name)
    fh.close()
    assert entry.path.parent == tmp_path
    assert re.fullmatch(r"upload-[a-z0-9_]+\.(mp4|avi|mov|webm|mkv|bin)", entry.path.name), entry.path.name
    assert "/" not in entry.filename and "\x00" not in entry.filename


def test_the_evil_name_is_echoed_only_as_a_display_name(client, videos):
    r = client.post("/predict/batch", files=[("files", ("../../x/..\\y;$(id).mp4", clip_bytes(videos)))])
    assert r.json()["items"][0]["filename"] == "y;$(id).mp4"
