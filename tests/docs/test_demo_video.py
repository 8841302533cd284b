"""docs/demo.mp4, made by `make demo-video`: it plays, has the promised shape, and shows every step."""

import json

import av
import numpy as np
import pytest

from clipwatch.settings import PROJECT_ROOT
from scripts.demo_captions import BAR_HEIGHT, HEIGHT, WIDTH, caption_bar

DOCS = PROJECT_ROOT / "docs"
STEPS = [
    "start",
    "upload",
    "predict",
    "feedback",
    "batch",
    "timeline",
    "watch",
    "heldback",
    "traffic",
    "model",
    "triggers",
    "recovered",
    "reports",
    "teach",
    "deploy",
    "classify",
    "unfamiliar",
    "docs",
    "metrics",
]


@pytest.fixture(scope="module")
def video():
    path = DOCS / "demo.mp4"
    assert path.exists(), "docs/demo.mp4 is missing: run `make demo-video`"
    meta = json.loads((DOCS / "demo.json").read_text())
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, rate = stream.codec_context.name, float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return path, meta, codec, rate, frames


def test_the_demo_is_h264_1280x720_between_two_and_a_half_and_four_minutes_and_small(video):
    path, meta, codec, rate, frames = video
    assert codec == "h264"
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    assert len(frames) == meta["frames"]
    assert 150 <= len(frames) / rate <= 240
    assert path.stat().st_size < 10e6


def test_every_step_is_captioned_in_order_and_visible_in_the_frames(video):
    _, meta, _, _, frames = video
    steps = meta["steps"]
    assert [s["key"] for s in steps] == STEPS
    bars = {s["key"]: np.asarray(caption_bar(s["caption"]), dtype=np.float32) for s in steps}
    for s in steps:
        assert s["end_s"] - s["start_s"] >= 2, s  # long enough to read
        middle = round((s["start_s"] + s["end_s"]) / 2 * meta["fps"])
        shown = frames[middle][HEIGHT - BAR_HEIGHT :].astype(np.float32)
        errors = {k: float(np.abs(shown - bar).mean()) for k, bar in bars.items()}
        assert min(errors, key=errors.get) == s["key"], (s["caption"], errors)
        assert errors[s["key"]] < 8, (s["caption"], errors[s["key"]])


def test_the_demo_shows_the_shift_hurting_and_the_default_gate_recovering_with_the_numbers_on_screen():
    meta = json.loads((DOCS / "demo.json").read_text())
    held = meta["held_back"]
    before, after = held["before"], held["after"]
    assert held["policy"] == "if_better" and held["promoted"] >= 1
    assert before["shifted"] < before["plain"]  # the shift hurts the model it starts with
    assert after["shifted"] > before["shifted"]  # and the retrains it let through win some of it back
    captions = {s["key"]: s["caption"] for s in meta["steps"]}
    assert f"{before['plain']:.2f}" in captions["heldback"] and f"{before['shifted']:.2f}" in captions["heldback"]
    assert f"{after['shifted']:.2f}" in captions["recovered"]
    assert "flagged" in captions["unfamiliar"]  # the clip of neither action is called unfamiliar


def test_the_readme_shows_the_poster_and_the_loop():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for name in ("demo.mp4", "demo-poster.png", "demo-loop.gif"):
        assert f"docs/{name}" in readme, name
        assert (DOCS / name).stat().st_size > 10_000, name
