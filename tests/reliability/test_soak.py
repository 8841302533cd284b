"""A short soak (the fast tier; `make soak` runs ten minutes and checks memory and latency too)."""

from __future__ import annotations

import pytest

from clipwatch.history import read_history
from clipwatch.paths import Paths
from tests.reliability.soak import Soak, figures, pick_clips

pytestmark = pytest.mark.slow


def test_mixed_load_with_retrains_fails_nothing_and_leaks_no_descriptor_or_temp_file(live_server, videos):
    server = live_server(retrain_every_k=10)
    soak = Soak(server.url, server.proc.pid, server.settings, pick_clips(videos))
    soak.run(40, sample_every=2)
    history = [e for e in read_history(Paths.from_settings(server.settings)) if e.get("trigger_rows")]
    f = figures(soak, 40, history, warmup_s=10)
    assert f["failed"] == 0, f["failures"]
    assert set(f["requests"]) == {"predict", "batch", "feedback"}
    assert f["retrains"] >= 1 and "failed" not in f["retrain_outcomes"], f["retrain_outcomes"]
    fd0, fd1 = f["fds_after_warmup_and_at_end"]
    assert fd1 - fd0 <= 4, f["samples"]
    assert f["temp_files_at_end"] == 0
    assert server.proc.poll() is None
