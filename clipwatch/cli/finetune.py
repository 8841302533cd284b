"""`clipwatch finetune`: adapt the CNN to your clips on CPU, measured by grouped folds, deployed only
when it wins (registered in clipwatch.cli.main; the work is in clipwatch.finetune)."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from clipwatch.cli.options import GroupRegex, GroupsManifest, Videos
from clipwatch.errors import ClipwatchError
from clipwatch.paths import Paths
from clipwatch.settings import Settings, get_settings


def finetune_cmd(
    videos: Videos = None,
    group: GroupRegex = None,
    groups_manifest: GroupsManifest = None,
    epochs: Annotated[int, typer.Option(min=1, max=100, help="most epochs; early stopping may end sooner")] = 8,
    blocks: Annotated[int, typer.Option(min=1, max=6, help="trainable MBConv blocks at the end of the 16")] = 3,
    folds: Annotated[int, typer.Option(min=2, max=10, help="outer grouped folds that measure the gain")] = 3,
    lr: Annotated[float, typer.Option(min=1e-6, max=1e-2, help="AdamW learning rate")] = 1e-4,
    min_gain: Annotated[
        float, typer.Option(help="deploy only when grouped accuracy rises by more than this (a split's gain is noisy)")
    ] = 0.02,
    deploy: Annotated[
        bool, typer.Option("--deploy/--no-deploy", help="switch to the fine-tuned CNN when it wins (default)")
    ] = True,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="go back to the backbone the last deployed fine-tune replaced")
    ] = False,
) -> None:
    """Fine-tune the CNN's last blocks on labelled clips (torch, CPU), compare it with the live one under
    grouped folds, and, when it wins, export it, rebuild ref_data.csv with it and train a version."""
    from clipwatch.locking import exclusive

    s = get_settings()
    paths = Paths.from_settings(s)
    with exclusive(paths.retrain_lock):  # no retrain may read ref_data while it is rebuilt
        if rollback:
            _rollback(s, paths)
        else:
            _finetune(s, paths, videos, group, groups_manifest, epochs, blocks, folds, lr, min_gain, deploy)


def _finetune(s: Settings, paths: Paths, videos, group, manifest, epochs, blocks, folds, lr, min_gain, deploy) -> None:
    import numpy as np

    from clipwatch import backbones, finetune
    from clipwatch.artifacts import ArtifactStore
    from clipwatch.dataset import discover
    from clipwatch.embedding import ClipEmbedder
    from clipwatch.groups import effective, name_groups
    from clipwatch.history import RetrainOutcome, append_history, now

    if deploy and s.database_url:
        raise ClipwatchError(
            "deploying a fine-tuned backbone moves ref_data and prod_data files; with PostgreSQL feedback "
            "run with --no-deploy (measure only)"
        )
    cfg = finetune.FinetuneConfig(blocks=blocks, epochs=epochs, folds=folds, lr=lr, seed=s.seed)
    root = videos or paths.videos
    ds = discover(root)
    if len(ds.clips) > cfg.max_clips:
        raise ClipwatchError(f"{root}: {len(ds.clips)} clips; fine-tuning caches features for at most {cfg.max_clips}")
    names = [f"{c}/{p.name}" for p, c in ds.clips]
    pattern, manifest = group or s.group_regex, manifest or s.group_manifest
    named, _ = name_groups(names, pattern, manifest)
    groups = list(effective(named, names))
    embedder = ClipEmbedder.from_settings(s)
    started, t0 = now(), time.perf_counter()
    typer.echo(f"sampling {len(ds.clips)} clips and running the frozen blocks once ({embedder.stream}, K={embedder.k})")
    pics = finetune.collect(embedder, ds.clips, groups, blocks)
    typer.echo(f"  {pics.features.shape[0]} pictures in {pics.seconds:.0f} s")
    typer.echo(f"measuring: {folds} outer folds, fine-tuned on the training recordings only")
    ev = finetune.evaluate(pics, s, cfg, log_fold=lambda r: typer.echo(f"  fold {r['fold']}: {json.dumps(r)}"))
    typer.echo(
        f"accuracy, {ev.protocol}: live CNN {ev.base_accuracy:.3f}, fine-tuned {ev.finetuned_accuracy:.3f} "
        f"(gain {ev.gain:+.3f}); {ev.seconds_per_epoch:.1f} s per epoch"
    )
    typer.echo("fine-tuning on every clip")
    every = np.arange(len(pics.y))
    trunk, fitted = finetune.fit(pics, every, cfg, log_epoch=lambda r: typer.echo(f"  {r}"))
    with tempfile.TemporaryDirectory(dir=paths.artifacts_dir) as tmp:
        out = Path(tmp) / "finetuned.onnx"
        exported = finetune.export(trunk, out, embedder.size)
        report = {
            **exported,
            "base_sha256": embedder.backbone.sha256,
            "kind": "fine-tuned",
            "config": asdict(cfg),
            "evaluation": ev.as_dict(),
            "fit": asdict(fitted),
            "clips": len(names),
            "videos": str(root),
            "created_at": now(),
        }
        out.with_suffix(".json").write_text(json.dumps(report, indent=2))
        kept = backbones.keep(paths, out, exported["sha256"])
    typer.echo(f"fine-tuned backbone {exported['sha256'][:16]} kept as {kept}")

    store = ArtifactStore(paths)
    champion = store.current_name()
    wins = ev.gain > min_gain
    outcome = RetrainOutcome(
        id=uuid.uuid4().hex[:12],
        outcome="kept",
        started_at=started,
        trigger="manual",
        trigger_reason="clipwatch finetune",
        mode="finetune",
        policy=f"grouped accuracy gain > {min_gain:g}",
        champion_version=champion,
        champion_f1=ev.base_macro_f1,
        challenger_f1=ev.finetuned_macro_f1,
        train_rows=len(names),
        extra={
            "backbone": {"previous": embedder.backbone.sha256, "candidate": exported["sha256"]},
            "evaluation": ev.as_dict(),
            "seconds_per_epoch": fitted.seconds_per_epoch,
        },
    )
    if not wins:
        outcome.reason = (
            f"grouped accuracy {ev.finetuned_accuracy:.3f} does not beat {ev.base_accuracy:.3f} by {min_gain:g}"
        )
    elif not deploy:
        outcome.reason = "it wins, but --no-deploy: measured only"
    else:
        moved = backbones.switch(paths, kept)
        typer.echo(
            f"switched to {exported['sha256'][:16]}; archived under data/archive/: {', '.join(moved['archived'])}"
        )
        version = _rebuild_and_train(s, root, pattern, manifest)
        outcome.outcome, outcome.new_version = "promoted", version
        outcome.reason = f"grouped accuracy {ev.finetuned_accuracy:.3f} against {ev.base_accuracy:.3f}"
        outcome.extra["archived"] = moved["archived"]
    outcome.duration_s = round(time.perf_counter() - t0, 1)
    append_history(paths, outcome)
    typer.echo(f"{outcome.outcome}: {outcome.reason}")


def _rebuild_and_train(s: Settings, root: Path, pattern, manifest) -> str:
    """ref_data.csv from the clips through the new backbone (the one embedding path), then a version."""
    from clipwatch.dataset import build_reference
    from clipwatch.embedding import ClipEmbedder
    from clipwatch.train import train

    paths = Paths.from_settings(s)
    report = build_reference(ClipEmbedder.from_settings(s), root, paths.ref_data, group=pattern, manifest=manifest)
    typer.echo(f"ref_data.csv rebuilt: {report.rows} rows")
    version, meta = train(s, use_prod=False)
    m = meta["metrics"]
    typer.echo(f"{version} is live: accuracy {m['accuracy']:.3f} ({m['evaluation']})")
    return version


def _rollback(s: Settings, paths: Paths) -> None:
    from clipwatch import backbones
    from clipwatch.artifacts import ArtifactStore
    from clipwatch.history import RetrainOutcome, append_history, now, read_history

    deployed = [h for h in read_history(paths) if h.get("mode") in ("finetune", "finetune-rollback")]
    last = next((h for h in reversed(deployed) if h.get("outcome") == "promoted"), None)
    if last is None or last.get("mode") != "finetune":
        raise ClipwatchError("no deployed fine-tune to roll back (history.jsonl names none since the last rollback)")
    previous = last["extra"]["backbone"]["previous"]
    moved = backbones.restore(paths, previous)
    store = ArtifactStore(paths)
    if last.get("champion_version"):
        store.promote(last["champion_version"])
    append_history(
        paths,
        RetrainOutcome(
            id=uuid.uuid4().hex[:12],
            outcome="promoted",
            started_at=now(),
            trigger="manual",
            trigger_reason="clipwatch finetune --rollback",
            mode="finetune-rollback",
            new_version=last.get("champion_version"),
            reason=f"back to backbone {previous[:16]} and {last.get('champion_version')}",
            extra={"backbone": {"previous": moved["previous"], "current": previous}, "archived": moved["archived"]},
        ),
    )
    typer.echo(
        f"backbone {previous[:16]} is live again with its ref_data/prod_data; {last.get('champion_version')} is current"
    )
