"""Scoring folders of clips through the serving API (`clipwatch score`)."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clipwatch.client.http import ApiClient, ApiError
from clipwatch.errors import ClipwatchError
from clipwatch.paths import VIDEO_EXTENSIONS


def expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
        elif p.is_file():
            files.append(p)
        else:
            raise ClipwatchError(f"{p}: no such file or folder")
    return files


def score_paths(
    paths: list[Path],
    *,
    api: str,
    concurrency: int = 4,
    timeout: float = 120.0,
    api_key: str | None = None,
    out: Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """POST each clip to /predict with bounded concurrency. One row per clip, errors included."""
    from tqdm import tqdm

    files = expand(paths)
    if not files:
        raise ClipwatchError("no clips to score")
    client = ApiClient(api, api_key, timeout)
    client.health()  # fail fast, with one clear line, when the API is down

    def one(path: Path) -> dict:
        row = {
            "file": str(path),
            "label": None,
            "confidence": None,
            "model_version": None,
            "prediction_id": None,
            "error": None,
        }
        try:
            body = client.predict(path.name, path.read_bytes())
            row.update({k: body[k] for k in ("label", "confidence", "model_version", "prediction_id")})
        except ApiError as exc:
            row["error"] = f"HTTP {exc}" if exc.status else str(exc)
        return row

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(
            tqdm(
                pool.map(one, files), total=len(files), desc="scoring", unit="clip", disable=None if progress else True
            )
        )
    if out is not None:
        write_results(results, out)
    return results


def write_results(results: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(results, indent=2))
        return
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
