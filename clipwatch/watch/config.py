"""`clipwatch watch`'s sources, rules and file (watch.example.yaml), and the command line's short forms."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Source:
    name: str
    url: str
    realtime: bool = False  # a file: read at its own pace, as a camera would deliver it
    loop: bool = False  # a file: start again at its end
    options: dict[str, str] = field(default_factory=dict)  # FFmpeg options (rtsp_transport, ...)

    @property
    def is_file(self) -> bool:
        return Path(self.url).is_file()


@dataclass
class Rule:
    name: str
    label: str
    min_confidence: float = 0.5
    consecutive: int = 3
    cooldown_s: float = 60.0
    sources: list[str] | None = None  # None: every source

    def applies_to(self, source: str) -> bool:
        return self.sources is None or source in self.sources


# What a source may be: a camera's or a server's stream, a local capture device, or a file named as a path.
# FFmpeg opens much more ("concat:", "subfile:", "data:", "ftp://", "pipe:", ...), none of which a camera
# needs, and some of which read files the operator never named.
SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "rtp://", "srt://", "tcp://")
# Protocols FFmpeg may use underneath (an HLS playlist or an RTSP session opens others): never "file" for a
# network source, so a playlist cannot point the watcher at the local disk.
NETWORK_PROTOCOLS = "http,https,tcp,tls,udp,rtp,rtsp,rtsps,srt,crypto,httpproxy"


def check_source(source: Source) -> None:
    url = source.url
    # A path (no "scheme:" in it) may name a file that is mounted later: the watcher retries it, reading
    # files only (protocol_whitelist=file).
    if url.startswith("/dev/video") or ":" not in url or url.lower().startswith(SCHEMES):
        return
    from clipwatch.logs import redact

    raise ValueError(
        f"source {source.name}: {redact(url)!r} is not an rtsp(s), http(s), udp, rtp, srt or tcp URL, "
        "a /dev/video device or a file path"
    )


@dataclass
class WatchConfig:
    sources: list[Source]
    rules: list[Rule] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_token: str | None = None
    window_s: float | None = None
    stride_s: float | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8084

    @classmethod
    def from_yaml(cls, path: Path) -> WatchConfig:
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - {"sources", "rules", "webhook", "window_s", "stride_s", "metrics"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        sources = [Source(**s) for s in raw.get("sources", [])]
        rules = [Rule(**{"label": r.pop("class"), **r}) if "class" in r else Rule(**r) for r in raw.get("rules", [])]
        hook = raw.get("webhook") or {}
        hook = {"url": hook} if isinstance(hook, str) else hook
        metrics = raw.get("metrics") or {}
        return cls(
            sources,
            rules,
            hook.get("url"),
            hook.get("token") or os.environ.get("CLIPWATCH_WATCH_WEBHOOK_TOKEN") or None,
            raw.get("window_s"),
            raw.get("stride_s"),
            metrics.get("host", "127.0.0.1"),
            int(metrics.get("port", 8084)),
        ).checked()

    def checked(self) -> WatchConfig:
        if not self.sources:
            raise ValueError("no sources to watch")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must differ: {names}")
        for source in self.sources:
            check_source(source)
        for r in self.rules:
            if not (0 <= r.min_confidence <= 1 and r.consecutive >= 1 and r.cooldown_s >= 0):
                raise ValueError(f"rule {r.name}: min_confidence in [0, 1], consecutive >= 1, cooldown_s >= 0")
            for s in r.sources or []:
                if s not in names:
                    raise ValueError(f"rule {r.name} names source {s!r}, which is not in the sources")
        return self


RULE = re.compile(r"^(?P<label>[^:]+)(?::(?P<conf>[0-9.]+))?(?::(?P<n>\d+))?(?::(?P<cool>[0-9.]+))?$")


def parse_source(text: str, index: int, realtime: bool) -> Source:
    """NAME=URL, or a bare URL (named sourceN); files are read at their own pace when realtime."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name or name.startswith("/"):
        name, url = f"source{index + 1}", text
    is_file = Path(url).is_file()
    return Source(name=name, url=url, realtime=realtime and is_file)


def parse_rule(text: str) -> Rule:
    """CLASS[:MIN_CONFIDENCE[:CONSECUTIVE[:COOLDOWN_S]]], as `clipwatch watch --rule` takes it."""
    m = RULE.match(text)
    if not m:
        raise ValueError(f"rule {text!r}: write CLASS[:MIN_CONFIDENCE[:CONSECUTIVE[:COOLDOWN_S]]]")
    return Rule(
        name=f"{m['label']}-detected",
        label=m["label"],
        min_confidence=float(m["conf"] or 0.5),
        consecutive=int(m["n"] or 3),
        cooldown_s=float(m["cool"] or 60),
    )
