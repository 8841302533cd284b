"""`clipwatch watch`'s sources, rules and file: parsed as written, refused plainly when wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clipwatch.settings import PROJECT_ROOT
from clipwatch.watch import Alerter, Rule, Source, WatchConfig, WatchMetrics, Webhook, parse_rule, parse_source


def test_rules_and_sources_from_the_command_line():
    r = parse_rule("run:0.7:4:30")
    assert (r.label, r.min_confidence, r.consecutive, r.cooldown_s) == ("run", 0.7, 4, 30.0)
    assert parse_rule("wave").consecutive == 3
    with pytest.raises(ValueError, match="CLASS"):
        parse_rule("run:high")
    assert parse_source("door=rtsp://cam/1", 0, True).name == "door"
    bare = parse_source("udp://127.0.0.1:5000", 1, True)
    assert (bare.name, bare.url, bare.realtime) == ("source2", "udp://127.0.0.1:5000", False)  # not a file


def test_the_example_file_loads_and_mistakes_are_named(tmp_path):
    cfg = WatchConfig.from_yaml(PROJECT_ROOT / "watch.example.yaml")
    assert [s.name for s in cfg.sources] == ["entrance", "practice"] and cfg.rules[0].label == "run"
    for text, message in (
        ("sources: []", "no sources"),
        ("sources: [{name: a, url: x}, {name: a, url: y}]", "must differ"),
        ("sources: [{name: a, url: x}]\nrules: [{name: r, class: run, sources: [b]}]", "names source 'b'"),
        ("sources: [{name: a, url: x}]\nrules: [{name: r, class: run, min_confidence: 2}]", "min_confidence"),
        ("sourcez: []", "unknown keys"),
    ):
        (tmp_path / "w.yaml").write_text(text)
        with pytest.raises(ValueError, match=message):
            WatchConfig.from_yaml(tmp_path / "w.yaml")


def test_a_rule_fires_after_n_windows_in_a_row_then_keeps_quiet_for_its_cool_down():
    metrics = WatchMetrics()
    alerter = Alerter([Rule("r", "run", 0.6, 2, cooldown_s=3600)], Webhook(None, None, metrics), metrics)

    def window(label, conf=0.9):
        alerter.window("cam", {"start_s": 0.0, "end_s": 4.0, "label": label, "confidence": conf, "model_version": "v1"})

    for label, conf in (("run", 0.9), ("walk", 0.9), ("run", 0.9), ("run", 0.5), ("run", 0.9)):
        window(label, conf)
    assert alerter.fired == []  # never two qualifying windows in a row
    window("run")
    assert len(alerter.fired) == 1 and alerter.fired[0]["class"] == "run"
    for _ in range(5):
        window("run")
    assert len(alerter.fired) == 1  # cool-down


def test_the_command_refuses_a_bad_rule_or_no_source_in_one_line():
    for args, message in ((["--rule", "run:high", "udp://x"], "rule 'run:high'"), ([], "no sources to watch")):
        done = subprocess.run(
            [sys.executable, "-m", "clipwatch", "watch", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "concat:/etc/passwd|/etc/hosts",
        "ftp://cam.example/live",
        "file:/etc/passwd",
        "data:video/mp4;base64,AAAA",
        "subfile,,start,0,end,10,,:/etc/shadow",
    ],
)
def test_a_source_that_is_no_camera_stream_device_or_file_is_refused(url):
    with pytest.raises(ValueError, match="is not an rtsp"):
        WatchConfig([Source("cam", url)]).checked()


def test_camera_streams_devices_and_file_paths_are_sources(tmp_path):
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    for url in (
        "rtsp://user:pw@10.0.0.5/stream1",
        "udp://127.0.0.1:5000",
        "https://cam/live.m3u8",
        "/dev/video0",
        "/mnt/recordings/later.mp4",  # a path: the file may be mounted later, and is read as a file only
        str(clip),
    ):
        WatchConfig([Source("cam", url)]).checked()
