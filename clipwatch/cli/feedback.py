"""`clipwatch trainer` and `clipwatch export-prod` (registered in clipwatch.cli)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from clipwatch.errors import ClipwatchError
from clipwatch.settings import get_settings


def trainer_cmd(
    metrics_host: Annotated[
        str | None, typer.Option(help="address of the Prometheus endpoint (default CLIPWATCH_METRICS_HOST)")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="port of the Prometheus endpoint (default CLIPWATCH_TRAINER_METRICS_PORT; 0: none)"),
    ] = None,
) -> None:
    """Run the retrains for every API replica: watch the feedback count, retrain every k rows, publish."""
    from clipwatch.trainer import Trainer, TrainerMetrics

    s = get_settings()
    port = s.trainer_metrics_port if metrics_port is None else metrics_port
    metrics = None
    try:
        if port:
            from prometheus_client import start_http_server

            metrics = TrainerMetrics()
            start_http_server(port, metrics_host or s.metrics_host, registry=metrics.registry)
        trainer = Trainer(s, metrics)
    except ImportError as exc:
        raise ClipwatchError(f"clipwatch trainer needs {exc.name}: pip install -r serving/requirements.txt") from None
    except OSError as exc:
        raise ClipwatchError(f"clipwatch trainer: {exc}") from None

    def stop(signum, frame):
        trainer.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    trainer.run()
    typer.echo("trainer: stopping; a retrain already running finishes first", err=True)
    trainer.stop(timeout=600)


def export_prod_cmd(
    out: Annotated[Path, typer.Option("--out", help="the CSV to write (the seed's prod_data.csv format)")],
) -> None:
    """Write every feedback row, from whichever store is configured, as prod_data.csv."""
    from clipwatch.stores import open_store

    store = open_store(get_settings())
    try:
        rows = store.export_csv(out)
    finally:
        store.close()
    typer.echo(f"{rows} rows -> {out} (from the {store.kind} store)")
