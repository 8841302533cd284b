"""`clipwatch timeline FILE`: when each action happens in a long video (registered in clipwatch.cli).

In this process by default (the live model in artifacts/), or through a running API with --api, as an
asynchronous job whose progress the bar follows. Ctrl-C cancels the job on the server too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from clipwatch.errors import ClipwatchError
from clipwatch.settings import get_settings


def timeline_cmd(
    file: Annotated[Path, typer.Argument(help="a video file (MP4, MOV, AVI, MKV, WebM)", exists=True, dir_okay=False)],
    api: Annotated[str | None, typer.Option(help="serving API base URL; default: run here")] = None,
    window: Annotated[float | None, typer.Option(min=0.5, max=120, help="window length, s")] = None,
    stride: Annotated[float | None, typer.Option(min=0.1, max=120, help="stride between windows, s")] = None,
    smooth: Annotated[
        int | None, typer.Option(min=1, max=15, help="windows the segments average over (1: each window its own)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write every window to .csv, or the whole timeline to .json")] = None,
) -> None:
    """Classify every window of a long video; print its segments (adjacent windows with one label)."""
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise typer.BadParameter(f"{out}: write .csv (one row per window) or .json (the whole timeline)")
    result = _through_api(file, api, window, stride, smooth) if api else _here(file, window, stride, smooth)
    for seg in result["segments"]:
        typer.echo(
            f"{seg['start_s']:9.1f} - {seg['end_s']:9.1f} s  {seg['label']:<20} "
            f"({seg['windows']} windows, mean confidence {seg['mean_confidence']:.2f})"
        )
    typer.echo(
        f"{len(result['windows'])} windows of {result['window_s']:g} s every {result['stride_s']:g} s, "
        f"{len(result['segments'])} segments, model {result['model_version']}"
    )
    if out is not None:
        _write(result, out)
        typer.echo(f"written to {out}")


def _here(file: Path, window: float | None, stride: float | None, smooth: int | None) -> dict:
    from tqdm import tqdm

    from clipwatch.predictor import Predictor
    from clipwatch.timeline.windows import Limits, Windowing, run_timeline
    from clipwatch.video import probe

    s = get_settings()
    predictor = Predictor.load(s)
    info = probe(file, max_pixels=s.max_frame_pixels, max_duration_s=s.timeline_max_duration_s)
    windowing = Windowing.of(window or s.timeline_window_s, stride or s.timeline_stride_s, predictor.embedder.k)
    with tqdm(total=round(info.duration_s, 1), unit="s", desc=file.name, dynamic_ncols=True) as bar:

        def progress(done: float, _total: float) -> None:
            bar.update(round(done - bar.n, 1))

        timeline = run_timeline(
            file,
            predictor,
            windowing,
            info,
            Limits(s.timeline_max_frames, s.timeline_cpu_s),
            progress,
            smooth=smooth or s.timeline_smooth_windows,
        )
    return timeline.as_dict()


def _through_api(file: Path, api: str, window: float | None, stride: float | None, smooth: int | None) -> dict:
    from tqdm import tqdm

    from clipwatch.client.http import ApiClient

    s = get_settings()
    client = ApiClient(api, api_key=s.api_key.get_secret_value() if s.api_key else None)
    size = file.stat().st_size
    with open(file, "rb") as fh, tqdm(total=size, unit="B", unit_scale=True, desc=f"upload {file.name}") as bar:
        job = client.start_timeline(fh, size, file.name, window, stride, on_bytes=bar.update, smooth=smooth)
    job_id = job["id"]
    try:
        with tqdm(total=round(job.get("duration_s") or 0, 1), unit="s", desc=f"job {job_id[:8]}") as bar:
            while job["status"] in ("queued", "running"):
                time.sleep(1)
                job = client.job(job_id)
                bar.update(round(job.get("processed_s", 0) - bar.n, 1))
    except KeyboardInterrupt:
        client.cancel_job(job_id)
        raise ClipwatchError(f"cancelled job {job_id} on {api}") from None
    if job["status"] != "done":
        raise ClipwatchError(f"job {job_id} {job['status']}: {job.get('error') or 'no reason given'}")
    return job["result"]


def _write(result: dict, out: Path) -> None:
    from clipwatch.timeline.windows import Timeline

    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(result, indent=2) + "\n")
    else:
        out.write_text(Timeline.from_dict(result).to_csv())
