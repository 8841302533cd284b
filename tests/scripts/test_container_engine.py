"""The container-engine chooser, with `which` and the engine commands faked: a `docker` binary
alone must never be taken for a Docker engine (CI's fresh machines ship just the client)."""

from __future__ import annotations

import subprocess

import pytest

from scripts.container_engine import Choice, choose, prepare


def fake(binaries: set[str], answers: dict[tuple[str, ...], tuple[int, str]]):
    """which() finds only `binaries`; run() answers each command from `answers` (exit code, stderr)."""
    calls: list[tuple[str, ...]] = []

    def which(name: str) -> str | None:
        return f"/usr/bin/{name}" if name in binaries else None

    def run(cmd, **_kw):
        calls.append(tuple(cmd))
        if cmd[0] not in binaries:
            raise FileNotFoundError(cmd[0])
        code, err = answers.get(tuple(cmd), (0, ""))
        return subprocess.CompletedProcess(cmd, code, stdout="", stderr=err)

    return which, run, calls


NO_ENGINE = {("docker", "info"): (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")}
NO_COMPOSE_PLUGIN = {("docker", "compose", "version"): (125, "unknown shorthand flag: 'f'")}


def test_docker_with_engine_and_compose_is_chosen():
    which, run, calls = fake({"docker", "podman", "podman-compose"}, {})
    choice = choose(which, run, env={})
    assert (choice.engine, choice.compose, choice.needs_install) == ("docker", ["docker", "compose"], False)
    assert ("docker", "info") in calls and ("docker", "compose", "version") in calls


@pytest.mark.parametrize("podman_installed", [True, False])
def test_docker_client_without_engine_falls_back_to_podman(podman_installed):
    binaries = {"docker"} | ({"podman", "podman-compose"} if podman_installed else set())
    which, run, _ = fake(binaries, NO_ENGINE)
    choice = choose(which, run, env={})
    assert (choice.engine, choice.compose) == ("podman", ["podman-compose"])
    assert choice.needs_install is not podman_installed
    assert "docker info" in choice.reason and "Cannot connect" in choice.reason
    assert choice.describe().startswith("container engine: podman (podman-compose): ")


def test_docker_engine_without_compose_plugin_falls_back_to_podman():
    which, run, _ = fake({"docker", "podman", "podman-compose"}, NO_COMPOSE_PLUGIN)
    choice = choose(which, run, env={})
    assert choice.engine == "podman" and "docker compose version" in choice.reason


def test_no_docker_and_half_installed_podman_needs_install():
    which, run, _ = fake({"podman"}, {})
    choice = choose(which, run, env={})
    assert choice.engine == "podman" and choice.needs_install and "podman-compose not installed" in choice.reason


def test_a_hanging_docker_client_counts_as_no_engine():
    def run(cmd, **_kw):
        raise subprocess.TimeoutExpired(cmd, 20)

    which, _, _ = fake({"docker", "podman", "podman-compose"}, {})
    choice = choose(which, run, env={})
    assert choice.engine == "podman" and "TimeoutExpired" in choice.reason


def test_environment_overrides_the_probe():
    which, run, calls = fake(set(), {})
    choice = choose(which, run, env={"CONTAINER_ENGINE": "podman", "COMPOSE": "podman compose"})
    assert (choice.engine, choice.compose) == ("podman", ["podman", "compose"]) and calls == []


def test_prepare_without_the_install_script_says_so(tmp_path):
    missing = Choice("podman", ["podman-compose"], "test", needs_install=True)
    with pytest.raises(SystemExit, match="not installed"):
        prepare(missing, tmp_path / "prepare-podman.sh")
    prepare(Choice("docker", ["docker", "compose"], "test"), tmp_path / "absent.sh")  # nothing to install
