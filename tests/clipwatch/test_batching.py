import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from clipwatch.batching import FrameBatcher
from clipwatch.embedding import ClipEmbedder


class Recorder:
    """A stand-in CNN that remembers its batch sizes; each output row identifies its input frame."""

    def __init__(self, gate: threading.Event | None = None):
        self.sizes: list[int] = []
        self.gate = gate

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(10)
        self.sizes.append(len(x))
        return x.reshape(len(x), -1)[:, :1] * 2


def test_concurrent_requests_share_cnn_runs_and_each_gets_its_own_rows():
    gate = threading.Event()
    cnn = Recorder(gate)
    batcher = FrameBatcher(cnn, window_ms=50, max_frames=32)
    inputs = [np.full((8, 1, 2, 2), i, np.float32) for i in range(8)]

    def one(x):
        with batcher.request():
            return batcher(x)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, x) for x in inputs]
        gate.set()  # the first run is held until every request has queued behind it
        outs = [f.result(10) for f in futures]
    for i, out in enumerate(outs):
        assert out.shape == (8, 1) and np.all(out == 2 * i)
    assert sum(cnn.sizes) == 64 and max(cnn.sizes) <= 32
    assert len(cnn.sizes) < 8, cnn.sizes  # batched, not one run per request
    batcher.close()


def test_a_lone_request_does_not_wait_for_the_window():
    cnn = Recorder()
    batcher = FrameBatcher(cnn, window_ms=60_000)
    done = threading.Event()

    def lone():
        with batcher.request():
            batcher(np.ones((8, 1, 2, 2), np.float32))
        done.set()

    threading.Thread(target=lone, daemon=True).start()
    assert done.wait(10), "a single request waited for company"
    batcher.close()


def test_a_cnn_error_reaches_every_request_in_the_batch():
    def broken(x):
        raise RuntimeError("onnxruntime failed")

    batcher = FrameBatcher(broken)
    with pytest.raises(RuntimeError, match="onnxruntime failed"):
        batcher(np.ones((8, 1, 2, 2), np.float32))
    batcher.close()


def test_batched_embeddings_equal_unbatched_ones(embedder, settings, videos):
    clips = [sorted((videos / a).glob("*.mp4"))[0] for a in ("walk", "clap", "jump", "wave")]
    direct = [embedder.embed(c).vector for c in clips]
    batched = ClipEmbedder(embedder.backbone, settings)
    batched.batcher = FrameBatcher(embedder.backbone.embed_inputs, window_ms=20)
    with ThreadPoolExecutor(4) as pool:
        vectors = [e.vector for e in pool.map(batched.embed, clips)]
    for a, b in zip(direct, vectors, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert batched.batcher.frames == 4 * settings.num_frames * 2  # a frame and a dynamic image per segment
    batched.batcher.close()
