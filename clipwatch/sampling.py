"""Sampling K frames from a clip (TSN style): the one path from a file to the frames the CNN sees.

Two sampling methods, recorded in each model's metadata because they give
different embeddings:

- ``segment-centres`` (default): the exact centre frame of each of K equal
  segments. H.264 and HEVC go through PyAV, which seeks past
  keyframe intervals no centre falls in and tells FFmpeg to drop the
  non-reference frames that are not wanted (the frames still come out
  identical to a full decode); everything else comes from decord when it can
  open the file (it seeks to keyframes and resizes inside FFmpeg), with a
  sequential PyAV decode as the last resort. All use ``threads`` frame threads.
- ``keyframes``: for each centre, the keyframe at or before it, reached by
  seeking and decoding that one picture. Much faster on long files, whose
  frames between keyframes are never decoded, but on a clip with few
  keyframes several segments share one picture (see docs/performance.md).

Every clip is probed with PyAV first so that a file that is not a video, or
that declares an absurd size, is refused before any decoding.
"""

from __future__ import annotations

import bisect
import logging
import threading
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from clipwatch.decode_budget import Cancelled, DecodeBudget, unlimited
from clipwatch.settings import Sampling, Settings
from clipwatch.video import ClipError, FramePlan, VideoInfo, open_video, plan_of, probe, reason, sniff

try:  # decord has x86_64 wheels only; elsewhere PyAV does all the work
    import decord
except ImportError:  # pragma: no cover - depends on the platform
    decord = None

log = logging.getLogger(__name__)


def sample_clip(
    path: str | Path, settings: Settings, cancel: threading.Event | None = None, k: int | FramePlan | None = None
) -> tuple[np.ndarray, VideoInfo]:
    """Probe a clip and sample its K frames as the settings say, within the decode budget: for
    ref_data.csv, /predict, /feedback, INT8 calibration and the web app's frame strip alike.

    cancel: set it to stop the decode (the client went away); sampling then raises Cancelled.
    k: frames to sample, or a FramePlan (default: CLIPWATCH_NUM_FRAMES; a stream with dynamic images
    samples T frames for each of K segments)."""
    s = settings
    info = probe(path, max_pixels=s.max_frame_pixels, max_duration_s=s.max_duration_s)
    threads = frame_threads(info, s.decode_threads)
    budget = DecodeBudget(s.decode_max_frames, s.decode_cpu_s, threads, cancel, Path(path).name)
    frames = sample_frames(
        path, k or s.num_frames, s.input_size, info, method=s.sampling, threads=threads, budget=budget
    )
    return frames, info


def frame_threads(info: VideoInfo, threads: int = 0) -> int:
    """Frame threads for a decode; 0 picks by frame size."""
    # Measured on 2 cores over the real clips: a second frame thread decodes H.264 from 320x240 up
    # 1.2-1.6x faster; below that, thread start-up costs more than it saves.
    return threads or (2 if info.width * info.height >= 320 * 240 else 1)


def sample_frames(
    path: str | Path,
    k: int | FramePlan,
    size: int,
    info: VideoInfo,
    *,
    method: Sampling = "segment-centres",
    threads: int = 0,
    budget: DecodeBudget | None = None,
) -> np.ndarray:
    """Return k RGB frames, k x size x size x 3 uint8, in time order (see the module docstring).

    k: a count (one frame per segment) or a FramePlan (several per segment, gathered on long clips).

    threads: frame threads for exact sampling; 0 picks by frame size. budget: what decoding may cost
    (every reader charges it; a reader that fails hands what it spent on to the next); None: no limit."""
    threads = frame_threads(info, threads)
    b = budget or unlimited()
    k = plan_of(k)
    readers = []  # (what it is, how to call it), fastest first; each may decline a file it can't read
    if method == "keyframes":
        readers.append(("keyframe seeking", lambda: _sample_keyframes(path, k, size, info, b)))
    # Against decord (make bench): 1.3x faster at 320x240, 1.4-1.5x at 720p and on a long file; about
    # even on 160x120. H.264 and HEVC are the codecs whose B-frames are commonly non-reference.
    if info.codec in ("h264", "hevc"):
        readers.append(("skipping decode", lambda: _sample_skipping(path, k, size, info, threads, b)))
    # decord picks its demuxer itself: it only gets files whose first bytes name the one the probe used.
    if decord is not None and sniff(path) == info.family:
        readers.append(("decord", lambda: _sample_decord(path, k, size, threads, b)))
    for what, read in readers:
        try:
            return read()
        except (ClipError, Cancelled):
            raise
        except Exception as exc:  # untimed packets, no index, decord's bare errors: the next reader tries
            # Falling back from keyframes changes which frames the user gets, so that one is said aloud.
            level = logging.INFO if what == "keyframe seeking" else logging.DEBUG
            log.log(level, "%s failed on %s (%s); trying the next reader", what, Path(path).name, exc)
    return _sample_pyav(path, k, size, info, threads, b)


def _sample_decord(path: str | Path, k: int | FramePlan, size: int, threads: int, budget: DecodeBudget) -> np.ndarray:
    plan = plan_of(k)
    reader = decord.VideoReader(str(path), width=size, height=size, num_threads=threads)
    n = len(reader)
    if n == 0:
        raise ClipError(f"{Path(path).name}: video has no frames")
    wanted = plan.indices(n, reader.get_avg_fps()).tolist()
    # decord decodes in one call that cannot be stopped, so its cost is charged before it starts, and at
    # the worst: from the first frame on. The keyframe flags it would seek by are the file's word (an AVI
    # with one real keyframe listed 220 of 600), so a decode bomb could claim to be cheap.
    cost = decode_cost(wanted, [0])
    budget.check(more_frames=cost)
    frames = reader.get_batch(wanted).asnumpy()
    budget.charge(cost)
    if frames.shape != (plan.count, size, size, 3):
        raise RuntimeError(f"decord returned {frames.shape}")
    return frames


def decode_cost(wanted: list[int], keys: list[int]) -> int:
    """Frames a seeking reader decodes to reach the wanted ones in order: from the keyframe before each,
    or on from the last one when no keyframe lies between."""
    cost, pos = 0, -1
    for target in sorted(set(wanted)):
        i = bisect.bisect_right(keys, target) - 1
        key = keys[i] if i >= 0 else 0
        cost += target - key + 1 if key > pos else target - pos
        pos = target
    return cost


def _sample_skipping(
    path: str | Path, k: int | FramePlan, size: int, info: VideoInfo, threads: int, budget: DecodeBudget
) -> np.ndarray:
    """The centre frames, decoding only what they need: from the keyframe before each, and no
    non-reference frame that is not itself a centre."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        index = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]  # decode order
        budget.check()
        if info.frames and len(index) < 0.9 * info.frames:
            # Truncated, or a header that over-counts: the plain readers tell which, as they always have.
            raise RuntimeError(f"the header declares {info.frames} frames, {len(index)} packets exist")
        if not index or any(pts is None for pts, _ in index) or not index[0][1]:
            raise RuntimeError("packets without timestamps, or no leading keyframe")
        shown = sorted(pts for pts, _ in index)  # presentation order
        if len(set(shown)) != len(shown):
            raise RuntimeError("duplicate timestamps")
        position = {pts: i for i, (pts, _) in enumerate(index)}
        keys = [i for i, (_, key) in enumerate(index) if key]
        wanted = [shown[i] for i in plan_of(k).indices(len(shown), info.fps)]
        targets = set(wanted)
        codec = stream.codec_context
        if threads > 1:
            stream.thread_type = "AUTO"
            codec.thread_count = threads
        picture = Pictures(size)
        picked: dict[int, np.ndarray] = {}
        next_packet: int | None = None  # decode position of the next packet demux returns (None: at the end)
        for target in sorted(targets):
            if target in picked:
                continue
            start = bisect.bisect_right(keys, position[target]) - 1
            if index[keys[start]][0] > target and start > 0:  # an open GOP's leading picture needs the GOP before
                start -= 1
            # Seek at first (indexing left demux at the end) and when a whole keyframe interval can be
            # skipped. A target whose packet was already sent is still in the decoder, reordered behind
            # later packets: reading on brings it out.
            if next_packet is None or keys[start] > next_packet:
                container.seek(index[keys[start]][0], stream=stream, backward=True)
                codec.flush_buffers()
                next_packet = keys[start]
            for packet in container.demux(stream):
                if packet.size:
                    next_packet = position[packet.pts] + 1
                # FFmpeg reads skip_frame per packet: drop non-reference frames nobody asked for.
                codec.skip_frame = "NONREF" if packet.size and packet.pts not in targets else "DEFAULT"
                budget.check()
                for frame in codec.decode(packet):
                    budget.charge()
                    if frame.pts in targets and frame.pts not in picked:
                        picked[frame.pts] = picture(frame)
                if target in picked:
                    break
            if target not in picked:
                raise RuntimeError(f"the frame at pts {target} did not decode")
    return np.stack([picked[pts] for pts in wanted])


def _sample_keyframes(
    path: str | Path, k: int | FramePlan, size: int, info: VideoInfo, budget: DecodeBudget
) -> np.ndarray:
    if info.duration_s <= 0:
        raise RuntimeError("no duration to place the segment centres in")
    picked: dict[int, np.ndarray] = {}  # keyframe pts -> picture, so a shared keyframe is decoded once
    picture = Pictures(size)
    frames = []
    with open_video(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        start = stream.start_time or 0
        for centre in plan_of(k).times(info.duration_s):
            container.seek(start + int(centre / stream.time_base), stream=stream, backward=True)
            packet = next((p for p in container.demux(stream) if p.is_keyframe and p.size), None)
            if packet is None or packet.pts is None:
                raise RuntimeError(f"no timed keyframe before {centre:.2f} s")
            if packet.pts not in picked:
                codec.flush_buffers()
                # Draining right after the keyframe hands it over at once; otherwise a decoder that
                # reorders B-frames would hold it back until more packets arrive.
                decoded = codec.decode(packet) + codec.decode(None)
                budget.charge(len(decoded))
                if not decoded:
                    raise RuntimeError(f"keyframe at {centre:.2f} s does not decode")
                picked[packet.pts] = picture(decoded[0])
            frames.append(picked[packet.pts])
    return np.stack(frames)


def _sample_pyav(
    path: str | Path, k: int | FramePlan, size: int, info: VideoInfo, threads: int, budget: DecodeBudget
) -> np.ndarray:
    name = Path(path).name
    picture = Pictures(size)
    picked: dict[int, np.ndarray] = {}
    last: np.ndarray | None = None
    n = decoded = 0
    try:
        with open_video(path) as container:
            if threads > 1:
                container.streams.video[0].thread_type = "AUTO"
                container.streams.video[0].codec_context.thread_count = threads
            n = info.frames or _count_packets(container)
            budget.check()
            if n <= 0:
                raise ClipError(f"{name}: video has no frames")
            wanted = plan_of(k).indices(n, info.fps)
            wanted_set = set(wanted.tolist())
            for i, frame in enumerate(container.decode(video=0)):
                if i > wanted[-1]:
                    break
                budget.charge()
                decoded = i + 1
                if i in wanted_set:
                    last = picture(frame)
                    picked[i] = last
    except (ClipError, Cancelled):
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        if not picked:
            raise ClipError(f"{name}: cannot decode video ({reason(exc, path)})") from exc
    if last is None:
        raise ClipError(f"{name}: video has no decodable frames")
    if len(picked) < len(wanted_set) and decoded < 0.9 * n:
        raise ClipError(f"{name}: truncated or corrupt: the header declares {n} frames, only {decoded} decode")
    # A header that over-counts frames leaves the tail indices unmet: reuse the last frame.
    return np.stack([picked.get(int(i), last) for i in wanted])


class Pictures:
    """Decoded frame -> upright size x size RGB array, one scaler for the whole clip.

    ``frame.to_ndarray(width=..., height=...)`` sets up a new swscale context for every frame,
    which costs more than the scaling itself: sharing one halves the time per frame (0.48 against
    1.03 ms at 320x240, 1.00 against 2.14 ms at 720p) with the same pixels."""

    def __init__(self, size: int):
        self.size = size
        self.scaler = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        rgb = self.scaler.reformat(frame, width=self.size, height=self.size, format="rgb24").to_ndarray()
        return _upright(rgb, frame.rotation)


def _upright(picture: np.ndarray, rotation: float) -> np.ndarray:
    """Turn a frame the way a player would (phones store portrait clips sideways plus a display matrix).

    decord does this itself. The picture is already square, and turning commutes with the resize."""
    quarter_turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(picture, k=quarter_turns)) if quarter_turns else picture


def _count_packets(container) -> int:
    count = sum(1 for p in container.demux(video=0) if p.size)
    container.seek(0)
    return count
