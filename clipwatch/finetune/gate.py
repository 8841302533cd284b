"""Whether fine-tuning pays, measured by grouped outer folds, and the winner exported to ONNX
(clipwatch.finetune)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from clipwatch import classifiers
from clipwatch.finetune.features import FinetuneConfig, Pictures, torch_api
from clipwatch.finetune.training import Trunk, clip_vectors, fit
from clipwatch.preprocess import to_input
from clipwatch.quality import stratified_splits
from clipwatch.settings import Settings


@dataclass
class Evaluation:
    protocol: str
    folds: list[dict]
    base_accuracy: float
    finetuned_accuracy: float
    base_macro_f1: float
    finetuned_macro_f1: float
    seconds_per_epoch: float

    @property
    def gain(self) -> float:
        return round(self.finetuned_accuracy - self.base_accuracy, 4)

    def as_dict(self) -> dict:
        return {**asdict(self), "gain": self.gain}


def evaluate(pics: Pictures, s: Settings, cfg: FinetuneConfig, log_fold=None) -> Evaluation:
    """Grouped outer folds: fine-tune on the training recordings, classify the held-out ones with the
    default classifier on fine-tuned vectors and, on the same split, on ImageNet vectors."""
    from sklearn.metrics import f1_score

    base = clip_vectors(None, pics, s.pooling, s.stream, cfg.blocks)
    rows, epochs = [], []
    predicted = {"base": np.empty(len(pics.y), dtype=object), "finetuned": np.empty(len(pics.y), dtype=object)}
    splits, how = stratified_splits(pics.y, pics.groups, cfg.folds, cfg.seed)
    for i, (train, test) in enumerate(splits):
        trunk, report = fit(pics, train, cfg)
        tuned = clip_vectors(trunk, pics, s.pooling, s.stream, cfg.blocks)
        scores = {}
        for name, X in (("base", base), ("finetuned", tuned)):
            model = classifiers.from_settings(s).fit(X[train], pics.y[train])
            predicted[name][test] = model.predict(X[test])
            scores[name] = round(float((predicted[name][test] == pics.y[test]).mean()), 4)
        rows.append({"fold": i, "test_clips": len(test), **scores, "epochs": report.epochs_run})
        epochs.append(report.seconds_per_epoch)
        if log_fold:
            log_fold(rows[-1])
    y = pics.y.astype(object)
    acc = {k: round(float((p == y).mean()), 4) for k, p in predicted.items()}
    f1 = {k: round(float(f1_score(y.astype(str), p.astype(str), average="macro")), 4) for k, p in predicted.items()}
    return Evaluation(
        how,
        rows,
        acc["base"],
        acc["finetuned"],
        f1["base"],
        f1["finetuned"],
        round(float(np.mean(epochs)), 2),
    )


def export(trunk: Trunk, out: Path, size: int) -> dict:
    """The fine-tuned CNN as an ONNX feature extractor, checked against torch like `clipwatch export`."""
    import onnxruntime as ort

    from clipwatch.backbone import file_sha256
    from clipwatch.export import MAX_ABS_DIFF, _feature_extractor, _to_onnx

    torch = torch_api()
    out.parent.mkdir(parents=True, exist_ok=True)
    features = _feature_extractor(trunk.model.eval())
    tmp = out.with_name(f".{out.name}.partial")
    _to_onnx(features, tmp, size, 17, "embedding")
    x = to_input(np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8))
    with torch.no_grad():
        expected = features(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    diff = float(np.abs(got - expected).max())
    if diff > MAX_ABS_DIFF * 10:
        tmp.unlink()
        raise RuntimeError(f"the fine-tuned ONNX differs from torch by {diff:.2e}")
    tmp.replace(out)
    return {"path": out.name, "sha256": file_sha256(out), "max_abs_diff": diff, "torch_version": torch.__version__}
