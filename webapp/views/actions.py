"""Your actions: teach the model your own actions from a few clips each, estimate, train and deploy, switch back."""

import time

import pandas as pd
import streamlit as st
from auth import require_sign_in
from common import ApiError, api, forget_model

CHUNK = 4  # clips per request: a progress bar that moves, and each request well within the upload limits
POLL_S, JOB_WAIT_S = 1.0, 900
TYPES = ["mp4", "avi", "mov", "mkv", "webm", "zip"]

st.title("Your actions")
require_sign_in("teach the model your own actions")
st.caption(
    "Name your actions, drop a few clips of each (or one zip with a folder per action), estimate how well the "
    "model tells them apart, then train and deploy. Clips cut from one recording look alike: name the recording "
    "each clip comes from, and the estimate keeps every recording on one side of each split, as it would meet "
    "new footage. Deploying replaces the actions the model knows; switching back is one click."
)


@st.cache_data(max_entries=512, show_spinner=False)
def still(project: str, clip_id: str) -> bytes | None:
    try:
        return api().thumbnail(project, clip_id)
    except ApiError:
        return None


def wait_for(project: str, job: dict, what: str) -> dict:
    """Poll a job to its end, saying where it runs (the API, or the trainer when the API's artifacts are read-only)."""
    where = "the trainer" if job.get("runs_in") == "trainer" else "the API"
    with st.spinner(f"{what} (running in {where})…"):
        deadline = time.monotonic() + JOB_WAIT_S
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(POLL_S)
            job = api().project_job(project, job["id"])
    return job


def show_estimate(est: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy", f"{est['accuracy']:.3f}")
    c2.metric("Balanced accuracy", f"{est['balanced_accuracy']:.3f}")
    c3.metric("Macro F1", f"{est['macro_f1']:.3f}")
    st.caption(f"Measured by {est['evaluation']}, on {est['clips']} clips.")
    if est["protocol"].startswith("random"):
        st.warning(
            "Random folds put clips of one recording on both sides of a split, so this figure may be too "
            "high: name each clip's recording (two per action at least) for an honest one."
        )
    st.dataframe(
        pd.DataFrame(est["confusion_matrix"], index=est["classes"], columns=est["classes"]),
        width="stretch",
    )
    st.caption("Confusion matrix: rows are the true action, columns what the model said.")
    cal = est.get("calibration") or {}
    if cal.get("reliability"):
        bins = pd.DataFrame(cal["reliability"])
        bins["perfect"] = bins["confidence"]
        st.line_chart(bins.set_index("confidence")[["accuracy", "perfect"]], height=200, x_label="confidence")
        st.caption(
            f"Calibration: expected calibration error {cal['ece']:.3f} after temperature scaling "
            f"({cal['ece_uncalibrated']:.3f} before); on the diagonal, 80% confidence is right 80% of the time."
        )


# Which project
try:
    names = [p["name"] for p in api().projects()["projects"]]
except ApiError as exc:
    st.error(f"Can't reach the API: {exc}")
    st.stop()
with st.expander("New project", expanded=not names), st.form("new_project", clear_on_submit=True):
    new_name = st.text_input("Project name", placeholder="e.g. warehouse", help="lower-case letters, digits, - or _")
    if st.form_submit_button("Create") and new_name:
        try:
            api().create_project(new_name.strip())
            st.session_state.project = new_name.strip()
            st.rerun()
        except ApiError as exc:
            st.error(str(exc))
if not names:
    st.stop()
current = st.session_state.get("project")
project = st.selectbox("Project", names, index=names.index(current) if current in names else 0)
st.session_state.project = project

# Add clips
with st.form("add_clips", clear_on_submit=True):
    st.subheader("Add clips")
    action = st.text_input("Action", placeholder="e.g. fall", help="not needed for a zip with a folder per action")
    uploads = st.file_uploader("Clips, or a zip of <action>/<clip> folders", type=TYPES, accept_multiple_files=True)
    recording = st.text_input("Recording they were cut from (optional)", placeholder="e.g. camera 2, monday")
    by_name = st.checkbox("Name each clip's recording from its file name (up to the last _ or -)")
    submitted = st.form_submit_button("Add clips", type="primary")
if submitted and uploads:
    bar, failed, added = st.progress(0.0, text="Uploading and embedding…"), [], 0
    for start in range(0, len(uploads), CHUNK):
        chunk = uploads[start : start + CHUNK]
        try:
            out = api().add_clips(project, [(u.name, u.getvalue()) for u in chunk], action, recording, by_name)
            added += len(out["added"])
            failed += [f"{f['filename']}: {f['error']}" for f in out["failed"]]
        except ApiError as exc:
            failed += [f"{u.name}: {exc}" for u in chunk]
        done = min(start + CHUNK, len(uploads))
        bar.progress(done / len(uploads), text=f"Embedded {done} of {len(uploads)} files")
    st.success(f"Added {added} clip(s).") if added else None
    for line in failed:
        st.error(line)

# What the project holds
view = api().project(project)
actions = view["actions"]
if not actions:
    st.info("No clips yet: add a few clips of each action (two actions at least, from two recordings each).")
    st.stop()
st.subheader("Actions")
for a in actions:
    needs = "; ".join(a["needs"]) or "ready"
    recordings = f"{a['recordings']} recording{'' if a['recordings'] == 1 else 's'}"
    with st.expander(f"{a['action']}: {a['clips']} clips, {recordings} ({needs})"):
        mine = [c for c in view["clips"] if c["action"] == a["action"]]
        cols = st.columns(6)
        for i, c in enumerate(mine[:60]):
            with cols[i % 6]:
                image = still(project, c["id"])
                if image:
                    st.image(image, caption=f"{c['filename']} ({c['recording'] or 'no recording'})")
                if st.button("Remove", key=f"rm-{c['id']}"):
                    api().remove_clip(project, c["id"])
                    st.rerun()
        if len(mine) > 60:
            st.caption(f"and {len(mine) - 60} more")
        if st.button(f"Remove every clip of {a['action']}", key=f"rm-action-{a['action']}"):
            api().remove_action(project, a["action"])
            st.rerun()

# Estimate, deploy, switch back
left, right = st.columns(2)
if left.button("Estimate", help="grouped cross-validation on these clips; nothing is deployed"):
    try:
        job = wait_for(project, api().start_project_job(project, "estimate"), "Estimating")
        st.session_state.estimate = job
    except ApiError as exc:
        st.error(str(exc))
if right.button("Train and deploy", type="primary", help="train on these clips and make that model live"):
    try:
        job = wait_for(project, api().start_project_job(project, "deploy"), "Training and deploying")
        st.session_state.deploy = job
        forget_model()
    except ApiError as exc:
        st.error(str(exc))

est = st.session_state.get("estimate")
if est:
    if est["status"] == "done":
        st.subheader("Estimate")
        show_estimate(est["result"])
    else:
        st.error(f"The estimate {est['status']}: {est.get('error', 'it is still running')}")
dep = st.session_state.get("deploy")
if dep:
    result = dep.get("result") or {}
    if dep["status"] != "done":
        st.error(f"The deploy {dep['status']}: {dep.get('error', 'it is still running')}")
    elif result["outcome"] != "promoted":
        st.warning(f"Not deployed: {result['reason']}")
    else:
        st.success(f"{result['version']} is live: it knows {', '.join(result['classes'])}. Classify a clip to try it.")
        previous = result["previous_version"]
        if previous and st.button(f"Switch back to {previous}"):
            try:
                job = wait_for(project, api().start_project_job(project, "rollback", previous), "Switching back")
                forget_model()
                if job["status"] == "done":
                    st.session_state.pop("deploy")
                    st.success(f"{previous} is live again, with the reference set it was trained on.")
                else:
                    st.error(f"Could not switch back: {job.get('error', job['status'])}")
            except ApiError as exc:
                st.error(str(exc))
