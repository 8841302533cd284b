"""What decoding one clip may cost: frames decoded and CPU seconds, and a way to stop it from outside.

A file can be small and still expensive: 60 s at 1000 fps with one keyframe is a 116 MB upload that
takes 14 s of CPU to decode to its last frame. Every reader charges the budget as it goes and stops
as soon as it runs out, or as soon as the request it serves is gone.

CPU is counted conservatively. FFmpeg's frame threads are not ours to time, so a decode running T
of them is charged the calling thread's CPU plus T times the wall-clock time: what they could at
most have used. A busy machine can only make the charge larger, never let a clip past its budget.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from clipwatch.video import ClipError


class Cancelled(Exception):
    """The request went away; the decode stopped. Nobody is waiting for an answer."""


class RequestBudget(threading.Event):
    """What all of one request's decodes may cost together (a batch of clips), on top of each clip's own
    budget. It is the request's cancel event as well (set when the client hangs up), so it reaches every
    decode the request starts the way cancelling does.

    Each clip's budget reports its own CPU from its own thread (thread CPU time can only be read there);
    the request's total is the sum of the last reports, checked at every frame."""

    def __init__(self, cpu_s: float, setting: str = "CLIPWATCH_BATCH_DECODE_CPU_S"):
        super().__init__()
        self.cpu_s = cpu_s
        self.setting = setting
        self._lock = threading.Lock()
        self._clips: dict[int, float] = {}

    def join(self) -> int:
        """A key for one clip's reports (not its id(): a finished budget's id can be reused)."""
        with self._lock:
            self._clips[len(self._clips)] = 0.0
            return len(self._clips) - 1

    def report(self, clip: int, cpu: float) -> float:
        with self._lock:
            self._clips[clip] = cpu
            return sum(self._clips.values())

    @property
    def spent(self) -> float:
        with self._lock:
            return sum(self._clips.values())


@dataclass
class DecodeBudget:
    max_frames: int
    cpu_s: float
    threads: int = 1
    cancel: threading.Event | None = None
    name: str = "clip"  # the file, for the message
    frames_setting: str = "CLIPWATCH_DECODE_MAX_FRAMES"  # the settings the messages name
    cpu_setting: str = "CLIPWATCH_DECODE_CPU_S"
    frames: int = 0
    _wall0: float = field(default_factory=time.perf_counter)
    _cpu0: float = field(default_factory=time.thread_time)
    _request_key: int | None = None

    def cpu(self) -> float:
        own = time.thread_time() - self._cpu0
        if self.threads <= 1:
            return own
        return own + self.threads * (time.perf_counter() - self._wall0)

    def charge(self, frames: int = 1) -> None:
        """Count decoded frames; raise once the clip is over budget or nobody wants the answer."""
        self.frames += frames
        self.check()

    def check(self, more_frames: int = 0) -> None:
        """Raise if the budget is spent, or would be by decoding more_frames frames."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("the client went away")
        if self.frames + more_frames > self.max_frames:
            raise ClipError(
                f"{self.name}: decoding this clip needs more than {self.max_frames} frames "
                f"(the decode budget, {self.frames_setting}): re-encode it with more keyframes, or trim it"
            )
        cpu = self.cpu()
        if cpu > self.cpu_s:
            raise ClipError(
                f"{self.name}: decoding this clip takes more than {self.cpu_s:g} s of CPU "
                f"(the decode budget, {self.cpu_setting}): re-encode it smaller or trim it"
            )
        request = self.cancel if isinstance(self.cancel, RequestBudget) else None
        if request is not None and self._request_key is None:
            self._request_key = request.join()
        if request is not None and request.report(self._request_key, cpu) > request.cpu_s:
            raise ClipError(
                f"{self.name}: this request's clips together took more than {request.cpu_s:g} s of decoding CPU "
                f"({request.setting}): send fewer or smaller clips per request"
            )


def unlimited() -> DecodeBudget:
    """For callers that decode trusted files outside any request (tests, benchmarks)."""
    return DecodeBudget(max_frames=2**62, cpu_s=float("inf"))
