"""`make demo-video`: the retrain cycle, recorded from the real stack, as docs/demo.mp4.

Starts the serving API, the web app and the Evidently UI on a private copy of the artifacts (so the
demo always opens on version 1 and never touches your data), then drives headless Chromium
(Debian's /usr/bin/chromium, through Playwright): upload a clip, watch the preview, predict, read the
sampled frames and probabilities, send feedback; score a batch; make the timeline of a long recording
and jump to a segment; watch the same recording as a live stream until an alert reaches a webhook;
then shifted traffic from
`clipwatch simulate` fires retrains (every k rows, and the drift and performance triggers) while the
Model page shows versions arriving and which trigger started each; then the Evidently dashboard,
/docs and /metrics. Screenshots taken at a steady rate get a caption bar naming the step and are encoded as
H.264 1280x720. Also writes docs/demo.json (each step's caption and time span, which the tests
check against the video), a poster frame and a short GIF of the loop.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_captions import BAR_HEIGHT, HEIGHT, WIDTH, caption_bar  # noqa: E402

from clipwatch.client.http import ApiClient  # noqa: E402
from clipwatch.contract import sidecar  # noqa: E402
from clipwatch.paths import Paths  # noqa: E402
from clipwatch.secrets import ensure_secrets  # noqa: E402
from clipwatch.settings import Settings  # noqa: E402
from devtools.processes import (  # noqa: E402
    NotReady,
    free_port,
    serving_cmd,
    start,
    stop,
    udp_source,
    udp_stream,
    webapp_cmd,
)

CHROMIUM = "/usr/bin/chromium"
FPS = 4
RETRAIN_EVERY_K = 20
TRAFFIC = 179  # with the one feedback sent in the browser: nine multiples of k
HELD_BACK = 120  # clips per held-back set, never fed back: the same yardstick before and after
DOCS = ROOT / "docs"
VIDEO_READY = "() => { const v = document.querySelector('video'); return !!v && v.readyState >= 2 }"
PLAY_VIDEO = "() => { const v = document.querySelector('video'); v.muted = true; v.loop = true; v.play() }"


class Stack:
    """API, web app and Evidently UI on free loopback ports, over a private copy of the artifacts."""

    def __init__(self, work: Path):
        src = Paths.from_settings(Settings())
        if not src.current_pointer.exists() or not src.ref_data.exists():
            raise SystemExit("demo-video: no model yet; run `make artifacts` first")
        # The live version only, as v0001 with no history: the demo's retrains start from it. (Not the
        # oldest: after a change of embedding the oldest no longer fits ref_data.csv, and the API refuses it.)
        dst = Paths(work / "data", work / "artifacts", src.backbone_name)
        self.data, self.artifacts = dst.data_dir, dst.artifacts_dir
        self.data.mkdir(parents=True)
        shutil.copy(src.ref_data, dst.ref_data)
        if sidecar(src.ref_data).is_file():  # the embedding contract it was built under
            shutil.copy(sidecar(src.ref_data), sidecar(dst.ref_data))
        first = src.current_pointer.read_text().strip()
        self.artifacts.mkdir()
        for item in src.artifacts_dir.iterdir():
            if item not in (src.versions, src.current_pointer, src.history):
                (shutil.copytree if item.is_dir() else shutil.copy)(item, self.artifacts / item.name)
        shutil.copytree(src.version_dir(first), dst.version_dir("v0001"))
        dst.current_pointer.write_text("v0001\n")
        ensure_secrets(dst.artifacts_dir / "secrets", env={})  # the API key the web app and the traffic use
        self.ports = {name: free_port() for name in ("api", "webapp", "evidently")}
        self.env = {
            **os.environ,
            "CLIPWATCH_DATA_DIR": str(self.data),
            "CLIPWATCH_ARTIFACTS_DIR": str(self.artifacts),
            "RETRAIN_EVERY_K": str(RETRAIN_EVERY_K),
            # The default gate: a challenger goes live only if it beats the champion and holds on the guard set.
            "PROMOTION_POLICY": "if_better",
            # Every trigger on, and quick, so that drift and falling F1 fire within the demo's minute of traffic.
            "RETRAIN_TRIGGERS": "rows,drift,performance",
            "CLIPWATCH_RETRAIN_MIN_INTERVAL_S": "0",
            "CLIPWATCH_TRIGGER_CHECK_S": "2",
            "CLIPWATCH_RETRAIN_F1_WINDOW": "10",
            "API_URL": self.url("api"),
            "DO_NOT_TRACK": "1",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
        self.env.pop("CLIPWATCH_API_KEY", None)
        self.procs: list[subprocess.Popen] = []
        self.held_back: dict = {}  # the held-back accuracies the demo measured, for docs/demo.json
        self.logs = work / "logs"
        self.logs.mkdir()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def settings(self) -> Settings:
        return Settings(data_dir=self.data, artifacts_dir=self.artifacts, _env_file=None)

    def start(self) -> None:
        evidently = str(Path(sys.executable).parent / "evidently")
        workspace = Paths.from_settings(self.settings()).workspace
        services = {
            "api": (serving_cmd(self.ports["api"]), "/ready"),
            "webapp": (webapp_cmd(self.ports["webapp"]), "/_stcore/health"),
            "evidently": (
                [
                    evidently,
                    "ui",
                    "--workspace",
                    str(workspace),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports["evidently"]),
                ],
                "/api/projects",
            ),
        }
        from clipwatch.reporting import run_reports

        run_reports(self.settings())  # creates the project, so the UI has something to open
        for name, (cmd, ready) in services.items():
            try:
                self.procs.append(
                    start(cmd, self.url(name) + ready, log=self.logs / f"{name}.log", env=self.env, timeout=120)
                )
            except NotReady as exc:
                raise SystemExit(f"demo-video: {name} did not start: {exc}") from None

    def stop(self) -> None:
        for p in self.procs:
            stop(p)


class Recorder:
    """Screenshots at a steady rate, each a frame of the video under the current caption."""

    def __init__(self, page):
        self.page = page
        self.frames: list[bytes] = []
        self.steps: list[dict] = []
        self.poster = 0
        self.next_tick = time.monotonic()

    def step(self, key: str, caption: str) -> None:
        if self.steps:
            self.steps[-1]["end_frame"] = len(self.frames)
        self.steps.append({"key": key, "caption": caption, "start_frame": len(self.frames)})
        print(f"demo-video: {caption}", flush=True)

    def snap(self) -> None:
        delay = self.next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for attempt in range(5):
            try:
                self.frames.append(self.page.screenshot(type="jpeg", quality=85, timeout=15_000))
                break
            except Exception as exc:  # a page that reloads itself (the webhook's) is briefly not attached
                transient = ("Not attached", "navigat", "Unable to capture screenshot", "Timeout")
                if not any(t.lower() in str(exc).lower() for t in transient):
                    raise
                if attempt == 4:
                    raise
                time.sleep(0.2)
        self.next_tick = max(self.next_tick + 1 / FPS, time.monotonic())

    def hold(self, seconds: float) -> None:
        for _ in range(round(seconds * FPS)):
            self.snap()

    def until(self, ready, timeout: float, max_seconds: float | None = None) -> None:
        """Film until ready() is true; past max_seconds of footage keep waiting without filming."""
        deadline, filmed = time.monotonic() + timeout, 0
        while not ready():
            if time.monotonic() > deadline:
                shot = ROOT / "build" / "demo-timeout.png"
                shot.parent.mkdir(exist_ok=True)
                self.page.screenshot(path=str(shot), full_page=True)
                raise SystemExit(f"demo-video: timed out during '{self.steps[-1]['caption']}' (the page: {shot})")
            if max_seconds is None or filmed < max_seconds * FPS:
                self.snap()
                filmed += 1
            else:
                time.sleep(0.25)

    def close(self) -> None:
        self.steps[-1]["end_frame"] = len(self.frames)


def visible(page, text: str):
    return lambda: page.get_by_text(text).first.is_visible()


def alert_html(a: dict) -> str:
    span = f"{a['start_s']:.0f}-{a['end_s']:.0f} s of the stream"
    shown = json.dumps({**a, "frame_jpeg_base64": "..."}, indent=1)
    return (
        f"<h2>alert: {a['class']} on {a['source']} ({a['confidence']:.0%}, {span}, model {a['model_version']})</h2>"
        f"<img src='data:image/jpeg;base64,{a['frame_jpeg_base64']}' width=480><pre>{shown}</pre>"
    )


@contextmanager
def html_page(render: Callable[[], str], on_post: Callable[[dict], None] | None = None):
    """A local page (refreshing itself every second) whose body render() makes; POSTed JSON goes to on_post."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self):
            if on_post is not None:
                on_post(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            body = (
                "<html><head><meta http-equiv='refresh' content='1'></head>"
                f"<body style='font-family:sans-serif;margin:40px'>{render()}</body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def live_alerts(stack: Stack, video: Path):
    """FFmpeg plays `video` as a live MPEG-TS stream over UDP; clipwatch watch (in this process) watches it
    with one rule (run, 3 windows); its webhook is a local page that shows each alert and its frame."""
    from clipwatch.watch import Rule, Source, WatchConfig, Watcher

    alerts: list[dict] = []

    def render() -> str:
        items = "".join(alert_html(a) for a in alerts) or "<p>waiting for alerts...</p>"
        return f"<h1>Webhook receiver: {len(alerts)} alert(s)</h1>{items}"

    with html_page(render, alerts.append) as url:
        port = free_port()
        config = WatchConfig(
            [Source("camera", udp_source(port))],
            [Rule("running", "run", min_confidence=0.5, consecutive=3, cooldown_s=600)],
            webhook_url=f"{url}/alerts",
        ).checked()
        watcher = Watcher(config, stack.settings(), serve_metrics=False)
        watcher.start()
        ffmpeg = udp_stream(video, port)
        try:
            yield url
        finally:
            ffmpeg.terminate()
            ffmpeg.wait(10)
            watcher.stop()


class Scoreboard:
    """The live model's accuracy on two fixed held-back sets (plain and shifted clips, never fed back),
    measured through the API at each point of the story, as a page to film."""

    def __init__(self, client: ApiClient, plain: list[Path], shifted: list[Path]):
        self.client, self.sets = client, {"plain": plain, "shifted": shifted}
        self.rows: list[dict] = []

    def measure(self, when: str, which: tuple[str, ...] = ("plain", "shifted")) -> dict:
        row = {"when": when, "version": self.client.model()["version"]}
        for name in which:
            clips = self.sets[name]
            row[name] = sum(self.client.predict(c.name, c.read_bytes())["label"] == c.parent.name for c in clips) / len(
                clips
            )
        self.rows.append(row)
        print(f"demo-video:   held-back accuracy {row}", flush=True)
        return row

    def render(self) -> str:
        def cell(row: dict, name: str) -> str:
            return f"{row[name]:.2f}" if name in row else "&ndash;"

        body = "".join(
            f"<tr><td>{r['when']}</td><td>{r['version']}</td>"
            f"<td>{cell(r, 'plain')}</td><td>{cell(r, 'shifted')}</td></tr>"
            for r in self.rows
        )
        n = len(self.sets["plain"])
        return (
            "<h1>The live model on held-back clips (never fed back)</h1>"
            f"<p style='font-size:20px'>{n} plain and {n} shifted rendered clips, from a range the traffic never "
            "reaches; each predicted through the API. Accuracy:</p>"
            "<table style='font-size:30px;border-collapse:collapse' cellpadding=14 border=1>"
            "<tr><th>when</th><th>live version</th><th>plain clips</th><th>shifted clips</th></tr>"
            f"{body}</table>"
        )


def settled(page, timeout: int = 120_000) -> None:
    """Until the page's script has finished its run: a click mid-run can be dropped by the rerun."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached", timeout=timeout)


def record(
    stack: Stack,
    clip: Path,
    batch: list[Path],
    traffic_dir: Path,
    long_video: Path,
    held_back: tuple[list[Path], list[Path]],
    teach: Teaching,
) -> Recorder:
    from playwright.sync_api import sync_playwright

    from clipwatch.client.simulate import simulate
    from clipwatch.reporting import run_reports

    webapp, api = stack.url("webapp"), stack.url("api")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT - BAR_HEIGHT})
        rec = Recorder(page)
        try:
            rec.step("start", "clipwatch: the web app, talking to the serving API; the model is version 1")
            page.goto(webapp, wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            rec.hold(4)

            rec.step("upload", "1. Upload a clip: the browser previews it before anything is sent")
            page.set_input_files("input[type=file]", str(clip))
            rec.until(lambda: page.evaluate(VIDEO_READY), 60)
            page.evaluate(PLAY_VIDEO)
            rec.hold(3)

            rec.step("predict", "2. Predict: the label, the sampled frames the CNN saw, every class's probability")
            page.get_by_role("button", name="Predict").click()
            rec.until(visible(page, "Predicted action"), 120)
            rec.hold(2)
            rec.poster = len(rec.frames) - 1
            rec.hold(1)
            page.mouse.wheel(0, 450)
            rec.hold(3)

            rec.step("feedback", "3. Send feedback: the true label becomes a row of prod_data.csv")
            page.get_by_role("button", name="Send feedback").scroll_into_view_if_needed()
            page.get_by_role("button", name="Send feedback").click()
            rec.until(visible(page, "prod_data.csv now has 1 rows"), 60)
            rec.hold(3)

            rec.step("batch", f"4. Batch: {len(batch)} clips scored through /predict/batch, a table and a CSV")
            page.goto(f"{webapp}/batch", wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", [str(c) for c in batch])
            rec.until(lambda: page.get_by_role("button", name=f"Score {len(batch)} clips").is_visible(), 60)
            rec.hold(1)
            page.get_by_role("button", name=f"Score {len(batch)} clips").click()
            rec.until(visible(page, f"{len(batch)} scored"), 180)
            rec.hold(4)

            rec.step(
                "timeline", "5. Timeline of a 45 s recording: each action found window by window; click to play it"
            )
            page.goto(f"{webapp}/timeline", wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", str(long_video))
            rec.until(lambda: page.evaluate(VIDEO_READY), 60)
            rec.hold(2)
            page.get_by_role("button", name="Make the timeline").click()
            rec.until(visible(page, "segments,"), 180)
            rec.hold(3)
            page.mouse.wheel(0, 500)
            rec.hold(3)
            page.get_by_role("button", name="run").first.click()
            rec.hold(2)
            page.mouse.wheel(0, -2000)
            page.evaluate(PLAY_VIDEO)
            rec.hold(4)

            rec.step("watch", "6. clipwatch watch: a live stream (FFmpeg, UDP); the 'run' alert reaches a webhook")
            with live_alerts(stack, long_video) as alerts_page:
                page.goto(alerts_page, wait_until="load")
                rec.until(visible(page, "alert: run"), 90, max_seconds=10)
                rec.hold(3)

            key = stack.settings().api_key.get_secret_value()
            client = ApiClient(api, key, timeout=120)
            board = Scoreboard(client, *held_back)
            before = board.measure("before the shift")
            with html_page(board.render) as board_url:
                rec.step(
                    "heldback",
                    f"7. Held-back clips, never fed back: {before['version']} scores {before['plain']:.2f} on plain "
                    f"ones, {before['shifted']:.2f} once the look shifts",
                )
                page.goto(board_url, wait_until="load")
                rec.hold(8)

                rec.step(
                    "traffic",
                    f"8. Shifted traffic with feedback: retrains every {RETRAIN_EVERY_K} rows, on drift and on falling "
                    "F1; the default if_better gate decides",
                )
                done = threading.Event()
                lines: list[str] = []

                def traffic() -> None:
                    try:

                        def on_line(line: str) -> None:
                            lines.append(line)
                            if line.startswith("retrain"):
                                run_reports(stack.settings())  # what the watcher does after each retrain

                        simulate(ApiClient(api, key, timeout=120), traffic_dir, n=TRAFFIC, shift=True, echo=on_line)
                    finally:
                        done.set()

                thread = threading.Thread(target=traffic, daemon=True)
                thread.start()
                page.goto(f"{webapp}/model", wait_until="networkidle")
                last_reload = time.monotonic()

                def traffic_done() -> bool:
                    nonlocal last_reload
                    if time.monotonic() - last_reload > 8:  # the Model page as a user refreshing it would see it
                        page.reload(wait_until="networkidle")
                        last_reload = time.monotonic()
                    return done.is_set()

                rec.until(traffic_done, 1800, max_seconds=36)
                thread.join()
                for line in lines:
                    print(f"demo-video:   {line}", flush=True)
                history = client.model()["history"]
                # The drift and performance triggers are checked every 2 s: give them the time to answer too.
                deadline = time.monotonic() + 120
                while not {"drift", "performance"} <= fired(history) and time.monotonic() < deadline:
                    time.sleep(2)
                    history = client.model()["history"]
                while client.model()["retrain"]["running"]:
                    time.sleep(1)
                history = client.model()["history"]

                promoted = sum(e["outcome"] == "promoted" for e in history)
                rec.step(
                    "model", f"9. Model page: {promoted} of {len(history)} challengers promoted by the if_better gate"
                )
                page.reload(wait_until="networkidle")
                rec.until(visible(page, "Retrain history"), 60)
                rec.hold(6)

                kinds = ", ".join(f"{n} by {k}" for k, n in sorted(count_triggers(history).items()))
                rec.step("triggers", f"10. What started each retrain, and why: {kinds} (RETRAIN_TRIGGERS)")
                page.get_by_text("Retrain history").scroll_into_view_if_needed()
                rec.hold(8)

                after = board.measure("after the retrains", ("shifted",))
                rec.step(
                    "recovered",
                    f"11. The same held-back shifted clips: {before['version']} {before['shifted']:.2f}, now "
                    f"{after['version']} {after['shifted']:.2f} (plain clips were {before['plain']:.2f})",
                )
                page.goto(board_url, wait_until="load")
                rec.hold(9)
                stack.held_back = {"before": before, "after": after, "policy": "if_better", "promoted": promoted}

            rec.step("reports", "12. Evidently: embedding drift and F1 over time as the shifted feedback accumulates")
            project = httpx.get(stack.url("evidently") + "/api/projects", timeout=30).json()[0]["id"]
            page.goto(f"{stack.url('evidently')}/projects/{project}", wait_until="networkidle")
            rec.hold(6)
            page.mouse.wheel(0, 900)
            rec.hold(6)

            teach_actions(rec, page, webapp, client, teach)

            rec.step("docs", "17. The serving API: OpenAPI docs for predict, feedback, model, projects")
            page.goto(f"{api}/docs", wait_until="networkidle")
            rec.hold(6)

            rec.step("metrics", "18. Prometheus metrics: requests, latency, predictions, feedback, retrains")
            page.goto(f"{api}/metrics", wait_until="load")
            page.evaluate("() => window.scrollTo(0, document.body.scrollHeight / 3)")
            rec.hold(6)
            rec.close()
        finally:
            browser.close()
    return rec


@dataclass
class Teaching:
    """What the "Your actions" step teaches: clips per action, a clip of one of them kept out to classify,
    and a clip of neither."""

    actions: dict[str, list[Path]]
    try_clip: Path
    try_action: str
    unfamiliar: Path
    source: str


def teaching_clips(work: Path) -> Teaching:
    """Real footage when ../shared/data/real-clips is there (UCF101 bench press and diving, a Kinetics
    skateboarding clip as the unfamiliar one); else rendered clips and a clip of noise."""
    real = Path(os.environ.get("CLIPWATCH_REAL_CLIPS", ROOT.parent / "shared" / "data" / "real-clips"))
    ucf = real / "ucf101"
    if (
        (ucf / "BenchPress").is_dir()
        and (ucf / "Diving").is_dir()
        and (real / "kinetics400" / "skateboarding").is_dir()
    ):
        bench, diving = sorted((ucf / "BenchPress").iterdir()), sorted((ucf / "Diving").iterdir())
        return Teaching(
            {"bench press": bench[:4], "diving": diving[:4]},
            diving[4],
            "diving",
            sorted((real / "kinetics400" / "skateboarding").iterdir())[0],
            "real clips",
        )
    from clipwatch.client.simulate import traffic_clips

    squat = traffic_clips(work / "teach", ["squat"], 5, shift=True, seed=11, start=9000)
    jump = traffic_clips(work / "teach", ["jump"], 5, shift=True, seed=11, start=9000)
    noise = work / "teach" / "noise.mp4"
    write_noise(noise)
    return Teaching({"lift": squat[:4], "hop": jump[:4]}, jump[4], "hop", noise, "rendered clips")


def write_noise(out: Path, seconds: int = 3) -> None:
    import av

    rng = np.random.default_rng(0)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(25 * seconds):
            frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def teach_actions(rec: Recorder, page, webapp: str, client: ApiClient, teach: Teaching) -> None:
    """The "Your actions" page: two actions from a few clips each, an estimate, a deploy; then a clip of
    one of them classified, and a clip of neither flagged (each caption says what the API answered)."""
    names = " and ".join(f"'{a}'" for a in teach.actions)
    per = len(next(iter(teach.actions.values())))
    rec.step("teach", f"13. Your actions: teach {names} from {per} {teach.source} each, then estimate")
    page.goto(f"{webapp}/actions", wait_until="networkidle")
    page.get_by_role("textbox", name="Project name").fill("gym")
    page.get_by_role("button", name="Create").click()
    rec.until(visible(page, "No clips yet"), 60)
    for action, files in teach.actions.items():
        settled(page)
        page.get_by_role("textbox", name="Action", exact=True).fill(action)
        page.set_input_files("input[type=file]", [str(f) for f in files])
        rec.until(visible(page, files[-1].name[-7:]), 60)  # the uploader shortens long names in the middle
        page.get_by_text("Name each clip's recording from its file name").click()
        page.get_by_role("button", name="Add clips").click()
        rec.until(visible(page, f"Added {len(files)} clip(s)."), 300, max_seconds=6)
    settled(page)
    page.get_by_text(f"{next(iter(teach.actions))}: {per} clips").click()  # its stills
    rec.hold(3)
    settled(page)
    page.get_by_role("button", name="Estimate").click()
    rec.until(visible(page, "Measured by"), 300, max_seconds=4)
    page.get_by_text("Measured by").scroll_into_view_if_needed()
    rec.hold(5)

    rec.step("deploy", "14. Train and deploy: a version of these clips goes live, and switching back is one click")
    settled(page)
    page.get_by_role("button", name="Train and deploy").click()
    rec.until(visible(page, "is live: it knows"), 300, max_seconds=4)
    page.get_by_text("is live: it knows").scroll_into_view_if_needed()
    rec.hold(4)

    answer = client.predict(teach.try_clip.name, teach.try_clip.read_bytes())
    rec.step(
        "classify",
        f"15. A {teach.try_action} clip it was not taught with: the new model says '{answer['label']}' "
        f"({answer['confidence']:.0%})",
    )
    classify(rec, page, webapp, teach.try_clip)
    answer = client.predict(teach.unfamiliar.name, teach.unfamiliar.read_bytes())
    verdict = (
        "flagged as unlike any clip it learned from, so its label is only a guess"
        if answer.get("familiar") is False
        else f"not flagged (novelty {answer.get('novelty')})"
    )
    rec.step("unfamiliar", f"16. A clip of neither action: {verdict}")
    classify(rec, page, webapp, teach.unfamiliar)


def classify(rec: Recorder, page, webapp: str, clip: Path) -> None:
    page.goto(webapp, wait_until="networkidle")
    page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
    page.set_input_files("input[type=file]", str(clip))
    page.get_by_role("button", name="Predict").wait_for(timeout=120_000)
    settled(page)
    page.get_by_role("button", name="Predict").click()
    rec.until(lambda: page.get_by_test_id("stMetricValue").first.is_visible(), 120, max_seconds=3)
    page.mouse.wheel(0, 350)
    rec.hold(5)


def count_triggers(history: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in history:
        for kind in e.get("trigger", "rows").split("+"):
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def fired(history: list[dict]) -> set[str]:
    return set(count_triggers(history))


def encode(rec: Recorder, out: Path) -> None:
    import av

    captions = [None] * len(rec.frames)
    for s in rec.steps:
        for i in range(s["start_frame"], s["end_frame"]):
            captions[i] = s["caption"]
    tmp = out.with_name(out.name + ".partial")
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "26", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for jpeg, caption in zip(rec.frames, captions, strict=True):
            frame = compose(jpeg, caption)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out)


def compose(jpeg: bytes, caption: str) -> Image.Image:
    shot = Image.open(io.BytesIO(jpeg)).convert("RGB").resize((WIDTH, HEIGHT - BAR_HEIGHT))
    frame = Image.new("RGB", (WIDTH, HEIGHT))
    frame.paste(shot, (0, 0))
    frame.paste(caption_bar(caption), (0, HEIGHT - BAR_HEIGHT))
    return frame


def write_extras(rec: Recorder, extra: dict) -> None:
    steps = [
        {
            "key": s["key"],
            "caption": s["caption"],
            "start_s": round(s["start_frame"] / FPS, 2),
            "end_s": round(s["end_frame"] / FPS, 2),
        }
        for s in rec.steps
    ]
    meta = {"fps": FPS, "width": WIDTH, "height": HEIGHT, "frames": len(rec.frames), "steps": steps, **extra}
    (DOCS / "demo.json").write_text(json.dumps(meta, indent=2) + "\n")
    # The poster: the prediction with its probabilities; the GIF: one frame per step, small.
    predict = next(s for s in rec.steps if s["key"] == "predict")
    compose(rec.frames[rec.poster], predict["caption"]).save(DOCS / "demo-poster.png", optimize=True)
    stills = [
        compose(rec.frames[(s["start_frame"] + s["end_frame"]) // 2], s["caption"]).resize((640, 360))
        for s in rec.steps
    ]
    stills[0].save(
        DOCS / "demo-loop.gif", save_all=True, append_images=stills[1:], duration=2500, loop=0, optimize=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "demo.mp4")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"demo-video: {CHROMIUM} not found (Debian package 'chromium')", file=sys.stderr)
        return 2
    # Evidently's quality report on a few rows warns about classes nobody predicted; not news here.
    warnings.filterwarnings("ignore", message="Precision is ill-defined")
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="clipwatch-demo-"))
    stack = Stack(work)
    from clipwatch.client.simulate import traffic_clips

    clip = traffic_clips(work / "upload", ["wave"], 1, shift=False, seed=3, start=7000)[0]
    batch = traffic_clips(
        work / "batch", ["clap", "jump", "run", "squat", "walk", "wave"], 6, shift=False, seed=4, start=7100
    )
    from clipwatch.synth.long import render_long

    long_video = work / "practice.mp4"
    render_long([("clap", 15), ("run", 15), ("wave", 15)], long_video, seed=5, gop=25)
    from clipwatch.client.simulate import EVAL_START
    from clipwatch.synth.actions import ACTIONS

    # The yardstick: clips from a range the traffic never reaches, plain and shifted, never fed back.
    held_back = tuple(
        traffic_clips(
            work / f"held-back-{kind}", sorted(ACTIONS), HELD_BACK, shift=kind == "shifted", seed=0, start=EVAL_START
        )
        for kind in ("plain", "shifted")
    )
    teach = teaching_clips(work)
    try:
        stack.start()
        rec = record(stack, clip, batch, work / "traffic", long_video, held_back, teach)
    finally:
        stack.stop()
    DOCS.mkdir(exist_ok=True)
    encode(rec, args.out)
    write_extras(rec, {"held_back": stack.held_back, "teach_source": teach.source})
    shutil.rmtree(work, ignore_errors=True)
    size = args.out.stat().st_size / 1e6
    print(
        f"demo-video: {args.out} ({len(rec.frames) / FPS:.0f} s, {WIDTH}x{HEIGHT}, {size:.1f} MB) "
        f"in {time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
