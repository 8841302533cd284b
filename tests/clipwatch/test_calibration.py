"""Confidence that means something (clipwatch.calibration) and the unfamiliar-clip flag (clipwatch.novelty)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from clipwatch.artifacts import ArtifactStore
from clipwatch.calibration import calibrate, fit_temperature, reliability, scaled
from clipwatch.novelty import Novelty
from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.synth.long import stretch_frames
from tests.conftest import write_clip


def overconfident(n: int = 600, seed: int = 0):
    """A classifier right 70% of the time that says 97% every time: what an unregularised model on a few
    hundred clips looks like on clips it has not seen."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, y, (y + rng.integers(1, 3, n)) % 3)
    proba = np.full((n, 3), 0.015)
    proba[np.arange(n), pred] = 0.97
    return proba, y


def test_calibration_lowers_a_high_ece_without_changing_any_answer():
    proba, y = overconfident()
    before, _ = reliability(proba, y)
    assert before > 0.25
    result = calibrate(proba, y, np.arange(len(y)) % 5)
    assert result["ece_uncalibrated"] == pytest.approx(before, abs=1e-4)
    assert result["ece"] < 0.05  # cross-fitted: each fold scaled by a temperature from the others
    assert result["temperature"] > 1  # overconfident: softened
    after = scaled(proba, result["temperature"])
    assert (after.argmax(1) == proba.argmax(1)).all() and np.allclose(after.sum(1), 1)
    assert sum(b["rows"] for b in result["reliability"]) == len(y)


def test_probabilities_that_are_already_calibrated_keep_a_temperature_near_one():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 0.95, 4000)
    y = np.where(rng.random(4000) < conf, 0, 1)
    proba = np.stack([conf, 1 - conf], axis=1)
    assert fit_temperature(proba, y) == pytest.approx(1.0, abs=0.1)


def test_a_trained_version_carries_its_calibration_reliability_diagram_and_novelty_model(settings, trained):
    version, meta = trained
    cal = meta["metrics"]["calibration"]
    assert cal["method"] == "temperature" and cal["bins"] == 15 and cal["protocol"] == meta["metrics"]["protocol"]
    assert 0 <= cal["ece"] <= 1 and cal["temperature"] > 0
    vdir = Paths.from_settings(settings).version_dir(version)
    assert (vdir / "reliability.png").stat().st_size > 1000 and (vdir / "novelty.npz").is_file()
    loaded = ArtifactStore(Paths.from_settings(settings)).load(version)
    assert loaded.novelty is not None and loaded.temperature == pytest.approx(cal["temperature"])


def test_novelty_is_about_one_at_the_edge_of_the_training_clips_and_far_beyond_it():
    rng = np.random.default_rng(2)
    X = rng.normal(0, 1, (300, 64)).astype(np.float32)
    model = Novelty.fit(X, quantile=0.99)
    inside = model.score(rng.normal(0, 1, (200, 64)))
    assert np.mean(inside <= 1) > 0.9
    assert (model.score(rng.normal(0, 1, (20, 64)) + 6) > 3).all()


def test_a_held_back_rendered_clip_is_familiar(settings, trained, tmp_path):
    predictor = Predictor.load(settings)
    clip = write_clip(tmp_path / "wave.mp4", stretch_frames("wave", 3.0, 25, (320, 240), seed=1234))
    p = predictor.predict_path(clip)
    assert p.familiar is True and p.novelty <= 1


@pytest.mark.real_clips
def test_real_footage_is_unfamiliar_to_a_model_of_rendered_stick_figures(settings, trained, real_clips):
    predictor = Predictor.load(settings)
    with open(real_clips / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    flagged = [predictor.predict_path(real_clips / r["path"]).familiar for r in rows[:6]]
    assert flagged == [False] * len(flagged)
