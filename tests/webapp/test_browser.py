"""End to end in a real browser: the real serving API and web app on loopback, headless Chromium."""

import re
from pathlib import Path

import pytest

from clipwatch.settings import PROJECT_ROOT
from devtools.processes import free_port, start, stop, webapp_cmd

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = PROJECT_ROOT / "build" / "e2e-classify.png"
pytestmark = pytest.mark.slow
# What the Timeline page ends in: its result, or one of its errors.
TIMELINE_OUTCOME = re.compile(r"\d+ segments, \d+ windows|The timeline (failed|cancelled)|was not started|No such job")


def settled(page, timeout: int = 60_000) -> None:
    """Wait until the page's script has finished its run: a click landing mid-run can be dropped by the
    rerun that replaces the widget, which on a slow machine leaves the test waiting for nothing."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached", timeout=timeout)


@pytest.fixture
def webapp(live_server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package 'chromium')")
    pytest.importorskip("playwright")
    api = live_server()
    port = free_port()
    # The API's environment: the web app reads the same generated key from the same secrets folder.
    env = {**api.env, "API_URL": api.url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    url = f"http://127.0.0.1:{port}"
    proc = start(webapp_cmd(port), f"{url}/_stcore/health", log=tmp_path / "streamlit.log", env=env)
    yield url, api
    stop(proc)


def test_upload_an_avi_preview_predict_and_feedback(webapp, real_clips):
    from playwright.sync_api import sync_playwright

    url, api = webapp
    clip = real_clips / "ucf101" / "BenchPress" / "v_BenchPress_g01_c01.avi"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(url, wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            # Streamlit's developer toolbar ("Deploy", the settings menu) is not for the app's users.
            assert page.get_by_role("button", name="Deploy").count() == 0
            page.set_input_files("input[type=file]", str(clip))
            # The AVI is transcoded for the preview, and the browser can really play it.
            page.wait_for_function(
                "() => { const v = document.querySelector('video'); return v && v.readyState >= 1 && v.duration > 0 }",
                timeout=60_000,
            )
            assert page.evaluate("document.querySelector('video').duration") > 1
            page.get_by_text("this preview is an H.264 copy").wait_for(timeout=10_000)
            settled(page)
            page.get_by_role("button", name="Predict").click()
            # Real footage is unlike the rendered clips the default model knows: the page says its label is
            # a guess, in words, instead of a confident percentage.
            page.get_by_text("Closest known action (a guess)").wait_for(timeout=60_000)
            page.get_by_text("unlike the clips the model learned from").wait_for(timeout=10_000)
            settled(page)
            page.get_by_role("button", name="Send feedback").click()
            page.get_by_text("prod_data.csv now has 1 rows").wait_for(timeout=30_000)
        finally:
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            browser.close()
    rows = (Path(api.settings.data_dir) / "prod_data.csv").read_text().splitlines()
    assert len(rows) == 2  # header + the row this feedback wrote
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_timeline_page_in_a_real_browser(webapp, tmp_path):
    """A 20 s recording (clap, then run): the job runs on the real API, the page shows its segments, a
    click on one seeks the player, and a corrected window becomes a prod_data.csv row."""
    from playwright.sync_api import sync_playwright

    from clipwatch.synth.long import render_long

    url, api = webapp
    logs = {"API": api.log, "web app": tmp_path / "streamlit.log"}
    video = tmp_path / "practice.mp4"
    render_long([("clap", 10), ("run", 10)], video, seed=5)
    shot = PROJECT_ROOT / "build" / "e2e-timeline.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(f"{url}/timeline", wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", str(video))
            page.get_by_role("button", name="Make the timeline").wait_for(timeout=60_000)
            settled(page)
            page.get_by_role("button", name="Make the timeline").click()
            page.wait_for_url("**job=*", timeout=60_000)  # the job is in the address: a reload finds it
            outcome = page.get_by_text(TIMELINE_OUTCOME)
            try:
                outcome.wait_for(timeout=300_000)
            except Exception as exc:
                tails = "\n".join(f"--- {k}:\n{tail(v)}" for k, v in logs.items())
                raise AssertionError(f"the Timeline page never finished:\n{page.inner_text('body')}\n{tails}") from exc
            assert outcome.inner_text().startswith("2 segments, 17 windows"), page.inner_text("body")
            settled(page)
            page.get_by_role("button", name="run").click()
            page.wait_for_function(
                "() => { const v = document.querySelector('video'); return v && Math.abs(v.currentTime - 10) < 1.5 }",
                timeout=30_000,
            )
            settled(page)
            page.get_by_role("button", name="Send window feedback").click()
            page.get_by_text("prod_data.csv now has 1 rows").wait_for(timeout=30_000)
            page.reload(wait_until="networkidle")
            page.get_by_text("2 segments, 17 windows").wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    rows = (Path(api.settings.data_dir) / "prod_data.csv").read_text().splitlines()
    assert len(rows) == 2


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def test_the_local_web_app_answers_only_to_loopback_names(webapp):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 must not get the app's
    session (local mode asks no sign-in)."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url, _ = webapp
    port = url.rsplit(":", 1)[1]

    async def opens(name: str) -> bool:
        """Whether the app's WebSocket opens for a browser that reached 127.0.0.1 by the name `name`."""
        try:
            async with connect(f"ws://{name}:{port}/_stcore/stream", host="127.0.0.1", port=int(port), open_timeout=10):
                return True
        except InvalidStatus as exc:
            assert exc.response.status_code == 403, exc.response.status_code
            return False

    assert asyncio.run(opens("127.0.0.1")) and asyncio.run(opens("localhost"))
    assert not asyncio.run(opens("evil.example"))


def test_teach_two_actions_estimate_deploy_and_classify_in_a_real_browser(webapp, videos, tmp_path):
    """A signed-in user (local use) teaches "fall" and "ok" from ten clips each, from two recordings each,
    estimates, trains and deploys, and the Classify page then answers with the new actions."""
    from playwright.sync_api import sync_playwright

    url, api = webapp
    logs = {"API": api.log, "web app": tmp_path / "streamlit.log"}
    batches = {}
    for action, source in (("fall", "walk"), ("ok", "wave")):
        folder = tmp_path / action
        folder.mkdir()
        for i, clip in enumerate(sorted((videos / source).glob("*.mp4"))[:10]):
            recording = "kitchen" if i < 5 else "garden"  # named by the file: <recording>_<n>.mp4
            (folder / f"{action}-{recording}_{i}.mp4").write_bytes(clip.read_bytes())
        batches[action] = sorted(str(p) for p in folder.iterdir())
    held_out = sorted((videos / "wave").glob("*.mp4"))[-1]
    shot, shot_classify = (
        PROJECT_ROOT / "build" / "e2e-actions.png",
        PROJECT_ROOT / "build" / "e2e-actions-classify.png",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(f"{url}/actions", wait_until="networkidle")
            page.get_by_role("textbox", name="Project name").fill("mine")
            page.get_by_role("button", name="Create").click()
            page.get_by_text("No clips yet").wait_for(timeout=60_000)
            for action, files in batches.items():
                settled(page)
                page.get_by_role("textbox", name="Action", exact=True).fill(action)
                page.set_input_files("input[type=file]", files)
                page.get_by_text(Path(files[-1]).name).wait_for(timeout=60_000)
                page.get_by_text("Name each clip's recording from its file name").click()
                page.get_by_role("button", name="Add clips").click()
                page.get_by_text("Added 10 clip(s).").wait_for(timeout=180_000)
            page.get_by_text("fall: 10 clips, 2 recordings (ready)").wait_for(timeout=30_000)
            page.get_by_text("ok: 10 clips, 2 recordings (ready)").wait_for(timeout=30_000)
            settled(page)
            page.get_by_role("button", name="Estimate").click()
            page.get_by_text("CV, grouped by recording").wait_for(timeout=300_000)
            settled(page)
            page.get_by_role("button", name="Train and deploy").click()
            page.get_by_text("is live: it knows fall, ok").wait_for(timeout=300_000)
            assert page.get_by_role("button", name="Switch back to v0001").count() == 1
            page.screenshot(path=str(shot), full_page=True)

            page.goto(url, wait_until="networkidle")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", str(held_out))
            page.get_by_role("button", name="Predict").wait_for(timeout=60_000)
            settled(page)
            page.get_by_role("button", name="Predict").click()
            label = page.get_by_test_id("stMetricValue").first
            label.wait_for(timeout=60_000)
            assert label.inner_text() == "ok", page.inner_text("body")
        except Exception as exc:
            tails = "\n".join(f"--- {k}:\n{tail(v)}" for k, v in logs.items())
            raise AssertionError(f"{exc}\n{page.inner_text('body')[-3000:]}\n{tails}") from exc
        finally:
            page.screenshot(path=str(shot_classify), full_page=True)
            browser.close()
