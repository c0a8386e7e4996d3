"""Cluster mass and age functions: log-binned dN/dM, dN/dtau and power-law slopes.

Pure functions: arrays in, numbers out. No database code.

References:

* Whitmore et al. 2021 (W21) §7, Tables 4-5, Figs. 23-25: dN/dM ∝ M^beta in age ranges,
  "plotted with an equal number of objects in each bin" and beta "determined from the best
  linear fit"; dN/dtau ∝ tau^gamma, youngest bin optionally left out of the fit. The number of
  objects per bin, the bin width of the age functions and the fit weighting are not stated:
  :func:`fit_power_law_binned` defaults to an unweighted least-squares line in
  log10(dN/dx) vs log10(x) at the log mid-points of the bins, and can weight by Poisson errors.
* Tang et al. 2026 (C-4) §4.4, Eqs. 17-18: completeness-corrected counts per bin,
  N_corr = N_raw / mean(p_i), with the 16th/84th percentiles of the per-object completeness p_i
  giving N_lo = N_raw / p84 and N_hi = N_raw / p16 (per-object p clipped at a floor; bins with a
  mean completeness below a threshold masked). C-4 itself fits no slope.
* Maximum-likelihood slope of a (possibly truncated) power law, p(x) ∝ x^beta on
  [x_min, x_max], with optional per-source weights (e.g. inverse completeness); for
  x_max = inf and no weights it is the standard estimator beta = -1 - n / sum(ln(x_i/x_min)),
  error |beta + 1| / sqrt(n) (e.g. Clauset, Shalizi & Newman 2009).
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

__all__ = [
    "BinnedFunction",
    "PowerLawFit",
    "equal_number_log_edges",
    "fit_power_law_binned",
    "fit_power_law_mle",
    "log_binned_function",
]


def function_columns(unit: str) -> dict[str, str]:
    """Meaning and unit of every column of :meth:`BinnedFunction.to_frame` and of a
    :class:`PowerLawFit` row, for a variable in ``unit`` (``"solMass"``, ``"yr"``): the
    descriptions of a figure's download (:func:`clustercat.schema.export.frame_table`)."""
    return {
        "lo": f"lower bin edge ({unit})",
        "hi": f"upper bin edge ({unit})",
        "log_centre": f"bin mid-point, log10 of the variable in {unit} (dex)",
        "n": "objects in the bin, or fitted (count)",
        "weighted_n": "sum of the weights (1/completeness) in the bin (dimensionless)",
        "n_err": "Poisson error of weighted_n, sqrt(sum w^2) (dimensionless)",
        "dn_dx": f"weighted_n per unit of the variable, dN/dx (1/{unit})",
        "dn_dx_err": f"error of dn_dx (1/{unit})",
        "dn_dlogx": "weighted_n per dex, dN/dlog x (1/dex)",
        "dn_dlogx_err": "error of dn_dlogx (1/dex)",
        "corrected_n": "completeness-corrected count, C-4 Eq. 17 (dimensionless)",
        "corrected_n_lo": "lower bound of corrected_n, C-4 Eq. 18 (dimensionless)",
        "corrected_n_hi": "upper bound of corrected_n, C-4 Eq. 18 (dimensionless)",
        "slope": "power-law index of dN/dx ∝ x^slope (dimensionless)",
        "slope_err": "1-sigma error of slope (dimensionless)",
        "x_min": f"lower end of the fitted range ({unit})",
        "x_max": f"upper end of the fitted range ({unit})",
        "intercept": "log10 dN/dx at log10 x = 0 of the binned line fit (dimensionless)",
        "intercept_err": "1-sigma error of intercept (dimensionless)",
    }


@dataclass(frozen=True)
class BinnedFunction:
    """A distribution binned in log10 of its variable (mass in M_sun, age in yr, ...).

    ``edges`` are in the (linear) unit ``unit``. Per bin: ``n`` raw count; ``weighted_n`` the
    sum of weights (equal to ``n`` without weights) and ``n_err`` its Poisson error
    sqrt(sum w^2); ``dn_dx`` = weighted_n / bin width (dN/dM or dN/dtau) and ``dn_dlogx`` =
    weighted_n / width in dex, each with its error. With per-object completeness the
    ``corrected_*`` arrays hold C-4 Eq. 17-18 values (NaN where masked).
    """

    edges: NDArray[np.float64]
    unit: u.UnitBase
    n: NDArray[np.int64]
    weighted_n: NDArray[np.float64]
    n_err: NDArray[np.float64]
    corrected_n: NDArray[np.float64] | None = None
    corrected_n_lo: NDArray[np.float64] | None = None
    corrected_n_hi: NDArray[np.float64] | None = None

    @property
    def log_edges(self) -> NDArray[np.float64]:
        return np.log10(self.edges)

    @property
    def log_centre(self) -> NDArray[np.float64]:
        """Mid-points of the bins in log10."""
        le = self.log_edges
        return 0.5 * (le[:-1] + le[1:])

    @property
    def width(self) -> NDArray[np.float64]:
        return np.diff(self.edges)

    @property
    def dex_width(self) -> NDArray[np.float64]:
        return np.diff(self.log_edges)

    @property
    def dn_dx(self) -> NDArray[np.float64]:
        return self.weighted_n / self.width

    @property
    def dn_dx_err(self) -> NDArray[np.float64]:
        return self.n_err / self.width

    @property
    def dn_dlogx(self) -> NDArray[np.float64]:
        return self.weighted_n / self.dex_width

    @property
    def dn_dlogx_err(self) -> NDArray[np.float64]:
        return self.n_err / self.dex_width

    def to_frame(self) -> pd.DataFrame:
        """One row per bin (edges in ``unit``), for storage or plotting."""
        frame = pd.DataFrame(
            {
                "lo": self.edges[:-1],
                "hi": self.edges[1:],
                "log_centre": self.log_centre,
                "n": self.n,
                "weighted_n": self.weighted_n,
                "n_err": self.n_err,
                "dn_dx": self.dn_dx,
                "dn_dx_err": self.dn_dx_err,
                "dn_dlogx": self.dn_dlogx,
                "dn_dlogx_err": self.dn_dlogx_err,
            }
        )
        if self.corrected_n is not None:
            frame["corrected_n"] = self.corrected_n
            frame["corrected_n_lo"] = self.corrected_n_lo
            frame["corrected_n_hi"] = self.corrected_n_hi
        return frame


@dataclass(frozen=True)
class PowerLawFit:
    """Slope of dN/dx ∝ x^slope with its 1-sigma error, and what it was fitted to."""

    slope: float
    slope_err: float
    n: int
    x_min: float
    x_max: float
    method: str
    intercept: float = np.nan
    intercept_err: float = np.nan


def _plain(values: ArrayLike | u.Quantity) -> tuple[NDArray[np.float64], u.UnitBase]:
    if isinstance(values, u.Quantity):
        return np.asarray(values.value, dtype=float), values.unit
    return np.asarray(values, dtype=float), u.dimensionless_unscaled


def equal_number_log_edges(log_values: ArrayLike, n_bins: int) -> NDArray[np.float64]:
    """log10 edges giving ``n_bins`` bins of (nearly) equal numbers of objects (W21 §7).

    The sorted values are split into ``n_bins`` consecutive groups whose sizes differ by at
    most one; inner edges lie half-way (in log) between neighbouring groups, outer edges at
    the extreme values.
    """
    v = np.sort(np.asarray(log_values, dtype=float))
    if v.size < n_bins:
        raise ValueError(f"need at least {n_bins} values for {n_bins} equal-number bins")
    starts = np.array([chunk[0] for chunk in np.array_split(np.arange(v.size), n_bins)])
    inner = 0.5 * (v[starts[1:] - 1] + v[starts[1:]])
    return np.concatenate([[v[0]], inner, [v[-1]]])


def log_binned_function(
    values: ArrayLike | u.Quantity,
    *,
    n_bins: int = 8,
    log_range: tuple[float, float] | None = None,
    log_edges: ArrayLike | None = None,
    equal_number: bool = False,
    weights: ArrayLike | None = None,
    completeness: ArrayLike | None = None,
    completeness_floor: float = 1e-3,
    mask_mean_completeness_below: float | None = None,
) -> BinnedFunction:
    """Bin masses (or ages) in log10 and count them: dN/dM, dN/dtau with Poisson errors.

    ``values`` are linear (M_sun, yr; a Quantity keeps its unit). Bins: explicit ``log_edges``;
    or ``n_bins`` equal-width bins over ``log_range`` (default: the data range); or, with
    ``equal_number``, ``n_bins`` bins of equal numbers of objects within ``log_range``
    (W21 §7). A value on an inner edge goes to the upper bin; the last bin includes its
    upper edge. ``weights`` (e.g. 1/completeness) give weighted counts with error
    sqrt(sum w^2). ``completeness`` (per object, 0-1) adds C-4 Eqs. 17-18: per-object values
    clipped at ``completeness_floor``, N_corr = N / mean(p), N_lo = N / p84, N_hi = N / p16,
    and bins with mean(p) below ``mask_mean_completeness_below`` set to NaN.
    """
    x, unit = _plain(values)
    w = None if weights is None else np.asarray(weights, dtype=float)
    p = None if completeness is None else np.asarray(completeness, dtype=float)
    ok = np.isfinite(x) & (x > 0)
    logx = np.full(x.shape, np.nan)
    logx[ok] = np.log10(x[ok])

    if log_edges is not None:
        le = np.asarray(log_edges, dtype=float)
    else:
        lo, hi = log_range if log_range is not None else (np.nanmin(logx), np.nanmax(logx))
        in_range = ok & (logx >= lo) & (logx <= hi)
        if equal_number:
            le = equal_number_log_edges(logx[in_range], n_bins)
            le[0], le[-1] = lo, hi  # outer edges: the requested range (default: data range)
        else:
            le = np.linspace(lo, hi, n_bins + 1)
    nb = le.size - 1
    index = np.searchsorted(le, logx, side="right") - 1
    index = np.where(logx == le[-1], nb - 1, index)
    inside = ok & (index >= 0) & (index < nb)
    idx = index[inside]

    n = np.bincount(idx, minlength=nb).astype(np.int64)
    if w is None:
        weighted_n = n.astype(float)
        n_err = np.sqrt(weighted_n)
    else:
        weighted_n = np.bincount(idx, weights=w[inside], minlength=nb)
        n_err = np.sqrt(np.bincount(idx, weights=w[inside] ** 2, minlength=nb))

    corrected = corrected_lo = corrected_hi = None
    if p is not None:
        pc = np.clip(p[inside], completeness_floor, 1.0)
        mean_p = np.bincount(idx, weights=pc, minlength=nb) / np.maximum(n, 1)
        frame = pd.DataFrame({"bin": idx, "p": pc})
        q = frame.groupby("bin")["p"].quantile([0.16, 0.84]).unstack()
        p16 = q[0.16].reindex(range(nb)).to_numpy()
        p84 = q[0.84].reindex(range(nb)).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            corrected = np.where(n > 0, n / mean_p, 0.0)
            corrected_lo = np.where(n > 0, n / p84, 0.0)
            corrected_hi = np.where(n > 0, n / p16, 0.0)
        if mask_mean_completeness_below is not None:
            masked = (n > 0) & (mean_p < mask_mean_completeness_below)
            for arr in (corrected, corrected_lo, corrected_hi):
                arr[masked] = np.nan

    return BinnedFunction(
        edges=10.0**le,
        unit=unit,
        n=n,
        weighted_n=weighted_n,
        n_err=n_err,
        corrected_n=corrected,
        corrected_n_lo=corrected_lo,
        corrected_n_hi=corrected_hi,
    )


def fit_power_law_binned(
    binned: BinnedFunction,
    *,
    weighted: bool = False,
    log_range: tuple[float, float] | None = None,
    use_corrected: bool = False,
) -> PowerLawFit:
    """Slope of log10(dN/dx) vs log10(x) by least squares over the bins (W21 §7 "best linear fit").

    x is the log mid-point of each bin; empty bins are skipped (log of zero). Unweighted by
    default (error from the residual scatter, ``scipy.stats.linregress``); ``weighted`` uses
    sigma(log10 dN/dx) = n_err / (weighted_n ln 10) with absolute errors. ``log_range`` keeps
    only bins whose centre lies inside it (e.g. W21 drops the youngest age bin: (6.5, 9)).
    ``use_corrected`` fits the C-4 completeness-corrected counts instead. Bound equal-number
    bins with ``log_range`` in :func:`log_binned_function`: an open-ended last bin reaching the
    most massive object is very wide and its mid-point a poor abscissa.
    """
    counts = binned.corrected_n if use_corrected else binned.weighted_n
    if counts is None:
        raise ValueError("no completeness-corrected counts in this BinnedFunction")
    x = binned.log_centre
    keep = np.isfinite(counts) & (counts > 0)
    if log_range is not None:
        keep &= (x >= log_range[0]) & (x <= log_range[1])
    if keep.sum() < 3:
        raise ValueError("need at least three non-empty bins for a line fit")
    xs = x[keep]
    ys = np.log10(counts[keep] / binned.width[keep])
    if weighted:
        sigma = binned.n_err[keep] / (binned.weighted_n[keep] * np.log(10.0))
        popt, pcov = optimize.curve_fit(
            lambda t, a, b: a * t + b, xs, ys, sigma=sigma, absolute_sigma=True
        )
        slope, intercept = popt
        slope_err, intercept_err = np.sqrt(np.diag(pcov))
        method = "least squares, Poisson-weighted"
    else:
        fit = stats.linregress(xs, ys)
        slope, intercept = fit.slope, fit.intercept
        slope_err, intercept_err = fit.stderr, fit.intercept_stderr
        method = "least squares, unweighted"
    used = np.flatnonzero(keep)
    return PowerLawFit(
        slope=float(slope),
        slope_err=float(slope_err),
        n=int(binned.n[keep].sum()),
        x_min=float(binned.edges[used[0]]),
        x_max=float(binned.edges[used[-1] + 1]),
        method=method,
        intercept=float(intercept),
        intercept_err=float(intercept_err),
    )


def _log_moments(k: float, span: float) -> tuple[float, float]:
    """Mean and variance of t = ln(x/x_min) for p(t) ∝ exp(k t) on [0, span] (span may be inf)."""
    if not np.isfinite(span):
        return -1.0 / k, 1.0 / k**2
    q = k * span
    if abs(q) < 1e-4:
        return 0.5 * span + k * span**2 / 12.0, span**2 / 12.0 - k**2 * span**4 / 720.0
    with np.errstate(over="ignore"):
        mean = -span / np.expm1(-q) - 1.0 / k
        var = 1.0 / k**2 - span**2 / (4.0 * np.sinh(0.5 * q) ** 2)
    return float(mean), float(var)


def fit_power_law_mle(
    values: ArrayLike | u.Quantity,
    x_min: float | u.Quantity,
    x_max: float | u.Quantity | None = None,
    weights: ArrayLike | None = None,
) -> PowerLawFit:
    """Maximum-likelihood slope beta of p(x) ∝ x^beta on [x_min, x_max] (x_max=None: infinite).

    Only values in [x_min, x_max] are used. With ``weights`` (e.g. inverse completeness) the
    weighted log-likelihood sum(w_i ln p(x_i)) is maximised and the error is the sandwich
    (robust) estimate; without weights the error is from the Fisher information,
    1 / sqrt(n Var[ln x]), which for x_max = inf is |beta + 1| / sqrt(n).
    """
    x, unit = _plain(values)
    lo = u.Quantity(x_min, unit).value if isinstance(x_min, u.Quantity) else float(x_min)
    if x_max is None:
        hi = np.inf
    else:
        hi = u.Quantity(x_max, unit).value if isinstance(x_max, u.Quantity) else float(x_max)
    w_all = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & (x >= lo) & (x <= hi) & np.isfinite(w_all)
    t = np.log(x[keep] / lo)
    w = w_all[keep]
    n = int(t.size)
    if n < 2:
        raise ValueError("need at least two values inside [x_min, x_max]")
    total_w = w.sum()
    target = float(np.sum(w * t) / total_w)
    span = np.log(hi / lo)

    if not np.isfinite(span):
        k = -1.0 / target
    else:
        if not 0.0 < target < span:
            raise ValueError("degenerate sample: all values at one end of the range")

        def mean_minus_target(kk: float) -> float:
            return _log_moments(kk, span)[0] - target

        bound = 1.0
        while mean_minus_target(-bound) > 0 or mean_minus_target(bound) < 0:
            bound *= 4.0
        k = optimize.brentq(mean_minus_target, -bound, bound, xtol=1e-14, rtol=1e-14)

    mean_t, var_t = _log_moments(k, span)
    if weights is None:
        slope_err = 1.0 / np.sqrt(n * var_t)
        method = "maximum likelihood"
    else:
        score = t - mean_t
        slope_err = np.sqrt(np.sum((w * score) ** 2)) / (total_w * var_t)
        method = "maximum likelihood, weighted (sandwich error)"
    return PowerLawFit(
        slope=float(k - 1.0),
        slope_err=float(slope_err),
        n=n,
        x_min=lo,
        x_max=float(hi),
        method=method,
    )
