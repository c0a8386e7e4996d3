"""Plotly figures and styled tables of the dashboard: pure functions of the frames of :mod:`.data`.

Conventions follow Whitmore et al. 2021 (W21): classes 1 red, 2 green, 3 blue, 4 yellow
(Fig. 4); colour-colour diagrams with V-I across and U-B (or NUV-B) upwards-blue, i.e. the
colour axis inverted (Figs. 9-14); magnitudes in Vega. Large point clouds use ``Scattergl``
(WebGL), so 10^5 points stay responsive in the browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from clustercat.processing.colour_boxes import ColourBox
from plotly.subplots import make_subplots

#: W21 Fig. 4 class colours (yellow darkened to read on white).
CLASS_COLOURS: dict[int, str] = {1: "#d62728", 2: "#2ca02c", 3: "#1f77b4", 4: "#d4a017"}
CLASS_NAMES: dict[int, str] = {
    1: "Class 1 (symmetric cluster)",
    2: "Class 2 (asymmetric cluster)",
    3: "Class 3 (compact association)",
    4: "Class 4 (not a cluster)",
}
#: Colours of methods / releases when several are overlaid.
SERIES_COLOURS = (
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
)  # fmt: skip
TRACK_COLOURS = ("#000000", "#7f7f7f")
#: Ages marked along the SSP tracks (yr) and their labels (W21 Fig. 10 marks ages).
TRACK_AGES: tuple[tuple[float, str], ...] = (
    (1e6, "1 Myr"), (3e6, "3 Myr"), (1e7, "10 Myr"), (3e7, "30 Myr"), (1e8, "100 Myr"),
    (3e8, "300 Myr"), (1e9, "1 Gyr"), (3e9, "3 Gyr"), (1e10, "10 Gyr"),
)  # fmt: skip
TEMPLATE = "plotly_white"
MAX_COLUMNS = 4

COLOUR_AXES = {
    "u_minus_b": ("U − B", (1.5, -2.3)),
    "nuv_minus_b": ("NUV − B", (2.5, -3.5)),
}


#: What a point of a source carries (plotly ``customdata``, in this order): the key first, so
#: that a click can open the source page (:func:`clustercat.dashboard.ui.source_chart`), then
#: what the hover shows. Missing columns are shown as "–".
SOURCE_POINT_COLUMNS: tuple[str, ...] = (
    "source_pk", "galaxy", "field", "source_id", "class", "mag_v", "log_age", "log_mass",
)  # fmt: skip
#: Hover text of a source's point (galaxy, field, source id, class, m_V, age, mass).
SOURCE_HOVER = (
    "<b>%{customdata[1]}</b> · %{customdata[2]} · source %{customdata[3]}<br>"
    "class %{customdata[4]} · m_V %{customdata[5]}<br>"
    "log(τ/yr) %{customdata[6]} · log(M/M☉) %{customdata[7]}"
)


def source_customdata(points: pd.DataFrame) -> np.ndarray:
    """The :data:`SOURCE_POINT_COLUMNS` of ``points`` as an object array (n, 8), numbers
    rounded for the hover (m_V and ages to 0.01, classes as integers); absent values "–"."""
    n = len(points)
    out = np.full((n, len(SOURCE_POINT_COLUMNS)), "–", dtype=object)
    for j, name in enumerate(SOURCE_POINT_COLUMNS):
        if name not in points.columns:
            continue
        values = points[name].to_numpy()
        if name in ("source_pk", "source_id", "class"):
            numbers = pd.to_numeric(points[name], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(numbers)
            out[ok, j] = numbers[ok].astype(np.int64)
        elif name in ("mag_v", "log_age", "log_mass"):
            numbers = pd.to_numeric(points[name], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(numbers)
            out[ok, j] = np.char.mod("%.2f", numbers[ok]) if ok.any() else out[ok, j]
        else:
            ok = pd.notna(points[name]).to_numpy()
            out[ok, j] = values[ok].astype(str)
    return out


def series_colour(i: int) -> str:
    return SERIES_COLOURS[i % len(SERIES_COLOURS)]


def _axis_ref(i: int) -> str:
    return "" if i == 0 else str(i + 1)


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, min(n, MAX_COLUMNS))
    return math.ceil(max(n, 1) / cols), cols


# --- colour-colour diagrams (W21 Figs. 9-14) ----------------------------------------------------


def colour_colour_figure(
    points: pd.DataFrame,
    keys: Sequence[str],
    *,
    y: str = "u_minus_b",
    x_label: str = "V − I (F555W − F814W) [mag]",
    y_label: str | None = None,
    boxes: Sequence[ColourBox] = (),
    counts: pd.DataFrame | None = None,
    tracks: Sequence[tuple[str, pd.DataFrame]] = (),
    title: str = "",
) -> go.Figure:
    """One panel per method: points by class, W21 boxes with their counts, SSP tracks.

    ``points`` has ``key, class, v_minus_i`` and the ``y`` colour; ``counts`` (rows box,
    columns key) labels each box; ``tracks`` are (name, frame with ``log_age, v_minus_i``
    and ``y``), with ages marked on the first panel. The colour axis is inverted (blue up).
    """
    keys = list(keys) or ["(no method)"]
    rows, cols = _grid(len(keys))
    totals = points.groupby("key").size() if len(points) else pd.Series(dtype=int)
    titles = [f"{k.replace(' · ', '<br>')}  (N = {int(totals.get(k, 0)):,})" for k in keys]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes=True,
        shared_yaxes=True,
        subplot_titles=titles,
        horizontal_spacing=0.03,
        vertical_spacing=0.16 / rows,
    )
    fig.update_annotations(font_size=13)
    y_name, y_range = COLOUR_AXES.get(y, (y, (2.0, -2.5)))
    # everything is collected first and added in one call each: plotly re-validates the
    # whole layout on every add_shape / add_annotation, which is slow for dozens of them
    shapes, notes, traces, where = [], [], [], []
    seen: set[str] = set()
    # ages are labelled on the panel with the fewest points, where they are easiest to read
    sizes = [int(totals.get(k, 0)) for k in keys]
    label_panel = int(np.argmin(sizes)) if sizes else 0
    for i, key in enumerate(keys):
        r, c = i // cols + 1, i % cols + 1
        ref = _axis_ref(i)
        for box in boxes:
            xs, ys = zip(*box.vertices, strict=True)
            path = "M " + " L ".join(f"{a},{b}" for a, b in zip(xs, ys, strict=True)) + " Z"
            shapes.append(
                {"type": "path", "path": path, "xref": f"x{ref}", "yref": f"y{ref}",
                 "line": {"color": "#555555", "width": 1.2}, "layer": "below"}
            )  # fmt: skip
            if counts is not None and key in counts.columns and box.number in counts.index:
                # box number and count, centred just inside the box's upper (bluer) edge
                notes.append(
                    {"x": 0.5 * (min(xs) + max(xs)), "y": min(ys) + 0.03, "xref": f"x{ref}",
                     "yref": f"y{ref}", "showarrow": False, "xanchor": "center",
                     "yanchor": "top", "font": {"size": 10, "color": "#222222"},
                     "bgcolor": "rgba(255,255,255,0.8)", "borderpad": 1,
                     "text": f"<b>{box.number}</b>: {int(counts.loc[box.number, key])}"}
                )  # fmt: skip
        sub = points[points["key"] == key]
        dense = len(sub) > 3000  # smaller, fainter markers keep a crowded panel readable
        marker_size, opacity = (3, 0.45) if dense else (5, 0.7)
        for cls in sorted(CLASS_COLOURS):
            pts = sub[sub["class"] == cls]
            if pts.empty:
                continue
            group = f"class{cls}"
            traces.append(
                go.Scattergl(
                    x=pts["v_minus_i"].to_numpy(),
                    y=pts[y].to_numpy(),
                    mode="markers",
                    marker={"color": CLASS_COLOURS[cls], "size": marker_size, "opacity": opacity},
                    name=CLASS_NAMES[cls],
                    legendgroup=group,
                    showlegend=group not in seen,
                    customdata=source_customdata(pts),
                    hovertemplate=SOURCE_HOVER
                    + "<br>V−I %{x:.2f}, "
                    + y_name
                    + " %{y:.2f}<extra></extra>",
                )
            )
            where.append((r, c))
            seen.add(group)
        for t, (name, track) in enumerate(tracks):
            colour = TRACK_COLOURS[t % len(TRACK_COLOURS)]
            traces.append(
                go.Scatter(
                    x=track["v_minus_i"], y=track[y], mode="lines",
                    line={"color": colour, "width": 1.6, "dash": "solid" if t == 0 else "dash"},
                    name=f"{name} track", legendgroup=f"track{t}", showlegend=i == 0,
                    hovertemplate="log τ/yr %{text:.2f}<extra>" + name + "</extra>",
                    text=track["log_age"],
                )
            )  # fmt: skip
            where.append((r, c))
            if i == label_panel and t == 0:
                marks = _age_marks(track, y, colour)
                if marks is not None:
                    traces.append(marks)
                    where.append((r, c))
    if traces:
        fig.add_traces(traces, rows=[w[0] for w in where], cols=[w[1] for w in where])
    axes = {}
    for i in range(rows * cols):  # one layout update for every axis
        r, c = i // cols + 1, i % cols + 1
        ref = _axis_ref(i)
        axes[f"xaxis{ref}"] = {"range": [-1.0, 2.0], "zeroline": False, "showticklabels": True}
        axes[f"yaxis{ref}"] = {"range": list(y_range), "zeroline": False}
        if r == rows:
            axes[f"xaxis{ref}"]["title"] = {"text": x_label}
        if c == 1:
            axes[f"yaxis{ref}"]["title"] = {"text": y_label or f"{y_name} [mag]"}
    fig.update_layout(
        **axes,
        template=TEMPLATE,
        title=title,
        height=170 + 400 * rows,
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.12 / rows,
            "x": 0,
            "itemsizing": "constant",
        },
        margin={"t": 70, "l": 70, "r": 20, "b": 110},
        shapes=shapes,
        annotations=[*fig.layout.annotations, *notes],
    )
    return fig


def _age_marks(track: pd.DataFrame, y: str, colour: str) -> go.Scatter | None:
    """Dots and labels at the ages of :data:`TRACK_AGES` (nearest grid age)."""
    log_age = track["log_age"].to_numpy(dtype=float)
    picks = []
    for age, label in TRACK_AGES:
        k = int(np.argmin(np.abs(log_age - np.log10(age))))
        if abs(log_age[k] - np.log10(age)) < 0.1:
            picks.append((k, label))
    if not picks:
        return None
    idx = [k for k, _ in picks]
    return go.Scatter(
        x=track["v_minus_i"].to_numpy()[idx], y=track[y].to_numpy()[idx],
        mode="markers+text", text=[lbl for _, lbl in picks], textposition="middle right",
        textfont={"size": 10, "color": colour}, marker={"color": colour, "size": 6},
        showlegend=False, hoverinfo="skip",
    )  # fmt: skip


def box_counts_table(counts: pd.DataFrame, boxes: Sequence[ColourBox]) -> pd.DataFrame:
    """Counts per box (rows, with the box's age label) and method (columns), plus the total."""
    labels = {0: "in no box"} | {b.number: f"Box {b.number}: {b.label}" for b in boxes}
    out = counts.copy()
    out.index = [labels.get(int(b), str(b)) for b in out.index]
    out.loc["total plotted"] = counts.sum(axis=0)
    out.index.name = "box"
    return out


# --- quality ratios (W21 Table 2, Fig. 18) ------------------------------------------------------


def table2(quality: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """W21 Table 2 layout: rows class set / box, columns galaxy; cells ``a/b/c/d [QR]``.

    Returns the text frame and a same-shaped frame of QR values (NaN: no QR) for colouring.
    """
    if quality.empty:
        return pd.DataFrame(), pd.DataFrame()
    counts = quality[list(keys)]
    text = counts.apply(
        lambda row: "/".join("–" if pd.isna(v) else str(int(v)) for v in row), axis=1
    )
    qr = quality["qr"].to_numpy(dtype=float)
    text = text + np.where(np.isfinite(qr), [f"  [QR {q:.1f}]" for q in qr], "")
    from clustercat.processing.colour_boxes import CLASS_SETS

    rank = {c: i for i, c in enumerate(CLASS_SETS)}
    frame = quality.assign(cell=text.to_numpy(), row=_row_labels(quality))
    frame = frame.assign(rank=frame["class_set"].map(rank)).sort_values(
        ["rank", "box"], kind="stable"
    )
    order = list(dict.fromkeys(frame["row"]))
    cells = frame.pivot(index="row", columns="galaxy", values="cell").reindex(order)
    qrs = frame.pivot(index="row", columns="galaxy", values="qr").reindex(order)
    cells.index.name = "class / box"
    return cells.fillna(""), qrs


def _row_labels(quality: pd.DataFrame) -> list[str]:
    return [
        f"Class {c} / Box {b}" for c, b in zip(quality["class_set"], quality["box"], strict=True)
    ]


def qr_colours(qr: pd.DataFrame) -> pd.DataFrame:
    """CSS per cell: blue where QR <= 1.0 (good, as printed), red where > 1.0 (W21 §5.5)."""
    from clustercat.processing.colour_boxes import quality_ratio_is_good

    good = quality_ratio_is_good(qr.to_numpy(dtype=float))
    has = np.isfinite(qr.to_numpy(dtype=float))
    css = np.where(
        has & good,
        "background-color: #d6e6fa; color: #0b3d91",
        np.where(has, "background-color: #fadbd8; color: #922b21", ""),
    )
    return pd.DataFrame(css, index=qr.index, columns=qr.columns)


def figure_of_merit_figure(merit: pd.DataFrame) -> go.Figure:
    """W21 Fig. 18: each method's box counts over the all-method mean, mean ± std over rows."""
    fig = go.Figure()
    for i, row in enumerate(merit.itertuples(index=False)):
        fig.add_trace(
            go.Scatter(
                x=[row.method], y=[row.mean],
                error_y={"type": "data", "array": [row.std], "visible": True, "thickness": 2},
                mode="markers", marker={"size": 12, "color": series_colour(i)},
                name=f"{row.method}: {row.mean:.2f} ± {row.std:.2f}",
            )
        )  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", line_color="#555555")
    n = int(merit["n_rows"].iloc[0]) if len(merit) else 0
    fig.update_layout(
        template=TEMPLATE,
        title=f"Figure of merit (W21 Fig. 18): {n} box rows with every method ≥ 12 objects",
        yaxis_title="count / mean count of all methods",
        xaxis_title="classification method",
        height=420,
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


# --- agreement (W21 Table 1, Figs. 5, 6, 21) ----------------------------------------------------


def confusion_figure(
    counts: pd.DataFrame, symmetric: pd.DataFrame, label_a: str, label_b: str
) -> go.Figure:
    """Counts N_ij and W21's symmetric matrix (Fig. 21, neither method as truth)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Counts N(A = i, B = j)", "W21 Fig. 21: ½ (N/N_A(i) + N/N_B(j))"),
        horizontal_spacing=0.12,
    )
    labels = [f"Class {c}" for c in counts.columns]
    n = counts.to_numpy(dtype=float)
    s = symmetric.to_numpy(dtype=float)
    fig.add_trace(
        go.Heatmap(
            z=n, x=labels, y=[f"Class {c}" for c in counts.index], colorscale="Blues",
            text=[[f"{int(v)}" for v in row] for row in n], texttemplate="%{text}",
            showscale=False, hovertemplate="A %{y}, B %{x}: %{z}<extra></extra>",
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Heatmap(
            z=s, x=labels, y=[f"Class {c}" for c in symmetric.index], colorscale="Viridis",
            zmin=0, zmax=1, text=[["–" if np.isnan(v) else f"{v:.2f}" for v in row] for row in s],
            texttemplate="%{text}", colorbar={"title": "fraction"},
            hovertemplate="A %{y}, B %{x}: %{z:.2f}<extra></extra>",
        ),
        row=1, col=2,
    )  # fmt: skip
    for c in (1, 2):
        fig.update_xaxes(title_text=f"class by B: {label_b}", row=1, col=c, side="bottom")
        fig.update_yaxes(title_text=f"class by A: {label_a}", row=1, col=c, autorange="reversed")
    fig.update_layout(template=TEMPLATE, height=430, margin={"t": 60})
    return fig


def agreement_bars(fractions: pd.DataFrame, title: str) -> go.Figure:
    """Agreement fraction per class set (W21 Fig. 5 / Table 1 columns)."""
    f = fractions.dropna(subset=["agreement"])
    fig = go.Figure(
        go.Bar(
            x=[f"Class {c}" if c[0].isdigit() else c for c in f["class_set"]],
            y=f["agreement"],
            text=[f"{v:.2f}" for v in f["agreement"]],
            textposition="outside",
            marker_color="#377eb8",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "font": {"size": 13}},
        yaxis={"title": "agreement fraction", "range": [0, 1.1]},
        xaxis={"title": "class set"},
        height=380,
    )
    return fig


def agreement_vs_magnitude(binned: pd.DataFrame) -> go.Figure:
    """Agreement fraction per class set in equal-number m_V bins (W21 Fig. 6)."""
    fig = go.Figure()
    for i, (label, group) in enumerate(binned.groupby("class_set", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["median"], y=group["agreement"], mode="lines+markers",
                name=f"Class {label}", line={"color": series_colour(i)},
                customdata=np.column_stack([group["lo"], group["hi"], group["n_a"]]),
                hovertemplate="m_V %{customdata[0]:.2f}–%{customdata[1]:.2f}: "
                "%{y:.2f}<extra>Class " + str(label) + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        template=TEMPLATE,
        title="Agreement vs magnitude (W21 Fig. 6): equal-number bins, at the bin median",
        xaxis_title="apparent V magnitude m_V (Vega, mag)",
        yaxis={"title": "agreement fraction", "range": [0, 1.05]},
        height=400,
    )
    return fig


# --- mass and age functions (W21 Figs. 22-25) ----------------------------------------------------


def _function_figure(
    bins: pd.DataFrame,
    fits: pd.DataFrame,
    keys: Sequence[str],
    *,
    x_title: str,
    y_title: str,
    slope_symbol: str,
    fit_range: tuple[float, float] | None = None,
    title: str = "",
) -> go.Figure:
    ranges = list(dict.fromkeys(bins["range"])) if len(bins) else []
    fig = make_subplots(rows=1, cols=max(len(ranges), 1), subplot_titles=ranges or [""])
    colour = {k: series_colour(i) for i, k in enumerate(keys)}
    shown: set[str] = set()
    for j, rng in enumerate(ranges):
        for key in keys:
            b = bins[(bins["range"] == rng) & (bins["key"] == key) & (bins["n"] > 0)]
            if b.empty:
                continue
            x = np.power(10.0, b["log_centre"].to_numpy(dtype=float))
            inside = np.ones(len(b), dtype=bool)
            if fit_range is not None:
                lc = b["log_centre"].to_numpy(dtype=float)
                inside = (lc >= fit_range[0]) & (lc <= fit_range[1])
            f = fits[(fits["range"] == rng) & (fits["key"] == key)]
            lsq = f[f["fit"] == "binned"]
            slope = (
                f"{slope_symbol} = {lsq['slope'].iloc[0]:.2f} ± {lsq['slope_err'].iloc[0]:.2f}"
                if len(lsq)
                else ""
            )
            fig.add_trace(
                go.Scatter(
                    x=x, y=b["dn_dx"], mode="markers",
                    error_y={"type": "data", "array": b["dn_dx_err"], "visible": True},
                    marker={
                        "color": colour[key], "size": 8,
                        "symbol": np.where(inside, "circle", "circle-open").tolist(),
                    },
                    name=key, legendgroup=key, showlegend=key not in shown,
                    customdata=b["n"],
                    hovertemplate="%{x:.3g}: %{y:.3g} (N = %{customdata})<extra>"
                    + key + ("<br>" + slope if slope else "") + "</extra>",
                ),
                row=1, col=j + 1,
            )  # fmt: skip
            shown.add(key)
            if len(lsq) and np.isfinite(lsq["intercept"].iloc[0]):
                # the fitted straight line in log-log, drawn over the bins it was fitted to
                lx = np.log10(x[inside]) if inside.any() else np.log10(x)
                line_x = np.array([lx.min(), lx.max()])
                line_y = lsq["intercept"].iloc[0] + lsq["slope"].iloc[0] * line_x
                fig.add_trace(
                    go.Scatter(
                        x=10**line_x, y=10**line_y, mode="lines", showlegend=False,
                        line={"color": colour[key], "width": 1.5}, legendgroup=key,
                        hoverinfo="skip",
                    ),
                    row=1, col=j + 1,
                )  # fmt: skip
        fig.update_xaxes(
            type="log", title_text=x_title, exponentformat="power", dtick=1, row=1, col=j + 1
        )
        fig.update_yaxes(type="log", exponentformat="power", dtick=1, row=1, col=j + 1)
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=460,
        legend={"orientation": "h", "y": -0.22},
        margin={"t": 80},
    )
    return fig


def slope_table(fits: pd.DataFrame, symbol: str, keys: Sequence[str] = ()) -> pd.DataFrame:
    """W21 Tables 4-5 layout: one row per method, one column per range, ``slope ± error``."""
    lsq = fits[fits["fit"] == "binned"]
    if lsq.empty:
        return pd.DataFrame()
    cell = [
        f"{a:.2f} ± {b:.2f} (N={n})"
        for a, b, n in zip(lsq["slope"], lsq["slope_err"], lsq["n"], strict=True)
    ]
    table = lsq.assign(cell=cell).pivot(index="key", columns="range", values="cell")
    table = table.reindex(columns=list(dict.fromkeys(lsq["range"])))
    if keys:
        table = table.reindex([k for k in keys if k in table.index])
    table.index.name = f"{symbol} (binned least squares)"
    return table.fillna("–")


def mass_function_figure(bins: pd.DataFrame, fits: pd.DataFrame, keys: Sequence[str]) -> go.Figure:
    """dN/dM per age range with the fitted slope β (W21 Fig. 23, Table 4)."""
    return _function_figure(
        bins,
        fits,
        keys,
        x_title="mass M [M☉]",
        y_title="dN/dM [M☉⁻¹]",
        slope_symbol="β",
        title="Mass functions dN/dM ∝ M^β (W21 Fig. 23), binned least-squares fits",
    )


def age_function_figure(
    bins: pd.DataFrame, fits: pd.DataFrame, keys: Sequence[str], fit_range: tuple[float, float]
) -> go.Figure:
    """dN/dτ per mass range with the fitted slope γ; open symbols are not fitted (W21 Fig. 24)."""
    return _function_figure(
        bins,
        fits,
        keys,
        x_title="age τ [yr]",
        y_title="dN/dτ [yr⁻¹]",
        slope_symbol="γ",
        fit_range=fit_range,
        title="Age functions dN/dτ ∝ τ^γ (W21 Figs. 24-25); open symbols left out of the fit",
    )


def mass_age_figure(
    sample: pd.DataFrame,
    keys: Sequence[str],
    age_ranges: Sequence[tuple[float, float]] = (),
    mass_ranges: Sequence[tuple[float, float | None]] = (),
) -> go.Figure:
    """log mass vs log age per method, with the ranges of the functions dotted (W21 Fig. 22)."""
    fig = go.Figure()
    for i, key in enumerate(keys):
        s = sample[sample["key"] == key]
        fig.add_trace(
            go.Scattergl(
                x=s["log_age"], y=s["log_mass"], mode="markers", name=f"{key} (N = {len(s):,})",
                marker={"size": 4, "opacity": 0.6, "color": series_colour(i)},
            )
        )  # fmt: skip
    for lo, hi in age_ranges:
        for v in (lo, hi):
            fig.add_vline(x=v, line_dash="dot", line_color="#777777")
    for lo, hi in mass_ranges:
        for v in (lo, hi):
            if v is not None:
                fig.add_hline(y=v, line_dash="dot", line_color="#777777")
    fig.update_layout(
        template=TEMPLATE,
        title="Mass–age diagram (W21 Fig. 22); dotted: the ranges of the functions",
        xaxis_title="log τ [yr]",
        yaxis_title="log M [M☉]",
        height=450,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


# --- cross-match ------------------------------------------------------------------------------


def sky_figure(
    matched: pd.DataFrame,
    only_a: pd.DataFrame,
    only_b: pd.DataFrame,
    label_a: str,
    label_b: str,
    title: str,
) -> go.Figure:
    """Matched and unmatched sources on the sky: RA increasing to the left (east left),
    equal angular scale on both axes."""
    fig = go.Figure()
    # the most numerous layer is drawn first (underneath), the rarest last (on top)
    layers = sorted(
        (
            (only_a, "ra", "dec", f"only in {label_a}", "#5e3c99"),
            (only_b, "ra", "dec", f"only in {label_b}", "#fdb863"),
            (matched, "ra_a", "dec_a", "matched one-to-one", "#1a9641"),
        ),
        key=lambda layer: -len(layer[0]),
    )
    dec0 = np.nan
    for frame, xc, yc, name, colour in layers:
        if frame.empty:
            continue
        size = 2 if len(frame) > 20000 else 4 if len(frame) > 2000 else 6
        fig.add_trace(
            go.Scattergl(
                x=frame[xc], y=frame[yc], mode="markers", name=f"{name} ({len(frame):,})",
                marker={"size": size, "color": colour, "opacity": 0.7},
            )
        )  # fmt: skip
        dec0 = float(np.nanmedian(frame[yc])) if np.isnan(dec0) else dec0
    ratio = 1.0 / math.cos(math.radians(dec0)) if np.isfinite(dec0) else 1.0
    fig.update_xaxes(title_text="RA (ICRS) [deg]", autorange="reversed")
    fig.update_yaxes(title_text="Dec (ICRS) [deg]", scaleanchor="x", scaleratio=ratio)
    fig.update_layout(
        template=TEMPLATE, title=title, height=560,
        legend={"orientation": "h", "y": -0.15, "itemsizing": "constant"},
    )  # fmt: skip
    return fig


def separation_histogram(matched: pd.DataFrame, radius_arcsec: float) -> go.Figure:
    """Separations of the one-to-one pairs, with the match radius."""
    fig = go.Figure(
        go.Histogram(
            x=matched["separation_arcsec"], nbinsx=40, marker_color="#2ca02c", name="pairs"
        )
    )
    fig.add_vline(
        x=radius_arcsec,
        line_dash="dash",
        line_color="#d62728",
        annotation_text=f"radius {radius_arcsec:.3f}″",
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"Separations of the {len(matched):,} one-to-one pairs",
        xaxis_title="separation [arcsec]",
        yaxis_title="pairs",
        height=360,
    )
    return fig


def outcome_bars(per_galaxy: pd.DataFrame, outcomes: Sequence[str]) -> go.Figure:
    """Rows per outcome code and galaxy (stacked)."""
    palette = {
        "same_class": "#2ca02c", "other_class": "#d62728", "matched": "#98df8a",
        "double": "#9467bd", "unmatched_outside_footprint": "#c7c7c7",
        "unmatched_not_detected": "#8c564b", "unmatched_not_candidate": "#e377c2",
        "unmatched": "#7f7f7f",
    }  # fmt: skip
    fig = go.Figure()
    for code in outcomes:
        if code in per_galaxy.columns and per_galaxy[code].sum() > 0:
            fig.add_trace(
                go.Bar(
                    x=per_galaxy["galaxy"], y=per_galaxy[code], name=code,
                    marker_color=palette.get(code, "#17becf"),
                )
            )  # fmt: skip
    fig.update_layout(
        template=TEMPLATE,
        barmode="stack",
        title="Outcome codes per galaxy (one row per source taking part)",
        yaxis_title="sources",
        height=400,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


# --- overview ---------------------------------------------------------------------------------


def class_counts_figure(counts: pd.DataFrame, method: str) -> go.Figure:
    """Classified sources per galaxy and class under one method (stacked, W21 colours)."""
    c = counts[counts["method"] == method]
    fig = go.Figure()
    for cls in sorted(CLASS_COLOURS):
        s = c[c["class"] == cls].groupby("galaxy")["n"].sum()
        if s.empty:
            continue
        fig.add_trace(
            go.Bar(x=s.index, y=s.values, name=CLASS_NAMES[cls], marker_color=CLASS_COLOURS[cls])
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="stack",
        title=f"Classified sources per galaxy: {method}",
        yaxis_title="sources",
        height=380,
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


# --- injection completeness and corrected functions (issue 11) ----------------------------------


def completeness_curves_figure(
    curves: pd.DataFrame, overall: pd.DataFrame, x_title: str, title: str, age_width: float = 1.0
) -> go.Figure:
    """Recovered / injected against the binned quantity, one curve per log-age bin (binomial
    error bars), and all ages together (black)."""
    fig = go.Figure()
    for i, (age, c) in enumerate(curves.groupby("age_low", sort=True)):  # a few age bins
        fig.add_trace(
            go.Scatter(
                x=c["bin_low"] + (c["bin_low"].diff().median() if len(c) > 1 else 0.25) / 2,
                y=c["completeness"], mode="lines+markers",
                error_y={"type": "data", "array": c["completeness_err"], "visible": True},
                name=f"log τ {age:g}–{age + age_width:g}",
                line={"color": series_colour(i)}, customdata=c["n_injected"],
                hovertemplate="%{x:.2f}: %{y:.2f} (N = %{customdata})",
            )
        )  # fmt: skip
    if len(overall):
        fig.add_trace(
            go.Scatter(
                x=(overall["bin_low"] + overall["bin_high"]) / 2, y=overall["completeness"],
                mode="lines+markers", name="all ages", line={"color": "black", "width": 3},
                error_y={"type": "data", "array": overall["completeness_err"], "visible": True},
                customdata=overall["n_injected"],
                hovertemplate="%{x:.2f}: %{y:.2f} (N = %{customdata})",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="completeness (recovered / injected)", range=[-0.05, 1.05])
    fig.update_layout(template=TEMPLATE, title=title, height=480,
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def hit_map_figure(hits: pd.DataFrame, regions: object | None, title: str) -> go.Figure:
    """Recovered trials on the MCI_in-MCI_out plane (2-D histogram) with the outlines of the
    nested model regions (Thilker et al. 2022 §4.2.2) when given."""
    fig = go.Figure(
        go.Histogram2d(
            x=hits["mci_in"], y=hits["mci_out"], colorscale="Blues", name="recovered trials",
            xbins={"size": 0.05}, ybins={"size": 0.05}, colorbar={"title": "trials / bin"},
        )
    )  # fmt: skip
    dashes = ("solid", "dash", "dot")
    for i, layer in enumerate(getattr(regions, "layers", ())):  # three layers
        nx, ny = layer.mask.shape
        fig.add_trace(
            go.Contour(
                x=layer.x0 + layer.bin_size * (np.arange(nx) + 0.5),
                y=layer.y0 + layer.bin_size * (np.arange(ny) + 0.5),
                z=layer.mask.T.astype(float), showscale=False, hoverinfo="skip",
                contours={"start": 0.5, "end": 0.5, "size": 1, "coloring": "none"},
                line={"color": series_colour(i), "width": 2, "dash": dashes[i % 3]},
                name=f"model region, {layer.bin_size:g} bins", showlegend=True,
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="MCI_in (measured)")
    fig.update_yaxes(title_text="MCI_out (measured)")
    fig.update_layout(template=TEMPLATE, title=title, height=560,
                      legend={"orientation": "h", "y": -0.15})  # fmt: skip
    return fig


def corrected_function_figure(bins: pd.DataFrame, x_title: str, y_title: str,
                              title: str) -> go.Figure:  # fmt: skip
    """dN/dx without (left) and with (right) the completeness correction, on the same bins:
    the corrected counts are the C-4 sums of 1/p per bin (Eq. 17-18) over the bin widths."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True,
                        subplot_titles=["uncorrected", "completeness-corrected"])  # fmt: skip
    b = bins[bins["n"] > 0]
    x = np.power(10.0, b["log_centre"].to_numpy(dtype=float))
    width = (b["hi"] - b["lo"]).to_numpy(dtype=float)
    fig.add_trace(
        go.Scatter(x=x, y=b["dn_dx"], mode="markers", name="uncorrected",
                   error_y={"type": "data", "array": b["dn_dx_err"], "visible": True},
                   marker={"color": series_colour(1), "size": 8}),
        row=1, col=1,
    )  # fmt: skip
    if "corrected_n" in b:
        y = b["corrected_n"].to_numpy(dtype=float) / width
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="markers", name="corrected",
                error_y={"type": "data", "visible": True,
                         "array": b["corrected_n_hi"].to_numpy(dtype=float) / width - y,
                         "arrayminus": y - b["corrected_n_lo"].to_numpy(dtype=float) / width},
                marker={"color": series_colour(0), "size": 8},
            ),
            row=1, col=2,
        )  # fmt: skip
    for col in (1, 2):
        fig.update_xaxes(type="log", title_text=x_title, exponentformat="power", row=1, col=col)
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=col)
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    fig.update_layout(template=TEMPLATE, title=title, height=440,
                      legend={"orientation": "h", "y": -0.22})  # fmt: skip
    return fig


# --- the ML page (issue 12) --------------------------------------------------------------------


def ml_confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[int],
                        title: str) -> go.Figure:  # fmt: skip
    """A classifier's stored confusion matrix: rows the training method's class, columns the
    model's."""
    z = np.asarray(matrix, dtype=float)
    labels = [f"Class {c}" for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(), x=labels, y=labels, colorscale="Blues", colorbar={"title": "sources"},
            text=[[f"{int(v)}" for v in row] for row in z], texttemplate="%{text}",
            hovertemplate="method %{y}, model %{x}: %{z}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="class by the model", side="bottom")
    fig.update_yaxes(title_text="class by the training method", autorange="reversed")
    fig.update_layout(template=TEMPLATE, title=title, height=460, width=560)
    return fig


def ml_occlusion_figure(curve: pd.DataFrame, title: str) -> go.Figure:
    """Scatter (dex) against the central mask diameter (Viana et al. §IV), with the null
    predictor's scatter where stored."""
    fig = go.Figure(
        go.Scatter(x=curve["diameter_px"], y=curve["scatter_dex"], mode="lines+markers",
                   name="scatter", line={"color": series_colour(0)})
    )  # fmt: skip
    if "null_scatter_dex" in curve.columns and curve["null_scatter_dex"].notna().any():
        fig.add_hline(y=float(curve["null_scatter_dex"].dropna().iloc[0]), line_dash="dot",
                      annotation_text="null predictor")  # fmt: skip
    fig.update_xaxes(title_text="central mask diameter [px]")
    fig.update_yaxes(title_text="scatter 1.49 × median |Δ log age| [dex]")
    fig.update_layout(template=TEMPLATE, title=title, height=420)
    return fig
