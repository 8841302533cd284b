"""A throwaway PostgreSQL server on loopback, in a temporary folder: for the tests, the growth
benchmark and the scale test. Debian's `postgresql` package provides the binaries; nothing here is
used by a deployment, which points CLIPWATCH_DATABASE_URL at a server someone operates.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the package
creates, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.processes import free_port

USER, PASSWORD, DB = "clipwatch", "clipwatch-test", "clipwatch"


def bindir() -> Path | None:
    """Where initdb and postgres are: the newest of /usr/lib/postgresql/*/bin, else on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("postgres")
    return Path(exe).parent if exe else None


class LocalPostgres:
    """`with LocalPostgres() as pg: pg.url` — a fresh cluster, stopped and deleted on exit."""

    def __init__(self, settings: dict[str, str] | None = None):
        found = bindir()
        if found is None:
            raise FileNotFoundError("PostgreSQL server binaries not found: apt-get install postgresql")
        self.bin = found
        self.port = free_port()
        self.settings = {"fsync": "on", "max_connections": "200", "shared_buffers": "128MB", **(settings or {})}
        self.root = Path(tempfile.mkdtemp(prefix="clipwatch-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DB}"

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam("postgres")
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60) -> LocalPostgres:
        who = self._run_as()
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if who:
            os.chown(pwfile, who["user"], who["group"])
        subprocess.run(
            [
                self.bin / "initdb",
                "-D",
                self.data,
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            **who,
        )
        flags = [f"-c{k}={v}" for k, v in self.settings.items()]
        cmd = [self.bin / "postgres", "-D", self.data, "-h", "127.0.0.1", "-p", str(self.port), "-k", self.root, *flags]
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stop()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **who)
        self._wait(timeout)
        self._create_db()
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()[-2000:]}")
            ready = subprocess.run(
                [self.bin / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"postgres did not start in {timeout:.0f} s")

    def _create_db(self) -> None:
        import psycopg

        admin = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB}"')

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: smart shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
