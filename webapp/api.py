"""clipwatch web app: `streamlit run webapp/api.py --server.port 8081` (api.py, as the course handout names it).

A thin client of the serving API (API_URL); all logic lives in the clipwatch package.
"""

import streamlit as st
from auth import sidebar

st.set_page_config(page_title="clipwatch", page_icon=":material/movie:", layout="wide")
sidebar()

pages = st.navigation(
    [
        st.Page("views/classify.py", title="Classify a clip", icon=":material/movie:", default=True),
        st.Page("views/batch.py", title="Batch", icon=":material/video_library:"),
        st.Page("views/timeline.py", title="Timeline", icon=":material/timeline:"),
        st.Page("views/actions.py", title="Your actions", icon=":material/school:"),
        st.Page("views/model.py", title="Model", icon=":material/monitoring:"),
    ]
)
pages.run()
