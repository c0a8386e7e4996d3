"""Agreement between two classifications of the same (cross-matched) sources.

Pure functions: arrays in, numbers / frames out. No database code.

References:

* Whitmore et al. 2021 (W21), §4 and Table 1 note: agreement fraction of class k between
  methods A and B, on the one-to-one matched intersection,
  f_k = 1/2 (N_both(k) / N_A(k) + N_both(k) / N_B(k)); "Class 1+2" merges classes 1 and 2 first.
  Table 1's "mean" column is the plain mean of f_1..f_4.
* W21 §4.2-4.4, Figs. 6-8: f_k in bins of magnitude, crowding and local background, with bins of
  roughly equal numbers of sources (of all classes).
* W21 §6.3.2, footnote 3, Fig. 21: confusion matrix with neither method as ground truth. For the
  cell where A says i and B says j: C_ij = 1/2 (N_ij / N_A(i) + N_ij / N_B(j)), i.e. the A-as-truth
  matrix averaged with the B-as-truth matrix reflected across the diagonal; the diagonal is f_k.
* Binomial confidence intervals (``astropy.stats.binom_conf_interval``; Wilson score interval at
  68.27 % by default, i.e. 1 sigma, as T22 §6.2 / Fig. 13 quote 1 sigma errors on fractions).
  A fraction k/n gets the interval of k successes in n trials. The agreement f_k is the mean of
  two fractions with the same numerator, N_both/N_A and N_both/N_B; its interval is the mean of
  their two intervals (the two errors are fully correlated through N_both). When N_A = N_B it
  is exactly the binomial interval of N_both/N_A.
* Thilker et al. 2022 (T22), §6.3: uncertainty of the ML Class 1+2 count. Lower limit: the
  "mode consensus" tally; upper limit: max(VGG, ResNet) tally; representative count: the mean of
  the three tallies; uncertainty: the half-range as a fraction of that mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.stats import binom_conf_interval
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

__all__ = [
    "AGREEMENT_CLASS_SETS",
    "DEFAULT_CONFIDENCE_LEVEL",
    "DEFAULT_INTERVAL",
    "agreement_fraction",
    "binomial_interval",
    "binned_agreement",
    "confusion_matrix",
    "covariate_bins",
    "mean_with_uncertainty",
    "ml_count_uncertainty",
    "neighbour_counts",
    "symmetric_confusion_matrix",
]

#: Class sets of W21 Table 1 (label -> classes); "1+2" merges the two cluster classes.
AGREEMENT_CLASS_SETS: dict[str, tuple[int, ...]] = {
    "1": (1,),
    "2": (2,),
    "3": (3,),
    "4": (4,),
    "1+2": (1, 2),
}

#: Binomial interval of :func:`binomial_interval` by default (astropy's name).
DEFAULT_INTERVAL = "wilson"
#: Confidence level of the binomial intervals by default: 1 sigma (68.27 %).
DEFAULT_CONFIDENCE_LEVEL = 0.682689492137

#: Meaning and unit of the columns of :func:`agreement_fraction` and of the binned agreement
#: (``bin, lo, hi, median, n_pairs``, the covariate's unit given by the caller): the
#: descriptions of a figure's download.
AGREEMENT_COLUMNS: dict[str, str] = {
    "bin": "bin number, from 1 (index)",
    "n_pairs": "pairs in the bin, classified or not (count)",
    "n_a": "pairs that method A puts in the class set, N_A (count)",
    "n_b": "pairs that method B puts in the class set, N_B (count)",
    "n_both": "pairs both methods put in the class set, N_both (count)",
    "frac_a": "N_both / N_A (dimensionless)",
    "frac_b": "N_both / N_B (dimensionless)",
    "agreement": "(frac_a + frac_b) / 2, W21 §4 (dimensionless)",
    "frac_a_lo": "lower end of the binomial interval of frac_a (dimensionless)",
    "frac_a_hi": "upper end of the binomial interval of frac_a (dimensionless)",
    "frac_b_lo": "lower end of the binomial interval of frac_b (dimensionless)",
    "frac_b_hi": "upper end of the binomial interval of frac_b (dimensionless)",
    "agreement_lo": "mean of the lower ends of frac_a and frac_b (dimensionless)",
    "agreement_hi": "mean of the upper ends of frac_a and frac_b (dimensionless)",
    "n": "classified pairs compared, all class sets (count)",
}

BinomialInterval = Literal["wilson", "jeffreys", "flat", "wald"]


def binomial_interval(
    k: ArrayLike,
    n: ArrayLike,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper bounds of the binomial fraction k/n (``astropy.stats.binom_conf_interval``).

    ``k`` successes in ``n`` trials (integers, broadcast together); ``interval`` is astropy's
    ``"wilson"`` (default), ``"jeffreys"``, ``"flat"`` or ``"wald"``; ``confidence_level``
    defaults to 1 sigma (T22 §6.2 quotes 1 sigma errors on fractions). Where ``n`` is 0 (or
    NaN) the bounds are NaN. Returns ``(lo, hi)`` arrays of the broadcast shape.
    """
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    lo = np.full(k_arr.shape, np.nan)
    hi = np.full(k_arr.shape, np.nan)
    ok = np.isfinite(k_arr) & np.isfinite(n_arr) & (n_arr > 0)
    if np.any((k_arr[ok] < 0) | (k_arr[ok] > n_arr[ok])):
        raise ValueError("need 0 <= k <= n")
    if np.any(ok):
        bounds = binom_conf_interval(
            np.rint(k_arr[ok]).astype(np.int64),
            np.rint(n_arr[ok]).astype(np.int64),
            confidence_level=confidence_level,
            interval=interval,
        )
        lo[ok], hi[ok] = bounds[0], bounds[1]
    return lo, hi


def _paired_classes(
    class_a: ArrayLike, class_b: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(class_a, dtype=float)
    b = np.asarray(class_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("class_a and class_b must be 1-D arrays of equal length (matched pairs)")
    return a, b


def agreement_fraction(
    class_a: ArrayLike,
    class_b: ArrayLike,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Agreement fraction per class set between two methods (W21 §4, Table 1).

    ``class_a[i]`` and ``class_b[i]`` are the classes the two methods give the i-th matched pair.
    Pairs where either class is NaN (unclassified) are dropped. Returns one row per class set with
    ``n_a`` = N_A(k), ``n_b`` = N_B(k), ``n_both``, ``frac_a`` = N_both/N_A, ``frac_b`` = N_both/N_B
    and ``agreement`` = (frac_a + frac_b) / 2 (NaN when a denominator is zero), then the binomial
    intervals (:func:`binomial_interval`, ``interval`` at ``confidence_level``):
    ``frac_a_lo/hi``, ``frac_b_lo/hi`` and ``agreement_lo/hi`` (the mean of the two, see the
    module docstring), and ``n`` = the number of classified pairs compared (all class sets).
    """
    a, b = _paired_classes(class_a, class_b)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    rows = {}
    for label, members in class_sets.items():  # loop over class sets, not sources
        in_a = np.isin(a, list(members))
        in_b = np.isin(b, list(members))
        n_a, n_b, n_both = int(in_a.sum()), int(in_b.sum()), int((in_a & in_b).sum())
        frac_a = n_both / n_a if n_a else np.nan
        frac_b = n_both / n_b if n_b else np.nan
        rows[label] = (n_a, n_b, n_both, frac_a, frac_b, 0.5 * (frac_a + frac_b))
    table = pd.DataFrame.from_dict(
        rows,
        orient="index",
        columns=["n_a", "n_b", "n_both", "frac_a", "frac_b", "agreement"],
    ).rename_axis("class_set")
    both = table["n_both"].to_numpy()
    lo_a, hi_a = binomial_interval(both, table["n_a"].to_numpy(), interval, confidence_level)
    lo_b, hi_b = binomial_interval(both, table["n_b"].to_numpy(), interval, confidence_level)
    table["frac_a_lo"], table["frac_a_hi"] = lo_a, hi_a
    table["frac_b_lo"], table["frac_b_hi"] = lo_b, hi_b
    table["agreement_lo"] = 0.5 * (lo_a + lo_b)
    table["agreement_hi"] = 0.5 * (hi_a + hi_b)
    table["n"] = int(a.size)
    return table


def confusion_matrix(
    class_a: ArrayLike, class_b: ArrayLike, classes: Sequence[int] = (1, 2, 3, 4)
) -> pd.DataFrame:
    """Counts N_ij of matched pairs that method A calls i and method B calls j (rows A, cols B).

    Pairs with a class outside ``classes`` (or NaN) on either side are left out.
    """
    a, b = _paired_classes(class_a, class_b)
    cls = np.asarray(classes, dtype=float)
    if np.any(np.diff(cls) <= 0):
        raise ValueError("classes must be strictly increasing")
    valid = np.isin(a, cls) & np.isin(b, cls)
    ia = np.searchsorted(cls, a[valid])
    ib = np.searchsorted(cls, b[valid])
    k = len(cls)
    counts = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k)
    return pd.DataFrame(
        counts,
        index=pd.Index(list(classes), name="class_a"),
        columns=pd.Index(list(classes), name="class_b"),
    )


def symmetric_confusion_matrix(counts: pd.DataFrame | ArrayLike) -> pd.DataFrame:
    """W21's confusion matrix with neither method as truth (§6.3.2, footnote 3, Fig. 21).

    C_ij = 1/2 (N_ij / N_A(i) + N_ij / N_B(j)) with N_A(i) the row sums and N_B(j) the column
    sums of the count matrix (rows = method A). The diagonal equals the agreement fractions;
    rows and columns need not sum to one.
    """
    frame = counts if isinstance(counts, pd.DataFrame) else pd.DataFrame(np.asarray(counts))
    n = frame.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_a = n / n.sum(axis=1, keepdims=True)
        by_b = n / n.sum(axis=0, keepdims=True)
    return pd.DataFrame(0.5 * (by_a + by_b), index=frame.index, columns=frame.columns)


def covariate_bins(
    values: ArrayLike, bins: int | ArrayLike = 4
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Bin index (0-based, -1 for NaN or out of range) and edges for a covariate.

    An integer ``bins`` gives equal-number (quantile) bins, as W21 §4.2 uses ("roughly equal
    numbers of sources"); an array gives explicit edges. The last bin includes its upper edge.
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    if np.ndim(bins) == 0:
        n_bins = int(bins)
        edges = np.quantile(v[finite], np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.asarray(bins, dtype=float)
        n_bins = len(edges) - 1
    index = np.searchsorted(edges, v, side="right") - 1
    index = np.where(v == edges[-1], n_bins - 1, index)
    index = np.where(finite & (index >= 0) & (index < n_bins), index, -1)
    return index.astype(np.int64), edges


def binned_agreement(
    class_a: ArrayLike,
    class_b: ArrayLike,
    covariate: ArrayLike,
    bins: int | ArrayLike = 4,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
    *,
    interval: BinomialInterval = DEFAULT_INTERVAL,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> pd.DataFrame:
    """Agreement fraction per class set in bins of a covariate (W21 §4.2-4.4, Figs. 6-8).

    ``covariate`` is one value per matched pair: magnitude, crowding (e.g.
    :func:`neighbour_counts` or DOLPHOT ``crowd``) or local background (median sky in the 7-8 px
    annulus). Bins as in :func:`covariate_bins`; equal-number bins are computed over all pairs
    (all classes), as in W21. Returns a long frame: ``bin`` (1-based, as in W21 Figs. 7-8),
    ``lo``, ``hi``, ``median`` (covariate median in the bin), ``class_set`` and the columns of
    :func:`agreement_fraction` (binomial intervals included; ``n`` counts the bin's pairs).
    """
    a, b = _paired_classes(class_a, class_b)
    cov = np.asarray(covariate, dtype=float)
    index, edges = covariate_bins(cov, bins)
    frames = []
    for k in range(len(edges) - 1):  # loop over a handful of bins
        sel = index == k
        table = agreement_fraction(
            a[sel], b[sel], class_sets, interval=interval, confidence_level=confidence_level
        ).reset_index()
        table.insert(0, "median", np.median(cov[sel]) if sel.any() else np.nan)
        table.insert(0, "hi", edges[k + 1])
        table.insert(0, "lo", edges[k])
        table.insert(0, "bin", k + 1)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def neighbour_counts(
    x: ArrayLike | u.Quantity,
    y: ArrayLike | u.Quantity,
    radius: float | u.Quantity,
    *,
    others_x: ArrayLike | u.Quantity | None = None,
    others_y: ArrayLike | u.Quantity | None = None,
    workers: int = 2,
) -> NDArray[np.int64]:
    """Crowding: number of neighbours within ``radius`` of each source (KD-tree).

    Planar positions (e.g. pixels; Quantities must share a unit with ``radius``). By default the
    neighbours are the other sources of the same list (the source itself is not counted); pass
    ``others_x/others_y`` (e.g. the all-source detection list) to count those instead. The
    boundary is inclusive (distance <= radius).
    """
    unit = radius.unit if isinstance(radius, u.Quantity) else None

    def _plain(v: ArrayLike | u.Quantity) -> NDArray[np.float64]:
        if unit is not None:
            return u.Quantity(v).to_value(unit)
        return np.asarray(v, dtype=float)

    r = radius.value if unit is not None else float(radius)
    points = np.column_stack([_plain(x), _plain(y)])
    if others_x is None:
        tree = cKDTree(points)
        self_count = 1
    else:
        tree = cKDTree(np.column_stack([_plain(others_x), _plain(others_y)]))
        self_count = 0
    counts = tree.query_ball_point(points, r, return_length=True, workers=workers)
    return np.asarray(counts, dtype=np.int64) - self_count


def ml_count_uncertainty(
    consensus: ArrayLike, vgg: ArrayLike, resnet: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Representative ML Class 1+2 count and its fractional uncertainty (T22 §6.3).

    Lower limit = ``consensus`` (mode-consensus tally), upper limit = max(``vgg``, ``resnet``),
    representative count = mean of the three tallies, uncertainty = +/- (upper - lower) / 2
    divided by that mean. Vectorised over fields; returns ``(representative, fraction)``.
    """
    c = np.asarray(consensus, dtype=float)
    v = np.asarray(vgg, dtype=float)
    r = np.asarray(resnet, dtype=float)
    representative = (c + v + r) / 3.0
    half_range = 0.5 * (np.maximum(v, r) - c)
    return representative, half_range / representative


def mean_with_uncertainty(
    values: ArrayLike, kind: Literal["sem", "std"] = "sem"
) -> tuple[float, float]:
    """Mean and its uncertainty, ignoring NaN: ``sem`` = std(ddof=1)/sqrt(n), or ``std`` (ddof=1).

    W21 reports both: the "mean of means" rows of Table 1 and the Table 4/5 averages are SEMs;
    the per-galaxy "mean for above values" rows of Table 1 match the plain std.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    std = float(np.std(v, ddof=1))
    if kind == "sem":
        return float(v.mean()), std / np.sqrt(v.size)
    if kind == "std":
        return float(v.mean()), std
    raise ValueError(f"kind must be 'sem' or 'std', not {kind!r}")
