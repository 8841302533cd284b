"""Which source recording each clip was cut from: what keeps an accuracy figure honest.

Clips cut from one recording share its scene, camera and people. Random folds put near-copies on
both sides of a split, so a model that recognises the scene scores as if it recognised the action.
Grouped folds keep every clip of a recording on one side, whatever actions the recording shows.

A clip's group comes from a manifest (a CSV with columns clip,group; the clip as its file name or as
class/name) or from a regex on the file name: its first capture group as it is, else its whole match.
A recording that shows several actions is one group across classes. Where a group repeats across
classes by accident of naming (UCF101's g08 is a different video in every class), capture the class
too: `(v_\\w+_g\\d+)_`. A clip whose group is unknown is a group of its own.

`clipwatch build-ref` records each row's clip and group beside ref_data.csv (ref_data.clips.csv), so
`clipwatch train`, the guard set and every retrain use the same groups.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import numpy as np

from clipwatch.errors import DatasetError

log = logging.getLogger(__name__)

RANDOM = "random folds: may overstate accuracy on clips cut from the same recordings"


def clips_sidecar(csv_path: str | Path) -> Path:
    """ref_data.csv -> ref_data.clips.csv: each row's clip (class/name) and group, in row order."""
    p = Path(csv_path)
    return p.with_name(f"{p.stem}.clips.csv")


def compile_regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise DatasetError(f"group regex {pattern!r} is not a regular expression ({exc})") from None


def read_manifest(path: str | Path) -> dict[str, str]:
    """clip -> group from a CSV with columns clip,group (the clip as file name, or class/name)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the groups manifest ({exc.strerror})") from None
    if not rows or not {"clip", "group"} <= set(rows[0]):
        raise DatasetError(f"{path}: a groups manifest needs the columns clip,group")
    return {r["clip"].strip(): r["group"].strip() for r in rows if r["clip"] and r["group"]}


def group_of(clip: str, rx: re.Pattern | None, manifest: dict[str, str] | None) -> str:
    """The group of a clip named class/name, or "" when neither the manifest nor the regex knows it."""
    if manifest:
        found = manifest.get(clip) or manifest.get(clip.rsplit("/", 1)[-1])
        if found:
            return found
    if rx is not None:
        m = rx.search(clip.rsplit("/", 1)[-1])
        if m is not None:
            return m.group(1) if rx.groups else m.group(0)
    return ""


def name_groups(
    clips: list[str], pattern: str | None = None, manifest: str | Path | None = None
) -> tuple[list[str], int]:
    """Each clip's group ("" when unknown) and how many are unknown while a source was given."""
    rx = compile_regex(pattern) if pattern else None
    table = read_manifest(manifest) if manifest else None
    found = [group_of(c, rx, table) for c in clips]
    unknown = sum(1 for g in found if not g) if (rx is not None or table) else 0
    return found, unknown


def effective(groups: list[str] | np.ndarray, clips: list[str] | np.ndarray) -> np.ndarray:
    """Groups for splitting: an unknown one is the clip's own, so it still sits on one side only."""
    return np.array([g or f"clip:{c}" for g, c in zip(groups, clips, strict=True)], dtype=object)


def is_grouped(groups: np.ndarray) -> bool:
    """Whether any group holds more than one row: only then do grouped folds differ from random ones."""
    return len(set(groups.tolist())) < len(groups)


def protocol(groups: np.ndarray | None) -> str:
    """How a cross-validated figure was made, in the words every report uses."""
    if groups is None or not is_grouped(groups):
        return RANDOM
    return f"grouped by recording ({len(set(groups.tolist()))} groups)"


def write_clips(csv_path: str | Path, clips: list[str], groups: list[str]) -> None:
    path = clips_sidecar(csv_path)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "group"])
        w.writerows(zip(clips, groups, strict=True))
    tmp.replace(path)


def ref_groups(
    csv_path: str | Path, rows: int, pattern: str | None = None, manifest: str | Path | None = None
) -> np.ndarray | None:
    """The effective group of each row of an embedding CSV, from its clips sidecar (a regex or manifest
    given now fills groups the sidecar lacks); None when no row's group is known."""
    path = clips_sidecar(csv_path)
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        recorded = list(csv.DictReader(fh))
    if len(recorded) != rows:
        log.warning(
            "%s has %d rows, %s has %d: groups ignored (rebuild with build-ref)", path, len(recorded), csv_path, rows
        )
        return None
    clips = [r.get("clip", "") for r in recorded]
    groups = [r.get("group", "") for r in recorded]
    if pattern or manifest:
        named, _ = name_groups(clips, pattern, manifest)
        groups = [g or n for g, n in zip(groups, named, strict=True)]
    if not any(groups):
        return None
    return effective(groups, clips)
