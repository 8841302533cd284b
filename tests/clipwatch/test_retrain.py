"""Champion/challenger: the comparison uses only feedback the champion never trained on."""

import numpy as np
import pytest

from clipwatch import classifiers
from clipwatch.artifacts import ArtifactStore
from clipwatch.classifiers import CLASSIFIERS
from clipwatch.dataset import read_embeddings
from clipwatch.history import read_history
from clipwatch.lineage import rows_seen
from clipwatch.loop import retrain
from clipwatch.paths import Paths
from clipwatch.stores import FeedbackRow
from clipwatch.stores.csv_rows import CsvAppender
from clipwatch.train import train


def add_feedback(settings, n: int, offset: int = 0) -> None:
    """n feedback rows: reference vectors with their true labels (a plausible, learnable stream)."""
    paths = Paths.from_settings(settings)
    X, y, _ = read_embeddings(paths.ref_data)
    rows = [
        FeedbackRow(X[(offset + i) % len(y)], str(y[(offset + i) % len(y)]), "walk", f"{offset + i:032x}", "v0001", 0.5)
        for i in range(n)
    ]
    CsvAppender(paths.prod_data, X.shape[1]).append(rows)


def test_each_retrain_is_judged_on_the_rows_newer_than_its_champion(make_settings):
    s = make_settings(promotion_policy="always")
    add_feedback(s, 12)
    first = retrain(s, trigger_rows=12)
    assert first.outcome == "promoted" and first.holdout_rows == 12  # v0001 saw no feedback at all
    add_feedback(s, 8, offset=12)
    second = retrain(s, trigger_rows=20)
    # v0002 trained on the first 12 rows: scoring it on them would flatter it, so only the 8 new ones count.
    assert second.champion_version == first.new_version and second.holdout_rows == 8
    # Everything but the guard rows trains.
    assert second.train_rows == 20 + len(read_embeddings(Paths.from_settings(s).ref_data)[1]) - second.guard_rows


def test_a_kept_challenger_leaves_the_new_rows_to_accumulate(make_settings):
    s = make_settings(promotion_policy="always")
    add_feedback(s, 10)
    retrain(s)
    s_gated = make_settings(promotion_policy="if_better")
    add_feedback(s_gated, 6, offset=10)
    run = retrain(s_gated)
    assert run.holdout_rows == 6
    if run.outcome == "kept":
        add_feedback(s_gated, 6, offset=16)
        assert retrain(s_gated).holdout_rows == 12


def test_too_few_new_rows_skip_instead_of_judging_on_noise(make_settings):
    s = make_settings(promotion_policy="always")
    add_feedback(s, 10)
    retrain(s)
    add_feedback(s, 2, offset=10)
    run = retrain(s)
    assert run.outcome == "skipped" and "only 2 feedback rows newer than v0002" in run.reason


def test_rows_seen_reads_old_metadata_and_survives_a_replaced_prod_file():
    assert rows_seen({"prod_rows_seen": 40}, 50) == 40
    assert rows_seen({"rows_prod": 30, "rows_holdout": 10}, 50) == 40  # versions from before the field
    assert rows_seen({}, 50) == 0
    assert rows_seen({"prod_rows_seen": 40}, 25) == 0  # prod_data.csv was replaced: every row is new


def test_with_three_folds_both_models_are_scored_on_all_the_new_rows(make_settings):
    s = make_settings(promotion_policy="always", eval_folds=3)
    add_feedback(s, 9)
    run = retrain(s)
    assert run.holdout_rows == 9 and run.challenger_f1 is not None
    assert np.isfinite(run.champion_f1)


def test_warm_start_stops_growing_at_the_tree_cap(make_settings):
    # A forest champion of 100 trees; each warm start adds 50, up to a cap of 200.
    s = make_settings(
        classifier="random-forest",
        n_estimators=100,
        promotion_policy="always",
        retrain_mode="warm_start",
        warm_start_trees=50,
        max_trees=200,
    )
    train(s)
    sizes, outcomes = [], []
    for i in range(4):
        add_feedback(s, 6, offset=6 * i)
        outcomes.append(retrain(s, trigger_rows=6 * (i + 1)))
        assert outcomes[-1].outcome == "promoted"
        sizes.append(ArtifactStore(Paths.from_settings(s)).load().model.n_estimators)
    assert sizes == [150, 200, 100, 150]  # at the cap it refits from scratch with n_estimators, then grows again
    assert outcomes[2].extra["warm_start_fallback"].startswith("tree cap")
    assert "warm_start_fallback" not in outcomes[3].extra


def poison(settings, n: int, true_class: str, claimed: str) -> None:
    """n feedback rows: clips of true_class, all labelled claimed (a consistent mislabelling)."""
    paths = Paths.from_settings(settings)
    X, y, _ = read_embeddings(paths.ref_data)
    rng = np.random.default_rng(7)
    own = X[y == true_class]
    rows = [
        FeedbackRow(own[i % len(own)] + rng.normal(0, 1e-3, X.shape[1]).astype(np.float32), claimed, true_class)
        for i in range(n)
    ]
    CsvAppender(paths.prod_data, X.shape[1]).append(rows)


def steady_champion(make_settings):
    """Settings over a champion of 300 trees: the test set is small, and fewer trees score it noisily."""
    s = make_settings(promotion_policy="if_better", retrain_every_k=20, n_estimators=300)
    train(s, use_prod=False)
    return s


def test_k_mislabelled_rows_cannot_get_a_poisoned_challenger_promoted(make_settings):
    s = steady_champion(make_settings)
    poison(s, 20, true_class="jump", claimed="walk")
    outcome = retrain(s, trigger_rows=20)
    # On the poisoned rows themselves the challenger wins: it learned the lie the champion does not know.
    assert outcome.challenger_f1 > outcome.champion_f1
    assert outcome.outcome == "kept" and outcome.new_version is None
    assert outcome.reason.startswith("refused by the guard set") and "CLIPWATCH_GUARD_TOLERANCE" in outcome.reason
    assert outcome.challenger_guard_f1 < outcome.champion_guard_f1 - s.guard_tolerance
    entry = read_history(Paths.from_settings(s))[-1]
    assert entry["champion_guard_f1"] == outcome.champion_guard_f1 and entry["guard_rows"] == outcome.guard_rows > 0


def test_honest_rows_pass_the_guard(make_settings):
    s = steady_champion(make_settings)
    add_feedback(s, 20)
    outcome = retrain(s, trigger_rows=20)
    assert outcome.guard_rows > 0 and outcome.challenger_guard_f1 is not None
    assert outcome.challenger_guard_f1 >= outcome.champion_guard_f1 - s.guard_tolerance
    assert not outcome.reason.startswith("refused by the guard set")


@pytest.mark.parametrize("family", CLASSIFIERS)
def test_champion_and_challenger_work_with_every_classifier_family(make_settings, family):
    s = make_settings(classifier=family, promotion_policy="always", retrain_mode="warm_start")
    train(s)  # a champion of this family
    add_feedback(s, 8)
    run = retrain(s, trigger_rows=8)
    assert run.outcome == "promoted" and run.challenger_guard_f1 is not None
    live = ArtifactStore(Paths.from_settings(s)).load()
    assert classifiers.family(live.model) == family == live.metadata["training"]["classifier"]
    assert live.metadata["pooling"] == s.pooling and live.metadata["num_frames"] == s.num_frames
    # warm_start grows a forest; the other families are refitted, and the outcome says why
    assert run.mode == "warm_start"
    if family == "random-forest":
        assert "warm_start_fallback" not in run.extra
    else:
        assert "has no warm start" in run.extra["warm_start_fallback"]


def test_a_retrain_under_settings_the_live_model_was_not_built_with_fails_and_says_rebuild(make_settings):
    s = make_settings(promotion_policy="always")
    add_feedback(s, 8)
    run = retrain(s.model_copy(update={"pooling": "mean"}), trigger_rows=8)
    assert run.outcome == "failed" and "clipwatch build-ref" in run.reason and "pooling" in run.reason


def test_a_deployed_projects_lineage_learns_only_from_feedback_after_it(make_settings):
    s = make_settings(promotion_policy="always")
    add_feedback(s, 12)  # feedback about the actions before the deploy
    version, _ = train(s, use_prod=False, training_extra={"feedback_from": 12, "prod_rows_seen": 12})
    add_feedback(s, 8, offset=12)
    outcome = retrain(s, trigger_rows=20)
    assert outcome.outcome == "promoted" and outcome.champion_version == version and outcome.holdout_rows == 8
    training = ArtifactStore(Paths.from_settings(s)).load().metadata["training"]
    assert training["rows_prod"] == 8 and training["feedback_from"] == 12  # inherited by the next retrain
    assert training["reference_sha256"]
