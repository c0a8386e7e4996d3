"""Occlusion and filter-collapse experiments on a trained age CNN (Viana et al. §IV-§V).

Pure: a trained network, raw stamps and true log ages in, tidy frames out.

* :func:`occlusion_curve`: the central ("inside-out") circular mask of diameter 0, 2, ... 24
  px (Viana et al. §IV.2, Fig. 3; masked pixels set to 0 and left out of the min-max
  normalisation) applied at inference, with the scatter 1.49 x median |Δ log age|, the
  null predictor's scatter and the predictive power per mask.
* :func:`filter_collapse`: the five bands replaced by their mean (the "white-light" image of
  §IV.1, averaged before normalisation) in every channel, so the network sees no colour.
  Viana et al. retrain a one-channel network on such images; this is the inference-time
  probe of a five-band model (how much its answer rests on colour).
* :func:`occlusion_attribution`: captum's ``Occlusion`` attribution (a sliding square
  patch) averaged over sources and reduced to a radial profile: where in the stamp the
  prediction depends on the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike, NDArray

from .cnn_train import TrainedNetwork, age_scatter, predict_log_age, predictive_power
from .cutouts import central_mask, normalise

__all__ = [
    "VIANA_DIAMETERS_PX",
    "filter_collapse",
    "occlusion_attribution",
    "occlusion_curve",
]

#: Central mask diameters (px): 0 to 24 in 2-px steps (Viana et al. §IV.2).
VIANA_DIAMETERS_PX = tuple(range(0, 26, 2))


def occlusion_curve(
    trained: TrainedNetwork,
    stamps: NDArray,
    log_age: ArrayLike,
    diameters_px: Sequence[float] = VIANA_DIAMETERS_PX,
    *,
    inner: bool = True,
) -> pd.DataFrame:
    """Scatter per central mask. Columns: diameter_px, n_masked_px, scatter_dex,
    null_scatter_dex, predictive_power_pct."""
    raw = np.asarray(stamps, dtype=np.float32)
    truth = np.asarray(log_age, dtype=float)
    null = age_scatter(np.full(truth.shape, trained.train_mean or 0.0), truth)
    rows = []
    for d in diameters_px:
        mask = central_mask(raw.shape[-1], float(d), inner=inner)
        x = normalise(raw, trained.settings.normalisation, mask=mask)
        s = age_scatter(predict_log_age(trained, x), truth)
        rows.append((float(d), int(mask.sum()), s, null, predictive_power(s, null)))
    return pd.DataFrame(rows, columns=["diameter_px", "n_masked_px", "scatter_dex",
                                       "null_scatter_dex", "predictive_power_pct"])  # fmt: skip


def filter_collapse(trained: TrainedNetwork, stamps: NDArray, log_age: ArrayLike) -> pd.DataFrame:
    """Scatter with the five bands and with their mean in every band (see module docstring).
    Columns: input, scatter_dex, null_scatter_dex, predictive_power_pct."""
    raw = np.asarray(stamps, dtype=np.float32)
    truth = np.asarray(log_age, dtype=float)
    null = age_scatter(np.full(truth.shape, trained.train_mean or 0.0), truth)
    white = np.repeat(raw.mean(axis=1, keepdims=True), raw.shape[1], axis=1)
    rows = []
    for label, cube in (("five bands", raw), ("white light (band mean)", white)):
        s = age_scatter(predict_log_age(trained, normalise(cube, trained.settings.normalisation)),
                        truth)  # fmt: skip
        rows.append((label, s, null, predictive_power(s, null)))
    return pd.DataFrame(rows, columns=["input", "scatter_dex", "null_scatter_dex",
                                       "predictive_power_pct"])  # fmt: skip


def occlusion_attribution(
    trained: TrainedNetwork, stamps: NDArray, *, window_px: int = 4, stride_px: int = 2
) -> pd.DataFrame:
    """captum ``Occlusion`` of the (scaled) age output, mean |attribution| over sources and
    bands, as a radial profile. Columns: radius_px, mean_abs_attribution."""
    from captum.attr import Occlusion

    x = torch.from_numpy(normalise(np.asarray(stamps, np.float32), trained.settings.normalisation))
    net = trained.network()
    occ = Occlusion(lambda t: net(t))
    with torch.no_grad():
        attr = occ.attribute(x, sliding_window_shapes=(x.shape[1], window_px, window_px),
                             strides=(x.shape[1], stride_px, stride_px), baselines=0.0)  # fmt: skip
    heat = attr.abs().mean(dim=(0, 1)).numpy()
    size = heat.shape[-1]
    c = (size - 1) / 2.0
    yy, xx = np.indices(heat.shape)
    r = np.hypot(xx - c, yy - c).round().astype(int)
    prof = np.bincount(r.ravel(), heat.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    return pd.DataFrame({"radius_px": np.arange(prof.size), "mean_abs_attribution": prof})
