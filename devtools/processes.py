"""Local services as child processes: a free port, the commands, waiting for a URL, stopping.

`make run`, the demo video, compose-test, the benchmarks and the tests all start the same services;
they do it through here, so every wait has a deadline and a child that dies is noticed at once.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from clipwatch.settings import PROJECT_ROOT


class NotReady(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving_cmd(port: int, host: str = "127.0.0.1", *extra: str) -> list[str]:
    """The serving API as the serving image runs it: `clipwatch serve` (uvicorn underneath)."""
    return [sys.executable, "-m", "clipwatch", "serve", "--host", host, "--port", str(port), *extra]


def webapp_cmd(port: int, host: str = "127.0.0.1") -> list[str]:
    app = str(PROJECT_ROOT / "webapp" / "api.py")
    flags = ["--server.port", str(port), "--server.headless", "true", "--server.address", host]
    # viewer: no "Deploy" button or developer menu for the people the page is for.
    flags += ["--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    if host in ("127.0.0.1", "localhost", "::1"):
        # Local mode asks no sign-in: a page on another site must not reach it by rebinding its own name to
        # 127.0.0.1 (DNS rebinding), so the app answers only to the names loopback really has.
        for name in ("localhost", "127.0.0.1", "[::1]"):
            flags += ["--server.allowedHosts", name]
    return [sys.executable, "-m", "streamlit", "run", app, *flags]


def wait_http(
    url: str,
    timeout: float,
    ok: Callable[[requests.Response], bool] = lambda r: True,
    proc: subprocess.Popen | None = None,
    interval: float = 0.3,
) -> requests.Response:
    """The first 200 answer from url that ok accepts. ok sees only 200s; one whose body it can't read
    (a server still starting may answer in plain text) counts as not ready yet. Raises NotReady at
    the deadline, or as soon as proc has exited."""
    deadline, last = time.monotonic() + timeout, "no answer"
    while True:
        try:
            r = requests.get(url, timeout=5)
            if r.status_code == 200 and ok(r):
                return r
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        except (ValueError, KeyError) as exc:
            last = f"HTTP 200, not the expected body ({type(exc).__name__})"
        if proc is not None and proc.poll() is not None:
            raise NotReady(f"{url}: the process exited with code {proc.returncode} ({last})")
        if time.monotonic() >= deadline:
            raise NotReady(f"{url} not ready after {timeout:.0f} s ({last})")
        time.sleep(interval)


def start(
    cmd: list[str],
    ready_url: str,
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.Popen:
    """Start cmd (output to log, or discarded) and return once ready_url answers 200. On failure the
    process is stopped and NotReady carries the end of its log."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps its own descriptor
    proc = None
    try:
        proc = subprocess.Popen(cmd, env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        if log:
            out.close()
        wait_http(ready_url, timeout, proc=proc)
    except NotReady as exc:
        stop(proc)
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise NotReady(f"{exc}\n{tail}".rstrip()) from None
    except BaseException:
        # SIGTERM or Ctrl-C while it was still starting: the caller never got it, so it is stopped here,
        # or a service that was still coming up would outlive `make run`.
        if proc is not None:
            stop(proc)
        raise
    finally:
        if log and not out.closed:
            out.close()
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within timeout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def udp_stream(video: Path, port: int, ffmpeg: str = "ffmpeg") -> subprocess.Popen:
    """FFmpeg playing `video` at its own pace as MPEG-TS over UDP to 127.0.0.1:port, as a camera would
    send it (tests, benchmarks and the demo watch it); udp_source(port) is the address to read it at."""
    target = f"udp://127.0.0.1:{port}?pkt_size=1316"
    cmd = [ffmpeg, "-loglevel", "error", "-re", "-i", str(video), "-c", "copy", "-f", "mpegts", target]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def udp_source(port: int) -> str:
    # A big receive buffer, and no error on its overrun: a burst of packets must not end the stream.
    return f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=1000000"
