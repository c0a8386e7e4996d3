"""Plotly figures of the source page: pure functions of the frames of
:func:`clustercat.processing.readers_source.read_source` and of the populations of
:mod:`.data`.

Conventions as in :mod:`.plots`: magnitudes are Vega, brighter up (the magnitude axis
inverted); colour-colour diagrams as in Whitmore et al. 2021 Figs. 9-14 (V-I across, U-B
upwards-blue, the W21 §5 age boxes); source points carry :func:`.plots.source_customdata`
with :data:`.plots.SOURCE_HOVER`, so a click on one opens its page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from clustercat.processing.colour_boxes import ColourBox

from .plots import COLOUR_AXES, SOURCE_HOVER, series_colour, source_customdata

#: Colour of the source drawn against its population.
HIGHLIGHT = "#d62728"
#: Colour of the population behind it.
POPULATION = "#9a9a9a"


def sed_figure(points: pd.DataFrame, title: str) -> go.Figure:
    """Measured total magnitudes with 1σ error bars against the pivot wavelength, and the
    fit's model magnitudes in the same filters (``points``: ``filter, pivot_wavelength_aa,
    mag_vega, mag_err, mag_model``)."""
    x = points["pivot_wavelength_aa"].to_numpy(dtype=float)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x, y=points["mag_model"], mode="lines+markers", name="best-fit model",
            line={"color": series_colour(1), "dash": "dash"},
            marker={"symbol": "diamond-open", "size": 12, "color": series_colour(1)},
            text=points["filter"], hovertemplate="%{text}: model %{y:.3f} mag<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x, y=points["mag_vega"], mode="markers+text", name="measured (total)",
            error_y={"type": "data", "array": points["mag_err"].fillna(0.0), "visible": True},
            marker={"size": 10, "color": series_colour(0)}, text=points["filter"],
            textposition="top center",
            customdata=points["mag_err"],
            hovertemplate="%{text}: %{y:.3f} ± %{customdata:.3f} mag<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="pivot wavelength [Å]")
    fig.update_yaxes(title_text="Vega magnitude [mag]", autorange="reversed")
    fig.update_layout(title=title, height=420,
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def growth_curve_figure(apertures: pd.DataFrame, totals: pd.DataFrame) -> go.Figure:
    """Magnitude in each aperture against its radius, per band (1σ error bars), with the
    band's aperture-corrected total dotted (``source_photometry_all`` rows)."""
    fig = go.Figure()
    for k, (band, rows) in enumerate(apertures.groupby("band", sort=False)):  # five bands
        colour = series_colour(k)
        label = f"{band} ({rows['filter'].iloc[0]})"
        fig.add_trace(
            go.Scatter(
                x=rows["radius_px"], y=rows["mag_vega"], mode="lines+markers", name=label,
                error_y={"type": "data", "array": rows["mag_err"].fillna(0.0), "visible": True},
                line={"color": colour},
            )
        )  # fmt: skip
        total = totals.loc[totals["band"] == band, "mag_vega"].dropna()
        if len(total):
            fig.add_hline(y=float(total.iloc[0]), line_dash="dot", line_color=colour)
    fig.update_xaxes(title_text="aperture radius [pix]")
    fig.update_yaxes(title_text="Vega magnitude in the aperture [mag]", autorange="reversed")
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.2},
                      title="Growth curve (dotted: the aperture-corrected total)")  # fmt: skip
    return fig


def _box_shapes(boxes: Sequence[ColourBox]) -> tuple[list[dict], list[dict]]:
    shapes, notes = [], []
    for box in boxes:
        xs, ys = zip(*box.vertices, strict=True)
        path = "M " + " L ".join(f"{a},{b}" for a, b in zip(xs, ys, strict=True)) + " Z"
        shapes.append({"type": "path", "path": path, "line": {"color": "#555555", "width": 1.2},
                       "layer": "below"})  # fmt: skip
        notes.append(
            {"x": 0.5 * (min(xs) + max(xs)), "y": min(ys) + 0.03, "showarrow": False,
             "yanchor": "top", "font": {"size": 10, "color": "#222222"},
             "text": f"<b>{box.number}</b>: {box.label}", "bgcolor": "rgba(255,255,255,0.7)"}
        )  # fmt: skip
    return shapes, notes


def colour_position_figure(
    population: pd.DataFrame,
    source: pd.DataFrame,
    boxes: Sequence[ColourBox],
    *,
    x_label: str,
    y_label: str,
    title: str,
) -> go.Figure:
    """U-B against V-I: the population (grey, clickable) and the source (red star), with
    the W21 §5 age boxes. Frames have ``v_minus_i``, ``u_minus_b`` and the
    :data:`.plots.SOURCE_POINT_COLUMNS`."""
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=population["v_minus_i"].to_numpy(dtype=float),
            y=population["u_minus_b"].to_numpy(dtype=float), mode="markers",
            marker={"size": 4, "color": POPULATION, "opacity": 0.5},
            name=f"the galaxy's sources ({len(population):,})",
            customdata=source_customdata(population),
            hovertemplate=SOURCE_HOVER + "<br>V−I %{x:.2f}, U−B %{y:.2f}<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=source["v_minus_i"].to_numpy(dtype=float),
            y=source["u_minus_b"].to_numpy(dtype=float), mode="markers", name="this source",
            marker={"symbol": "star", "size": 18, "color": HIGHLIGHT,
                    "line": {"width": 1, "color": "black"}},
            customdata=source_customdata(source),
            hovertemplate=SOURCE_HOVER + "<br>V−I %{x:.2f}, U−B %{y:.2f}<extra></extra>",
        )
    )  # fmt: skip
    shapes, notes = _box_shapes(boxes)
    _, y_range = COLOUR_AXES["u_minus_b"]
    fig.update_layout(
        title=title, height=520, shapes=shapes, annotations=notes,
        xaxis={"title": {"text": x_label}, "range": [-1.0, 2.0], "zeroline": False},
        yaxis={"title": {"text": y_label}, "range": list(y_range), "zeroline": False},
        legend={"orientation": "h", "y": -0.15, "itemsizing": "constant"},
    )  # fmt: skip
    return fig


def photometry_table(photometry: pd.DataFrame) -> pd.DataFrame:
    """The source's photometry as a tidy table with the unit in each column header: one row
    per filter and aperture (or total), typed columns only (no mixed-type object column)."""
    p = photometry
    radius = p["radius_px"].to_numpy(dtype=float)
    aperture = np.where(
        p["aperture_kind"].astype(str).to_numpy() == "total",
        "total",
        np.char.add("r = ", np.char.mod("%g px", np.nan_to_num(radius))),
    )
    return pd.DataFrame(
        {
            "band": p["band"].astype("string"),
            "filter": p["filter"].astype("string"),
            "instrument": p["instrument"].astype("string"),
            "aperture": pd.array(aperture, dtype="string"),
            "radius (pix)": radius,
            "status": p["status"].astype("string"),
            "mag (Vega mag)": p["mag_vega"].astype(float),
            "error (mag)": p["mag_err"].astype(float),
            "flux (mJy)": p["flux_mjy"].astype(float),
            "flux error (mJy)": p["flux_err_mjy"].astype(float),
            "aperture correction (mag)": p["aperture_correction_mag"].astype(float),
            "sky median (e⁻/s/pix)": p["sky_median"].astype(float),
            "MW extinction corrected": p["mw_extinction_corrected"].astype("boolean"),
        }
    ).reset_index(drop=True)


def crossmatch_table(pairs: pd.DataFrame, source_pk: int) -> pd.DataFrame:
    """The stored cross-match pairs of a source (``crossmatch_pairs_all`` rows) from its side:
    the run, the other release and source, separation, outcome and a link to the other
    source's page (``source?src=<pk>``, None when unmatched)."""
    mine_a = (pairs["source_pk_a"] == source_pk).fillna(False).to_numpy(dtype=bool)

    def side(a: str, b: str) -> pd.Series:
        return pd.Series(np.where(mine_a, pairs[b], pairs[a]), index=pairs.index)

    other_pk = pd.to_numeric(side("source_pk_a", "source_pk_b"), errors="coerce").astype("Int64")
    release = (
        side("release_a", "release_b").astype(str)
        + " v"
        + side("release_version_a", "release_version_b").astype(str)
    )
    return pd.DataFrame(
        {
            "run": pairs["run_id"].astype("Int64"),
            "other release": release.astype("string"),
            "other source id": pd.to_numeric(side("source_id_a", "source_id_b"),
                                             errors="coerce").astype("Int64"),
            "separation (arcsec)": pairs["separation_arcsec"].astype(float),
            "outcome": pairs["outcome"].astype("string"),
            "one-to-one": pairs["is_best"].astype("boolean"),
            "radius (arcsec)": pairs["radius_arcsec"].astype(float),
            "open": ("source?src=" + other_pk.astype("string")).astype("string"),
        }
    ).reset_index(drop=True)  # fmt: skip
