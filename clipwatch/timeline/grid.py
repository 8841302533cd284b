"""Pictures on a time grid from one sequential decode of a file: what a timeline's windows share.

A first pass reads the packet index (no decoding) so that the decoder can drop the non-reference frames
no grid point needs; a file whose packets carry no timestamps is decoded in full instead. Decoding runs
in a thread of its own (`batches`), a bounded queue ahead of the CNN, so memory holds a few batches of
pictures whatever the length of the file.
"""

from __future__ import annotations

import bisect
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.decode_budget import DecodeBudget
from clipwatch.sampling import Pictures, frame_threads
from clipwatch.video import ClipError, VideoInfo, open_video

BATCH = 32  # grid pictures per CNN run
EPS = 1e-9


@dataclass(frozen=True)
class Limits:
    """What decoding one long file may cost (the clip budget's settings are for clips)."""

    max_frames: int
    cpu_s: float
    cancel: threading.Event | None = None


def grid_pictures(
    path: Path, info: VideoInfo, times: list[float], size: int, limits: Limits
) -> Iterator[tuple[int, np.ndarray]]:
    """(j, picture shown at times[j]) for every j, in order, from one decode; times must ascend.

    The budget is made here, in the thread that iterates: it measures that thread's CPU time."""
    n_grid = len(times)
    threads = frame_threads(info)
    budget = DecodeBudget(
        limits.max_frames,
        limits.cpu_s,
        threads,
        limits.cancel,
        path.name,
        frames_setting="CLIPWATCH_TIMELINE_MAX_FRAMES",
        cpu_setting="CLIPWATCH_TIMELINE_CPU_S",
    )
    with open_video(path) as container:
        stream = container.streams.video[0]
        if threads > 1:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
        start = stream.start_time or 0
        tb = float(stream.time_base)
        wanted = _wanted_pts(container, stream, times, start, tb)
        budget.check()
        if wanted is not None:
            container.seek(start, stream=stream, backward=True)
        codec = stream.codec_context
        picture = Pictures(size)
        j = 0
        held: tuple[float, object] | None = None  # the last frame decoded and its time, converted lazily
        held_picture: np.ndarray | None = None
        for packet in container.demux(stream):
            if wanted is not None and packet.size:
                # FFmpeg reads skip_frame per packet: drop non-reference frames no grid point shows.
                codec.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
            budget.check()
            for frame in codec.decode(packet):
                budget.charge()
                if frame.pts is None:
                    continue
                t = (frame.pts - start) * tb
                # Every grid time before this frame's shows the frame held until now.
                while held is not None and j < n_grid and times[j] < t - EPS:
                    if held_picture is None:
                        held_picture = picture(held[1])
                    yield j, held_picture
                    j += 1
                if j >= n_grid:
                    return
                held, held_picture = (t, frame), None
        while held is not None and j < n_grid:  # the file's last picture shows until its end
            if held_picture is None:
                held_picture = picture(held[1])
            yield j, held_picture
            j += 1
    if j < n_grid:
        raise ClipError(
            f"{path.name}: the video ends after {times[j]:.1f} s, not at the {info.duration_s:.1f} s its header says"
        )


def _wanted_pts(container, stream, times: list[float], start: int, tb: float) -> set[int] | None:
    """The pts of the frames the grid shows, from the packet index (no decoding); None if it has no timestamps."""
    pts = [p.pts for p in container.demux(stream) if p.size]
    if not pts or any(p is None for p in pts):
        return None
    shown = sorted(pts)
    seconds = [(p - start) * tb for p in shown]
    wanted = set()
    for t in times:
        i = bisect.bisect_right(seconds, t + EPS) - 1
        wanted.add(shown[max(i, 0)])
    return wanted


def batches(make: Callable[[], Iterator[tuple[int, np.ndarray]]]) -> Iterator[tuple[int, np.ndarray]]:
    """BATCH pictures at a time, decoded in a thread of their own two batches ahead of the CNN."""
    out: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    END = object()

    def produce() -> None:
        batch: list[np.ndarray] = []
        first = 0
        pictures = make()
        try:
            for j, pic in pictures:
                if stop.is_set():
                    break
                if not batch:
                    first = j
                batch.append(pic)
                if len(batch) == BATCH:
                    _put(out, (first, np.stack(batch)), stop)
                    batch = []
            if batch:
                _put(out, (first, np.stack(batch)), stop)
            _put(out, END, stop)
        except BaseException as exc:  # handed to the consumer, which raises it where the caller sees it
            _put(out, exc, stop)
        finally:
            pictures.close()  # the file closes now, not when the generator is collected

    thread = threading.Thread(target=produce, name="timeline-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            continue
