"""Opening clips: a safe open, the header probe that refuses unusable files before any decoding,
and where the K segment centres fall. Sampling the frames is clipwatch.sampling's."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from clipwatch.errors import ClipwatchError

# The demuxers behind MP4/MOV, AVI and MKV/WebM, and nothing else: FFmpeg would otherwise also open
# images, playlists and concat scripts (which name other files or URLs to read) uploaded as ".mp4".
CONTAINERS = "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm"
OPEN_OPTIONS = {"format_whitelist": CONTAINERS, "protocol_whitelist": "file"}


class ClipError(ClipwatchError, ValueError):
    """A clip that cannot be turned into frames. The message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str

    def as_dict(self) -> dict:
        return asdict(self)


def segment_centres(n_frames: int, k: int) -> np.ndarray:
    """Indices of the centres of k equal segments; repeats when n_frames < k."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    return np.minimum(((np.arange(k) + 0.5) * n_frames / k).astype(np.int64), n_frames - 1)


def probe(path: str | Path, *, max_pixels: int, max_duration_s: float) -> VideoInfo:
    """Read a clip's header. Raises ClipError for anything that is not a usable video."""
    name = Path(path).name
    try:
        with open_video(path) as container:
            if not container.streams.video:
                raise ClipError(f"{name}: no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate or 0
            fps = float(rate) if rate else 0.0
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = float(container.duration or 0) / av.time_base
            frames = int(stream.frames or 0)
            codec = stream.codec_context.name
    except ClipError:
        raise
    except av.error.ArgumentError as exc:  # what FFmpeg says when no whitelisted demuxer takes the file
        raise ClipError(f"{name}: not a readable video (not an MP4, MOV, AVI, MKV or WebM file)") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise ClipError(f"{name}: not a readable video ({reason(exc, path)})") from exc
    if width <= 0 or height <= 0:
        raise ClipError(f"{name}: video stream has no frame size")
    if width * height > max_pixels:
        raise ClipError(f"{name}: frame size {width}x{height} exceeds the limit of {max_pixels} pixels")
    if duration > max_duration_s:
        raise ClipError(f"{name}: duration {duration:.0f} s exceeds the limit of {max_duration_s:.0f} s")
    if frames <= 0 and duration <= 0:
        raise ClipError(f"{name}: video has no frames")
    if frames <= 0 and fps > 0 and duration > 0:
        frames = round(duration * fps)
    return VideoInfo(frames, fps, width, height, duration, codec)


def open_video(path: str | Path):
    return av.open(str(path), metadata_errors="ignore", options=OPEN_OPTIONS)


def reason(exc: Exception, path: str | Path) -> str:
    """FFmpeg's words for what went wrong, without the file's path (a server's temp path must not leak)."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].replace(str(path), Path(path).name)
    return text[:160]
