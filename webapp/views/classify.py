"""Classify a clip: preview, the frames the model sees, prediction, feedback, the retrain it may trigger."""

import time

import pandas as pd
import streamlit as st
from auth import signed_in
from common import (
    ApiError,
    ClipError,
    api,
    clip_preview,
    digest,
    embedding_spec,
    forget_model,
    live_model,
    sampled_frames,
    saved_text,
)

FOLLOW_FOR_S = 600  # how long the page follows a retrain before it sends the user to the Model page


@st.fragment(run_every=1.0)
def follow_retrain(rows: int) -> None:
    """Look for the retrain row `rows` started, once a second, without blocking the page."""
    started = st.session_state.setdefault("following_since", {}).setdefault(rows, time.time())
    entry = None
    try:
        history = api().model().get("history", [])
        entry = next((h for h in reversed(history) if h.get("trigger_rows") == rows), None)
    except ApiError as exc:
        st.caption(f"waiting for the API: {exc}")
    if entry is not None:
        st.session_state.retrains[rows] = entry
        forget_model()  # a new version may be live: the next /model must be fresh
        st.rerun()  # the whole page, which now shows the outcome and stops polling
    elif time.time() - started > FOLLOW_FOR_S:
        st.warning("The retrain is taking long; see the Model page later.")
    else:
        st.info(f"Row {rows} triggered a retrain… ({time.time() - started:.0f} s)")


def show_outcome(rows: int, entry: dict) -> None:
    outcome = entry["outcome"]
    scores = f"challenger macro F1 {entry['challenger_f1']} vs champion {entry['champion_f1']}"
    with st.status(f"Row {rows}'s retrain: {outcome}", state="error" if outcome == "failed" else "complete"):
        if outcome == "promoted":
            st.write(f"New model **{entry['new_version']}** is live ({scores} on held-out feedback).")
        elif outcome == "kept":
            st.write(f"The current model stays ({scores}). {entry.get('reason') or ''}")
        else:
            st.write(entry.get("reason") or "")


st.title("Classify a clip")

upload = st.file_uploader("A clip (mp4, avi, mov, mkv, webm)", type=["mp4", "avi", "mov", "mkv", "webm"])
if upload is None:
    st.info("Upload a clip to see it, the frames the model samples, and what the model thinks it shows.")
    st.stop()

data = upload.getvalue()
clip_id = digest(data)
if st.session_state.get("clip_id") != clip_id:  # a new clip: forget the last one's prediction
    # and ask the API afresh how the live model samples clips, for the frame strip
    st.session_state.update(clip_id=clip_id, prediction=None, feedback=None, embedding=embedding_spec())

left, right = st.columns([3, 2])
with left:
    try:
        preview, mime, transcoded = clip_preview(data, upload.name)
        st.video(preview, format=mime)
        if transcoded:
            st.caption(
                "Your browser can't play this file's format, so this preview is an H.264 copy. "
                "The model receives the original file."
            )
    except Exception as exc:  # a clip the browser can't get: say so, the API will judge the file itself
        st.warning(f"No preview for this file ({exc}).")

with right:
    spec, from_api = st.session_state.embedding
    try:
        frames = sampled_frames(data, upload.name, spec)
        n = len(frames)
        how = f"centres of {n} equal segments" if spec["sampling"] == "segment-centres" else "keyframes at the centres"
        st.caption(f"The {n} frames the model samples ({how}):")
        if not from_api:
            st.caption("The API did not say how it samples clips, so these follow this app's settings.")
        cols = st.columns(4)
        for i, frame in enumerate(frames):
            cols[i % 4].image(frame, caption=f"{i + 1}", width="stretch")
    except ClipError as exc:
        st.warning(f"Can't sample frames: {exc}")

if st.button("Predict", type="primary"):
    with st.spinner("Asking the model…"):
        try:
            st.session_state.prediction = api().predict(upload.name, data)
            st.session_state.feedback = None
        except ApiError as exc:
            st.error(f"Prediction failed: {exc}")

pred = st.session_state.get("prediction")
if not pred:
    st.stop()

st.divider()
c1, c2, c3 = st.columns(3)
if pred.get("familiar") is False:
    # Unlike anything the model trained on: a confident-looking percentage would mislead.
    known = sorted(pred["probabilities"])
    st.warning(
        f"**This clip is unlike the clips the model learned from**, so its answer is a guess. The model knows "
        f"{len(known)} actions ({', '.join(known)}); if this clip shows another one, send feedback below "
        "with the action's name, and it is trained in at the next retrain."
    )
    c1.metric("Closest known action (a guess)", pred["label"])
    c2.metric("Confidence", "unreliable", help=f"novelty {pred['novelty']:.1f} (above 1: unfamiliar)")
else:
    c1.metric("Predicted action", pred["label"])
    c2.metric("Confidence", f"{pred['confidence']:.0%}", help="calibrated on clips the model did not train on")
c3.metric("Model version", pred["model_version"])
probs = pd.DataFrame({"probability": pred["probabilities"]}).sort_values("probability", ascending=False)
st.bar_chart(probs, horizontal=True, height=220)
t, v = pred["timings_ms"], pred["video"]
st.caption(
    f"decode {t['decode']:.0f} ms · CNN {t['embed']:.0f} ms · classify {t['classify']:.0f} ms · "
    f"total {t['total']:.0f} ms — {v['width']}x{v['height']}, {v['fps']:.1f} fps, {v['duration_s']:.1f} s, "
    f"{v['frames']} frames"
)

st.subheader("Was it right?")
if not signed_in():
    st.info("Sign in (in the sidebar) to send feedback: it becomes training data.")
    st.stop()
classes = sorted(pred["probabilities"])
try:
    allow_new = live_model().get("allow_new_classes", False)
except ApiError:  # the form works without it: the prediction names every known class
    allow_new = False
with st.form("feedback_form"):
    choice = st.selectbox("True action", classes, index=classes.index(pred["label"]))
    new_name = ""
    if allow_new:
        new_name = st.text_input(
            "…or a new action name",
            placeholder="leave empty to use the choice above",
            help="Teach the model an action it does not know: the clip is kept under this name, and the next "
            "retrain (every few feedback rows) learns it; a handful of clips of it make it predictable. "
            "The API takes new names while ALLOW_NEW_CLASSES is true, the default.",
        )
    else:
        st.caption("This install takes only the actions the model knows (ALLOW_NEW_CLASSES=false).")
    sent = st.form_submit_button("Send feedback")
if sent:
    target = new_name.strip() or choice
    try:
        st.session_state.feedback = api().feedback(pred["prediction_id"], target)
    except ApiError as exc:
        st.error(f"Feedback not saved: {exc}")

fb = st.session_state.get("feedback")
if fb:
    st.success(saved_text(fb))
    if fb["retrain_triggered"]:
        done = st.session_state.setdefault("retrains", {}).get(fb["rows"])
        if done is None:
            follow_retrain(fb["rows"])
        else:
            show_outcome(fb["rows"], done)
