"""`make abuse`'s availability attacks (issue 31): what one client, one request or one stream can take
from everybody else, measured from outside.

- slow bodies: eight uploads trickling a byte every 2 s from one address, re-opened as soon as the
  server drops one, while a well-behaved client at another address sends a clip every second;
- a costly batch: one /predict/batch of 40 distinct 720p clips, each under every per-clip limit;
- a preview bomb: the web app's preview of a 1000 fps clip behind one keyframe, in a container the
  browser can't play (so it is transcoded);
- a watcher fed a timestamp jump: a stream whose clock leaps 3000 s ahead halfway;
- a timeline job that would overfill the disk: a 2.5 h video at the finest stride on a 1 GB volume.

Each runs against the code of the checkout it is given (`--repo`), so the same attacks give the
before and after figures. Costs are the attacked process's CPU, from /proc or its rusage.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from clipwatch.settings import PROJECT_ROOT
from devtools.hostile_streams import leaping_stream
from devtools.processes import free_port
from tests.reliability.abuse import MB, TARGETS, Result, Server, dense_clip, raw_request, trickle

SLOW_ATTACKER, WELL_BEHAVED = "127.0.0.2", "127.0.0.3"  # loopback answers for all of 127/8
VICTIM_TARGET_S = 20.0
BATCH_CLIPS = 40


def slow_bodies_against_a_client(server: Server, good: Path, seconds: float = 30.0) -> Result:
    url, data, stop = server.url, good.read_bytes(), threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            raw_request(url, "POST", "/predict", {"Content-Type": "video/mp4"}, trickle(30, 2.0), source=SLOW_ATTACKER)

    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)  # the trickles hold their slots first
    t0, first_ok, statuses = time.monotonic(), None, []
    while time.monotonic() - t0 < seconds and first_ok is None:
        status, _ = raw_request(url, "POST", "/predict", {"Content-Type": "video/mp4"}, data, source=WELL_BEHAVED)
        statuses.append(status)
        if status == "200":
            first_ok = time.monotonic() - t0
        else:
            time.sleep(1)
    stop.set()
    ok = first_ok is not None and first_ok <= VICTIM_TARGET_S
    status = "200 within 20 s" if ok else f"no 200 for {time.monotonic() - t0:.0f} s"
    note = f"well-behaved client: {', '.join(statuses[:8])}{' ...' if len(statuses) > 8 else ''}"
    waited = round(first_ok if first_ok is not None else time.monotonic() - t0, 2)
    return Result("8 slow bodies from one address, a clip from another", status, "200 within 20 s", 0, 0, waited, note)


def _variants(clip: Path, n: int, folder: Path) -> list[Path]:
    """n byte-distinct copies of one clip (a title each, streams copied): no cache can answer for them."""
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"variant-{i:02d}.mp4"
        if not path.exists():
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-metadata", f"title={i}", str(path)]
            subprocess.run(cmd, check=True)
        out.append(path)
    return out


def quiet_clip(path: Path, frames: int = 2900, size: tuple[int, int] = (1280, 720), fps: int = 100) -> Path:
    """frames of 720p behind one keyframe, little moving: a few MB, each frame still decoded in full."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    base = np.kron(
        rng.integers(0, 255, (size[1] // 80, size[0] // 80, 3), dtype=np.uint8), np.ones((80, 80, 1), np.uint8)
    )
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"g": "1000000", "keyint_min": "1000000", "sc_threshold": "0"})
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options["preset"] = "ultrafast"
        s.codec_context.time_base = Fraction(1, fps)
        for i in range(frames):
            frame = base.copy()
            band = slice(240, 480)  # a third of the picture pans, the rest stands still
            frame[band] = np.roll(base[band], i * 8, axis=1)
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _batch_body(paths: list[Path]) -> tuple[bytes, dict]:
    boundary, parts = "batchabuse", []
    for path in paths:
        head = f'Content-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        parts.append(head.encode() + b"Content-Type: video/mp4\r\n\r\n" + path.read_bytes())
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _send_batch(server: Server, body: bytes, headers: dict) -> tuple[str, str]:
    status, text = raw_request(server.url, "POST", "/predict/batch", headers, body)
    try:
        items = json.loads(text)["items"]
    except (ValueError, KeyError, TypeError):
        return status, text[:120]
    refused = [r for r in items if not r.get("ok")]
    why = f" ({refused[-1]['error'][:70]})" if refused else ""
    return status, f"{len(items) - len(refused)} clips classified, {len(refused)} refused{why}"


def _fresh(server: Server, work: Path, name: str) -> Server:
    """Another server on the same install and settings, started anew: two figures that must be compared
    are measured from the same state."""
    fresh = Server(server.settings, server.repo, {"CLIPWATCH_BODY_TIMEOUT_S": "10"})
    fresh.log = work / f"{name}.log"
    return fresh


def costly_batch(server: Server, work: Path) -> Result:
    clip = quiet_clip(PROJECT_ROOT / "build" / "abuse" / "720p-2900.mp4")
    clips = _variants(clip, BATCH_CLIPS, work / "batch")
    # A batch decodes MAX_CONCURRENT_PREDICTIONS (2) clips at once, so 40 clips must cost no more memory than
    # 2 (plus the usual 64 MB of slack): each measured on a server just started, so both start from one state.
    with _fresh(server, work, "pair-server") as fresh:
        pair = fresh.measure("two clips", "200", lambda: _send_batch(fresh, *_batch_body(clips[:2])))
    body, headers = _batch_body(clips)
    with _fresh(server, work, "batch-server") as fresh:
        r = fresh.measure(
            f"/predict/batch of {BATCH_CLIPS} 720p clips, 2900 frames each",
            "200",
            lambda: _send_batch(fresh, body, headers),
        )
    r.cpu_budget_s = float(server.settings.batch_decode_cpu_s)
    r.rss_budget_mb = round(pair.rss_growth_mb + TARGETS["rss_growth_mb"], 1)
    r.note = f"{r.note}; a batch of 2 of them: +{pair.rss_growth_mb} MB, {pair.cpu_s} s CPU"[:240]
    return r


PREVIEW = """
import inspect, sys
from preview import transcode_h264
from clipwatch.settings import Settings
kw = {"settings": Settings()} if "settings" in inspect.signature(transcode_h264).parameters else {}
try:
    transcode_h264(sys.argv[1], sys.argv[2], **kw)
    print("transcoded")
except Exception as exc:
    print("refused:", type(exc).__name__, str(exc)[:100])
"""


def preview_bomb(repo: Path, work: Path) -> Result:
    """The web app's preview code, as a visitor's upload reaches it (before any sign-in)."""
    mp4 = dense_clip(PROJECT_ROOT / "build" / "abuse" / "dense-60s.mp4", 60)
    bomb = work / "bomb.mkv"  # H.264 in Matroska: not playable as it is, so the preview transcodes it
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-c", "copy", str(bomb)], check=True)
    env = {**os.environ, "PYTHONPATH": f"{repo / 'webapp'}{os.pathsep}{repo}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", PREVIEW, str(bomb), str(work / "preview.mp4")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout.strip()
    except subprocess.TimeoutExpired:
        out = "still transcoding after 600 s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = after.ru_maxrss / 1024  # KB -> MB; the largest child so far
    status = "refused" if out.startswith("refused") else out.split(":")[0] or "no answer"
    r = Result(
        "web app preview of a 1000 fps clip behind one keyframe (MKV)",
        status,
        "refused",
        round(rss, 1),
        round(cpu, 2),
        round(time.perf_counter() - t0, 2),
        out[:160],
    )
    r.rss_growth_mb = 0.0  # a child of its own: its peak is not the server's growth
    return r


def _windows(port: int) -> float:
    import requests

    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return -1
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("clipwatch_watch_windows_total")
    )


def watcher_timestamp_jump(server: Server, work: Path, cap_s: float = 60.0) -> Result:
    stream = leaping_stream(work / "leap.ts", jump_s=3000.0, seconds=6.0)
    port = free_port()
    config = work / "watch.yaml"
    config.write_text(
        f"sources:\n  - {{name: leap, url: {stream}}}\nwindow_s: 1\nstride_s: 0.5\n"
        f"metrics: {{host: 127.0.0.1, port: {port}}}\n"
    )
    cmd = [sys.executable, "-m", "clipwatch", "watch", "--config", str(config)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    log = open(work / "watcher.log", "w")  # noqa: SIM115 - the child keeps its own descriptor
    proc = subprocess.Popen(cmd, env=server.env, cwd=server.repo, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    t0, last, still = time.monotonic(), -1.0, 0
    try:
        # Until it exits (the file ended), its window count stops growing for 5 s, or the cap; the count is
        # the last one its /metrics gave.
        while time.monotonic() - t0 < cap_s and proc.poll() is None:
            time.sleep(0.2)
            seen = _windows(port)
            if seen >= 0:
                still = still + 1 if seen == last and seen > 0 else 0
                last = seen
            if still >= 25:
                break
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    wall = time.monotonic() - t0
    # 6 s of pictures make about a dozen windows; without a restart, 3000 s of grid points at a 0.5 s
    # stride would each classify the one frame held across the jump.
    ok = 0 < last < 40
    status = f"{last:.0f} windows" if last >= 0 else "no metrics"
    note = f"the watcher's CPU {cpu:.1f} s over {wall:.0f} s" + (
        "" if wall < cap_s else f" (stopped at the {cap_s:.0f} s cap)"
    )
    return Result(
        "watcher fed a stream whose clock leaps 3000 s",
        "under 40 windows" if ok else status,
        "under 40 windows",
        0.0,
        round(cpu, 2),
        round(wall, 2),
        f"{status}; {note}",
        cpu_budget_s=cap_s,  # starting up costs a few seconds; the window count is the check
    )


def _long_video(path: Path, seconds: int = 9000) -> Path:
    """2.5 hours at 1 frame a second, 64x48: a few hundred KB, a long timeline."""
    if path.exists():
        return path
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=1)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"preset": "ultrafast", "g": "600"}
        for i in range(seconds):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 256, dtype=np.uint8), format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def timeline_overfilling_the_disk(server: Server, work: Path) -> Result:
    """Run before the server starts its jobs: the jobs folder is a 1 GB tmpfs (root only; else skipped)."""
    name = "timeline of 2.5 h at the finest stride on a 1 GB jobs volume"
    video = _long_video(work / "long.mp4").read_bytes()
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Filename": "long.mp4",
        "Authorization": f"Bearer {server.key}",
    }

    def attack() -> tuple[str, str]:
        status, text = raw_request(server.url, "POST", "/jobs/timeline?window_s=1&stride_s=0.1", headers, video)
        if status == "202":
            job = json.loads(text)["id"]
            raw_request(server.url, "DELETE", f"/jobs/{job}", {"Authorization": f"Bearer {server.key}"})
            return status, "accepted: its window vectors alone would need about 1.5 GB (cancelled at once)"
        return status, text[:160]

    return server.measure(name, "507", attack)


def mount_small_jobs_volume(jobs: Path, size_mb: int = 1024) -> Callable[[], None] | None:
    """A tmpfs of size_mb at jobs; the undo, or None where mounting is not allowed."""
    jobs.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        return None
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(jobs)], capture_output=True)
    if done.returncode != 0:
        return None
    return lambda: subprocess.run(["umount", "-l", str(jobs)], check=False)


def availability_attacks(server: Server, good: Path, work: Path, repo: Path, jobs_mounted: bool) -> list[Result]:
    results = [slow_bodies_against_a_client(server, good), costly_batch(server, work)]
    if jobs_mounted:
        results.append(timeline_overfilling_the_disk(server, work))
    else:
        results.append(
            Result("timeline overfilling a 1 GB jobs volume", "skipped", "507", 0, 0, 0, "mounting a tmpfs needs root")
        )
    results.append(watcher_timestamp_jump(server, work))
    with tempfile.TemporaryDirectory(prefix="preview-") as tmp:
        results.append(preview_bomb(repo, Path(tmp)))
    return results


__all__ = ["MB", "availability_attacks", "mount_small_jobs_volume"]
