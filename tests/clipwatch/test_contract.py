"""Vectors built under one embedding contract are never mixed with another's."""

import shutil

import numpy as np
import pytest

from clipwatch.artifacts import check_compatible
from clipwatch.contract import read_sidecar
from clipwatch.errors import ArtifactError, DatasetError
from clipwatch.paths import Paths
from clipwatch.stores import FeedbackRow, StoreMismatchError
from clipwatch.stores.csv_rows import CsvAppender


def test_build_ref_records_its_contract_and_models_carry_it(settings, embedder, trained):
    paths = Paths.from_settings(settings)
    assert read_sidecar(paths.ref_data) == embedder.contract()
    _, meta = trained
    check_compatible(meta, embedder.contract())
    assert meta["pooling"] == settings.pooling and meta["embedding_dim"] == embedder.dim


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"pooling": "mean+std"}, "pooling built with"),
        ({"num_frames": 4}, "num_frames built with 8, this install uses 4"),
        ({"stream": "rgb"}, r"stream built with rgb\+dynamic, this install uses rgb"),
        ({"sampling": "keyframes"}, "sampling"),
        ({"backbone_sha256": "0" * 64}, "backbone_sha256"),
    ],
)
def test_a_model_built_under_other_settings_is_refused_with_the_rebuild_command(trained, embedder, change, named):
    _, meta = trained
    with pytest.raises(ArtifactError, match=named) as err:
        check_compatible(meta, {**embedder.contract(), **change})
    assert "clipwatch build-ref" in str(err.value)


def test_a_model_from_before_pooling_was_recorded_counts_as_mean(trained, embedder):
    _, meta = trained
    old = {k: v for k, v in meta.items() if k != "pooling"}
    if embedder.pooling == "mean":
        check_compatible(old, embedder.contract())
    else:
        with pytest.raises(ArtifactError, match="pooling built with mean"):
            check_compatible(old, embedder.contract())


def test_training_refuses_a_reference_table_built_with_other_settings(make_settings):
    from clipwatch.train import train

    s = make_settings()
    other = "mean+std" if s.pooling != "mean+std" else "mean"
    with pytest.raises(DatasetError, match=r"ref_data\.csv does not match.*pooling"):
        train(s.model_copy(update={"pooling": other}))


def test_feedback_of_another_width_or_contract_never_reaches_the_file(settings, embedder, tmp_path):
    path = tmp_path / "prod_data.csv"
    contract = embedder.contract()
    store = CsvAppender(path, embedder.dim, contract)
    store.append([FeedbackRow(np.zeros(embedder.dim, np.float32), "walk", "walk")])
    assert read_sidecar(path) == contract
    before = path.read_bytes()
    wider = CsvAppender(path, embedder.dim * 2)
    with pytest.raises(StoreMismatchError, match=r"move prod_data\.csv aside"):
        wider.append([FeedbackRow(np.zeros(embedder.dim * 2, np.float32), "walk", "walk")])
    same_width_other_k = CsvAppender(path, embedder.dim, {**contract, "num_frames": contract["num_frames"] * 2})
    with pytest.raises(StoreMismatchError, match="num_frames"):
        same_width_other_k.append([FeedbackRow(np.zeros(embedder.dim, np.float32), "walk", "walk")])
    assert path.read_bytes() == before
    # Moved aside, as the message says: the next row starts a new file under the new contract.
    shutil.move(path, tmp_path / "old.csv")
    same_width_other_k.append([FeedbackRow(np.zeros(embedder.dim, np.float32), "walk", "walk")])
    assert read_sidecar(path)["num_frames"] == contract["num_frames"] * 2


def test_a_model_from_before_streams_counts_as_rgb_and_is_told_to_rebuild(trained, embedder):
    _, meta = trained
    old = {k: v for k, v in meta.items() if k not in ("stream", "dynamic_frames")}
    with pytest.raises(ArtifactError, match=r"stream built with rgb, this install uses rgb\+dynamic") as err:
        check_compatible(old, embedder.contract())
    assert "clipwatch build-ref" in str(err.value)
