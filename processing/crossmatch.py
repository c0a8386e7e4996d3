"""One-to-one positional cross-matching of two catalogues (sky or pixel positions).

Pure functions: arrays in, index arrays and separations out. No database code.

Whitmore et al. 2021 (§4, Table 1 note) match PHANGS-HST and LEGUS one-to-one within 2 px;
neither that paper nor Thilker et al. 2022 says how several candidates inside the radius are
resolved. Two rules are offered:

* ``"greedy"`` (default): all pairs within the radius are taken in order of increasing
  separation, and a pair is kept when neither source is already used. This is the global
  greedy assignment; it is computed by repeatedly accepting every pair that is the closest
  pair of both its A and its B source (with separations ordered, those pairs are exactly the
  ones the sequential greedy pass accepts), vectorised with no loop over sources.
* ``"mutual"``: keep only mutual nearest neighbours (A's nearest B is B, whose nearest A is A).

Either way a B source that is the nearest neighbour (within the radius) of several A sources
is flagged as a "double" (the ``double`` outcome of ``crossmatch_pair``): it can be matched to
one of them only.

Sky positions are matched as 3-D unit vectors (:func:`clustercat.schema.sky.unit_vectors`),
which is exact across RA = 0/360 and at the poles, in three steps that every sky match shares
(``clustercat crossmatch`` through :mod:`.crossmatch_db`, :func:`crossmatch_sky`, the
benchmark):

1. candidates: every pair within the radius widened by :data:`CANDIDATE_MARGIN`, as a chord
   length 2 sin(theta/2), from a numpy cell grid (:func:`grid_candidates`), a
   ``scipy.spatial.cKDTree`` (:func:`kdtree_candidates`) or q3c in the database;
2. the exact cut at the radius with the one separation formula (:func:`pair_separation`,
   i.e. :func:`clustercat.schema.sky.separation_rad`), in :func:`exact_pairs`;
3. :func:`one_to_one`; :func:`match_vectors` runs the three.

The footprint geometry of a match (tangent plane, convex hull) is in :mod:`.footprint`; the
radius rule (:func:`clustercat.schema.sky.parse_radius`) and the separation formula are in
:mod:`clustercat.schema.sky`, shared with the cone search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import astropy.units as u
import numpy as np
from clustercat.schema.sky import as_degrees, parse_radius, separation_rad, unit_vectors
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

__all__ = [
    "CANDIDATE_MARGIN",
    "DEFAULT_WORKERS",
    "GRID_CELL_FACTOR",
    "CrossMatchResult",
    "angular_radius",
    "crossmatch_pixels",
    "crossmatch_sky",
    "exact_pairs",
    "grid_candidates",
    "grid_pairs",
    "kdtree_candidates",
    "match_vectors",
    "morton_keys",
    "offset_positions",
    "one_to_one",
    "pair_separation",
    "pairs_within",
    "unit_vectors",
]

MatchMethod = Literal["greedy", "mutual"]

#: Relative widening of the radius for the candidate searches (exact cut applied afterwards).
CANDIDATE_MARGIN = 1e-6
#: Threads of the KD-tree queries by default: every core (scipy ``workers=-1``).
DEFAULT_WORKERS = -1


@dataclass(frozen=True)
class CrossMatchResult:
    """One-to-one matches between catalogue A (n_a sources) and catalogue B (n_b sources).

    ``idx_a[k]`` and ``idx_b[k]`` are the row indices (0-based, into the input arrays) of the
    k-th matched pair, ``separation[k]`` its separation (arcsec for sky matches, pixels for
    pixel matches); pairs are sorted by ``idx_a``. ``double[k]`` is true when B source
    ``idx_b[k]`` was the nearest B source of more than one A source. ``nearest_count_b[j]`` is
    the number of A sources whose nearest B source (within the radius) is j.
    """

    idx_a: NDArray[np.int64]
    idx_b: NDArray[np.int64]
    separation: u.Quantity
    double: NDArray[np.bool_]
    nearest_count_b: NDArray[np.int64]
    n_a: int
    n_b: int
    radius: u.Quantity | None
    method: str

    def __len__(self) -> int:
        return int(self.idx_a.size)

    @property
    def double_b(self) -> NDArray[np.int64]:
        """Indices of B sources that were the nearest neighbour of several A sources."""
        return np.flatnonzero(self.nearest_count_b > 1)

    def unmatched_a(self) -> NDArray[np.int64]:
        """Indices of A sources without a counterpart."""
        return np.setdiff1d(np.arange(self.n_a), self.idx_a, assume_unique=True)

    def unmatched_b(self) -> NDArray[np.int64]:
        """Indices of B sources without a counterpart."""
        return np.setdiff1d(np.arange(self.n_b), self.idx_b, assume_unique=True)


def offset_positions(
    ra: ArrayLike | u.Quantity,
    dec: ArrayLike | u.Quantity,
    d_ra_cosdec: u.Quantity,
    d_dec: u.Quantity,
) -> NDArray[np.float64]:
    """Unit vectors of positions moved by the offset (dRA cos(Dec), dDec).

    Same convention as astropy ``SkyCoord.spherical_offsets_by``: the offset is a (lon, lat)
    position in the frame centred on each source, with lon along increasing RA.
    """
    ra_rad = np.deg2rad(as_degrees(ra))
    dec_rad = np.deg2rad(as_degrees(dec))
    dl = u.Quantity(d_ra_cosdec).to_value(u.rad)
    db = u.Quantity(d_dec).to_value(u.rad)
    sin_a, cos_a = np.sin(ra_rad), np.cos(ra_rad)
    sin_d, cos_d = np.sin(dec_rad), np.cos(dec_rad)
    radial = np.column_stack([cos_d * cos_a, cos_d * sin_a, sin_d])
    east = np.column_stack([-sin_a, cos_a, np.zeros_like(sin_a)])
    north = np.column_stack([-sin_d * cos_a, -sin_d * sin_a, cos_d])
    n = ra_rad.size
    c_r = np.broadcast_to(np.cos(db) * np.cos(dl), (n,))[:, None]
    c_e = np.broadcast_to(np.cos(db) * np.sin(dl), (n,))[:, None]
    c_n = np.broadcast_to(np.sin(db), (n,))[:, None]
    return c_r * radial + c_e * east + c_n * north


#: The radius rule, under the name this module has always exported: an angle, or pixels
#: (``u.pix``) with ``pixel_scale`` (angle per pixel; a bare angle is taken per pixel), in
#: arcsec (:func:`clustercat.schema.sky.parse_radius`).
angular_radius = parse_radius


def _spread_bits(q: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Insert two zero bits between the low 21 bits of ``q`` (3-D Morton interleave)."""
    q = q & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF),
                        (8, 0x100F00F00F00F00F), (4, 0x10C30C30C30C30C3),
                        (2, 0x1249249249249249)):  # fmt: skip
        q = (q | (q << np.uint64(shift))) & np.uint64(mask)
    return q


def morton_keys(points: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Z-order (Morton) key of each row of ``points`` (n, 2) or (n, 3), 21 bits per axis over
    the points' own bounding box: sorting by it keeps neighbours in space close in memory."""
    lo = points.min(axis=0)
    span = np.maximum(points.max(axis=0) - lo, np.finfo(float).tiny)
    q = ((points - lo) / span * (2**21 - 1)).astype(np.uint64)
    key = np.zeros(points.shape[0], dtype=np.uint64)
    for axis in range(points.shape[1]):
        key |= _spread_bits(q[:, axis]) << np.uint64(axis)
    return key


def pairs_within(
    points_b: NDArray[np.float64], points_a: NDArray[np.float64], bound: float, workers: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """All (a, b, distance) with distance <= bound, via k-nearest queries with growing k.

    ``points_b`` go into a ``scipy.spatial.cKDTree``; ``points_a`` are queried in Morton order
    with ``workers`` threads (scipy's ``workers``; -1 = every core). Rows
    with non-finite coordinates (missing positions) take part in no pair.
    """
    rows_b = np.flatnonzero(np.isfinite(points_b).all(axis=1))
    # leafsize 32: a third faster to build than the default 16, queries as fast
    tree_b = cKDTree(points_b[rows_b], leafsize=32, balanced_tree=False, compact_nodes=False)
    n_b = rows_b.size
    finite_a = np.isfinite(points_a).all(axis=1)
    out_a, out_b, out_d = [], [], []
    pending = np.flatnonzero(finite_a)
    if pending.size:
        # query in Morton (Z-curve) order: neighbouring queries walk the same tree nodes,
        # which makes the queries several times faster than in random order
        pending = pending[np.argsort(morton_keys(points_a[pending]), kind="stable")]
    k = 4
    # scipy keeps distances < upper (compared squared): widen, then cut at <= bound below
    upper = bound * (1.0 + 1e-12) + 1e-150
    while pending.size and n_b:
        kk = min(k, n_b)
        dist, idx = tree_b.query(
            points_a[pending], k=kk, distance_upper_bound=upper, workers=workers
        )
        dist = dist.reshape(pending.size, kk)
        idx = idx.reshape(pending.size, kk)
        saturated = np.isfinite(dist[:, -1]) & (kk < n_b)
        found = dist <= bound
        found[saturated] = False
        rows, cols = np.nonzero(found)
        out_a.append(pending[rows])
        out_b.append(rows_b[idx[rows, cols]])
        out_d.append(dist[rows, cols])
        pending = pending[saturated]
        k *= 4
    if not out_a:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    return (
        np.concatenate(out_a).astype(np.int64),
        np.concatenate(out_b).astype(np.int64),
        np.concatenate(out_d),
    )


#: Cell side of :func:`grid_pairs` in units of the search distance: 16 keeps ~1-2 sources of
#: a crowded HST field per cell, and a point needs its neighbour cells only within one search
#: distance of a face (~1 in 3 points).
GRID_CELL_FACTOR = 16.0


def _cell_keys(cells: NDArray[np.int64]) -> NDArray[np.int64]:
    """One int64 per integer 3-D cell (21 bits per axis, offset to be non-negative)."""
    c = cells + (1 << 20)
    return (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]


def grid_pairs(
    points_a: NDArray[np.float64], points_b: NDArray[np.float64], bound: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices (a, b) of every pair of 3-D points with Euclidean distance <= ``bound``.

    A sorted cell grid in numpy, single-threaded: the cell side is
    :data:`GRID_CELL_FACTOR` x ``bound``; B's cell keys are sorted once, each A point looks
    up its own cell and, only when it lies within ``bound`` of a cell face, the neighbour
    cells across that face (edges and corners included), with ``np.searchsorted``. Exact
    for any positions (no projection: for unit vectors it works over the whole sphere);
    about twice as fast as a ``cKDTree`` query for 10^6 x 10^6 sky positions. Rows with
    non-finite coordinates take part in no pair; pairs come sorted by A's cell.
    """
    if not (bound >= 0 and np.isfinite(bound)):
        raise ValueError(f"bound must be a finite distance >= 0, not {bound!r}")
    rows_b = np.flatnonzero(np.isfinite(points_b).all(axis=1))
    rows_a = np.flatnonzero(np.isfinite(points_a).all(axis=1))
    empty = np.empty(0, dtype=np.int64)
    if rows_a.size == 0 or rows_b.size == 0:
        return empty, empty
    finite_b = points_b if rows_b.size == len(points_b) else points_b[rows_b]
    finite_a = points_a if rows_a.size == len(points_a) else points_a[rows_a]
    # cells never smaller than the 21-bit keys allow (larger cells only add candidates)
    reach = max(np.abs(finite_a).max(), np.abs(finite_b).max())
    cell = max(GRID_CELL_FACTOR * bound, reach / (1 << 19), np.finfo(float).tiny)
    key_b = _cell_keys(np.floor(finite_b * (1.0 / cell)).astype(np.int64))
    order_b = np.argsort(key_b)
    sorted_b = key_b[order_b]
    order_b = rows_b[order_b]  # position in sorted keys -> row of points_b
    scaled = finite_a * (1.0 / cell)
    cells_a = np.floor(scaled).astype(np.int64)
    inside = scaled - cells_a  # position inside the own cell, in cells
    margin = bound / cell * (1.0 + 1e-9) + 1e-12  # slack for rounding at a face
    step = (inside > 1.0 - margin).astype(np.int8) - (inside < margin).astype(np.int8)
    key_a = _cell_keys(cells_a)
    by_key = np.argsort(key_a)  # sorted needles: faster searchsorted, local memory access
    axes = (step != 0).astype(np.int8) @ np.array([1, 2, 4], dtype=np.int8)  # axes to step
    near_face = by_key[axes[by_key] != 0]
    out_a, out_b = [], []
    for combo in range(8):  # bit k set: step along axis k
        if combo == 0:
            who, keys = by_key, key_a[by_key]
        else:
            who = near_face[(axes[near_face] & combo) == combo]
            shift = step[who].astype(np.int64) * ((combo >> np.arange(3)) & 1)
            keys = _cell_keys(cells_a[who] + shift)
        lo = np.searchsorted(sorted_b, keys, "left")
        count = np.searchsorted(sorted_b, keys, "right") - lo
        hit = count > 0
        who, lo, count = who[hit], lo[hit], count[hit]
        first = np.repeat(lo - (np.cumsum(count) - count), count)
        out_a.append(np.repeat(who, count))
        out_b.append(order_b[first + np.arange(first.size)])
    ia = rows_a[np.concatenate(out_a)]
    ib = np.concatenate(out_b)
    diff = points_a[ia] - points_b[ib]
    keep = np.einsum("ij,ij->i", diff, diff) <= bound * bound
    return ia[keep], ib[keep]


def one_to_one(
    idx_a: ArrayLike,
    idx_b: ArrayLike,
    separation: u.Quantity,
    n_a: int,
    n_b: int,
    method: MatchMethod = "greedy",
    radius: u.Quantity | None = None,
) -> CrossMatchResult:
    """Resolve candidate pairs (all pairs within the radius) into one-to-one matches.

    Usable on candidate pairs from any source (our KD-tree, astropy ``search_around_sky``, a
    q3c join), so every path applies the same rule. Ties in separation are broken by
    (idx_a, idx_b). See the module docstring for ``greedy`` and ``mutual``.
    """
    if method not in ("greedy", "mutual"):
        raise ValueError(f"method must be 'greedy' or 'mutual', not {method!r}")
    sep = u.Quantity(separation)
    ia_all = np.asarray(idx_a, dtype=np.int64)
    ib_all = np.asarray(idx_b, dtype=np.int64)
    d_all = np.asarray(sep.value, dtype=float)

    # Pairs whose A and B sources have no other candidate are matches under any rule; only the
    # remaining (conflicting) pairs need ranking.
    n_pairs_a = np.bincount(ia_all, minlength=n_a)
    n_pairs_b = np.bincount(ib_all, minlength=n_b)
    isolated = (n_pairs_a[ia_all] == 1) & (n_pairs_b[ib_all] == 1)

    order = np.lexsort((ib_all[~isolated], ia_all[~isolated], d_all[~isolated]))
    ia = ia_all[~isolated][order]
    ib = ib_all[~isolated][order]
    d = d_all[~isolated][order]

    # nearest B of every A (its first pair in rank order) -> doubles
    _, first_of_a = np.unique(ia, return_index=True)
    nearest_count_b = np.bincount(
        np.concatenate([ib_all[isolated], ib[first_of_a]]), minlength=n_b
    ).astype(np.int64)

    accepted = np.zeros(ia.size, dtype=bool)
    alive = np.ones(ia.size, dtype=bool)
    used_a = np.zeros(n_a, dtype=bool)
    used_b = np.zeros(n_b, dtype=bool)
    while alive.any():
        live = np.flatnonzero(alive)
        a, b = ia[live], ib[live]
        best_for_a = np.zeros(live.size, dtype=bool)
        best_for_a[np.unique(a, return_index=True)[1]] = True
        best_for_b = np.zeros(live.size, dtype=bool)
        best_for_b[np.unique(b, return_index=True)[1]] = True
        winners = live[best_for_a & best_for_b]
        accepted[winners] = True
        if method == "mutual":
            break
        used_a[ia[winners]] = True
        used_b[ib[winners]] = True
        alive[live] = ~(used_a[a] | used_b[b])

    ia = np.concatenate([ia_all[isolated], ia[accepted]])
    ib = np.concatenate([ib_all[isolated], ib[accepted]])
    d = np.concatenate([d_all[isolated], d[accepted]])
    # sort by idx_a (unique after one-to-one) with a scatter instead of an O(n log n) sort
    slot = np.full(n_a, -1, dtype=np.int64)
    slot[ia] = np.arange(ia.size)
    by_a = slot[slot >= 0]
    ia, ib, d = ia[by_a], ib[by_a], d[by_a]
    return CrossMatchResult(
        idx_a=ia,
        idx_b=ib,
        separation=d * sep.unit,
        double=nearest_count_b[ib] > 1,
        nearest_count_b=nearest_count_b,
        n_a=int(n_a),
        n_b=int(n_b),
        radius=radius,
        method=method,
    )


# --- the sky match: candidates, exact cut, one-to-one -----------------------------------------


def pair_separation(vec_a: NDArray[np.float64], vec_b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Angular separation (arcsec) of paired 3-D vectors: atan2(|a x b|, a . b).

    :func:`clustercat.schema.sky.separation_rad` (the project's one separation formula, also
    the cone search's) in arcsec; the exact cut and the ranking of every sky match.
    """
    return np.rad2deg(separation_rad(vec_a, vec_b)) * 3600.0


def _chord(theta_arcsec: float) -> float:
    """Chord length between unit vectors ``theta_arcsec`` apart."""
    return 2.0 * math.sin(0.5 * math.radians(theta_arcsec / 3600.0))


def kdtree_candidates(
    vec_a: NDArray[np.float64],
    vec_b: NDArray[np.float64],
    radius: u.Quantity,
    workers: int = DEFAULT_WORKERS,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices (a, b) of every pair within ``radius`` widened by :data:`CANDIDATE_MARGIN`.

    A superset of the exact pairs: one ``cKDTree`` on B's unit vectors, queried for A with
    ``workers`` threads (:func:`pairs_within`); rows with non-finite positions take part in
    no pair.
    """
    if workers == 0 or workers < -1:
        raise ValueError(f"workers must be -1 (every core) or a positive count, not {workers}")
    bound = _chord(radius.to_value(u.arcsec) * (1.0 + CANDIDATE_MARGIN))
    if vec_a.shape[0] == 0 or vec_b.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    ia, ib, _ = pairs_within(vec_b, vec_a, bound, workers)
    return ia, ib


def grid_candidates(
    vec_a: NDArray[np.float64], vec_b: NDArray[np.float64], radius: u.Quantity
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices (a, b) of every pair within ``radius`` widened by :data:`CANDIDATE_MARGIN`,
    from the numpy cell grid (:func:`grid_pairs`): the same pairs as
    :func:`kdtree_candidates`, single-threaded and faster."""
    bound = _chord(radius.to_value(u.arcsec) * (1.0 + CANDIDATE_MARGIN))
    return grid_pairs(vec_a, vec_b, bound)


def exact_pairs(
    vec_a: NDArray[np.float64],
    vec_b: NDArray[np.float64],
    idx_a: NDArray[np.int64],
    idx_b: NDArray[np.int64],
    radius: u.Quantity,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Candidates cut exactly at ``radius`` (inclusive), sorted by (a, b), with separations
    in arcsec (:func:`pair_separation`).

    Deterministic whatever the order of the candidates: the same candidate superset from
    any search gives the same output arrays.
    """
    ia = np.asarray(idx_a, dtype=np.int64)
    ib = np.asarray(idx_b, dtype=np.int64)
    if ia.size == 0:
        return ia, ib, np.empty(0)
    sep = pair_separation(vec_a[ia], vec_b[ib])
    keep = sep <= radius.to_value(u.arcsec)
    ia, ib, sep = ia[keep], ib[keep], sep[keep]
    order = _order_by_a_then_b(ia, ib)
    return ia[order], ib[order], sep[order]


def _order_by_a_then_b(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> NDArray[np.int64]:
    """``np.lexsort((ib, ia))`` in linear time when most A sources have one pair: a counting
    sort on ``ia``; only the pairs of A sources with several pairs are sorted by ``ib``."""
    if ia.size == 0:
        return np.empty(0, dtype=np.int64)
    counts = np.bincount(ia)
    start = np.cumsum(counts) - counts  # first slot of each A source
    position = start[ia]
    several = np.flatnonzero(counts[ia] > 1)
    if several.size:
        sub = several[np.lexsort((ib[several], ia[several]))]
        first = np.searchsorted(ia[sub], ia[sub], side="left")  # ia[sub] is sorted
        position[sub] = start[ia[sub]] + (np.arange(sub.size) - first)
    order = np.empty(ia.size, dtype=np.int64)
    order[position] = np.arange(ia.size)
    return order


def match_vectors(
    vec_a: NDArray[np.float64],
    vec_b: NDArray[np.float64],
    radius: u.Quantity,
    *,
    rule: MatchMethod = "greedy",
    eligible_a: NDArray[np.bool_] | None = None,
    eligible_b: NDArray[np.bool_] | None = None,
    candidates: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> tuple[CrossMatchResult, NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The in-memory part of ``clustercat crossmatch``: candidates, exact cut, one-to-one.

    Candidates are the cell grid's (:func:`grid_candidates`) unless given (KD-tree, q3c);
    every pair within ``radius`` (an angle, inclusive) is kept with :func:`pair_separation`;
    pairs whose A or B source is not eligible are left out of the one-to-one step (Whitmore
    et al. 2021 §4). Returns the one-to-one result and every exact pair (a, b, separation in
    arcsec).
    """
    n_a, n_b = vec_a.shape[0], vec_b.shape[0]
    if candidates is None:
        candidates = grid_candidates(vec_a, vec_b, radius)
    ia, ib, sep = exact_pairs(vec_a, vec_b, candidates[0], candidates[1], radius)
    use = np.ones(ia.size, dtype=bool)
    if eligible_a is not None:
        use &= eligible_a[ia]
    if eligible_b is not None:
        use &= eligible_b[ib]
    result = one_to_one(ia[use], ib[use], sep[use] * u.arcsec, n_a, n_b, method=rule, radius=radius)
    return result, ia, ib, sep


def crossmatch_sky(
    ra_a: ArrayLike | u.Quantity,
    dec_a: ArrayLike | u.Quantity,
    ra_b: ArrayLike | u.Quantity,
    dec_b: ArrayLike | u.Quantity,
    radius: u.Quantity,
    *,
    pixel_scale: u.Quantity | None = None,
    offset: tuple[u.Quantity, u.Quantity] | None = None,
    method: MatchMethod = "greedy",
    workers: int = 2,
) -> CrossMatchResult:
    """One-to-one sky match of catalogue A to catalogue B within ``radius`` (inclusive).

    RA/Dec are Quantity angles or floats in degrees. ``radius`` is an angle or pixels with
    ``pixel_scale`` (see :func:`clustercat.schema.sky.parse_radius`). ``offset = (dRA cos(Dec),
    dDec)`` is added to the A positions before matching (A + offset lands on B). KD-tree
    candidates with ``workers`` threads, then :func:`match_vectors`: the same pairs as
    ``clustercat crossmatch``. Separations are in arcsec.
    """
    r_arcsec = parse_radius(radius, pixel_scale)
    if offset is None:
        vec_a = unit_vectors(ra_a, dec_a)
    else:
        vec_a = offset_positions(ra_a, dec_a, offset[0], offset[1])
    vec_b = unit_vectors(ra_b, dec_b)
    candidates = kdtree_candidates(vec_a, vec_b, r_arcsec, workers)
    result, _, _, _ = match_vectors(vec_a, vec_b, r_arcsec, rule=method, candidates=candidates)
    return result


def crossmatch_pixels(
    x_a: ArrayLike,
    y_a: ArrayLike,
    x_b: ArrayLike,
    y_b: ArrayLike,
    radius: float | u.Quantity,
    *,
    offset: tuple[float, float] | None = None,
    method: MatchMethod = "greedy",
    workers: int = 2,
) -> CrossMatchResult:
    """One-to-one match of positions in a common pixel frame within ``radius`` pixels.

    For catalogues on the same image grid (W21 matches PHANGS-HST and LEGUS within 2 px in the
    PHANGS-HST frame). ``offset = (dx, dy)`` in pixels is added to A. Separations in pixels.
    """
    r = u.Quantity(radius, u.pix).to_value(u.pix)
    pa = np.column_stack([np.asarray(x_a, dtype=float), np.asarray(y_a, dtype=float)])
    if offset is not None:
        pa = pa + np.asarray(offset, dtype=float)
    pb = np.column_stack([np.asarray(x_b, dtype=float), np.asarray(y_b, dtype=float)])
    ia, ib, d = pairs_within(pb, pa, r * (1.0 + 1e-12), workers)
    keep = d <= r
    return one_to_one(
        ia[keep], ib[keep], d[keep] * u.pix, pa.shape[0], pb.shape[0], method, r * u.pix
    )
