import requests
import responses

from tests.webapp.conftest import API, model_info, prediction


@responses.activate
def test_batch_scores_in_chunks_and_offers_a_csv(page, videos):
    def reply(request):
        n = request.body.count(b'name="files"')
        items = [{"index": i, "filename": f"{i}", "ok": True, "prediction": prediction("jump")} for i in range(n)]
        items[-1] = {"index": n - 1, "filename": "x", "ok": False, "error": "not a readable video"}
        return 200, {}, __import__("json").dumps({"items": items, "succeeded": n - 1, "failed": 1, "total_ms": 1})

    responses.add_callback(responses.POST, f"{API}/predict/batch", callback=reply)
    clips = sorted(videos.rglob("*.mp4"))[:6]
    at = page("batch").run()
    at.file_uploader[0].set_value([(p.name, p.read_bytes(), "video/mp4") for p in clips])
    at.run()
    at.button[0].click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == [p.name for p in clips]
    assert table["error"].notna().sum() == 2  # the last of each chunk of 4 (4 + 2)
    assert "4 scored, 2 failed" in at.markdown[0].value
    assert len(responses.calls) == 2
    assert len(at.get("download_button")) == 1


@responses.activate
def test_model_page_shows_version_metrics_history_and_confusion(page):
    history = [
        {
            "started_at": "t",
            "trigger_rows": 20,
            "trigger": "drift",
            "trigger_reason": "the report of t detected drift",
            "outcome": "kept",
            "champion_version": "v0001",
            "champion_f1": 0.7,
            "challenger_f1": 0.6,
            "new_version": None,
            "holdout_rows": 5,
            "duration_s": 3.0,
            "mode": "scratch",
        }
    ]
    responses.get(f"{API}/model", json=model_info(history=history))
    at = page("model").run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["v0001", "0.745", "0.750", "0.750"]
    captions = [c.value for c in at.caption]
    assert any("grouped by recording (12 groups)" in c and c.startswith("Measured by") for c in captions)
    assert any(
        "K=16 segments, rgb stream, mean+motion pooling, 2560 values; classifier: logistic-regression" in c
        for c in captions
    )
    # The calibration figure: temperature, ECE before and after, and the reliability curve.
    assert any("temperature of 2.50" in c and "0.310 before, 0.060 after" in c for c in captions)
    assert "Calibration" in [h.value for h in at.subheader]
    assert at.dataframe[0].value["outcome"].tolist() == ["kept"]
    assert at.dataframe[0].value["trigger"].tolist() == ["drift"]  # which trigger fired, and why
    assert at.dataframe[0].value["trigger_reason"].tolist() == ["the report of t detected drift"]
    assert at.dataframe[1].value.shape == (6, 6)
    assert "localhost:8082" in at.markdown[-1].value
    # Blank panels and a one-point chart are what a new install shows: the page says why and what comes.
    assert any("stay blank until feedback arrives" in c for c in captions)
    assert any(c.startswith("One version so far (v0001)") and "every 20 feedback rows" in c for c in captions)
    assert len(at.get("vega_lite_chart")) == 1  # the reliability curve only: no one-point line


@responses.activate
def test_model_page_draws_a_line_once_there_are_two_versions(page):
    scores = [{"version": "v0001", "macro_f1": 0.745}, {"version": "v0002", "macro_f1": 0.8, "guard_f1": 0.79}]
    responses.get(f"{API}/model", json={**model_info(version="v0002"), "version_scores": scores})
    at = page("model").run()
    assert not at.exception
    assert not any("One version so far" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2  # the versions' lines and the reliability curve


@responses.activate
def test_model_page_with_the_api_down(page):
    responses.get(f"{API}/model", body=requests.exceptions.ConnectionError("refused"))
    at = page("model").run()
    assert not at.exception and "not reachable" in at.error[0].value


@responses.activate
def test_model_page_lists_actions_known_only_from_feedback(page):
    """A user named "fall" in feedback: the page says it exists, how many rows, and when it is trained in."""
    counts = {"walk": 12, "fall": 3, "fight": 1}
    responses.get(f"{API}/model", json={**model_info(), "feedback_actions": counts})
    at = page("model").run()
    assert not at.exception
    (note,) = [i.value for i in at.info if "known only from feedback" in i.value]
    assert "fall (3 rows)" in note and "fight (1 row)" in note and "walk" not in note
    assert "every 20 feedback rows" in note
