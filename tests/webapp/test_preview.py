"""The web app's preview, which anyone who can open the page can trigger: held to the API's probe and
decode budget, and never caching the upload itself."""

from __future__ import annotations

import pytest

from clipwatch.settings import Settings
from clipwatch.video import ClipError, probe
from tests.conftest import gradient_frames, write_clip

LIMITS = {"max_pixels": 4096 * 2304, "max_duration_s": 3600.0}


def settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


@pytest.fixture
def avi(tmp_path):
    """MPEG-4 in AVI, which browsers can't play: the preview transcodes it."""
    return write_clip(tmp_path / "clip.avi", gradient_frames(100, 96, 128), fps=25, codec="mpeg4")


def test_an_unplayable_clip_becomes_a_short_h264_copy_by_its_own_timestamps(avi, tmp_path):
    from preview import transcode_h264

    out = transcode_h264(avi, tmp_path / "out.mp4", settings(), max_seconds=1.0)
    info = probe(out, **LIMITS)
    assert info.codec == "h264" and 0.8 <= info.duration_s <= 1.2


def test_the_preview_keeps_to_the_decode_budget_and_the_pixel_cap(avi, tmp_path):
    from preview import transcode_h264

    with pytest.raises(ClipError, match="CLIPWATCH_DECODE_MAX_FRAMES"):
        transcode_h264(avi, tmp_path / "a.mp4", settings(decode_max_frames=10))
    with pytest.raises(ClipError, match="pixels"):
        transcode_h264(avi, tmp_path / "b.mp4", settings(max_frame_pixels=100 * 100))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + b"\0" * 1000)
    with pytest.raises(ClipError):
        transcode_h264(junk, tmp_path / "c.mp4", settings())


def test_a_playable_upload_is_never_copied_into_the_cache(tmp_path):
    import common

    clip = write_clip(tmp_path / "clip.mp4", gradient_frames(20))
    data = clip.read_bytes()
    assert common._preview_copy(common.digest(data), ".mp4", data) is None  # the upload plays as it is
    preview, mime, transcoded = common.clip_preview(data, "clip.mp4")
    assert preview is data and mime == "video/mp4" and not transcoded
