"""Which container engine runs clipwatch's images here: the one place that decides.

A `docker` binary proves nothing: machines ship the client with no engine behind it. Docker counts
only when `docker info` reaches an engine and `docker compose version` answers; otherwise Podman
with podman-compose, installed by ../shared/containers/prepare-podman.sh when it is missing (that
script also builds the local `python:3.11-slim` stand-in no registry here can serve).
CONTAINER_ENGINE (docker|podman) and COMPOSE (the compose command line) override the choice;
PREPARE_PODMAN names another copy of the install script.

    python scripts/container_engine.py            # print the choice and why
    python scripts/container_engine.py --prepare  # and make it usable (installs Podman if needed)

Used by `make compose-test` and scripts/compose_test.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREPARE_PODMAN = Path(os.environ.get("PREPARE_PODMAN", ROOT.parent / "shared" / "containers" / "prepare-podman.sh"))
PODMAN_COMPOSE = ["podman-compose"]
DOCKER_COMPOSE = ["docker", "compose"]


@dataclass(frozen=True)
class Choice:
    engine: str  # the CLI that runs, inspects and execs containers
    compose: list[str]  # the compose command line
    reason: str
    needs_install: bool = False  # Podman chosen but not (fully) installed yet

    def describe(self) -> str:
        return f"container engine: {self.engine} ({' '.join(self.compose)}): {self.reason}"


def _answers(run: Callable[..., subprocess.CompletedProcess], cmd: list[str]) -> tuple[bool, str]:
    """Whether cmd exits 0 within 20 s, and the last line it printed (the reason when it didn't)."""
    try:
        proc = run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, type(exc).__name__
    out = (proc.stderr or proc.stdout or "").strip().splitlines()
    return proc.returncode == 0, (out[-1] if out else f"exit {proc.returncode}")


def choose(
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    env: Mapping[str, str] = os.environ,
) -> Choice:
    forced = env.get("CONTAINER_ENGINE")
    if forced:
        compose = env.get("COMPOSE", " ".join(PODMAN_COMPOSE if forced == "podman" else DOCKER_COMPOSE)).split()
        return Choice(forced, compose, "set by CONTAINER_ENGINE")

    if which("docker"):
        engine_ok, why = _answers(run, ["docker", "info"])
        if engine_ok:
            compose_ok, why = _answers(run, [*DOCKER_COMPOSE, "version"])
            if compose_ok:
                return Choice("docker", DOCKER_COMPOSE, "`docker info` reaches an engine and `docker compose` answers")
            docker_says = f"a Docker engine answers but `docker compose version` does not ({why})"
        else:
            docker_says = f"a docker client is on PATH but `docker info` reaches no engine ({why})"
    else:
        docker_says = "no docker client on PATH"

    missing = [tool for tool in ("podman", "podman-compose") if not which(tool)]
    if missing:
        return Choice("podman", PODMAN_COMPOSE, f"{docker_says}; {', '.join(missing)} not installed yet", True)
    return Choice("podman", PODMAN_COMPOSE, f"{docker_says}; podman and podman-compose are installed")


def prepare(choice: Choice, script: Path = PREPARE_PODMAN) -> None:
    """Make the chosen engine usable. prepare-podman.sh is idempotent, and also builds the base
    image stand-in, so it runs whenever Podman is the choice and the script is here."""
    if choice.engine != "podman":
        return
    if script.is_file():
        subprocess.run(["bash", str(script)], check=True)
    elif choice.needs_install:
        raise SystemExit(f"container engine: Podman is needed but not installed, and {script} is not here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", action="store_true", help="install or set up the chosen engine")
    args = parser.parse_args(argv)
    choice = choose()
    print(choice.describe(), flush=True)
    if args.prepare:
        prepare(choice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
