"""Source recordings (clipwatch.groups): grouped CV, a guard set drawn by recording, and the words
every figure carries about how it was made."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from clipwatch import guard
from clipwatch.dataset import build_reference
from clipwatch.errors import DatasetError
from clipwatch.groups import RANDOM, clips_sidecar, effective, name_groups, protocol, read_manifest, ref_groups
from clipwatch.quality import cross_validate
from clipwatch.settings import Settings


def scene_memory_data(recordings: int = 24, clips: int = 8, seed: int = 0):
    """Each recording has a scene of its own and shows both actions; the action barely shows. A model
    that memorises scenes looks good on random folds and is near chance on unseen recordings."""
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for r in range(recordings):
        scene = rng.normal(0, 3, 64)
        # Within a recording, most clips are of one class: the scene predicts the label.
        major = "fight" if r % 2 else "calm"
        for i in range(clips):
            label = major if i < clips - 1 else ("calm" if major == "fight" else "fight")
            X.append(scene + rng.normal(0, 0.3, 64))
            y.append(label)
            groups.append(f"s{r:02d}")
    return np.array(X), np.array(y), np.array(groups, dtype=object)


def test_random_folds_reward_scene_memory_and_grouped_folds_do_not():
    X, y, groups = scene_memory_data()
    model = LogisticRegression(max_iter=2000)
    leaky = cross_validate(model, X, y, ["calm", "fight"], 5, 0)
    fair = cross_validate(model, X, y, ["calm", "fight"], 5, 0, groups)
    assert leaky["protocol"] == RANDOM and "random folds" in leaky["evaluation"]
    assert fair["protocol"] == "grouped by recording (24 groups)" and fair["protocol"] in fair["evaluation"]
    assert leaky["accuracy"] > 0.75  # the scene gives most labels away when recordings straddle folds
    assert fair["accuracy"] < leaky["accuracy"] - 0.2


def test_grouped_cv_falls_back_to_random_folds_and_says_why_when_a_class_has_one_recording():
    X, y, _ = scene_memory_data(recordings=4)
    groups = np.array(["only"] * len(y), dtype=object)
    m = cross_validate(LogisticRegression(max_iter=500), X, y, ["calm", "fight"], 3, 0, groups)
    assert m["protocol"].startswith(RANDOM) and "fewer than 2 recordings" in m["protocol"]


def test_names_and_manifests_give_groups_and_unknown_clips_are_their_own():
    clips = ["fight/s01__a.mp4", "noFight/s01__b.mp4", "noFight/other.mp4"]
    found, unknown = name_groups(clips, r"^(s\d+)__")
    assert found == ["s01", "s01", ""] and unknown == 1
    eff = effective(found, clips)
    assert eff[0] == eff[1] != eff[2]
    assert protocol(eff) == "grouped by recording (2 groups)"
    assert protocol(np.array(["a", "b"])) == RANDOM  # no group holds two clips: nothing to keep together
    with pytest.raises(DatasetError, match="not a regular expression"):
        name_groups(clips, "(unclosed")


def test_a_manifest_needs_its_columns(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("file,source\na.mp4,x\n")
    with pytest.raises(DatasetError, match="clip,group"):
        read_manifest(bad)
    with pytest.raises(DatasetError, match="cannot read"):
        read_manifest(tmp_path / "absent.csv")


def test_the_guard_set_takes_whole_recordings_and_leaves_every_class_trainable():
    _, y, groups = scene_memory_data(recordings=20, clips=5)
    s = Settings(guard_fraction=0.15, _env_file=None)
    g = guard.split(y, s, groups)
    guard_recordings, train_recordings = set(groups[g.guard]), set(groups[g.train])
    assert guard_recordings and not guard_recordings & train_recordings
    assert 0.1 <= len(g.guard) / len(y) <= 0.25
    for c in set(y):
        assert (y[g.train] == c).sum() >= 2 and len(set(groups[g.train][y[g.train] == c])) >= 2
    assert guard.split(y, s, groups).id == g.id  # the same rows every time: every version scored alike
    assert guard.split(y, s).id != g.id  # without groups: rows per class, as before


def test_build_ref_records_each_rows_clip_and_recording_and_train_reads_them(embedder, videos, tmp_path):
    src = tmp_path / "videos"
    for cls in ("clap", "walk"):
        (src / cls).mkdir(parents=True)
        for i, clip in enumerate(sorted((videos / cls).iterdir())[:4]):
            # two recordings, each with clips of both classes
            shutil.copy(clip, src / cls / f"s{i % 2:02d}__{clip.name}")
    (src / "walk" / "loose.mp4").write_bytes((sorted((videos / "walk").iterdir())[5]).read_bytes())
    out = tmp_path / "ref.csv"
    report = build_reference(embedder, src, out, group=r"^(s\d+)__", progress=False)
    assert report.rows == 9 and report.groups == 2 and report.unnamed == 1
    rows = clips_sidecar(out).read_text().splitlines()
    assert rows[0] == "clip,group" and len(rows) == 10
    assert "clap/s00__" in rows[1] and rows[1].endswith(",s00")
    assert "walk/loose.mp4," in "\n".join(rows)
    groups = ref_groups(out, 9)
    assert groups is not None and len(set(groups.tolist())) == 3  # s00, s01, and the loose clip alone
    assert ref_groups(out, 8) is None  # a sidecar of another table is ignored, not misapplied
