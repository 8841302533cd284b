"""`make run`'s supervisor: SIGTERM stops every service, and one service dying stops the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clipwatch.settings import PROJECT_ROOT
from devtools.processes import free_port

SUPERVISOR = """
import sys
sys.path.insert(0, {scripts!r})
from pathlib import Path
from run_local import supervise
table = {table!r}
sys.exit(supervise(table, Path({logs!r})))
"""


def run_supervisor(tmp_path, commands: dict[str, list[str]], wait: bool = True):
    table = {}
    for name, cmd in commands.items():
        port = free_port()
        table[name] = ([*cmd, str(port)], f"http://127.0.0.1:{port}/", [f"http://127.0.0.1:{port}/"])
    code = SUPERVISOR.format(scripts=str(PROJECT_ROOT / "scripts"), table=table, logs=str(tmp_path / "logs"))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    line = ""
    while wait and "clipwatch is running" not in line and time.time() < deadline:
        line = proc.stdout.readline()
    return proc


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


HTTP = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]


def test_sigterm_stops_every_service_and_exits_0(tmp_path):
    proc = run_supervisor(tmp_path, {"one": HTTP, "two": HTTP})
    kids = children_of(proc.pid)
    assert len(kids) == 2 and all(alive(k) for k in kids)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    time.sleep(0.5)
    assert not any(alive(k) for k in kids), "a service outlived make run"


def test_a_dying_service_stops_the_others_and_exits_1(tmp_path):
    proc = run_supervisor(tmp_path, {"steady": HTTP, "fragile": HTTP})
    kids = children_of(proc.pid)
    fragile = kids[-1]
    os.kill(fragile, signal.SIGKILL)
    assert proc.wait(30) == 1
    assert "fragile (exit -9) died" in proc.stderr.read()
    time.sleep(0.5)
    assert not any(alive(k) for k in kids)


SLOW = [
    sys.executable,
    "-c",
    "import sys, time, http.server as h; time.sleep(4); h.test(h.SimpleHTTPRequestHandler, "
    "port=int(sys.argv[1]), bind='127.0.0.1')",
]


def test_sigterm_while_a_service_is_still_starting_stops_that_one_too(tmp_path):
    """The last service (the Evidently UI) once outlived its launcher by 40 s when SIGTERM came early."""
    proc = run_supervisor(tmp_path, {"quick": HTTP, "slow": SLOW}, wait=False)
    deadline = time.time() + 30
    while len(children_of(proc.pid)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    kids = children_of(proc.pid)
    assert len(kids) == 2, "the slow service never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    time.sleep(0.5)
    assert not any(alive(k) for k in kids), "a service still starting outlived make run"
