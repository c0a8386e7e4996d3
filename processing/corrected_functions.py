"""Completeness-corrected mass and age functions (Tang et al. 2026 §4.4; C-4 Eq. 16-17).

Pure functions. Each observed source i is weighted by 1 / p_i, p_i its completeness (from
an injection-trained network, :mod:`clustercat.processing.completeness`), floored as C-4
does (10^-3 for the mass function, §4.4 step 5). The weighted maximum-likelihood slope is
:func:`clustercat.processing.mass_functions.fit_power_law_mle` with ``weights`` (its
sandwich error accounts for the weights): this module only prepares the weights and the
C-4 marginal completeness.

The weighted likelihood sum_i w_i ln p(x_i | beta) over the observed sources estimates the
likelihood of the complete population (each observed source stands for 1 / p_i sources;
Horvitz & Thompson 1952), so the slope is unbiased where the raw one is flattened by the
loss of faint, low-mass clusters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .mass_functions import PowerLawFit, fit_power_law_mle

#: C-4 per-object completeness floors (Tang §4.4 step 5).
MASS_FUNCTION_FLOOR = 1e-3
AGE_FUNCTION_FLOOR = 1e-10


def inverse_completeness_weights(
    completeness: ArrayLike, floor: float = MASS_FUNCTION_FLOOR
) -> NDArray[np.float64]:
    """w_i = 1 / max(p_i, floor); p must lie in [0, 1] (NaN -> ValueError)."""
    p = np.asarray(completeness, dtype=float)
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("completeness must be finite and within [0, 1]")
    return 1.0 / np.clip(p, floor, 1.0)


def corrected_power_law_mle(
    values: ArrayLike,
    completeness: ArrayLike,
    x_min: float,
    x_max: float | None = None,
    floor: float = MASS_FUNCTION_FLOOR,
) -> PowerLawFit:
    """Completeness-corrected MLE slope of dN/dx ∝ x^beta on [x_min, x_max] (weights 1/p)."""
    w = inverse_completeness_weights(completeness, floor)
    return fit_power_law_mle(values, x_min, x_max, weights=w)


def marginal_completeness(
    p_hat: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    axis_values: ArrayLike,
    axis: int,
    other_grid: ArrayLike,
    other_weights: ArrayLike,
    av_grid: ArrayLike,
    av_weights: ArrayLike,
) -> NDArray[np.float64]:
    """C-4 Eq. 16: p_corr(v) = sum_{o, A} p-hat(...) p(o) p(A) on grids.

    ``p_hat`` maps (n, 3) rows (log M, log T, A_V) to completeness; ``axis`` is 0 (the
    mass function: v = log M, o = log T with an age prior) or 1 (the age function);
    ``other_grid``/``other_weights`` the other parameter's prior, ``av_grid``/``av_weights``
    the extinction prior (normalised here).
    """
    v = np.asarray(axis_values, dtype=float)
    og, ow = np.asarray(other_grid, float), np.asarray(other_weights, float)
    ag, aw = np.asarray(av_grid, float), np.asarray(av_weights, float)
    o, a = np.meshgrid(og, ag, indexing="ij")
    w = (ow[:, None] * aw[None, :]).ravel()
    w = w / w.sum()
    rows = np.empty((v.size * w.size, 3))
    rows[:, axis] = np.repeat(v, w.size)
    rows[:, 1 - axis] = np.tile(o.ravel(), v.size)
    rows[:, 2] = np.tile(a.ravel(), v.size)
    return (np.asarray(p_hat(rows), dtype=float).reshape(v.size, w.size) @ w).reshape(v.shape)
