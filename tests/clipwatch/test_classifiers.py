"""Every classifier family fits, answers probabilities, survives a pickle and is described in metadata."""

import pickle

import numpy as np
import pytest

from clipwatch.classifiers import CLASSIFIERS, can_grow, describe, family, make_classifier


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64)) * 3
    y = np.repeat(["a", "b", "c"], 20)
    X = (centres[np.repeat([0, 1, 2], 20)] + rng.normal(size=(60, 64))).astype(np.float32)
    return X, y


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_each_family_separates_easy_classes_and_round_trips(blobs, name):
    X, y = blobs
    model = make_classifier(name, seed=0, n_jobs=1, n_estimators=50).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert (model.predict(X) == y).mean() > 0.95
    assert list(model.classes_) == ["a", "b", "c"]
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    assert family(model) == name == describe(model)["classifier"]
    assert can_grow(model) == (name == "random-forest")


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="random-forest"):
        make_classifier("knn", seed=0)
