"""Multi-aperture photometry of many sources at once (Thilker et al. 2022 §2.2).

Pure functions: an image (numpy array in e-/s) and positions in, arrays out. No database.

Coordinates are **0-based pixel centres** (the numpy/photutils convention: the centre of
pixel ``image[j, i]`` is ``(x, y) = (i, j)``, and that pixel covers ``[i - 0.5, i + 0.5]``).
Catalogues in the database are 1-based; the pipeline runner converts.

The measurement (Thilker et al. 2022 §2.2, extract §2.7, §3.4):

* circular apertures of radius 1, 1.5, 2, 2.5, 3, 4, 5 px with the **exact** pixel-circle
  overlap (the area of each pixel inside the circle, photutils ``method='exact'``);
* sky = the sigma-clipped median (astropy ``sigma_clip`` then the median, as
  ``sigma_clipped_stats`` does: 3 sigma, at most 5 iterations, median centre, standard
  deviation) of the pixels whose **centres** lie in the 7-8 px annulus (``7 <= d < 8``,
  photutils ``method='center'``, as ``ApertureStats`` uses for its statistics); the clipped
  mean and standard deviation are returned too;
* flux = aperture sum - sky median x aperture area, in e-/s.

Flux errors (the paper cites Masci's note, Eq. 13, without reproducing it; this is that
equation for uncorrelated pixel noise, with the exact pixel weights w_i of the aperture):

    sigma_F^2 = sum_i w_i^2 max(d_i - sky, 0) / t  +  sigma_pix^2 sum_i w_i^2
                +  (pi / 2) A^2 sigma_pix^2 / N_sky

with d_i the pixel values (e-/s), t the exposure time (s), A = pi r^2 the aperture area
(px^2), sigma_pix the per-pixel noise (e-/s) and N_sky the number of sky pixels kept by the
clipping. The terms are the source's Poisson noise (its counts d t per pixel), the pixel
scatter inside the aperture, and the error of the sky level times the area (pi/2: the
variance of a median relative to a mean for normal noise). For whole pixels sum w^2 = A and
the first term is F / t, the textbook form; for the partial pixels on the edge w^2 < w, and
using A instead over-estimates the r = 1 px error by ~15 % (tests/test_photometry_known_image).
sigma_pix is the clipped sky standard deviation, which contains the sky Poisson noise and
the read noise; when ``read_noise_e`` is given, ``n_exposures RN^2 / t^2`` is a floor for
sigma_pix^2 (it guards against drizzled images whose pixel-to-pixel scatter underestimates
the noise). Masci's correlated-noise factors are not applied.

The apertures are nested, so their fluxes are correlated; :class:`ApertureTable` keeps the
full covariance, Cov(F_k, F_l) = sum_i w_ik w_il (max(d_i - sky, 0) / t + sigma_pix^2) +
(pi/2) A_k A_l sigma_pix^2 / N_sky (the last term: one sky level shared by all radii),
for the concentration-index errors of :mod:`clustercat.processing.morphology`.

A flux is NaN (never a sentinel) when any pixel the aperture touches lies off the image, is
NaN or is masked, or when fewer than ``min_sky_pixels`` usable sky pixels remain.

The exact overlap is computed in closed form: the area of the circle inside the quadrant
``X <= u, Y <= v`` (:func:`_quadrant_area`) evaluated at the pixel corners gives every pixel's
overlap by inclusion-exclusion, for all sources and all corners in one numpy expression.

Why not call photutils' ``aperture_photometry`` and ``ApertureStats`` directly: they give
the same sums and sky (tests/test_photometry_known_image.py holds this function to them at
1e-12), but loop over apertures per source internally and are 8.7x slower for 10^4 sources x
7 radii (bench/photometry.py), and the CI/MCI errors need the per-pixel weights of all radii
at once for the covariance above. photutils stays the reference the tests measure against.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from astropy.stats import sigma_clip as astropy_sigma_clip
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "APERTURE_RADII_PX",
    "SKY_ANNULUS_PX",
    "THILKER_BAND_OFFSETS_MAG",
    "ApertureCorrection",
    "ApertureTable",
    "aperture_correction",
    "circle_overlap_weights",
    "flux_to_vega_mag",
    "measure_apertures",
    "thilker_aperture_correction",
    "total_magnitude",
]

#: Aperture radii in pixels (Thilker et al. 2022 §2.2).
APERTURE_RADII_PX: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
#: Inner and outer radius of the sky annulus in pixels (Thilker et al. 2022 §2.2).
SKY_ANNULUS_PX: tuple[float, float] = (7.0, 8.0)
#: Survey-wide aperture-correction offsets relative to F555W, mag (Thilker et al. 2022 §2.2).
THILKER_BAND_OFFSETS_MAG: dict[str, float] = {
    "F275W": -0.19,
    "F336W": -0.12,
    "F438W": -0.03,
    "F435W": -0.03,  # the ACS B filter of NGC 628 takes the B-band offset (Thilker Tab. 4)
    "F555W": 0.00,
    "F814W": -0.12,
}

_MAG_PER_LN = 2.5 / math.log(10.0)  # 1.0857: d(mag) = 1.0857 dF / F


@dataclass(frozen=True)
class ApertureTable:
    """Aperture photometry of n sources at n_radii radii (Thilker et al. 2022 §2.2).

    ``flux`` and ``flux_err`` are (n, n_radii) arrays in e-/s, sky subtracted, NaN where
    undefined; ``area`` (n_radii,) is pi r^2 in px^2; ``sky_median``, ``sky_mean``,
    ``sky_std`` (n,) are the sigma-clipped statistics of the annulus in e-/s/pixel and
    ``n_sky`` (n,) the number of annulus pixels kept by the clipping; ``flux_cov`` (n,
    n_radii, n_radii) is the covariance of the fluxes in (e-/s)^2, NaN rows/columns where
    a flux is undefined.
    """

    flux: NDArray[np.float64]
    flux_err: NDArray[np.float64]
    area: NDArray[np.float64]
    sky_median: NDArray[np.float64]
    sky_mean: NDArray[np.float64]
    sky_std: NDArray[np.float64]
    n_sky: NDArray[np.int64]
    radii_px: tuple[float, ...]
    annulus_px: tuple[float, float]
    flux_cov: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    @property
    def sky_median_err(self) -> NDArray[np.float64]:
        """Standard error of the sky median, sqrt(pi/2) sky_std / sqrt(n_sky) (e-/s/pixel)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(np.pi / 2.0) * self.sky_std / np.sqrt(self.n_sky)

    def flux_covariance(self) -> NDArray[np.float64]:
        """(n, n_radii, n_radii) covariance of the fluxes, (e-/s)^2 (module docstring)."""
        if self.flux_cov is None:
            raise ValueError("this ApertureTable carries no flux covariance")
        return self.flux_cov

    def column(self, radius_px: float) -> int:
        """Index of ``radius_px`` in ``radii_px`` (KeyError if it was not measured)."""
        for k, r in enumerate(self.radii_px):
            if math.isclose(r, radius_px):
                return k
        raise KeyError(f"radius {radius_px} px was not measured (radii {self.radii_px})")


def _primitive(t: NDArray[np.float64], r: float) -> NDArray[np.float64]:
    """Integral of sqrt(r^2 - s^2) ds from 0 to t, for 0 <= t <= r."""
    return 0.5 * (t * np.sqrt(np.maximum(r * r - t * t, 0.0)) + r * r * np.arcsin(t / r))


def _quadrant_area(u: NDArray[np.float64], v: NDArray[np.float64], r: float) -> NDArray:
    """Signed area of the disc of radius r (centred at 0) inside [0, u] x [0, v].

    For u, v >= 0 with a = min(u, r), b = min(v, r): a b if the corner (a, b) is inside the
    circle, else b t0 + P(a) - P(t0) with t0 = sqrt(r^2 - b^2) and P the primitive of the
    circle's half-height. The sign is sign(u) sign(v), so differences of this function at
    the four corners of any rectangle give the rectangle's overlap with the disc.
    """
    a = np.minimum(np.abs(u), r)
    b = np.minimum(np.abs(v), r)
    t0 = np.sqrt(np.maximum(r * r - b * b, 0.0))
    inside = a <= t0
    outer = b * t0 + _primitive(a, r) - _primitive(np.minimum(t0, a), r)
    area = np.where(inside, a * b, outer)
    return np.sign(u) * np.sign(v) * area


def circle_overlap_weights(dx: ArrayLike, dy: ArrayLike, radius_px: float, half_width: int):
    """Exact overlap of each pixel of a (2h+1)^2 stamp with a circle (Thilker §2.2 apertures).

    ``dx``, ``dy`` (n,) are the circle centres relative to the stamp's central pixel centre
    (0-based pixel-centre convention, so |dx|, |dy| <= 0.5 when the stamp is centred on the
    nearest pixel); returns (n, 2h+1, 2h+1) weights in [0, 1], indexed [source, y, x].
    """
    dx = np.asarray(dx, dtype=np.float64)[:, None]
    dy = np.asarray(dy, dtype=np.float64)[:, None]
    edges = np.arange(-half_width - 0.5, half_width + 1.0)  # pixel edges around the centre
    ex = edges[None, :] - dx  # (n, m+1) corner coordinates relative to the circle centre
    ey = edges[None, :] - dy
    g = _quadrant_area(ex[:, None, :], ey[:, :, None], radius_px)  # (n, m+1, m+1) [y, x]
    return g[:, 1:, 1:] - g[:, :-1, 1:] - g[:, 1:, :-1] + g[:, :-1, :-1]


def _gather_stamps(
    image: NDArray, bad: NDArray[np.bool_] | None, ix: NDArray, iy: NDArray, half_width: int
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(n, m, m) pixel values around (ix, iy) and a flag of unusable pixels (off image/NaN)."""
    ny, nx = image.shape
    offs = np.arange(-half_width, half_width + 1)
    px = ix[:, None] + offs[None, :]  # (n, m)
    py = iy[:, None] + offs[None, :]
    in_x = (px >= 0) & (px < nx)
    in_y = (py >= 0) & (py < ny)
    flat = np.clip(py, 0, ny - 1)[:, :, None] * nx + np.clip(px, 0, nx - 1)[:, None, :]
    values = np.take(image.ravel(), flat).astype(np.float64, copy=False)
    unusable = ~(in_y[:, :, None] & in_x[:, None, :]) | np.isnan(values)
    if bad is not None:
        unusable |= np.take(bad.ravel(), flat)
    values = np.where(unusable, 0.0, values)
    return values, unusable


def measure_apertures(
    image: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    *,
    exptime_s: float,
    radii_px: Sequence[float] = APERTURE_RADII_PX,
    annulus_px: tuple[float, float] = SKY_ANNULUS_PX,
    read_noise_e: float | None = None,
    n_exposures: int = 1,
    sigma_clip: float = 3.0,
    sigma_clip_maxiters: int = 5,
    mask: ArrayLike | None = None,
    min_sky_pixels: int = 10,
    chunk_size: int = 2048,
    covariance: bool = True,
) -> ApertureTable:
    """Sky-subtracted fluxes in concentric circular apertures (Thilker et al. 2022 §2.2).

    ``image`` is in e-/s, ``x``, ``y`` are 0-based pixel-centre coordinates, ``exptime_s``
    the exposure time in s (for the source Poisson term), ``mask`` an optional boolean image
    (True = bad pixel). Apertures use the exact pixel-circle overlap, the sky is the
    sigma-clipped median of the pixels whose centres lie in the annulus, and the error
    follows the formula in the module docstring. Vectorised over sources in chunks of
    ``chunk_size``. With ``covariance`` (default) the table carries the (n, n_radii,
    n_radii) flux covariance (392 bytes per source for 7 radii); without, only the errors.
    """
    data = np.asarray(image)
    if data.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {data.shape}")
    if exptime_s <= 0:
        raise ValueError(f"exptime_s must be positive, got {exptime_s}")
    radii = tuple(float(r) for r in radii_px)
    r_in, r_out = (float(a) for a in annulus_px)
    if not 0 <= r_in < r_out:
        raise ValueError(f"annulus_px must be (inner, outer) with 0 <= inner < outer: {annulus_px}")
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length ({xs.shape} vs {ys.shape})")
    bad = None if mask is None else np.asarray(mask, dtype=bool)
    if bad is not None and bad.shape != data.shape:
        raise ValueError(f"mask shape {bad.shape} differs from image shape {data.shape}")

    n, n_r = xs.size, len(radii)
    flux = np.full((n, n_r), np.nan)
    sum_bad = np.zeros((n, n_r), dtype=bool)
    sky_median = np.full(n, np.nan)
    sky_mean = np.full(n, np.nan)
    sky_std = np.full(n, np.nan)
    n_sky = np.zeros(n, dtype=np.int64)
    area = np.pi * np.asarray(radii) ** 2
    flux_var = np.full((n, n_r), np.nan)
    flux_cov = np.full((n, n_r, n_r), np.nan) if covariance else None
    floor = n_exposures * read_noise_e**2 / exptime_s**2 if read_noise_e is not None else 0.0
    area_products = area[:, None] * area[None, :]

    h_sky = math.ceil(r_out)
    h_ap = math.ceil(max(radii))
    if h_ap > h_sky:
        raise ValueError(f"apertures ({max(radii)} px) must lie inside the annulus ({r_out} px)")
    # annulus pixels by centre distance, for every sub-pixel offset: pick the stamp cells
    # that can ever be in the annulus once, so the clipping works on a short (n, k) array
    offs = np.arange(-h_sky, h_sky + 1)
    ring_dist = np.hypot(offs[None, :], offs[:, None])
    ring_cells = np.flatnonzero(((ring_dist >= r_in - 1.0) & (ring_dist < r_out + 1.0)).ravel())
    off_x = np.tile(offs, offs.size)[ring_cells]
    off_y = np.repeat(offs, offs.size)[ring_cells]

    finite = np.isfinite(xs) & np.isfinite(ys)
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        ok = finite[sl]
        xc, yc = np.where(ok, xs[sl], 0.0), np.where(ok, ys[sl], 0.0)
        ix = np.floor(xc + 0.5).astype(np.int64)
        iy = np.floor(yc + 0.5).astype(np.int64)
        dx, dy = xc - ix, yc - iy
        stamp, unusable = _gather_stamps(data, bad, ix, iy, h_sky)

        # sky: pixels of the ring cells whose centres fall in [r_in, r_out)
        ring_vals = stamp.reshape(stamp.shape[0], -1)[:, ring_cells]
        ring_bad = unusable.reshape(stamp.shape[0], -1)[:, ring_cells]
        d2 = (off_x[None, :] - dx[:, None]) ** 2 + (off_y[None, :] - dy[:, None]) ** 2
        in_ring = (d2 >= r_in * r_in) & (d2 < r_out * r_out) & ~ring_bad
        ring = np.where(in_ring, ring_vals, np.nan)
        with np.errstate(invalid="ignore"), _quiet_warnings():
            clipped = astropy_sigma_clip(
                ring, sigma=sigma_clip, maxiters=sigma_clip_maxiters, axis=1,
                cenfunc="median", stdfunc="std", masked=False,
            )  # fmt: skip
            median = np.nanmedian(clipped, axis=1)
            mean = np.nanmean(clipped, axis=1)
            std = np.nanstd(clipped, axis=1)
        kept = np.sum(np.isfinite(clipped), axis=1).astype(np.int64)
        enough = ok & (kept >= min_sky_pixels)
        sky_median[sl] = np.where(enough, median, np.nan)
        sky_mean[sl] = np.where(enough, mean, np.nan)
        sky_std[sl] = np.where(enough, std, np.nan)
        n_sky[sl] = np.where(ok, kept, 0)

        # all apertures on one (2 h_ap + 1)^2 frame: weights W (n, R, m, m)
        cut = slice(h_sky - h_ap, h_sky + h_ap + 1)
        weights = np.zeros((xc.size, n_r, 2 * h_ap + 1, 2 * h_ap + 1))
        for k, r in enumerate(radii):
            h = math.ceil(r)
            weights[:, k, h_ap - h : h_ap + h + 1, h_ap - h : h_ap + h + 1] = (
                circle_overlap_weights(dx, dy, r, h)
            )
        values = stamp[:, cut, cut]
        flux[sl] = np.einsum("nkij,nij->nk", weights, values)
        sum_bad[sl] = np.einsum("nkij,nij->nk", weights, unusable[:, cut, cut]) > 0
        # sum_pix w_k w_l (max(d - sky, 0) / t + sigma_pix^2) + the shared sky-level term
        var_pix = np.fmax(std**2, floor)
        pixel_var = np.clip(values - np.nan_to_num(median)[:, None, None], 0.0, None)
        pixel_var = pixel_var / exptime_s + var_pix[:, None, None]
        sky_term = (np.pi / 2.0) * var_pix / np.maximum(kept, 1)
        with np.errstate(invalid="ignore"):
            if covariance:
                cov = np.einsum("nkij,nlij->nkl", weights, weights * pixel_var[:, None])
                cov += area_products[None] * sky_term[:, None, None]
                flux_cov[sl] = cov
                flux_var[sl] = np.diagonal(cov, axis1=1, axis2=2)
            else:
                flux_var[sl] = np.einsum("nkij,nkij->nk", weights, weights * pixel_var[:, None])
                flux_var[sl] += area[None, :] ** 2 * sky_term[:, None]

    flux = flux - sky_median[:, None] * area[None, :]
    undefined = sum_bad | ~finite[:, None] | np.isnan(flux)
    flux[undefined] = np.nan
    flux_var[undefined] = np.nan
    flux_err = np.sqrt(flux_var)
    if flux_cov is not None:
        flux_cov[undefined[:, :, None] | undefined[:, None, :]] = np.nan
    return ApertureTable(
        flux=flux,
        flux_err=flux_err,
        area=area,
        sky_median=sky_median,
        sky_mean=sky_mean,
        sky_std=sky_std,
        n_sky=n_sky,
        radii_px=radii,
        annulus_px=(r_in, r_out),
        flux_cov=flux_cov,
    )


class _quiet_warnings:
    """Silence astropy's all-NaN-slice warnings for sources without any usable sky pixel."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        from astropy.utils.exceptions import AstropyUserWarning

        warnings.simplefilter("ignore", AstropyUserWarning)
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def flux_to_vega_mag(
    flux: ArrayLike, flux_err: ArrayLike, zeropoint_vega: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Vega magnitude m = zp - 2.5 log10(F) and its error 1.0857 sigma_F / F (Thilker §2.1).

    ``flux`` and ``flux_err`` in e-/s; ``zeropoint_vega`` the Vega magnitude of 1 e-/s.
    Both outputs are NaN where the flux is <= 0 or NaN.
    """
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(flux_err, dtype=np.float64)
    positive = f > 0
    safe = np.where(positive, f, 1.0)
    mag = np.where(positive, zeropoint_vega - 2.5 * np.log10(safe), np.nan)
    mag_err = np.where(positive, _MAG_PER_LN * e / safe, np.nan)
    return mag, mag_err


@dataclass(frozen=True)
class ApertureCorrection:
    """An aperture correction from ``radius_px`` to total, in mag, with how it was made.

    Sign convention: ``value_mag > 0`` and m_total = m(radius_px) - value_mag.
    """

    value_mag: float
    method: str
    radius_px: float = 4.0
    band: str | None = None
    settings: dict | None = None

    def to_dict(self) -> dict:
        """Plain JSON-able form (for a run's configuration record)."""
        return asdict(self)

    @property
    def version(self) -> str:
        """Short stable hash of the value, method and settings."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def aperture_correction(
    psf=None,
    *,
    fwhm_px: float = 2.0,
    eta: float = 3.0,
    radius_px: float = 4.0,
    total_radius_px: float | None = 20.0,
    band: str | None = None,
    oversample: int = 4,
    offsets: Sequence[tuple[float, float]] = ((0.0, 0.0), (0.25, 0.25), (0.5, 0.5)),
) -> ApertureCorrection:
    """Aperture correction of a noiseless fiducial cluster convolved with the band's PSF.

    The fiducial of Thilker et al. 2022 §4.2.1 (Moffat, pre-PSF FWHM 2 px, eta = 3) is
    rendered with :func:`clustercat.processing.profiles.add_profiles` (convolved with
    ``psf``, a :class:`clustercat.processing.psf.PSFModel`, or unconvolved when None) on an
    empty stamp, and apcor = 2.5 log10(F(total) / F(radius_px)) > 0 with exact apertures and
    no sky (the model has none). "Total" is the flux within ``total_radius_px`` (20 px, the
    paper's reference aperture, §2.2), or the whole rendered flux when None. The value is
    the mean over the sub-pixel centre ``offsets`` (px). Each band gets its own correction
    through its own PSF, instead of Thilker's hand-picked-cluster average plus survey offsets
    (:func:`thilker_aperture_correction`).
    """
    from clustercat.processing.profiles import add_profiles

    reach = int(math.ceil(total_radius_px if total_radius_px is not None else 30.0)) + 4
    if psf is not None:
        reach += int(math.ceil(_psf_half_width_px(psf)))
    size = 2 * reach + 1
    values = []
    for ox, oy in offsets:
        stamp = np.zeros((size, size))
        xc, yc = reach + ox, reach + oy
        add_profiles(
            stamp, [xc], [yc], [1.0], [fwhm_px], [eta],
            psf=psf, oversample=oversample, stamp_radius_px=reach - 1,
        )  # fmt: skip
        radii = [radius_px] + ([total_radius_px] if total_radius_px is not None else [])
        sums = []
        for r in radii:
            h = math.ceil(r)
            w = circle_overlap_weights([xc - reach], [yc - reach], r, h)[0]
            sums.append(
                float(np.sum(w * stamp[reach - h : reach + h + 1, reach - h : reach + h + 1]))
            )
        total = sums[1] if total_radius_px is not None else float(stamp.sum())
        values.append(2.5 * math.log10(total / sums[0]))
    return ApertureCorrection(
        value_mag=float(np.mean(values)),
        method="fiducial-cluster-psf",
        radius_px=float(radius_px),
        band=band,
        settings={
            "fwhm_px": fwhm_px,
            "eta": eta,
            "total_radius_px": total_radius_px,
            "oversample": oversample,
            "offsets_px": [list(o) for o in offsets],
            "psf": psf_label(psf),
        },
    )


def psf_label(psf) -> str | None:
    """A short name of a PSF model for provenance records (None without a PSF)."""
    if psf is None:
        return None
    for attr in ("short_name", "description", "name"):
        value = getattr(psf, attr, None)
        if value:
            return str(value)
    return type(psf).__name__


def _psf_half_width_px(psf) -> float:
    """Half the native-pixel extent of a PSF model (best effort over the PSFModel API)."""
    if hasattr(psf, "size_px"):
        return 0.5 * float(psf.size_px)
    data = getattr(psf, "data", None)
    factor = float(getattr(psf, "oversample", 1) or 1)
    if data is not None:
        return 0.5 * max(np.shape(data)) / factor
    return 15.0


def thilker_aperture_correction(band: str, v_band_correction_mag: float) -> ApertureCorrection:
    """apcor(band) = galaxy F555W correction + survey-wide band offset (Thilker §2.2).

    ``v_band_correction_mag`` is the galaxy's F555W 4 px -> 20 px correction (0.6-0.85 mag in
    the paper's galaxies); the offsets are :data:`THILKER_BAND_OFFSETS_MAG`.
    """
    key = band.upper()
    if key not in THILKER_BAND_OFFSETS_MAG:
        raise KeyError(f"no Thilker et al. 2022 offset for band {band!r}")
    return ApertureCorrection(
        value_mag=float(v_band_correction_mag + THILKER_BAND_OFFSETS_MAG[key]),
        method="thilker2022-band-offsets",
        radius_px=4.0,
        band=key,
        settings={"v_band_correction_mag": v_band_correction_mag},
    )


def total_magnitude(mag_4px: ArrayLike, correction: ApertureCorrection | float) -> NDArray:
    """m_total = m(4 px) - apcor (apcor > 0; Thilker et al. 2022 §2.2)."""
    value = correction.value_mag if isinstance(correction, ApertureCorrection) else correction
    return np.asarray(mag_4px, dtype=np.float64) - float(value)
