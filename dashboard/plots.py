"""Plotly figures and styled tables of the dashboard: pure functions of the frames of :mod:`.data`.

Conventions follow Whitmore et al. 2021 (W21): classes 1 red, 2 green, 3 blue, 4 yellow
(Fig. 4); colour-colour diagrams with V-I across and U-B (or NUV-B) upwards-blue, i.e. the
colour axis inverted (Figs. 9-14); magnitudes in Vega. Large point clouds use ``Scattergl``
(WebGL), so 10^5 points stay responsive in the browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
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
# Every dashboard figure uses it as plotly's default template: passing ``template=`` per
# figure validates and copies the whole template each time (10-20 ms a figure).
pio.templates.default = TEMPLATE
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
    panel_labels: Mapping[str, tuple[str, str]] | None = None,
    panel_notes: Mapping[str, str] | None = None,
    panel_tracks: Mapping[str, Sequence[tuple[str, pd.DataFrame]]] | None = None,
    reddening: Mapping[str, tuple[float, float]] | None = None,
    reddening_label: str = "A_V = 1 mag",
    errors: Mapping[str, tuple[float, float]] | None = None,
) -> go.Figure:
    """One panel per method: points by class, W21 boxes with their counts, SSP tracks.

    ``points`` has ``key, class, v_minus_i`` and the ``y`` colour (and the
    :data:`SOURCE_POINT_COLUMNS` for the hover and the click); ``counts`` (rows box, columns
    key) labels each box; ``tracks`` are (name, frame with ``log_age, v_minus_i`` and ``y``),
    the same for every panel unless ``panel_tracks`` gives a panel its own (computed in its
    own filters); ``panel_labels`` gives a panel its own (x, y) axis titles and
    ``panel_notes`` a line under its title (e.g. the filters it pools). ``reddening`` is the
    (ΔV−I, Δy) shift of ``reddening_label`` per panel (an arrow), ``errors`` the typical
    (σ_V−I, σ_y) per panel (a cross). Ages are labelled along the first track of the panel
    with the fewest points, thinned so that labels do not overlap; the colour axis is
    inverted (blue up).
    """
    keys = list(keys) or ["(no method)"]
    rows, cols = _grid(len(keys))
    if len(points):  # only the points drawn: both colours measured (N counts them)
        points = points[np.isfinite(points["v_minus_i"].to_numpy(dtype=float))
                        & np.isfinite(points[y].to_numpy(dtype=float))]  # fmt: skip
    totals = points.groupby("key").size() if len(points) else pd.Series(dtype=int)
    titles = [
        f"{k.replace(' · ', '<br>')}  (N = {int(totals.get(k, 0)):,})"
        + (
            f"<br><span style='font-size:10px'>{panel_notes[k]}</span>"
            if panel_notes and panel_notes.get(k)
            else ""
        )
        for k in keys
    ]
    # the grid is laid out here, in one layout dict validated once: make_subplots and
    # add_traces(rows=, cols=) re-validate the layout for every panel (0.1-0.2 s per figure)
    h_space = 0.03 if panel_labels is None else 0.07
    v_space = 0.2 / rows
    width, height = (1 - h_space * (cols - 1)) / cols, (1 - v_space * (rows - 1)) / rows
    domains = [
        ([max(c * (width + h_space), 0.0), min(c * (width + h_space) + width, 1.0)],
         [max(1 - r * (height + v_space) - height, 0.0), min(1 - r * (height + v_space), 1.0)])
        for r in range(rows) for c in range(cols)
    ]  # fmt: skip
    title_notes = [
        {"text": t, "x": sum(domains[i][0]) / 2, "y": domains[i][1][1], "xref": "paper",
         "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
         "font": {"size": 13}}
        for i, t in enumerate(titles)
    ]  # fmt: skip
    y_name, y_range = COLOUR_AXES.get(y, (y, (2.0, -2.5)))
    x_range = (-1.0, 2.0)
    # everything is collected first and added in one call each: plotly re-validates the
    # whole layout on every add_shape / add_annotation, which is slow for dozens of them
    shapes, notes, traces, where = [], [], [], []
    seen: set[str] = set()
    # ages are labelled on the panel with the fewest points, where they are easiest to read
    sizes = [int(totals.get(k, 0)) for k in keys]
    label_panel = int(np.argmin(sizes)) if sizes else 0
    by_key = dict(tuple(points.groupby("key", sort=False))) if len(points) else {}
    for i, key in enumerate(keys):
        r, c = i // cols + 1, i % cols + 1
        ref = _axis_ref(i)
        xref, yref = f"x{ref}", f"y{ref}"
        for box in boxes:
            xs, ys = zip(*box.vertices, strict=True)
            path = "M " + " L ".join(f"{a},{b}" for a, b in zip(xs, ys, strict=True)) + " Z"
            shapes.append(
                {"type": "path", "path": path, "xref": xref, "yref": yref,
                 "line": {"color": "#555555", "width": 1.2}, "layer": "below"}
            )  # fmt: skip
            if counts is not None and key in counts.columns and box.number in counts.index:
                # box number and count, centred just inside the box's upper (bluer) edge
                notes.append(
                    {"x": 0.5 * (min(xs) + max(xs)), "y": min(ys) + 0.03, "xref": xref,
                     "yref": yref, "showarrow": False, "xanchor": "center",
                     "yanchor": "top", "font": {"size": 10, "color": "#222222"},
                     "bgcolor": "rgba(255,255,255,0.8)", "borderpad": 1,
                     "text": f"<b>{box.number}</b>: {int(counts.loc[box.number, key])}"}
                )  # fmt: skip
        sub = by_key.get(key, points.iloc[:0])
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
                    **source_point_args(pts, f"<br>V−I %{{x:.2f}}, {y_name} %{{y:.2f}}"),
                )
            )
            where.append((r, c))
            seen.add(group)
        own = tracks if panel_tracks is None else panel_tracks.get(key, ())
        for t, (name, track) in enumerate(own):
            colour = TRACK_COLOURS[t % len(TRACK_COLOURS)]
            group = f"track:{name}"
            traces.append(
                go.Scatter(
                    x=track["v_minus_i"], y=track[y], mode="lines",
                    line={"color": colour, "width": 1.6, "dash": "solid" if t == 0 else "dash"},
                    name=f"{name} track", legendgroup=group, showlegend=group not in seen,
                    hovertemplate="log τ/yr %{text:.2f}<extra>" + name + "</extra>",
                    text=track["log_age"],
                )
            )  # fmt: skip
            seen.add(group)
            where.append((r, c))
            if t == 0:
                marks = _age_marks(track, y, colour, labels=i == label_panel,
                                   x_span=x_range[1] - x_range[0],
                                   y_span=abs(y_range[0] - y_range[1]), cols=cols)  # fmt: skip
                if marks is not None:
                    traces.append(marks)
                    where.append((r, c))
        # the reddening vector (upper right, pointing redwards) and the typical error cross
        # (lower left), where the W21 boxes leave the plane empty
        shift = (reddening or {}).get(key)
        if shift is not None and np.all(np.isfinite(shift)):
            x0, y0 = 1.1, y_range[1] + 0.1 * (y_range[0] - y_range[1])
            notes.append(
                {"x": x0 + shift[0], "y": y0 + shift[1], "ax": x0, "ay": y0, "xref": xref,
                 "yref": yref, "axref": xref, "ayref": yref, "showarrow": True,
                 "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 2, "arrowcolor": "#8c2d04",
                 "text": "", "name": "reddening vector"}
            )  # fmt: skip
            notes.append(
                {"x": x0, "y": y0, "xref": xref, "yref": yref, "showarrow": False,
                 "xanchor": "left", "yanchor": "bottom", "text": reddening_label,
                 "font": {"size": 10, "color": "#8c2d04"}}
            )  # fmt: skip
        err = (errors or {}).get(key)
        if err is not None and np.all(np.isfinite(err)):
            x0, y0 = -0.6, y_range[0] - 0.15 * (y_range[0] - y_range[1])
            traces.append(
                go.Scatter(
                    x=[x0], y=[y0], mode="markers", marker={"size": 3, "color": "#444444"},
                    error_x={"type": "data", "array": [err[0]], "color": "#444444", "width": 3},
                    error_y={"type": "data", "array": [err[1]], "color": "#444444", "width": 3},
                    name="typical error (median)", legendgroup="errors",
                    showlegend="errors" not in seen,
                    hovertemplate=f"median σ(V−I) {err[0]:.3f}, σ({y_name}) {err[1]:.3f} mag"
                    "<extra></extra>",
                )
            )  # fmt: skip
            seen.add("errors")
            where.append((r, c))
    for trace, (r, c) in zip(traces, where, strict=True):
        ref = _axis_ref((r - 1) * cols + c - 1)
        trace.update(xaxis=f"x{ref}", yaxis=f"y{ref}")
    axes = {}
    for i in range(rows * cols):  # one layout entry for every axis
        r, c = i // cols + 1, i % cols + 1
        ref = _axis_ref(i)
        key = keys[i] if i < len(keys) else None
        own_x, own_y = (panel_labels or {}).get(key, (x_label, y_label or f"{y_name} [mag]"))
        axes[f"xaxis{ref}"] = {"range": list(x_range), "zeroline": False, "showticklabels": True,
                               "domain": domains[i][0], "anchor": f"y{ref}"}  # fmt: skip
        axes[f"yaxis{ref}"] = {"range": list(y_range), "zeroline": False,
                               "domain": domains[i][1], "anchor": f"x{ref}",
                               "showticklabels": c == 1}  # fmt: skip
        if i:  # zoom and pan together
            axes[f"xaxis{ref}"]["matches"] = "x"
            axes[f"yaxis{ref}"]["matches"] = "y"
        if panel_labels is not None and key is not None:
            axes[f"xaxis{ref}"]["title"] = {"text": own_x, "font": {"size": 12}}
            axes[f"yaxis{ref}"]["title"] = {"text": own_y, "font": {"size": 12}}
            axes[f"yaxis{ref}"]["showticklabels"] = True
        else:
            if r == rows:
                axes[f"xaxis{ref}"]["title"] = {"text": x_label}
            if c == 1:
                axes[f"yaxis{ref}"]["title"] = {"text": y_label or f"{y_name} [mag]"}
    layout = dict(
        **axes,
        title=title,
        height=190 + 420 * rows,
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.12 / rows,
            "x": 0,
            "itemsizing": "constant",
        },
        margin={"t": 90, "l": 70, "r": 20, "b": 110},
        shapes=shapes,
        annotations=[*title_notes, *notes],
    )
    return go.Figure(data=traces, layout=layout)


#: Size (px) of a track's age label (text right of its dot), for thinning overlapping ones.
AGE_LABEL_PX = (46.0, 14.0)
#: Approximate size (px) of a panel's plotting area in a wide page with ``cols`` columns.
PANEL_PX = (1150.0, 330.0)


def thin_labels(
    x: np.ndarray, y: np.ndarray, x_span: float, y_span: float, size_px: tuple[float, float],
    min_px: tuple[float, float] = AGE_LABEL_PX,
) -> list[int]:  # fmt: skip
    """Indices of the points whose labels are kept so that no two overlap: a label is kept
    unless it lies within ``min_px`` (width, height, in pixels of a panel of ``size_px``
    spanning ``x_span`` by ``y_span`` plot units) of a label already kept, in order."""
    px = np.asarray(x, dtype=float) * size_px[0] / x_span
    py = np.asarray(y, dtype=float) * size_px[1] / y_span
    kept: list[int] = []
    for k in range(len(px)):  # the few marked ages
        if not (np.isfinite(px[k]) and np.isfinite(py[k])):
            continue
        if all(abs(px[k] - px[j]) >= min_px[0] or abs(py[k] - py[j]) >= min_px[1]
               for j in kept):  # fmt: skip
            kept.append(k)
    return kept


def _age_marks(
    track: pd.DataFrame,
    y: str,
    colour: str,
    *,
    labels: bool = True,
    x_span: float = 3.0,
    y_span: float = 3.8,
    cols: int = 1,
) -> go.Scatter | None:
    """Dots at the ages of :data:`TRACK_AGES` (nearest grid age), with labels that do not
    overlap (:func:`thin_labels`; ``labels`` False: dots only)."""
    log_age = track["log_age"].to_numpy(dtype=float)
    picks = []
    for age, label in TRACK_AGES:
        k = int(np.argmin(np.abs(log_age - np.log10(age))))
        if abs(log_age[k] - np.log10(age)) < 0.1:
            picks.append((k, label))
    if not picks:
        return None
    idx = [k for k, _ in picks]
    xs, ys = track["v_minus_i"].to_numpy()[idx], track[y].to_numpy()[idx]
    text = [""] * len(picks)
    if labels:
        size = (PANEL_PX[0] / max(cols, 1), PANEL_PX[1])
        for j in thin_labels(xs, ys, x_span, y_span, size):
            text[j] = picks[j][1]
    return go.Scatter(
        x=xs, y=ys, mode="markers+text", text=text, textposition="middle right",
        textfont={"size": 10, "color": colour}, marker={"color": colour, "size": 6},
        showlegend=False, hovertext=[lbl for _, lbl in picks], hoverinfo="text",
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
    """W21 Fig. 18: each method's box counts over the all-method mean, mean ± std over rows
    (one eligible row: the mean alone, no spread)."""
    fig = go.Figure()
    for i, row in enumerate(merit.itertuples(index=False)):
        spread = bool(np.isfinite(row.std))
        label = f"{row.method}: {row.mean:.2f}" + (f" ± {row.std:.2f}" if spread
                                                    else " (one row: no spread)")  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[row.method], y=[row.mean],
                error_y={"type": "data", "array": [row.std if spread else 0.0],
                         "visible": spread, "thickness": 2},
                mode="markers", marker={"size": 12, "color": series_colour(i)}, name=label,
            )
        )  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", line_color="#555555")
    n = int(merit["n_rows"].iloc[0]) if len(merit) else 0
    fig.update_layout(
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
    fig.update_layout(height=430, margin={"t": 60})
    return fig


def _error_bars(frame: pd.DataFrame, value: str, lo: str, hi: str) -> dict | None:
    """Plotly asymmetric error bars from interval columns (None when absent)."""
    if lo not in frame or hi not in frame:
        return None
    v = frame[value].to_numpy(dtype=float)
    return {
        "type": "data", "symmetric": False, "visible": True,
        "array": np.nan_to_num(frame[hi].to_numpy(dtype=float) - v),
        "arrayminus": np.nan_to_num(v - frame[lo].to_numpy(dtype=float)),
    }  # fmt: skip


def agreement_bars(fractions: pd.DataFrame, title: str) -> go.Figure:
    """Agreement fraction per class set (W21 Fig. 5 / Table 1 columns), with its binomial
    interval (``agreement_lo/hi``: Wilson, 1 sigma) as error bars."""
    f = fractions.dropna(subset=["agreement"])
    fig = go.Figure(
        go.Bar(
            x=[f"Class {c}" if c[0].isdigit() else c for c in f["class_set"]],
            y=f["agreement"],
            error_y=_error_bars(f, "agreement", "agreement_lo", "agreement_hi"),
            text=[f"{v:.2f}" for v in f["agreement"]],
            textposition="inside",
            marker_color="#377eb8",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        yaxis={"title": "agreement fraction", "range": [0, 1.1]},
        xaxis={"title": "class set"},
        height=380,
    )
    return fig


def agreement_vs_magnitude(binned: pd.DataFrame) -> go.Figure:
    """Agreement fraction per class set in equal-number m_V bins (W21 Fig. 6), with binomial
    error bars (``agreement_lo/hi``)."""
    fig = go.Figure()
    for i, (label, group) in enumerate(binned.groupby("class_set", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["median"], y=group["agreement"], mode="lines+markers",
                error_y=_error_bars(group, "agreement", "agreement_lo", "agreement_hi"),
                name=f"Class {label}", line={"color": series_colour(i)},
                customdata=np.column_stack([group["lo"], group["hi"], group["n_a"]]),
                hovertemplate="m_V %{customdata[0]:.2f}–%{customdata[1]:.2f}: "
                "%{y:.2f}<extra>Class " + str(label) + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title="Agreement vs magnitude (W21 Fig. 6): equal-number bins, at the bin median; "
        "1σ binomial (Wilson) errors",
        xaxis_title="apparent V magnitude m_V (Vega, mag)",
        yaxis={"title": "agreement fraction", "range": [0, 1.05]},
        height=400,
    )
    return fig


# --- mass and age functions (W21 Figs. 22-25) ----------------------------------------------------


#: Line styles of the two power-law fits (W21 §7): binned least squares and maximum likelihood.
FIT_STYLES: dict[str, tuple[str, str]] = {
    "binned": ("solid", "binned least squares"),
    "mle": ("dash", "maximum likelihood"),
}


def _fit_label(fit: pd.DataFrame, symbol: str) -> str:
    if fit.empty or not np.isfinite(fit["slope"].iloc[0]):
        return ""
    return f"{symbol} = {fit['slope'].iloc[0]:.2f} ± {fit['slope_err'].iloc[0]:.2f}"


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
    marks: Sequence[tuple[float, str]] = (),
) -> go.Figure:
    """Binned dN/dx per range (one panel each) and per key, with both power-law fits drawn:
    the binned least-squares line over the bins it was fitted to (solid) and the maximum-
    likelihood line over its range (dashed, normalised to the same sources). ``marks``:
    vertical lines (x, label), e.g. completeness limits."""
    ranges = list(dict.fromkeys(bins["range"])) if len(bins) else []
    fig = make_subplots(rows=1, cols=max(len(ranges), 1), subplot_titles=ranges or [""])
    colour = {k: series_colour(i) for i, k in enumerate(keys)}
    shown: set[str] = set()
    for j, rng in enumerate(ranges):
        y_span = [np.inf, -np.inf]
        for key in keys:
            every = bins[(bins["range"] == rng) & (bins["key"] == key)]
            b = every[every["n"] > 0]
            if b.empty:
                continue
            x = np.power(10.0, b["log_centre"].to_numpy(dtype=float))
            y = b["dn_dx"].to_numpy(dtype=float)
            y_span = [min(y_span[0], float(y.min())), max(y_span[1], float(y.max()))]
            inside = np.ones(len(b), dtype=bool)
            if fit_range is not None:
                lc = b["log_centre"].to_numpy(dtype=float)
                inside = (lc >= fit_range[0]) & (lc <= fit_range[1])
            f = fits[(fits["range"] == rng) & (fits["key"] == key)]
            labels = {
                fit: _fit_label(f[f["fit"] == fit], f"{slope_symbol}<sub>{short}</sub>")
                for fit, short in (("binned", "LSQ"), ("mle", "MLE"))
            }
            slopes = "<br>".join(v for v in labels.values() if v)
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="markers",
                    error_y={"type": "data", "array": b["dn_dx_err"], "visible": True},
                    marker={
                        "color": colour[key], "size": 8,
                        "symbol": np.where(inside, "circle", "circle-open").tolist(),
                    },
                    name=key, legendgroup=key, showlegend=key not in shown,
                    customdata=b["n"],
                    hovertemplate="%{x:.3g}: %{y:.3g} (N = %{customdata})<extra>"
                    + key + ("<br>" + slopes if slopes else "") + "</extra>",
                ),
                row=1, col=j + 1,
            )  # fmt: skip
            shown.add(key)
            for fit, (dash, _) in FIT_STYLES.items():  # the two fits
                row = f[f["fit"] == fit]
                if row.empty or not np.isfinite(row["intercept"].iloc[0]):
                    continue
                if fit == "binned":  # over the bins it was fitted to
                    lx = np.log10(x[inside]) if inside.any() else np.log10(x)
                    line_x = np.array([lx.min(), lx.max()])
                else:  # over its range, up to the last bin
                    top = row["x_max"].iloc[0]
                    top = top if np.isfinite(top) else float(every["hi"].max())
                    line_x = np.log10([row["x_min"].iloc[0], top])
                line_y = row["intercept"].iloc[0] + row["slope"].iloc[0] * line_x
                fig.add_trace(
                    go.Scatter(
                        x=10**line_x, y=10**line_y, mode="lines", showlegend=False,
                        line={"color": colour[key], "width": 1.5, "dash": dash},
                        legendgroup=key, name=f"{key}: {labels[fit]}",
                        hovertemplate=f"{key}<br>{FIT_STYLES[fit][1]}: {labels[fit]}"
                        "<extra></extra>",
                    ),
                    row=1, col=j + 1,
                )  # fmt: skip
        for x_mark, label in marks:
            if np.isfinite(x_mark) and np.isfinite(y_span[0]):
                fig.add_trace(
                    go.Scatter(
                        x=[x_mark, x_mark], y=[y_span[0] / 3, y_span[1] * 3], mode="lines",
                        line={"color": "#555555", "width": 1, "dash": "dot"},
                        name=label, legendgroup=label, showlegend=j == 0,
                        hovertemplate=f"{label}: %{{x:.3g}}<extra></extra>",
                    ),
                    row=1, col=j + 1,
                )  # fmt: skip
        fig.update_xaxes(
            type="log", title_text=x_title, exponentformat="power", dtick=1, row=1, col=j + 1
        )
        fig.update_yaxes(type="log", exponentformat="power", dtick=1, row=1, col=j + 1)
    for fit, (dash, label) in FIT_STYLES.items():  # legend of the line styles
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="lines", name=label, legendgroup=f"fit-{fit}",
                       line={"color": "#333333", "dash": dash})
        )  # fmt: skip
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    fig.update_layout(
        title=title,
        height=470,
        legend={"orientation": "h", "y": -0.22},
        margin={"t": 80},
    )
    return fig


def slope_table(fits: pd.DataFrame, symbol: str, keys: Sequence[str] = ()) -> pd.DataFrame:
    """W21 Tables 4-5 layout: one row per method and fit (binned least squares, maximum
    likelihood), one column per range, ``slope ± error (N)``."""
    both = fits[fits["fit"].isin(list(FIT_STYLES))] if len(fits) else fits
    if both.empty:
        return pd.DataFrame()
    cell = [
        f"{a:.2f} ± {b:.2f} (N={n})" if np.isfinite(a) else "–"
        for a, b, n in zip(both["slope"], both["slope_err"], both["n"], strict=True)
    ]
    names = both["fit"].map({k: v[1] for k, v in FIT_STYLES.items()})
    table = both.assign(cell=cell, how=names).pivot(
        index=["key", "how"], columns="range", values="cell"
    )
    table = table.reindex(columns=list(dict.fromkeys(both["range"])))
    order = [(k, v[1]) for k in (keys or dict.fromkeys(both["key"])) for v in FIT_STYLES.values()]
    table = table.reindex([o for o in order if o in table.index])
    table.index.names = ["method", f"{symbol} from"]
    return table.fillna("–")


def mass_function_figure(
    bins: pd.DataFrame,
    fits: pd.DataFrame,
    keys: Sequence[str],
    marks: Sequence[tuple[float, str]] = (),
) -> go.Figure:
    """dN/dM per age range with the fitted slopes β (W21 Fig. 23, Table 4); ``marks``:
    completeness limits (M in Msun, label)."""
    return _function_figure(
        bins,
        fits,
        keys,
        x_title="mass M [M☉]",
        y_title="dN/dM [M☉⁻¹]",
        slope_symbol="β",
        title="Mass functions dN/dM ∝ M^β (W21 Fig. 23): binned least squares (solid) and "
        "maximum likelihood (dashed)",
        marks=marks,
    )


def age_function_figure(
    bins: pd.DataFrame, fits: pd.DataFrame, keys: Sequence[str], fit_range: tuple[float, float]
) -> go.Figure:
    """dN/dτ per mass range with the fitted slopes γ; open symbols are not in the binned fit
    (W21 Fig. 24)."""
    return _function_figure(
        bins,
        fits,
        keys,
        x_title="age τ [yr]",
        y_title="dN/dτ [yr⁻¹]",
        slope_symbol="γ",
        fit_range=fit_range,
        title="Age functions dN/dτ ∝ τ^γ (W21 Figs. 24-25); open symbols left out of the "
        "binned fit (solid); maximum likelihood dashed",
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
                customdata=source_customdata(s),
                hovertemplate=SOURCE_HOVER + f"<extra>{key}</extra>",
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
        title=title, height=560,
        legend={"orientation": "h", "y": -0.15, "itemsizing": "constant"},
    )  # fmt: skip
    return fig


def separation_histogram(matched: pd.DataFrame, radius_arcsec: float) -> go.Figure:
    """Separations of the one-to-one pairs in 20 bins from 0 to the match radius
    (:func:`clustercat.processing.crossmatch_diagnostics.separation_histogram`)."""
    from clustercat.processing.crossmatch_diagnostics import separation_histogram as bins

    sep = matched["separation_arcsec"].to_numpy(dtype=float)
    top = max(float(radius_arcsec), float(np.nanmax(sep)) if np.isfinite(sep).any() else 0.0)
    return separation_figure(bins(sep, 20, top), radius_arcsec)


def separation_figure(hist: pd.DataFrame, radius_arcsec: float) -> go.Figure:
    """A separation histogram (``lo_arcsec, hi_arcsec, n``; bins from 0) with the radius."""
    lo, hi = hist["lo_arcsec"].to_numpy(dtype=float), hist["hi_arcsec"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=0.5 * (lo + hi), y=hist["n"], width=hi - lo, marker_color="#2ca02c",
            marker_line={"width": 0.5, "color": "white"}, name="pairs",
            customdata=np.column_stack([lo, hi]),
            hovertemplate="%{customdata[0]:.4f}–%{customdata[1]:.4f}″: %{y} pairs<extra></extra>",
        )
    )  # fmt: skip
    fig.add_vline(
        x=radius_arcsec,
        line_dash="dash",
        line_color="#d62728",
        annotation_text=f"radius {radius_arcsec:.3f}″",
    )
    fig.update_xaxes(range=[0, float(hi.max()) * 1.05 if len(hi) else 1.0])
    fig.update_layout(
        title=f"Separations of the {int(hist['n'].sum()):,} one-to-one pairs (bins from 0)",
        xaxis_title="separation [arcsec]",
        yaxis_title="pairs",
        height=360,
        bargap=0,
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
        barmode="stack",
        title="Outcome codes per galaxy (one row per source taking part)",
        yaxis_title="sources",
        height=400,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


# --- overview ---------------------------------------------------------------------------------


def class_counts_figure(counts: pd.DataFrame, method: str) -> go.Figure:
    """Classified sources per galaxy and class under one method (stacked, W21 colours).

    One bar per galaxy and release: with several releases the x axis is two-level (galaxy,
    then release), so two versions of a catalogue stand side by side and are never added."""
    c = counts[counts["method"] == method]
    releases = sorted(c["release"].unique()) if "release" in c else []
    several = len(releases) > 1
    bars = (
        c.groupby(["galaxy", "release"] if "release" in c else ["galaxy"])["n"].sum()
        if len(c) else pd.Series(dtype=np.int64)
    )  # fmt: skip
    fig = go.Figure()
    for cls in sorted(CLASS_COLOURS):
        s = c[c["class"] == cls].groupby(list(bars.index.names))["n"].sum()
        if s.empty:
            continue
        s = s.reindex(bars.index, fill_value=0)
        if several:
            x = [s.index.get_level_values(0).tolist(), s.index.get_level_values(1).tolist()]
        else:
            x = s.index.get_level_values(0).tolist()
        fig.add_trace(
            go.Bar(x=x, y=s.to_numpy(), name=CLASS_NAMES[cls], marker_color=CLASS_COLOURS[cls],
                   hovertemplate="%{x}: %{y:,} sources<extra>" + CLASS_NAMES[cls] + "</extra>")
        )  # fmt: skip
    where = f" ({', '.join(releases)} side by side)" if several else (
        f" ({releases[0]})" if releases else "")  # fmt: skip
    fig.update_layout(
        barmode="stack",
        title=f"Classified sources per galaxy: {method}{where}",
        yaxis_title="sources",
        height=500 if several else 400,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        margin={"t": 90, "b": 150 if several else 90},
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
    fig.update_layout(title=title, height=480,
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
    fig.update_layout(title=title, height=560,
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
    fig.update_layout(title=title, height=440,
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
    fig.update_layout(title=title, height=460, width=560)
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
    fig.update_layout(title=title, height=420)
    return fig


# --- the MCI plane (Thilker et al. 2022 Figs. 3, 6-9) ---------------------------------------------

#: Axis ranges of Thilker et al. 2022 Figs. 6-9.
MCI_IN_RANGE = (-1.5, 1.0)
MCI_OUT_RANGE = (-3.0, 1.5)
#: Unclassified sources drawn as points (each with its hover) up to this many; beyond, the
#: density histogram alone shows them (the points' hover data would weigh megabytes).
MCI_MAX_UNCLASSIFIED = 20_000


#: What a point of the MCI plane adds to :data:`SOURCE_HOVER`.
MCI_HOVER = "<br>MCI_in %{x:.2f}, MCI_out %{y:.2f}"


def mci_plane_figure(
    points: pd.DataFrame,
    outline: np.ndarray | None,
    outline_name: str,
    title: str,
    highlight: pd.DataFrame | None = None,
    max_unclassified: int = MCI_MAX_UNCLASSIFIED,
) -> go.Figure:
    """Density of the sources in MCI_in-MCI_out (grey 2-D histogram), the semi-empirical
    region ``outline`` (vertices, dashed), the classified sources by class (W21 colours) and
    the unclassified ones as faint grey points (when at most ``max_unclassified``), all with
    the hover of :data:`SOURCE_HOVER` (:func:`source_point_args`, clickable), and a
    ``highlight``-ed source (red star).

    ``points`` has ``mci_in, mci_out, class`` (NA: unclassified) and the
    :data:`SOURCE_POINT_COLUMNS`.
    """
    fig = go.Figure(
        go.Histogram2d(
            x=points["mci_in"], y=points["mci_out"], colorscale="Greys", name="sources",
            xbins={"start": MCI_IN_RANGE[0], "end": MCI_IN_RANGE[1], "size": 0.025},
            ybins={"start": MCI_OUT_RANGE[0], "end": MCI_OUT_RANGE[1], "size": 0.05},
            colorbar={"title": "sources / bin"}, zmin=0, hoverinfo="skip",
        )
    )  # fmt: skip
    if outline is not None:
        fig.add_trace(
            go.Scatter(x=outline[:, 0], y=outline[:, 1], mode="lines", name=outline_name,
                       line={"color": "black", "dash": "dash", "width": 2}, hoverinfo="skip")
        )  # fmt: skip
    classes = pd.to_numeric(points["class"], errors="coerce") if "class" in points else None
    unclassified = points if classes is None else points[classes.isna().to_numpy(dtype=bool)]
    if 0 < len(unclassified) <= max_unclassified:
        fig.add_trace(
            go.Scattergl(
                x=unclassified["mci_in"].to_numpy(dtype=float),
                y=unclassified["mci_out"].to_numpy(dtype=float), mode="markers",
                name=f"unclassified ({len(unclassified):,})",
                marker={"size": 3, "color": "#7f7f7f", "opacity": 0.35},
                **source_point_args(unclassified, MCI_HOVER),
            )
        )  # fmt: skip
    for cls, colour in CLASS_COLOURS.items():
        if classes is None:
            break
        sub = points[(classes == cls).fillna(False).to_numpy(dtype=bool)]
        if len(sub):
            fig.add_trace(
                go.Scattergl(
                    x=sub["mci_in"].to_numpy(dtype=float), y=sub["mci_out"].to_numpy(dtype=float),
                    mode="markers", name=f"{CLASS_NAMES[cls]} ({len(sub):,})",
                    marker={"size": 5, "color": colour, "line": {"width": 0.5, "color": "white"}},
                    **source_point_args(sub, MCI_HOVER),
                )
            )  # fmt: skip
    if highlight is not None and len(highlight):
        fig.add_trace(
            go.Scatter(
                x=highlight["mci_in"], y=highlight["mci_out"], mode="markers",
                name="this source", customdata=source_customdata(highlight),
                marker={"symbol": "star", "size": 18, "color": "#d62728",
                        "line": {"width": 1, "color": "black"}},
                hovertemplate=SOURCE_HOVER + MCI_HOVER + "<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="MCI_in", range=list(MCI_IN_RANGE))
    fig.update_yaxes(title_text="MCI_out", range=list(MCI_OUT_RANGE))
    fig.update_layout(title=title, height=620,
                      legend={"orientation": "h", "y": -0.15})  # fmt: skip
    return fig


# --- cross-match diagnostics (T22 §6.4) ---------------------------------------------------------

#: Colours of the footprints of sides A and B and of their overlap.
FOOTPRINT_COLOURS = {"a": "#5e3c99", "b": "#e66101", "overlap": "#1a9641"}


def footprint_figure(
    polygons: pd.DataFrame, areas: pd.DataFrame, label_a: str, label_b: str, title: str
) -> go.Figure:
    """The footprints of A and B (convex hulls of their sources) and their overlap on the sky,
    with their areas (arcmin²) in the legend; RA increasing to the left."""
    names = {"a": f"A: {label_a}", "b": f"B: {label_b}", "overlap": "overlap"}
    area = areas.set_index("region")["area_arcsec2"] / 3600.0
    fig = go.Figure()
    for region in ("a", "b", "overlap"):  # three polygons
        poly = polygons[polygons["region"] == region]
        if poly.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=poly["ra"], y=poly["dec"], mode="lines",
                name=f"{names[region]} ({area.get(region, 0.0):.2f} arcmin²)",
                line={"color": FOOTPRINT_COLOURS[region], "width": 3 if region == "overlap" else 2,
                      "dash": "solid" if region == "overlap" else "dot"},
                fill="toself" if region == "overlap" else None,
                fillcolor="rgba(26,150,65,0.15)" if region == "overlap" else None,
                hovertemplate="RA %{x:.5f}, Dec %{y:.5f}<extra>" + names[region] + "</extra>",
            )
        )  # fmt: skip
    dec0 = float(np.nanmedian(polygons["dec"])) if len(polygons) else 0.0
    fig.update_xaxes(title_text="RA (ICRS) [deg]", autorange="reversed")
    fig.update_yaxes(title_text="Dec (ICRS) [deg]", scaleanchor="x",
                     scaleratio=1.0 / math.cos(math.radians(dec0)))  # fmt: skip
    fig.update_layout(title=title, height=420,
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def offsets_figure(
    offsets: pd.DataFrame,
    summary: pd.DataFrame,
    radius_arcsec: float,
    centre: tuple[float, float] = (0.0, 0.0),
) -> go.Figure:
    """ΔRA·cos δ against ΔDec (B minus A, arcsec) of the one-to-one pairs, the median offset
    marked, and the match radius about the run's own offset ``centre`` (T22 §6.4). Points
    carry side A's source (hover, click)."""
    points = offsets.rename(columns={"source_pk_a": "source_pk", "field_a": "field",
                                     "source_id_a": "source_id", "class_a": "class",
                                     "mag_v_a": "mag_v"})  # fmt: skip
    fig = go.Figure(
        go.Scattergl(
            x=offsets["dra_cosdec_arcsec"], y=offsets["ddec_arcsec"], mode="markers",
            name=f"pairs ({len(offsets):,})",
            marker={"size": 4, "opacity": 0.5, "color": "#377eb8"},
            **source_point_args(points, "<br>Δα cos δ %{x:.4f}″, Δδ %{y:.4f}″ (source A)"),
        )
    )  # fmt: skip
    row = summary.iloc[0] if len(summary) else None
    if row is not None and np.isfinite(row["median_dra_cosdec_arcsec"]):
        mx, my = float(row["median_dra_cosdec_arcsec"]), float(row["median_ddec_arcsec"])
        fig.add_trace(
            go.Scatter(
                x=[mx], y=[my], mode="markers",
                name=f"median offset ({mx:+.4f}″, {my:+.4f}″)",
                marker={"symbol": "x-thin", "size": 18, "line": {"width": 3, "color": "#d62728"},
                        "color": "#d62728"},
                hovertemplate="median Δα cos δ %{x:.4f}″, Δδ %{y:.4f}″<extra></extra>",
            )
        )  # fmt: skip
    t = np.linspace(0, 2 * np.pi, 121)
    fig.add_trace(
        go.Scatter(
            x=centre[0] + radius_arcsec * np.cos(t), y=centre[1] + radius_arcsec * np.sin(t),
            mode="lines", name=f"match radius {radius_arcsec:.3f}″",
            line={"color": "#7f7f7f", "dash": "dash", "width": 1}, hoverinfo="skip",
        )
    )  # fmt: skip
    fig.add_hline(y=0, line_color="#bbbbbb", line_width=1)
    fig.add_vline(x=0, line_color="#bbbbbb", line_width=1)
    fig.update_xaxes(title_text="Δα cos δ, B − A [arcsec]")
    fig.update_yaxes(title_text="Δδ, B − A [arcsec]", scaleanchor="x", scaleratio=1)
    fig.update_layout(height=520,
                      title="Astrometric offsets of the one-to-one pairs (before the run's offset)",
                      legend={"orientation": "h", "y": -0.18})  # fmt: skip
    return fig


def fractions_vs_magnitude_figure(
    matched_by_mag: pd.DataFrame, flips_by_mag: pd.DataFrame, label_a: str, label_b: str
) -> go.Figure:
    """Matched fraction of each side's sources and class-flip fraction of the classified pairs
    in bins of V, inside the footprint overlap, with binomial (Wilson, 1σ) error bars."""
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("Matched fraction (inside the overlap)",
                        "Class flips of the matched pairs (inside the overlap)"),
    )  # fmt: skip
    series = [
        (matched_by_mag[matched_by_mag["side"] == "a"], f"A: {label_a} matched", 1, "#5e3c99"),
        (matched_by_mag[matched_by_mag["side"] == "b"], f"B: {label_b} matched", 1, "#e66101"),
        (flips_by_mag, "other class (V of A)", 2, "#d62728"),
    ]
    for frame, name, col, colour in series:
        f = frame[frame["n"] > 0]
        if f.empty:
            continue
        centre = 0.5 * (f["lo"].to_numpy(dtype=float) + f["hi"].to_numpy(dtype=float))
        fig.add_trace(
            go.Scatter(
                x=centre, y=f["fraction"], mode="lines+markers", name=name,
                line={"color": colour}, error_y=_error_bars(f, "fraction", "fraction_lo",
                                                            "fraction_hi"),
                customdata=np.column_stack([f["lo"], f["hi"], f["k"], f["n"]]),
                hovertemplate="V %{customdata[0]:.2f}–%{customdata[1]:.2f}: %{y:.2f} "
                "(%{customdata[2]} of %{customdata[3]})<extra>" + name + "</extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    for col in (1, 2):
        fig.update_xaxes(title_text="V magnitude (Vega, mag)", row=1, col=col)
        fig.update_yaxes(range=[0, 1.05], row=1, col=col)
    fig.update_yaxes(title_text="fraction", row=1, col=1)
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.22})
    return fig


# --- source points in large clouds (issue 14: a rerun of the colour page well under 1 s) ----


def source_hover_text(points: pd.DataFrame) -> np.ndarray:
    """The hover of :data:`SOURCE_HOVER` pre-formatted per point (a 1-D string array): the
    same galaxy, field, source id, class, m_V, log age and log mass, from
    :func:`source_customdata`."""
    cd = source_customdata(points).astype(str)
    if not len(cd):
        return np.array([], dtype=str)
    parts = ("<b>", cd[:, 1], "</b> · ", cd[:, 2], " · source ", cd[:, 3], "<br>class ",
             cd[:, 4], " · m_V ", cd[:, 5], "<br>log(τ/yr) ", cd[:, 6], " · log(M/M☉) ",
             cd[:, 7])  # fmt: skip
    out = np.asarray(parts[0], dtype=str)
    for p in parts[1:]:
        out = np.char.add(out, p)
    return out


def source_point_args(points: pd.DataFrame, extra_hover: str = "") -> dict[str, object]:
    """``customdata``, ``text`` and ``hovertemplate`` of a trace of many source points.

    The hover shows what :data:`SOURCE_HOVER` shows (:func:`source_hover_text`), and the
    ``customdata`` is the ``source_pk`` alone (1-D), which
    :func:`clustercat.dashboard.ui.clicked_source` reads like the first column of
    :func:`source_customdata`. A 2-D object ``customdata`` of 10^4-10^5 points costs plotly
    0.2-0.3 s to validate and serialise on every rerun; this form about a quarter of that."""
    pk = pd.to_numeric(points["source_pk"], errors="coerce").to_numpy(dtype=float)
    return {
        "customdata": np.where(np.isfinite(pk), pk, -1).astype(np.int64),
        "text": source_hover_text(points),
        "hovertemplate": "%{text}" + extra_hover + "<extra></extra>",
    }
