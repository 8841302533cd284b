"""Prometheus and Grafana provisioning: the config is valid, a real Prometheus scrapes the API, the dashboard asks for
series that exist."""

import json
import re
import shutil
import subprocess
import time

import httpx
import pytest
import yaml

from clipwatch.settings import PROJECT_ROOT
from devtools.processes import free_port, start, stop
from tests.service.conftest import clip_bytes

MONITORING = PROJECT_ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "clipwatch.json"


def _needs(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed (Debian package 'prometheus')")
    return path


def test_promtool_accepts_the_config():
    res = subprocess.run(
        [_needs("promtool"), "check", "config", str(MONITORING / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_alert_rules_fire_on_what_they_watch_and_not_otherwise():
    """monitoring/alerts_test.yml feeds each rule series built to fire it, and healthy ones."""
    res = subprocess.run(
        [_needs("promtool"), "test", "rules", "alerts_test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {
        "ClipwatchApiErrors",
        "ClipwatchPredictSlow",
        "ClipwatchDriftDetected",
        "ClipwatchLowF1",
        "ClipwatchReportsStale",
        "ClipwatchRetrainFailing",
    }
    assert "alerts.yml" in yaml.safe_load((MONITORING / "prometheus.yml").read_text())["rule_files"]


def test_grafana_provisioning_points_at_the_dashboard_and_datasource():
    ds = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    dash = json.loads(DASHBOARD.read_text())
    assert {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]} == {uid}
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for needed in (
        "requests per second",
        "p95 latency",
        "predictions by label",
        "confidence",
        "rolling accuracy",
        "drifted",
        "quality",
        "model version",
        "retrains",
        "firing alerts",
    ):
        assert needed in titles, needed


@pytest.mark.slow
def test_real_prometheus_scrapes_the_api_and_finds_every_dashboard_series(live_server, videos, tmp_path):
    prometheus = _needs("prometheus")
    server = live_server(retrain_every_k=0)
    with httpx.Client(base_url=server.url, timeout=60, headers=server.auth) as c:
        pid = c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).json()["prediction_id"]
        c.post("/feedback", json={"prediction_id": pid, "target": "walk"})
        api_metrics = c.get("/metrics").text
    # Every series the dashboard queries is exported by the API or by the report watcher.
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("project", PROJECT_ROOT / "reporting" / "project.py")
    project = module_from_spec(spec)
    spec.loader.exec_module(project)
    report_series = {f"clipwatch_report_{k}" for k in project.GAUGES}
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    for name in {n for e in exprs for n in re.findall(r"clipwatch_[a-z0-9_]+", e)}:
        base = re.sub(r"_(bucket|total|count|sum)$", "", name)
        assert name in api_metrics or base in api_metrics or name in report_series, name

    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["scrape_configs"] = [c for c in config["scrape_configs"] if c["job_name"] == "clipwatch-serving"]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [server.url.removeprefix("http://")]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "alerts.yml").write_text((MONITORING / "alerts.yml").read_text())
    port = free_port()
    cmd = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    proc = start(cmd, f"http://127.0.0.1:{port}/-/ready", log=tmp_path / "prometheus.log")
    try:
        found, deadline = {}, time.time() + 60
        wanted = [
            "clipwatch_requests_total",
            "clipwatch_model_version",
            "clipwatch_feedback_rows",
            "clipwatch_predictions_total",
            "clipwatch_rolling_accuracy",
            'clipwatch_model_info{pooling="mean+motion",k="8"}',
            "process_resident_memory_bytes",
            "python_gc_collections_total",
        ]
        while time.time() < deadline and len(found) < len(wanted):
            time.sleep(1)
            for q in wanted:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": q}, timeout=5).json()
                except httpx.HTTPError:
                    continue
                if r.get("data", {}).get("result"):
                    found[q] = r["data"]["result"]
        assert set(found) == set(wanted), set(wanted) - set(found)
        assert float(found["clipwatch_feedback_rows"][0]["value"][1]) == 1.0
        rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert len(rules[0]["rules"]) == len(
            yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
        )
    finally:
        stop(proc)
