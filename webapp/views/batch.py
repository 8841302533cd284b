"""Batch: many clips through /predict/batch, a table, a CSV."""

import pandas as pd
import streamlit as st
from common import ApiError, api

CHUNK = 4  # clips per request: small enough for a progress bar that moves

st.title("Batch scoring")
uploads = st.file_uploader(
    "Clips (mp4, avi, mov, mkv, webm)", type=["mp4", "avi", "mov", "mkv", "webm"], accept_multiple_files=True
)
if not uploads:
    st.info("Upload several clips to score them in one go.")
    st.stop()

if st.button(f"Score {len(uploads)} clips", type="primary"):
    rows, bar = [], st.progress(0.0, text="Scoring…")
    for start in range(0, len(uploads), CHUNK):
        chunk = uploads[start : start + CHUNK]
        try:
            result = api().predict_batch((u.name, u.getvalue()) for u in chunk)
            for u, item in zip(chunk, result["items"], strict=True):
                p = item.get("prediction") or {}
                rows.append(
                    {
                        "file": u.name,
                        "label": p.get("label"),
                        # An unfamiliar clip's confidence means nothing: it is left out, and said so.
                        "confidence": None if p.get("familiar") is False else p.get("confidence"),
                        "familiar": p.get("familiar"),
                        "model_version": p.get("model_version"),
                        "error": item.get("error"),
                    }
                )
        except ApiError as exc:
            rows += [
                {
                    "file": u.name,
                    "label": None,
                    "confidence": None,
                    "familiar": None,
                    "model_version": None,
                    "error": str(exc),
                }
                for u in chunk
            ]
        done = min(start + CHUNK, len(uploads))
        bar.progress(done / len(uploads), text=f"Scored {done} of {len(uploads)}")
    st.session_state.batch = pd.DataFrame(rows)

table = st.session_state.get("batch")
if table is not None:
    failed = int(table["error"].notna().sum())
    unfamiliar = int((table["familiar"] == False).sum())  # noqa: E712 (a column of True/False/None)
    st.write(f"{len(table) - failed} scored, {failed} failed.")
    if unfamiliar:
        st.warning(
            f"{unfamiliar} clip(s) are unlike anything the model learned from (familiar: False): their labels "
            "are guesses. Feedback with the right action names teaches the model."
        )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"confidence": st.column_config.ProgressColumn(min_value=0, max_value=1, format="%.2f")},
    )
    st.download_button("Download CSV", table.to_csv(index=False), "clipwatch_batch.csv", "text/csv")
