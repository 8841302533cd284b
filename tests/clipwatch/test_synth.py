import av
import numpy as np
import pytest

from clipwatch.synth import ACTIONS, ClipSpec, generate_dataset, render_clip
from clipwatch.synth.generate import FPS_CHOICES, RESOLUTIONS


def test_six_actions_with_distinct_motion():
    assert sorted(ACTIONS) == ["clap", "jump", "run", "squat", "walk", "wave"]


def test_dataset_is_folder_per_class_of_browser_playable_h264(videos):
    for action in ACTIONS:
        clips = sorted((videos / action).glob("*.mp4"))
        assert len(clips) >= 2
    for clip in sorted(videos.rglob("*.mp4"))[::5]:
        with av.open(str(clip)) as c:
            s = c.streams.video[0]
            assert s.codec_context.name == "h264"
            assert s.codec_context.pix_fmt == "yuv420p"
            assert (s.codec_context.width, s.codec_context.height) in RESOLUTIONS
            assert round(float(s.average_rate)) in FPS_CHOICES
            duration = s.frames / float(s.average_rate)
            assert 1.9 <= duration <= 5.1


def test_same_seed_same_clip_other_seed_other_clip(tmp_path):
    a = generate_dataset(tmp_path / "a", per_class=1, seed=7, actions=["wave"], workers=1, progress=False)
    b = generate_dataset(tmp_path / "b", per_class=1, seed=7, actions=["wave"], workers=1, progress=False)
    c = generate_dataset(tmp_path / "c", per_class=1, seed=8, actions=["wave"], workers=1, progress=False)
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[0].read_bytes() != c[0].read_bytes()


def test_generation_is_idempotent_and_leaves_no_partial_files(tmp_path):
    first = generate_dataset(tmp_path, per_class=1, actions=["clap"], workers=1, progress=False)
    mtime = first[0].stat().st_mtime_ns
    generate_dataset(tmp_path, per_class=1, actions=["clap"], workers=1, progress=False)
    assert first[0].stat().st_mtime_ns == mtime
    assert not list(tmp_path.rglob(".*partial"))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_shift_renders_a_darker_distribution(action):
    def mean_brightness(shift: bool) -> float:
        values = []
        for i in range(3):
            frames, _, _ = render_clip(ClipSpec(action, 0, i, shift))
            values.append(np.mean([f.mean() for f in list(frames)[::10]]))
        return float(np.mean(values))

    assert mean_brightness(True) < 0.8 * mean_brightness(False)


def test_unknown_action_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown actions"):
        generate_dataset(tmp_path, per_class=1, actions=["moonwalk"], progress=False)
