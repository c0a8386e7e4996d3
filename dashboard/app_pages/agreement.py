"""Agreement between two classifications: fractions, confusion matrices, vs magnitude (W21 §4)."""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, plots, state, ui

sel = state.current()
st.title("Agreement between classifications")
ui.require_releases(sel)
ui.require_methods(sel, minimum=2)
st.caption(ui.scope_caption(sel).replace(f"Class {sel.scope.class_set} · ", ""))
keys = sel.context.keys(sel.scope)
options = keys["key"].tolist()
c1, c2, c3 = st.columns([2, 2, 1])
key_a = state.selectbox(c1, "Method A", options, options[0], "ag_a")
key_b = state.selectbox(c2, "Method B", options, options[1], "ag_b")
n_bins = c3.number_input("Magnitude bins", 2, 10, 4, key="ag_bins", bind="query-params")
radius = 0.08
rel_a = int(keys.loc[keys["key"] == key_a, "release_id"].iloc[0])
rel_b = int(keys.loc[keys["key"] == key_b, "release_id"].iloc[0])
if rel_a != rel_b:
    stored = len(cache.crossmatch_runs(sel.url, sel.token, (rel_a, rel_b))) > 0
    radius = st.number_input(
        "Match radius (arcsec) for methods of two releases", 0.01, 2.0, 0.08, 0.01,
        format="%.3f", key="ag_r", bind="query-params", disabled=stored,
        help="The newest stored cross-match run of the two releases is used when there is "
        "one; else they are matched now within this radius (W21: 2 px of 0.0396″).",
    )  # fmt: skip
if key_a == key_b:
    st.warning("Choose two different methods.")
    st.stop()
ad = cache.agreement(sel.url, sel.token, sel.scope, key_a, key_b, int(n_bins), float(radius))
ui.notices(ad.notices)
fr = ad.fractions.set_index("class_set")["agreement"]
m1, m2, m3 = st.columns(3)
m1.metric("Sources classified by both", f"{ad.n_pairs:,}", help=f"compared on {ad.via}")
m2.metric("Agreement, Class 1+2", "–" if fr.isna().get("1+2", True) else f"{fr['1+2']:.2f}")
m3.metric("Mean of classes 1–4", "–" if fr.isna().iloc[-1] else f"{fr.iloc[-1]:.2f}")

st.subheader("Agreement fractions (W21 Table 1)")
st.caption(
    f"A = {key_a}, B = {key_b}, on {ad.via}. f_k = ½ (N_both/N_A + N_both/N_B): neither "
    "method is taken as the truth."
)
left, right = st.columns([3, 2])
frac = st.column_config.NumberColumn(format="%.3f")
left.dataframe(
    ad.fractions,
    hide_index=True,
    column_config={"frac_a": frac, "frac_b": frac, "agreement": frac,
                   "class_set": "class set", "n_both": "N both"},
)  # fmt: skip
with right:
    ui.chart(plots.agreement_bars(ad.fractions, f"A: {key_a}<br>B: {key_b}"))

st.subheader("Confusion matrices (W21 Fig. 21)")
ui.chart(plots.confusion_figure(ad.confusion, ad.symmetric, key_a, key_b))
st.subheader("Agreement vs magnitude (W21 Fig. 6)")
if len(ad.binned):
    ui.chart(plots.agreement_vs_magnitude(ad.binned))
st.subheader("Every pair of methods on the same sources (W21 Table 1)")
if ad.all_pairs.empty:
    st.info("No two of the chosen methods classified the same sources.")
else:
    st.dataframe(
        ad.all_pairs,
        hide_index=True,
        column_config={
            c: frac for c in ad.all_pairs.columns if c not in ("method A", "method B", "n")
        },
    )
