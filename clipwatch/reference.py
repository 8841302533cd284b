"""What the reference set (ref_data.csv) holds, per action: the clips, the recordings they were cut from,
and what an action still lacks for an honest estimate (`GET /reference`, `clipwatch info`, the projects);
and the archive of every reference set a version trained on, so a rollback restores its own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from clipwatch.dataset import TARGET, restore_cell
from clipwatch.errors import DatasetError
from clipwatch.groups import clips_sidecar
from clipwatch.paths import Paths


def recorded_groups(ref: Path, rows: int) -> list[str] | None:
    """Each row's recording as build-ref recorded it ("" where unknown); None without a matching sidecar."""
    path = clips_sidecar(ref)
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        groups = [r.get("group", "") for r in csv.DictReader(fh)]
    return groups if len(groups) == rows else None


def summarize(ref: Path) -> list[dict]:
    """One entry per action, sorted by name: clips, known recordings, clips of no known recording, needs."""
    if not Path(ref).is_file():
        return []
    targets = pd.read_csv(ref, usecols=[TARGET], dtype=str, keep_default_na=False)[TARGET].map(restore_cell)
    groups = recorded_groups(Path(ref), len(targets)) or [""] * len(targets)
    return summarize_rows(list(targets), groups)


def summarize_rows(targets: list[str], groups: list[str]) -> list[dict]:
    """summarize() for rows given as each one's action and recording ("" where unknown)."""
    out = []
    for action in sorted(set(targets)):
        mine = [g for t, g in zip(targets, groups, strict=True) if t == action]
        recordings = {g for g in mine if g}
        needs = []
        if len(mine) < 2:
            needs.append("at least 2 clips, for cross-validation")
        if not recordings:
            needs.append("the recording each clip was cut from, for an estimate grouped by recording")
        elif len(recordings) < 2:
            needs.append("clips from a second recording, for an estimate grouped by recording")
        out.append(
            {
                "action": action,
                "clips": len(mine),
                "recordings": len(recordings),
                "clips_without_recording": sum(1 for g in mine if not g),
                "needs": needs,
            }
        )
    return out


# The reference set's files: the table, its embedding contract, its clips sidecar.
def reference_files(table: Path) -> list[Path]:
    table = Path(table)
    return [table, table.with_suffix(".json"), clips_sidecar(table)]


def table_sha256(table: Path) -> str | None:
    """The reference table's digest, which names it in the archive; None when there is none."""
    table = Path(table)
    if not table.is_file():
        return None
    h = hashlib.sha256()
    with open(table, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def archive_reference(paths: Paths) -> str | None:
    """Keep a copy of data/ref_data.* in the archive (once per content); its digest."""
    sha = table_sha256(paths.ref_data)
    if sha is None:
        return None
    dest = paths.reference_archive / sha[:16]
    if not (dest / "ref_data.csv").is_file():
        tmp = dest.with_name(f".{dest.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in reference_files(paths.ref_data):
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return sha


def install_reference(paths: Paths, table: Path) -> None:
    """Make another reference set (its table and sidecars) data/ref_data.*; archive the current one first.
    The sidecars go before the table: a crash between leaves the old table, whose rows the new clips
    sidecar does not match, which readers ignore (groups unknown) rather than trust."""
    archive_reference(paths)
    src = reference_files(Path(table))
    dst = reference_files(paths.ref_data)
    for s, d in [*zip(src[1:], dst[1:], strict=True), (src[0], dst[0])]:
        if not s.is_file():
            d.unlink(missing_ok=True)
            continue
        tmp = d.with_name(f".{d.name}.partial")
        shutil.copyfile(s, tmp)
        os.replace(tmp, d)


def restore_reference(paths: Paths, sha: str | None) -> bool:
    """Put back the archived reference set with this digest, if it is not the current one; whether it moved."""
    if not sha or table_sha256(paths.ref_data) == sha:
        return False
    archived = paths.reference_archive / sha[:16] / "ref_data.csv"
    if not archived.is_file():
        raise DatasetError(f"the reference set {sha[:16]} is not in {paths.reference_archive}: cannot restore it")
    install_reference(paths, archived)
    return True


def reference_of(paths: Paths, version: str, metadata: dict) -> str | None:
    """The digest of the reference set a version trained on: its metadata's, else the one recorded for
    versions published before versions recorded it (clipwatch.projects.deploy notes them)."""
    sha = metadata.get("training", {}).get("reference_sha256")
    if sha:
        return sha
    index = paths.reference_archive / "versions.json"
    return json.loads(index.read_text()).get(version) if index.is_file() else None


def note_unrecorded(paths: Paths, versions: dict[str, dict], sha: str | None) -> None:
    """Record the current reference set (its digest, sha) for every version whose metadata names none (all
    published before it was recorded, on the reference set of the time), before a deploy replaces it."""
    index = paths.reference_archive / "versions.json"
    known = json.loads(index.read_text()) if index.is_file() else {}
    missing = {v: sha for v, meta in versions.items() if v not in known and reference_of(paths, v, meta) is None}
    if sha and missing:
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_name(".versions.json.partial")
        tmp.write_text(json.dumps({**known, **missing}, indent=1) + "\n")
        os.replace(tmp, index)
