"""The decode budget: every reader stops a clip that costs more than the settings allow, and stops when told."""

from __future__ import annotations

import threading

import pytest

from clipwatch import sampling
from clipwatch.decode_budget import Cancelled, RequestBudget
from clipwatch.sampling import decode_cost, sample_clip
from clipwatch.settings import Settings
from clipwatch.video import ClipError, probe, sniff
from tests.conftest import gradient_frames, unavailable, write_clip

ONE_KEYFRAME = {"g": "100000", "keyint_min": "100000", "sc_threshold": "0"}


def settings(**kw) -> Settings:
    return Settings(_env_file=None, num_frames=8, input_size=64, **kw)


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """600 frames, one keyframe: the shape of the 1000 fps attack clip, small."""
    d = tmp_path_factory.mktemp("gop")
    return {
        "h264": write_clip(d / "one-key.mp4", gradient_frames(600, 48, 64), fps=100, options=ONE_KEYFRAME),
        "mpeg4": write_clip(
            d / "one-key.avi", gradient_frames(600, 48, 64), fps=100, codec="mpeg4", options={"g": "100000"}
        ),
    }


READERS = {
    "skipping": (),
    "decord": ("_sample_skipping",),
    "pyav": ("_sample_skipping", "_sample_decord"),
}


@pytest.mark.parametrize(
    ("reader", "codec"),  # the skipping reader reads H.264 and HEVC only
    [("skipping", "h264"), ("decord", "h264"), ("decord", "mpeg4"), ("pyav", "h264"), ("pyav", "mpeg4")],
)
def test_every_reader_refuses_a_clip_over_the_frame_budget(long_gop, monkeypatch, reader, codec):
    if reader == "decord" and sampling.decord is None:
        pytest.skip("decord is not installed here")
    for off in READERS[reader]:
        monkeypatch.setattr(sampling, off, unavailable)
    clip = long_gop[codec]
    with pytest.raises(ClipError, match="CLIPWATCH_DECODE_MAX_FRAMES"):
        sample_clip(clip, settings(decode_max_frames=100))
    frames, _ = sample_clip(clip, settings(decode_max_frames=1000))  # the same clip within a larger budget
    assert frames.shape == (8, 64, 64, 3)


def test_a_requests_clips_share_one_budget(long_gop):
    sample_clip(long_gop["h264"], settings(), k=2)  # warm: the first decode in a process costs more
    costs = []
    for _ in range(3):  # the least of three: one slow measurement would make room for two clips below
        alone = RequestBudget(cpu_s=60)
        sample_clip(long_gop["h264"], settings(), cancel=alone, k=2)
        costs.append(alone.spent)
    one_clip = min(costs)  # what one decode of this clip costs, at least
    assert one_clip > 0
    request = RequestBudget(cpu_s=1.5 * one_clip)
    sample_clip(long_gop["h264"], settings(), cancel=request, k=2)  # the first clip fits...
    with pytest.raises(ClipError, match="CLIPWATCH_BATCH_DECODE_CPU_S"):
        sample_clip(long_gop["h264"], settings(), cancel=request, k=2)  # ...the second would not


def test_cpu_budget_is_enforced(long_gop):
    with pytest.raises(ClipError, match="CLIPWATCH_DECODE_CPU_S"):
        sample_clip(long_gop["h264"], settings(decode_cpu_s=0.0001))


@pytest.mark.parametrize("codec", ["h264", "mpeg4"])
def test_a_cancelled_decode_stops(long_gop, codec):
    gone = threading.Event()
    gone.set()
    with pytest.raises(Cancelled):
        sample_clip(long_gop[codec], settings(), cancel=gone)


def test_decode_cost_follows_a_seeking_reader():
    assert decode_cost([5, 15, 25], [0]) == 26  # one keyframe: decode on from the start
    assert decode_cost([5, 15, 25], [0, 10, 20]) == 6 + 6 + 6  # a seek to the keyframe before each
    assert decode_cost([5, 5, 6], [0]) == 7


def test_codecs_outside_the_whitelist_are_refused(tmp_path):
    clip = write_clip(tmp_path / "sorenson.avi", gradient_frames(10), codec="flv")  # Flash-era H.263
    with pytest.raises(ClipError, match="codec 'flv' is not accepted"):
        probe(clip, max_pixels=10**8, max_duration_s=3600)


def test_sniff_names_the_container_by_its_first_bytes(tmp_path, long_gop):
    assert sniff(long_gop["h264"]) == probe(long_gop["h264"], max_pixels=10**8, max_duration_s=3600).family == "mov"
    assert sniff(long_gop["mpeg4"]) == "avi"
    webm = write_clip(tmp_path / "a.webm", gradient_frames(10), codec="libvpx-vp9")
    assert sniff(webm) == "matroska"
    playlist = tmp_path / "evil.mp4"
    playlist.write_bytes(b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    assert sniff(playlist) is None
