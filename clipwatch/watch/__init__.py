"""`clipwatch watch`: live sources classified window by window, with alert rules and a webhook.

- watcher: a thread per source, windows on the stream's own clock, the live model (Watcher);
- config: sources, rules and the YAML file (WatchConfig, parse_source, parse_rule);
- alerts: per-source metrics, rules firing into alerts, the webhook (Alerter, Webhook).

Scripts import from here: `from clipwatch.watch import Rule, Source, WatchConfig, Watcher`.
"""

from clipwatch.watch.alerts import Alerter, WatchMetrics, Webhook
from clipwatch.watch.config import Rule, Source, WatchConfig, parse_rule, parse_source
from clipwatch.watch.watcher import SourceWatcher, Watcher

__all__ = [
    "Alerter",
    "Rule",
    "Source",
    "SourceWatcher",
    "WatchConfig",
    "WatchMetrics",
    "Watcher",
    "Webhook",
    "parse_rule",
    "parse_source",
]
