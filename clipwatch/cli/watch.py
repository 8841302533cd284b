"""`clipwatch watch SOURCE...`: classify live sources and alert (registered in clipwatch.cli)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from clipwatch.errors import ClipwatchError
from clipwatch.settings import get_settings


def watch_cmd(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="rtsp://, http(s)://, udp://, a file or /dev/videoN; NAME=URL names it"),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of sources, rules, webhook (docs/watch.md)")] = None,
    rule: Annotated[
        list[str] | None, typer.Option(help="CLASS[:MIN_CONFIDENCE[:CONSECUTIVE[:COOLDOWN_S]]], repeatable")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each alert here as JSON")] = None,
    realtime: Annotated[bool, typer.Option(help="read files at their own pace, as a camera delivers")] = True,
    metrics_host: Annotated[str, typer.Option(help="address of the Prometheus endpoint")] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="port of the Prometheus endpoint (0: none)")] = 8084,
) -> None:
    """Classify live video sources window by window; alert on rules (logged, counted, POSTed to a webhook)."""
    try:  # the serving image has the watcher's packages; the bootstrap image does not need them
        from clipwatch.watch import WatchConfig, Watcher, parse_rule, parse_source
    except ImportError as exc:
        raise ClipwatchError(f"clipwatch watch needs {exc.name}: pip install -r serving/requirements.txt") from None

    try:
        cfg = WatchConfig.from_yaml(config) if config else WatchConfig(sources=[])
        cfg.sources += [parse_source(s, len(cfg.sources) + i, realtime) for i, s in enumerate(sources or [])]
        cfg.rules += [parse_rule(r) for r in rule or []]  # ValueError: a bad rule, said plainly
        cfg.webhook_url = webhook or cfg.webhook_url
        cfg.metrics_host, cfg.metrics_port = (
            (metrics_host, metrics_port) if not config else (cfg.metrics_host, cfg.metrics_port)
        )
        cfg.checked()
    except (ValueError, TypeError, OSError) as exc:
        raise ClipwatchError(f"watch: {exc}") from None
    watcher = Watcher(cfg, get_settings(), serve_metrics=cfg.metrics_port > 0)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop_event.set())
    try:
        watcher.start()
    except (RuntimeError, OSError, ValueError) as exc:  # no model yet, the metrics port taken, a bad window
        watcher.stop()
        raise ClipwatchError(f"watch: {exc}") from None
    names = ", ".join(s.name for s in cfg.sources)
    where = f"; metrics on http://{cfg.metrics_host}:{cfg.metrics_port}/metrics" if cfg.metrics_port else ""
    typer.echo(f"watching {names} with {len(cfg.rules)} rule(s){where}; Ctrl-C stops", err=True)
    try:
        watcher.wait()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
