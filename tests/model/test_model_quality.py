"""Model behaviour a user would notice: it learns the actions, and is not fooled by easy changes."""

import numpy as np

from clipwatch.predictor import Predictor
from clipwatch.synth import ClipSpec, render_clip
from clipwatch.synth.generate import encode_h264

CHANCE = 1 / 6


def test_cross_validated_f1_is_well_above_chance(trained):
    _, meta = trained
    assert meta["metrics"]["macro_f1"] > 2.5 * CHANCE, meta["metrics"]


def test_unseen_clips_are_classified_above_chance(settings, trained, tmp_path):
    predictor = Predictor.load(settings)
    hits, total = 0, 0
    for action in meta_classes(trained):
        for i in range(1000, 1004):  # indices never used in training
            spec = ClipSpec(action, 0, i)
            frames, fps, size = render_clip(spec)
            path = tmp_path / spec.filename
            encode_h264(frames, fps, size, path)
            hits += predictor.predict_path(path).label == action
            total += 1
    assert hits / total > 2.5 * CHANCE, f"{hits}/{total}"


def test_probabilities_cover_every_class_and_sum_to_one(settings, trained, videos):
    predictor = Predictor.load(settings)
    p = predictor.predict_path(next(videos.rglob("*.mp4")))
    assert sorted(p.probabilities) == meta_classes(trained)
    assert np.isclose(sum(p.probabilities.values()), 1.0)
    assert p.confidence == max(p.probabilities.values())
    assert p.label == max(p.probabilities, key=p.probabilities.get)


def meta_classes(trained) -> list[str]:
    return trained[1]["classes"]


def test_fast_forest_probabilities_equal_sklearns(settings, trained):
    from clipwatch.artifacts import ArtifactStore
    from clipwatch.dataset import read_embeddings
    from clipwatch.paths import Paths
    from clipwatch.predictor import forest_proba

    paths = Paths.from_settings(settings)
    model = ArtifactStore(paths).load().model
    X, _, _ = read_embeddings(paths.ref_data)
    np.testing.assert_array_equal(forest_proba(model, X[:7]), model.predict_proba(X[:7]))
