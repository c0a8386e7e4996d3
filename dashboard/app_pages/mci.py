"""MCI plane: source density in MCI_in-MCI_out with the semi-empirical selection region
(Thilker et al. 2022 Figs. 3 and 6-9), points coloured by class where one exists.

The points come from :func:`clustercat.processing.catalogue_io.read_mci_plane` (the view's
MCI, the release's own morphology constants, and the image pipeline's selection flags); the
page's figure lives here (the page is its only user) and follows :mod:`.plots` (plotly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from clustercat.dashboard import cache, data, state, ui
from clustercat.dashboard.plots import TEMPLATE
from clustercat.processing.catalogue_io import read_mci_plane
from clustercat.processing.pipeline import semi_empirical_outline
from clustercat.processing.selection import mci_out_floor

#: Colours of the classes 1-4 (cluster, asymmetric cluster, association, star/artefact).
CLASS_COLOURS = {1: "#d7191c", 2: "#fdae61", 3: "#2c7bb6", 4: "#7f7f7f"}
#: Axis ranges of Thilker et al. 2022 Figs. 6-9.
MCI_IN_RANGE = (-1.5, 1.0)
MCI_OUT_RANGE = (-3.0, 1.5)


@st.cache_data(max_entries=cache.MAX_ENTRIES, show_spinner="Reading MCI…")
def cached_points(
    url: str, token: tuple, release_ids: tuple[int, ...], galaxy: str | None
) -> pd.DataFrame:
    """MCI_in, MCI_out of every source of the releases (:func:`read_mci_plane`)."""
    return read_mci_plane(cache.engine(url), release_ids, galaxy)


def mci_figure(
    points: pd.DataFrame, classes: pd.Series, distance_mpc: float | None, title: str
) -> go.Figure:
    """Density of the sources in the MCI plane, the semi-empirical region for the distance
    (dashed) and its MCI_out floor, and the classified sources by class."""
    fig = go.Figure(
        go.Histogram2d(
            x=points["mci_in"], y=points["mci_out"], colorscale="Greys", name="sources",
            xbins={"start": MCI_IN_RANGE[0], "end": MCI_IN_RANGE[1], "size": 0.025},
            ybins={"start": MCI_OUT_RANGE[0], "end": MCI_OUT_RANGE[1], "size": 0.05},
            colorbar={"title": "sources / bin"}, zmin=0,
        )
    )  # fmt: skip
    if distance_mpc is not None and np.isfinite(distance_mpc):
        outline = semi_empirical_outline(distance_mpc)
        fig.add_trace(
            go.Scatter(
                x=outline[:, 0], y=outline[:, 1], mode="lines",
                line={"color": "black", "dash": "dash", "width": 2},
                name=f"semi-empirical region, {distance_mpc:g} Mpc "
                f"(MCI_out ≥ {mci_out_floor(distance_mpc):g})",
            )
        )  # fmt: skip
    for cls, colour in CLASS_COLOURS.items():
        ids = classes.index[classes == cls]
        sub = points[points["source_pk"].isin(ids)]
        if len(sub):
            fig.add_trace(
                go.Scattergl(
                    x=sub["mci_in"], y=sub["mci_out"], mode="markers",
                    name=f"class {cls} ({len(sub):,})",
                    marker={"size": 5, "color": colour, "line": {"width": 0.5, "color": "white"}},
                )
            )  # fmt: skip
    fig.update_xaxes(title_text="MCI_in", range=list(MCI_IN_RANGE))
    fig.update_yaxes(title_text="MCI_out", range=list(MCI_OUT_RANGE))
    fig.update_layout(template=TEMPLATE, title=title, height=620,
                      legend={"orientation": "h", "y": -0.15})  # fmt: skip
    return fig


sel = state.current()
st.title("MCI plane")
ui.require_releases(sel)
st.caption(ui.scope_caption(sel).rsplit(" · ", 1)[0] + " · no magnitude cut")
points = cached_points(sel.url, sel.token, tuple(sel.scope.release_ids), sel.scope.galaxy)
if points.empty:
    st.info(
        "No source of these releases has MCI_in and MCI_out. Published LEGUS catalogues carry "
        "CI only; make a release from images with `clustercat pipeline run --field F "
        "--release NAME` (or run `clustercat demo`)."
    )
    st.stop()

fields = sorted(points["field"].unique())
c1, c2, c3 = st.columns([1, 1, 1])
field = state.selectbox(c1, "Field", fields, fields[0], "mci_field")
sub = points[points["field"] == field]
has_selection = sub["candidate"].notna().any()
subset = state.selectbox(
    c2, "Sources", ["candidates", "V S/N > 10", "all"],
    "candidates" if has_selection else "all", "mci_subset",
    help="Thilker et al. 2022: Fig. 3 shows all sources with V S/N > 10, Figs. 6-9 candidates.",
)  # fmt: skip
if subset != "all" and not has_selection:
    st.info("This release has no selection flags (it was not made by the image pipeline): "
            "all sources are shown.")  # fmt: skip
elif subset == "candidates":
    sub = sub[sub["candidate"].fillna(False).astype(bool)]
elif subset == "V S/N > 10":
    sub = sub[sub["v_snr"] > 10]
distances = sub["distance_mpc"].dropna()
distance = float(distances.iloc[0]) if len(distances) else None
if distance is None and sub["galaxy_distance_mpc"].notna().any():
    distance = float(sub["galaxy_distance_mpc"].dropna().iloc[0])
distance = c3.number_input(
    "Distance (Mpc)", 0.1, 100.0, float(distance or 10.0), 0.1, key="mci_d",
    help="Sets the MCI_out floor of the semi-empirical region (Thilker et al. 2022 §4.2.3).",
)  # fmt: skip

keys = sel.context.keys(sel.scope)
classes = data.first_method_classes(
    cache.engine(sel.url), sub["source_pk"].tolist(), list(dict.fromkeys(keys["method"]))
)
ui.chart(mci_figure(sub, classes, distance, f"{field}: {len(sub):,} sources"), key="mci")
n_region = int(sub["in_semi_empirical"].fillna(False).astype(bool).sum())
n_hd = int(sub["super_hd"].fillna(False).astype(bool).sum())
st.caption(
    f"{len(sub):,} sources shown; {n_region:,} inside the semi-empirical region, {n_hd:,} by "
    f"the super H-D pathway (M_V ≤ −10); {len(classes):,} classified "
    f"({', '.join(keys['method'].unique()) or 'no method chosen in the sidebar'}). "
    "Fiducial clusters (Moffat FWHM 2 px, η = 3) sit at (0, 0); stars upper right."
)
