"""Cross-match of two releases as in Thilker et al. 2022 §6.4: scope, footprint overlap,
matched and class-flip fractions inside it (also against V), offsets and separations."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, state, ui
from clustercat.processing.analyses import CROSSMATCH_PER_GALAXY_COLUMNS
from clustercat.processing.crossmatch_diagnostics import FRACTION_COLUMNS
from clustercat.processing.figure_queries import CROSSMATCH_PAIR_COLUMNS

COMPUTE = "compute now (not stored)"
#: Units of the derived columns of the downloads.
DERIVED_UNITS = {
    "dra_cosdec_arcsec": "offset in RA times cos(Dec), B minus A, before the run's offset (arcsec)",
    "ddec_arcsec": "offset in Dec, B minus A, before the run's offset (arcsec)",
    "offset_arcsec": "angular distance of B from A, before the run's offset (arcsec)",
    "ra": "right ascension of a polygon vertex, ICRS (deg)",
    "dec": "declination of a polygon vertex, ICRS (deg)",
    "region": "footprint of side a, side b, or their overlap (text)",
    "vertex": "vertex number, the first repeated last (count)",
}

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


def _run_label(r: object) -> str:
    fields = f"A {r.field_a or 'all fields'} × B {r.field_b or 'all fields'}"
    return (f"stored run #{r.run_id}: {r.radius_arcsec:.3f}″, {r.method}, {fields}, "
            f"{str(r.created_at)[:16]}")  # fmt: skip


runs = cache.crossmatch_runs(sel.url, sel.token, (rel_a, rel_b))
run_labels = {_run_label(r): r for r in runs.itertuples()}
newest = data.stored_run(ctx, runs, rel_a, rel_b, galaxy)
default_run = next((k for k, r in run_labels.items() if r.run_id == newest), COMPUTE)
c3, c4 = st.columns(2)
source = state.selectbox(
    c3, "Matches", [*run_labels, COMPUTE], default_run, "xm_run",
    help="The stored cross-match runs between the two releases, newest first (the newest "
    "covering the galaxy is chosen), or a match computed now and not stored.",
)  # fmt: skip
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
match_args = (
    rel_a, rel_b, galaxy,
    None if method_a == "(none)" else int(ids[method_a]),
    None if method_b == "(none)" else int(ids[method_b]),
    float(radius), None if run is None else int(run.run_id),
)  # fmt: skip
xd = cache.crossmatch(sel.url, sel.token, *match_args)
ui.notices(xd.notes)
st.caption(f"{xd.release_a} (A) vs {xd.release_b} (B) · {galaxy or 'all galaxies'} · {xd.source}")

galaxies = data.crossmatch_galaxies(xd)
if not galaxies:
    st.info("The cross-match has no row in this selection: nothing to show.")
    st.stop()
if galaxy is None:
    where = state.selectbox(
        st, "Galaxy of the footprint, fraction and offset diagnostics", galaxies, galaxies[0],
        "xm_gal", help="Footprints are per galaxy; the one with most pairs is the default.",
    )  # fmt: skip
else:
    where = galaxy if galaxy in galaxies else galaxies[0]
run_classes = run is not None and (method_a, method_b) == (run_a, run_b)
centre = (0.0, 0.0)
if run is not None:
    offset = [0.0 if pd.isna(v) else float(v) for v in (run.offset_ra_arcsec,
                                                         run.offset_dec_arcsec)]  # fmt: skip
    centre = (-offset[0], -offset[1]) if swapped else (offset[0], offset[1])
dd, figs = cache.crossmatch_diagnostics(
    sel.url, sel.token, match_args, where, swapped, run_classes,
    (xd.release_a, xd.release_b, method_a, method_b), centre,
)  # fmt: skip
d = dd.diagnostics

per = xd.per_galaxy
n_pairs = int(per["n_matched"].sum()) if len(per) else 0


def _fraction(row: pd.Series) -> str:
    if not row["n"]:
        return "–"
    return (f"{row['fraction']:.1%} (+{row['fraction_hi'] - row['fraction']:.1%} "
            f"−{row['fraction'] - row['fraction_lo']:.1%})")  # fmt: skip


m1, m2, m3, m4 = st.columns(4)
m1.metric("One-to-one pairs", f"{n_pairs:,}")
if d is None:
    st.info(f"No footprint diagnostics for {where}: {dd.problem}.")
else:
    matched = d.matched.set_index("side")
    m2.metric(f"Matched fraction of A in the overlap ({int(matched.loc['a', 'n']):,})",
              _fraction(matched.loc["a"]))  # fmt: skip
    m3.metric(f"Matched fraction of B in the overlap ({int(matched.loc['b', 'n']):,})",
              _fraction(matched.loc["b"]))  # fmt: skip
    flips = d.flips.iloc[0]
    m4.metric(f"Class flips in the overlap ({int(flips['n']):,} classified pairs)",
              _fraction(flips))  # fmt: skip
    all_a = per.set_index("galaxy").loc[where, "frac_a"] if where in set(per["galaxy"]) else None
    all_b = per.set_index("galaxy").loc[where, "frac_b"] if where in set(per["galaxy"]) else None
    whole = ""
    if all_a is not None and math.isfinite(all_a) and math.isfinite(all_b):
        whole = (f" Over every source of {where}, with no footprint cut, the matched "
                 f"fractions would be {all_a:.1%} of A and {all_b:.1%} of B.")  # fmt: skip
    st.caption(
        f"{where}: fractions are taken **inside the overlap** of the two footprints only "
        "(Thilker et al. 2022 §6.4: the comparison is cut back to the common region), with "
        "1σ binomial (Wilson) intervals (processing.agreement.binomial_interval). A footprint "
        f"is the convex hull of a side's sources.{whole} Class flips: classified one-to-one "
        f"pairs with different classes ({method_a} on A, {method_b} on B)."
    )
    ui.notices(d.notes)

st.subheader("Per galaxy: pairs and outcome codes")
st.dataframe(
    per,
    hide_index=True,
    column_config={
        "frac_a": st.column_config.NumberColumn("matched / A (no footprint cut)", format="%.3f"),
        "frac_b": st.column_config.NumberColumn("matched / B (no footprint cut)", format="%.3f"),
    },
)
ui.chart(figs["outcomes"], key="outcomes")
ui.downloads(
    per, "crossmatch-outcomes-per-galaxy", key="outcomes", units=CROSSMATCH_PER_GALAXY_COLUMNS
)

if d is not None:
    st.subheader(f"Scope of the run and the overlap of its footprints ({where})")
    if run is not None:
        st.caption(
            f"Run #{run.run_id} matched {run.release_a} ({run.field_a or 'every field'}) with "
            f"{run.release_b} ({run.field_b or 'every field'}); below, the fields of the "
            f"sources it holds in {where} on each side."
        )
    left, right = st.columns([2, 3])
    scope = d.scope.assign(
        side=d.scope["side"].map({"a": f"A: {xd.release_a}", "b": f"B: {xd.release_b}"})
    )
    left.dataframe(scope, hide_index=True)
    areas = d.areas.assign(
        region=d.areas["region"].map({"a": "A", "b": "B", "overlap": "overlap"}),
        area_arcmin2=d.areas["area_arcsec2"] / 3600.0,
    )[["region", "area_arcmin2", "n_vertices"]]
    left.dataframe(
        areas, hide_index=True,
        column_config={"area_arcmin2": st.column_config.NumberColumn("area (arcmin²)",
                                                                      format="%.3f")},
    )  # fmt: skip
    with right:
        ui.chart(figs["footprints"], key="footprints")
    ui.downloads(d.polygons, f"footprints-{where}".replace(" ", ""), units=DERIVED_UNITS,
                 key="footprints")  # fmt: skip

    st.subheader("Matched fraction and class flips against V (inside the overlap)")
    overall = pd.concat(
        [d.matched.assign(fraction_of=d.matched["side"].map({"a": "A sources matched",
                                                            "b": "B sources matched"})),
         d.flips.assign(side="a+b", fraction_of="classified pairs with another class")],
        ignore_index=True,
    )[["fraction_of", "side", "n", "k", "fraction", "fraction_lo", "fraction_hi"]]  # fmt: skip
    st.dataframe(overall, hide_index=True)
    ui.chart(figs["by_mag"], key="by_mag")
    rows_columns = [*CROSSMATCH_PAIR_COLUMNS, "class_a", "class_b"]
    ui.downloads(
        d.rows[rows_columns], f"crossmatch-rows-{where}".replace(" ", ""),
        view="crossmatch_pairs", units=DERIVED_UNITS, key="by_mag",
        sql=None if dd.rows_sql is None else dd.rows_sql[0],
        params=None if dd.rows_sql is None else dd.rows_sql[1],
    )  # fmt: skip
    ui.downloads(pd.concat([d.matched_by_mag, d.flips_by_mag.assign(side="flips, V of a")],
                           ignore_index=True), "fractions-vs-magnitude-bins",
                 units={**FRACTION_COLUMNS, "lo": "lower bin edge, V (mag)",
                        "hi": "upper bin edge, V (mag)", "median": "median V of the bin (mag)",
                        "side": "release whose V is binned: a, b, or flips (text)"},
                 key="by_mag_bins")  # fmt: skip

st.subheader("Class flips of the matched pairs")
if "flips" in figs:
    ui.chart(figs["flips"], key="flips")
else:
    st.info("Choose a classification method on both sides to see class flips.")

if d is not None:
    pairs_sql, pairs_params = dd.pairs_sql if dd.pairs_sql is not None else (None, None)
    pair_rows = d.offsets[
        [*CROSSMATCH_PAIR_COLUMNS, "dra_cosdec_arcsec", "ddec_arcsec", "offset_arcsec"]
    ]
    st.subheader(f"Astrometric offsets of the one-to-one pairs ({where})")
    summary = d.offset_summary.iloc[0]
    if not summary["n"]:
        st.info(f"No one-to-one pair in {where}, so no offset to measure.")
    else:
        st.caption(
            f"Median offset B − A: Δα cos δ = {summary['median_dra_cosdec_arcsec']:+.4f}″ ± "
            f"{summary['median_error_dra_cosdec_arcsec']:.4f}″, Δδ = "
            f"{summary['median_ddec_arcsec']:+.4f}″ ± {summary['median_error_ddec_arcsec']:.4f}″ "
            f"over {int(summary['n']):,} pairs (robust scatter 1.4826 × MAD: "
            f"{summary['scatter_dra_cosdec_arcsec']:.4f}″, {summary['scatter_ddec_arcsec']:.4f}″); "
            "from the stored positions, before any offset the run applied. Click a point to open "
            "its A source."
        )
    ui.figure(figs["offsets"], pair_rows, f"crossmatch-offsets-{where}".replace(" ", ""),
              view="crossmatch_pairs", units=DERIVED_UNITS, key="offsets", sql=pairs_sql,
              params=pairs_params, clickable=True)  # fmt: skip
    st.dataframe(d.offset_summary, hide_index=True)

    st.subheader(f"Sky ({where})")
    ui.chart(figs["sky"], key="sky")

    st.subheader(f"Separations of the one-to-one pairs ({where})")
    ui.figure(figs["separations"], pair_rows, f"crossmatch-separations-{where}".replace(" ", ""),
              view="crossmatch_pairs", units=DERIVED_UNITS, key="sep", sql=pairs_sql,
              params=pairs_params)  # fmt: skip
    ui.downloads(d.separations, "separation-histogram-bins", key="sep_bins", units=FRACTION_COLUMNS)
