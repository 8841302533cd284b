"""Start the services locally, wait until they answer, print their URLs, stop them on Ctrl-C.

Used by `make run` after the artifacts are built.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "serving API": {
        "cmd": [
            sys.executable,
            "-m",
            "uvicorn",
            "api:app",
            "--app-dir",
            str(ROOT / "serving"),
            "--host",
            os.environ.get("HOST", "127.0.0.1"),
            "--port",
            "8080",
        ],
        "ready": "http://127.0.0.1:8080/ready",
        "urls": ["http://localhost:8080/docs", "http://localhost:8080/metrics"],
    },
    "web app": {
        "cmd": [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "webapp" / "app.py"),
            "--server.port",
            "8081",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        "ready": "http://127.0.0.1:8081/_stcore/health",
        "urls": ["http://localhost:8081"],
    },
    "report watcher": {
        "cmd": [sys.executable, str(ROOT / "reporting" / "project.py"), "--watch"],
        "ready": "http://127.0.0.1:8083/metrics",
        "urls": ["http://localhost:8083/metrics"],
    },
    "reports (Evidently)": {
        "cmd": [
            "evidently",
            "ui",
            "--host",
            os.environ.get("HOST", "127.0.0.1"),
            "--port",
            "8082",
            "--workspace",
            "WORKSPACE",
        ],
        "ready": "http://127.0.0.1:8082/",
        "urls": ["http://localhost:8082"],
    },
}


def main() -> int:
    from clipwatch.reporting import run_reports, workspace_dir
    from clipwatch.settings import get_settings

    os.environ.setdefault("DO_NOT_TRACK", "1")
    workspace = workspace_dir(get_settings())
    run_reports()  # the seed's shape: build the project first, then start the UI
    for svc in SERVICES.values():
        svc["cmd"] = [str(workspace) if part == "WORKSPACE" else part for part in svc["cmd"]]
        if svc["cmd"][0] == "evidently":
            svc["cmd"][0] = str(Path(sys.executable).with_name("evidently"))
    procs: dict[str, subprocess.Popen] = {}
    log_dir = ROOT / "build" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name, svc in SERVICES.items():
            log = open(log_dir / f"{name.replace(' ', '-')}.log", "w")  # noqa: SIM115 - lives as long as the child
            procs[name] = subprocess.Popen(svc["cmd"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        for name, svc in SERVICES.items():
            deadline = time.time() + 120
            while True:
                if procs[name].poll() is not None:
                    print(f"{name} exited; see {log_dir}", file=sys.stderr)
                    return 1
                try:
                    if httpx.get(svc["ready"], timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    print(f"{name} did not become ready in 120 s; see {log_dir}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        print("\nclipwatch is running:")
        for name, svc in SERVICES.items():
            print(f"  {name:<20} {'  '.join(svc['urls'])}")
        print(f"logs in {log_dir}; Ctrl-C stops everything.\n", flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
