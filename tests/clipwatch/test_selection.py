"""`clipwatch evaluate`: grouped folds, the frame-vector cache, the table and its files."""

import json
from pathlib import Path

import numpy as np
import pytest

from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import DatasetError
from clipwatch.selection import evaluate, groups_of, splits, write
from tests.clipwatch.test_cli import run_cli


def quietly(videos, settings, cache, **grid):
    """evaluate() with no output, its frame cache in `cache`; grid: ks, poolings, classifiers, folds, ..."""
    return evaluate(videos, settings, cache_dir=cache, echo=lambda _: None, progress=False, **grid)


def test_grouped_folds_never_split_a_source_video():
    rng = np.random.default_rng(1)
    y = np.repeat(["fight", "calm"], 60)
    # 24 sources of 5 clips each, sources named per class
    groups = np.array([f"{c}/src{i // 5}" for c, i in zip(y, np.tile(np.arange(60), 2), strict=True)])
    order = rng.permutation(len(y))
    y, groups = y[order], groups[order]
    for seed in range(5):
        seen = {}
        tests = [test for _, test in splits(y, groups, 4, seed)]
        assert sorted(np.concatenate(tests).tolist()) == list(range(len(y)))  # every clip tested once
        for fold, test in enumerate(tests):
            for g in groups[test]:
                assert seen.setdefault(g, fold) == fold, f"{g} is in two folds"
            assert set(y[test]) == {"fight", "calm"}  # still stratified


def test_a_group_is_the_recording_whatever_class_its_clips_are_in():
    # One surveillance recording shows both classes: its fight and calm clips are one group.
    paths = [Path("fight/s07__a.mp4"), Path("noFight/s07__b.mp4"), Path("noFight/odd.mp4"), Path("fight/s09__c.mp4")]
    groups, unmatched = groups_of(paths, r"^(s\d+)__")
    assert groups.tolist() == ["s07", "s07", "noFight/odd.mp4", "s09"]
    assert unmatched == 1
    assert len(set(groups_of(paths, None)[0])) == 4  # ungrouped: each clip on its own


def test_per_class_groups_are_captured_with_the_class(tmp_path):
    # UCF101's g01 is another video in every class: the user captures the class too.
    paths = [Path("Diving/v_Diving_g01_c01.avi"), Path("Diving/v_Diving_g01_c02.avi")]
    paths.append(Path("BenchPress/v_BenchPress_g01_c01.avi"))
    groups, _ = groups_of(paths, r"(v_\w+_g\d+)_")
    assert groups.tolist() == ["v_Diving_g01", "v_Diving_g01", "v_BenchPress_g01"]
    manifest = tmp_path / "groups.csv"
    manifest.write_text("clip,group\nv_Diving_g01_c02.avi,tape-3\nBenchPress/v_BenchPress_g01_c01.avi,tape-3\n")
    groups, unmatched = groups_of(paths, None, manifest)  # a manifest for names that carry no source
    assert groups.tolist() == ["Diving/v_Diving_g01_c01.avi", "tape-3", "tape-3"] and unmatched == 1


@pytest.fixture
def small_videos(videos, tmp_path) -> Path:
    """Three of the rendered actions, 6 clips each (links, not copies)."""
    root = tmp_path / "videos"
    for action in ("clap", "wave", "walk"):
        (root / action).mkdir(parents=True)
        for clip in sorted((videos / action).glob("*.mp4"))[:6]:
            (root / action / clip.name).symlink_to(clip)
    return root


def test_evaluate_compares_the_grid_writes_json_and_a_confusion_png_and_caches_frames(
    settings, export_report, small_videos, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    kwargs = dict(
        ks=[2, 4],
        poolings=["mean", "mean+motion"],
        classifiers=["logistic-regression", "random-forest"],
        folds=3,
        repeats=2,
        cache_dir=cache,
        echo=lambda _: None,
        progress=False,
    )
    s = settings.model_copy(update={"n_estimators": 30})
    ev = evaluate(small_videos, s, **kwargs)
    assert ev.clips == 18 and ev.folds == 3 and ev.repeats == 2
    assert [(c.k, c.pooling, c.classifier) for c in ev.results] == [
        (k, p, c) for k in (2, 4) for p in ("mean", "mean+motion") for c in ("logistic-regression", "random-forest")
    ]
    for c in ev.results:
        assert 0 <= c.accuracy_mean <= 1 and 0 <= c.macro_f1_std <= 1 and c.embed_ms_per_clip > 0
    assert ev.best.macro_f1_mean == max(c.macro_f1_mean for c in ev.results)
    assert np.asarray(ev.confusion["matrix"]).sum() == 18 * 2  # both repeats' out-of-fold answers
    assert "macro F1" in ev.table() and "mean+motion" in ev.table()
    js, png = write(ev, tmp_path / "out")
    assert json.loads(js.read_text())["best"]["k"] == ev.best.k and png.read_bytes()[:4] == b"\x89PNG"
    assert len(list(cache.glob("*.npz"))) == 2 * 18  # one per clip and K

    # A second run embeds nothing: every clip comes from the cache, with the same scores.
    def no_embedding(*_a, **_k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(ClipEmbedder, "embed", no_embedding)
    again = evaluate(small_videos, s, **kwargs)
    assert [c.macro_f1_mean for c in again.results] == [c.macro_f1_mean for c in ev.results]


def test_motion_separates_actions_that_look_alike_still(settings, export_report, small_videos, tmp_path):
    """clap, wave and walk share one rendered figure: motion is what tells them apart."""
    ev = quietly(
        small_videos,
        settings,
        tmp_path / "cache",
        ks=[8],
        poolings=["mean", "mean+motion"],
        classifiers=["logistic-regression"],
        folds=3,
        repeats=1,
    )
    mean, motion = ev.results
    assert motion.macro_f1_mean >= mean.macro_f1_mean


def test_classes_too_small_to_test_are_left_out_and_too_few_classes_refused(
    settings, export_report, small_videos, tmp_path
):
    lone = small_videos / "jump"
    lone.mkdir()
    (lone / "only.mp4").symlink_to(next((small_videos / "clap").iterdir()).resolve())
    ev = quietly(
        small_videos,
        settings,
        tmp_path / "c",
        ks=[2],
        poolings=["mean"],
        classifiers=["linear-svm"],
        folds=2,
        repeats=1,
    )
    assert ev.dropped_classes == {"jump": 1} and set(ev.classes) == {"clap", "wave", "walk"}
    with pytest.raises(DatasetError, match="2 different source videos"):
        # every rendered file name matches, and one source per class leaves nothing to test on
        quietly(
            small_videos,
            settings,
            tmp_path / "c",
            ks=[2],
            poolings=["mean"],
            classifiers=["linear-svm"],
            group=r"^(\w)",
        )


def test_the_cli_prints_the_table_and_refuses_unknown_choices_in_one_line(settings, trained, small_videos, tmp_path):
    out = tmp_path / "eval"
    res = run_cli(
        settings,
        "evaluate",
        "--videos",
        str(small_videos),
        "--k",
        "2",
        "--pooling",
        "mean+motion",
        "--classifier",
        "linear-svm",
        "--folds",
        "2",
        "--repeats",
        "1",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
    )
    assert res.returncode == 0, res.stderr
    assert "macro F1" in res.stdout and "best: K=2 mean+motion linear-svm" in res.stdout
    assert (out / "evaluation.json").is_file() and (out / "confusion.png").is_file()
    bad = run_cli(settings, "evaluate", "--videos", str(small_videos), "--pooling", "max")
    assert bad.returncode == 2 and "max? choose from mean, mean+motion, mean+std" in bad.stderr


def test_evaluate_runs_on_real_footage(settings, export_report, real_clips, tmp_path):
    ev = quietly(
        [real_clips / "ucf101", real_clips / "kth"],
        settings,
        tmp_path / "c",
        ks=[4],
        poolings=["mean", "mean+motion"],
        classifiers=["logistic-regression"],
        folds=2,
        repeats=1,
    )
    # ApplyEyeMakeup, BenchPress, Diving (5 each), boxing (3, two of them H.264), handclapping (2)
    assert ev.classes == {"ApplyEyeMakeup": 5, "BenchPress": 5, "Diving": 5, "boxing": 3, "handclapping": 2}
    assert not ev.skipped and ev.best.accuracy_mean > 0.5
