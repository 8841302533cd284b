"""Streams that misbehave on purpose, for the watcher's tests and `make abuse`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def leaping_stream(path: Path, jump_s: float, seconds: float = 3.0, fps: int = 25) -> Path:
    """MPEG-TS whose timestamps leap jump_s ahead halfway: a camera's clock reset, or a crafted packet."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 90000)
        n = int(seconds * fps)
        for i in range(n):
            picture = np.full((120, 160, 3), (i * 7) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = int((i / fps + (jump_s if i >= n // 2 else 0.0)) * 90000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
