"""4 px -> total aperture corrections (pure): per source from the whole growth curve, or
the field's average over its isolated clusters (LEGUS, PHANGS-HST).

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

The field's average (``average-isolated``, the LEGUS "avgapcor" catalogues' and Thilker et
al. 2022 §2.2's method): :func:`isolated_cluster_sample` picks bright, resolved, isolated
clusters, :func:`average_aperture_correction` averages their m(4 px) - m(20 px). The same
two functions define the correction of a synthetic field rendered with aperture-corrected
magnitudes (:mod:`clustercat.processing.synth`), so that the pipeline's estimate of it can be
tested.

No database, no images: arrays in, arrays out. The model fluxes come from
:func:`clustercat.processing.pipeline.band_growth_models`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "APCOR_SAMPLE_MIN_SNR",
    "APCOR_SAMPLE_SIZE",
    "GROWTH_MODEL_ETAS",
    "GROWTH_MODEL_FWHMS_PX",
    "GROWTH_SYSTEMATIC_FRACTION",
    "GrowthCurveApertureCorrection",
    "GrowthFit",
    "average_aperture_correction",
    "fit_growth_curves",
    "isolated_cluster_sample",
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


# --- the field's average correction from isolated clusters (LEGUS "avgapcor", PHANGS) -------

#: Sample of the ``average-isolated`` correction: V S/N in the 4 px aperture (a floor: the
#: weights of :func:`average_aperture_correction` make faint members count less) ...
APCOR_SAMPLE_MIN_SNR = 20.0
#: ... resolved: V CI(1, 3) at least this much above a point source's (the PSF's) CI ...
APCOR_SAMPLE_MIN_CI_ABOVE_PSF = 0.1
#: ... isolated: the other detections within the 20 px total aperture (+ 1 px for the
#: 20-21 px sky annulus) hold, in their 4 px apertures, at most this fraction of the
#: source's 4 px flux together.
APCOR_SAMPLE_ISOLATION_PX = 21.0
APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION = 0.05
#: ... and of those the brightest (4 px V flux) this many (Thilker et al. 2022 §2.2: 10
#: sources of each class 1, 2 and 3).
APCOR_SAMPLE_SIZE = 30
#: Fewest sample sources for a band's own average (otherwise V's plus the band's model offset).
APCOR_SAMPLE_MIN_SOURCES = 5
#: Intrinsic scatter (mag) of the corrections of a field's clusters, added in quadrature to
#: each one's measurement error in the weights: the average is over clusters of different
#: sizes, so no single bright one may dominate it (the LEGUS NGC 628-C crop's rendered
#: clusters scatter by 0.12-0.2 mag; 0.1 keeps the weights' precision gain).
APCOR_INTRINSIC_SCATTER_MAG = 0.1
#: Sigma clipping of the sample's corrections (Thilker et al. 2022 §2.2: "after outlier
#: rejection").
APCOR_SAMPLE_SIGMA_CLIP = 3.0


def isolated_cluster_sample(
    x: np.ndarray,
    y: np.ndarray,
    flux4: np.ndarray,
    flux4_err: np.ndarray,
    ci: np.ndarray,
    psf_ci: float,
    *,
    min_snr: float = APCOR_SAMPLE_MIN_SNR,
    min_ci_above_psf: float = APCOR_SAMPLE_MIN_CI_ABOVE_PSF,
    isolation_px: float = APCOR_SAMPLE_ISOLATION_PX,
    max_neighbour_fraction: float = APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION,
    size: int = APCOR_SAMPLE_SIZE,
    eligible: np.ndarray | None = None,
    image_shape: tuple[int, int] | None = None,
    edge_px: float = APCOR_SAMPLE_ISOLATION_PX,
) -> np.ndarray:
    """Which detections make the field's aperture-correction sample: bright, resolved and
    isolated clusters (LEGUS readme: "average aperture corrections calculated from isolated
    clusters in the field", Adamo et al. 2017; Thilker et al. 2022 §2.2: comparatively
    isolated class 1-3 sources, chosen by eye there, by these cuts here).

    Arrays per detection (V band, 0-based px, e-/s); ``psf_ci``: a point source's CI(1, 3).
    ``eligible`` (default all) limits who may be chosen; every source is a neighbour. With
    ``image_shape`` (ny, nx), only sources ``edge_px`` or more inside the image may be
    chosen (the total aperture's sky annulus must fit). Of the sources passing the cuts,
    the ``size`` brightest in the 4 px aperture are kept:
    the same rule picks the sample from a synthetic field's noiseless truth
    (:mod:`clustercat.processing.synth`) and from its measured detections (the pipeline).
    """
    from scipy.spatial import cKDTree

    x, y = np.asarray(x, float), np.asarray(y, float)
    flux4, flux4_err, ci = (np.asarray(a, float) for a in (flux4, flux4_err, ci))
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = (flux4 / flux4_err >= min_snr) & (ci >= psf_ci + min_ci_above_psf)
    keep &= np.isfinite(flux4) & np.isfinite(ci)
    if eligible is not None:
        keep &= np.asarray(eligible, bool)
    if image_shape is not None:
        ny, nx = image_shape
        keep &= (x >= edge_px) & (x <= nx - 1 - edge_px) & (y >= edge_px) & (y <= ny - 1 - edge_px)
    if not keep.any():
        return keep
    # the 4 px flux of every source's neighbours within isolation_px, summed over all pairs
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(isolation_px, output_type="ndarray")
    bright = np.where(np.isfinite(flux4), flux4, 0.0)
    neighbours = np.bincount(pairs[:, 0], weights=bright[pairs[:, 1]], minlength=x.size)
    neighbours += np.bincount(pairs[:, 1], weights=bright[pairs[:, 0]], minlength=x.size)
    keep &= neighbours <= max_neighbour_fraction * flux4
    chosen = np.flatnonzero(keep)
    if chosen.size > size:
        keep[chosen[np.argsort(-flux4[chosen], kind="stable")[size:]]] = False
    return keep


def average_aperture_correction(
    flux4: np.ndarray,
    flux_total: np.ndarray,
    flux4_err: np.ndarray | None = None,
    flux_total_err: np.ndarray | None = None,
    *,
    sigma: float = APCOR_SAMPLE_SIGMA_CLIP,
    intrinsic_scatter_mag: float = APCOR_INTRINSIC_SCATTER_MAG,
) -> tuple[float, float, int]:
    """(mean, its standard error, sources used) of the sample's corrections
    c = 2.5 log10(F_total / F_4px) (mag > 0; m_total = m_4px - c), sigma-clipped about the
    median with the MAD's robust sigma (a neighbour's or a knot's light in the 20 px
    aperture makes an outlier, always upwards).

    With the flux errors the mean is weighted by 1 / (var(c) + s^2), s the clusters'
    intrinsic scatter (:data:`APCOR_INTRINSIC_SCATTER_MAG`): LEGUS and PHANGS average a few
    bright sources picked by eye; here a faint member, whose 20 px flux carries the sky
    noise of 1,257 pixels and the annulus median's, counts less, and no bright one counts
    for all. Without errors, the plain mean. The error is the larger of the formal one and
    the weighted scatter's. NaN and 0 with no usable source.
    """
    from astropy.stats import sigma_clip

    f4, ft = np.asarray(flux4, float), np.asarray(flux_total, float)
    weighted = flux4_err is not None and flux_total_err is not None
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 2.5 * np.log10(ft / f4)
        if weighted:
            rel = (np.asarray(flux4_err, float) / f4) ** 2 + (
                np.asarray(flux_total_err, float) / ft) ** 2  # fmt: skip
            var = (2.5 / np.log(10)) ** 2 * rel + intrinsic_scatter_mag**2
        else:
            var = np.ones_like(values)
    ok = np.isfinite(values) & np.isfinite(var) & (var > 0)
    values, var = values[ok], var[ok]
    if values.size == 0:
        return float("nan"), float("nan"), 0
    clipped = sigma_clip(values, sigma=sigma, maxiters=5, masked=True, stdfunc="mad_std")
    keep = ~np.ma.getmaskarray(clipped)
    if not keep.any():
        keep[:] = True
    values, weights = values[keep], 1.0 / var[keep]
    mean = float(np.sum(weights * values) / np.sum(weights))
    scatter = float(np.sum(weights * (values - mean) ** 2) / np.sum(weights))
    if weighted:
        err = math.sqrt(max(1.0 / float(np.sum(weights)), scatter / values.size))
    else:
        err = math.sqrt(scatter / values.size)
    return mean, err, int(values.size)
