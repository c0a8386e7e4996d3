"""Agreement between two classifications: fractions, confusion matrices, vs magnitude (W21 §4)."""

from __future__ import annotations

import math

import streamlit as st
from clustercat.dashboard import cache, state, ui
from clustercat.processing.agreement import AGREEMENT_COLUMNS

#: The pairs download: columns of the crossmatch_pairs view, or source_classes for one release.
ROW_UNITS = {
    "field": "field (pointing) name (text)",
    "source_id": "source id within the release (id)",
    "source_pk": "source.id, key for joins with other tables (key)",
    "class_a": "class by method A: 1, 2, 3, 4 (code)",
    "class_b": "class by method B: 1, 2, 3, 4 (code)",
    "mag_v": "total V Vega magnitude of the (A) source, as in cluster_catalogue (mag)",
}

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
bars, confusion, vs_mag = cache.agreement_figures(
    sel.url, sel.token, sel.scope, key_a, key_b, int(n_bins), float(radius)
)
ui.notices(ad.notices)
fr = ad.fractions.set_index("class_set")


def _fraction(value: float, lo: float, hi: float) -> str:
    """``0.65 (+0.01 −0.02)``: a fraction with its binomial interval."""
    if not math.isfinite(value):
        return "–"
    return f"{value:.2f} (+{hi - value:.2f} −{value - lo:.2f})"


def _pairs_downloads(key: str) -> None:
    ui.downloads(ad.rows, f"agreement-pairs-{key_a}-{key_b}".replace(" ", ""),
                 view="crossmatch_pairs", units=ROW_UNITS, key=key, sql=ad.sql,
                 params=ad.params)  # fmt: skip


same = ad.same_class.iloc[0]
m1, m2, m3, m4 = st.columns(4)
m1.metric("Sources classified by both", f"{ad.n_pairs:,}", help=f"compared on {ad.via}")
m2.metric(
    "Same class (1–4)",
    "–" if not same["n"] else f"{same['fraction']:.1%}",
    help=f"{int(same['k']):,} of {int(same['n']):,} pairs; 1σ binomial (Wilson) interval "
    f"{same['fraction_lo']:.3f}–{same['fraction_hi']:.3f}",
)  # fmt: skip
one_two = fr.loc["1+2"] if "1+2" in fr.index else None
m3.metric(
    "Agreement, Class 1+2",
    "–" if one_two is None else _fraction(*one_two[["agreement", "agreement_lo", "agreement_hi"]]),
)  # fmt: skip
mean = fr["agreement"].get("mean", float("nan"))
m4.metric("Mean of classes 1–4", "–" if not math.isfinite(mean) else f"{mean:.2f}")
st.caption(
    "Errors: 1σ binomial intervals, Wilson score (processing.agreement.binomial_interval, "
    "astropy binom_conf_interval): N_both/N_A and N_both/N_B each get the interval of a "
    "binomial fraction, and the agreement f_k = ½ (N_both/N_A + N_both/N_B) the mean of the "
    "two (its two terms share N_both)."
)

st.subheader("Agreement fractions (W21 Table 1)")
st.caption(
    f"A = {key_a}, B = {key_b}, on {ad.via}. f_k = ½ (N_both/N_A + N_both/N_B): neither "
    "method is taken as the truth."
)
left, right = st.columns([3, 2])
frac = st.column_config.NumberColumn(format="%.3f")
columns = ["class_set", "n_a", "n_b", "n_both", "frac_a", "frac_a_lo", "frac_a_hi", "frac_b",
           "frac_b_lo", "frac_b_hi", "agreement", "agreement_lo", "agreement_hi", "n"]  # fmt: skip
left.dataframe(
    ad.fractions[[c for c in columns if c in ad.fractions.columns]],
    hide_index=True,
    column_config={
        **{c: frac for c in columns if c.startswith(("frac", "agreement"))},
        "class_set": "class set", "n_both": "N both", "n": "pairs",
    },
)  # fmt: skip
with right:
    ui.chart(bars, key="ag_bars")
_pairs_downloads("ag_bars")

st.subheader("Confusion matrices (W21 Fig. 21)")
ui.chart(confusion, key="ag_confusion")
_pairs_downloads("ag_confusion")
st.subheader("Agreement vs magnitude (W21 Fig. 6)")
if vs_mag is not None:
    ui.chart(vs_mag, key="ag_mag")
    _pairs_downloads("ag_mag")
    ui.downloads(ad.binned, "agreement-vs-magnitude-bins", key="ag_mag_bins",
                 units={**AGREEMENT_COLUMNS, "lo": "lower bin edge, V (mag)",
                        "hi": "upper bin edge, V (mag)",
                        "median": "median V of the bin (mag)"})  # fmt: skip
st.subheader("Every pair of methods on the same sources (W21 Table 1)")
if ad.all_pairs.empty:
    st.info("No two of the chosen methods classified the same sources.")
else:
    st.caption("Each class set is followed by its 1σ binomial (Wilson) interval, lo and hi.")
    st.dataframe(
        ad.all_pairs,
        hide_index=True,
        column_config={
            c: frac for c in ad.all_pairs.columns if c not in ("method A", "method B", "n")
        },
    )
