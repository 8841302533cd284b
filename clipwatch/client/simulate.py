"""Production traffic against a running stack (`clipwatch simulate`).

Clips come from a held-aside range of the embedded dataset (indices the default dataset never
uses), optionally rendered with ``--shift`` (the drifted look). Each clip is predicted, then given
its true label as feedback, so retrains fire every k rows exactly as they would for real users.
The simulator waits for each retrain to finish before sending more traffic, so every prediction is
attributable to one model version, and reports accuracy on the traffic per version.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clipwatch.client.http import ApiClient, ApiError
from clipwatch.errors import ClipwatchError

HELD_ASIDE_START = 1000  # far past the default dataset's 40 clips per class (and any sane --per-class)
EVAL_START = 50_000  # the evaluation clips: a range the traffic never reaches


@dataclass
class VersionStats:
    version: str
    clips: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.clips if self.clips else 0.0


@dataclass
class SimulationResult:
    clips: int = 0
    shift: bool = False
    retrains: list[dict] = field(default_factory=list)
    versions: dict[str, VersionStats] = field(default_factory=dict)
    start_version: str = ""
    end_version: str = ""
    seconds: float = 0.0
    eval_clips: int = 0
    eval_start: float | None = None  # accuracy of the first model on clips never fed back
    eval_end: float | None = None  # ... and of the last one, on the same clips

    def as_dict(self) -> dict:
        out = asdict(self)
        out["versions"] = [{**asdict(v), "accuracy": round(v.accuracy, 4)} for v in self.versions.values()]
        return out


def traffic_clips(folder: Path, classes: list[str], n: int, *, shift: bool, seed: int, start: int) -> list[Path]:
    """n held-aside clips, classes interleaved in a seeded random order; rendered once, then reused."""
    from clipwatch.synth import generate_dataset
    from clipwatch.synth.actions import ACTIONS

    unknown = sorted(set(classes) - set(ACTIONS))
    if unknown:
        raise ClipwatchError(
            f"the live model knows classes the embedded dataset can't render ({', '.join(unknown)}): "
            "simulate plays the embedded actions only"
        )
    per_class = -(-n // len(classes))
    clips = generate_dataset(
        folder, per_class=per_class, seed=seed, shift=shift, start=start, actions=classes, progress=False
    )
    random.Random(seed).shuffle(clips)
    return clips[:n]


def simulate(
    client: ApiClient,
    clip_folder: Path,
    *,
    n: int,
    shift: bool,
    seed: int = 0,
    start: int = HELD_ASIDE_START,
    retrain_timeout: float = 600.0,
    eval_n: int = 0,
    echo: Callable[[str], None] = print,
) -> SimulationResult:
    model = client.model()
    classes, k = model["classes"], model["retrain_every_k"]
    echo(f"rendering {n} held-aside {'shifted ' if shift else ''}clips into {clip_folder} (kept for reruns)")
    clips = traffic_clips(clip_folder, classes, n, shift=shift, seed=seed, start=start)
    result = SimulationResult(shift=shift, start_version=model["version"], eval_clips=eval_n)
    evaluation: list[Path] = []
    if eval_n:
        # Predicted before and after the traffic, never fed back: the same yardstick for first and last model.
        eval_folder = clip_folder.with_name(clip_folder.name + "-eval")
        evaluation = traffic_clips(eval_folder, classes, eval_n, shift=shift, seed=seed, start=EVAL_START)
        result.eval_start = _accuracy(client, evaluation)
        echo(f"accuracy of {model['version']} on {eval_n} evaluation clips: {result.eval_start:.3f}")
    echo(
        f"simulating {n} {'shifted ' if shift else ''}clips against {client.base_url}: "
        f"model {model['version']}, retrain every {k or 'never (k=0)'} rows, policy {model['policy']}"
    )
    last_run = _last_run_id(model)
    t0 = time.monotonic()
    for clip in clips:
        truth = clip.parent.name
        pred = client.predict(clip.name, clip.read_bytes())
        stats = result.versions.setdefault(pred["model_version"], VersionStats(pred["model_version"]))
        stats.clips += 1
        stats.correct += pred["label"] == truth
        fb = client.feedback(pred["prediction_id"], truth)
        result.clips += 1
        if fb["retrain_triggered"]:
            run = _await_retrain(client, last_run, retrain_timeout)
            last_run = run["id"]
            result.retrains.append(run)
            echo(_retrain_line(run))
    result.end_version = client.model()["version"]
    if evaluation:
        result.eval_end = _accuracy(client, evaluation)
    result.seconds = round(time.monotonic() - t0, 1)
    return result


def _accuracy(client: ApiClient, clips: list[Path]) -> float:
    hits = sum(client.predict(c.name, c.read_bytes())["label"] == c.parent.name for c in clips)
    return hits / len(clips)


def _last_run_id(model: dict) -> str | None:
    return model["history"][-1]["id"] if model["history"] else None


def _await_retrain(client: ApiClient, last_run: str | None, timeout: float) -> dict:
    """The run our trigger started: history is shared by every worker, so watch it, not one worker's state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = client.model()
        if _last_run_id(model) != last_run:
            run = model["history"][-1]
            # A promotion is live once the worker has swapped the model in (it polls CURRENT).
            if run["outcome"] != "promoted" or model["version"] == run["new_version"]:
                return run
        time.sleep(0.5)
    raise ApiError(f"the retrain did not finish within {timeout:.0f} s")


def _retrain_line(run: dict) -> str:
    def f1(x):
        return "-" if x is None else f"{x:.3f}"

    verdict = {
        "promoted": f"promoted -> {run.get('new_version')}",
        "kept": f"kept {run.get('champion_version')}",
    }.get(run["outcome"], f"{run['outcome']}: {run.get('reason', '')}")
    trigger = run.get("trigger", "rows")
    what = "retrain" if trigger == "rows" else f"retrain ({trigger})"
    return (
        f"{what} at row {run.get('trigger_rows') or run.get('rows_at')}: champion {run.get('champion_version')} "
        f"F1 {f1(run.get('champion_f1'))} vs challenger F1 {f1(run.get('challenger_f1'))} "
        f"(holdout {run.get('holdout_rows')} rows): {verdict}"
    )


def summary_table(result: SimulationResult) -> str:
    lines = ["| model version | clips served | accuracy on this traffic |", "|---|---|---|"]
    for v in result.versions.values():
        lines.append(f"| {v.version} | {v.clips} | {v.accuracy:.3f} |")
    promoted = sum(r["outcome"] == "promoted" for r in result.retrains)
    lines.append(
        f"\n{result.clips} clips in {result.seconds:.0f} s; {len(result.retrains)} retrains, {promoted} promoted; "
        f"model {result.start_version} -> {result.end_version}"
    )
    if result.eval_end is not None:
        lines.append(
            f"accuracy on {result.eval_clips} evaluation clips (never fed back): "
            f"{result.start_version} {result.eval_start:.3f} -> {result.end_version} {result.eval_end:.3f}"
        )
    return "\n".join(lines)


def write_result(result: SimulationResult, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
