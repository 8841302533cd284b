"""The frame feature extractor: an ONNX model run by ONNX Runtime (no torch here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

from clipwatch.errors import ArtifactError


class BackboneError(ArtifactError):
    """The backbone file is missing or not the model the artifacts expect."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Backbone:
    """Maps N x H x W x 3 uint8 frames to N x D float32 feature vectors."""

    def __init__(self, path: str | Path, *, intra_op_threads: int = 0):
        path = Path(path)
        if not path.is_file():
            raise BackboneError(f"backbone not found at {path}: run `clipwatch export` (or `make run`) first")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads burn a core while idle, which starves decoding and
        # collapses throughput when another process holds a core.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 224
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.path = path
        self.sha256 = file_sha256(path)

    def embed_inputs(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]
