"""The Compose files' secure defaults, read from the files themselves (make compose-test runs them)."""

from __future__ import annotations

import re

import yaml

from clipwatch.settings import PROJECT_ROOT

PUBLIC = {"serving-api", "webapp"}  # the scale profile's balancer binds loopback unless BALANCER_BIND says


LOOPBACK = re.compile(r"^(127\.0\.0\.1|\$\{\w+:-127\.0\.0\.1\}):")


def load(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((PROJECT_ROOT / name).read_text())["services"]


def test_only_the_api_and_the_web_app_listen_beyond_the_host():
    for file in ("docker-compose.yml", "reporting/docker-compose.yml"):
        for name, svc in load(file).items():
            for port in svc.get("ports", []):
                # loopback, or a variable whose default is loopback (the balancer: BALANCER_BIND)
                assert name in PUBLIC or LOOPBACK.match(str(port)), (file, name, port)


def test_long_running_services_are_locked_down():
    services = load()
    for name in ("serving-api", "webapp", "reporting", "report-watcher"):
        svc = services[name]
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert any(t.startswith("/tmp:size=") for t in svc["tmpfs"]), name


def test_no_default_password_and_secrets_come_from_init():
    services = load()
    grafana = services["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana and grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert "change-me" not in (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert services["webapp"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert "./artifacts/secrets:/artifacts/secrets:ro" in services["webapp"]["volumes"]


def test_the_per_component_files_use_the_handouts_container_names():
    names = {f: load(f"{f}/docker-compose.yml") for f in ("serving", "webapp", "reporting")}
    assert names["serving"]["serving-api"]["container_name"] == "serving-api"
    assert names["webapp"]["webapp"]["container_name"] == "webapp"
    assert names["reporting"]["reporting"]["container_name"] == "reporting"
    # The web app's entry point is webapp/api.py, as the handout names it.
    assert "webapp/api.py" in (PROJECT_ROOT / "webapp" / "Dockerfile").read_text()


def test_the_watcher_is_its_own_service_and_the_long_running_ones_have_healthchecks():
    services = load()
    assert services["report-watcher"]["command"] == ["python", "reporting/project.py", "--watch"]
    assert "--watch" not in " ".join(services["reporting"]["command"])  # no unsupervised background job
    assert services["report-watcher"]["restart"] == "unless-stopped"
    for name, port in (("serving-api", 8080), ("webapp", 8081), ("reporting", 8082), ("report-watcher", 8083)):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/" in check, name


def test_images_are_tagged_with_the_package_version_everywhere():
    """Two builds of one release carry one tag; a new release never overwrites the last one's images."""
    from clipwatch import __version__

    for file in (
        "docker-compose.yml",
        "serving/docker-compose.yml",
        "webapp/docker-compose.yml",
        "reporting/docker-compose.yml",
    ):
        for name, svc in load(file).items():
            if svc.get("image", "").startswith("clipwatch-"):
                assert svc["image"].split(":")[1] == __version__, (file, name, svc["image"])
    kustomization = yaml.safe_load((PROJECT_ROOT / "k8s" / "kustomization.yaml").read_text())
    assert {i["name"]: i["newTag"] for i in kustomization["images"]} == {
        f"clipwatch-{c}": __version__ for c in ("serving", "webapp", "reporting", "bootstrap")
    }


def test_one_multi_stage_dockerfile_and_the_per_component_files_follow_it():
    import subprocess
    import sys

    services = load()
    targets = {name: svc["build"]["target"] for name, svc in services.items() if "build" in svc}
    assert targets == {
        "init": "bootstrap",
        "serving-api": "serving",
        "webapp": "webapp",
        "reporting": "reporting",
        "report-watcher": "reporting",
    }
    root = (PROJECT_ROOT / "Dockerfile").read_text()
    assert root.count("FROM python:3.11-slim AS base") == 1 and root.count("FROM base AS ") == 4
    # Every pip install in a stage uses the shared cache mount, which never ends up in an image.
    installs = [line for line in root.splitlines() if "pip install" in line and line.startswith("RUN")]
    assert installs and all("--mount=type=cache,target=/root/.cache/pip" in line for line in installs)
    check = subprocess.run(
        [sys.executable, "scripts/dockerfiles.py", "--check"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    # A stale copy is caught: the check compares the text, not just that the files exist.
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from dockerfiles import render

    assert (
        render("serving", root.replace("EXPOSE 8080", "EXPOSE 9090"))
        != (PROJECT_ROOT / "serving" / "Dockerfile").read_text()
    )


def test_one_trainer_retrains_and_the_scale_profile_balances_replicas():
    services = load()
    assert services["trainer"]["command"][:2] == ["clipwatch", "trainer"]
    for name in ("serving-api", "serving-replica"):
        assert services[name]["environment"]["CLIPWATCH_TRAINER"] == "external", name  # replicas never retrain
    assert services["serving-replica"]["deploy"]["replicas"] == "${API_REPLICAS:-3}"
    assert services["balancer"]["image"] == "nginx:1.22" and "scale" in services["balancer"]["profiles"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"  # no default
    conf = (PROJECT_ROOT / "serving" / "nginx.conf").read_text()
    for directive in (
        "least_conn;",
        "proxy_request_buffering off;",
        "client_max_body_size 0;",
        "server_tokens off;",
        "proxy_set_header X-Forwarded-For $remote_addr;",  # the client's own header is never passed on
        "limit_conn per_client_conn",
        "limit_req zone=per_client_req",
        "client_header_timeout",
        "access_log /dev/stdout",
    ):
        assert directive in conf, directive
    replica = services["serving-replica"]["environment"]
    assert replica["CLIPWATCH_TRUSTED_PROXIES"] and replica["CLIPWATCH_MAX_UPLOADS_PER_CLIENT"]


def test_only_the_publishers_write_artifacts_and_the_reports_see_no_secret():
    services = load()
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            if str(volume).startswith("./artifacts:/artifacts"):
                writes = not str(volume).endswith(":ro")
                assert writes == (name in {"init", "trainer"}), (name, volume)
    for name in ("reporting", "report-watcher"):  # the folder init wrote the secrets to, hidden by a tmpfs
        assert any(t.startswith("/artifacts/secrets:") for t in services[name]["tmpfs"]), name
