"""clipwatch finetune on a handful of rendered clips, one short epoch: it measures itself under grouped
folds, exports an ONNX backbone with its own sha256, and a deploy and its rollback move the whole
embedding state (backbone, ref_data, the live version) together, picked up by a running model holder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clipwatch import backbones, finetune
from clipwatch.artifacts import ArtifactStore
from clipwatch.backbone import Backbone, file_sha256
from clipwatch.cli.finetune import _finetune, _rollback
from clipwatch.contract import read_sidecar
from clipwatch.dataset import discover
from clipwatch.embedding import ClipEmbedder
from clipwatch.history import read_history
from clipwatch.live_model import ModelHolder
from clipwatch.paths import Paths
from devtools.sandbox import private_copy

pytestmark = pytest.mark.slow

CLASSES = ("clap", "walk", "wave")


@pytest.fixture(scope="module")
def small(videos, tmp_path_factory):
    """5 clips of 3 actions, each clip named as if cut from one of 2-3 recordings."""
    root = tmp_path_factory.mktemp("ft-videos")
    for cls in CLASSES:
        (root / cls).mkdir()
        for i, clip in enumerate(sorted((videos / cls).iterdir())[:5]):
            (root / cls / f"r{i % 3}__{clip.name}").symlink_to(clip)
    return root


@pytest.fixture(scope="module")
def install(settings, trained, tmp_path_factory):
    return private_copy(tmp_path_factory.mktemp("ft"), settings, group_regex=r"^(r\d+)__", guard_fraction=0)


def test_fine_tuning_learns_from_grouped_clips_and_exports_a_backbone_of_its_own(install, small, tmp_path):
    s = install
    ds = discover(small)
    names = [f"{c}/{p.name}" for p, c in ds.clips]
    groups = [n.split("/")[1].split("__")[0] for n in names]
    embedder = ClipEmbedder.from_settings(s)
    pics = finetune.collect(embedder, ds.clips, groups, blocks=1)
    assert pics.per_clip == 2 * embedder.k  # a frame and a dynamic image per segment, as the embedding sees
    assert pics.features.shape[1:] == (2, 192, 7, 7)  # both flips of the frozen 7 x 7 maps
    # The untouched CNN's vectors are what the ONNX backbone gives (the cached part is the same network).
    base = finetune.clip_vectors(None, pics, s.pooling, s.stream, blocks=1)
    direct = embedder.embed(ds.clips[0][0]).vector
    cosine = base[0] @ direct / np.linalg.norm(base[0]) / np.linalg.norm(direct)
    assert cosine > 0.999, cosine  # float16 features between the two halves cost a little precision

    cfg = finetune.FinetuneConfig(blocks=1, epochs=1, folds=2, seed=0)
    ev = finetune.evaluate(pics, s, cfg)
    assert ev.protocol.startswith("grouped by recording (3 groups)")
    assert len(ev.folds) == 2 and sum(f["test_clips"] for f in ev.folds) == len(names)
    assert 0 <= ev.finetuned_accuracy <= 1 and ev.seconds_per_epoch > 0

    trunk, report = finetune.fit(pics, np.arange(len(names)), cfg)
    assert report.epochs_run == 1 and report.history[0]["loss"] > 0
    out = finetune.export(trunk, tmp_path / "tuned.onnx", embedder.size)
    tuned = Backbone(tmp_path / "tuned.onnx")
    assert out["sha256"] == tuned.sha256 != embedder.backbone.sha256 and tuned.dim == 1280
    x = np.random.default_rng(1).random((2, 3, 224, 224), dtype=np.float32)
    assert not np.allclose(tuned.embed_inputs(x), embedder.backbone.embed_inputs(x))  # it did learn


def test_a_deployed_fine_tune_moves_backbone_ref_data_and_model_together_and_rolls_back(install, small):
    s = install
    paths = Paths.from_settings(s)
    holder = ModelHolder(s)
    holder.reload()
    before_sha, before_version = file_sha256(paths.backbone), holder.predictor.version.name
    ref_before = paths.ref_data.read_bytes()
    paths.prod_data.write_text("")  # feedback under the old backbone: archived with it, never mixed

    # --min-gain -1: deploy even without a gain, so the switch itself is what is tested.
    _finetune(s, paths, small, None, None, epochs=1, blocks=1, folds=2, lr=1e-4, min_gain=-1.0, deploy=True)
    entry = read_history(paths)[-1]
    assert entry["mode"] == "finetune" and entry["outcome"] == "promoted"
    new_sha = entry["extra"]["backbone"]["candidate"]
    assert file_sha256(paths.backbone) == new_sha != before_sha
    assert (paths.backbones / f"{before_sha[:16]}.onnx").is_file()  # the ImageNet one is kept
    assert read_sidecar(paths.ref_data)["backbone_sha256"] == new_sha  # rebuilt through the new CNN
    assert not paths.prod_data.exists() and (paths.data_archive / before_sha[:16] / "prod_data.csv").is_file()
    meta = ArtifactStore(paths).metadata(entry["new_version"])
    assert meta["backbone"]["sha256"] == new_sha and entry["champion_version"] == before_version
    report = json.loads((paths.backbones / f"{new_sha[:16]}.json").read_text())
    assert report["evaluation"]["protocol"].startswith("grouped by recording")

    assert holder.reload()  # a running API swaps to the version and the backbone it names
    assert holder.predictor.embedder.backbone.sha256 == new_sha
    assert holder.predictor.predict_path(next((small / "wave").iterdir())).label in CLASSES

    _rollback(s, paths)
    assert file_sha256(paths.backbone) == before_sha and paths.ref_data.read_bytes() == ref_before
    assert ArtifactStore(paths).current_name() == before_version
    assert read_history(paths)[-1]["mode"] == "finetune-rollback"
    assert holder.reload() and holder.predictor.embedder.backbone.sha256 == before_sha
    assert backbones.file_for(paths, new_sha).name == f"{new_sha[:16]}.onnx"  # still there to go forward again
