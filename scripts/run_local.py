"""Start the services locally, wait until they answer, print their URLs, stop them on Ctrl-C.

Used by `make run` after the artifacts are built. HOST (default 127.0.0.1) is the address they listen on.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from clipwatch.paths import Paths
from clipwatch.processes import NotReady, serving_cmd, start, stop, webapp_cmd
from clipwatch.reporting import run_reports

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


def main() -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    run_reports()  # the seed's shape: build the project first, then start the UI
    table = services(os.environ.get("HOST", "127.0.0.1"), Paths.from_settings().workspace)
    log_dir = ROOT / "build" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        for name, (cmd, ready, _) in table.items():
            procs.append(start(cmd, ready, log=log_dir / f"{name.replace(' ', '-')}.log", cwd=ROOT, timeout=120))
        print("\nclipwatch is running:")
        for name, (_, _, urls) in table.items():
            print(f"  {name:<20} {'  '.join(urls)}")
        print(f"logs in {log_dir}; Ctrl-C stops everything.\n", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        return 1
    except NotReady as exc:
        print(f"{str(exc).splitlines()[0]}; see {log_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            stop(p, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
