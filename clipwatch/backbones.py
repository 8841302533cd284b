"""Which backbone an install serves, and switching it (`clipwatch finetune`): no torch here.

`artifacts/backbone.onnx` is the live backbone, the one every process embeds with. A fine-tuned one
changes every clip vector, so switching is one move of the whole embedding state:

- the outgoing backbone is kept as `artifacts/backbones/<sha256[:16]>.onnx`, the incoming one too;
- `ref_data.*` and `prod_data.*` built under the outgoing one move to `data/archive/<sha256[:16]>/`
  (vectors from two backbones never share a table);
- the incoming file replaces `backbone.onnx`, then the caller rebuilds ref_data and trains a version.

Rolling back is the same move the other way, with the archived tables restored. Model versions record
their backbone's sha256, so a process loading one finds its file here (`file_for`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from clipwatch.backbone import file_sha256
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths

DATA_FILES = ("ref_data.csv", "ref_data.json", "ref_data.clips.csv", "prod_data.csv", "prod_data.json")


def short(sha: str) -> str:
    return sha[:16]


def keep(paths: Paths, file: Path, sha: str | None = None) -> Path:
    """A copy of a backbone file (and its JSON report) under backbones/, named by its sha256."""
    sha = sha or file_sha256(file)
    paths.backbones.mkdir(parents=True, exist_ok=True)
    dest = paths.backbones / f"{short(sha)}.onnx"
    if not dest.is_file():
        tmp = dest.with_name(f".{dest.name}.partial")
        shutil.copyfile(file, tmp)
        os.replace(tmp, dest)
    report = file.with_suffix(".json")
    if report.is_file() and not dest.with_suffix(".json").is_file():
        shutil.copyfile(report, dest.with_suffix(".json"))
    return dest


def file_for(paths: Paths, sha: str | None) -> Path:
    """The file of the backbone with this sha256: its kept copy under backbones/, else the live file (which a
    version from before fine-tuning existed, or a mismatch the caller reports, is checked against)."""
    if sha is None or not paths.backbones.is_dir():
        return paths.backbone
    kept = paths.backbones / f"{short(sha)}.onnx"
    return kept if kept.is_file() else paths.backbone


def live_sha(paths: Paths) -> str:
    return file_sha256(paths.backbone)


def _move_data(paths: Paths, sha: str) -> list[str]:
    """Move the tables built under backbone `sha` to the archive; the names moved."""
    folder = paths.data_archive / short(sha)
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for name in DATA_FILES:
        src = paths.data_dir / name
        if src.is_file():
            os.replace(src, folder / name)
            moved.append(name)
    return moved


def _restore_data(paths: Paths, sha: str) -> list[str]:
    folder = paths.data_archive / short(sha)
    if not (folder / "ref_data.csv").is_file():
        raise ArtifactError(f"no archived ref_data.csv for backbone {short(sha)} in {paths.data_archive}")
    restored = []
    for name in DATA_FILES:
        src = folder / name
        if src.is_file():
            os.replace(src, paths.data_dir / name)
            restored.append(name)
    return restored


def switch(paths: Paths, incoming: Path) -> dict:
    """Make `incoming` the live backbone: keep both files, archive the outgoing backbone's tables.
    Returns what moved; the caller rebuilds ref_data.csv and trains."""
    outgoing = live_sha(paths)
    new_sha = file_sha256(incoming)
    keep(paths, paths.backbone, outgoing)
    kept = keep(paths, incoming, new_sha)
    archived = _move_data(paths, outgoing)
    _install(paths, kept)
    return {"previous": outgoing, "current": new_sha, "archived": archived}


def restore(paths: Paths, sha: str) -> dict:
    """Make the kept backbone `sha` live again with the tables archived under it; the tables built under
    the outgoing one are archived in turn, so a second rollback can undo the first."""
    kept = paths.backbones / f"{short(sha)}.onnx"
    if not kept.is_file():
        raise ArtifactError(f"backbone {short(sha)} is not kept in {paths.backbones}; nothing to roll back to")
    outgoing = live_sha(paths)
    keep(paths, paths.backbone, outgoing)
    archived = _move_data(paths, outgoing)
    restored = _restore_data(paths, sha)
    _install(paths, kept)
    return {"previous": outgoing, "current": sha, "archived": archived, "restored": restored}


def _install(paths: Paths, kept: Path) -> None:
    tmp = paths.backbone.with_name(f".{paths.backbone.name}.partial")
    shutil.copyfile(kept, tmp)
    os.replace(tmp, paths.backbone)
    report = kept.with_suffix(".json")
    if report.is_file():
        body = json.loads(report.read_text())
        paths.backbone.with_suffix(".json").write_text(json.dumps(body, indent=2))
