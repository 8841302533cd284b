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


@dataclass(frozen=True)
class FramePlan:
    """Which frames a clip gives: `per_segment` frames for each of `k` equal segments, in time order.

    They spread evenly over the segment, as `segment_centres(n, k * per_segment)` does, unless the
    segment is longer than `span_s` seconds: then they spread over `span_s` around its centre. A
    dynamic image is made of one segment's frames, so it sees motion over at most `span_s` (not
    frames a minute apart on a long clip), and decoding stays within about one keyframe interval of
    each centre, which keeps a long clip with rare keyframes within the decode budget."""

    k: int
    per_segment: int = 1
    span_s: float | None = None

    @property
    def count(self) -> int:
        return self.k * self.per_segment

    def gathers(self, segment: float, rate: float) -> bool:
        """Whether a segment `segment` long (frames or seconds) gathers its frames near its centre."""
        return self.per_segment > 1 and bool(self.span_s) and rate > 0 and self.span_s * rate < segment

    def _gathered(self, segment: float, rate: float) -> np.ndarray:
        """Offsets of a gathering segment's frames from its start."""
        span = self.span_s * rate
        return segment / 2 - span / 2 + (np.arange(self.per_segment) + 0.5) * span / self.per_segment

    def indices(self, n_frames: int, fps: float) -> np.ndarray:
        """Frame indices, `count` of them (repeating when the clip has fewer frames)."""
        segment = n_frames / self.k
        if not self.gathers(segment, fps):
            return segment_centres(n_frames, self.count)
        at = (np.arange(self.k) * segment)[:, None] + self._gathered(segment, fps)[None, :]
        return np.clip(at.reshape(-1).astype(np.int64), 0, n_frames - 1)

    def times(self, duration_s: float) -> np.ndarray:
        """The same positions in seconds from the start, for readers that seek by time."""
        segment = duration_s / self.k
        if not self.gathers(segment, 1.0):
            return (np.arange(self.count) + 0.5) * duration_s / self.count
        return ((np.arange(self.k) * segment)[:, None] + self._gathered(segment, 1.0)[None, :]).reshape(-1)

    def grid_time(self, u: int, segment_s: float) -> float:
        """Seconds of picture u on an endless grid of segments `segment_s` long (a timeline's or a live
        source's), placed as a clip's are: windows then see what /predict sees of the same stretch."""
        if not self.gathers(segment_s, 1.0):
            return (u + 0.5) * segment_s / self.per_segment
        j, i = divmod(u, self.per_segment)
        return j * segment_s + float(self._gathered(segment_s, 1.0)[i])


def plan_of(frames: int | FramePlan) -> FramePlan:
    """A bare count means one frame per segment, as it always has."""
    return frames if isinstance(frames, FramePlan) else FramePlan(frames)


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
