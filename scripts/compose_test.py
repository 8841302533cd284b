"""`make compose-test`: build every image and run the Compose stacks for real, then tear them down.

Works on a copy of the repository whose data/ and artifacts/ are empty, as on a fresh clone, so the
init service has to build everything and the developer's own folders are never touched.

  1. build each image with the compose file (timed; sizes recorded, base image subtracted);
  2. check serving, webapp and reporting images carry no torch and run as a non-root user;
  3. `up -d` the top-level stack: init builds dataset, backbone, ref_data.csv and model, then the
     services start; wait on their ports (compose healthchecks don't run under Podman);
  4. /predict a clip on 8080, /feedback it, and find the row in ./data/prod_data.csv on the host;
  5. drive the web app on 8081 in headless Chromium: upload, Predict, Send feedback (one more row);
  6. the Evidently UI on 8082 lists the clipwatch project, the watcher's gauges answer on 8083, and a
     host Prometheus (Debian package, when installed) scrapes 8080 and 8083;
  7. tear down, then the seed's per-component files: serving, then webapp (which must reach
     `serving-api` by name over `serving_prod_net`), then reporting.

Always tears down; prints every container's log on failure. Figures go to build/compose-test.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from container_engine import choose

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devtools: the project's helpers, not part of the installed package

from clipwatch import __version__  # noqa: E402
from devtools.processes import NotReady, start, stop, wait_http  # noqa: E402

RESULTS = ROOT / "build" / "compose-test.json"
CHOICE = choose()
ENGINE, COMPOSE = CHOICE.engine, CHOICE.compose
BASE_IMAGE = "python:3.11-slim"
TAG = __version__  # the images are tagged with the package version (docker-compose.yml says so too)
IMAGES = {  # compose service -> image, as named in docker-compose.yml
    "init": f"clipwatch-bootstrap:{TAG}",
    "serving-api": f"clipwatch-serving:{TAG}",
    "webapp": f"clipwatch-webapp:{TAG}",
    "reporting": f"clipwatch-reporting:{TAG}",
}
# MB over the base image, at most (docs/containers.md gives the measured sizes and what fills them).
SIZE_LIMITS_MB = {f"clipwatch-serving:{TAG}": 800, f"clipwatch-webapp:{TAG}": 640}
# The seed's per-component Dockerfiles -> the root Dockerfile's stage each one copies.
SEED_DOCKERFILES = {"serving": "serving", "webapp": "webapp", "reporting": "reporting", "export": "bootstrap"}
SEED_FILES = ["serving/docker-compose.yml", "webapp/docker-compose.yml", "reporting/docker-compose.yml"]
CHROMIUM = "/usr/bin/chromium"


class CheckFailed(AssertionError):
    pass


def ready(url: str, timeout: float, ok=lambda r: True):
    """wait_http, failing the check rather than raising NotReady."""
    try:
        return wait_http(url, timeout, ok, interval=2)
    except NotReady as exc:
        raise CheckFailed(str(exc)) from None


def log(msg: str) -> None:
    print(f"compose-test: {msg}", flush=True)


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 600, check: bool = True) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise CheckFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def fresh_copy() -> Path:
    """The tracked and not-ignored files: what a clone (plus uncommitted work) holds, minus data."""
    dest = Path(tempfile.mkdtemp(prefix="clipwatch-compose-"))
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def compose(repo: Path, file: str, *args: str, timeout: float = 600, check: bool = True) -> str:
    return run([*COMPOSE, "-f", str(repo / file), *args], cwd=repo, timeout=timeout, check=check)


def containers(project: str, service: str | None = None) -> list[str]:
    filters = ["--filter", f"label=com.docker.compose.project={project}"]
    if service:
        filters += ["--filter", f"label=com.docker.compose.service={service}"]
    return run([ENGINE, "ps", "-a", *filters, "--format", "{{.Names}}"], check=False).split()


def container_exec(project: str, service: str, *cmd: str) -> str:
    names = containers(project, service)
    if not names:
        raise CheckFailed(f"no container for {project}/{service}")
    return run([ENGINE, "exec", names[0], *cmd], timeout=60)


def get_json(url: str, headers: dict | None = None) -> dict | list:
    r = httpx.get(url, timeout=30, headers=headers)
    if r.status_code != 200:
        raise CheckFailed(f"GET {url}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def image_size_mb(image: str) -> float:
    return int(run([ENGINE, "image", "inspect", "--format", "{{.Size}}", image]).strip()) / 1e6


def prod_rows(repo: Path) -> int:
    path = repo / "data" / "prod_data.csv"
    if not path.exists():
        return 0
    return max(0, len(path.read_text().splitlines()) - 1)


class Run:
    def __init__(self) -> None:
        self.results: dict = {"engine": " ".join(COMPOSE), "checks": [], "build_s": {}, "image_mb": {}}

    def check(self, name: str, fn):
        t0 = time.time()
        log(f"-> {name}")
        detail = fn()
        seconds = round(time.time() - t0, 1)
        self.results["checks"].append({"check": name, "ok": True, "seconds": seconds, "detail": detail})
        log(f"ok {name} ({seconds} s){': ' + str(detail) if detail else ''}")
        return detail


def build_images(r: Run, repo: Path) -> None:
    for service, image in IMAGES.items():
        t0 = time.time()
        compose(repo, "docker-compose.yml", "build", service, timeout=1800)
        r.results["build_s"][image] = round(time.time() - t0, 1)
        log(f"built {image} in {r.results['build_s'][image]} s")
    base = image_size_mb(BASE_IMAGE)
    r.results["base_image_mb"] = round(base, 1)
    for image in IMAGES.values():
        total = image_size_mb(image)
        r.results["image_mb"][image] = {"total": round(total, 1), "over_base": round(total - base, 1)}
    over = {
        image: (r.results["image_mb"][image]["over_base"], limit)
        for image, limit in SIZE_LIMITS_MB.items()
        if r.results["image_mb"][image]["over_base"] > limit
    }
    if over:
        raise CheckFailed(f"images over their size limit (MB over base, limit): {over}")


def rebuild_after_code_change(r: Run, repo: Path) -> str:
    """Only code changed: the lock's layer comes from the cache, and the rebuild takes seconds."""
    init = repo / "clipwatch" / "__init__.py"
    init.write_text(init.read_text() + "# a code change (compose-test)\n")
    t0 = time.time()
    compose(repo, "docker-compose.yml", "build", "serving-api", timeout=1800)
    r.results["rebuild_after_code_change_s"] = seconds = round(time.time() - t0, 1)
    first = r.results["build_s"][IMAGES["serving-api"]]
    return f"serving rebuilt in {seconds} s after a code-only change (first build {first} s)"


def seed_dockerfiles(repo: Path) -> str:
    """`docker build -f serving/Dockerfile .` and the others still build, to the same layers as the root file."""
    times = {}
    for folder, stage in SEED_DOCKERFILES.items():
        t0 = time.time()
        tag = f"clipwatch-seedcheck-{folder}:{TAG}"
        run([ENGINE, "build", "-q", "-f", f"{folder}/Dockerfile", "-t", tag, "."], cwd=repo, timeout=1800)
        times[folder] = round(time.time() - t0, 1)
        ours = run([ENGINE, "image", "inspect", "--format", "{{.Id}}", tag]).strip()
        root = run([ENGINE, "image", "inspect", "--format", "{{.Id}}", f"clipwatch-{stage}:{TAG}"]).strip()
        run([ENGINE, "rmi", tag], check=False)
        if ours != root:
            raise CheckFailed(
                f"{folder}/Dockerfile built {ours[:12]}, not the root Dockerfile's {stage} stage {root[:12]}"
            )
    return f"each is the root file's stage, layer for layer (s: {times})"


def check_images() -> str:
    model_stack = ("onnxruntime", "sklearn", "scipy", "decord", "matplotlib", "joblib")
    probe = f"import importlib.util as u; print([m for m in {model_stack!r} if u.find_spec(m)])"
    lacks = run([ENGINE, "run", "--rm", IMAGES["webapp"], "python", "-c", probe], timeout=120).strip()
    if lacks != "[]":
        raise CheckFailed(f"the web app image carries the model stack: {lacks}")
    for image in (IMAGES["serving-api"], IMAGES["webapp"], IMAGES["reporting"]):
        out = run(
            [
                ENGINE,
                "run",
                "--rm",
                image,
                "python",
                "-c",
                "import importlib.util as u, os; "
                "print(os.getuid(), u.find_spec('torch') is not None, u.find_spec('clipwatch') is not None)",
            ],
            timeout=120,
        ).split()
        if out != ["10001", "False", "True"]:
            raise CheckFailed(f"{image}: uid, has torch, has clipwatch = {out}; want 10001 False True")
    return "serving, webapp, reporting: uid 10001, no torch, clipwatch installed; web app without the model stack"


def secret(repo: Path, name: str) -> str:
    """What init generated into ./artifacts/secrets (the test runs as root: the files are uid 10001's)."""
    return (repo / "artifacts" / "secrets" / name).read_text().strip()


def closed_by_default(repo: Path) -> str:
    """With no key in .env: writes without the generated key are refused, the other ports are local only."""
    anonymous = httpx.post("http://127.0.0.1:8080/feedback", json={"prediction_id": "0" * 32, "target": "x"})
    if anonymous.status_code != 401:
        raise CheckFailed(f"/feedback without a key: HTTP {anonymous.status_code}, want 401")
    for service in ("reporting", "report-watcher"):
        published = run([ENGINE, "port", containers("clipwatch", service)[0]])
        if any(not line.split("->")[-1].strip().startswith("127.0.0.1:") for line in published.splitlines() if line):
            raise CheckFailed(f"{service} publishes beyond localhost: {published}")
    modes = {
        n: oct((repo / "artifacts" / "secrets" / n).stat().st_mode & 0o777) for n in ("api_key", "webapp_password")
    }
    api = containers("clipwatch", "serving-api")[0]
    read_only = run([ENGINE, "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", api]).strip()
    if read_only != "true":
        raise CheckFailed(f"serving-api's root filesystem is writable ({read_only})")
    return (
        f"/feedback without the key: 401; reporting and report-watcher bound to 127.0.0.1; generated secrets {modes}; "
        "serving-api's root filesystem read-only"
    )


def predict_and_feedback(repo: Path) -> str:
    key = {"Authorization": f"Bearer {secret(repo, 'api_key')}"}
    classes = get_json("http://127.0.0.1:8080/model", headers=key)["classes"]
    clip = sorted((repo / "data" / "videos" / classes[0]).glob("*.mp4"))[0]
    before = prod_rows(repo)
    with clip.open("rb") as fh:
        resp = httpx.post("http://127.0.0.1:8080/predict", files={"file": (clip.name, fh, "video/mp4")}, timeout=120)
    if resp.status_code != 200:
        raise CheckFailed(f"/predict: HTTP {resp.status_code} {resp.text[:300]}")
    pred = resp.json()
    if pred["label"] not in classes or abs(sum(pred["probabilities"].values()) - 1) > 1e-3:
        raise CheckFailed(f"/predict answered {pred}")
    fb = httpx.post(
        "http://127.0.0.1:8080/feedback",
        json={"prediction_id": pred["prediction_id"], "target": classes[0]},
        headers=key,
        timeout=60,
    )
    if fb.status_code != 200 or fb.json()["rows"] != before + 1:
        raise CheckFailed(f"/feedback: HTTP {fb.status_code} {fb.text[:300]}")
    last = (repo / "data" / "prod_data.csv").read_text().splitlines()[-1]
    if prod_rows(repo) != before + 1 or classes[0] not in last:
        raise CheckFailed(f"row not on the host: {prod_rows(repo)} rows, last line ends {last[-80:]!r}")
    return (
        f"{clip.name}: predicted {pred['label']} ({pred['timings_ms']['total']:.0f} ms); row {before + 1} on the host"
    )


def browser_feedback(repo: Path) -> str:
    if not Path(CHROMIUM).exists():
        return f"skipped: {CHROMIUM} not installed"
    from playwright.sync_api import sync_playwright

    clip = sorted((repo / "data" / "videos").rglob("*.mp4"))[-1]
    before = prod_rows(repo)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto("http://127.0.0.1:8081", wait_until="networkidle")
            # Published beyond localhost, the web app takes feedback only from a signed-in visitor.
            page.locator("input[type=password]").fill(secret(repo, "webapp_password"))
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.get_by_text("Signed in: feedback is on.").wait_for(timeout=30_000)
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", str(clip))
            page.get_by_role("button", name="Predict").click()
            page.get_by_text("Predicted action").wait_for(timeout=120_000)
            page.get_by_role("button", name="Send feedback").click()
            page.get_by_text(f"prod_data.csv now has {before + 1} rows").wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(ROOT / "build" / "compose-webapp.png"), full_page=True)
            browser.close()
    if prod_rows(repo) != before + 1:
        raise CheckFailed(f"the web app's feedback did not land: {prod_rows(repo)} rows")
    return f"uploaded {clip.parent.name}/{clip.name}, predicted, feedback row {before + 1} on the host"


def reporting_ui() -> str:
    projects = ready("http://127.0.0.1:8082/api/projects", 180).json()
    names = [p.get("name") for p in projects]
    if "clipwatch" not in names:
        raise CheckFailed(f"Evidently UI lists {names}, not clipwatch")
    gauges = ready("http://127.0.0.1:8083/metrics", 60).text
    if "clipwatch_report_drift_detected" not in gauges:
        raise CheckFailed("watcher's /metrics lacks clipwatch_report_drift_detected")
    return "8082 lists the clipwatch project; 8083 serves the report gauges"


def host_prometheus(tmp: Path) -> str:
    prometheus = shutil.which("prometheus")
    if not prometheus:
        return "skipped: prometheus not installed"
    import yaml

    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    published = {
        "serving-api:8080": "127.0.0.1:8080",
        "trainer:8085": "127.0.0.1:8085",
        "report-watcher:8083": "127.0.0.1:8083",
    }
    # The stack runs without the `watch` profile here: its watcher's job is left out.
    config["scrape_configs"] = [
        j for j in config["scrape_configs"] if all(t in published for sc in j["static_configs"] for t in sc["targets"])
    ]
    for job in config["scrape_configs"]:
        for sc in job["static_configs"]:
            sc["targets"] = [published[t] for t in sc["targets"]]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ROOT / "monitoring" / "alerts.yml", tmp / "alerts.yml")
    cmd = [
        prometheus,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        "--web.listen-address=127.0.0.1:19090",
    ]
    try:
        proc = start(cmd, "http://127.0.0.1:19090/-/ready", log=tmp / "prometheus.log")
    except NotReady as exc:
        raise CheckFailed(str(exc)) from None
    try:

        def all_up(r) -> bool:
            targets = r.json()["data"]["activeTargets"]
            return len(targets) == len(published) and all(t["health"] == "up" for t in targets)

        ready("http://127.0.0.1:19090/api/v1/targets", 60, all_up)
        rules = httpx.get("http://127.0.0.1:19090/api/v1/rules", timeout=10).json()["data"]["groups"]
        n_rules = sum(len(g["rules"]) for g in rules)
        if not n_rules:
            raise CheckFailed("Prometheus loaded no alert rules from monitoring/alerts.yml")
        return f"all three jobs (serving 8080, trainer 8085, reporting 8083) up, {n_rules} alert rules loaded"
    finally:
        stop(proc)


def seed_layout(r: Run, repo: Path) -> None:
    r.check(
        "seed layout: serving/docker-compose.yml up", lambda: _up(repo, SEED_FILES[0], "http://127.0.0.1:8080/ready")
    )
    r.check(
        "seed layout: webapp/docker-compose.yml up on serving_prod_net",
        lambda: _up(repo, SEED_FILES[1], "http://127.0.0.1:8081/_stcore/health"),
    )

    def by_name() -> str:
        out = container_exec(
            "webapp",
            "webapp",
            "python",
            "-c",
            "import urllib.request as u; print(u.urlopen('http://serving-api:8080/ready', timeout=10).status)",
        ).strip()
        if out != "200":
            raise CheckFailed(f"webapp container got {out} from http://serving-api:8080/ready")
        return "webapp container -> http://serving-api:8080/ready: 200"

    r.check("seed layout: webapp reaches serving-api by name", by_name)
    r.check("seed layout: reporting/docker-compose.yml up", lambda: _up(repo, SEED_FILES[2], "http://127.0.0.1:8082/"))


def _up(repo: Path, file: str, ready_url: str) -> str:
    compose(repo, file, "up", "-d", timeout=600)
    ready(ready_url, 300)
    return f"{ready_url} answers"


def dump_logs() -> None:
    for project in ("clipwatch", "serving", "webapp", "reporting"):
        for name in containers(project):
            print(f"\n===== logs: {name} =====", flush=True)
            subprocess.run([ENGINE, "logs", "--tail", "150", name], check=False)


def tear_down(repo: Path) -> None:
    for file in [*SEED_FILES[::-1], "docker-compose.yml"]:
        compose(repo, file, "down", "-t", "5", timeout=300, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the images and test the Compose stacks for real.")
    parser.add_argument("--keep", action="store_true", help="leave the copy in place (its path is printed)")
    args = parser.parse_args()
    log(CHOICE.describe())
    if CHOICE.needs_install or not shutil.which(COMPOSE[0]):
        print(f"compose-test: {COMPOSE[0]} not found (`make compose-test` installs it)", file=sys.stderr)
        return 2
    repo = fresh_copy()
    log(f"fresh copy in {repo}")
    r, t0, ok = Run(), time.time(), False
    try:
        r.check("build images", lambda: build_images(r, repo))
        r.check("images: non-root, no torch where not needed", check_images)
        r.check("the per-component Dockerfiles build", lambda: seed_dockerfiles(repo))
        r.check("rebuild after a code-only change", lambda: rebuild_after_code_change(r, repo))
        r.check(
            "top-level stack up (init builds dataset, backbone, ref_data.csv, model)",
            lambda: compose(repo, "docker-compose.yml", "up", "-d", timeout=1800) and None,
        )
        r.check("init built the artifacts", lambda: _init_outputs(repo))
        r.check("serving-api ready on 8080", lambda: ready("http://127.0.0.1:8080/ready", 300) and None)
        r.check("closed by default: generated key, local-only ports", lambda: closed_by_default(repo))
        r.check("predict and feedback on 8080; row on the host", lambda: predict_and_feedback(repo))
        r.check("web app on 8081 in Chromium: predict and feedback", lambda: browser_feedback(repo))
        r.check("reporting UI on 8082 and gauges on 8083", reporting_ui)
        r.check("host Prometheus scrapes the published ports", lambda: host_prometheus(repo))
        compose(repo, "docker-compose.yml", "down", "-t", "5", timeout=300)
        seed_layout(r, repo)
        ok = True
    except Exception as exc:  # whatever broke, the logs and the tear-down follow
        log(f"FAILED: {exc}")
        r.results["error"] = str(exc)[-2000:]
        dump_logs()
    finally:
        tear_down(repo)
        r.results.update(ok=ok, total_s=round(time.time() - t0, 1))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(r.results, indent=2) + "\n")
        if not args.keep:
            shutil.rmtree(repo, ignore_errors=True)
    _table(r.results)
    return 0 if ok else 1


def _init_outputs(repo: Path) -> str:
    need = [repo / "artifacts" / "CURRENT", repo / "artifacts" / "backbone.onnx", repo / "data" / "ref_data.csv"]
    missing = [str(p.relative_to(repo)) for p in need if not p.exists()]
    if missing:
        raise CheckFailed(f"init left out {missing}")
    init = containers("clipwatch", "init")
    code = run([ENGINE, "inspect", "--format", "{{.State.ExitCode}}", init[0]]).strip() if init else "?"
    if code != "0":
        raise CheckFailed(f"init exited {code}")
    clips = len(list((repo / "data" / "videos").rglob("*.mp4")))
    return f"{clips} clips, model {(repo / 'artifacts' / 'CURRENT').read_text().strip()}, init exit 0"


def _table(results: dict) -> None:
    print("\n| image | build s | size MB | over base MB | limit MB |\n|---|---|---|---|---|")
    for image, size in results["image_mb"].items():
        limit = SIZE_LIMITS_MB.get(image, "-")
        print(f"| {image} | {results['build_s'].get(image)} | {size['total']} | {size['over_base']} | {limit} |")
    print("\n| check | s | ok |\n|---|---|---|")
    for c in results["checks"]:
        print(f"| {c['check']} | {c['seconds']} | yes |")
    if "rebuild_after_code_change_s" in results:
        print(f"\nserving rebuilt after a code-only change in {results['rebuild_after_code_change_s']} s")
    print(f"\ncompose-test: {'passed' if results['ok'] else 'FAILED'} in {results['total_s']} s ({RESULTS})")


if __name__ == "__main__":
    sys.exit(main())
