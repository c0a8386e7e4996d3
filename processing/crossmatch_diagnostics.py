"""Diagnostics of a stored cross-match run: footprints, overlap, offsets, fractions by magnitude.

Pure functions for the dashboard's cross-match page: frames in, frames out, no database code.
The input is a frame with the columns of the ``crossmatch_pairs`` collaborator view (one run):
``outcome``, ``is_best``, ``separation_arcsec``, ``ra_a``, ``dec_a``, ``mag_v_a``, ``class_a``,
``ra_b``, ``dec_b``, ``mag_v_b``, ``class_b`` and, when present, ``source_pk_a``,
``source_pk_b``, ``field_a``, ``field_b``, ``radius_arcsec``. Outcome codes are those of
:mod:`clustercat.processing.crossmatch_db` (every source of a side is the *subject* of exactly
one row: a one-to-one pair, ``is_best`` true, has both sides as subjects; a ``double`` row names
its counterpart too, but its subject is the side without a best row).

What Thilker et al. 2022 (T22) §6.4 (Tab. 7, Fig. 14) does, and what is done here:

* **Fair comparison region.** T22 "cut back the footprint of the survey comparison to the
  region with LEGUS classifications". Here the footprint of each side is the **convex hull**
  of its source positions in the gnomonic tangent plane about the mean position of both
  sides (:func:`clustercat.processing.footprint.tangent_plane`), and the comparison
  region is the intersection of the two hulls (:func:`run_footprints`). Every fraction
  (matched fraction, class agreement, class flips) counts only sources inside that overlap.

  Why a convex hull and not an alpha shape: (1) it is the footprint the stored run used for
  its ``unmatched_outside_footprint`` outcome
  (:func:`clustercat.processing.footprint.footprint_contains`), so the page agrees with
  the stored codes; (2) two convex polygons intersect in one convex polygon, computed exactly
  (Sutherland-Hodgman clipping) with an exact area, without a geometry dependency; (3) an
  alpha shape needs a length scale, and cluster catalogues are sparse (LEGUS NGC 628-e: 593
  sources over ~25,000 arcsec², ~6.5 arcsec apart), so an alpha small enough to follow a
  WFC3 chip gap (~1.2 arcsec) would fragment the footprint where sources are few. The price:
  a hull covers concavities (chip gaps, an L-shaped WFC3 x ACS overlap), whose sources then
  count as inside and unmatched, lowering the matched fraction there.
* **Astrometric offset.** The ΔRA·cos δ, ΔDec of every one-to-one pair, B minus A (the
  convention of :func:`clustercat.processing.crossmatch.crossmatch_sky`'s ``offset``: A plus
  the offset lands on B), from the stored positions (the view's ``separation_arcsec`` is
  after the run's own offset; these offsets are before it). Median and a robust scatter
  (1.4826 x median absolute deviation, ``astropy.stats.mad_std``) per axis.
* **Fractions against magnitude.** The matched fraction of each side's sources, and the
  class-flip fraction (``other_class`` among the classified pairs), in bins of V magnitude,
  with binomial intervals (:func:`clustercat.processing.agreement.binomial_interval`,
  Wilson at 1 sigma by default).
* **Separations.** A histogram whose bins start at 0 (a separation is never negative).

Units: positions in deg (ICRS), offsets and separations in arcsec (column suffix
``_arcsec``; ``frame.attrs["units"]`` lists them for an ECSV writer), areas as astropy
Quantities in arcsec².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.stats import mad_std
from clustercat.schema.crossmatch import OUTCOMES
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import ConvexHull, QhullError

from .agreement import (
    AGREEMENT_CLASS_SETS,
    DEFAULT_CONFIDENCE_LEVEL,
    DEFAULT_INTERVAL,
    BinomialInterval,
    agreement_fraction,
    binomial_interval,
    covariate_bins,
)
from .crossmatch import unit_vectors
from .footprint import tangent_plane

__all__ = [
    "BEST_OUTCOMES",
    "CLASS_OUTCOMES",
    "Footprint",
    "OffsetSummary",
    "PreparedRun",
    "RunFootprints",
    "binned_fraction",
    "class_flip_by_magnitude",
    "class_flip_fraction",
    "footprint",
    "in_overlap",
    "magnitude_bins",
    "matched_fraction",
    "matched_fraction_by_magnitude",
    "offset_summary",
    "overlap_agreement",
    "pair_offsets",
    "prepare_run",
    "run_footprints",
    "run_scope",
    "separation_histogram",
    "side_sources",
    "subject_sides",
]

#: Outcomes of one-to-one pairs (``is_best`` true), from ``crossmatch_db``'s codes.
BEST_OUTCOMES: tuple[str, ...] = tuple(
    o for o in OUTCOMES if o in ("same_class", "other_class", "matched")
)
#: Outcomes of one-to-one pairs whose two classes were compared (W21 "Equal"/"Unequal").
CLASS_OUTCOMES: tuple[str, ...] = ("same_class", "other_class")

#: Slack (arcsec) of the point-in-polygon test: hull vertices count as inside.
_EDGE_TOLERANCE_ARCSEC = 1e-6
_SIDES = ("a", "b")
#: The rows of one run: a frame of the ``crossmatch_pairs`` columns, or a :class:`PreparedRun`.
RunRows = "pd.DataFrame | PreparedRun"


def _check_side(side: str) -> str:
    if side not in _SIDES:
        raise ValueError(f"side must be 'a' or 'b', not {side!r}")
    return side


def _floats(values: ArrayLike | pd.Series) -> NDArray[np.float64]:
    """Float array with NaN for missing (nullable pandas columns and None included)."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = pd.to_numeric(series.astype(object), errors="coerce")
    return series.to_numpy(dtype=float, na_value=np.nan)


def _bools(values: pd.Series) -> NDArray[np.bool_]:
    return values.fillna(False).astype(bool).to_numpy()


# --- footprints -----------------------------------------------------------------------------


def _basis(centre: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """(centre, east, north) unit vectors of the tangent plane, as in ``tangent_plane``."""
    c = centre / np.linalg.norm(centre)
    east = np.cross([0.0, 0.0, 1.0], c)
    if np.linalg.norm(east) < 1e-12:  # centre at a pole
        east = np.array([0.0, 1.0, 0.0])
    east = east / np.linalg.norm(east)
    return c, east, np.cross(c, east)


def _polygon_area(vertices: NDArray[np.float64]) -> float:
    """Shoelace area (positive for counter-clockwise vertices)."""
    if len(vertices) < 3:
        return 0.0
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@dataclass(frozen=True)
class Footprint:
    """A convex sky region: polygon vertices in a gnomonic plane about ``centre``.

    ``vertices`` (m, 2) are tangent-plane (xi, eta) in arcsec, counter-clockwise (xi towards
    increasing RA, eta towards north); m = 0 is the empty region. ``centre`` is the unit
    vector of the tangent point.
    """

    centre: NDArray[np.float64]
    vertices: NDArray[np.float64]

    @property
    def is_empty(self) -> bool:
        """True when the region has no area (no overlap, or fewer than 3 distinct sources)."""
        return len(self.vertices) < 3

    @property
    def area(self) -> u.Quantity:
        """Area in the tangent plane (arcsec²; equal to the sky area for fields of arcmin)."""
        return abs(_polygon_area(self.vertices)) * u.arcsec**2

    def plane(self, ra: ArrayLike | u.Quantity, dec: ArrayLike | u.Quantity) -> NDArray:
        """(n, 2) tangent-plane positions (arcsec) of RA/Dec (deg floats or Quantities)."""
        return tangent_plane(unit_vectors(ra, dec), self.centre)

    def contains(
        self,
        ra: ArrayLike | u.Quantity,
        dec: ArrayLike | u.Quantity,
        margin: u.Quantity = 0.0 * u.arcsec,
    ) -> NDArray[np.bool_]:
        """Which positions lie inside (boundary included; ``margin`` > 0 grows the region).

        Positions with NaN coordinates, and every position when the region is empty, are
        outside. Positions on the far hemisphere of the tangent point are outside.
        """
        vec = unit_vectors(ra, dec)
        n = vec.shape[0]
        if self.is_empty:
            return np.zeros(n, dtype=bool)
        finite = np.isfinite(vec).all(axis=1)
        front = np.zeros(n, dtype=bool)
        front[finite] = vec[finite] @ (self.centre / np.linalg.norm(self.centre)) > 0
        inside = np.zeros(n, dtype=bool)
        if not front.any():
            return inside
        xy = tangent_plane(vec[front], self.centre)
        p = self.vertices
        edge = np.roll(p, -1, axis=0) - p  # (m, 2)
        length = np.hypot(edge[:, 0], edge[:, 1])
        slack = float(u.Quantity(margin).to_value(u.arcsec)) + _EDGE_TOLERANCE_ARCSEC
        # inside a counter-clockwise convex polygon: left of (or on) every edge; one edge at
        # a time over the points still inside (no (n, m) arrays: 10^5 points, 10^2 edges)
        x, y = xy[:, 0], xy[:, 1]
        keep = np.arange(len(xy))
        for (px, py), (ex, ey), le in zip(p, edge, length, strict=True):
            left = ex * (y[keep] - py) - ey * (x[keep] - px) >= -slack * le
            keep = keep[left]
        front_index = np.flatnonzero(front)
        inside[front_index[keep]] = True
        return inside

    def sky_vertices(self) -> pd.DataFrame:
        """The polygon on the sky, closed (first vertex repeated): columns ``ra``, ``dec`` (deg)."""
        if self.is_empty:
            return pd.DataFrame({"ra": np.empty(0), "dec": np.empty(0)})
        c, east, north = _basis(self.centre)
        closed = np.vstack([self.vertices, self.vertices[:1]])
        xi = np.deg2rad(closed[:, 0] / 3600.0)
        eta = np.deg2rad(closed[:, 1] / 3600.0)
        vec = c[None, :] + xi[:, None] * east[None, :] + eta[:, None] * north[None, :]
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        ra = np.rad2deg(np.arctan2(vec[:, 1], vec[:, 0])) % 360.0
        dec = np.rad2deg(np.arcsin(np.clip(vec[:, 2], -1.0, 1.0)))
        frame = pd.DataFrame({"ra": ra, "dec": dec})
        frame.attrs["units"] = {"ra": "deg", "dec": "deg"}
        return frame


def _centre_of(*positions: tuple[ArrayLike, ArrayLike]) -> NDArray[np.float64]:
    vecs = np.concatenate([unit_vectors(ra, dec) for ra, dec in positions])
    vecs = vecs[np.isfinite(vecs).all(axis=1)]
    if vecs.size == 0:
        raise ValueError("no finite positions")
    total = vecs.sum(axis=0)
    return total / np.linalg.norm(total)


def footprint(
    ra: ArrayLike | u.Quantity,
    dec: ArrayLike | u.Quantity,
    centre: NDArray[np.float64] | None = None,
) -> Footprint:
    """Convex hull of source positions in the gnomonic plane about ``centre`` (T22 §6.4).

    ``centre`` (a unit vector) defaults to the mean position of the sources. Fewer than three
    distinct finite positions (or all on a line) give an empty footprint.
    """
    c = _centre_of((ra, dec)) if centre is None else np.asarray(centre, dtype=float)
    c = c / np.linalg.norm(c)
    xy = tangent_plane(unit_vectors(ra, dec), c)
    xy = xy[np.isfinite(xy).all(axis=1)]
    empty = Footprint(centre=c, vertices=np.empty((0, 2)))
    if len(xy) < 3:
        return empty
    try:  # qhull refuses fewer than three distinct points, or all on a line
        hull = ConvexHull(xy)
    except QhullError:
        return empty
    return Footprint(centre=c, vertices=xy[hull.vertices])  # counter-clockwise in 2-D


def _clip_convex(subject: NDArray[np.float64], clip: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sutherland-Hodgman: the part of convex ``subject`` inside convex ``clip`` (both CCW)."""
    out = subject
    for i in range(len(clip)):  # loop over the clip polygon's edges (a few dozen at most)
        if len(out) == 0:
            break
        p, q = clip[i], clip[(i + 1) % len(clip)]
        edge = q - p
        side = edge[0] * (out[:, 1] - p[1]) - edge[1] * (out[:, 0] - p[0])  # >= 0: inside
        nxt = np.roll(out, -1, axis=0)
        side_next = np.roll(side, -1)
        kept = []
        for j in range(len(out)):  # loop over the few vertices of the polygon being clipped
            if side[j] >= 0:
                kept.append(out[j])
            if (side[j] >= 0) != (side_next[j] >= 0):
                t = side[j] / (side[j] - side_next[j])
                kept.append(out[j] + t * (nxt[j] - out[j]))
        out = np.array(kept).reshape(-1, 2)
    if len(out) < 3:
        return np.empty((0, 2))
    # drop repeated vertices (a subject vertex on a clip edge is emitted twice)
    keep = np.ones(len(out), dtype=bool)
    step = np.hypot(*(np.roll(out, -1, axis=0) - out).T)
    keep[step < 1e-9] = False
    if keep.sum() < 3:
        return np.empty((0, 2))
    out = out[keep] if keep.any() else out
    if abs(_polygon_area(out)) < 1e-12:
        return np.empty((0, 2))
    return out


@dataclass(frozen=True)
class RunFootprints:
    """The footprints of sides A and B of a run and their overlap, in one tangent plane."""

    a: Footprint
    b: Footprint
    overlap: Footprint

    def summary(self) -> pd.DataFrame:
        """One row per region (``a``, ``b``, ``overlap``): ``area_arcsec2``, ``n_vertices``."""
        rows = {name: getattr(self, name) for name in ("a", "b", "overlap")}
        frame = pd.DataFrame(
            {
                "region": list(rows),
                "area_arcsec2": [f.area.to_value(u.arcsec**2) for f in rows.values()],
                "n_vertices": [len(f.vertices) for f in rows.values()],
            }
        )
        frame.attrs["units"] = {"area_arcsec2": "arcsec2"}
        return frame


def run_footprints(sources_a: pd.DataFrame, sources_b: pd.DataFrame) -> RunFootprints:
    """Convex-hull footprints of both sides (``ra``, ``dec`` columns, deg) and their overlap.

    The tangent point is the mean position of both sides together, as the stored run's own
    footprint test (:mod:`clustercat.processing.crossmatch_db`). The overlap is the exact
    intersection of the two convex hulls (T22 §6.4: fractions are taken there only).
    """
    centre = _centre_of(
        (sources_a["ra"].to_numpy(float), sources_a["dec"].to_numpy(float)),
        (sources_b["ra"].to_numpy(float), sources_b["dec"].to_numpy(float)),
    )
    fa = footprint(sources_a["ra"].to_numpy(float), sources_a["dec"].to_numpy(float), centre)
    fb = footprint(sources_b["ra"].to_numpy(float), sources_b["dec"].to_numpy(float), centre)
    if fa.is_empty or fb.is_empty:
        inter = np.empty((0, 2))
    else:
        inter = _clip_convex(fa.vertices, fb.vertices)
    return RunFootprints(a=fa, b=fb, overlap=Footprint(centre=centre, vertices=inter))


# --- the rows of a run ------------------------------------------------------------------------


def subject_sides(pairs: pd.DataFrame) -> NDArray[np.str_]:
    """Subject of each row: ``"ab"`` (one-to-one pair), ``"a"`` or ``"b"`` (single subject).

    Unmatched rows name one source, the subject. A ``double`` row names both sources; its
    subject is the side whose source has no one-to-one row (``crossmatch_db`` module notes).
    Sources are identified by ``source_pk_a/b`` when present, else by their position.
    """
    best = _bools(pairs["is_best"])
    out = np.where(best, "ab", "").astype("<U2")
    keys = {}
    for side in _SIDES:
        if f"source_pk_{side}" in pairs:
            key = _floats(pairs[f"source_pk_{side}"])
            present = np.isfinite(key)
            keys[side] = pd.Series(key).where(present)
        else:
            ra, dec = _floats(pairs[f"ra_{side}"]), _floats(pairs[f"dec_{side}"])
            present = np.isfinite(ra) & np.isfinite(dec)
            keys[side] = pd.Series(list(zip(ra, dec, strict=True))).where(present)
        keys[side + "_present"] = present
    has_a, has_b = keys["a_present"], keys["b_present"]
    out[~best & has_a & ~has_b] = "a"
    out[~best & has_b & ~has_a] = "b"
    both = ~best & has_a & has_b  # doubles: the side whose source has a best row is not it
    if both.any():
        a_in_best = keys["a"][both].isin(set(keys["a"][best].dropna())).to_numpy()
        out[np.flatnonzero(both)] = np.where(a_in_best, "b", "a")
    return out


def side_sources(pairs: pd.DataFrame, side: str) -> pd.DataFrame:
    """The sources of one side of a run, once each, from its rows (the side's subject rows).

    Columns: ``source_pk`` (when the view gives it), ``field`` (idem), ``ra``, ``dec`` (deg),
    ``mag_v`` (mag), ``class`` (code, NaN if unclassified), ``matched`` (in a one-to-one pair)
    and ``outcome``. Rows without a position are dropped.
    """
    side = _check_side(side)
    subject = subject_sides(pairs)
    rows = pairs[np.char.find(subject, side) >= 0]
    frame = pd.DataFrame(index=rows.index)
    for name in ("source_pk", "field"):
        if f"{name}_{side}" in rows:
            frame[name] = rows[f"{name}_{side}"]  # same index; keeps the dtype (no copy to object)
    frame["ra"] = _floats(rows[f"ra_{side}"])
    frame["dec"] = _floats(rows[f"dec_{side}"])
    frame["mag_v"] = _floats(rows[f"mag_v_{side}"]) if f"mag_v_{side}" in rows else np.nan
    frame["class"] = _floats(rows[f"class_{side}"]) if f"class_{side}" in rows else np.nan
    frame["matched"] = _bools(rows["is_best"])
    frame["outcome"] = rows["outcome"]
    frame = frame[np.isfinite(frame["ra"]) & np.isfinite(frame["dec"])].reset_index(drop=True)
    frame.attrs["units"] = {"ra": "deg", "dec": "deg", "mag_v": "mag"}
    return frame


def _footprints_of(pairs: RunRows, footprints: RunFootprints | None) -> RunFootprints:
    if footprints is not None:
        return footprints
    if isinstance(pairs, PreparedRun):
        return pairs.footprints
    return run_footprints(side_sources(pairs, "a"), side_sources(pairs, "b"))


@dataclass(frozen=True)
class PreparedRun:
    """A run's rows with what every fraction needs, computed once (:func:`prepare_run`).

    ``sources``: :func:`side_sources` of each side plus a boolean ``inside`` (in the overlap
    of ``footprints``); ``classified_inside``: the one-to-one pairs classified on both sides
    with both positions inside. Every function of this module taking ``pairs`` also takes a
    PreparedRun, so the side sources and the point-in-polygon tests (the cost at 10^5 rows)
    are not repeated per diagnostic.
    """

    rows: pd.DataFrame
    footprints: RunFootprints
    sources: dict[str, pd.DataFrame]
    classified_inside: pd.DataFrame


def prepare_run(pairs: pd.DataFrame, footprints: RunFootprints | None = None) -> PreparedRun:
    """Side sources, footprints (default: :func:`run_footprints` of the run's own sources),
    the overlap test of every source, and the classified pairs inside, of one run's rows."""
    sources = {side: side_sources(pairs, side) for side in _SIDES}
    fp = footprints or run_footprints(sources["a"], sources["b"])
    for src in sources.values():
        src["inside"] = fp.overlap.contains(src["ra"].to_numpy(), src["dec"].to_numpy())
    best = pairs[_bools(pairs["is_best"])]
    keep = np.isfinite(_floats(best["class_a"])) & np.isfinite(_floats(best["class_b"]))
    for side in _SIDES:  # a pair's source is one of the side's: reuse its overlap test
        src, key = sources[side], f"source_pk_{side}"
        if "source_pk" in src and key in best:
            at = pd.Index(_floats(src["source_pk"])).get_indexer(_floats(best[key]))
            keep &= (at >= 0) & src["inside"].to_numpy()[at]
        else:
            keep &= fp.overlap.contains(_floats(best[f"ra_{side}"]), _floats(best[f"dec_{side}"]))
    return PreparedRun(pairs, fp, sources, best[keep])


def _prepared(pairs: RunRows, footprints: RunFootprints | None) -> PreparedRun:
    if isinstance(pairs, PreparedRun) and footprints in (None, pairs.footprints):
        return pairs
    rows = pairs.rows if isinstance(pairs, PreparedRun) else pairs
    return prepare_run(rows, footprints)


def in_overlap(pairs: pd.DataFrame, footprints: RunFootprints | None = None) -> pd.DataFrame:
    """Which row positions lie inside the overlap: boolean ``in_overlap_a``, ``in_overlap_b``.

    False where the row has no source of that side. ``footprints`` default: computed from the
    run's own sources (:func:`run_footprints` of :func:`side_sources`).
    """
    fp = _footprints_of(pairs, footprints)
    out = pd.DataFrame(index=pairs.index)
    for side in _SIDES:
        ra, dec = _floats(pairs[f"ra_{side}"]), _floats(pairs[f"dec_{side}"])
        out[f"in_overlap_{side}"] = fp.overlap.contains(ra, dec)
    return out


def run_scope(pairs: RunRows) -> pd.DataFrame:
    """The fields a run covered: one row per side and field with ``n_sources`` (its sources)."""
    frames = []
    for side in _SIDES:
        src = pairs.sources[side] if isinstance(pairs, PreparedRun) else side_sources(pairs, side)
        field = src["field"] if "field" in src else pd.Series([None] * len(src))
        counts = field.fillna("(none)").value_counts(sort=False).sort_index()
        frames.append(
            pd.DataFrame({"side": side, "field": counts.index, "n_sources": counts.to_numpy()})
        )
    return pd.concat(frames, ignore_index=True)


# --- fractions ------------------------------------------------------------------------------


def _fraction_row(
    k: int, n: int, interval: BinomialInterval, confidence_level: float
) -> dict[str, float]:
    lo, hi = binomial_interval(k, n, interval, confidence_level)
    return {
        "n": int(n),
        "k": int(k),
        "fraction": k / n if n else np.nan,
        "fraction_lo": float(lo),
        "fraction_hi": float(hi),
    }


def matched_fraction(
    pairs: RunRows,
    footprints: RunFootprints | None = None,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Fraction of each side's sources inside the overlap that have a one-to-one match.

    One row per side (``a``, ``b``): ``n`` (sources inside the overlap), ``k`` (of which
    matched), ``fraction`` = k/n and its binomial interval ``fraction_lo/hi`` (T22 §6.4: the
    comparison is restricted to the common footprint).
    """
    run = _prepared(pairs, footprints)
    rows = []
    for side in _SIDES:
        src = run.sources[side]
        inside = src["inside"].to_numpy()
        k = int(src["matched"].to_numpy()[inside].sum())
        rows.append(
            {"side": side, **_fraction_row(k, int(inside.sum()), interval, confidence_level)}
        )
    return pd.DataFrame(rows)


def _classified_pairs_inside(pairs: RunRows, footprints: RunFootprints | None) -> pd.DataFrame:
    return _prepared(pairs, footprints).classified_inside


def class_flip_fraction(
    pairs: RunRows,
    footprints: RunFootprints | None = None,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Fraction of classified one-to-one pairs inside the overlap whose classes differ.

    One row: ``n`` (classified pairs with both positions inside the overlap), ``k``
    (``other_class``), ``fraction`` and ``fraction_lo/hi`` (binomial). The complement is T22
    Fig. 14's "Equal" share when both classes are 1 or 2.
    """
    pairs_in = _classified_pairs_inside(pairs, footprints)
    flips = int((_floats(pairs_in["class_a"]) != _floats(pairs_in["class_b"])).sum())
    return pd.DataFrame([_fraction_row(flips, len(pairs_in), interval, confidence_level)])


def overlap_agreement(
    pairs: RunRows,
    footprints: RunFootprints | None = None,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """W21 §4 agreement fractions (:func:`~.agreement.agreement_fraction`, with binomial
    intervals) of the classified one-to-one pairs inside the overlap only."""
    pairs_in = _classified_pairs_inside(pairs, footprints)
    return agreement_fraction(
        _floats(pairs_in["class_a"]),
        _floats(pairs_in["class_b"]),
        class_sets,
        interval=interval,
        confidence_level=confidence_level,
    )


def magnitude_bins(values: ArrayLike, width: float = 0.5) -> NDArray[np.float64]:
    """Bin edges of fixed ``width`` (mag) on multiples of the width, covering the finite values."""
    if width <= 0:
        raise ValueError("width must be positive")
    v = _floats(values)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.array([0.0, width])
    lo = np.floor(v.min() / width) * width
    hi = np.ceil(v.max() / width) * width
    if hi <= lo:
        hi = lo + width
    return np.round(np.arange(round((hi - lo) / width) + 1) * width + lo, 10)


#: Meaning and unit of the columns of :func:`binned_fraction` (``lo, hi, median`` in the
#: unit of the binned values, given by the caller), of :func:`matched_fraction`,
#: :func:`class_flip_fraction` and :func:`separation_histogram`: a download's descriptions.
FRACTION_COLUMNS: dict[str, str] = {
    "bin": "bin number, from 1 (index)",
    "n": "objects in the bin, or counted (count)",
    "k": "of them matched, or with a class flip (count)",
    "fraction": "k / n (dimensionless)",
    "fraction_lo": "lower end of the 1-sigma binomial (Wilson) interval of fraction "
    "(dimensionless)",
    "fraction_hi": "upper end of the 1-sigma binomial (Wilson) interval of fraction "
    "(dimensionless)",
    "lo_arcsec": "lower edge of the separation bin (arcsec)",
    "hi_arcsec": "upper edge of the separation bin (arcsec)",
}


def binned_fraction(
    values: ArrayLike,
    success: ArrayLike,
    bins: int | ArrayLike,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Fraction of ``success`` per bin of ``values`` with binomial intervals.

    ``bins``: an integer (equal-number bins) or edges, as :func:`~.agreement.covariate_bins`
    (last bin closed; NaN and out-of-range values are left out). Columns: ``bin`` (1-based),
    ``lo``, ``hi``, ``median`` (of the values in the bin), ``n``, ``k``, ``fraction``,
    ``fraction_lo``, ``fraction_hi``; every bin appears, empty ones with n = 0 and NaN.
    """
    v = _floats(values)
    s = np.asarray(success, dtype=bool)
    if v.shape != s.shape:
        raise ValueError("values and success must have the same length")
    finite = np.isfinite(v)
    if np.ndim(bins) == 0 and not finite.any():
        edges = np.array([np.nan] * (int(bins) + 1))
        index = np.full(v.shape, -1)
    else:
        index, edges = covariate_bins(v, bins)
    n_bins = len(edges) - 1
    ok = index >= 0
    n = np.bincount(index[ok], minlength=n_bins)
    k = np.bincount(index[ok], weights=s[ok].astype(float), minlength=n_bins).astype(np.int64)
    order = np.argsort(index[ok], kind="stable")
    grouped = np.split(v[ok][order], np.cumsum(n)[:-1])
    medians = np.array([np.median(g) if g.size else np.nan for g in grouped])
    lo, hi = binomial_interval(k, n, interval, confidence_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(1, n_bins + 1),
            "lo": edges[:-1],
            "hi": edges[1:],
            "median": medians,
            "n": n.astype(np.int64),
            "k": k,
            "fraction": fraction,
            "fraction_lo": lo,
            "fraction_hi": hi,
        }
    )


def matched_fraction_by_magnitude(
    pairs: RunRows,
    footprints: RunFootprints | None = None,
    *,
    side: str = "a",
    bins: int | ArrayLike | None = None,
    width: float = 0.5,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Matched fraction of one side's sources inside the overlap, in bins of their V mag.

    ``bins`` as :func:`binned_fraction`; by default fixed ``width`` bins (:func:`magnitude_bins`).
    Columns of :func:`binned_fraction` plus ``side``; ``lo``/``hi``/``median`` in mag.
    """
    src = _prepared(pairs, footprints).sources[_check_side(side)]
    src = src[src["inside"].to_numpy()]
    mag = src["mag_v"].to_numpy()
    edges = magnitude_bins(mag, width) if bins is None else bins
    out = binned_fraction(
        mag, src["matched"].to_numpy(), edges, interval=interval, confidence_level=confidence_level
    )
    out.insert(0, "side", side)
    out.attrs["units"] = {"lo": "mag", "hi": "mag", "median": "mag"}
    return out


def class_flip_by_magnitude(
    pairs: RunRows,
    footprints: RunFootprints | None = None,
    *,
    side: str = "a",
    bins: int | ArrayLike | None = None,
    width: float = 0.5,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Class-flip fraction (``other_class`` / classified pairs) inside the overlap, in bins of
    the V magnitude of side ``side``. Columns of :func:`binned_fraction` plus ``side``."""
    pairs_in = _classified_pairs_inside(pairs, footprints)
    mag = _floats(pairs_in[f"mag_v_{_check_side(side)}"])
    flip = _floats(pairs_in["class_a"]) != _floats(pairs_in["class_b"])
    edges = magnitude_bins(mag, width) if bins is None else bins
    out = binned_fraction(mag, flip, edges, interval=interval, confidence_level=confidence_level)
    out.insert(0, "side", side)
    out.attrs["units"] = {"lo": "mag", "hi": "mag", "median": "mag"}
    return out


# --- offsets and separations ----------------------------------------------------------------


def pair_offsets(pairs: pd.DataFrame) -> pd.DataFrame:
    """ΔRA·cos δ and ΔDec (B minus A, arcsec) of every one-to-one pair with both positions.

    Exact spherical offsets of B in the frame centred on A (astropy
    ``SkyCoord.spherical_offsets_to``), from the stored positions, i.e. before the run's own
    offset. Columns: ``source_pk_a``, ``source_pk_b`` (when given), ``mag_v_a``, ``mag_v_b``,
    ``dra_cosdec_arcsec``, ``ddec_arcsec``, ``offset_arcsec`` (their angular distance).
    """
    best = pairs[_bools(pairs["is_best"])]
    ra_a, dec_a = _floats(best["ra_a"]), _floats(best["dec_a"])
    ra_b, dec_b = _floats(best["ra_b"]), _floats(best["dec_b"])
    ok = np.isfinite(ra_a) & np.isfinite(dec_a) & np.isfinite(ra_b) & np.isfinite(dec_b)
    best = best[ok]
    out = pd.DataFrame(index=range(len(best)))
    for name in ("source_pk_a", "source_pk_b", "mag_v_a", "mag_v_b"):
        if name in best:
            out[name] = best[name].to_numpy()
    if len(best):
        a = SkyCoord(ra_a[ok] * u.deg, dec_a[ok] * u.deg, frame="icrs")
        b = SkyCoord(ra_b[ok] * u.deg, dec_b[ok] * u.deg, frame="icrs")
        dlon, dlat = a.spherical_offsets_to(b)
        out["dra_cosdec_arcsec"] = dlon.to_value(u.arcsec)
        out["ddec_arcsec"] = dlat.to_value(u.arcsec)
        out["offset_arcsec"] = a.separation(b).to_value(u.arcsec)
    else:
        for name in ("dra_cosdec_arcsec", "ddec_arcsec", "offset_arcsec"):
            out[name] = np.empty(0)
    out.attrs["units"] = {
        "dra_cosdec_arcsec": "arcsec",
        "ddec_arcsec": "arcsec",
        "offset_arcsec": "arcsec",
        "mag_v_a": "mag",
        "mag_v_b": "mag",
    }
    return out


@dataclass(frozen=True)
class OffsetSummary:
    """Median astrometric offset B - A of the pairs and its robust scatter, per axis.

    ``scatter_*`` = 1.4826 x MAD (``astropy.stats.mad_std``), the standard deviation for a
    Gaussian; ``median_error_*`` = sqrt(pi/2) x scatter / sqrt(n), the error of a median.
    """

    n: int
    median_dra_cosdec: u.Quantity
    median_ddec: u.Quantity
    scatter_dra_cosdec: u.Quantity
    scatter_ddec: u.Quantity
    median_error_dra_cosdec: u.Quantity
    median_error_ddec: u.Quantity

    def to_frame(self) -> pd.DataFrame:
        """One row, arcsec columns named like the views (``median_dra_cosdec_arcsec``, ...)."""
        row = {"n": self.n}
        for name in (
            "median_dra_cosdec",
            "median_ddec",
            "scatter_dra_cosdec",
            "scatter_ddec",
            "median_error_dra_cosdec",
            "median_error_ddec",
        ):
            row[f"{name}_arcsec"] = float(getattr(self, name).to_value(u.arcsec))
        frame = pd.DataFrame([row])
        frame.attrs["units"] = {c: "arcsec" for c in frame.columns if c.endswith("_arcsec")}
        return frame


def offset_summary(offsets: pd.DataFrame) -> OffsetSummary:
    """Median and robust scatter of :func:`pair_offsets` (arcsec Quantities; NaN when empty)."""
    values = {}
    n = len(offsets)
    for axis in ("dra_cosdec", "ddec"):
        v = offsets[f"{axis}_arcsec"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        med = float(np.median(v)) if v.size else np.nan
        scatter = float(mad_std(v)) if v.size else np.nan
        err = float(np.sqrt(np.pi / 2) * scatter / np.sqrt(v.size)) if v.size else np.nan
        values[axis] = (med * u.arcsec, scatter * u.arcsec, err * u.arcsec)
    return OffsetSummary(
        n=int(n),
        median_dra_cosdec=values["dra_cosdec"][0],
        median_ddec=values["ddec"][0],
        scatter_dra_cosdec=values["dra_cosdec"][1],
        scatter_ddec=values["ddec"][1],
        median_error_dra_cosdec=values["dra_cosdec"][2],
        median_error_ddec=values["ddec"][2],
    )


def separation_histogram(
    separation: ArrayLike | u.Quantity,
    bins: int | ArrayLike = 20,
    max_separation: u.Quantity | float | None = None,
) -> pd.DataFrame:
    """Histogram of separations with bins starting at 0 (arcsec).

    ``separation``: a Quantity or floats in arcsec (NaN dropped; a negative value raises).
    ``bins``: a number of equal bins over [0, ``max_separation``] (default: the run's radius
    if passed, else the largest separation), or explicit edges starting at 0. The last bin
    includes its upper edge. Columns: ``lo_arcsec``, ``hi_arcsec``, ``n``.
    """
    if isinstance(separation, u.Quantity):
        s = np.atleast_1d(separation.to_value(u.arcsec)).astype(float)
    else:
        s = _floats(np.atleast_1d(separation))
    s = s[np.isfinite(s)]
    if np.any(s < 0):
        raise ValueError("separations cannot be negative")
    if np.ndim(bins) == 0:
        if max_separation is None:
            top = float(s.max()) if s.size else 1.0
        else:
            top = float(u.Quantity(max_separation, u.arcsec).to_value(u.arcsec))
        top = top if top > 0 else 1.0
        edges = np.linspace(0.0, top, int(bins) + 1)
    else:
        edges = np.asarray(
            bins.to_value(u.arcsec) if isinstance(bins, u.Quantity) else bins, dtype=float
        )
        if edges[0] != 0 or np.any(np.diff(edges) <= 0):
            raise ValueError("edges must start at 0 and increase")
    counts, _ = np.histogram(s, bins=edges)
    frame = pd.DataFrame({"lo_arcsec": edges[:-1], "hi_arcsec": edges[1:], "n": counts})
    frame.attrs["units"] = {"lo_arcsec": "arcsec", "hi_arcsec": "arcsec"}
    return frame
