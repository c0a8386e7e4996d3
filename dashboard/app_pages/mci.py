"""MCI plane: source density in MCI_in-MCI_out with the semi-empirical selection region
(Thilker et al. 2022 Figs. 3 and 6-9), points coloured by class where one exists.

The points come from :func:`clustercat.dashboard.data.mci_points` (the view's MCI, the
release's own morphology constants, the image pipeline's selection flags, and what a point's
hover shows); the figure is :func:`clustercat.dashboard.plots.mci_plane_figure`, whose
points open their source page when clicked.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from clustercat.dashboard import cache, plots, state, ui
from clustercat.processing.pipeline import semi_empirical_outline
from clustercat.processing.readers_source import population_query
from clustercat.processing.selection import mci_out_floor

#: Columns of the figure's download (``cluster_catalogue_all`` names, and the class shown).
DOWNLOAD_COLUMNS = ["source_pk", "release_id", "galaxy", "field", "source_id", "mci_in",
                    "mci_out", "class"]  # fmt: skip

sel = state.current()
st.title("MCI plane")
ui.require_releases(sel)
st.caption(ui.scope_caption(sel).rsplit(" · ", 1)[0] + " · no magnitude cut")
keys = sel.context.keys(sel.scope)
methods = tuple(dict.fromkeys(keys["method"]))
points = cache.mci_points(
    sel.url, sel.token, tuple(sel.scope.release_ids), sel.scope.galaxy, methods
)
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
    subset = "all"
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

outline = semi_empirical_outline(distance) if np.isfinite(distance) else None
fig = plots.mci_plane_figure(
    sub, outline,
    f"semi-empirical region, {distance:g} Mpc (MCI_out ≥ {mci_out_floor(distance):g})",
    f"{field}: {len(sub):,} sources",
)  # fmt: skip
# the SQL gives the rows of "all"; the other subsets use selection flags no view holds
sql, params = (
    population_query(sel.scope.release_ids, DOWNLOAD_COLUMNS[1:-1], galaxy=sel.scope.galaxy,
                     field=field, not_null=("mci_in", "mci_out"))
    if subset == "all" else (None, None)
)  # fmt: skip
ui.figure(
    fig, sub[DOWNLOAD_COLUMNS], f"mci_plane_{field}", view="cluster_catalogue_all",
    units={"class": "class under the first chosen method that classified the source (code)"},
    key="mci", sql=sql, params=params, clickable=True,
)  # fmt: skip
classified = int(sub["class"].notna().sum())
n_region = int(sub["in_semi_empirical"].fillna(False).astype(bool).sum())
n_hd = int(sub["super_hd"].fillna(False).astype(bool).sum())
st.caption(
    f"{len(sub):,} sources shown; {n_region:,} inside the semi-empirical region, {n_hd:,} by "
    f"the super H-D pathway (M_V ≤ −10); {classified:,} classified "
    f"({', '.join(methods) or 'no method chosen in the sidebar'}). "
    "Fiducial clusters (Moffat FWHM 2 px, η = 3) sit at (0, 0); stars upper right. Click a "
    "point to open its source"
    + (
        "."
        if len(sub) - classified <= plots.MCI_MAX_UNCLASSIFIED
        else f" (unclassified sources, more than {plots.MCI_MAX_UNCLASSIFIED:,}, are shown "
        "by the density only)."
    )
)
