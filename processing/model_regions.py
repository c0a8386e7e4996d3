"""Model-cluster regions of the MCI plane from injection hit maps (Thilker et al. 2022 §4.2.2).

Pure functions. From the injected clusters that meet the existence and detection criteria,
2-D histograms ("hit maps") of the measured (MCI_in, MCI_out) at bin sizes 0.01, 0.02 and
0.04 are made; a bin is in the region when it holds at least 9 clusters (the paper's
Poisson 3-sigma threshold); the binary mask is eroded then dilated (a morphological opening,
3 x 3 structuring element: the paper gives none, extract §8 item 20) to remove isolated
noise bins. Coarser bins give larger regions: three nested layers, each a peripheral zone of
lower likelihood. A region is a callable ``region(mci_in, mci_out) -> bool array`` (bin
lookup in the opened mask), as :func:`clustercat.processing.selection.select_candidates`
takes for ``model_region``.

Existence and detection (§4.2.2, extract §3.9): r_eff <= 10 pc and (Pi > 3 or log age <= 7)
and a mean surface brightness within r = 2.5 px above 0.04 e-/s; Pi = age / t_cr with the
crossing time t_cr = 10 (r_eff^3 / (G M))^(1/2) (Gieles & Portegies Zwart 2011). The
surface brightness uses the pre-PSF Moffat enclosed fraction 1 - (1 + r^2/a^2)^(1 - eta)
for eta > 1; eta <= 1 profiles have no finite total, so their fraction is relative to the
flux within 20 px (the rendered stamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

#: Bin sizes of the three nested regions (MCI units), Thilker §4.2.2.
BIN_SIZES: tuple[float, ...] = (0.01, 0.02, 0.04)
#: Clusters per bin for the bin to count (Poisson 3 sigma), Thilker §4.2.2.
MIN_COUNT = 9
#: Detection criterion: mean background-subtracted surface brightness within 2.5 px (e-/s).
SB_LIMIT_E_S = 0.04
SB_RADIUS_PX = 2.5
#: G in pc (km/s)^2 / Msun and 1 pc / (km/s) in years.
G_PC_KMS2_MSUN = 4.30091e-3
PC_PER_KMS_YR = 9.7779e5


def crossing_time_yr(log_mass: ArrayLike, r_eff_pc: ArrayLike) -> NDArray[np.float64]:
    """t_cr = 10 (r_eff^3 / (G M))^(1/2) in years (Gieles & Portegies Zwart 2011)."""
    m = 10.0 ** np.asarray(log_mass, dtype=float)
    r = np.asarray(r_eff_pc, dtype=float)
    return 10.0 * np.sqrt(r**3 / (G_PC_KMS2_MSUN * m)) * PC_PER_KMS_YR


def exists(log_mass: ArrayLike, log_age: ArrayLike, r_eff_pc: ArrayLike) -> NDArray[np.bool_]:
    """Existence criterion: r_eff <= 10 pc and (Pi = age / t_cr > 3 or log age <= 7)."""
    la = np.asarray(log_age, dtype=float)
    r = np.asarray(r_eff_pc, dtype=float)
    with np.errstate(invalid="ignore"):
        pi = 10.0**la / crossing_time_yr(log_mass, r)
        return (r <= 10.0) & ((pi > 3.0) | (la <= 7.0))


def moffat_enclosed_fraction(radius_px: float, fwhm_px: ArrayLike, eta: ArrayLike,
                             truncate_px: float = 20.0) -> NDArray[np.float64]:  # fmt: skip
    """Fraction of a Moffat profile's flux within ``radius_px`` (pre-PSF). For eta > 1 the
    total is the infinite integral, 1 - (1 + r^2/a^2)^(1 - eta); for eta <= 1 it is the
    flux within ``truncate_px`` (the profile's stamp), as rendered."""
    from .profiles import moffat_a_from_fwhm

    fwhm, e = np.broadcast_arrays(np.asarray(fwhm_px, float), np.asarray(eta, float))
    a = np.maximum(moffat_a_from_fwhm(np.maximum(fwhm, 1e-6), e), 1e-6)

    def cum(r: float, ee: NDArray, aa: NDArray) -> NDArray:
        x = 1.0 + (r / aa) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isclose(ee, 1.0), np.log(x), (x ** (1.0 - ee) - 1.0) / (1.0 - ee))

    inside = cum(radius_px, e, a)
    total = np.where(e > 1.0, 1.0 / (e - 1.0), cum(truncate_px, e, a))
    return np.clip(inside / total, 0.0, 1.0)


def detectable(mag_v: ArrayLike, zeropoint_vega: float, fwhm_px: ArrayLike,
               eta: ArrayLike) -> NDArray[np.bool_]:  # fmt: skip
    """Detection criterion: mean surface brightness within 2.5 px > 0.04 e-/s (Thilker)."""
    flux = 10.0 ** (-0.4 * (np.asarray(mag_v, dtype=float) - zeropoint_vega))
    sb = flux * moffat_enclosed_fraction(SB_RADIUS_PX, fwhm_px, eta) / (np.pi * SB_RADIUS_PX**2)
    return sb > SB_LIMIT_E_S


@dataclass(frozen=True)
class ModelRegion:
    """One layer: the opened hit-map mask on a grid of ``bin_size`` from (x0, y0)."""

    bin_size: float
    x0: float
    y0: float
    mask: NDArray[np.bool_]  # (n_in, n_out): axis 0 MCI_in, axis 1 MCI_out
    counts: NDArray[np.int64]

    def __call__(self, mci_in: ArrayLike, mci_out: ArrayLike) -> NDArray[np.bool_]:
        i = np.floor((np.asarray(mci_in, float) - self.x0) / self.bin_size)
        j = np.floor((np.asarray(mci_out, float) - self.y0) / self.bin_size)
        ok = np.isfinite(i) & np.isfinite(j)
        ok &= (i >= 0) & (i < self.mask.shape[0]) & (j >= 0) & (j < self.mask.shape[1])
        out = np.zeros(np.shape(i), dtype=bool)
        out[ok] = self.mask[i[ok].astype(int), j[ok].astype(int)]
        return out

    @property
    def area(self) -> float:
        """Area of the region (MCI units squared)."""
        return float(self.mask.sum()) * self.bin_size**2


@dataclass(frozen=True)
class NestedModelRegions:
    """The three layers; calling it is membership of their union (the coarsest region)."""

    layers: tuple[ModelRegion, ...]

    def __call__(self, mci_in: ArrayLike, mci_out: ArrayLike) -> NDArray[np.bool_]:
        out = np.zeros(np.shape(np.asarray(mci_in)), dtype=bool)
        for layer in self.layers:
            out |= layer(mci_in, mci_out)
        return out

    def layer_of(self, mci_in: ArrayLike, mci_out: ArrayLike) -> NDArray[np.float64]:
        """The finest bin size whose region holds each point (NaN outside all): the
        candidate's "layer of origin" (Thilker §6.1)."""
        out = np.full(np.shape(np.asarray(mci_in)), np.nan)
        for layer in sorted(self.layers, key=lambda r: -r.bin_size):
            out[layer(mci_in, mci_out)] = layer.bin_size
        return out


def hit_map(mci_in: ArrayLike, mci_out: ArrayLike, bin_size: float,
            origin: tuple[float, float], shape: tuple[int, int]) -> NDArray[np.int64]:  # fmt: skip
    """Counts per (MCI_in, MCI_out) bin of ``bin_size`` from ``origin`` (NaN ignored)."""
    x = np.asarray(mci_in, float)
    y = np.asarray(mci_out, float)
    ok = np.isfinite(x) & np.isfinite(y)
    edges_x = origin[0] + bin_size * np.arange(shape[0] + 1)
    edges_y = origin[1] + bin_size * np.arange(shape[1] + 1)
    counts, _, _ = np.histogram2d(x[ok], y[ok], bins=(edges_x, edges_y))
    return counts.astype(np.int64)


def model_region(
    mci_in: ArrayLike, mci_out: ArrayLike, bin_size: float, *, min_count: int = MIN_COUNT,
    iterations: int = 1,
) -> ModelRegion:  # fmt: skip
    """One layer: bins with >= ``min_count`` clusters, eroded then dilated (3 x 3)."""
    x = np.asarray(mci_in, float)
    y = np.asarray(mci_out, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise ValueError("no finite (MCI_in, MCI_out) to build a model region from")
    pad = (iterations + 1) * bin_size
    x0 = np.floor((x[ok].min() - pad) / bin_size) * bin_size
    y0 = np.floor((y[ok].min() - pad) / bin_size) * bin_size
    shape = (int(np.ceil((x[ok].max() + pad - x0) / bin_size)) + 1,
             int(np.ceil((y[ok].max() + pad - y0) / bin_size)) + 1)  # fmt: skip
    counts = hit_map(x, y, bin_size, (x0, y0), shape)
    mask = counts >= min_count
    structure = np.ones((3, 3), dtype=bool)
    opened = ndimage.binary_dilation(
        ndimage.binary_erosion(mask, structure, iterations=iterations),
        structure, iterations=iterations,
    )  # fmt: skip
    return ModelRegion(bin_size, float(x0), float(y0), opened, counts)


def nested_model_regions(
    mci_in: ArrayLike, mci_out: ArrayLike, bin_sizes: Sequence[float] = BIN_SIZES, *,
    min_count: int = MIN_COUNT,
) -> NestedModelRegions:  # fmt: skip
    """The three nested regions of Thilker §4.2.2 from the measured MCIs of the clusters
    that meet the existence and detection criteria (filter them first)."""
    return NestedModelRegions(tuple(model_region(mci_in, mci_out, b, min_count=min_count)
                                    for b in bin_sizes))  # fmt: skip
