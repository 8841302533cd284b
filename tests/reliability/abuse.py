"""Abuse: every attack on the issue's list (and a few more) against a live server on loopback, with the
server's status, peak RSS growth and CPU per request.

`make abuse` runs them all and writes benchmarks/results/abuse.json; the fast tier runs the cheap ones
(tests/reliability/test_abuse.py). `--repo DIR` runs the server from another checkout (an older
commit, for before/after figures); its defaults apply, whatever they are.

Peak RSS growth is the server's VmHWM after the request minus its VmRSS before, with the peak reset
through /proc/PID/clear_refs first (Linux); CPU is the server process's user + system time across
the request. Requests go one at a time, so each figure is the attack's own.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from clipwatch.settings import PROJECT_ROOT, Settings
from devtools.processes import free_port, start, stop
from devtools.sandbox import private_copy

TICKS = os.sysconf("SC_CLK_TCK")
MB = 2**20
TARGETS = {"rss_growth_mb": 64.0, "cpu_over_budget_s": 1.0, "unauthenticated_writes": 0}


@dataclass
class Result:
    attack: str
    status: str  # the HTTP status, or what the connection did
    expected: str
    rss_growth_mb: float
    cpu_s: float
    wall_s: float
    note: str = ""
    cpu_budget_s: float | None = None  # what the attacked request may cost (default: one clip's decode budget)
    rss_budget_mb: float | None = None  # the growth it may cause (default: TARGETS["rss_growth_mb"])


class Server:
    """A live API on loopback, from this checkout or another one (--repo)."""

    def __init__(self, settings: Settings, repo: Path = PROJECT_ROOT, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self.key = key
        self.env = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "CLIPWATCH_DATA_DIR": str(settings.data_dir),
            "CLIPWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "CLIPWATCH_SECRETS_DIR": str(settings.secrets_path),
            "CLIPWATCH_UPLOAD_DIR": str(settings.upload_dir),
            **(env or {}),
        }
        self.env.pop("CLIPWATCH_API_KEY", None)
        self.repo = repo
        self.log = Path(settings.data_dir).parent / "server.log"

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "uvicorn", "api:app", "--app-dir", str(self.repo / "serving")]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = start(cmd, f"{self.url}/ready", log=self.log, env=self.env, cwd=self.repo, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        stop(self.proc)

    # --- what the attacks cost the server
    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        return 0

    def cpu(self) -> float:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / TICKS  # utime, stime

    def measure(self, name: str, expected: str, attack: Callable[[], tuple[str, str]]) -> Result:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # reset the peak
        time.sleep(0.2)
        rss0, cpu0, t0 = self._status("VmRSS"), self.cpu(), time.perf_counter()
        status, note = attack()
        wall = time.perf_counter() - t0
        time.sleep(0.5)  # let work the request left behind show (a decode that goes on after a hang-up)
        peak = self._status("VmHWM")
        return Result(
            name,
            status,
            expected,
            round((peak - rss0) / MB, 1),
            round(self.cpu() - cpu0, 2),
            round(wall, 2),
            note[:160],
        )


# --- a raw HTTP client: it must keep sending while the server answers, and survive a reset
def raw_request(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes] | bytes = b"",
    *,
    hang_up_after_body: bool = False,
    timeout: float = 300,
    source: str | None = None,
) -> tuple[str, str]:
    """(status, the answer's body). Sends the body until the server answers or closes. source: the local
    address to send from (on loopback, any 127.x.y.z: another client, as the server sees it)."""
    host, port = url.removeprefix("http://").split(":")
    bind = (source, 0) if source else None
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout, source_address=bind)
    except OSError as exc:  # refused or reset before a byte went: the server turned the connection away
        return "connection refused", str(exc)
    chunked = not isinstance(body, bytes)
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if chunked and not any(k.lower() == "content-length" for k in headers):
        head.append("Transfer-Encoding: chunked")
    elif not chunked:
        head.append(f"Content-Length: {len(body)}")
    answer = b""
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        chunks = iter([body]) if not chunked else body
        declared = any(k.lower() == "content-length" for k in headers)
        for chunk in chunks:
            if _readable(sock):
                break  # the server has answered: stop sending, as a client that reads would
            framed = chunk if not chunked or declared else b"%x\r\n%s\r\n" % (len(chunk), chunk)
            sock.sendall(framed)
        else:
            if chunked and not declared:
                sock.sendall(b"0\r\n\r\n")
        if hang_up_after_body:
            sock.close()
            return "hung up", ""
        while b"\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
        answer += _drain(sock)
    except (BrokenPipeError, ConnectionResetError):  # the server answered and closed while we sent
        answer += _drain(sock)
    except TimeoutError:
        return "client timeout", ""
    finally:
        sock.close()
    if not answer:
        return "connection closed", ""
    status = answer.split(b"\r\n", 1)[0].split(b" ")[1].decode()
    return status, answer.split(b"\r\n\r\n", 1)[-1].decode("latin-1")


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def _drain(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    out = b""
    try:
        while part := sock.recv(65536):
            out += part
    except OSError:
        pass
    return out


def filler(total: int, chunk: int = 1 << 20, byte: bytes = b"a") -> Iterator[bytes]:
    block = byte * chunk
    sent = 0
    while sent < total:
        yield block[: min(chunk, total - sent)]
        sent += chunk


def trickle(n: int, every_s: float) -> Iterator[bytes]:
    for _ in range(n):
        time.sleep(every_s)
        yield b"x"


def multipart(parts: list[bytes], boundary: str = "abuse") -> tuple[bytes, dict]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + b"--" + boundary.encode() + b"--\r\n", {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def dense_clip(path: Path, seconds: int, fps: int = 1000, size: tuple[int, int] = (320, 240)) -> Path:
    """The issue's decode bomb, shorter: `fps` frames a second behind a single keyframe."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(0)
    # Coarse blocks: cheap to compress (like the 116 MB minute), yet every frame must be decoded.
    coarse = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    base = np.kron(coarse, np.ones((16, 16, 1), dtype=np.uint8))
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"g": "1000000", "keyint_min": "1000000", "sc_threshold": "0"})
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options["preset"] = "ultrafast"
        s.codec_context.time_base = Fraction(1, fps)
        for i in range(seconds * fps):
            frame = np.roll(base, i % size[0], axis=1)  # every frame differs: nothing is free to decode
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(path)
    return path


def attacks(server: Server, clips: dict[str, Path], quick: bool) -> list[Result]:
    url, key = server.url, {"Authorization": f"Bearer {server.key}"}
    big = 100 * MB if quick else 400 * MB
    label = f"{big // MB} MB"
    json_headers = {"Content-Type": "application/json"}
    video = {"Content-Type": "video/mp4"}
    runs: list[tuple[str, str, Callable[[], tuple[str, str]]]] = [
        (
            f"{label} JSON body to /model/rollback, no key",
            "401",
            lambda: raw_request(url, "POST", "/model/rollback", json_headers, filler(big, byte=b"[")),
        ),
        (
            f"{label} JSON body to /feedback, no key",
            "401",
            lambda: raw_request(url, "POST", "/feedback", json_headers, filler(big, byte=b"[")),
        ),
        (
            f"{label} JSON body to /feedback, with the key",
            "413",
            lambda: raw_request(url, "POST", "/feedback", {**json_headers, **key}, filler(big, byte=b"[")),
        ),
        (
            "declared 10 GB upload to /predict",
            "413",
            lambda: raw_request(url, "POST", "/predict", {**video, "Content-Length": str(10 * 2**30)}, filler(MB)),
        ),
        (
            f"{label} chunked upload to /predict (no Content-Length)",
            "413" if big > 200 * MB else "422",
            lambda: raw_request(url, "POST", "/predict", video, filler(big)),
        ),
        (
            "multipart part with 1 MB of headers",
            "400",
            lambda: raw_request(url, "POST", "/predict", *reversed(multipart([b"X-Pad: " + b"a" * MB + b"\r\n\r\nx"]))),
        ),
        (
            "multipart body of 100,000 empty fields",
            "413",
            lambda: raw_request(
                url,
                "POST",
                "/predict",
                *reversed(multipart([b'Content-Disposition: form-data; name="f"\r\n\r\n'] * 100_000)),
            ),
        ),
        (
            "HLS playlist uploaded as .mp4",
            "422",
            lambda: raw_request(url, "POST", "/predict", video, b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n"),
        ),
    ]
    if "flv" in clips:
        runs.append(
            (
                "clip in a codec outside the whitelist (Sorenson H.263)",
                "422",
                lambda: raw_request(url, "POST", "/predict", video, clips["flv"].read_bytes()),
            )
        )
    if "dense" in clips:
        data = clips["dense"].read_bytes()
        runs += [
            (
                f"{len(data) / MB:.0f} MB H.264 clip at 1000 fps behind one keyframe",
                "422",
                lambda: raw_request(url, "POST", "/predict", video, data),
            ),
            (
                "the same clip, client hangs up once it is sent",
                "hung up",
                lambda: raw_request(url, "POST", "/predict", video, data, hang_up_after_body=True),
            ),
        ]
    if not quick:
        runs.append(
            (
                "body trickling in at 2 bytes/s",
                "408",
                lambda: raw_request(url, "POST", "/predict", video, trickle(600, 0.5)),
            )
        )
    results = [server.measure(name, expected, fn) for name, expected, fn in runs]
    results.append(server.measure("uploads beyond the in-flight bound", "503", lambda: _flood(url)))
    return results


def _flood(url: str) -> tuple[str, str]:
    """Eight slow uploads at once: those beyond the bound must be turned away, not queued."""
    statuses: list[str] = []

    def one() -> None:
        statuses.append(raw_request(url, "POST", "/predict", {"Content-Type": "video/mp4"}, trickle(6, 0.5))[0])

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = statuses.count("503")
    return ("503" if busy else "no 503"), f"{busy} of 8 got 503; the others: {sorted(set(statuses) - {'503'})}"


def unauthenticated_writes(server: Server, clip: Path) -> Result:
    """Every way to write without the key; the count that got through."""
    url = server.url
    data = clip.read_bytes()
    form, headers = multipart(
        [
            b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n' + data,
            b'Content-Disposition: form-data; name="target"\r\n\r\nwalk',
        ]
    )
    tries = {
        "feedback JSON": (
            "POST",
            "/feedback",
            {"Content-Type": "application/json"},
            b'{"prediction_id":"%s","target":"walk"}',
        ),
        "feedback upload": ("POST", "/feedback", headers, form),
        "rollback": ("POST", "/model/rollback", {"Content-Type": "application/json"}, b"{}"),
        "model": ("GET", "/model", {}, b""),
    }
    pid = json.loads(raw_request(url, "POST", "/predict", {"Content-Type": "video/mp4"}, data)[1] or "{}").get(
        "prediction_id", "0" * 32
    )
    statuses = {}
    t0, cpu0 = time.perf_counter(), server.cpu()
    for name, (method, path, h, body) in tries.items():
        body = body.replace(b"%s", pid.encode()) if b"%s" in body else body
        for auth in ({}, {"Authorization": "Bearer wrong"}):
            statuses[f"{name} {'wrong key' if auth else 'no key'}"] = raw_request(
                url, method, path, {**h, **auth}, body
            )[0]
    through = sum(s.startswith("2") for s in statuses.values())
    note = ", ".join(f"{k}: {v}" for k, v in statuses.items())
    return Result(
        "writes without the key (API)",
        f"{through} of {len(statuses)} got through",
        "0 got through",
        0.0,
        round(server.cpu() - cpu0, 2),
        round(time.perf_counter() - t0, 2),
        note,
    )


def formula_feedback(server: Server, clip: Path) -> Result:
    form, headers = multipart(
        [
            b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n' + clip.read_bytes(),
            b'Content-Disposition: form-data; name="target"\r\n\r\nwalk',
            b'Content-Disposition: form-data; name="prediction"\r\n\r\n=HYPERLINK("http://evil.example","walk")',
        ]
    )
    auth = {"Authorization": f"Bearer {server.key}"}
    return server.measure(
        "feedback whose prediction is a spreadsheet formula",
        "422",
        lambda: raw_request(server.url, "POST", "/feedback", {**headers, **auth}, form),
    )


def webapp_writes(server: Server, clip: Path) -> Result:
    """The web app as Compose runs it (beyond localhost), a visitor who has not signed in: the feedback
    form must not exist, and prod_data.csv must not grow."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    webapp = PROJECT_ROOT / "webapp"
    sys.path.insert(0, str(webapp))
    os.environ.update(API_URL=server.url, CLIPWATCH_SECRETS_DIR=str(server.settings.secrets_path))
    config.set_option("server.address", "0.0.0.0")
    prod = Path(server.settings.data_dir) / "prod_data.csv"
    before = prod.stat().st_size if prod.exists() else 0
    t0 = time.perf_counter()
    at = AppTest.from_file(str(webapp / "views" / "classify.py"), default_timeout=120).run()
    at.file_uploader[0].set_value((clip.name, clip.read_bytes(), "video/mp4"))
    at = at.run()
    at.button[0].click().run()  # Predict
    forms = [b.label for b in at.button if "feedback" in b.label.lower()]
    after = prod.stat().st_size if prod.exists() else 0
    written = int(after != before) + len(forms)
    return Result(
        "feedback through the web app, not signed in",
        f"{written} writes, feedback buttons {forms}",
        "0 writes",
        0.0,
        0.0,
        round(time.perf_counter() - t0, 2),
        "predicted: " + ", ".join(m.value for m in at.metric),
    )


def sample_clips(work: Path, quick: bool) -> dict[str, Path]:
    from tests.conftest import gradient_frames, write_clip

    clips = {"flv": write_clip(work / "sorenson.avi", gradient_frames(10), codec="flv")}
    seconds = 5 if quick else 60  # past the default budget of 3000 frames either way; 60 s is the clip
    clips["dense"] = dense_clip(PROJECT_ROOT / "build" / "abuse" / f"dense-{seconds}s.mp4", seconds)
    return clips


def verdict(results: list[Result], settings: Settings) -> list[str]:
    problems = []
    for r in results:
        if r.status == "skipped":
            continue
        if r.rss_growth_mb > (TARGETS["rss_growth_mb"] if r.rss_budget_mb is None else r.rss_budget_mb):
            problems.append(f"{r.attack}: RSS grew {r.rss_growth_mb} MB")
        budget = settings.decode_cpu_s if r.cpu_budget_s is None else r.cpu_budget_s
        if r.cpu_s > budget + TARGETS["cpu_over_budget_s"]:
            problems.append(f"{r.attack}: {r.cpu_s} s of CPU")
        if r.expected.endswith("got through") or r.expected.endswith("writes"):
            if not r.status.startswith("0 "):
                problems.append(f"{r.attack}: {r.status}")
        elif r.status != r.expected and not (r.expected == "400" and r.status == "413"):
            problems.append(f"{r.attack}: {r.status}, expected {r.expected}")
    return problems


def run(
    root: Path,
    repo: Path = PROJECT_ROOT,
    quick: bool = False,
    source: Settings | None = None,
    good: Path | None = None,
    webapp: bool = True,
) -> dict:
    """source: whose artifacts to copy (default: this checkout's); good: a clip the model can classify."""
    from tests.reliability.abuse_availability import availability_attacks, mount_small_jobs_volume

    s = private_copy(root, source)
    clips = sample_clips(root, quick)
    good = good or sorted(Path((source or Settings()).data_dir, "videos").rglob("*.mp4"))[0]
    env = {
        "CLIPWATCH_BODY_TIMEOUT_S": "10",  # the default 120 s, shortened so the trickle ends in a run
        "CLIPWATCH_MAX_UPLOADS_PER_CLIENT": "2",  # as the scale profile sets it (0, off, on a bare host)
    }
    unmount = None if quick else mount_small_jobs_volume(Path(s.data_dir) / "jobs")
    try:
        with Server(s, repo, env) as server:
            # The availability attacks first: the batch's memory is judged against one such clip on the same
            # server, which the large bodies below would otherwise have left in another state.
            results = [] if quick else availability_attacks(server, good, Path(root), repo, unmount is not None)
            results += attacks(server, clips, quick)
            results.append(unauthenticated_writes(server, good))
            results.append(formula_feedback(server, good))
            if webapp and repo == PROJECT_ROOT:
                results.append(webapp_writes(server, good))
    finally:
        if unmount:
            unmount()
    return {
        "repo": str(repo),
        "settings": {
            "max_upload_mb": s.max_upload_mb,
            "decode_cpu_s": s.decode_cpu_s,
            "decode_max_frames": s.decode_max_frames,
            "body_timeout_s": 10,
            "max_uploads_per_client": 2,
        },
        "targets": TARGETS,
        "results": [asdict(r) for r in results],
        "problems": verdict(results, s),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def table(report: dict) -> str:
    lines = [
        "| attack | status | expected | RSS growth (MB) | server CPU (s) | wall (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['attack']} | {r['status']} | {r['expected']} | {r['rss_growth_mb']} | {r['cpu_s']} | {r['wall_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=PROJECT_ROOT, help="run the server from this checkout")
    parser.add_argument("--quick", action="store_true", help="the cheap attacks only, smaller bodies")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "abuse.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clipwatch-abuse-") as tmp:
        report = run(Path(tmp), args.repo.resolve(), args.quick)
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}; " + ("; ".join(report["problems"]) if report["problems"] else "all targets met"))
    sys.exit(1 if report["problems"] and args.repo.resolve() == PROJECT_ROOT else 0)


if __name__ == "__main__":
    main()
