"""Dynamic batching: concurrent requests' frames share one CNN run.

Each request decodes and preprocesses its frames in its own thread, then hands them to one batching
thread that owns the CNN. That thread takes whatever is waiting, waits a short window for requests
that are still decoding (only when there are some), concatenates up to a bounded number of frames,
runs the backbone once and hands each request its rows. Decoding of one request thus overlaps the
CNN of another, and under load the CNN runs at larger, more efficient batch sizes (the adaptive
batching of Triton and BentoML). A lone request never waits.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


class FrameBatcher:
    def __init__(self, run: Runner, *, window_ms: float = 3.0, max_frames: int = 32):
        self._run = run
        self.window_s = window_ms / 1e3
        self.max_frames = max_frames
        self._queue: queue.Queue[tuple[np.ndarray, Future] | None] = queue.Queue()
        self._active = 0  # requests between start() and their result: some may still be decoding
        self._lock = threading.Lock()
        self.batches = 0
        self.frames = 0
        self._thread = threading.Thread(target=self._loop, name="cnn-batcher", daemon=True)
        self._thread.start()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around a whole request, decoding included: while it decodes, a batch is worth waiting for."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Preprocessed frames in, one feature row per frame out (runs in the batch thread)."""
        future: Future = Future()
        self._queue.put((x, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _gather(self, first: tuple[np.ndarray, Future]) -> tuple[list, bool]:
        items, n = [first], len(first[0])
        deadline = time.perf_counter() + self.window_s
        while n < self.max_frames:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                with self._lock:
                    others_decoding = self._active > len(items)
                left = deadline - time.perf_counter()
                if not others_decoding or left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if item is None:
                return items, True
            if n + len(item[0]) > self.max_frames:
                self._queue.put(item)  # next batch; order among waiting requests does not matter
                break
            items.append(item)
            n += len(item[0])
        return items, False

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, closing = self._gather(first)
            try:
                x = items[0][0] if len(items) == 1 else np.concatenate([x for x, _ in items])
                out = self._run(x)
            except BaseException as exc:  # every waiting request gets the error, none hangs
                for _, future in items:
                    future.set_exception(exc)
            else:
                self.batches += 1
                self.frames += len(x)
                start = 0
                for xi, future in items:
                    future.set_result(out[start : start + len(xi)])
                    start += len(xi)
            if closing:
                return
