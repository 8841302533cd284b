"""`make scale-test`: the Compose `scale` profile for real, under mixed load, then torn down.

On a fresh copy of the repository (as compose-test makes it), with a .env that turns on PostgreSQL:
  1. `compose --profile scale up`: init builds the artifacts; PostgreSQL, API_REPLICAS (3) API replicas
     behind nginx on 8090 (least-connections, uploads streamed), the one trainer, the rest of the stack;
  2. mixed load through the balancer for --minutes: single predictions and batches without pause,
     and feedback given --delay-s after its prediction, one row every --feedback-every-s (k = RETRAIN_EVERY_K);
  3. required: no failed request; every acknowledged feedback row in the database exactly once; the
     feedback count's multiples of k each answered by exactly one retrain; at least three retrains
     published; every replica serving each new version within 2 s of its publication (from the
     containers' own log timestamps: the trainer's publication line, each replica's "is live" line);
     every replica served predictions.

Figures go to benchmarks/results/scale.json. Under Podman, the official postgres:15 and nginx:1.22
images are stood in for by ../shared/containers/standins.sh (built here if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from compose_test import CHOICE, COMPOSE, ENGINE, CheckFailed, compose, containers, dump_logs, fresh_copy, ready

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
STANDINS = ROOT.parent / "shared" / "containers" / "standins.sh"
BALANCER = "http://127.0.0.1:8090"
PROFILE = ["--profile", "scale"]
LIVE = re.compile(r"model (v\d+) is live")
PUBLISHED = re.compile(r"retrain \w+ \(.*\): promoted \(")


def log(msg: str) -> None:
    print(f"scale-test: {msg}", flush=True)


def write_env(repo: Path, k: int, replicas: int) -> str:
    password = secrets.token_urlsafe(18)
    (repo / ".env").write_text(
        f"POSTGRES_PASSWORD={password}\n"
        f"CLIPWATCH_DATABASE_URL=postgresql://clipwatch:{password}@postgres:5432/clipwatch\n"
        f"API_REPLICAS={replicas}\nRETRAIN_EVERY_K={k}\nPROMOTION_POLICY=always\nCLIPWATCH_TRAIN_JOBS=1\n"
        "API_URL=http://balancer:8080\n"
        # The load's three uploading threads stand for three users but share this host's one address, and
        # the balancer may send all three to one replica: at the default of 2 slots per address the third
        # is refused (503 busy), as it should be for one client.
        "MAX_UPLOADS_PER_CLIENT=3\n"
    )
    return password


def standins() -> None:
    if ENGINE != "podman":
        return
    missing = [
        n
        for n in ("postgres:15", "nginx:1.22")
        if subprocess.run([ENGINE, "image", "exists", f"docker.io/library/{n}"], check=False).returncode
    ]
    if missing:
        if not STANDINS.is_file():
            raise SystemExit(f"scale-test: no image for {', '.join(missing)} and no {STANDINS} to build stand-ins")
        log(f"building stand-ins for {', '.join(missing)}")
        subprocess.run(["bash", str(STANDINS), *(n.split(":")[0] for n in missing)], check=True, timeout=900)


def stamped_logs(name: str) -> list[tuple[float, str]]:
    out = subprocess.run([ENGINE, "logs", "--timestamps", name], capture_output=True, text=True, check=False)
    lines = []
    for line in (out.stdout + out.stderr).splitlines():
        stamp, _, text = line.partition(" ")
        try:
            # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
            base, _, frac = stamp.rstrip("Z").partition(".")
            tz = re.search(r"[+-]\d\d:\d\d$", frac)
            frac_digits = re.sub(r"[+-]\d\d:\d\d$", "", frac)[:6].ljust(6, "0")
            when = datetime.fromisoformat(f"{base}.{frac_digits}{tz.group() if tz else '+00:00'}").timestamp()
        except ValueError:
            continue
        lines.append((when, text))
    return lines


class Load:
    """Predictions, batches and delayed feedback through the balancer, counting every failure."""

    def __init__(self, key: str, clips: list[Path], delay_s: float, feedback_every_s: float):
        self.auth = {"Authorization": f"Bearer {key}"}
        self.clips, self.delay_s, self.every_s = clips, delay_s, feedback_every_s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"predict": 0, "batch": 0, "feedback": 0}
        self.failures: list[str] = []
        self.pending: list[tuple[float, str, str]] = []  # (predicted at, prediction id, true class)
        self.acknowledged: list[str] = []
        self.clip_i = 0

    def _clip(self) -> Path:
        with self.lock:
            self.clip_i += 1
            return self.clips[self.clip_i % len(self.clips)]

    def _failed(self, what: str, r) -> None:
        with self.lock:
            self.failures.append(f"{what}: {r if isinstance(r, str) else f'HTTP {r.status_code} {r.text[:200]}'}")

    def predictions(self) -> None:
        with httpx.Client(timeout=120) as c:
            while not self.stop.is_set():
                clip = self._clip()
                try:
                    r = c.post(f"{BALANCER}/predict", files={"file": (clip.name, clip.read_bytes())})
                except httpx.HTTPError as exc:
                    self._failed("predict", repr(exc))
                    continue
                if r.status_code != 200:
                    self._failed("predict", r)
                    continue
                with self.lock:
                    self.counts["predict"] += 1
                    self.pending.append((time.monotonic(), r.json()["prediction_id"], clip.parent.name))

    def batches(self) -> None:
        with httpx.Client(timeout=300) as c:
            while not self.stop.is_set():
                files = [("files", (p.name, p.read_bytes())) for p in (self._clip() for _ in range(4))]
                try:
                    r = c.post(f"{BALANCER}/predict/batch", files=files)
                except httpx.HTTPError as exc:
                    self._failed("batch", repr(exc))
                    continue
                if r.status_code != 200 or not all(item["ok"] for item in r.json()["items"]):
                    self._failed("batch", r)
                    continue
                with self.lock:
                    self.counts["batch"] += 1

    def feedback(self) -> None:
        with httpx.Client(timeout=60, headers=self.auth) as c:
            while not self.stop.is_set():
                self.stop.wait(self.every_s)
                with self.lock:
                    due = [p for p in self.pending if time.monotonic() - p[0] >= self.delay_s]
                    if not due:
                        continue
                    item = due[0]
                    self.pending.remove(item)
                _, pid, target = item
                try:
                    r = c.post(f"{BALANCER}/feedback", json={"prediction_id": pid, "target": target})
                except httpx.HTTPError as exc:
                    self._failed("feedback", repr(exc))
                    continue
                if r.status_code != 200:
                    self._failed("feedback", r)
                    continue
                with self.lock:
                    self.counts["feedback"] += 1
                    self.acknowledged.append(pid)


def score_through_balancer(repo: Path, key: str, clips: list[Path]) -> str:
    """`clipwatch score` pointed at the balancer, as a user scores a folder."""
    env = {**os.environ, "CLIPWATCH_API_KEY": key}
    cmd = [sys.executable, "-m", "clipwatch", "score", "--api", BALANCER, *map(str, clips)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        raise CheckFailed(f"clipwatch score through the balancer: {proc.stdout[-500:]}{proc.stderr[-500:]}")
    return proc.stdout.splitlines()[0]


def webapp_through_balancer() -> str:
    """The web app's API_URL is the balancer: its container reaches the replicas through nginx."""
    web = containers("clipwatch", "webapp")
    probe = (
        "import os, urllib.request as u; "
        "print(os.environ['API_URL'], u.urlopen(os.environ['API_URL'] + '/ready').status)"
    )
    out = subprocess.run([ENGINE, "exec", web[0], "python", "-c", probe], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.startswith("http://balancer:8080 200"):
        raise CheckFailed(f"the web app does not reach the API through the balancer: {out.stdout}{out.stderr}")
    return out.stdout.strip()


def stored_feedback(password: str) -> list[tuple[int, str]]:
    import psycopg

    url = f"postgresql://clipwatch:{password}@127.0.0.1:5432/clipwatch"
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT seq, prediction_id FROM feedback ORDER BY seq").fetchall()


def swap_delays(history: list[dict]) -> tuple[list[dict], list[str]]:
    """For each promotion: when the trainer logged it, and how long after that each replica went live on it."""
    trainer = containers("clipwatch", "trainer")
    published = [t for t, text in stamped_logs(trainer[0]) if PUBLISHED.search(text)] if trainer else []
    promoted = [e for e in history if e["outcome"] == "promoted"]
    replicas = containers("clipwatch", "serving-replica")
    live = {name: {m.group(1): t for t, text in stamped_logs(name) if (m := LIVE.search(text))} for name in replicas}
    rows, problems = [], []
    for entry, at in zip(promoted, published, strict=False):
        version = entry["new_version"]
        delays = {}
        for name in replicas:
            seen = live[name].get(version)
            if seen is None:
                problems.append(f"{name} never served {version}")
                continue
            delays[name] = round(max(0.0, seen - at), 2)
        rows.append({"version": version, "trigger_rows": entry["trigger_rows"], "swap_s": delays})
    return rows, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=6.0, help="how long the mixed load runs")
    ap.add_argument("--delay-s", type=float, default=120.0, help="feedback comes this long after its prediction")
    ap.add_argument("--k", type=int, default=10, help="RETRAIN_EVERY_K")
    # A retrain takes about 30 s here under this load: one row every 4 s gives each k rows 40 s.
    # Faster than k rows per retrain, triggers coalesce by design (one run answers several multiples).
    ap.add_argument("--feedback-every-s", type=float, default=4.0, help="pace of the delayed feedback")
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the copy and the stack in place")
    args = ap.parse_args()
    log(CHOICE.describe())
    if CHOICE.needs_install or not shutil.which(COMPOSE[0]):
        print(f"scale-test: {COMPOSE[0]} not found (`make compose-test` installs it)", file=sys.stderr)
        return 2
    standins()
    repo = fresh_copy()
    password = write_env(repo, args.k, args.replicas)
    results: dict = {
        "k": args.k,
        "replicas": args.replicas,
        "minutes": args.minutes,
        "feedback_delay_s": args.delay_s,
        "feedback_every_s": args.feedback_every_s,
    }
    t0, ok = time.time(), False
    try:
        log("building images, then `up` with the scale profile (init builds the artifacts first)")
        compose(repo, "docker-compose.yml", *PROFILE, "build", timeout=1800)
        compose(repo, "docker-compose.yml", *PROFILE, "up", "-d", timeout=1800)
        ready(f"{BALANCER}/ready", 600)
        ready("http://127.0.0.1:8085/metrics", 120)
        results["up_s"] = round(time.time() - t0, 1)
        names = containers("clipwatch", "serving-replica")
        if len(names) != args.replicas:
            raise CheckFailed(f"{len(names)} API replicas running, {args.replicas} asked for")
        key = (repo / "artifacts" / "secrets" / "api_key").read_text().strip()
        clips = sorted((repo / "data" / "videos").rglob("*.mp4"))
        load = Load(key, clips, args.delay_s, args.feedback_every_s)
        threads = [
            threading.Thread(target=f, daemon=True)
            for f in (load.predictions, load.predictions, load.batches, load.feedback)
        ]
        log(f"mixed load for {args.minutes:g} min through the balancer on 8090")
        for t in threads:
            t.start()
        time.sleep(args.minutes * 60)
        load.stop.set()
        for t in threads:
            t.join(300)
        time.sleep(max(10.0, 3 * args.k))  # the last retrain publishes
        deadline = time.time() + 300
        history_path = repo / "artifacts" / "history.jsonl"
        while True:  # wait for the trainer to answer every multiple of k the count reached
            history = (
                [json.loads(line) for line in history_path.read_text().splitlines() if line.strip()]
                if history_path.exists()
                else []
            )
            answered = sorted(e["trigger_rows"] for e in history if e.get("trigger") == "rows")
            if (not answered or answered[-1] >= len(load.acknowledged) // args.k * args.k) or time.time() > deadline:
                break
            time.sleep(2)
        stored = stored_feedback(password)
        results["score_through_balancer"] = score_through_balancer(repo, key, clips[:8])
        results["webapp_through_balancer"] = webapp_through_balancer()
        swaps, swap_problems = swap_delays(history)
        served = {n: sum("POST /predict " in text and " 200 " in text for _, text in stamped_logs(n)) for n in names}
        expected = [args.k * i for i in range(1, len(load.acknowledged) // args.k + 1)]
        results.update(
            requests=dict(load.counts),
            failed_requests=len(load.failures),
            failures=load.failures[:20],
            feedback_acknowledged=len(load.acknowledged),
            feedback_stored=len(stored),
            feedback_stored_once=sorted(p for _, p in stored) == sorted(load.acknowledged),
            positions_gapless=[s for s, _ in stored] == list(range(len(stored))),
            retrains=[{k: e.get(k) for k in ("trigger_rows", "outcome", "new_version", "duration_s")} for e in history],
            multiples_of_k=expected,
            answered=answered,
            swaps=swaps,
            max_swap_s=max((d for s in swaps for d in s["swap_s"].values()), default=None),
            predictions_served_by_replica=served,
        )
        problems = list(swap_problems)
        if load.failures:
            problems.append(f"{len(load.failures)} failed requests, e.g. {load.failures[0]}")
        if not results["feedback_stored_once"] or not results["positions_gapless"]:
            problems.append("acknowledged feedback rows and stored rows differ")
        if answered != expected:
            problems.append(f"retrains answered {answered}, the multiples of k were {expected}")
        if sum(e["outcome"] == "promoted" for e in history) < 3:
            problems.append("fewer than three retrains published")
        if results["max_swap_s"] is None or results["max_swap_s"] > 2.0:
            problems.append(f"a replica took {results['max_swap_s']} s to serve a new version (2 s allowed)")
        if not all(served.values()):
            problems.append(f"a replica served no predictions: {served}")
        results["problems"] = problems
        ok = not problems
    except Exception as exc:
        log(f"FAILED: {exc}")
        results["error"] = str(exc)[-2000:]
        dump_logs()
    finally:
        if not args.keep:
            compose(repo, "docker-compose.yml", *PROFILE, "down", "-v", "-t", "5", timeout=300, check=False)
            shutil.rmtree(repo, ignore_errors=True)
        results.update(ok=ok, total_s=round(time.time() - t0, 1))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for key in (
        "requests",
        "failed_requests",
        "score_through_balancer",
        "webapp_through_balancer",
        "feedback_acknowledged",
        "feedback_stored",
        "answered",
        "max_swap_s",
        "predictions_served_by_replica",
        "problems",
        "total_s",
    ):
        log(f"{key}: {results.get(key)}")
    log(("passed" if ok else "FAILED") + f" in {results['total_s']} s ({RESULTS})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
