"""Making any clip playable in a browser, for previews only (the model always gets the original)."""

from __future__ import annotations

from pathlib import Path

import av
from av.video.reformatter import VideoReformatter

from clipwatch.decode_budget import DecodeBudget
from clipwatch.settings import Settings
from clipwatch.video import open_video, probe

# (container, codec) pairs Chromium plays natively.
PLAYABLE = {("mp4", "h264"), ("mov", "h264"), ("webm", "vp8"), ("webm", "vp9"), ("mp4", "av1"), ("webm", "av1")}


def _container_kind(container) -> str:
    """FFmpeg names families ("matroska,webm", "mov,mp4,..."); the file name tells the member apart."""
    names = container.format.name.split(",")
    name = str(container.name).lower()
    if "matroska" in names:
        return "webm" if name.endswith(".webm") else "mkv"
    if "mp4" in names or "mov" in names:
        return "mov" if name.endswith(".mov") else "mp4"
    return names[0]


def browser_playable(path: str | Path) -> bool:
    try:
        with open_video(path) as c:
            if not c.streams.video:
                return False
            return (_container_kind(c), c.streams.video[0].codec_context.name) in PLAYABLE
    except av.error.FFmpegError:
        return False


def transcode_h264(
    src: str | Path, dst: str | Path, settings: Settings, *, max_width: int = 640, max_seconds: float = 120.0
) -> Path:
    """Re-encode to H.264 MP4 (yuv420p, faststart), at most max_width wide and max_seconds long.

    Anyone who can open the page can make it do this, so it is held to the API's rules for a clip: the
    probe (demuxer and codec whitelists, the pixel cap, the longest duration) and the decode budget, and
    the length is measured on the frames' own timestamps, not on the frame rate the file declares."""
    dst = Path(dst)
    probe(src, max_pixels=settings.max_frame_pixels, max_duration_s=settings.max_duration_s)
    budget = DecodeBudget(settings.decode_max_frames, settings.decode_cpu_s, name=Path(src).name)
    with open_video(src) as inp:
        vin = inp.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate or 25
        w, h = vin.codec_context.width, vin.codec_context.height
        if w > max_width:
            w, h = max_width, int(h * max_width / w)
        w, h = w - w % 2, h - h % 2
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
            # One encoder thread: the budget counts this thread's CPU, so the work stays in it.
            vout.options = {"crf": "26", "preset": "veryfast", "threads": "1"}
            scaler = VideoReformatter()  # one scaler for all frames: frame.reformat builds one per frame
            first = None
            for frame in inp.decode(vin):
                budget.charge()
                if frame.time is not None:
                    first = frame.time if first is None else first
                    if frame.time - first >= max_seconds:
                        break
                frame = scaler.reformat(frame, width=w, height=h, format="yuv420p")
                frame.pts = None
                for packet in vout.encode(frame):
                    out.mux(packet)
            for packet in vout.encode():
                out.mux(packet)
    return dst
