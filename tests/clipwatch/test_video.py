from pathlib import Path

import numpy as np
import pytest

from clipwatch import sampling
from clipwatch.decode_budget import unlimited
from clipwatch.sampling import sample_frames
from clipwatch.video import ClipError, FramePlan, probe, segment_centres
from tests.conftest import gradient_frames, unavailable, write_clip

LIMITS = {"max_pixels": 4096 * 2304, "max_duration_s": 3600.0}


def test_segment_centres_are_tsn_centres():
    assert segment_centres(80, 8).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]


def test_segment_centres_repeat_when_clip_is_shorter_than_k():
    idx = segment_centres(3, 8)
    assert len(idx) == 8 and idx.max() == 2 and idx.min() == 0
    assert np.all(np.diff(idx) >= 0)


def test_a_short_clips_dynamic_frames_spread_over_each_segment_as_k_x_t_centres():
    # 8 segments of 2 s or less (a 16 s clip at 25 fps): the plan is the K x T centres it always was.
    plan = FramePlan(8, 4, span_s=2.0)
    assert plan.indices(400, 25.0).tolist() == segment_centres(400, 32).tolist()
    assert np.allclose(plan.times(16.0), (np.arange(32) + 0.5) * 0.5)


def test_a_long_clips_dynamic_frames_gather_within_the_span_around_each_centre():
    # 10 minutes at 25 fps: segments of 75 s, each seen through 4 frames within 2 s of its centre.
    plan = FramePlan(8, 4, span_s=2.0)
    idx = plan.indices(15000, 25.0).reshape(8, 4)
    centres = segment_centres(15000, 8)
    assert np.all(np.abs(idx - centres[:, None]) <= 25) and set(np.diff(idx, axis=1).flat) <= {12, 13}
    assert np.all(np.diff(idx.reshape(-1)) > 0)  # still in time order
    secs = plan.times(600.0).reshape(8, 4)
    assert np.allclose(secs, idx / 25.0, atol=0.05)
    # A timeline's or a live source's grid places its pictures the same way, segment after segment.
    assert np.allclose([plan.grid_time(u, 75.0) for u in range(32)], plan.times(600.0))
    assert FramePlan(8).indices(15000, 25.0).tolist() == centres.tolist()  # one frame per segment: unchanged


def test_every_reader_reads_the_same_gathered_frames(tmp_path, monkeypatch):
    # 40 s at 25 fps, K=4 segments of 10 s: T=3 frames within 2 s of each centre, whichever reader runs.
    clip = write_clip(tmp_path / "long.mp4", gradient_frames(1000, 48, 64), fps=25)
    info = probe(clip, **LIMITS)
    plan = FramePlan(4, 3, span_s=2.0)
    full = sampling._sample_pyav(clip, plan, 64, info, threads=1, budget=unlimited())
    assert full.shape == (12, 64, 64, 3)
    np.testing.assert_array_equal(sampling._sample_skipping(clip, plan, 64, info, threads=2, budget=unlimited()), full)
    if sampling.decord is not None:
        np.testing.assert_array_equal(sampling._sample_decord(clip, plan, 64, 1, budget=unlimited()), full)
    expected = 255 * plan.indices(1000, 25.0) / 999  # brightness encodes the frame's index
    assert np.allclose(full.mean(axis=(1, 2, 3)), expected, atol=6)
    assert np.ptp(expected.reshape(4, 3), axis=1).max() <= 2 * 25  # each segment's frames within its 2 s


def test_sample_frames_returns_k_frames_in_time_order(tmp_path):
    clip = write_clip(tmp_path / "ramp.mp4", gradient_frames(80))
    info = probe(clip, **LIMITS)
    assert (info.frames, info.width, info.height) == (80, 160, 120)
    assert info.fps == pytest.approx(25)
    frames = sample_frames(clip, 8, 224, info)
    assert frames.shape == (8, 224, 224, 3) and frames.dtype == np.uint8
    brightness = frames.mean(axis=(1, 2, 3))
    expected = 255 * segment_centres(80, 8) / 79
    assert np.allclose(brightness, expected, atol=6)


def test_clip_shorter_than_k_is_sampled_with_repetition(tmp_path):
    clip = write_clip(tmp_path / "three.mp4", gradient_frames(3))
    frames = sample_frames(clip, 8, 64, probe(clip, **LIMITS))
    assert frames.shape == (8, 64, 64, 3)


def test_pyav_fallback_matches_decord(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "ramp.mp4", gradient_frames(40))
    info = probe(clip, **LIMITS)
    monkeypatch.setattr(sampling, "_sample_skipping", unavailable)
    fast = sample_frames(clip, 8, 224, info)
    monkeypatch.setattr(sampling, "decord", None)
    slow = sample_frames(clip, 8, 224, info)
    assert slow.shape == fast.shape
    assert np.abs(slow.astype(int) - fast.astype(int)).mean() < 3


def test_one_scaler_per_clip_gives_pyavs_own_pixels_whatever_the_frame_size(tmp_path):
    # Models trained before the scaler was shared must see the same pixels; a second frame size
    # (a stream that changes resolution) must not reuse the first one's conversion.
    import av

    rng = np.random.default_rng(0)
    decoded = []
    for h, w in ((120, 160), (240, 320)):
        clip = write_clip(tmp_path / f"{w}.mp4", rng.integers(0, 256, (5, h, w, 3), dtype=np.uint8))
        with av.open(str(clip)) as container:
            decoded += list(container.decode(video=0))
    picture = sampling.Pictures(64)
    for frame in decoded:
        np.testing.assert_array_equal(picture(frame), frame.to_ndarray(width=64, height=64, format="rgb24"))


@pytest.mark.parametrize("gop", [12, 250])
def test_skipping_decode_gives_exactly_the_frames_a_full_decode_gives(tmp_path, gop):
    # Moving pictures with B-frames: a 12-frame GOP makes it seek past whole intervals, x264's default
    # (250) makes it run through one, dropping the non-reference frames no centre needs.
    from clipwatch.synth import ClipSpec, render_clip
    from clipwatch.synth.generate import encode_h264

    frames, fps, size = render_clip(ClipSpec("walk", 0, 0))
    frames = list(frames) * 3
    clip = tmp_path / "walk.mp4"
    encode_h264(iter(frames), fps, size, clip, gop=gop if gop != 250 else None)
    info = probe(clip, **LIMITS)
    for k in (3, 8, len(frames) + 5):
        full = sampling._sample_pyav(clip, k, 64, info, threads=1, budget=unlimited())
        np.testing.assert_array_equal(sampling._sample_skipping(clip, k, 64, info, threads=2, budget=unlimited()), full)
    assert np.array_equal(
        sample_frames(clip, 8, 64, info), sampling._sample_pyav(clip, 8, 64, info, threads=1, budget=unlimited())
    )


def test_keyframe_sampling_takes_the_keyframe_at_or_before_each_centre(tmp_path):
    # GOP of 10 (no scene-cut keyframes): centres 5, 15, ..., 75 fall back to keyframes 0, 10, ..., 70.
    options = {"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "2"}
    clip = write_clip(tmp_path / "gop10.mp4", gradient_frames(80), options=options)
    info = probe(clip, **LIMITS)
    frames = sample_frames(clip, 8, 64, info, method="keyframes")
    assert frames.shape == (8, 64, 64, 3)
    expected = 255 * (segment_centres(80, 8) // 10 * 10) / 79
    assert np.allclose(frames.mean(axis=(1, 2, 3)), expected, atol=6)


def test_keyframe_sampling_of_a_single_gop_clip_repeats_its_first_picture(tmp_path):
    # The accuracy cost the README warns about: a short clip with one keyframe gives one picture K times.
    clip = write_clip(tmp_path / "gop-all.mp4", gradient_frames(40))
    frames = sample_frames(clip, 8, 64, probe(clip, **LIMITS), method="keyframes")
    assert np.allclose(frames.mean(axis=(1, 2, 3)), 0, atol=6)


def test_keyframe_sampling_falls_back_to_exact_when_seeking_fails(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "ramp.mp4", gradient_frames(40))
    info = probe(clip, **LIMITS)

    monkeypatch.setattr(sampling, "_sample_keyframes", unavailable)
    fallback = sample_frames(clip, 8, 64, info, method="keyframes")
    assert np.array_equal(fallback, sample_frames(clip, 8, 64, info))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("reader", ["skipping", "decord", "pyav"])
def test_decode_threads_do_not_change_the_frames(tmp_path, monkeypatch, threads, reader):
    clip = write_clip(tmp_path / "ramp.mp4", gradient_frames(60, 360, 640))
    info = probe(clip, **LIMITS)
    if reader != "skipping":
        monkeypatch.setattr(sampling, "_sample_skipping", unavailable)
    if reader == "pyav":
        monkeypatch.setattr(sampling, "decord", None)
    assert np.array_equal(sample_frames(clip, 8, 64, info, threads=threads), sample_frames(clip, 8, 64, info))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.mp4", b""),
        ("random.mp4", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
        ("notes.mp4", b"this is a text file, not a video\n" * 20),
    ],
)
def test_unreadable_files_raise_clip_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ClipError, match=name):
        probe(path, **LIMITS)


def test_truncated_clip_is_refused_or_sampled_never_crashes(tmp_path):
    clip = write_clip(tmp_path / "whole.mp4", gradient_frames(50))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(ClipError, match=r"cut\.mp4"):
        sample_frames(cut, 8, 64, probe(cut, **LIMITS))


def test_declared_frame_size_over_the_limit_is_refused_before_decoding(tmp_path):
    clip = write_clip(tmp_path / "big.mp4", gradient_frames(5, 480, 640))
    with pytest.raises(ClipError, match="640x480 exceeds"):
        probe(clip, max_pixels=320 * 240, max_duration_s=60)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import av

    path = Path(tmp_path / "audio.mp4")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(ClipError, match="no video stream"):
        probe(path, **LIMITS)


@pytest.mark.parametrize("reader", ["skipping", "decord", "pyav"])
def test_a_rotated_phone_clip_is_sampled_upright(tmp_path, monkeypatch, reader):
    # A picture with a bright top-left corner, stored turned a quarter clockwise with a display matrix
    # that turns it back (how phones record portrait video): the sampled frames must be upright.
    upright = np.zeros((10, 96, 128, 3), np.uint8)
    upright[:, :32, :32] = 255
    path = write_clip(tmp_path / "r.mp4", [np.rot90(f, k=-1) for f in upright], 10, rotation=90)
    if reader != "skipping":
        monkeypatch.setattr(sampling, "_sample_skipping", unavailable)
    if reader == "pyav":
        monkeypatch.setattr(sampling, "decord", None)
    info = probe(path, max_pixels=10**7, max_duration_s=60)
    frames = sample_frames(path, 2, 64, info).astype(float)
    corners = [frames[:, :16, :16], frames[:, :16, -16:], frames[:, -16:, :16], frames[:, -16:, -16:]]
    assert int(np.argmax([c.mean() for c in corners])) == 0  # top-left, where it was filmed


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("playlist.mp4", b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n"),
        ("concat.mp4", b"ffconcat version 1.0\nfile '/etc/passwd'\n"),  # FFmpeg alone would try to read it
        ("image.mp4", bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55")),
    ],
)
def test_files_that_are_not_video_containers_are_never_demuxed(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ClipError, match="not a readable video"):
        probe(tmp_path / name, max_pixels=10**7, max_duration_s=60)
