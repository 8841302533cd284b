import json

import requests
import responses

from tests.webapp.conftest import API, model_info, prediction


def _upload(at, videos, name="walk.mp4"):
    data = sorted((videos / "walk").glob("*.mp4"))[0].read_bytes()
    at.file_uploader[0].set_value((name, data, "video/mp4"))
    return at.run()


@responses.activate
def test_a_new_action_name_is_offered_and_sent_when_the_api_takes_them(page, videos):
    responses.post(f"{API}/predict", json=prediction("walk"))
    responses.get(f"{API}/model", json=model_info(allow_new=True))
    fb = {"rows": 1, "retrain_triggered": False, "retrain_every_k": 20, "prediction": "walk", "model_version": "v1"}
    responses.post(f"{API}/feedback", json=fb)
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert "ALLOW_NEW_CLASSES is true" in at.text_input[0].help  # the rule, where the user meets it
    at.text_input[0].input("moonwalk")
    at.button[1].click().run()
    assert json.loads(responses.calls[-1].request.body)["target"] == "moonwalk"


@responses.activate
def test_without_new_actions_the_form_says_so(page, videos):
    responses.post(f"{API}/predict", json=prediction("walk"))
    responses.get(f"{API}/model", json=model_info(allow_new=False))
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert not at.text_input
    assert any("ALLOW_NEW_CLASSES=false" in c.value for c in at.caption)


@responses.activate
def test_upload_preview_predict_and_feedback(page, videos):
    responses.post(f"{API}/predict", json=prediction("walk"))
    responses.get(f"{API}/model", json=model_info())
    responses.post(
        f"{API}/feedback",
        json={
            "rows": 7,
            "store": "PostgreSQL",
            "retrain_triggered": False,
            "retrain_every_k": 20,
            "prediction": "walk",
            "model_version": "v0001",
        },
    )
    at = page("classify").run()
    assert at.info[0].value.startswith("Upload a clip")
    _upload(at, videos)
    assert not at.exception
    assert len(at.get("video")) == 1
    assert len(at.get("image")) == 16  # the strip of sampled frames
    assert not [c for c in at.caption if "H.264 copy" in c.value]  # an H.264 MP4 plays as is
    at.button[0].click().run()
    assert [m.value for m in at.metric] == ["walk", "55%", "v0001"]
    assert any("decode 20 ms" in c.value for c in at.caption)
    at.selectbox[0].select("run")
    at.button[1].click().run()  # the form's submit button
    sent = json.loads(responses.calls[-1].request.body)
    assert sent == {"prediction_id": "a" * 32, "target": "run"}
    assert "PostgreSQL now has 7 rows" in at.success[0].value  # the store the API wrote to, by name


@responses.activate
def test_an_unfamiliar_clip_shows_a_guess_in_plain_words_and_no_confident_percentage(page, videos):
    unfamiliar = {**prediction("wave"), "confidence": 1.0, "novelty": 4.2, "familiar": False}
    responses.post(f"{API}/predict", json=unfamiliar)
    responses.get(f"{API}/model", json=model_info())
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert not at.exception
    warning = at.warning[0].value
    assert "unlike the clips the model learned from" in warning and "guess" in warning
    assert "knows 6 actions" in warning and "send feedback" in warning
    assert [m.value for m in at.metric] == ["wave", "unreliable", "v0001"]
    assert not any("100%" in str(m.value) for m in at.metric)


@responses.activate
def test_feedback_that_triggers_a_retrain_shows_the_outcome(page, videos):
    entry = {
        "trigger_rows": 20,
        "outcome": "promoted",
        "champion_version": "v0001",
        "new_version": "v0002",
        "champion_f1": 0.61,
        "challenger_f1": 0.74,
    }
    responses.post(f"{API}/predict", json=prediction())
    responses.get(f"{API}/model", json=model_info())
    responses.post(
        f"{API}/feedback",
        json={
            "rows": 20,
            "retrain_triggered": True,
            "retrain_every_k": 20,
            "prediction": "walk",
            "model_version": "v0001",
        },
    )
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    responses.replace(responses.GET, f"{API}/model", json=model_info(history=[entry], version="v0002"))
    at.button[1].click().run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "v0002" in text and "0.74" in text and "0.61" in text, text


@responses.activate
def test_following_a_running_retrain_never_blocks_the_page(page, videos):
    """The retrain has not finished: the page answers at once, says so, and polls in a fragment."""
    import time

    responses.post(f"{API}/predict", json=prediction())
    responses.get(f"{API}/model", json=model_info())  # no history entry for row 20 yet
    responses.post(
        f"{API}/feedback",
        json={
            "rows": 20,
            "retrain_triggered": True,
            "retrain_every_k": 20,
            "prediction": "walk",
            "model_version": "v0001",
        },
    )
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    t0 = time.monotonic()
    at.button[1].click().run()
    assert time.monotonic() - t0 < 20 and not at.exception
    assert any("Row 20 triggered a retrain" in i.value for i in at.info)


@responses.activate
def test_api_down_gives_a_specific_message_not_a_traceback(page, videos):
    responses.post(f"{API}/predict", body=requests.exceptions.ConnectionError("refused"))
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert not at.exception
    assert "is not reachable: is it running?" in at.error[0].value
    # Once the API is back, the same page works.
    responses.replace(responses.POST, f"{API}/predict", json=prediction("clap"))
    at.button[0].click().run()
    assert at.metric[0].value == "clap" and not at.error


@responses.activate
def test_api_error_shows_the_apis_reason(page, videos):
    responses.post(f"{API}/predict", status=422, json={"detail": "uploaded file: video has no frames"})
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert "422: uploaded file: video has no frames" in at.error[0].value


@responses.activate
def test_slow_api_times_out_with_a_message(page, videos):
    responses.post(f"{API}/predict", body=requests.exceptions.ReadTimeout("slow"))
    at = _upload(page("classify").run(), videos)
    at.button[0].click().run()
    assert "did not answer within" in at.error[0].value


def test_an_avi_is_transcoded_for_the_preview(page, real_clips):
    at = page("classify").run()
    data = (real_clips / "ucf101" / "Diving" / "v_Diving_g01_c01.avi").read_bytes()
    at.file_uploader[0].set_value(("dive.avi", data, "video/x-msvideo"))
    at.run()
    assert not at.exception
    assert any("H.264 copy" in c.value for c in at.caption)
    assert len(at.get("video")) == 1


@responses.activate
def test_the_frame_strip_follows_the_apis_sampling_not_the_web_apps(page, videos):
    # The API's container says K=4; this web app's own settings say 16. The strip must show the model's 4.
    info = model_info()
    info["embedding"] = {**info["embedding"], "num_frames": 4, "input_size": 96}
    responses.get(f"{API}/model", json=info)
    at = _upload(page("classify").run(), videos)
    assert not at.exception
    assert len(at.get("image")) == 4
    assert any("The 4 frames the model samples" in c.value for c in at.caption)


@responses.activate
def test_without_the_apis_sampling_the_strip_says_whose_settings_it_follows(page, videos):
    responses.get(f"{API}/model", body=requests.exceptions.ConnectionError("refused"))
    at = _upload(page("classify").run(), videos)
    assert len(at.get("image")) == 8  # this app's K
    assert any("follow this app's settings" in c.value for c in at.caption)
