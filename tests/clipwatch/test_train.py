import csv
import json

import numpy as np
import pytest

from clipwatch.dataset import embedding_columns, format_vector, read_embeddings
from clipwatch.errors import DatasetError
from clipwatch.paths import CONFUSION_FILE, MODEL_FILE, Paths
from clipwatch.quality import classification_metrics
from clipwatch.train import load_training_data, train
from tests.conftest import CLIPS_PER_CLASS


def test_training_publishes_metadata_with_the_artifact_contract(settings, trained, embedder):
    version, _meta = trained
    paths = Paths.from_settings(settings)
    on_disk = json.loads((paths.versions / version / "metadata.json").read_text())
    assert on_disk["version"] == version
    assert on_disk["classes"] == ["clap", "jump", "run", "squat", "walk", "wave"]
    assert (
        on_disk["num_frames"] == settings.num_frames
        and on_disk["input_size"] == 224
        and on_disk["embedding_dim"] == embedder.dim
    )
    assert on_disk["pooling"] == settings.pooling and on_disk["training"]["classifier"] == settings.classifier
    assert on_disk["normalisation"]["mean"] == [0.5, 0.5, 0.5]
    assert len(on_disk["backbone"]["sha256"]) == 64
    guard = on_disk["training"]["guard"]
    # The guard rows (clipwatch.guard) never train: 15% of each class, 2 of 15 here.
    assert guard["rows"] == 6 * 2 and on_disk["training"]["rows_ref"] == 6 * CLIPS_PER_CLASS - guard["rows"]
    assert len(on_disk["training"]["data_sha256"]) == 64
    m = on_disk["metrics"]
    assert {"accuracy", "macro_f1", "balanced_accuracy", "per_class_recall", "confusion_matrix"} <= set(m)
    assert np.asarray(m["confusion_matrix"]).sum() == 6 * CLIPS_PER_CLASS - guard["rows"]
    assert set(m["guard"]) == {"accuracy", "macro_f1", "balanced_accuracy"}
    assert (paths.versions / version / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert paths.seed_copy(MODEL_FILE).is_file() and paths.seed_copy(CONFUSION_FILE).is_file()


def test_prod_rows_are_added_to_training(settings, trained, embedder, tmp_path):
    paths = Paths.from_settings(settings)
    X, y, _ = read_embeddings(paths.ref_data)
    prod = tmp_path / "prod.csv"
    with open(prod, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*embedding_columns(X.shape[1]), "target", "prediction", "timestamp"])
        for i in range(4):
            w.writerow([*format_vector(X[i]), y[i], y[i], "2026-01-01T00:00:00Z"])
    data = load_training_data(paths.ref_data, prod, embedder.contract())
    assert (data.rows_ref, data.rows_prod) == (6 * CLIPS_PER_CLASS, 4)
    assert data.X.shape == (6 * CLIPS_PER_CLASS + 4, embedder.dim)


def test_a_class_with_one_clip_is_named_in_the_error(settings, trained, tmp_path):
    paths = Paths.from_settings(settings)
    X, y, _ = read_embeddings(paths.ref_data)
    ref = tmp_path / "ref.csv"
    with open(ref, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*embedding_columns(X.shape[1]), "target"])
        for i in range(len(y)):
            w.writerow([*format_vector(X[i]), "solo" if i == 0 else y[i]])
    with pytest.raises(DatasetError, match=r"solo \(1\)"):
        train(settings, ref=ref, use_prod=False)


def test_metrics_are_macro_and_per_class():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert m["accuracy"] == 0.75
    assert m["per_class_recall"] == {"a": 0.5, "b": 1.0}
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["balanced_accuracy"] == 0.75


def test_the_guard_set_is_fixed_per_class_and_never_takes_a_whole_class():
    from clipwatch import guard
    from clipwatch.settings import Settings

    y = np.array(["a"] * 20 + ["b"] * 3 + ["c"] * 2)
    s = Settings(_env_file=None, guard_fraction=0.15)
    g = guard.split(y, s)
    assert list(y[g.guard]).count("a") == 3 and list(y[g.guard]).count("b") == 1 and "c" not in y[g.guard]
    assert guard.split(y, s).id == g.id and np.array_equal(guard.split(y, s).guard, g.guard)
    assert sorted([*g.guard, *g.train]) == list(range(len(y)))
    assert len(guard.split(y, Settings(_env_file=None, guard_fraction=0)).guard) == 0
