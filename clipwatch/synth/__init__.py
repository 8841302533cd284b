"""Procedural, labelled human-action clips: the dataset that ships with the project."""

from clipwatch.synth.actions import ACTIONS
from clipwatch.synth.generate import ClipSpec, generate_dataset, render_clip

__all__ = ["ACTIONS", "ClipSpec", "generate_dataset", "render_clip"]
