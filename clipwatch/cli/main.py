"""The `clipwatch` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from clipwatch.cli.build import build_ref, print_metrics, train_cmd
from clipwatch.cli.evaluate import evaluate_cmd
from clipwatch.cli.feedback import export_prod_cmd, trainer_cmd
from clipwatch.cli.finetune import finetune_cmd
from clipwatch.cli.timeline import timeline_cmd
from clipwatch.cli.watch import watch_cmd
from clipwatch.errors import ClipwatchError
from clipwatch.paths import Paths
from clipwatch.settings import get_settings

app = typer.Typer(help="clipwatch: video action classification with a production loop.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

log = logging.getLogger("clipwatch")


def _paths() -> Paths:
    return Paths.from_settings(get_settings())


@data_app.command("synth")
def data_synth(
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: data/videos, or data/videos_shift with --shift)")
    ] = None,
    per_class: Annotated[int, typer.Option(min=1, help="clips per action")] = 40,
    seed: Annotated[int, typer.Option(help="same seed, same clips")] = 0,
    shift: Annotated[
        bool, typer.Option(help="render the drifted distribution (darker, colour-cast, noisier, softer)")
    ] = False,
    start: Annotated[
        int, typer.Option(min=0, help="first clip index (use a range past the training set for held-out clips)")
    ] = 0,
    workers: Annotated[int, typer.Option(min=0, help="processes (0: one per core)")] = 0,
) -> None:
    """Render the embedded action dataset as H.264 MP4 clips, folder per class."""
    from clipwatch.synth import generate_dataset

    paths = _paths()
    out = out or (paths.videos_shift if shift else paths.videos)
    clips = generate_dataset(out, per_class=per_class, seed=seed, shift=shift, start=start, workers=workers or None)
    typer.echo(f"{len(clips)} clips in {out}")


@app.command("export")
def export(
    out: Annotated[Path | None, typer.Option(help="ONNX file (default: artifacts/backbone.onnx)")] = None,
    int8: Annotated[bool, typer.Option(help="also write a static INT8 (QDQ, per-channel) copy")] = False,
    calib: Annotated[Path | None, typer.Option(help="clip folder to calibrate INT8 on (default: data/videos)")] = None,
    calib_clips: Annotated[int, typer.Option(min=1, help="clips to take calibration frames from")] = 32,
) -> None:
    """Export ImageNet EfficientNet-Lite0 to ONNX as a 1280-d frame feature extractor (needs torch)."""
    from clipwatch.export import export_backbone

    s = get_settings()
    paths = _paths()
    out = out or paths.backbone
    report = export_backbone(out, size=s.input_size)
    typer.echo(
        f"wrote {out} (sha256 {report.sha256[:12]}, max |onnx - torch| {report.max_abs_diff:.1e}, "
        f"cat check: class {report.cat_top1} p={report.cat_top1_prob:.2f})"
    )
    if int8:
        int8_out = out.with_name(out.stem + ".int8.onnx")
        from clipwatch.quantize import quantize_from_clips

        quantize_from_clips(out, int8_out, calib or paths.videos, calib_clips, s)
        typer.echo(f"wrote {int8_out}")


app.command("build-ref")(build_ref)
app.command("train")(train_cmd)


# clipwatch evaluate lives beside its options (clipwatch/cli/evaluate.py).
app.command("evaluate")(evaluate_cmd)
app.command("finetune")(finetune_cmd)
app.command("timeline")(timeline_cmd)
app.command("watch")(watch_cmd)
app.command("trainer")(trainer_cmd)
app.command("export-prod")(export_prod_cmd)


@app.command("predict")
def predict(paths: Annotated[list[Path], typer.Argument(help="clips to classify")]) -> None:
    """Classify clips in-process with the current model (no server needed)."""
    from clipwatch.predictor import Predictor

    predictor = Predictor.load()
    failed = 0
    for path in paths:
        try:
            r = predictor.predict_path(path)
        except ClipwatchError as exc:
            typer.echo(f"{path}: error: {exc}", err=True)
            failed += 1
            continue
        typer.echo(f"{path}\t{r.label}\t{r.confidence:.3f}\t{r.total_ms:.0f} ms")
    raise typer.Exit(1 if failed else 0)


@app.command("retrain")
def retrain_cmd() -> None:
    """One champion/challenger retrain on ref + prod rows now (what the API runs every k feedback rows)."""
    from clipwatch.loop import retrain

    o = retrain()
    typer.echo(
        f"{o.outcome} ({o.trigger}): champion {o.champion_version} F1 {o.champion_f1}, challenger F1 {o.challenger_f1}"
        + (
            f"; on {o.guard_rows} guard rows {o.champion_guard_f1} vs {o.challenger_guard_f1}"
            if o.challenger_guard_f1 is not None
            else ""
        )
        + (f" -> {o.new_version}" if o.new_version else "")
        + (f" ({o.reason})" if o.reason else "")
    )
    raise typer.Exit(1 if o.outcome == "failed" else 0)


@app.command("score")
def score(
    paths: Annotated[list[Path], typer.Argument(help="clips or folders (searched recursively)")],
    api: Annotated[str, typer.Option(help="serving API base URL")] = "http://localhost:8080",
    out: Annotated[Path | None, typer.Option(help="write results to .csv or .json")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="requests in flight")] = 4,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 120.0,
) -> None:
    """Score clips through a running serving API, with a progress bar; writes CSV or JSON."""
    from clipwatch.client.score_folders import score_paths

    s = get_settings()
    key = s.api_key.get_secret_value() if s.api_key else None
    results = score_paths(paths, api=api, concurrency=concurrency, timeout=timeout, api_key=key, out=out)
    failed = sum(1 for r in results if r["error"])
    typer.echo(f"{len(results) - failed} scored, {failed} failed" + (f"; results in {out}" if out else ""))
    if out is None:
        for r in results:
            typer.echo(f"{r['file']}\t{r['label'] or 'error: ' + r['error']}\t{r['confidence'] or ''}")
    raise typer.Exit(1 if failed else 0)


@app.command("simulate")
def simulate(
    api: Annotated[str, typer.Option(help="serving API base URL")] = "http://localhost:8080",
    n: Annotated[int, typer.Option("--n", min=1, help="clips to send")] = 60,
    shift: Annotated[bool, typer.Option(help="drifted clips (darker, colour-cast, noisier, softer)")] = False,
    seed: Annotated[int, typer.Option(help="same seed, same clips in the same order")] = 0,
    eval_n: Annotated[
        int, typer.Option("--eval", min=0, help="clips scored before and after (never fed back); 0: skip")
    ] = 60,
    out: Annotated[Path | None, typer.Option(help="write the result as JSON")] = None,
) -> None:
    """Play production traffic: held-aside clips predicted, then given true feedback, so retrains fire."""
    from clipwatch.client.http import ApiClient
    from clipwatch.client.simulate import simulate as run_simulation
    from clipwatch.client.simulate import summary_table, write_result

    s = get_settings()
    client = ApiClient(api, s.api_key.get_secret_value() if s.api_key else None, timeout=120)
    folder = _paths().simulation_clips(shift)
    result = run_simulation(client, folder, n=n, shift=shift, seed=seed, eval_n=eval_n, echo=typer.echo)
    typer.echo(summary_table(result))
    if out:
        write_result(result, out)
        typer.echo(f"result in {out}")


@app.command("bootstrap")
def bootstrap(
    per_class: Annotated[int, typer.Option(min=2, help="clips per action when the dataset is missing")] = 40,
    require_key: Annotated[
        bool,
        typer.Option(
            "--require-key",
            help="fail unless CLIPWATCH_API_KEY and CLIPWATCH_MODEL_KEY are set, and write no secret files "
            "(Kubernetes: secrets come from a Secret)",
        ),
    ] = False,
    sign_existing: Annotated[
        bool,
        typer.Option(
            "--sign-existing",
            help="sign the model versions that have no signature (published before signing); only for files "
            "you trust, since signing is what lets them be unpickled",
        ),
    ] = False,
) -> None:
    """Build whatever is missing: secrets, backbone, default dataset, ref_data.csv, model. Idempotent."""
    from clipwatch.bootstrap import ensure_all

    for variable in ("CLIPWATCH_API_KEY", "CLIPWATCH_MODEL_KEY") if require_key else ():
        if not os.environ.get(variable, "").strip():
            raise ClipwatchError(
                f"{variable} is empty: clipwatch does not run open, nor load unsigned models. Set it in the Secret "
                f"clipwatch-secrets (kubectl -n clipwatch create secret generic clipwatch-secrets "
                f"--from-literal={variable}=...)"
            )
    ensure_all(per_class=per_class, echo=typer.echo, secret_files=not require_key, sign_existing=sign_existing)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="API processes (default CLIPWATCH_WORKERS, 1)")
    ] = None,
) -> None:
    """Run the serving API; with several workers, /metrics adds up all of them."""
    try:  # the serving image has the server; the bootstrap image does not need it
        from clipwatch.service.launch import serve
    except ImportError as exc:
        raise ClipwatchError(f"clipwatch serve needs {exc.name}: pip install -r serving/requirements.txt") from None
    serve(host, port, workers or get_settings().workers)


@app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Show the artifacts, the reference set per action and the current model's metrics."""
    from clipwatch.artifacts import ArtifactStore
    from clipwatch.reference import summarize

    paths = _paths()
    store = ArtifactStore(paths)
    current = store.current_name()
    meta = store.metadata(current) if current else None
    actions = summarize(paths.ref_data)
    if as_json:
        info = {"backbone": paths.backbone.is_file(), "current": current, "metadata": meta, "reference": actions}
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"backbone: {paths.backbone} ({'present' if paths.backbone.is_file() else 'missing'})")
    typer.echo(f"versions: {', '.join(store.versions()) or 'none'}")
    if actions:  # what the model learns from, and whether its accuracy figures can be grouped by recording
        counts = ", ".join(f"{a['action']} {a['clips']}" for a in actions)
        typer.echo(f"reference: {sum(a['clips'] for a in actions)} clips of {len(actions)} actions: {counts}")
        named = any(a["recordings"] for a in actions)
        if not named:  # then each action's "name the recordings" would say the same six times
            typer.echo("reference: no source recordings named (build-ref --group): estimates use random folds")
        for a in actions:
            for need in (n for n in a["needs"] if named or "recording" not in n):
                typer.echo(f"reference: {a['action']} needs {need}")
    if meta:
        print_metrics(current, meta)


@app.command("rollback")
def rollback_cmd(
    version: Annotated[str | None, typer.Argument(help="the version to make current (default: the one before)")] = None,
) -> None:
    """Make an earlier model version current (what POST /model/rollback does; every API swaps to it)."""
    from clipwatch.live_model import ModelHolder
    from clipwatch.rollback import roll_back

    holder = ModelHolder(get_settings())
    holder.reload()
    before, after = roll_back(holder, version)
    typer.echo(f"model: {after} is current (was {before}); every API process swaps to it within its poll interval")


def main() -> None:
    from clipwatch.logs import configure

    configure()
    try:
        app()
    except ClipwatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        # The serving, webapp and reporting images leave out torch and OpenCV on purpose.
        typer.echo(
            f"error: this command needs {exc.name}, which this install leaves out; "
            "use the bootstrap image or pip install -r export/requirements.txt 'clipwatch[export]'",
            err=True,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
