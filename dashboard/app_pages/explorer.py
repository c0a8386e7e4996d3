"""Source explorer: a filterable table whose rows open the source page, twins in another
release, CSV.

A row opens its source (``app_pages/source.py?src=<source_pk>``): click its key, or select
the row. An old link to ``explorer?src=<pk>`` forwards to the source page.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, state, ui

LIMIT = 5000
NONE = "(none)"

sel = state.current()
ctx = sel.context
forwarded = st.query_params.get("src")
if forwarded and str(forwarded).isdigit():  # an old link to a source shown here: forward it
    st.switch_page(ui.SOURCE_PAGE, query_params={"src": str(forwarded)})
st.title("Source explorer")
ui.require_releases(sel)
st.caption(ui.scope_caption(sel).rsplit(" · ", 1)[0] + " · V range below (no M_V cut here)")


def links(source_pks: pd.Series) -> pd.Series:
    """Relative URLs of the source page of each source, keeping the sidebar selection."""
    params = {k: st.query_params.get_all(k) for k in ("rel", "gal", "meth", "cls", "mvcut", "mv")}
    base = "source?" + urlencode({k: v for k, v in params.items() if v}, doseq=True)
    pks = pd.to_numeric(source_pks, errors="coerce").astype("Int64").astype("string")
    return (base + ("&" if base[-1] != "?" else "") + "src=" + pks).astype("string")


c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
v_lo = c1.number_input("V from (mag)", 10.0, 35.0, 14.0, 0.5, key="ex_vlo", bind="query-params")
v_hi = c2.number_input("V to (mag)", 10.0, 35.0, 30.0, 0.5, key="ex_vhi", bind="query-params")
classified = c3.checkbox(
    f"Class {sel.scope.class_set} only", True, key="ex_cls", bind="query-params",
    help="Keep sources that one of the sidebar's methods puts in the class set.",
)  # fmt: skip
twin_label = state.selectbox(
    c4, "Cross-matched twin in", [NONE, *ctx.shown["label"]], NONE, "ex_twin",
    help="One-to-one match (stored run if there is one, else computed within the radius).",
)  # fmt: skip
radius = 0.08
if twin_label != NONE:
    radius = st.number_input(
        "Twin radius (arcsec)", 0.01, 2.0, 0.08, 0.01, format="%.3f", key="ex_r",
        bind="query-params",
    )  # fmt: skip


def twins_of(release_ids: list[int], source_pks: list[int], galaxy: str | None) -> pd.DataFrame:
    """Twin of each source in the chosen release: a stored cross-match run if there is one,
    else one computed within the radius (both cached)."""
    twin_rel = int(ctx.shown.set_index("label").loc[twin_label, "release_id"])
    runs = cache.crossmatch_runs(sel.url, sel.token, (*release_ids, twin_rel))
    parts = []
    for rel in sorted(set(release_ids) - {twin_rel}):  # a loop over the few releases shown
        stored = runs[
            ((runs["release_a_id"] == rel) & (runs["release_b_id"] == twin_rel))
            | ((runs["release_a_id"] == twin_rel) & (runs["release_b_id"] == rel))
        ]
        run_id = int(stored["run_id"].iloc[0]) if len(stored) else None
        xd = cache.crossmatch(
            sel.url, sel.token, rel, twin_rel, galaxy, None, None, float(radius), run_id
        )
        parts.append(data.twins(xd, source_pks).dropna(subset=["twin_pk"]))
    found = pd.concat(parts) if parts else pd.DataFrame(columns=["twin_pk", "twin_source_id"])
    return found[~found.index.duplicated()]


ed = cache.explorer(
    sel.url, sel.token, sel.scope, (float(v_lo), float(v_hi)), bool(classified), None, LIMIT
)
ui.notices(ed.notices)
rows = ed.rows.copy()
if twin_label != NONE and not rows.empty:
    twins = twins_of(list(sel.scope.release_ids), rows["source_pk"].tolist(), sel.scope.galaxy)
    rows["twin"] = rows["source_pk"].map(twins["twin_source_id"])
    rows["twin separation (arcsec)"] = rows["source_pk"].map(twins["separation_arcsec"])
    rows["twin link"] = links(rows["source_pk"].map(twins["twin_pk"]))
rows.insert(0, "open", links(rows["source_pk"]))

st.subheader(
    f"The {LIMIT:,} brightest matching sources (narrow the filters to see the rest)"
    if ed.truncated
    else f"{len(rows):,} sources"
)
columns = ["open", "release", "galaxy", "field", "source_id", "ra", "dec", "mag_nuv", "mag_u",
           "mag_b", "mag_v", "mag_i", "ci", "log_age", "log_mass", "ebv"]  # fmt: skip
columns += [c for c in rows.columns if c.startswith("class: ")]
columns += [c for c in ("twin", "twin separation (arcsec)", "twin link") if c in rows.columns]
labels = {"mag_nuv": "NUV", "mag_u": "U", "mag_b": "B", "mag_v": "V", "mag_i": "I", "ci": "CI"}
st.caption("Magnitudes: total, Vega (mag); CI = m(1 px) − m(3 px) (mag). Click a key, or "
           "select a row, to open the source's page; the twin column opens its cross-matched "
           "counterpart.")  # fmt: skip
event = st.dataframe(
    rows[columns] if len(rows) else rows,
    hide_index=True,
    height=460,
    key="ex_table",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "open": st.column_config.LinkColumn("key", display_text=r"src=(\d+)"),
        "twin link": st.column_config.LinkColumn("twin (open)", display_text=r"src=(\d+)"),
        "ra": st.column_config.NumberColumn("RA (deg)", format="%.6f"),
        "dec": st.column_config.NumberColumn("Dec (deg)", format="%.6f"),
        **{c: st.column_config.NumberColumn(lbl, format="%.3f") for c, lbl in labels.items()},
        "log_age": st.column_config.NumberColumn("log τ (yr)", format="%.2f"),
        "log_mass": st.column_config.NumberColumn("log M (M☉)", format="%.2f"),
        "ebv": st.column_config.NumberColumn("E(B−V)", format="%.2f"),
    },
)
chosen = list(getattr(getattr(event, "selection", None), "rows", None) or [])
if chosen and len(rows):  # a selected row opens its source
    picked = int(rows["source_pk"].iloc[int(chosen[0])])
    st.switch_page(ui.SOURCE_PAGE, query_params={"src": str(picked)})
st.download_button(
    "Download CSV",
    rows.drop(columns=["open", "twin link"], errors="ignore").to_csv(index=False),
    file_name="clustercat_sources.csv",
    mime="text/csv",
)
