"""Overview: the selected releases (status, inputs, time), their galaxies with class counts per
method, and the database's history. Every number follows the sidebar: its releases and galaxy."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, state, ui

sel = state.current()
ctx = sel.context
st.title("Overview")
if ctx.releases.empty:
    ui.require_releases(sel)
ids = sel.scope.release_ids or tuple(ctx.shown["release_id"])
ov = cache.overview(sel.url, sel.token, ids)

rel = ov.releases
galaxy = sel.scope.galaxy
galaxies, counts = ov.galaxies, ov.class_counts
if galaxy is not None:
    galaxies = galaxies[galaxies["galaxy"] == galaxy]
    counts = counts[counts["galaxy"] == galaxy]
st.caption(ui.scope_caption(sel).rsplit(" · ", 2)[0])
totals = ov.totals(galaxy)
per_release = {ctx.label(r): ov.totals(galaxy, (r,)) for r in ids}


def _per_release(what: str) -> str:
    if len(per_release) < 2:
        return ""
    return " Summed over the selected releases; per release: " + ", ".join(
        f"{label} {t[what]:,}" for label, t in per_release.items()
    )


c1, c2, c3, c4 = st.columns(4)
c1.metric("Releases selected", f"{totals['releases']:,}",
          help="release versions chosen in the sidebar (with sources here)")  # fmt: skip
c2.metric("Sources in them", f"{totals['sources']:,}",
          help="rows of cluster_catalogue_all in the selected releases and galaxy."
          + _per_release("sources"))  # fmt: skip
c3.metric("Galaxies", f"{totals['galaxies']:,}", help="in the selected releases")
c4.metric(
    "Classifications", f"{totals['classifications']:,}",
    help="source × method rows of source_classes_all in the selected releases and galaxy."
    + _per_release("classifications"),
)  # fmt: skip

st.subheader("Releases")


def _release_table(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "release": frame["release"],
            "version": frame["version"],
            "survey": frame["survey"],
            "status": frame["status"],
            "pipeline": frame["pipeline_version"],
            "reader": frame["reader"] + " " + frame["reader_version"].fillna(""),
            "input files": frame["n_files"],
            "sources": frame["n_sources"],
            "classes attached": frame["n_classifications_delivered"],
            "default SED method": frame["default_sed_method"],
            "supersedes": frame["supersedes"],
            "ingested (UTC)": frame["ingested_at"],
            "ingest time (s)": (frame["completed_at"] - frame["ingested_at"]).dt.total_seconds(),
            "content SHA-256": frame["content_sha256"].str[:12],
        }
    )


RELEASE_COLUMNS = {
    "ingested (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "ingest time (s)": st.column_config.NumberColumn(format="%.1f"),
}
chosen = rel[rel["release_id"].isin(ids)]
st.dataframe(_release_table(chosen), hide_index=True, column_config=RELEASE_COLUMNS)
with st.expander(f"Every release in the database ({len(rel):,})"):
    st.dataframe(_release_table(rel), hide_index=True, column_config=RELEASE_COLUMNS)
files = ov.files[ov.files["release_id"].isin(ids)]
with st.expander(f"Input files of the selected releases ({len(files):,})"):
    st.dataframe(files.assign(sha256=files["sha256"].str[:16]).drop(columns=["release_id"]),
                 hide_index=True)  # fmt: skip

st.subheader("Galaxies: classified sources per class and method")
methods_shown = list(sel.scope.methods) or sorted(counts["method"].unique())
every = st.toggle("All methods", value=False, key="ov_all", help="Else the sidebar's methods.")
if not every:
    counts = counts[counts["method"].isin(methods_shown)]
wide = counts.pivot_table(
    index=["galaxy", "release"], columns=["method", "class"], values="n", aggfunc="sum"
)
wide.columns = [f"{m} · C{c}" for m, c in wide.columns]
table = galaxies.set_index(["galaxy", "release"])[["distance_mpc", "fields", "n_sources", "n_sed"]]
st.dataframe(
    table.join(wide, how="left").fillna(0).reset_index(),
    hide_index=True,
    column_config={
        "distance_mpc": st.column_config.NumberColumn("distance (Mpc)", format="%.2f"),
        "n_sources": "sources",
        "n_sed": "with SED fit",
    },
)
if not counts.empty:
    options = counts.groupby("method")["n"].sum().sort_values(ascending=False).index.tolist()
    method = state.selectbox(st, "Method shown in the chart", options, options[0], "ov_m")
    fig, drawn = cache.overview_figure(sel.url, sel.token, tuple(ids), method, galaxy)
    if counts["release"].nunique() > 1:
        st.caption("One bar per galaxy and release: versions and releases stand side by side, "
                   "never added together.")  # fmt: skip
    ui.figure(fig, drawn.rows, "overview_class_counts", view=drawn.view, units=drawn.units,
              key="ov_chart", sql=drawn.sql, params=drawn.params)  # fmt: skip
else:
    st.info("No source of the selection is classified by these methods: nothing to chart. "
            "Tick 'All methods' or choose methods in the sidebar.")  # fmt: skip

st.subheader("Ingest history")
with st.expander("Every ingest, newest first, and the processing and cross-match runs"):
    history = rel.sort_values("ingested_at", ascending=False)[
        ["ingested_at", "completed_at", "release", "version", "status", "reader", "notes"]
    ]
    st.dataframe(history, hide_index=True)
    if not ov.runs.empty:
        st.caption("Processing runs")
        st.dataframe(ov.runs, hide_index=True)
    if not ov.crossmatch_runs.empty:
        st.caption("Cross-match runs")
        st.dataframe(ov.crossmatch_runs, hide_index=True)
