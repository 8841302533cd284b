import numpy as np
import onnxruntime as ort
import pytest

from clipwatch.export import IMAGENET_CAT_CLASSES, MAX_ABS_DIFF
from clipwatch.paths import Paths


def test_onnx_matches_torch_and_recognises_the_cat(export_report):
    assert export_report.max_abs_diff <= MAX_ABS_DIFF
    assert export_report.cat_top1 in IMAGENET_CAT_CLASSES
    assert export_report.cat_top1_prob > 0.5
    assert export_report.dim == 1280


@pytest.mark.parametrize("n", [1, 5, 16])
def test_backbone_accepts_any_batch_size(settings, export_report, n):
    sess = ort.InferenceSession(str(Paths.from_settings(settings).backbone), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": np.zeros((n, 3, 224, 224), np.float32)})[0]
    assert out.shape == (n, 1280)


def test_export_writes_a_sidecar_with_the_file_hash(settings, export_report):
    import json

    from clipwatch.backbone import file_sha256

    paths = Paths.from_settings(settings)
    sidecar = json.loads(paths.backbone.with_suffix(".json").read_text())
    assert sidecar["sha256"] == file_sha256(paths.backbone) == export_report.sha256
    assert sidecar["mean"] == [0.5, 0.5, 0.5] and sidecar["std"] == [0.5, 0.5, 0.5]
