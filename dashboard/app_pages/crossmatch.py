"""Cross-match of two releases: matched fractions, outcome codes, class flips, sky, separations."""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, plots, state, ui
from clustercat.schema.crossmatch import OUTCOMES

COMPUTE = "compute now (not stored)"

sel = state.current()
ctx = sel.context
st.title("Cross-match")
ui.require_releases(sel)
shown = ctx.shown
if len(shown) < 2:
    st.info(
        "A cross-match needs two releases with sources (e.g. PHANGS-HST and LEGUS); the "
        f"database has {len(shown)}: {', '.join(shown['label'])}."
    )
    st.stop()
labels = shown["label"].tolist()
chosen = [ctx.label(r) for r in sel.scope.release_ids]
c1, c2 = st.columns(2)
label_a = state.selectbox(c1, "Release A", labels, chosen[0] if chosen else labels[0], "xm_a")
others = [lbl for lbl in labels if lbl != label_a]
label_b = state.selectbox(
    c2, "Release B", others, next((c for c in chosen if c != label_a), others[0]), "xm_b"
)
rel_a = int(shown.loc[shown["label"] == label_a, "release_id"].iloc[0])
rel_b = int(shown.loc[shown["label"] == label_b, "release_id"].iloc[0])
galaxy = sel.scope.galaxy


def _methods(release_id: int) -> list[str]:
    return ["(none)", *ctx.method_table([release_id], galaxy)["method"].tolist()]


runs = cache.crossmatch_runs(sel.url, sel.token, (rel_a, rel_b))
run_labels = {
    f"stored run #{r.run_id}: {r.radius_arcsec:.3f}″, {r.method}, {str(r.created_at)[:16]}": r
    for r in runs.itertuples()
}
c3, c4 = st.columns(2)
source = state.selectbox(
    c3, "Matches", [*run_labels, COMPUTE], next(iter(run_labels), COMPUTE), "xm_run"
)
radius = c4.number_input(
    "Radius (arcsec) when computing", 0.01, 2.0, 0.08, 0.01, format="%.3f", key="xm_r",
    bind="query-params", disabled=source != COMPUTE,
    help="Whitmore et al. 2021 match within 2 px of 0.0396″ (0.079″).",
)  # fmt: skip
run = run_labels.get(source)
swapped = run is not None and int(run.release_a_id) != rel_a


def _default(options: list[str], stored: object) -> str:
    """The run's own classification method if it has one, else a sidebar method."""
    if isinstance(stored, str) and stored in options:
        return stored
    return next((m for m in sel.scope.methods if m in options), options[min(1, len(options) - 1)])


ma_options, mb_options = _methods(rel_a), _methods(rel_b)
run_a = None if run is None else (run.method_b if swapped else run.method_a)
run_b = None if run is None else (run.method_a if swapped else run.method_b)
method_a = state.selectbox(
    c1, "Classes of A from", ma_options, _default(ma_options, run_a), "xm_ma"
)
method_b = state.selectbox(
    c2, "Classes of B from", mb_options, _default(mb_options, run_b), "xm_mb"
)
ids = ctx.methods.drop_duplicates("method").set_index("method")["method_id"]
xd = cache.crossmatch(
    sel.url, sel.token, rel_a, rel_b, galaxy,
    None if method_a == "(none)" else int(ids[method_a]),
    None if method_b == "(none)" else int(ids[method_b]),
    float(radius), None if run is None else int(run.run_id),
)  # fmt: skip
ui.notices(xd.notes)
st.caption(f"{xd.release_a} (A) vs {xd.release_b} (B) · {galaxy or 'all galaxies'} · {xd.source}")

per = xd.per_galaxy
n_pairs = int(per["n_matched"].sum()) if len(per) else 0
m1, m2, m3, m4 = st.columns(4)
m1.metric("One-to-one pairs", f"{n_pairs:,}")
m2.metric(f"Matched fraction of A ({len(xd.sources_a):,})",
          f"{n_pairs / max(len(xd.sources_a), 1):.1%}")  # fmt: skip
m3.metric(f"Matched fraction of B ({len(xd.sources_b):,})",
          f"{n_pairs / max(len(xd.sources_b), 1):.1%}")  # fmt: skip
diag = int(sum(xd.confusion.iat[i, i] for i in range(len(xd.confusion))))
total = int(xd.confusion.to_numpy().sum())
m4.metric("Same class (both classified)", "–" if total == 0 else f"{diag / total:.1%}")

st.subheader("Per galaxy: matched fractions and outcome codes")
st.dataframe(
    per,
    hide_index=True,
    column_config={
        "frac_a": st.column_config.NumberColumn("matched / A", format="%.3f"),
        "frac_b": st.column_config.NumberColumn("matched / B", format="%.3f"),
    },
)
ui.chart(plots.outcome_bars(per, OUTCOMES), key="outcomes")

st.subheader("Class flips of the matched pairs")
if total:
    ui.chart(plots.confusion_figure(xd.confusion, xd.symmetric, f"{method_a} (A)",
                                    f"{method_b} (B)"), key="flips")  # fmt: skip
else:
    st.info("Choose a classification method on both sides to see class flips.")

st.subheader("Sky")
matched = xd.matched
sky_galaxy = galaxy or (matched["galaxy"].value_counts().index[0] if len(matched) else None)
if sky_galaxy is None:
    st.info("No pair to show on the sky.")
else:
    if galaxy is None:
        st.caption(f"{sky_galaxy}: the galaxy with most pairs (choose one in the sidebar).")
    pa, pb = xd.sources_a, xd.sources_b
    in_a = pa[(pa["galaxy"] == sky_galaxy) & ~pa["source_pk"].isin(matched["source_a_pk"])]
    in_b = pb[(pb["galaxy"] == sky_galaxy) & ~pb["source_pk"].isin(matched["source_b_pk"])]
    ui.chart(
        plots.sky_figure(matched[matched["galaxy"] == sky_galaxy], in_a, in_b, xd.release_a,
                         xd.release_b, f"{sky_galaxy}: matched and unmatched sources"),
        key="sky",
    )  # fmt: skip
ui.chart(plots.separation_histogram(matched, xd.radius_arcsec), key="sep")
