"""Source page: one source of any visible release, opened with ``?src=<source_pk>``.

Clicking a source's point on a figure (``ui.source_chart``) or a row of the explorer opens
it. Everything comes from one reader call (:func:`clustercat.processing.readers_source.
read_source`: the ``_all`` views, so superseded versions too), cached per source: the header
(release and version, galaxy, field, id, RA/Dec, x/y), the photometry per band and aperture
with errors and units (and the growth curve when apertures were measured), the classes per
method, every SED method's fit drawn as model magnitudes against the measured points
(:mod:`clustercat.processing.sed_model`), its place in the U-B vs V-I plane among the
galaxy's sources with the W21 §5 boxes, on the MCI plane when it has MCIs (Thilker et al.
2022), the image stamps of its field when images are registered, stored cross-match pairs
and registered models' predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, plots, source_plots, state, ui
from clustercat.processing.colour_boxes import WHITMORE2021_BOXES
from clustercat.processing.readers_source import population_query, source_query

EXPLORER_PAGE = "app_pages/explorer.py"
#: Stamp side (pix): 1.6" on the 0.04" LEGUS/PHANGS grid.
STAMP_PX = 41

sel = state.current()


def _stop(message: str) -> None:
    st.title("Source")
    st.warning(message)
    st.page_link(EXPLORER_PAGE, label="Find a source in the Source explorer",
                 icon=":material/table_rows:")  # fmt: skip
    st.stop()


raw = st.query_params.get("src")
if raw is None or not str(raw).strip():
    _stop("No source chosen: open one from the Source explorer, or click a point on a figure.")
if not str(raw).strip().isdigit():
    _stop(f"`src={raw}` is not a source key (a whole number, `source_pk`).")
pk = int(str(raw).strip())
page = cache.source(sel.url, sel.token, pk)
if page is None:
    _stop(f"No source with key {pk} in a complete or superseded release of this database.")
rec = page.record


def fmt(value: float | None, spec: str = ".3f", unit: str = "") -> str:
    """A number for a metric, or words when there is none."""
    if value is None or not np.isfinite(value):
        return "not measured"
    return f"{value:{spec}}{unit}"


def class_of(classes: pd.DataFrame) -> str:
    """The class under the first sidebar method that classified the source, else the first."""
    if classes.empty:
        return "–"
    order = {m: i for i, m in enumerate(sel.scope.methods)}
    method, version = classes["method"].astype(str), classes["method_version"].astype(str)
    names = np.where(version == "1", method, method + " v" + version)
    rank = pd.Series(names).map(order).fillna(len(order)).to_numpy()
    return str(int(classes["class"].iloc[int(np.argmin(rank))]))


# --- header ------------------------------------------------------------------------------------

status = rec.text("release_status") or "complete"
st.title(f"Source {rec.source_id} · {rec.galaxy}")
st.caption(
    f"Release **{rec.release_label}** ({status}) · field {rec.field} · source id "
    f"{rec.source_id} · key `source_pk = {pk}` · distance "
    f"{fmt(rec.number('distance_mpc'), '.2f', ' Mpc')}"
)
default_fit = rec.default_sed
top = st.columns(6)
top[0].metric("RA (deg, ICRS)", fmt(rec.number("ra"), ".6f"))
top[1].metric("Dec (deg, ICRS)", fmt(rec.number("dec"), ".6f"))
top[2].metric("x, y (pix)", f"{fmt(rec.number('x'), '.2f')}, {fmt(rec.number('y'), '.2f')}")
mag_v, mag_v_err = rec.number("mag_v"), rec.number("mag_v_err")
top[3].metric(
    f"m_V ({rec.text('filter_v') or 'V'}, Vega mag)",
    fmt(mag_v) + (f" ± {mag_v_err:.3f}" if mag_v is not None and mag_v_err is not None else ""),
)
top[4].metric("CI = m(1 px) − m(3 px) (mag)", fmt(rec.number("ci")))
top[5].metric(
    "log age (yr), default SED fit",
    fmt(None if default_fit is None else float(default_fit["log_age"]), ".2f"),
)

# --- photometry --------------------------------------------------------------------------------

st.subheader("Photometry")
if rec.photometry.empty:
    st.info("No photometry row for this source in `source_photometry_all`.")
else:
    table = source_plots.photometry_table(rec.photometry)
    st.dataframe(
        table, hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f")
                       for c in table.columns if "(" in c and c != "radius (pix)"},
    )  # fmt: skip
    sql, params = source_query("photometry", pk)
    ui.downloads(rec.photometry, f"source_{pk}_photometry", view="source_photometry_all",
                 key="src-phot", sql=sql, params=params)  # fmt: skip
    st.caption(
        "Vega magnitudes; 'total' is the aperture-corrected total the catalogue gives, "
        "the other rows the magnitude in an aperture of that radius (not corrected). Status "
        "other than 'measured' (not detected, outside the footprint, no coverage) has no "
        "magnitude."
    )
    apertures = rec.apertures.dropna(subset=["mag_vega"])
    if not apertures.empty:
        bands = apertures["band"].unique().tolist()
        drawn = rec.photometry[rec.photometry["band"].isin(bands)]
        sql, params = source_query(
            "photometry", pk,
            "v.band IN (SELECT a.band FROM source_photometry_all a WHERE a.source_pk = "
            ":source_pk AND a.aperture_kind = 'aperture')",
        )  # fmt: skip
        ui.figure(
            source_plots.growth_curve_figure(apertures, rec.totals), drawn,
            f"source_{pk}_growth_curve", view="source_photometry_all", key="src-growth",
            sql=sql, params=params,
        )  # fmt: skip

# --- classes -----------------------------------------------------------------------------------

st.subheader("Classes")
if rec.classes.empty:
    st.info("No classification method classified this source.")
else:
    k = rec.classes
    shown = pd.DataFrame(
        {
            "method": k["method"], "version": k["method_version"], "kind": k["method_kind"],
            "class": k["class"], "subclass": k["subclass"], "quality": k["quality"],
            "score": k["score"], **{f"P(class {c})": k[f"p_class{c}"] for c in (1, 2, 3, 4)},
            "delivered by": k["delivered_by"],
        }
    )  # fmt: skip
    st.dataframe(
        shown, hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f")
                       for c in ("score", *(f"P(class {c})" for c in (1, 2, 3, 4)))},
    )  # fmt: skip
    sql, params = source_query("classes", pk)
    ui.downloads(rec.classes, f"source_{pk}_classes", view="source_classes_all",
                 key="src-classes", sql=sql, params=params)  # fmt: skip
    st.caption(
        "Classes 1 symmetric and 2 asymmetric clusters, 3 compact associations, 4 not "
        "clusters (W21 §3). Score: the method's own (human mean, ML probability)."
    )

# --- SED fits ------------------------------------------------------------------------------------

st.subheader("SED fits")
if rec.sed.empty:
    st.info("No SED method fitted this source (`sed_results_all` has no row for it).")
else:
    s = rec.sed
    fits = pd.DataFrame(
        {
            "method": s["method"], "default": s["is_default"], "log age (yr)": s["log_age"],
            "log age min": s["log_age_min"], "log age max": s["log_age_max"],
            "log mass (M☉)": s["log_mass"], "log mass min": s["log_mass_min"],
            "log mass max": s["log_mass_max"], "E(B−V) (mag)": s["ebv"],
            "E(B−V) min": s["ebv_min"], "E(B−V) max": s["ebv_max"], "χ²": s["chi2"],
            "reduced χ²": s["reduced_chi2"], "Q": s["q_prob"], "bands": s["n_bands"],
            "SSP model": s["ssp_model"], "extinction law": s["extinction_law"],
        }
    )  # fmt: skip
    st.dataframe(
        fits, hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f")
                       for c in fits.columns if fits[c].dtype.kind == "f"},
    )  # fmt: skip
    sql, params = source_query("sed", pk)
    ui.downloads(rec.sed, f"source_{pk}_sed_results", view="sed_results_all", key="src-sed",
                 sql=sql, params=params)  # fmt: skip
    models = {m.method: m for m in page.models}
    names = list(models)
    default = next((m.method for m in page.models if m.is_default), names[0])
    chosen = state.selectbox(
        st, "SED method drawn", names, default, "src_sed",
        help="Each SED method's best fit as model magnitudes in the source's filters.",
    )  # fmt: skip
    model = models[chosen]
    if model.points is None:
        st.info(f"The {chosen} fit cannot be drawn: {model.reason}.")
    else:
        points = model.points
        sql, params = source_query(
            "photometry", pk,
            "v.aperture_kind = 'total' AND v.status = 'measured' AND v.mag_vega IS NOT NULL",
        )  # fmt: skip
        fit = s[s["method"] == chosen].iloc[0]
        title = (f"{chosen}: log τ = {fit['log_age']:.2f}, log M = {fit['log_mass']:.2f}, "
                 f"E(B−V) = {fit['ebv']:.2f}")  # fmt: skip
        ui.figure(
            source_plots.sed_figure(points, title), points, f"source_{pk}_sed_{model.method_id}",
            view="source_photometry_all", key="src-sed-fig", sql=sql, params=params,
            units={"mag_model": "apparent Vega magnitude of the best fit in this filter (mag)",
                   "residual": "measured minus model magnitude (mag)"},
        )  # fmt: skip
        stored = fit["reduced_chi2"]
        st.caption(
            f"Model: m = M(τ) + A(τ, E(B−V)) − 2.5 log M + μ at the galaxy's distance "
            f"({fmt(rec.number('distance_mpc'), '.2f', ' Mpc')}); grid: {model.note}. "
            f"χ² of these model magnitudes against the {len(points)} points (catalogued "
            f"errors, floor {model.error_floor:g} mag): {fmt(model.chi2, '.2f')}"
            + (f"; the fit's stored χ²: {fit['chi2']:.2f}" if np.isfinite(fit["chi2"]) else "")
            + (f"; its stored reduced χ²: {stored:.2f}." if np.isfinite(stored) else ".")
            + " A large difference means the fit used another distance or photometry."
        )

# --- colour-colour position ----------------------------------------------------------------

st.subheader("Colour–colour position")
u_b = (rec.number("mag_u") or np.nan) - (rec.number("mag_b") or np.nan)
v_i = (rec.number("mag_v") or np.nan) - (rec.number("mag_i") or np.nan)
if not (np.isfinite(u_b) and np.isfinite(v_i)):
    missing = [b for b in ("u", "b", "v", "i") if rec.number(f"mag_{b}") is None]
    st.info("This source lacks the " + ", ".join(b.upper() for b in missing)
            + " magnitude(s): it has no place in the U−B vs V−I diagram.")  # fmt: skip
else:
    population = cache.colour_population(sel.url, sel.token, rec.release_id, rec.galaxy)
    shown = (
        f"the {len(population):,} sources brightest in V"
        if len(population) >= data.POPULATION_LIMIT
        else f"all {len(population):,} sources"
    )
    me = pd.DataFrame(
        {"source_pk": [pk], "galaxy": [rec.galaxy], "field": [rec.field],
         "source_id": [rec.source_id], "class": [class_of(rec.classes)], "mag_v": [mag_v],
         "log_age": [rec.number("log_age")], "log_mass": [rec.number("log_mass")],
         "u_minus_b": [u_b], "v_minus_i": [v_i]}
    )  # fmt: skip
    f = {b: rec.text(f"filter_{b}") or b.upper() for b in ("u", "b", "v", "i")}
    fig = source_plots.colour_position_figure(
        population, me, WHITMORE2021_BOXES,
        x_label=f"V − I ({f['v']} − {f['i']}) [mag]", y_label=f"U − B ({f['u']} − {f['b']}) [mag]",
        title=f"{rec.galaxy} in {rec.release_label}: {shown} with U, B, V, I",
    )  # fmt: skip
    bands = data.POPULATION_BANDS
    sql, params = population_query(
        [rec.release_id], [*data.POPULATION_COLUMNS, *bands], galaxy=rec.galaxy,
        not_null=bands, brightest=data.POPULATION_LIMIT,
    )  # fmt: skip
    ui.figure(
        fig, population, f"source_{pk}_colour_colour", view="cluster_catalogue_all",
        units={"u_minus_b": "colour U - B (mag)", "v_minus_i": "colour V - I (mag)"},
        key=f"src-colours-{pk}", sql=sql, params=params, clickable=True,
    )  # fmt: skip
    st.caption(
        f"Grey: {shown} of the galaxy in this release with U, B, V and I; red star: this "
        "source; boxes: W21 §5 ages (1 > 1 Gyr, 2 100 Myr-1 Gyr, 3 10-100 Myr, 4 < 10 Myr). "
        "Click a grey point to open that source."
    )

# --- MCI plane -----------------------------------------------------------------------------------

st.subheader("MCI plane")
mci_in, mci_out = rec.number("mci_in"), rec.number("mci_out")
if mci_in is None or mci_out is None:
    st.caption("No MCI_in/MCI_out for this source: published catalogues carry CI only; a "
               "release made from images (`clustercat pipeline run`) has them.")  # fmt: skip
else:
    from clustercat.processing.pipeline import semi_empirical_outline
    from clustercat.processing.selection import mci_out_floor

    field_points = cache.mci_points(
        sel.url, sel.token, (rec.release_id,), rec.galaxy, tuple(sel.scope.methods)
    )
    field_points = field_points[field_points["field"] == rec.field]
    me = field_points[field_points["source_pk"] == pk]
    distances = me["distance_mpc"].dropna() if len(me) else pd.Series(dtype=float)
    distance = float(distances.iloc[0]) if len(distances) else rec.number("distance_mpc")
    outline = None if distance is None else semi_empirical_outline(distance)
    name = (
        ""
        if distance is None
        else f"semi-empirical region, {distance:g} Mpc (MCI_out ≥ {mci_out_floor(distance):g})"
    )
    columns = ["source_pk", "release_id", "galaxy", "field", "source_id", "mci_in", "mci_out"]
    sql, params = population_query([rec.release_id], columns[1:], galaxy=rec.galaxy,
                                   field=rec.field, not_null=("mci_in", "mci_out"))  # fmt: skip
    ui.figure(
        plots.mci_plane_figure(field_points, outline, name,
                               f"{rec.field}: {len(field_points):,} sources", highlight=me),
        field_points[columns], f"source_{pk}_mci_plane", view="cluster_catalogue_all",
        key=f"src-mci-{pk}", sql=sql, params=params, clickable=True,
    )  # fmt: skip

# --- image stamps ----------------------------------------------------------------------------


def _display(stamp: np.ndarray) -> np.ndarray:
    """An asinh-stretched 8-bit image of a stamp (99.5 % interval; NaN black)."""
    from astropy.visualization import AsinhStretch, PercentileInterval

    finite = np.nan_to_num(np.asarray(stamp, dtype=float))
    return (255 * (AsinhStretch() + PercentileInterval(99.5))(finite, clip=True)).astype(np.uint8)


st.subheader("Image stamps")
if not rec.images:
    st.caption(f"No image is registered for field {rec.field}: register the field's drizzled "
               "images with `clustercat images add FILES --field F --galaxy G` to see "
               "stamps here.")  # fmt: skip
else:
    from clustercat.processing import pipeline_db

    try:
        images = {b: cache.field_image(str(r.path), r.sha256, r) for b, r in rec.images.items()}
    except (OSError, ValueError) as exc:
        st.warning(f"The field's images cannot be read: {exc}")
        images = {}
    if images and rec.number("ra") is not None and rec.number("dec") is not None:
        cut = pipeline_db.stamps(images, rec.number("ra"), rec.number("dec"), STAMP_PX)
        cols = st.columns(len(cut) + 1)
        for col, (band, stamp) in zip(cols, cut.items(), strict=False):
            col.image(_display(stamp), caption=f"{band} ({rec.images[band].filter_name})",
                      width=130)  # fmt: skip
        if {"I", "V", "B"} <= set(cut):
            cols[-1].image(pipeline_db.rgb_stamp(cut), caption="RGB: I, V, B", width=130)
        st.caption(
            f"{STAMP_PX} × {STAMP_PX} px stamps (astropy Cutout2D through each image's WCS) "
            "centred on the source; asinh stretch; RGB by make_lupton_rgb."
        )

# --- stored cross-match pairs --------------------------------------------------------------

if not rec.crossmatch.empty:
    st.subheader("Cross-match pairs")
    other = source_plots.crossmatch_table(rec.crossmatch, pk)
    st.dataframe(
        other, hide_index=True,
        column_config={
            "open": st.column_config.LinkColumn("other source", display_text=r"src=(\d+)"),
            "separation (arcsec)": st.column_config.NumberColumn(format="%.3f"),
        },
    )  # fmt: skip
    sql, params = source_query("crossmatch", pk)
    ui.downloads(rec.crossmatch, f"source_{pk}_crossmatch", view="crossmatch_pairs_all",
                 key="src-xmatch", sql=sql, params=params)  # fmt: skip

# --- registered models' predictions (issue 12) ---------------------------------------------

preds = page.predictions
if not preds.empty:
    st.subheader("Model predictions")
    shown = pd.DataFrame(
        {
            "model": pd.array([f"{int(i)} · {n} v{v}" for i, n, v in
                               zip(preds["model_id"], preds["model"], preds["version"],
                                   strict=True)], dtype="string"),
            "task": preds["task"].astype("string"),
            "class": pd.to_numeric(preds["predicted_class"], errors="coerce").astype("Int64"),
            **{f"P(class {c})": pd.to_numeric(preds[f"p_class{c}"], errors="coerce")
               for c in (1, 2, 3, 4)},
            "value": pd.to_numeric(preds["predicted_value"], errors="coerce"),
            "error": pd.to_numeric(preds["predicted_err"], errors="coerce"),
        }
    )  # fmt: skip
    st.dataframe(
        shown, hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f")
                       for c in shown.columns if c.startswith("P(") or c in ("value", "error")},
    )  # fmt: skip
    st.caption("From `ml_prediction`: class probabilities of classifiers (an ensemble's mean, "
               "its vote fraction as value), predicted log age (log yr) of age CNNs. The "
               "Machine learning page shows each model's metrics.")  # fmt: skip
