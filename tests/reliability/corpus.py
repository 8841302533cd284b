"""A corpus of hostile uploads, generated from one good clip.

Each case says what the server must do with it: refuse it with a 4xx whose
reason contains ``reason``, or, where the file really is a video, classify it
(and, where the pictures are the good clip's, give the good clip's label).
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tests.conftest import write_clip

EVIL_NAME = "../../../etc/cron.d/x; rm -rf ~ `id` $(reboot) & |.mp4"


@dataclass(frozen=True)
class Case:
    kind: str
    filename: str
    path: Path
    expect: str  # "refused" | "video"
    reason: str = ""  # for "refused": a phrase the error must contain
    same_label: bool = False  # for "video": the good clip's pictures, so the good clip's label
    seconds: float = 15.0  # time bound for the server's answer


def decode(path: Path) -> tuple[list[np.ndarray], int]:
    with av.open(str(path)) as c:
        rate = round(float(c.streams.video[0].average_rate))
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], rate


def judge(client, case: Case, good_label: str) -> dict:
    """POST a case to /predict (and a refused one to /feedback too) with any httpx-style client.

    Returns a row of figures whose "problems" lists what went wrong (empty when it was handled right)."""
    data = case.path.read_bytes()
    start = time.perf_counter()
    r = client.post("/predict", files={"file": (case.filename, data)})
    seconds = time.perf_counter() - start
    body = r.json()
    problems = []
    if seconds > case.seconds:
        problems.append(f"took {seconds:.1f} s (bound {case.seconds:.0f} s)")
    if case.expect == "refused":
        if not 400 <= r.status_code < 500:
            problems.append(f"/predict answered {r.status_code}, not a 4xx: {r.text[:200]}")
        elif case.reason not in body["detail"]:
            problems.append(f"reason {body['detail']!r} lacks {case.reason!r}")
        fb = client.post("/feedback", files={"file": (case.filename, data)}, data={"target": good_label})
        if not 400 <= fb.status_code < 500:
            problems.append(f"/feedback answered {fb.status_code}, not a 4xx")
    elif r.status_code != 200:
        problems.append(f"a real video refused: {r.status_code} {r.text[:200]}")
    elif case.same_label and body["label"] != good_label:
        problems.append(f"labelled {body['label']!r}, the clip it was made from is {good_label!r}")
    if "/etc/" in r.text or "/tmp/" in r.text:
        problems.append("a server path leaked into the answer")
    return {
        "kind": case.kind,
        "expected": case.expect,
        "status": r.status_code,
        "answer": body.get("label") or body.get("detail", "")[:160],
        "seconds": round(seconds, 3),
        "bound_s": case.seconds,
        "problems": problems,
    }


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        t = np.arange(16000 * 2) / 16000
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for i in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, i : i + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _patch_box(data: bytes, box: bytes, fill: Callable[[int], bytes]) -> bytes:
    """Overwrite the payload of the first MP4 box named `box` (keeps its size, so the file still parses)."""
    at = data.find(box)
    if at < 4:
        raise ValueError(f"no {box!r} box")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    start, end = at + 4, at - 4 + size
    return data[:start] + fill(end - start) + data[end:]


def _declared_avi(path: Path, side: int) -> Path:
    """An uncompressed AVI whose headers declare side x side pixels (its frames are 64x48): nothing to decode
    corrects the header, so the declared size is what a reader sees."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("rawvideo", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr24"
        for _ in range(5):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = bytearray(path.read_bytes())
    big = struct.pack("<I", side) * 2
    avih = data.find(b"avih") + 8  # dwWidth, dwHeight are its 9th and 10th DWORDs
    data[avih + 32 : avih + 40] = big
    strf = data.find(b"strf") + 8  # BITMAPINFOHEADER: biSize, biWidth, biHeight
    data[strf + 4 : strf + 12] = big
    path.write_bytes(bytes(data))
    return path


def build(good: Path, out: Path, *, long_minutes: float = 10.0) -> list[Case]:
    """Write every case under out/ and return them. `good` is an H.264 MP4 of an action."""
    out.mkdir(parents=True, exist_ok=True)
    raw = good.read_bytes()
    frames, fps = decode(good)
    rng = np.random.default_rng(7)
    cases: list[Case] = []

    def put(kind: str, data: bytes, name: str = "clip.mp4", **kw) -> None:
        p = out / f"{kind}{Path(name).suffix or '.bin'}"
        p.write_bytes(data)
        cases.append(Case(kind, name, p, **kw))

    def made(kind: str, p: Path, name: str = "clip.mp4", **kw) -> None:
        cases.append(Case(kind, name, p, **kw))

    put("empty", b"", expect="refused", reason="empty")
    put("random bytes", rng.bytes(300_000), expect="refused", reason="not a readable video")
    for pct in (10, 50, 90):
        put(f"truncated at {pct}%", raw[: len(raw) * pct // 100], expect="refused", reason="")
    put("valid header, garbage after", raw[:2048] + rng.bytes(len(raw)), expect="refused")
    put("corrupted moov atom", _patch_box(raw, b"moov", rng.bytes), expect="refused")
    put("zeroed mdat", _patch_box(raw, b"mdat", lambda n: bytes(n)), expect="refused")
    made("audio-only MP4", _audio_only(out / "audio.m4a"), "song.mp4", expect="refused", reason="no video stream")
    made(
        "a single frame",
        write_clip(out / "single.mp4", frames[len(frames) // 2 : len(frames) // 2 + 1], fps),
        expect="video",
    )
    # Variable frame rate: the good clip's frames at irregular times (gaps of 20-80 ms).
    gaps = np.cumsum(rng.integers(20, 80, size=len(frames)))
    made(
        "variable frame rate",
        write_clip(out / "vfr.mp4", frames, fps, pts=[int(g) for g in gaps - gaps[0]]),
        expect="video",
        same_label=True,
    )
    # A long clip: the good clip looped for long_minutes at 320x240, long GOPs; sampling must seek, not decode all.
    n_long = int(long_minutes * 60 * fps)
    looped = (frames[i % len(frames)] for i in range(n_long))
    made(
        "a 10-minute clip",
        write_clip(out / "long.mp4", looped, fps, options={"preset": "ultrafast", "g": "250"}),
        expect="video",
        same_label=True,
        seconds=20.0,
    )
    big = [_resize(f, 3840, 2160) for f in frames[:8]]
    made(
        "4K (3840x2160)",
        write_clip(out / "4k.mp4", big, fps, options={"preset": "ultrafast"}),
        expect="video",
        seconds=30.0,
    )
    made("declared 30000x30000", _declared_avi(out / "huge.avi", 30000), "huge.avi", expect="refused")
    made(
        "declared 8000x8000",
        _declared_avi(out / "big.avi", 8000),
        "big.avi",
        expect="refused",
        reason="exceeds the limit",
    )
    # Rotated metadata: pictures stored turned a quarter clockwise, with a display matrix that turns them back.
    turned = [np.rot90(f, k=-1) for f in frames]
    made(
        "rotated (display matrix 90)",
        write_clip(out / "rotated.mp4", turned, fps, rotation=90),
        expect="video",
        same_label=True,
    )
    made(
        "WebM named .mp4",
        write_clip(
            out / "vp9.webm", frames, fps, codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"}
        ),
        "clip.mp4",
        expect="video",
        same_label=True,
    )
    png = _png(frames[0])
    put("PNG renamed .mp4", png, expect="refused", reason="not a readable video")
    put("JPEG renamed .mp4", _jpeg(frames[0]), expect="refused", reason="not a readable video")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("clip.mp4", raw)
    put("a zip holding a clip", buf.getvalue(), "clip.zip", expect="refused", reason="not a readable video")
    html = b"<!doctype html><html><body><script>alert(1)</script><video src='x.mp4'></video></body></html>\n" * 50
    put("an HTML page", html, "index.mp4", expect="refused", reason="not a readable video")
    m3u8 = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\nhttp://169.254.169.254/\n"
    put("HLS playlist pointing at local files", m3u8, "x.m3u8", expect="refused", reason="not a readable video")
    put(
        "ffconcat script",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        "x.mp4",
        expect="refused",
        reason="not a readable video",
    )
    put("../ and shell characters in the name", raw, EVIL_NAME, expect="video", same_label=True)
    put("a 400-character unicode name", raw, "\u00e9\u6f22\u200f" * 130 + ".mp4", expect="video", same_label=True)
    return cases


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def _png(frame: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", frame[:, :, ::-1])[1].tobytes()


def _jpeg(frame: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".jpg", frame[:, :, ::-1])[1].tobytes()
