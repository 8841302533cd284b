"""Folder-per-class clip datasets (UCF101 layout) and the embedding CSVs built from them."""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clipwatch.contract import write_sidecar
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import DatasetError
from clipwatch.groups import name_groups, write_clips
from clipwatch.paths import VIDEO_EXTENSIONS
from clipwatch.video import ClipError

log = logging.getLogger(__name__)

TARGET = "target"
PREDICTION = "prediction"


# An action (class) name a user may give: feedback's new labels and a project's actions alike.
ACTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
ACTION_RULE = "an action name must be 1-64 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit"

# A spreadsheet opening the CSV reads a cell starting with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Text as a CSV cell no spreadsheet will evaluate: a leading formula character gets a quote."""
    return "'" + text if text.startswith(FORMULA_START) else text


def restore_cell(text: str) -> str:
    """safe_cell undone."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def embedding_columns(dim: int) -> list[str]:
    return [f"emb_{i}" for i in range(1, dim + 1)]


def embedding_width(path: str | Path) -> int:
    """How many emb_ columns an embedding CSV's header names (reads the header only)."""
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), [])
    return sum(1 for c in header if c.startswith("emb_"))


def format_vector(vector: np.ndarray) -> list[str]:
    # 9 significant digits round-trip a float32 exactly, so a vector read back
    # from the CSV is bit-identical to the one the model saw.
    return [f"{v:.9g}" for v in np.asarray(vector, dtype=np.float32)]


@dataclass
class ClipDataset:
    root: Path
    clips: list[tuple[Path, str]]  # (path, class), sorted
    small_classes: dict[str, int] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return sorted({c for _, c in self.clips})

    def counts(self) -> Counter:
        return Counter(c for _, c in self.clips)


def discover(root: str | Path) -> ClipDataset:
    """Find <root>/<class>/<clip>.{avi,mp4,mov,mkv,webm}. Hidden files and other types are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (expected <folder>/<class>/<clip>.mp4)")
    clips: list[tuple[Path, str]] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(class_dir.iterdir()):
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in VIDEO_EXTENSIONS:
                clips.append((f, class_dir.name))
    if not clips:
        raise DatasetError(
            f"{root}: no clips found (expected <folder>/<class>/<clip> with one of {', '.join(VIDEO_EXTENSIONS)})"
        )
    ds = ClipDataset(root, clips)
    ds.small_classes = {c: n for c, n in ds.counts().items() if n < 2}
    return ds


@dataclass
class BuildReport:
    rows: int
    skipped: list[tuple[Path, str]]
    counts: dict[str, int]
    small_classes: dict[str, int]
    groups: int = 0  # source recordings named (0: none known, figures will be random folds)
    unnamed: int = 0  # clips the regex or manifest did not name (each its own group)


def embed_many(
    embedder: ClipEmbedder, paths: Iterable[Path], workers: int = 2
) -> Iterator[tuple[Path, np.ndarray | None, str | None]]:
    """Embed clips in order; a clip that fails yields its error instead of stopping the run.

    Two threads overlap one clip's decoding with another's CNN pass (both
    release the GIL); each still goes through ClipEmbedder.embed.
    """
    paths = list(paths)

    def one(path: Path):
        try:
            return path, embedder.embed(path).vector, None
        except ClipError as exc:
            return path, None, str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, paths)


def build_reference(
    embedder: ClipEmbedder,
    videos: str | Path,
    out: str | Path,
    *,
    group: str | None = None,
    manifest: str | Path | None = None,
    progress: bool = True,
) -> BuildReport:
    """Embed every clip under videos into out (emb_1..emb_D, target), written atomically, and each row's
    clip and source recording (group regex or manifest; clipwatch.groups) into out's clips sidecar."""
    from tqdm import tqdm

    ds = discover(videos)
    names = {path: f"{cls}/{path.name}" for path, cls in ds.clips}
    found, unknown = name_groups(list(names.values()), group, manifest)
    group_by = dict(zip(names.values(), found, strict=True))
    for cls, n in ds.small_classes.items():
        log.warning("class %r has only %d clip: training needs at least 2 per class", cls, n)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    labels = dict(ds.clips)
    skipped: list[tuple[Path, str]] = []
    counts: Counter = Counter()
    rows: list[str] = []  # each written row's clip, in order
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*embedding_columns(embedder.dim), TARGET])
        results = embed_many(embedder, labels)
        for path, vector, error in tqdm(
            results, total=len(labels), desc="embedding clips", unit="clip", disable=None if progress else True
        ):
            if error is not None:
                log.warning("skipped %s", error)
                skipped.append((path, error))
                continue
            writer.writerow([*format_vector(vector), safe_cell(labels[path])])
            counts[labels[path]] += 1
            rows.append(names[path])
        fh.flush()
        os.fsync(fh.fileno())
    if not counts:
        tmp.unlink()
        raise DatasetError(f"{videos}: none of the {len(labels)} clips could be decoded")
    os.replace(tmp, out)
    # After the table: a crash between the two leaves a record that no longer matches, which is refused.
    write_sidecar(out, embedder.contract(), videos=str(videos), rows=sum(counts.values()))
    groups = [group_by[c] for c in rows]
    write_clips(out, rows, groups)
    known = {g for g in groups if g}
    return BuildReport(sum(counts.values()), skipped, dict(counts), ds.small_classes, len(known), unknown)


def read_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Read an embedding CSV: (X float32 N x D, targets, the whole frame)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: not found")
    df = pd.read_csv(path, dtype={TARGET: str, PREDICTION: str}, engine="c", float_precision="round_trip")
    cols = [c for c in df.columns if c.startswith("emb_")]
    if not cols or TARGET not in df.columns:
        raise DatasetError(f"{path}: expected columns emb_1..emb_N and {TARGET!r}")
    if cols != embedding_columns(len(cols)):
        raise DatasetError(f"{path}: embedding columns are not emb_1..emb_{len(cols)} in order")
    for col in (TARGET, PREDICTION):
        if col in df.columns:
            df[col] = df[col].map(lambda v: restore_cell(v) if isinstance(v, str) else v)
    return df[cols].to_numpy(dtype=np.float32), df[TARGET].astype(str).to_numpy(), df
