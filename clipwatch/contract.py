"""The embedding contract: everything a clip vector depends on.

A vector built under one contract means nothing to a model or a table built under another (another
K, pooling or backbone gives other numbers, sometimes of the same length). ref_data.csv records its
contract beside it (``ref_data.json``) and every model version in its metadata; both are checked
against the running embedder, and a mismatch is refused with what differs and how to rebuild.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from clipwatch.errors import DatasetError

# Files written before a setting existed were built with its only value at the time.
LEGACY = {"sampling": "segment-centres", "pooling": "mean", "stream": "rgb", "dynamic_frames": None}
REBUILD = "rebuild with `clipwatch build-ref` then `clipwatch train` (docs/embedding.md, 'Changing the embedding')"


def from_metadata(metadata: dict) -> dict:
    """A model version's contract, flattened like ClipEmbedder.contract()."""
    return {
        "backbone_sha256": metadata.get("backbone", {}).get("sha256"),
        "num_frames": metadata.get("num_frames"),
        "input_size": metadata.get("input_size"),
        "sampling": metadata.get("sampling", LEGACY["sampling"]),
        "pooling": metadata.get("pooling", LEGACY["pooling"]),
        "stream": metadata.get("stream", LEGACY["stream"]),
        "dynamic_frames": metadata.get("dynamic_frames", LEGACY["dynamic_frames"]),
        "embedding_dim": metadata.get("embedding_dim"),
    }


def mismatches(recorded: dict, current: dict) -> list[str]:
    """What differs, each as 'name: built with X, this install uses Y'."""
    out = []
    for key, now in current.items():
        then = recorded.get(key, LEGACY.get(key))
        if then != now:
            show = (lambda v: str(v)[:12]) if key == "backbone_sha256" else str
            out.append(f"{key} built with {show(then)}, this install uses {show(now)}")
    return out


def sidecar(csv_path: str | Path) -> Path:
    return Path(csv_path).with_suffix(".json")


def write_sidecar(csv_path: str | Path, contract: dict, **extra) -> None:
    path = sidecar(csv_path)
    tmp = path.with_name(f".{path.name}.partial")
    body = {"contract": contract, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, path)


def read_sidecar(csv_path: str | Path) -> dict | None:
    """The contract recorded beside an embedding CSV, or None for a CSV built before contracts existed."""
    path = sidecar(csv_path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["contract"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: unreadable embedding contract ({exc}); {REBUILD}") from exc


def check_table(csv_path: str | Path, current: dict, columns: int | None = None) -> None:
    """Refuse an embedding CSV built under another contract, or (without a record) of another width."""
    recorded = read_sidecar(csv_path)
    if recorded is not None:
        problems = mismatches(recorded, current)
    elif columns is not None and columns != current["embedding_dim"]:
        problems = [f"{columns} embedding columns, this install's vectors have {current['embedding_dim']}"]
    else:
        problems = []
    if problems:
        raise DatasetError(f"{csv_path} does not match this install's embedding: {'; '.join(problems)}: {REBUILD}")
