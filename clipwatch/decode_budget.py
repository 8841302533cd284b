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
        if self.cpu() > self.cpu_s:
            raise ClipError(
                f"{self.name}: decoding this clip takes more than {self.cpu_s:g} s of CPU "
                f"(the decode budget, {self.cpu_setting}): re-encode it smaller or trim it"
            )


def unlimited() -> DecodeBudget:
    """For callers that decode trusted files outside any request (tests, benchmarks)."""
    return DecodeBudget(max_frames=2**62, cpu_s=float("inf"))
