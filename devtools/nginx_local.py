"""Compose's load balancer (serving/nginx.conf) run on loopback in front of API processes on this
machine: for the tests and `make scale-test`'s figures without containers. Debian's `nginx` package
provides the server. The configuration is the Compose one with only the addresses changed, so what
is tested is what the scale profile runs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from clipwatch.settings import PROJECT_ROOT
from devtools.processes import free_port

CONF = PROJECT_ROOT / "serving" / "nginx.conf"
UPSTREAM = re.compile(r"^\s*server serving-replica:8080 (.*);$", re.M)


def binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def loopback_conf(upstreams: list[str], port: int, root: Path) -> str:
    """serving/nginx.conf with these upstreams (host:port), listening on 127.0.0.1:port, its files under root."""
    text = CONF.read_text()
    m = UPSTREAM.search(text)
    if m is None:
        raise ValueError(f"{CONF}: no 'server serving-replica:8080 ...;' line to point at the replicas")
    servers = "\n".join(f"        server {u} {m.group(1)};" for u in upstreams)
    text = text[: m.start()] + servers + text[m.end() :]
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    text = text.replace("pid /tmp/nginx.pid;", f"pid {root}/nginx.pid;")
    text = text.replace("/tmp/client_body", f"{root}/client_body").replace("/tmp/proxy", f"{root}/proxy")
    text = text.replace("access_log /dev/stdout", f"access_log {root}/access.log")
    return text


class LocalNginx:
    def __init__(self, upstreams: list[str]):
        exe = binary()
        if exe is None:
            raise FileNotFoundError("nginx not found: apt-get install nginx")
        self.exe = exe
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="clipwatch-nginx-"))
        os.chmod(self.root, 0o777)  # run as root, nginx's workers are nobody: they write the temp folders
        self.conf = self.root / "nginx.conf"
        self.conf.write_text(loopback_conf(upstreams, self.port, self.root))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> LocalNginx:
        cmd = [self.exe, "-p", str(self.root), "-c", str(self.conf), "-e", "stderr", "-g", "daemon off;"]
        log = open(self.root / "nginx.log", "wb")  # noqa: SIM115 - nginx writes to it until stop()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.root / 'nginx.log').read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not listen in {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalNginx:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
