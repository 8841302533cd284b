"""Starting local services: a wait that ends at its deadline, and at once when the process dies."""

import sys
import time

import pytest

from devtools.processes import NotReady, free_port, start, stop, wait_http


def test_a_service_that_answers_is_started_and_stopped(tmp_path):
    port = free_port()
    proc = start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], f"http://127.0.0.1:{port}/")
    try:
        assert wait_http(f"http://127.0.0.1:{port}/", 5).status_code == 200
    finally:
        stop(proc)
    assert proc.returncode is not None


def test_a_process_that_exits_fails_at_once_with_its_log(tmp_path):
    log = tmp_path / "svc.log"
    t0 = time.monotonic()
    with pytest.raises(NotReady, match="exited with code 3") as err:
        start([sys.executable, "-c", "print('bad config'); raise SystemExit(3)"], "http://127.0.0.1:9/", log=log)
    assert time.monotonic() - t0 < 10
    assert "bad config" in str(err.value)


def test_nothing_listening_times_out_with_what_it_saw():
    with pytest.raises(NotReady, match=r"not ready after 1 s \(ConnectionError\)"):
        wait_http(f"http://127.0.0.1:{free_port()}/", 1, interval=0.1)
