"""`clipwatch simulate` against a live server: retrains fire every k rows and the shifted traffic is learnt."""

import pytest

from clipwatch.client.http import ApiClient
from clipwatch.client.simulate import simulate, summary_table

pytestmark = pytest.mark.slow


def test_shifted_feedback_makes_the_promoted_model_better_on_fresh_shifted_clips(live_server, tmp_path):
    # The default forest (50 trees is too noisy here). `always`, so the last model has learnt from every
    # row: this checks learning from feedback; the if_better gate has its own tests.
    server = live_server(retrain_every_k=60, n_estimators=300, promotion_policy="always")
    lines: list[str] = []
    client = ApiClient(server.url, server.settings.api_key.get_secret_value(), timeout=120)
    result = simulate(client, tmp_path / "traffic", n=180, shift=True, eval_n=60, echo=lines.append)

    assert result.clips == 180
    assert [r["trigger_rows"] for r in result.retrains] == [60, 120, 180]
    assert sum(line.startswith("retrain at row") for line in lines) == 3
    assert result.end_version == "v0004", lines
    # Every prediction is attributed to the version that made it, and they add up.
    assert sum(v.clips for v in result.versions.values()) == 180
    assert result.end_version in summary_table(result)
    # The evaluation clips were predicted, never fed back: only the traffic is in prod_data.csv.
    prod = (server.settings.data_dir / "prod_data.csv").read_text().splitlines()
    assert len(prod) == 1 + 180
    print(
        f"accuracy on 60 fresh shifted clips: {result.start_version} {result.eval_start:.3f}, "
        f"{result.end_version} {result.eval_end:.3f}"
    )
    assert result.eval_end >= result.eval_start + 0.08, (result.eval_start, result.eval_end, lines)


def test_simulating_unrenderable_classes_is_a_clear_error(tmp_path):
    from clipwatch.client.simulate import traffic_clips
    from clipwatch.errors import ClipwatchError

    with pytest.raises(ClipwatchError, match="can't render \\(skateboarding\\)"):
        traffic_clips(tmp_path, ["walk", "skateboarding"], 4, shift=False, seed=0, start=1000)
