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
# The video codecs clips come in, and nothing else: every other FFmpeg decoder is attack surface no
# camera or phone needs.
CODECS = frozenset(
    "h264 hevc mpeg4 msmpeg4v2 msmpeg4v3 h263 mpeg1video mpeg2video mjpeg vp8 vp9 av1 theora "  # noqa: SIM905
    "wmv1 wmv2 wmv3 vc1 rawvideo ffv1 huffyuv prores dnxhd".split()
)
# How each whitelisted container family starts. A reader that cannot be told which demuxer to use
# (decord probes on its own) only gets files whose first bytes leave FFmpeg no other choice.
MOV_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


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
    container: str = ""  # FFmpeg's name for the demuxer that opened it

    @property
    def family(self) -> str:
        """'mov', 'avi' or 'matroska': which whitelisted demuxer read the file."""
        return self.container.split(",")[0]

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
            container_name = container.format.name
    except ClipError:
        raise
    except av.error.ArgumentError as exc:  # what FFmpeg says when no whitelisted demuxer takes the file
        raise ClipError(f"{name}: not a readable video (not an MP4, MOV, AVI, MKV or WebM file)") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise ClipError(f"{name}: not a readable video ({reason(exc, path)})") from exc
    if codec not in CODECS:
        raise ClipError(f"{name}: video codec {codec!r} is not accepted (accepted: {', '.join(sorted(CODECS))})")
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
    return VideoInfo(frames, fps, width, height, duration, codec, container_name)


def sniff(path: str | Path) -> str | None:
    """The container family the file's first bytes announce ('mov', 'avi', 'matroska'), or None."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[4:8] in MOV_BOXES:
        return "mov"
    return None


def open_video(path: str | Path):
    return av.open(str(path), metadata_errors="ignore", options=OPEN_OPTIONS)


def reason(exc: Exception, path: str | Path) -> str:
    """FFmpeg's words for what went wrong, without the file's path (a server's temp path must not leak)."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].replace(str(path), Path(path).name)
    return text[:160]
