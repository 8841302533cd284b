"""The caption bar of the recorded demo (docs/demo.mp4), shared by its recorder and its test.

The test re-renders each step's bar and finds it in the video, so a step whose caption never made it
into the frames fails.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, BAR_HEIGHT = 1280, 720, 56


@lru_cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    # matplotlib ships DejaVu Sans, so the bar looks the same on every machine without system fonts.
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def caption_bar(caption: str | None) -> Image.Image:
    bar = Image.new("RGB", (WIDTH, BAR_HEIGHT), (24, 28, 38))
    if caption:
        draw = ImageDraw.Draw(bar)
        draw.rectangle((0, 0, 6, BAR_HEIGHT), fill=(255, 75, 75))
        draw.text((22, BAR_HEIGHT // 2), caption, font=_font(22), fill=(245, 245, 245), anchor="lm")
    return bar
