"""The footprint of a catalogue on the sky: tangent-plane positions and a grown convex hull.

Pure functions, no database code. :mod:`.crossmatch_db` uses them for the
``unmatched_outside_footprint`` outcome (the footprint of a side is the convex hull of all
its source positions, in the gnomonic projection about the mean position of both sides,
grown by the match radius); :mod:`.crossmatch_diagnostics` and :mod:`.analyses` project with
:func:`tangent_plane` too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import ConvexHull, QhullError

from .crossmatch import CANDIDATE_MARGIN

__all__ = ["footprint_contains", "tangent_plane"]


def tangent_plane(vectors: NDArray[np.float64], centre: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gnomonic (xi, eta) in arcsec of unit vectors about ``centre`` (a unit vector)."""
    c = centre / np.linalg.norm(centre)
    east = np.cross([0.0, 0.0, 1.0], c)
    if np.linalg.norm(east) < 1e-12:  # centre at a pole
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(c, east)
    denom = vectors @ c
    xi = (vectors @ east) / denom
    eta = (vectors @ north) / denom
    return np.rad2deg(np.column_stack([xi, eta])) * 3600.0


def footprint_contains(
    footprint_points: NDArray[np.float64],
    points: NDArray[np.float64],
    grow_arcsec: float = 0.0,
) -> NDArray[np.bool_] | None:
    """Which ``points`` lie inside the convex hull of ``footprint_points``, grown by a margin.

    Both are (n, 2) tangent-plane positions in arcsec. The hull is grown outwards by
    ``grow_arcsec`` along every edge normal (with the candidate searches' relative slack,
    :data:`~.crossmatch.CANDIDATE_MARGIN`). Returns None when no hull can be made (fewer
    than three points, or all on a line): the footprint is then unknown.
    """
    finite = footprint_points[np.isfinite(footprint_points).all(axis=1)]
    if len(np.unique(finite, axis=0)) < 3:
        return None
    try:
        hull = ConvexHull(finite)
    except QhullError:
        return None
    eq = hull.equations  # (n_facets, 3): unit outward normal, offset; inside when <= 0
    distance = points @ eq[:, :2].T + eq[:, 2]
    return np.nanmax(distance, axis=1) <= grow_arcsec * (1.0 + CANDIDATE_MARGIN)
