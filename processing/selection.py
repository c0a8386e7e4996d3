"""Cluster-candidate selection in the MCI plane (Thilker et al. 2022 §4.1-4.4, Table 2).

Pure functions: arrays / data frames in, boolean flags out. No database.

Positions (for the doubles cut) are 0-based pixel centres, as everywhere in the image
pipeline; only separations matter here.

The pathway (extract §2.12, §3.11-3.15):

* **general** (§4.1): photometric error <= 0.3 mag in at least three bands, V one of them;
* **morphology quality** (§4.2.2): V-band S/N > 10, sigma(MCI_in) <= 0.3, sigma(MCI_out) <= 1.0;
* **semi-empirical region** (§4.2.3, Table 2): inside the polygon and above the
  distance-dependent MCI_out floor;
* **super H-D** (§4.3): M_V <= -10 and -0.55 <= MCI_in <= 0.45 (no S/N or MCI-error cut);
* **doubles** (§4.4): among the preliminary candidates, sorted by count rate, a fainter
  candidate within 2.5 px of a brighter kept one is disqualified;
* candidate = general and [(quality and region and not stellar) or super H-D] and not double.

Optional slots for the galaxy-specific model cluster region (hit maps, §4.2.2) and the
stellar exclusion region take a polygon (k, 2) of (MCI_in, MCI_out) vertices, or any
callable ``f(mci_in, mci_out) -> bool array``; by default they are absent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

__all__ = [
    "DOUBLES_RADIUS_PX",
    "HD_LIMIT_ABS_MAG_V",
    "SEMI_EMPIRICAL_VERTICES",
    "SUPER_HD_MCI_IN_WINDOW",
    "Region",
    "distance_modulus",
    "flag_doubles",
    "in_polygon",
    "in_semi_empirical_region",
    "is_super_hd",
    "mci_out_floor",
    "passes_general",
    "passes_morphology_quality",
    "select_candidates",
    "suppress_fainter_neighbours",
]

#: Vertices (MCI_in, MCI_out) of the semi-empirical selection region, Thilker et al. 2022
#: Table 2 (the closing vertex, equal to the first, is implied).
SEMI_EMPIRICAL_VERTICES: tuple[tuple[float, float], ...] = (
    (0.050, 0.600),
    (0.300, 0.600),
    (0.110, -0.700),
    (-0.200, -2.000),
    (-0.525, -2.000),
)
#: Humphreys-Davidson limit adopted for the bright-object pathway (Thilker §4.3), mag.
HD_LIMIT_ABS_MAG_V = -10.0
#: MCI_in window of the super-H-D pathway, inclusive (Thilker §4.3).
SUPER_HD_MCI_IN_WINDOW = (-0.55, 0.45)
#: Doubles radius (Thilker §4.4), px.
DOUBLES_RADIUS_PX = 2.5

#: A region of the MCI plane: polygon vertices (k, 2) or a vectorised membership function.
Region = ArrayLike | Callable[[NDArray, NDArray], NDArray]

_EDGE_TOL = 1e-9


def mci_out_floor(distance_mpc: float, *, uncropped_below_mpc: float | None = None) -> float:
    """Bottom edge (MCI_out) of the semi-empirical region by distance (Thilker §4.2.3, Fig. 8).

    -1.7 for d <= 8 Mpc, -1.1 for 8 < d < 14 Mpc, -0.7 for d >= 14 Mpc. The paper writes
    "d > 14" for the last bin, leaving d = 14 Mpc in none; we put it in the far bin (the
    stricter crop). Targets "considerably closer than 8 Mpc" may use the uncropped polygon
    (-2.0): pass ``uncropped_below_mpc`` to choose where that starts (the paper gives no
    number, so by default it is not applied).
    """
    d = float(distance_mpc)
    if not np.isfinite(d) or d <= 0:
        raise ValueError(f"distance_mpc must be a positive number, got {distance_mpc!r}")
    if uncropped_below_mpc is not None and d < uncropped_below_mpc:
        return -2.0
    if d <= 8.0:
        return -1.7
    if d < 14.0:
        return -1.1
    return -0.7


def in_polygon(px: ArrayLike, py: ArrayLike, vertices: ArrayLike) -> NDArray[np.bool_]:
    """Vectorised point-in-polygon test; points on an edge or vertex count as inside.

    Even-odd ray casting (a horizontal ray towards +x; an edge is crossed when one end is
    strictly above the point and the other at or below it), plus an explicit on-edge test
    (distance to a segment <= 1e-9) so the boundary is closed and its treatment documented.
    ``vertices`` is (k, 2), open or closed. NaN points are outside.
    """
    x = np.asarray(px, dtype=np.float64)[..., None]
    y = np.asarray(py, dtype=np.float64)[..., None]
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
        raise ValueError(f"vertices must be (k >= 3, 2), got shape {v.shape}")
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    crossings = np.sum(straddles & (x < x_cross), axis=-1)
    inside = (crossings % 2) == 1
    # on-edge: projection of the point onto each segment
    ex, ey = x1 - x0, y1 - y0
    length2 = ex * ex + ey * ey
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(((x - x0) * ex + (y - y0) * ey) / np.where(length2 > 0, length2, 1.0), 0, 1)
    dist = np.hypot(x - (x0 + t * ex), y - (y0 + t * ey))
    on_edge = np.any(dist <= _EDGE_TOL, axis=-1)
    finite = np.isfinite(x[..., 0]) & np.isfinite(y[..., 0])
    return (inside | on_edge) & finite


def in_semi_empirical_region(
    mci_in: ArrayLike, mci_out: ArrayLike, distance_mpc: float, **floor_kwargs
) -> NDArray[np.bool_]:
    """Inside the Table 2 polygon and MCI_out >= the distance floor (Thilker §4.2.3).

    Both boundaries are inclusive (on an edge = inside; MCI_out equal to the floor = inside).
    """
    floor = mci_out_floor(distance_mpc, **floor_kwargs)
    mci_out = np.asarray(mci_out, dtype=np.float64)
    return in_polygon(mci_in, mci_out, SEMI_EMPIRICAL_VERTICES) & (mci_out >= floor)


def _in_region(region: Region, mci_in: NDArray, mci_out: NDArray) -> NDArray[np.bool_]:
    if callable(region):
        return np.asarray(region(mci_in, mci_out), dtype=bool)
    return in_polygon(mci_in, mci_out, region)


def passes_general(
    mag_err_by_band: pd.DataFrame, *, v_band: str = "V", max_err: float = 0.3, min_bands: int = 3
) -> NDArray[np.bool_]:
    """Photometric error <= ``max_err`` in >= ``min_bands`` bands, V among them (Thilker §4.1).

    ``mag_err_by_band`` has one column of magnitude errors per band (named by band); NaN
    (not measured / no coverage) counts as failing. The paper's "> 3 bands" is read as
    "at least three" (§6.4 says so).
    """
    if v_band not in mag_err_by_band.columns:
        raise KeyError(f"no V-band column {v_band!r} in {list(mag_err_by_band.columns)}")
    err = mag_err_by_band.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        good = err <= max_err
        v_good = mag_err_by_band[v_band].to_numpy(dtype=np.float64) <= max_err
    return v_good & (good.sum(axis=1) >= min_bands)


def passes_morphology_quality(
    v_snr: ArrayLike,
    mci_in_err: ArrayLike,
    mci_out_err: ArrayLike,
    *,
    min_snr: float = 10.0,
    max_in_err: float = 0.3,
    max_out_err: float = 1.0,
) -> NDArray[np.bool_]:
    """V S/N > 10, sigma(MCI_in) <= 0.3, sigma(MCI_out) <= 1.0 (Thilker §4.2.2, Tab. 5 note b).

    NaN in any input fails.
    """
    snr = np.asarray(v_snr, dtype=np.float64)
    e_in = np.asarray(mci_in_err, dtype=np.float64)
    e_out = np.asarray(mci_out_err, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (snr > min_snr) & (e_in <= max_in_err) & (e_out <= max_out_err)


def is_super_hd(
    abs_mag_v: ArrayLike,
    mci_in: ArrayLike,
    *,
    limit_abs_mag: float = HD_LIMIT_ABS_MAG_V,
    mci_in_window: tuple[float, float] = SUPER_HD_MCI_IN_WINDOW,
) -> NDArray[np.bool_]:
    """M_V <= -10 and -0.55 <= MCI_in <= 0.45, both inclusive (Thilker §4.3)."""
    m = np.asarray(abs_mag_v, dtype=np.float64)
    c = np.asarray(mci_in, dtype=np.float64)
    lo, hi = mci_in_window
    with np.errstate(invalid="ignore"):
        return (m <= limit_abs_mag) & (c >= lo) & (c <= hi)


def distance_modulus(distance_mpc: float) -> float:
    """mu = 5 log10(d / 10 pc), mag."""
    return 5.0 * np.log10(float(distance_mpc) * 1e5)


def suppress_fainter_neighbours(
    x: ArrayLike, y: ArrayLike, brightness: ArrayLike, radius_px: float
) -> NDArray[np.bool_]:
    """Brightest-first suppression: True for sources removed by a brighter kept neighbour.

    Sources are ranked by ``brightness`` (descending; ties by input order; NaN last). Walking
    down the list, each source that is still kept removes every fainter source within
    ``radius_px`` (inclusive); removed sources remove nothing. The result equals that
    sequential walk, computed without a Python loop over sources: each pass keeps the
    sources with no undecided brighter neighbour and removes those with a kept one, so the
    number of passes is the length of the longest chain of neighbours.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    b = np.asarray(brightness, dtype=np.float64)
    n = xs.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    if not (ys.size == n and b.size == n):
        raise ValueError("x, y and brightness must have the same length")
    key = np.where(np.isnan(b), -np.inf, b)
    order = np.lexsort((np.arange(n), -key))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    finite = np.isfinite(xs) & np.isfinite(ys)
    idx = np.flatnonzero(finite)
    pairs = cKDTree(np.c_[xs[idx], ys[idx]]).query_pairs(r=radius_px, output_type="ndarray")
    pairs = idx[pairs] if pairs.size else np.zeros((0, 2), dtype=np.int64)
    first_brighter = rank[pairs[:, 0]] < rank[pairs[:, 1]]
    brighter = np.where(first_brighter, pairs[:, 0], pairs[:, 1])
    fainter = np.where(first_brighter, pairs[:, 1], pairs[:, 0])

    undecided, kept, removed = 0, 1, 2
    state = np.zeros(n, dtype=np.int8)
    while np.any(state == undecided):
        kept_brighter = np.bincount(fainter[state[brighter] == kept], minlength=n) > 0
        state[(state == undecided) & kept_brighter] = removed
        open_brighter = np.bincount(fainter[state[brighter] == undecided], minlength=n) > 0
        state[(state == undecided) & ~open_brighter] = kept
    return state == removed


def flag_doubles(
    x: ArrayLike, y: ArrayLike, count_rate: ArrayLike, radius_px: float = DOUBLES_RADIUS_PX
) -> NDArray[np.bool_]:
    """Doubles cut (Thilker §4.4): True for a fainter candidate within 2.5 px of a brighter one.

    Candidates are sorted by (V-band) count rate, decreasing; walking down the list, any
    fainter neighbour within ``radius_px`` (inclusive) of a candidate that is still kept is
    disqualified. See :func:`suppress_fainter_neighbours`.
    """
    return suppress_fainter_neighbours(x, y, count_rate, radius_px)


def select_candidates(
    table: pd.DataFrame,
    distance_mpc: float,
    *,
    v_band: str = "V",
    err_prefix: str = "mag_err_",
    max_err: float = 0.3,
    min_bands: int = 3,
    min_snr: float = 10.0,
    max_in_err: float = 0.3,
    max_out_err: float = 1.0,
    doubles_radius_px: float = DOUBLES_RADIUS_PX,
    model_region: Region | None = None,
    stellar_exclusion: Region | None = None,
    region: str = "semi_empirical",
    uncropped_below_mpc: float | None = None,
) -> pd.DataFrame:
    """Per-source selection flags of the Thilker et al. 2022 §4 pathway.

    ``table`` columns: ``x``, ``y`` (px), ``count_rate`` (V band, e-/s; sorts the doubles
    cut), ``v_snr``, ``mci_in``, ``mci_in_err``, ``mci_out``, ``mci_out_err``, either
    ``abs_mag_v`` or ``mag_v`` (total apparent V, Vega; M_V = mag_v - mu(distance)), and one
    magnitude-error column per band named ``err_prefix + band`` (e.g. ``mag_err_V``).

    Returns a frame on the same index with boolean columns ``passes_general``,
    ``passes_morph_quality``, ``in_semi_empirical``, ``in_model_region`` (all False when no
    model region is given), ``in_stellar_exclusion`` (False when none), ``super_hd``,
    ``preliminary``, ``is_double`` and ``candidate``. ``region`` chooses the region of the
    morphology pathway: ``"semi_empirical"`` (the human sample) or ``"model"`` (the ML
    sample; needs ``model_region``). The doubles cut runs among the preliminary candidates
    only; non-candidates never disqualify anything.
    """
    needed = ["x", "y", "count_rate", "v_snr", "mci_in", "mci_in_err", "mci_out", "mci_out_err"]
    missing = [c for c in needed if c not in table.columns]
    if "abs_mag_v" not in table.columns and "mag_v" not in table.columns:
        missing.append("abs_mag_v or mag_v")
    err_cols = [c for c in table.columns if str(c).startswith(err_prefix)]
    if not err_cols:
        missing.append(f"{err_prefix}<band> columns")
    if missing:
        raise KeyError(f"select_candidates: missing columns {missing}")
    if region not in ("semi_empirical", "model"):
        raise ValueError(f"region must be 'semi_empirical' or 'model', got {region!r}")
    if region == "model" and model_region is None:
        raise ValueError("region='model' needs a model_region")

    errs = table[err_cols].rename(columns=lambda c: str(c)[len(err_prefix) :])
    general = passes_general(errs, v_band=v_band, max_err=max_err, min_bands=min_bands)
    quality = passes_morphology_quality(
        table["v_snr"], table["mci_in_err"], table["mci_out_err"],
        min_snr=min_snr, max_in_err=max_in_err, max_out_err=max_out_err,
    )  # fmt: skip
    mci_in = table["mci_in"].to_numpy(dtype=np.float64)
    mci_out = table["mci_out"].to_numpy(dtype=np.float64)
    semi = in_semi_empirical_region(
        mci_in, mci_out, distance_mpc, uncropped_below_mpc=uncropped_below_mpc
    )
    n = len(table)
    in_model = (
        np.zeros(n, dtype=bool)
        if model_region is None
        else _in_region(model_region, mci_in, mci_out)
    )
    stellar = (
        np.zeros(n, dtype=bool)
        if stellar_exclusion is None
        else _in_region(stellar_exclusion, mci_in, mci_out)
    )
    if "abs_mag_v" in table.columns:
        abs_mag = table["abs_mag_v"].to_numpy(dtype=np.float64)
    else:
        abs_mag = table["mag_v"].to_numpy(dtype=np.float64) - distance_modulus(distance_mpc)
    super_hd = is_super_hd(abs_mag, mci_in)
    in_region = semi if region == "semi_empirical" else in_model
    preliminary = general & ((quality & in_region & ~stellar) | super_hd)

    double = np.zeros(n, dtype=bool)
    sel = np.flatnonzero(preliminary)
    if sel.size:
        double[sel] = flag_doubles(
            table["x"].to_numpy(dtype=np.float64)[sel],
            table["y"].to_numpy(dtype=np.float64)[sel],
            table["count_rate"].to_numpy(dtype=np.float64)[sel],
            doubles_radius_px,
        )
    return pd.DataFrame(
        {
            "passes_general": general,
            "passes_morph_quality": quality,
            "in_semi_empirical": semi,
            "in_model_region": in_model,
            "in_stellar_exclusion": stellar,
            "super_hd": super_hd,
            "preliminary": preliminary,
            "is_double": double,
            "candidate": preliminary & ~double,
        },
        index=table.index,
    )
