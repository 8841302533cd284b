"""How far behind real time `clipwatch watch` runs on a live 25 fps source.

FFmpeg plays the benchmark's minute of 1280x720 H.264 (benchmarks/timeline.py makes it) in real time as
MPEG-TS over UDP on loopback; the watcher classifies it with the live model at the default window and
stride. The lag of each window (how long after its end, on the stream's clock, it was classified) is
read once a second from the watcher's own gauge; the figure is its median, p95 and maximum (target:
under 2 s), with the windows per second it kept up.

Writes benchmarks/results/watch.json and prints a table. Run: make bench (needs the Debian package ffmpeg)
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_targets, table, write_results
from timeline import long_video

from clipwatch.settings import get_settings
from clipwatch.watch import Source, WatchConfig, Watcher
from devtools.processes import free_port, udp_source, udp_stream

TARGET_LAG_S = 2.0


def main() -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("benchmarks/watch.py: skipped, ffmpeg not installed (Debian package 'ffmpeg')")
        return
    video = long_video(1, (1280, 720))
    port = free_port()
    config = WatchConfig([Source("bench", udp_source(port))]).checked()
    watcher = Watcher(config, get_settings(), serve_metrics=False)
    watcher.start()
    lags: list[float] = []  # the watcher's own gauge, read once a second
    done: list[tuple[float, float]] = []  # (wall time classified, window end on the stream's clock)
    record = watcher.alerter.window

    def timed(source: str, w: dict) -> None:
        done.append((time.monotonic(), w["end_s"]))
        record(source, w)

    watcher.alerter.window = timed
    try:
        sender = udp_stream(video, port, ffmpeg)
        t0 = time.monotonic()  # with -re, the frame at stream time t leaves FFmpeg at about t0 + t
        seen = 0
        while sender.poll() is None:
            time.sleep(1.0)
            if watcher.threads[0].windows_seen > seen:
                seen = watcher.threads[0].windows_seen
                lags.append(watcher.metrics.lag.labels("bench")._value.get())
        wall = time.monotonic() - t0
        windows = watcher.threads[0].windows_seen
    finally:
        watcher.stop()
    if not lags:
        raise SystemExit("no window was classified: is the stream reaching the watcher?")
    # End to end: from the moment the window's last frame left FFmpeg to its classification, FFmpeg's
    # probing of the stream and the decoder's buffering included (the gauge starts at the first frame).
    e2e = sorted(wall - (t0 + end) for wall, end in done)
    row = {
        "source": "1280x720 H.264 25 fps, MPEG-TS over UDP, real time",
        "windows": windows,
        "windows/s": round(windows / wall, 2),
        "lag p50 s": round(statistics.median(lags), 2),
        "lag p95 s": round(sorted(lags)[int(0.95 * (len(lags) - 1))], 2),
        "lag max s": round(max(lags), 2),
        "end-to-end p50 s": round(statistics.median(e2e), 2),
        "end-to-end max s": round(e2e[-1], 2),
    }
    print(table([row], list(row)))
    print_targets({f"lag under {TARGET_LAG_S:g} s (end to end, every window)": row["end-to-end max s"] < TARGET_LAG_S})
    write_results(
        "watch",
        {
            **row,
            "lags_s": [round(x, 3) for x in lags],
            "end_to_end_s": [round(x, 3) for x in e2e],
            "target_lag_s": TARGET_LAG_S,
        },
    )


if __name__ == "__main__":
    main()
