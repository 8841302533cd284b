"""How many times faster than real time a long 720p H.264 video becomes a timeline, on this machine.

The video: one minute of rendered actions (six 10 s takes), drawn at 320x240, scaled to 1280x720, encoded
as H.264 at 25 fps (CRF 28: about 3 Mbit/s, where a 720p web video sits; the renderer's per-frame noise
would otherwise cost twice that), then repeated by copying its packets (no second encode) to --minutes (10). It is
made once and kept in data/.cache/bench/. The timeline runs in-process with the live model and the
default window and stride, as `clipwatch timeline FILE` would; the figure is video seconds over wall
seconds (target: at least 10x), with the CNN's share and the peak memory of the process.

Writes benchmarks/results/timeline.json and prints a table. Run: make bench (or python benchmarks/timeline.py)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_targets, table, write_results

from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.settings import get_settings
from clipwatch.synth.long import render_long
from clipwatch.timeline.windows import Limits, Windowing, run_timeline
from clipwatch.video import probe

ACTIONS = ["clap", "run", "wave", "walk", "jump", "squat"]
TARGET_X = 10.0
CRF = 28


def long_video(minutes: int, size: tuple[int, int]) -> Path:
    cache = Paths.from_settings(get_settings()).data_dir / ".cache" / "bench"
    out = cache / f"timeline-{minutes}min-{size[1]}p-crf{CRF}.mp4"
    if out.exists():
        return out
    minute = cache / f"timeline-1min-{size[1]}p-crf{CRF}.mp4"
    if not minute.exists():
        print(f"rendering one minute at {size[0]}x{size[1]} (once)...", flush=True)
        render_long([(a, 10) for a in ACTIONS], minute, size=size, seed=21, crf=CRF)
    repeat(minute, minutes, out)
    return out


def repeat(src: Path, times: int, out: Path) -> None:
    """src played `times` times in a row, its packets copied with shifted timestamps (no re-encoding)."""
    tmp = out.with_name(f".{out.name}.partial")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as dst:
        ins = inp.streams.video[0]
        outs = dst.add_stream_from_template(ins)
        span = None
        for i in range(times):
            inp.seek(0)
            last = 0
            for packet in inp.demux(ins):
                if packet.dts is None:
                    continue
                if span is None and i == 0:
                    last = max(last, packet.pts + (packet.duration or 0))
                shift = i * (span or 0)
                packet.pts += shift
                packet.dts += shift
                packet.stream = outs
                dst.mux(packet)
            if i == 0:
                span = last
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    s = get_settings()
    video = long_video(args.minutes, (1280, 720))
    info = probe(video, max_pixels=s.max_frame_pixels, max_duration_s=s.timeline_max_duration_s)
    predictor = Predictor.load(s)
    windowing = Windowing.of(s.timeline_window_s, s.timeline_stride_s, predictor.embedder.k)
    t0 = time.perf_counter()
    tl = run_timeline(
        video,
        predictor,
        windowing,
        info,
        Limits(s.timeline_max_frames, s.timeline_cpu_s),
        smooth=s.timeline_smooth_windows,
    )
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "video": f"{info.width}x{info.height} H.264, {info.fps:g} fps, {info.duration_s / 60:.1f} min",
        "Mbit/s": round(video.stat().st_size * 8 / info.duration_s / 1e6, 1),
        "window / stride": f"{tl.window_s:g} s / {tl.stride_s:g} s",
        "windows": len(tl.windows),
        "wall s": round(wall, 1),
        "x real time": round(info.duration_s / wall, 1),
        "CNN s": tl.timings_s["cnn"],
        "peak RSS MB": round(peak_mb),
    }
    print(table([row], list(row)))
    print_targets({f"at least {TARGET_X:g}x real time": row["x real time"] >= TARGET_X})
    write_results(
        "timeline",
        {
            "video_s": info.duration_s,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "mbit_s": round(video.stat().st_size * 8 / info.duration_s / 1e6, 2),
            "window_s": tl.window_s,
            "stride_s": tl.stride_s,
            "k": windowing.k,
            "windows": len(tl.windows),
            "segments": len(tl.segments),
            "wall_s": round(wall, 2),
            "x_real_time": round(info.duration_s / wall, 2),
            "timings_s": tl.timings_s,
            "peak_rss_mb": round(peak_mb),
            "target_x": TARGET_X,
        },
    )


if __name__ == "__main__":
    main()
