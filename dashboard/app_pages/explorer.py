"""Source explorer: a filterable table, links between a source and its cross-matched twin, CSV."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui

LIMIT = 5000
NONE = "(none)"

sel = state.current()
ctx = sel.context
st.title("Source explorer")
ui.require_releases(sel)
st.caption(ui.scope_caption(sel).rsplit(" · ", 1)[0] + " · V range below (no M_V cut here)")


def links(source_pks: pd.Series) -> pd.Series:
    """Relative URLs of this page focused on each source, keeping the sidebar selection."""
    params = {k: st.query_params.get_all(k) for k in ("rel", "gal", "meth", "cls", "mvcut", "mv")}
    base = "explorer?" + urlencode({k: v for k, v in params.items() if v}, doseq=True)
    pks = pd.to_numeric(source_pks, errors="coerce").astype("Int64").astype("string")
    return (base + ("&" if base[-1] != "?" else "") + "src=" + pks).astype(object)


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
st.caption("Magnitudes: total, Vega (mag); CI = m(1 px) − m(3 px) (mag). Click a key to open "
           "a source; the twin column opens its cross-matched counterpart.")  # fmt: skip
st.dataframe(
    rows[columns] if len(rows) else rows,
    hide_index=True,
    height=460,
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
st.download_button(
    "Download CSV",
    rows.drop(columns=["open", "twin link"], errors="ignore").to_csv(index=False),
    file_name="clustercat_sources.csv",
    mime="text/csv",
)

src = st.query_params.get("src")
if src and str(src).isdigit():
    pk = int(src)
    st.subheader(f"Source {pk}")
    every = data.Scope(
        release_ids=tuple(ctx.visible["release_id"]), galaxy=None, methods=sel.scope.methods,
        class_set=sel.scope.class_set, mv_limit=None,
    )  # fmt: skip
    one = cache.explorer(sel.url, sel.token, every, None, False, (pk,), 1).rows
    if one.empty:
        st.info(f"No source with key {pk} in a complete release.")
    else:
        row = one.iloc[0]
        st.write(
            f"**{row['release']}**, {row['galaxy']} ({row['field']}), id {int(row['source_id'])}: "
            f"RA {row['ra']:.6f}°, Dec {row['dec']:.6f}°, V = {row['mag_v']:.3f} mag"
        )
        st.dataframe(one.drop(columns=["release_id"]).T.rename(columns={0: "value"}))
        if twin_label != NONE:
            twin = twins_of([int(row["release_id"])], [pk], None)
            if pk in twin.index:
                t = twin.loc[pk]
                st.markdown(
                    f"Twin in {twin_label}: id {int(t['twin_source_id'])}, "
                    f"{t['separation_arcsec']:.3f}″ away: "
                    f"[open]({links(pd.Series([t['twin_pk']])).iloc[0]})"
                )
            else:
                st.caption(f"No twin in {twin_label} within {radius:.3f}″.")


# --- the source's images (stamps, RGB) and aperture growth curve -------------------------------

STAMP_PX = 41  # stamp side (pix): 1.6" on the 0.04" LEGUS/PHANGS grid


@st.cache_resource(max_entries=10, show_spinner="Reading images…")
def _field_image(path: str, sha256: str, _record):  # noqa: ANN001, ANN202 - an ImageRecord
    """A registered image's pixels (checked against its sha256), kept for the next source."""
    from clustercat.processing.images_db import open_image

    return open_image(_record)


def _display(stamp):  # noqa: ANN001, ANN202 - ndarray in, uint8 image out
    """An asinh-stretched 8-bit image of a stamp (99.5 % interval; NaN black)."""
    from astropy.visualization import AsinhStretch, PercentileInterval

    finite = np.nan_to_num(np.asarray(stamp, dtype=float))
    return (255 * (AsinhStretch() + PercentileInterval(99.5))(finite, clip=True)).astype(np.uint8)


def source_image_panel(pk: int) -> None:
    """Five-band and RGB stamps of a source whose field has registered images, and its
    growth curve from the aperture photometry rows (image-pipeline releases)."""
    import plotly.graph_objects as go
    from clustercat.processing import pipeline_db

    with cache.engine(sel.url).connect() as conn:
        found = pipeline_db.source_images(conn, pk)
        curve = pipeline_db.growth_curve(conn, pk)
    apertures = curve[curve["kind"] == "aperture"].dropna(subset=["mag_vega"])
    if found is None and apertures.empty:
        return
    st.subheader("Images and growth curve")
    if found is not None:
        row, records = found
        try:
            images = {b: _field_image(str(r.path), r.sha256, r) for b, r in records.items()}
        except (OSError, ValueError) as exc:
            st.warning(f"The field's images cannot be read: {exc}")
            images = {}
        if images:
            cut = pipeline_db.stamps(images, float(row["ra"]), float(row["dec"]), STAMP_PX)
            cols = st.columns(len(cut) + 1)
            for col, (band, stamp) in zip(cols, cut.items(), strict=False):
                col.image(_display(stamp), caption=f"{band} ({records[band].filter_name})",
                          width=130)  # fmt: skip
            if {"I", "V", "B"} <= set(cut):
                cols[-1].image(pipeline_db.rgb_stamp(cut), caption="RGB: I, V, B", width=130)
            st.caption(f"{STAMP_PX} × {STAMP_PX} px stamps (astropy Cutout2D) centred on the "
                       "source; asinh stretch; RGB by make_lupton_rgb.")  # fmt: skip
    if not apertures.empty:
        fig = go.Figure()
        for k, (band, rows) in enumerate(apertures.groupby("band", sort=False)):
            fig.add_trace(go.Scatter(
                x=rows["radius_px"], y=rows["mag_vega"], mode="lines+markers", name=band,
                error_y={"type": "data", "array": rows["mag_err"], "visible": True},
                line={"color": plots.series_colour(k)},
            ))  # fmt: skip
            total = curve[(curve["band"] == band) & (curve["kind"] == "total")]["mag_vega"]
            if total.notna().any():
                fig.add_hline(y=float(total.dropna().iloc[0]), line_dash="dot",
                              line_color=plots.series_colour(k))  # fmt: skip
        fig.update_xaxes(title_text="aperture radius [px]")
        fig.update_yaxes(title_text="Vega magnitude in the aperture [mag]", autorange="reversed")
        fig.update_layout(template=plots.TEMPLATE, height=420,
                          title="Growth curve (dotted: aperture-corrected total)")  # fmt: skip
        ui.chart(fig, key="growth")


if src and str(src).isdigit():
    source_image_panel(int(src))


# --- the source's ML predictions (issue 12) ----------------------------------------------------


def source_predictions_panel(pk: int) -> None:
    """Each registered model's class probabilities (or predicted log age) for the source,
    from ``ml_prediction`` (written by ``clustercat ml predict``)."""
    from clustercat.processing.readers_models import read_ml_predictions

    preds = read_ml_predictions(cache.engine(sel.url), pk)
    if preds.empty:
        return
    st.subheader("Model predictions")
    shown = pd.DataFrame(
        {
            "model": [f"{int(i)} · {n} v{v}" for i, n, v in
                      zip(preds["model_id"], preds["model"], preds["version"], strict=True)],
            "task": preds["task"],
            "class": preds["predicted_class"].astype("Int64"),
            **{f"P(class {c})": preds[f"p_class{c}"] for c in (1, 2, 3, 4)},
            "value": preds["predicted_value"],
            "error": preds["predicted_err"],
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


if src and str(src).isdigit():
    source_predictions_panel(int(src))
