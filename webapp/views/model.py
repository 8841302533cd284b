"""Model: the live version, its metrics, the retrain history and the confusion matrix."""

import pandas as pd
import streamlit as st
from auth import require_sign_in
from common import model_info, settings

st.title("Model")
require_sign_in("see the model, its history and its metrics")
info = model_info()
if info is None:
    st.stop()

m = info["metrics"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Live version", info["version"])
c2.metric("Macro F1", f"{m.get('macro_f1', float('nan')):.3f}")
c3.metric("Balanced accuracy", f"{m.get('balanced_accuracy', float('nan')):.3f}")
c4.metric("Accuracy", f"{m.get('accuracy', float('nan')):.3f}")
st.caption(
    f"Measured by {m.get('evaluation', 'cross-validation')}. Classes: {', '.join(info['classes'])}. "
    f"Retrain every {info['retrain_every_k']} feedback rows, policy '{info['policy']}', mode '{info['mode']}'."
)
e, training = info["embedding"], info.get("training", {})
st.caption(
    f"Clip vector: K={e['num_frames']} segments, {e.get('stream', 'rgb')} stream, {e['pooling']} pooling, "
    f"{e['dim']} values; "
    f"classifier: {training.get('classifier', 'random-forest')}."
)
if m.get("guard"):
    st.caption(
        f"On the guard set (ref_data.csv rows no version trains on): macro F1 {m['guard']['macro_f1']:.3f}, "
        f"accuracy {m['guard']['accuracy']:.3f}."
    )
# Actions users have named in feedback that the live model does not know yet: the next retrain trains them in.
pending = {a: n for a, n in info.get("feedback_actions", {}).items() if a not in info["classes"]}
if pending:
    listed = ", ".join(f"{a} ({n} row{'s' if n != 1 else ''})" for a, n in sorted(pending.items()))
    st.info(
        f"Actions known only from feedback so far: {listed}. The next retrain trains them in "
        f"(every {info['retrain_every_k']} feedback rows); a few clips each make them reliable."
    )
r = info["retrain"]
if r["running"] or r["pending"]:
    st.info(f"A retrain is running ({r['pending']} more queued).")

scores = pd.DataFrame(info.get("version_scores", []))
st.subheader("Macro F1 by version")
if len(scores) < 2:
    # One point draws no line: say what will appear, and when, instead of an empty chart.
    st.caption(
        f"One version so far ({info['version']}). A line per figure appears here once a retrain publishes a "
        f"second one: every {info['retrain_every_k']} feedback rows, or when drift or a performance drop "
        "triggers one."
    )
else:
    # guard_f1: every version on the same guard rows, the one figure comparable across versions.
    cols = [c for c in ("macro_f1", "guard_f1") if c in scores and scores[c].notna().any()]
    st.line_chart(scores.set_index("version")[cols], height=220)

st.subheader("Retrain history")
st.caption(
    "Champion and challenger are scored on the feedback rows newer than the champion (`_f1`) and, under "
    "`if_better`, on the guard set (`_guard_f1`), where the challenger may lose at most CLIPWATCH_GUARD_TOLERANCE."
)
history = pd.DataFrame(info["history"])
if history.empty:
    st.write("No retrain yet: one runs every", info["retrain_every_k"], "feedback rows, or as RETRAIN_TRIGGERS says.")
else:
    cols = [
        "started_at",
        "trigger",
        "trigger_reason",
        "outcome",
        "champion_version",
        "champion_f1",
        "challenger_f1",
        "champion_guard_f1",
        "challenger_guard_f1",
        "new_version",
        "holdout_rows",
        "duration_s",
        "mode",
        "reason",
    ]
    st.dataframe(history[[c for c in cols if c in history]].iloc[::-1], hide_index=True, width="stretch")

cal = m.get("calibration")
if cal and cal.get("reliability"):
    st.subheader("Calibration")
    st.caption(
        f"Probabilities are divided by a temperature of {cal['temperature']:.2f} fitted on predictions of clips "
        f"each model had not trained on ({cal.get('protocol', 'out of fold')}). Expected calibration error over "
        f"{cal.get('bins', 15)} bins: {cal.get('ece_uncalibrated', float('nan')):.3f} before, {cal['ece']:.3f} after; "
        "on the diagonal, a confidence of 80% is right 80% of the time."
    )
    bins = pd.DataFrame(cal["reliability"])
    bins["perfect"] = bins["confidence"]
    st.line_chart(bins.set_index("confidence")[["accuracy", "perfect"]], height=220, x_label="confidence")

if m.get("confusion_matrix"):
    st.subheader("Confusion matrix (rows: true, columns: predicted)")
    cm = pd.DataFrame(m["confusion_matrix"], index=info["classes"], columns=info["classes"])
    st.dataframe(cm.style.background_gradient(cmap="Blues", axis=None), width="stretch")

s = settings()
st.markdown(f"[Drift and quality reports]({s.reporting_url}) · [Grafana dashboards]({s.grafana_url})")
st.caption(
    "The reports compare the feedback rows with ref_data.csv, so their panels stay blank until feedback "
    "arrives (ten rows): send some from the Classify page. They run every few minutes and after each retrain."
)
