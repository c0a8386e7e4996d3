"""Overview: releases (status, inputs, time), galaxies with class counts per method, history."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, plots, state, ui

sel = state.current()
ctx = sel.context
st.title("Overview")
if ctx.releases.empty:
    ui.require_releases(sel)
ids = sel.scope.release_ids or tuple(ctx.shown["release_id"])
ov = cache.overview(sel.url, sel.token, ids)

rel = ov.releases
visible = rel[rel["visible"]]
galaxy = sel.scope.galaxy
galaxies, counts = ov.galaxies, ov.class_counts
if galaxy is not None:
    galaxies = galaxies[galaxies["galaxy"] == galaxy]
    counts = counts[counts["galaxy"] == galaxy]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Complete releases", f"{len(visible):,}", help="status complete or superseded")
c2.metric("Sources in them", f"{int(visible['n_sources'].sum()):,}")
c3.metric("Galaxies", f"{ov.galaxies['galaxy'].nunique():,}", help="in the selected releases")
c4.metric(
    "Classifications", f"{int(ov.class_counts['n'].sum()):,}",
    help="source × method pairs in the selected releases",
)  # fmt: skip

st.subheader("Releases")
table = pd.DataFrame(
    {
        "release": rel["release"],
        "version": rel["version"],
        "survey": rel["survey"],
        "status": rel["status"],
        "pipeline": rel["pipeline_version"],
        "reader": rel["reader"] + " " + rel["reader_version"].fillna(""),
        "input files": rel["n_files"],
        "sources": rel["n_sources"],
        "classes attached": rel["n_classifications_delivered"],
        "default SED method": rel["default_sed_method"],
        "supersedes": rel["supersedes"],
        "ingested (UTC)": rel["ingested_at"],
        "ingest time (s)": (rel["completed_at"] - rel["ingested_at"]).dt.total_seconds(),
        "content SHA-256": rel["content_sha256"].str[:12],
    }
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "ingested (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "ingest time (s)": st.column_config.NumberColumn(format="%.1f"),
    },
)
with st.expander(f"Input files ({len(ov.files):,})"):
    files = ov.files.assign(sha256=ov.files["sha256"].str[:16])
    st.dataframe(files.drop(columns=["release_id"]), hide_index=True)

st.subheader("Galaxies: classified sources per class and method")
st.caption(ui.scope_caption(sel).rsplit(" · ", 2)[0])
methods_shown = list(sel.scope.methods) or sorted(counts["method"].unique())
every = st.toggle("All methods", value=False, key="ov_all", help="Else the sidebar's methods.")
if not every:
    counts = counts[counts["method"].isin(methods_shown)]
wide = counts.pivot_table(
    index=["galaxy", "release"], columns=["method", "class"], values="n", aggfunc="sum"
)
wide.columns = [f"{m} · C{c}" for m, c in wide.columns]
galaxies = galaxies.set_index(["galaxy", "release"])[
    ["distance_mpc", "fields", "n_sources", "n_sed"]
]
st.dataframe(
    galaxies.join(wide, how="left").fillna(0).reset_index(),
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
    ui.chart(plots.class_counts_figure(counts, method))

st.subheader("Ingest history")
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
