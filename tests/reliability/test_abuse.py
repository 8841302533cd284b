"""The fast part of `make abuse`: the cheap attacks against a live server, with their costs measured.

Whatever the body, the server's resident memory grows by at most 64 MB; no clip costs more CPU than
the decode budget plus 1 s; nothing is written without the key."""

from __future__ import annotations

import sys

import pytest

from tests.reliability.abuse import TARGETS, run, table

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]


def test_no_attack_costs_more_than_the_settings_allow(settings, trained, videos, tmp_path):
    report = run(tmp_path, quick=True, source=settings, good=sorted(videos.rglob("*.mp4"))[0], webapp=False)
    print(table(report))
    assert report["problems"] == [], report["problems"]
    results = {r["attack"]: r for r in report["results"]}
    assert max(r["rss_growth_mb"] for r in results.values()) <= TARGETS["rss_growth_mb"]
    assert results["writes without the key (API)"]["status"].startswith("0 of")
    assert len(results) >= 12
