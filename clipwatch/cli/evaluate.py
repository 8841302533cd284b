"""`clipwatch evaluate`: the command line over clipwatch.selection (registered in clipwatch.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clipwatch.cli.options import GroupRegex, GroupsManifest
from clipwatch.paths import Paths
from clipwatch.settings import get_settings


def _choices(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if not items or bad:
        raise typer.BadParameter(f"{what}: {', '.join(bad) or 'nothing'}? choose from {', '.join(allowed)}")
    return items


def evaluate_cmd(
    videos: Annotated[
        list[Path],
        typer.Option(help="folder-per-class clips (<folder>/<class>/<clip>); repeat it to pool folders by class name"),
    ],
    k: Annotated[str, typer.Option("--k", help="frames per clip to compare, comma-separated")] = "8,16",
    pooling: Annotated[str, typer.Option(help="poolings to compare, comma-separated")] = "mean,mean+motion,mean+std",
    classifier: Annotated[
        str, typer.Option(help="classifiers to compare, comma-separated")
    ] = "random-forest,logistic-regression,linear-svm",
    folds: Annotated[int, typer.Option(min=2, help="stratified folds")] = 5,
    repeats: Annotated[int, typer.Option(min=1, help="CV repeats, each with another shuffle")] = 3,
    group: GroupRegex = None,
    groups_manifest: GroupsManifest = None,
    out: Annotated[Path | None, typer.Option(help="folder for evaluation.json and confusion.png")] = None,
    cache: Annotated[Path | None, typer.Option(help="frame-vector cache (default: data/.cache/evaluate)")] = None,
) -> None:
    """Compare K x pooling x classifier on a clip folder by repeated stratified k-fold CV."""
    import re

    from clipwatch.classifiers import CLASSIFIERS
    from clipwatch.pooling import POOLINGS
    from clipwatch.selection import evaluate, write

    try:
        ks = sorted({int(v) for v in k.split(",") if v.strip()})
    except ValueError:
        raise typer.BadParameter("--k: whole numbers, comma-separated (e.g. 8,16)") from None
    if not ks or min(ks) < 1 or max(ks) > 64:
        raise typer.BadParameter("--k: between 1 and 64")
    s = get_settings()
    group = group or s.group_regex
    groups_manifest = groups_manifest or s.group_manifest
    if group is not None:
        try:
            re.compile(group)
        except re.error as exc:
            raise typer.BadParameter(f"--group: not a regular expression ({exc})") from None
    ev = evaluate(
        videos,
        s,
        ks=ks,
        poolings=_choices(pooling, POOLINGS, "--pooling"),
        classifiers=_choices(classifier, CLASSIFIERS, "--classifier"),
        folds=folds,
        repeats=repeats,
        group=group,
        manifest=groups_manifest,
        cache_dir=cache,
        echo=typer.echo,
    )
    typer.echo(
        f"\n{ev.clips} clips, {len(ev.classes)} classes; {ev.repeats} x {ev.folds}-fold CV, {ev.protocol}; "
        "mean ± std over folds"
        + (
            "; 'accuracy, random folds' is the same CV ignoring recordings: the gap is the leak"
            if ev.protocol.startswith("grouped")
            else ""
        )
    )
    if ev.dropped_classes:
        typer.echo(f"left out (fewer than 2 clips): {ev.dropped_classes}")
    if ev.skipped:
        typer.echo(f"skipped {len(ev.skipped)} unreadable clip(s): " + "; ".join(ev.skipped[:5]))
    typer.echo(ev.table())
    b = ev.best
    js, png = write(ev, out or Paths.from_settings(s).evaluations / "+".join(v.resolve().name for v in videos))
    typer.echo(f"best: K={b.k} {b.pooling} {b.classifier} (macro F1 {b.macro_f1_mean:.3f}); {js}, {png}")
