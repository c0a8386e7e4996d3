"""ClusterCat dashboard: the Streamlit entry script (navigation and sidebar).

Run with ``clustercat dashboard [--database URL]`` (or ``streamlit run dashboard/app.py``
with ``CLUSTERCAT_DATABASE_URL`` set). Each page lives in ``app_pages/`` and reads the
sidebar selection through :func:`clustercat.dashboard.state.current`. (Not ``pages/``:
Streamlit would treat such a folder as a legacy multipage app.)
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from clustercat.dashboard import cache, state
from clustercat.schema.config import database_url

HERE = Path(__file__).parent

#: (file, title, url path, icon); the first page is the default, served at "/".
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("overview.py", "Overview", "overview", ":material/dashboard:"),
    ("colours.py", "Colour–colour", "colours", ":material/scatter_plot:"),
    ("quality.py", "Quality ratios", "quality", ":material/table_chart:"),
    ("agreement.py", "Agreement", "agreement", ":material/compare_arrows:"),
    ("functions.py", "Mass & age functions", "functions", ":material/show_chart:"),
    ("crossmatch.py", "Cross-match", "crossmatch", ":material/join_inner:"),
    ("explorer.py", "Source explorer", "explorer", ":material/table_rows:"),
    ("mci.py", "MCI plane", "mci", ":material/blur_on:"),
    ("completeness.py", "Completeness", "completeness", ":material/percent:"),
    ("ml.py", "Machine learning", "ml", ":material/neurology:"),
)


def main() -> None:
    st.set_page_config(page_title="ClusterCat", page_icon=":material/star:", layout="wide")
    navigation = st.navigation(
        [
            # the default page is served at "/" (Streamlit ignores its url_path)
            st.Page(HERE / "app_pages" / f, title=t, icon=i, default=True)
            if k == 0
            else st.Page(HERE / "app_pages" / f, title=t, url_path=p, icon=i)
            for k, (f, t, p, i) in enumerate(PAGES)
        ]
        # opened by a click on a source's point or a row of the explorer (``?src=<pk>``)
        + [
            st.Page(
                HERE / "app_pages" / "source.py",
                title="Source",
                url_path="source",
                icon=":material/star:",
                visibility="hidden",
            )
        ]  # fmt: skip
    )
    url = database_url()
    st.sidebar.header("ClusterCat · selection", divider="gray")
    problem = cache.problem(url)
    if problem:
        st.error(f"The dashboard cannot read this database: {problem}.")
        st.caption(f"Database URL: `{url}` (set it with `clustercat dashboard --database URL`).")
        st.stop()
    token = cache.token(url)
    ctx = cache.context(url, token)
    state.sidebar(url, token, ctx)
    if st.sidebar.button("Refresh", help="Re-read the database (forget cached results)."):
        cache.clear()
        st.rerun()
    navigation.run()


main()
