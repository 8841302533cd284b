"""Start the services locally, wait until they answer, print their URLs, stop them on Ctrl-C.

Used by `make run` after the artifacts are built. HOST (default 127.0.0.1) is the address they listen on.
Ctrl-C, SIGTERM and SIGHUP stop every service; so does one of them dying (then the exit code is 1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # devtools: not part of the installed package

from clipwatch.paths import Paths
from clipwatch.reporting import run_reports
from devtools.processes import NotReady, serving_cmd, start, stop, webapp_cmd

ROOT = Path(__file__).resolve().parent.parent


def services(host: str, workspace: Path) -> dict[str, tuple[list[str], str, list[str]]]:
    """name -> (command, URL that answers 200 once it is ready, URLs to print)."""
    evidently = str(Path(sys.executable).with_name("evidently"))
    return {
        "serving API": (
            serving_cmd(8080, host),
            "http://127.0.0.1:8080/ready",
            ["http://localhost:8080/docs", "http://localhost:8080/metrics"],
        ),
        "web app": (webapp_cmd(8081, host), "http://127.0.0.1:8081/_stcore/health", ["http://localhost:8081"]),
        "report watcher": (
            [sys.executable, str(ROOT / "reporting" / "project.py"), "--watch"],
            "http://127.0.0.1:8083/metrics",
            ["http://localhost:8083/metrics"],
        ),
        "reports (Evidently)": (
            [evidently, "ui", "--host", host, "--port", "8082", "--workspace", str(workspace)],
            "http://127.0.0.1:8082/",
            ["http://localhost:8082"],
        ),
    }


class Stopped(Exception):
    """SIGTERM or SIGHUP: how a process manager or a closing terminal asks us to stop."""


def _stop_on_signal(signum, _frame) -> None:
    raise Stopped(signal.Signals(signum).name)


def supervise(table: dict[str, tuple[list[str], str, list[str]]], log_dir: Path) -> int:
    """Start every service, wait until it answers, print the URLs, and keep them running together.

    Stops them all on Ctrl-C, SIGTERM or SIGHUP (exit 0), or as soon as one of them dies (exit 1, naming
    it): a half-running stack is worse than none."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, (cmd, ready, _) in table.items():
            procs[name] = start(cmd, ready, log=log_dir / f"{name.replace(' ', '-')}.log", cwd=ROOT, timeout=120)
        print("\nclipwatch is running:")
        for name, (_, _, urls) in table.items():
            print(f"  {name:<20} {'  '.join(urls)}")
        print(f"logs in {log_dir}; Ctrl-C (or SIGTERM) stops everything.\n", flush=True)
        while True:
            dead = [name for name, p in procs.items() if p.poll() is not None]
            if dead:
                codes = ", ".join(f"{n} (exit {procs[n].returncode})" for n in dead)
                print(f"stopping everything: {codes} died; see {log_dir}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except NotReady as exc:
        print(f"{str(exc).splitlines()[0]}; see {log_dir}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stopped):
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP):  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        for p in procs.values():
            stop(p, timeout=10)


def main() -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    run_reports()  # the seed's shape: build the project first, then start the UI
    table = services(os.environ.get("HOST", "127.0.0.1"), Paths.from_settings().workspace)
    return supervise(table, ROOT / "build" / "logs")


if __name__ == "__main__":
    sys.exit(main())
