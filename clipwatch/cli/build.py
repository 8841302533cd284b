"""`clipwatch build-ref` and `clipwatch train`: the reference set from clip folders, then a model on it
(registered in clipwatch.cli.main)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clipwatch.cli.options import GroupRegex, GroupsManifest, Videos
from clipwatch.paths import Paths
from clipwatch.settings import get_settings


def build_ref(
    videos: Videos = None,
    out: Annotated[Path | None, typer.Option(help="CSV to write (default: data/ref_data.csv)")] = None,
    group: GroupRegex = None,
    groups_manifest: GroupsManifest = None,
) -> None:
    """Embed every clip into ref_data.csv (emb_1..emb_D, target; D follows the pooling: 2560 by default),
    and each row's clip and source recording into ref_data.clips.csv."""
    from clipwatch.dataset import build_reference
    from clipwatch.embedding import ClipEmbedder
    from clipwatch.groups import compile_regex

    s = get_settings()
    paths = Paths.from_settings(s)
    pattern = group or s.group_regex
    if pattern:
        compile_regex(pattern)  # a one-line error before any clip is embedded
    target = out or paths.ref_data
    report = build_reference(
        ClipEmbedder.from_settings(),
        videos or paths.videos,
        target,
        group=pattern,
        manifest=groups_manifest or s.group_manifest,
    )
    typer.echo(f"{report.rows} rows written to {target}; per class: {report.counts}")
    if report.groups:
        typer.echo(f"source recordings: {report.groups} named; CV and the guard set keep each on one side")
    else:
        typer.echo("source recordings: none named (--group or --groups-manifest); CV will use random folds")
    if report.unnamed:
        typer.echo(
            f"warning: {report.unnamed} clip(s) not named by the regex or manifest: each is its own group", err=True
        )
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} clip(s) that could not be decoded:", err=True)
        for _, reason in report.skipped:
            typer.echo(f"  {reason}", err=True)
    for cls, n in report.small_classes.items():
        typer.echo(f"warning: class {cls!r} has {n} clip; training needs at least 2 per class", err=True)


def train_cmd(
    ref: Annotated[Path | None, typer.Option(help="reference CSV (default: data/ref_data.csv)")] = None,
    prod: Annotated[
        Path | None, typer.Option(help="feedback CSV added to training (default: data/prod_data.csv)")
    ] = None,
    use_prod: Annotated[
        bool, typer.Option("--use-prod/--no-prod", help="include prod_data.csv rows when present")
    ] = True,
) -> None:
    """Cross-validate and train the configured classifier (CLIPWATCH_CLASSIFIER); publish a new model version."""
    from clipwatch.train import train

    version, meta = train(ref=ref, prod=prod, use_prod=use_prod)
    print_metrics(version, meta)


def print_metrics(version: str, meta: dict) -> None:
    m, t = meta["metrics"], meta["training"]
    typer.echo(f"model {version}: {t['rows_ref']} ref + {t['rows_prod']} prod rows, {len(meta['classes'])} classes")
    typer.echo(
        f"  {m.get('evaluation', 'CV')}: accuracy {m['accuracy']:.3f}  macro F1 {m['macro_f1']:.3f}  "
        f"balanced accuracy {m['balanced_accuracy']:.3f}"
    )
    typer.echo("  recall per class: " + "  ".join(f"{c} {r:.2f}" for c, r in m["per_class_recall"].items()))
