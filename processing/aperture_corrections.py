"""Per-source 4 px -> total aperture corrections from the whole growth curve (pure).

A source's concentration index CI(1, 3) alone does not fix how much light lies beyond 4 px:
at CI = 1.78 in ACS F555W a Moffat eta = 1.25 cluster needs 0.83 mag and an eta = 4 one
0.30 mag. The growth curve F(r) at r = 1 ... 5 px does: its outer part (4 -> 5 px) measures
the wings directly. So each source's V-band aperture fluxes are compared with those of a
grid of model clusters (Moffat/EFF, Thilker et al. 2022 §3.1: pre-PSF FWHM x eta, convolved
with the band's PSF and measured like the sources, 7-8 px annulus subtracted), with a free
amplitude and the measured flux covariance (:func:`fit_growth_curves`). The likelihoods
weigh the models' corrections: in every band, the correction of the V-derived shape seen
through that band's PSF (LEGUS and PHANGS apply one shape per source to all bands).

Limits (measured on the synthetic NGC 628-C crop, docs/pipeline.md): at V S/N 10-30 the
4 -> 5 px growth is known to a few per cent, too little to separate shallow from steep
wings, and the likelihood-weighted correction leans to the grid's middle (compact clusters:
median |dm_V| 0.11 mag, against 0.02 with each source's true shape; 0.03 with 100 x the
exposure). Knots or a companion 2.5-5 px away enter the growth curve as wings.

No database, no images: arrays in, arrays out. The model fluxes come from
:func:`clustercat.processing.pipeline.band_growth_models`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "GROWTH_MODEL_ETAS",
    "GROWTH_MODEL_FWHMS_PX",
    "GROWTH_SYSTEMATIC_FRACTION",
    "GrowthCurveApertureCorrection",
    "GrowthFit",
    "fit_growth_curves",
]

#: Moffat indices of the model grid (Thilker et al. 2022 §3.1, eta > 1; the synthetic fields
#: use the same values).
GROWTH_MODEL_ETAS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0)
#: Pre-PSF FWHMs (px) of the model grid: 0 (the PSF) to 10 px, finer where CI changes fast.
GROWTH_MODEL_FWHMS_PX: tuple[float, ...] = (
    0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0,
    8.0, 10.0,
)  # fmt: skip
#: Fractional error added in quadrature to every aperture flux in the fit (model-grid
#: discreteness, sub-pixel phase, PSF mismatch): keeps bright sources from being fitted to
#: a precision the models do not have.
GROWTH_SYSTEMATIC_FRACTION = 0.005


@dataclass(frozen=True)
class GrowthFit:
    """The fit of n sources' growth curves to m models.

    ``weights`` (n, m): normalised likelihoods exp(-chi^2 / 2) of each model (rows of
    sources that could not be fitted are NaN); ``best`` (n,): index of the smallest chi^2
    (-1 where not fitted); ``chi2`` (n,): that chi^2; ``dof``: radii - 1 (the amplitude).
    """

    weights: np.ndarray
    best: np.ndarray
    chi2: np.ndarray
    dof: int

    @property
    def fitted(self) -> np.ndarray:
        """True for the sources that have a fit."""
        return self.best >= 0


def fit_growth_curves(
    flux: np.ndarray,
    covariance: np.ndarray | None,
    flux_err: np.ndarray,
    model_flux: np.ndarray,
    *,
    systematic_fraction: float = GROWTH_SYSTEMATIC_FRACTION,
    scale_errors: bool = True,
) -> GrowthFit:
    """Fit each source's aperture fluxes with every model growth curve times a free amplitude.

    ``flux`` (n, k) and ``flux_err`` (n, k) in any unit, ``covariance`` (n, k, k) or None
    (diagonal from ``flux_err``), ``model_flux`` (m, k) at the same radii (any
    normalisation). chi^2 = (F - a M)^T C^-1 (F - a M) minimised in a (linear, closed
    form); C is the measured covariance plus (``systematic_fraction`` x F)^2 on the
    diagonal. Sources with a non-finite flux or a non-positive largest-aperture flux are not
    fitted. Models whose best amplitude is not positive get zero weight. With
    ``scale_errors`` the weights exp(-(chi^2 - chi^2_min) / 2 s) use s = max(1, reduced
    chi^2 of the best model) (Birge ratio): a growth curve no model fits (a neighbour
    within 5 px) spreads its weight over the models instead of picking an extreme one.
    """
    flux = np.asarray(flux, dtype=float)
    n, k = flux.shape
    models = np.asarray(model_flux, dtype=float)
    m = models.shape[0]
    if models.shape[1] != k:
        raise ValueError(f"model fluxes have {models.shape[1]} radii, the sources {k}")
    if covariance is None:
        cov = np.einsum("ni,ij->nij", np.asarray(flux_err, dtype=float) ** 2, np.eye(k))
    else:
        cov = np.array(covariance, dtype=float)
    ok = np.all(np.isfinite(flux), axis=1) & np.all(np.isfinite(cov), axis=(1, 2))
    ok &= flux[:, -1] > 0
    weights = np.full((n, m), np.nan)
    best = np.full(n, -1, dtype=np.int64)
    chi2_best = np.full(n, np.nan)
    if ok.any():
        f = flux[ok]
        c = cov[ok] + np.einsum("ni,ij->nij", (systematic_fraction * f) ** 2, np.eye(k))
        c += np.eye(k) * 1e-12 * np.max(np.abs(c), axis=(1, 2))[:, None, None]
        cinv = np.linalg.inv(c)
        cf = np.einsum("nij,nj->ni", cinv, f)  # C^-1 F
        ff = np.einsum("ni,ni->n", f, cf)  # F^T C^-1 F
        mf = models @ cf.T  # (m, n): M^T C^-1 F
        mm = np.einsum("mi,nij,mj->mn", models, cinv, models)  # M^T C^-1 M
        chi2 = (ff[None, :] - mf**2 / mm).T  # (n, m)
        chi2 = np.where((mf > 0).T, chi2, np.inf)
        lowest = np.min(chi2, axis=1)
        fits = np.isfinite(lowest)
        rows = np.flatnonzero(ok)[fits]
        chi2, lowest = chi2[fits], lowest[fits]
        # a poor best fit (a neighbour in the apertures, a profile off the grid) widens the
        # likelihood by its reduced chi^2 (Birge ratio) instead of trusting one model
        scale = np.maximum(1.0, lowest / max(k - 1, 1)) if scale_errors else np.ones(len(rows))
        w = np.exp(-0.5 * (chi2 - lowest[:, None]) / scale[:, None])
        weights[rows] = w / w.sum(axis=1, keepdims=True)
        best[rows] = np.argmin(chi2, axis=1)
        chi2_best[rows] = lowest
    return GrowthFit(weights=weights, best=best, chi2=chi2_best, dof=k - 1)


@dataclass(frozen=True)
class GrowthCurveApertureCorrection:
    """One band's 4 px -> total correction of every model of the growth-curve grid.

    ``etas``, ``fwhms_px``, ``apcor_grid`` (one per model, mag > 0): the models' Moffat
    index, pre-PSF FWHM and 2.5 log10(F_total / F(4 px, annulus-subtracted)) in this band;
    ``growth`` (models x radii): the models' aperture fluxes at ``radii_px`` over their
    4 px flux (used when this is the detection band); ``value_mag``: the fiducial cluster's
    (FWHM 2 px, eta = 3) correction, for sources whose growth curve cannot be fitted.
    Sign: m_total = m(4 px) - apcor, as
    :class:`~clustercat.processing.photometry.ApertureCorrection`.
    """

    band: str
    etas: tuple[float, ...]
    fwhms_px: tuple[float, ...]
    apcor_grid: tuple[float, ...]
    growth: tuple[tuple[float, ...], ...]
    radii_px: tuple[float, ...]
    value_mag: float
    method: str = "growth-curve"
    radius_px: float = 4.0
    settings: dict = field(default_factory=dict)

    def fit(self, flux: np.ndarray, flux_err: np.ndarray, covariance: np.ndarray | None,
            radii_px: tuple[float, ...]) -> GrowthFit:  # fmt: skip
        """Fit sources' fluxes (n, len(radii_px)) measured at ``radii_px`` to the models at
        this correction's radii (which must all be among ``radii_px``)."""
        cols = [_index(radii_px, r) for r in self.radii_px]
        cov = None if covariance is None else np.asarray(covariance)[:, cols][:, :, cols]
        return fit_growth_curves(
            np.asarray(flux)[:, cols], cov, np.asarray(flux_err)[:, cols],
            np.asarray(self.growth, dtype=float),
        )  # fmt: skip

    def apcor_mag(self, fit: GrowthFit) -> np.ndarray:
        """Per source: the likelihood-weighted correction (mag) of this band's models, the
        fiducial ``value_mag`` where the source has no fit."""
        w = np.nan_to_num(fit.weights, nan=0.0)
        out = w @ np.asarray(self.apcor_grid, dtype=float)
        return np.where(fit.fitted, out, self.value_mag)

    def to_dict(self) -> dict:
        """Plain JSON-able form (the grid as lists, without the growth curves)."""
        d = asdict(self)
        d.pop("growth")
        for key in ("etas", "fwhms_px", "apcor_grid", "radii_px"):
            d[key] = list(d[key])
        return d


def _index(radii: tuple[float, ...], r: float) -> int:
    for k, v in enumerate(radii):
        if np.isclose(v, r):
            return k
    raise KeyError(f"radius {r} px was not measured (radii {radii})")
