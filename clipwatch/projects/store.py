"""A project on disk: the clips a user teaches actions with, and the reference table built as they arrive.

data/projects/<name>/
  videos/<action>/<id>_<file>   the clips as uploaded: a folder-per-class dataset `clipwatch build-ref` reads too
  ref_data.csv                  one row per clip: emb_1..emb_D, target, clip, recording (the one source of truth)
  ref_data.clips.csv, .json     the clips sidecar and the embedding contract, derived from it after each write:
                                `clipwatch train --ref`, an estimate and a deploy read the folder like build-ref's
  thumbs/<id>.jpg               a still of each clip, for the page

Every change happens under the project's lock and replaces the table whole (written aside, then renamed),
so a crash leaves the table as it was before or after, never half-written.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.contract import check_table, read_sidecar, write_sidecar
from clipwatch.dataset import (
    ACTION_NAME,
    ACTION_RULE,
    TARGET,
    embedding_columns,
    format_vector,
    restore_cell,
    safe_cell,
)
from clipwatch.errors import DatasetError
from clipwatch.groups import write_clips
from clipwatch.locking import exclusive
from clipwatch.paths import Paths
from clipwatch.projects.names import CLIP_ID, PROJECT_NAME, PROJECT_RULE
from clipwatch.reference import summarize_rows

RECORDING = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,128}$")
THUMB_PX = 160


class ProjectError(DatasetError):
    """A request a project cannot take, with the HTTP status the API answers it with."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def checked_action(name: str) -> str:
    name = name.strip()
    if not ACTION_NAME.match(name):
        raise ProjectError(f"{ACTION_RULE} (got {name[:70]!r})")
    return name


def checked_recording(name: str) -> str:
    """A recording's name as given, or "" for none; no control characters or slashes."""
    name = name.strip()
    if name and not RECORDING.match(name):
        raise ProjectError("a recording name is at most 128 printable characters, without '/' or '\\'")
    return name


@dataclass
class NewClip:
    action: str
    recording: str
    filename: str  # the client's, for display
    source: Path  # the received file: moved into the project
    vector: np.ndarray
    still: np.ndarray | None = None


@dataclass
class Clip:
    id: str
    action: str
    recording: str
    filename: str
    bytes: int


class Project:
    def __init__(self, paths: Paths, name: str):
        if not PROJECT_NAME.match(name):
            raise ProjectError(PROJECT_RULE)
        self.name = name
        self.root = paths.projects / name

    @property
    def table(self) -> Path:
        return self.root / "ref_data.csv"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def thumbnail(self, clip_id: str) -> Path:
        if not CLIP_ID.match(clip_id):
            raise ProjectError("no such clip", 404)
        return self.root / "thumbs" / f"{clip_id}.jpg"

    def exists(self) -> bool:
        return self.root.is_dir()

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive(self.root / ".lock"):
            yield

    def _rows(self, vectors: bool = True) -> tuple[np.ndarray, list[Clip]]:
        """The table's clips in row order, and their vectors unless vectors=False (empty when no table yet)."""
        if not self.table.is_file():
            return np.zeros((0, 0), np.float32), []
        import pandas as pd

        cells = [TARGET, "clip", "recording"]
        df = pd.read_csv(
            self.table,
            dtype=str,
            keep_default_na=False,
            engine="c",
            usecols=None if vectors else cells,  # the page's listing reads no vector
        )
        X = df[[c for c in df.columns if c.startswith("emb_")]].astype(np.float32).to_numpy()
        clips = []
        for clip, recording, target in zip(df["clip"], df["recording"], df[TARGET], strict=True):
            cid, _, filename = clip.split("/", 1)[1].partition("_")
            path = self.videos / clip
            size = path.stat().st_size if path.is_file() else 0
            clips.append(Clip(cid, restore_cell(target), restore_cell(recording), filename, size))
        return X, clips

    def clips(self) -> list[Clip]:
        return self._rows(vectors=False)[1]

    def bytes_used(self) -> int:
        return sum(f.stat().st_size for f in self.videos.rglob("*") if f.is_file()) if self.videos.is_dir() else 0

    def summary(self, clips: list[Clip] | None = None) -> list[dict]:
        """Per action: clips, recordings named, clips of no named recording, what it still needs (of
        `clips` when the caller has read them already)."""
        clips = self.clips() if clips is None else clips
        return summarize_rows([c.action for c in clips], [c.recording for c in clips])

    def add(self, new: list[NewClip], contract: dict, *, max_clips: int) -> list[Clip]:
        """Move the received clips in and add their rows; all or none. Call under locked()."""
        X, clips = self._rows()
        if clips and self.table.with_suffix(".json").is_file():
            try:
                check_table(self.table, contract, X.shape[1])
            except DatasetError as exc:
                raise ProjectError(
                    f"this project's clips were embedded otherwise than the live model embeds ({exc}); rebuild its "
                    f"table: clipwatch build-ref --videos {self.videos} --out {self.table}",
                    409,
                ) from None
        if len(clips) + len(new) > max_clips:
            raise ProjectError(
                f"a project holds at most {max_clips} clips (CLIPWATCH_PROJECT_MAX_CLIPS); it has {len(clips)}", 413
            )
        added, moved = [], []
        try:
            for n in new:
                cid = uuid.uuid4().hex[:12]
                rel = f"{n.action}/{cid}_{_file_part(n.filename)}"
                dest = self.videos / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(n.source, dest)
                moved.append(dest)
                if n.still is not None:
                    _save_thumbnail(n.still, self.thumbnail(cid))
                added.append(Clip(cid, n.action, n.recording, _file_part(n.filename), dest.stat().st_size))
            vectors = np.vstack([*([X] if len(X) else []), *(n.vector[None] for n in new)])
            self._write(vectors, [*clips, *added], contract)
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            for clip in added:
                self.thumbnail(clip.id).unlink(missing_ok=True)
            raise
        return added

    def remove(self, *, clip_id: str | None = None, action: str | None = None) -> int:
        """Drop one clip, or every clip of an action, with its file and still; how many went. Under locked()."""
        X, clips = self._rows()
        gone = [i for i, c in enumerate(clips) if c.id == clip_id or c.action == action]
        if not gone:
            raise ProjectError("no such clip" if clip_id else f"no action {action!r} in this project", 404)
        keep = [i for i in range(len(clips)) if i not in set(gone)]
        contract = read_sidecar(self.table)
        self._write(X[keep], [clips[i] for i in keep], contract)
        for i in gone:
            c = clips[i]
            (self.videos / c.action / f"{c.id}_{c.filename}").unlink(missing_ok=True)
            self.thumbnail(c.id).unlink(missing_ok=True)
        for folder in self.videos.iterdir() if self.videos.is_dir() else ():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return len(gone)

    def delete(self) -> None:
        shutil.rmtree(self.root)

    def _write(self, X: np.ndarray, clips: list[Clip], contract: dict | None) -> None:
        if not clips:
            for p in (self.table, self.table.with_suffix(".json"), self.table.with_name("ref_data.clips.csv")):
                p.unlink(missing_ok=True)
            return
        tmp = self.table.with_name(".ref_data.csv.partial")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([*embedding_columns(X.shape[1]), TARGET, "clip", "recording"])
            for vector, c in zip(X, clips, strict=True):
                w.writerow(
                    [
                        *format_vector(vector),
                        safe_cell(c.action),
                        f"{c.action}/{c.id}_{c.filename}",
                        safe_cell(c.recording),
                    ]
                )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.table)
        if contract is not None:
            write_sidecar(self.table, contract, videos=str(self.videos), rows=len(clips))
        write_clips(self.table, [f"{c.action}/{c.id}_{c.filename}" for c in clips], [c.recording for c in clips])


def list_projects(paths: Paths) -> list[str]:
    root = paths.projects
    return sorted(p.name for p in root.iterdir() if p.is_dir() and PROJECT_NAME.match(p.name)) if root.is_dir() else []


def _file_part(filename: str) -> str:
    """A client's file name as a safe last path component (the id before it keeps it unique)."""
    stem, ext = os.path.splitext(filename.replace("\\", "/").rsplit("/", 1)[-1])
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:80] or "clip"
    ext = ext.lower() if re.fullmatch(r"\.[a-z0-9]{1,5}", ext.lower()) else ".bin"
    return stem + ext


def _save_thumbnail(still: np.ndarray, out: Path) -> None:
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.ascontiguousarray(still[..., :3]).astype(np.uint8))
    img.thumbnail((THUMB_PX, THUMB_PX))
    img.save(out, "JPEG", quality=80)
