"""A long video's timeline: upload, follow the job, see the class probabilities over time under the player,
jump to a segment, and correct a window (its vector becomes a feedback row, as a clip's does).

The job id lives in the page's URL (?job=...), so a reload, or the link sent to a colleague, shows the
same job; the video itself stays in this browser session.
"""

import io

import altair as alt
import pandas as pd
import streamlit as st
from auth import signed_in
from common import ApiError, api, clip_preview, digest, saved_text, settings

FINISHED = ("done", "failed", "cancelled")


def clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@st.fragment(run_every=1.0)
def follow(job_id: str) -> None:
    """Poll the job once a second without blocking the page; rerun the page when it finishes."""
    try:
        job = api().job(job_id)
    except ApiError as exc:
        st.caption(f"waiting for the API: {exc}")
        return
    if job["status"] in FINISHED:
        st.session_state.job = job
        st.rerun()
    done, total = job.get("processed_s", 0.0), job.get("duration_s") or 0.0
    st.progress(min(job["progress"], 1.0), text=f"{job['status']}: {clock(done)} of {clock(total)} processed")
    if not signed_in():  # the app cancels with the install's key: a visitor with the job's link may not
        st.caption("Sign in (in the sidebar) to cancel it.")
    elif st.button("Cancel", key="cancel_job"):
        try:
            api().cancel_job(job_id)
        except ApiError as exc:
            st.error(f"Could not cancel: {exc}")


def probabilities_chart(result: dict) -> alt.Chart:
    windows = pd.DataFrame(result["windows"])
    windows["t"] = (windows["start_s"] + windows["end_s"]) / 2
    probs = pd.DataFrame(list(windows["probabilities"])).assign(t=windows["t"])
    long = probs.melt(id_vars="t", var_name="class", value_name="probability")
    segments = pd.DataFrame(result["segments"]).assign(segment=lambda d: d.index.astype(str))
    colours = alt.Scale(domain=result["classes"])
    pick = alt.selection_point(name="segment", fields=["segment", "start_s"], on="click", toggle=False)
    bands = (
        alt.Chart(segments)
        .mark_rect(opacity=0.18)
        .encode(
            x=alt.X("start_s:Q", title="time (s)"),
            x2="end_s:Q",
            color=alt.Color("label:N", scale=colours, legend=None),
            tooltip=["label", "start_s", "end_s", "mean_confidence"],
        )
        .add_params(pick)
    )
    lines = (
        alt.Chart(long)
        .mark_line()
        .encode(
            x="t:Q",
            y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class:N", scale=colours),
        )
    )
    return (bands + lines).properties(height=260)


def seek_to(seconds: float) -> None:
    st.session_state.seek = int(seconds)


st.title("Timeline of a long video")
s = settings()
job_id = st.query_params.get("job") or (st.session_state.get("job") or {}).get("id")

upload = st.file_uploader("A long video (mp4, avi, mov, mkv, webm)", type=["mp4", "avi", "mov", "mkv", "webm"])
data = upload.getvalue() if upload is not None else None
if data is not None and st.session_state.get("timeline_video") != digest(data):
    # A new video: forget the last one's job and position.
    st.session_state.update(timeline_video=digest(data), job=None, seek=0)
    st.query_params.pop("job", None)
    job_id = None

if data is not None:
    try:
        preview, mime, transcoded = clip_preview(data, upload.name)
        st.video(preview, format=mime, start_time=st.session_state.get("seek", 0))
        if transcoded:
            st.caption("Your browser can't play this format: this preview is an H.264 copy.")
    except Exception as exc:  # the API judges the file itself
        st.warning(f"No preview for this file ({exc}).")
elif not job_id:
    st.info(
        "Upload a recording to see when each action happens in it: windows of a few seconds are classified "
        "along the whole file and joined into segments. Files beyond this page's upload limit: "
        "`clipwatch timeline FILE --api URL`."
    )
    st.stop()

if data is not None and not job_id:
    with st.form("timeline_options"):
        c1, c2, c3 = st.columns(3)
        window = c1.number_input("Window (s)", 0.5, 120.0, float(s.timeline_window_s), 0.5)
        stride = c2.number_input("Stride (s)", 0.1, 120.0, float(s.timeline_stride_s), 0.25)
        smooth = c3.number_input("Smoothing (windows)", 1, 15, int(s.timeline_smooth_windows))
        go = st.form_submit_button("Make the timeline", type="primary", disabled=not signed_in())
    if not signed_in():
        st.info("Sign in (in the sidebar) to make timelines.")
    if go:
        try:
            job = api().start_timeline(io.BytesIO(data), len(data), upload.name, window, stride, smooth=int(smooth))
            st.session_state.job = job
            st.query_params["job"] = job["id"]
            st.rerun()
        except ApiError as exc:
            st.error(f"The timeline was not started: {exc}")
    st.stop()

job = st.session_state.get("job")
if not job or job.get("id") != job_id or job["status"] not in FINISHED:
    try:
        job = api().job(job_id)
        st.session_state.job = job
    except ApiError as exc:
        st.error(f"No such job: {exc}")
        st.query_params.pop("job", None)
        st.stop()

st.caption(
    f"Job `{job['id']}` · {job.get('filename') or 'video'} · {job['window_s']:g} s windows every {job['stride_s']:g} s"
)
if job["status"] not in FINISHED:
    follow(job["id"])
    st.stop()
if job["status"] != "done":
    st.error(f"The timeline {job['status']}: {job.get('error') or 'no reason given'}")
    st.stop()

result = job["result"]
segments = result["segments"]
st.subheader(f"{len(segments)} segments, {len(result['windows'])} windows · model {result['model_version']}")
event = st.altair_chart(probabilities_chart(result), width="stretch", on_select="rerun", key="timeline_chart")
picked = (event or {}).get("selection", {}).get("segment") if event else None
if picked:
    start = picked[0].get("start_s")
    if start is not None and int(start) != st.session_state.get("seek"):
        seek_to(start)
        st.rerun()
st.caption("Click a band, or a segment below, to play the video from there.")

cols = st.columns(4)
for i, seg in enumerate(segments[:200]):
    label = f"{clock(seg['start_s'])}–{clock(seg['end_s'])} {seg['label']} ({seg['mean_confidence']:.0%})"
    cols[i % 4].button(label, key=f"seg{i}", on_click=seek_to, args=(seg["start_s"],), width="stretch")
if len(segments) > 200:
    st.caption(f"{len(segments) - 200} more segments: download the CSV for all of them.")
try:
    st.download_button(
        "Download every window (CSV)",
        api().job_csv(job["id"]),
        file_name=f"{(job.get('filename') or 'timeline').rsplit('.', 1)[0]}-timeline.csv",
        mime="text/csv",
    )
except ApiError as exc:
    st.caption(f"CSV unavailable: {exc}")

st.subheader("Correct a window")
if not signed_in():
    st.info("Sign in (in the sidebar) to send feedback: it becomes training data.")
    st.stop()
windows = result["windows"]
seek = st.session_state.get("seek", 0)
nearest = min(range(len(windows)), key=lambda i: abs(windows[i]["start_s"] - seek))
with st.form("window_feedback"):
    w = st.selectbox(
        "Window",
        range(len(windows)),
        index=nearest,
        format_func=lambda i: (
            f"{i}: {clock(windows[i]['start_s'])}–{clock(windows[i]['end_s'])} "
            f"predicted {windows[i]['label']} ({windows[i]['confidence']:.0%})"
        ),
    )
    classes = result["classes"]
    target = st.selectbox("True action", classes, index=classes.index(windows[nearest]["label"]))
    sent = st.form_submit_button("Send window feedback")
if sent:
    try:
        fb = api().window_feedback(job["id"], int(w), target)
        st.success(
            saved_text(fb) + (" This row triggered a retrain: see the Model page." if fb["retrain_triggered"] else "")
        )
    except ApiError as exc:
        st.error(f"Feedback not saved: {exc}")
