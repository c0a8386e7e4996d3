"""Aperture photometry, CI and MCI on an image whose truth is known (Thilker et al. 2022 §2.2).

Pure tests, no database. The image is rendered here, independently of
``processing/profiles.py`` and photutils: analytic Gaussian and Moffat profiles averaged
over 20 x 20 sub-pixels of every pixel. The true aperture fluxes are the overlap sums of the
noiseless image at the true positions, each pixel's overlap with the circle counted on
50 x 50 sub-pixels (not the continuous integral: the pixel grid alone moves the r = 1 px
magnitude of a sigma = 0.7 px Gaussian by ~0.2 mag). The pipeline measures the noisy image
at the centroids of its own ``detect_sources``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from astropy.stats import SigmaClip
from clustercat.processing.detection import detect_sources
from clustercat.processing.morphology import (
    THILKER_TABLE1,
    fiducial_constants,
    morphology_from_apertures,
)
from clustercat.processing.photometry import (
    APERTURE_RADII_PX,
    THILKER_BAND_OFFSETS_MAG,
    aperture_correction,
    flux_to_vega_mag,
    measure_apertures,
    thilker_aperture_correction,
    total_magnitude,
)
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from scipy.spatial import cKDTree

SHAPE = (512, 512)
EXPTIME_S = 1000.0
SKY_E_S = 0.03  # e-/s/pixel: 30 e- per pixel in 1000 s
READ_NOISE_E = 3.1
N_EXPOSURES = 2
ZEROPOINT = 25.0
SUPERSAMPLE = 20
OVERLAP_SUB = 50


# --- an independent renderer and the truth ------------------------------------------------


def gaussian_profile(sigma_px: float):
    def f(r2):
        return np.exp(-r2 / (2 * sigma_px**2)) / (2 * np.pi * sigma_px**2)

    return f


def moffat_profile(fwhm_px: float, eta: float):
    a = fwhm_px / 2 / math.sqrt(2 ** (1 / eta) - 1)

    def f(r2):
        return (eta - 1) / (np.pi * a * a) * (1 + r2 / (a * a)) ** (-eta)

    return f


def render_source(image, x0, y0, flux, profile, half_px):
    """Add a unit-normalised analytic profile x flux, each pixel averaged over 20x20 points."""
    ix, iy = round(x0), round(y0)
    xs = np.arange(ix - half_px, ix + half_px + 1)
    ys = np.arange(iy - half_px, iy + half_px + 1)
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    fx = (xs[:, None] + sub[None, :]).ravel() - x0
    fy = (ys[:, None] + sub[None, :]).ravel() - y0
    values = profile(fy[:, None] ** 2 + fx[None, :] ** 2)
    n = 2 * half_px + 1
    pix = values.reshape(n, SUPERSAMPLE, n, SUPERSAMPLE).mean(axis=(1, 3))
    image[iy - half_px : iy + half_px + 1, ix - half_px : ix + half_px + 1] += flux * pix


def true_overlap_sum(image, x0, y0, r):
    """Sum of pixel values x (fraction of the pixel inside the circle), 50x50 sub-pixels."""
    h = math.ceil(r) + 1
    ix, iy = round(x0), round(y0)
    sub = (np.arange(OVERLAP_SUB) + 0.5) / OVERLAP_SUB - 0.5
    total = 0.0
    for j in range(iy - h, iy + h + 1):
        dy2 = (j + sub - y0) ** 2
        for i in range(ix - h, ix + h + 1):
            dx2 = (i + sub - x0) ** 2
            frac = np.mean(dy2[:, None] + dx2[None, :] < r * r)
            if frac:
                total += frac * image[j, i]
    return total


def annulus_median(image, x0, y0, r_in=7.0, r_out=8.0):
    """Median of the pixels whose centres lie in r_in <= d < r_out."""
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    d = np.hypot(xx - x0, yy - y0)
    return float(np.median(image[(d >= r_in) & (d < r_out)]))


# source kinds: (name, profile, render half-width px)
KINDS = {
    "gauss0.7": (gaussian_profile(0.7), 10),  # point-like (FWHM 1.65 px)
    "gauss1.2": (gaussian_profile(1.2), 12),
    "moffat1.5_4": (moffat_profile(1.5, 4.0), 20),
    "fiducial": (moffat_profile(2.0, 3.0), 25),  # Thilker's fiducial, no PSF
    "moffat3_2": (moffat_profile(3.0, 2.0), 40),
    "moffat5_2.5": (moffat_profile(5.0, 2.5), 40),  # broad
}
PER_KIND = {"fiducial": 8}  # 4 of every other kind
FLUX_E_S = 1500.0  # total flux of every source: 1.5e6 e- in 1000 s


@pytest.fixture(scope="module")
def field():
    """Noiseless source image, noisy image and the truth table."""
    rng = np.random.default_rng(20220401)
    noiseless = np.zeros(SHAPE)
    # a jittered 6 x 5 grid, 80 x 90 px apart, away from the edges
    sources = []
    k = 0
    for kind in KINDS:
        for _ in range(PER_KIND.get(kind, 4)):
            gx, gy = k % 6, k // 6
            x0 = 56 + gx * 80 + rng.uniform(-0.5, 0.5)
            y0 = 60 + gy * 90 + rng.uniform(-0.5, 0.5)
            profile, half = KINDS[kind]
            render_source(noiseless, x0, y0, FLUX_E_S, profile, half)
            sources.append((kind, x0, y0))
            k += 1
    counts = rng.poisson((noiseless + SKY_E_S) * EXPTIME_S).astype(float)
    counts += rng.normal(0, READ_NOISE_E * math.sqrt(N_EXPOSURES), SHAPE)
    noisy = counts / EXPTIME_S
    truth = []
    for kind, x0, y0 in sources:
        wing = annulus_median(noiseless, x0, y0)
        fluxes = [
            true_overlap_sum(noiseless, x0, y0, r) - math.pi * r * r * wing
            for r in APERTURE_RADII_PX
        ]
        truth.append((kind, x0, y0, wing, fluxes))
    return noiseless, noisy, truth


@pytest.fixture(scope="module")
def measured(field):
    """Detections matched to the truth, and the photometry at the detected centroids."""
    _, noisy, truth = field
    found = detect_sources(noisy)
    tx = np.array([t[1] for t in truth])
    ty = np.array([t[2] for t in truth])
    dist, idx = cKDTree(found[["x", "y"]].to_numpy()).query(np.c_[tx, ty])
    phot = measure_apertures(
        noisy,
        found["x"].to_numpy()[idx],
        found["y"].to_numpy()[idx],
        exptime_s=EXPTIME_S,
        read_noise_e=READ_NOISE_E,
        n_exposures=N_EXPOSURES,
    )
    return dist, phot


def test_every_source_detected_near_its_true_position(measured):
    dist, _ = measured
    assert np.all(dist < 0.05), dist  # windowed centroids: ~0.01 px at S/N of hundreds


def test_aperture_magnitudes_match_the_truth(field, measured):
    _, _, truth = field
    _, phot = measured
    true_flux = np.array([t[4] for t in truth])
    mag, mag_err = flux_to_vega_mag(phot.flux, phot.flux_err, ZEROPOINT)
    true_mag = ZEROPOINT - 2.5 * np.log10(true_flux)
    diff = mag - true_mag
    radii = np.asarray(APERTURE_RADII_PX)
    # the noise is well below the tolerances: S/N >= 200 at r >= 2 px, >= 100 at r = 1 px
    assert np.nanmax(mag_err[:, radii >= 2]) < 0.0055
    assert np.nanmax(mag_err[:, radii < 2]) < 0.011
    assert np.all(np.abs(diff[:, radii >= 2]) < 0.01), np.abs(diff).max(axis=0)
    assert np.all(np.abs(diff[:, radii < 2]) < 0.03), np.abs(diff).max(axis=0)


def test_ci_matches_the_truth(field, measured):
    _, _, truth = field
    _, phot = measured
    true_flux = np.array([t[4] for t in truth])
    true_ci = 2.5 * np.log10(true_flux[:, 4] / true_flux[:, 0])  # m(1) - m(3)
    morph = morphology_from_apertures(phot)
    assert np.all(np.abs(morph["ci"] - true_ci) < 0.02), np.abs(morph["ci"] - true_ci).max()
    # CI grows with the source size: point-like 0.67 ... broad Moffat 1.94
    by_kind = {t[0]: true_ci[i] for i, t in enumerate(truth)}
    order = ["gauss0.7", "moffat1.5_4", "fiducial", "gauss1.2", "moffat3_2", "moffat5_2.5"]
    assert np.all(np.diff([by_kind[k] for k in order]) > 0), by_kind


def test_sky_recovered_within_its_error(field, measured):
    _, _, truth = field
    _, phot = measured
    # the annulus median of the noiseless image: the sky plus the source's own wing
    # (0 for the Gaussians, 0.07 e-/s for the fiducial, 1.2 e-/s for the broad Moffat)
    expected = SKY_E_S + np.array([t[3] for t in truth])
    pull = (phot.sky_median - expected) / phot.sky_median_err
    assert np.all(np.abs(pull) < 3.5), pull
    assert 0.4 < np.std(pull) < 1.6
    # without a source wing in the annulus the clipped standard deviation is the pixel
    # noise, sqrt(sky counts + n RN^2) / t (each from ~47 pixels: 10 % scatter per source)
    sigma_pix = math.sqrt(SKY_E_S * EXPTIME_S + N_EXPOSURES * READ_NOISE_E**2) / EXPTIME_S
    gauss = np.array([t[0].startswith("gauss") for t in truth])
    rms = np.sqrt(np.mean(phot.sky_std[gauss] ** 2))
    assert rms == pytest.approx(sigma_pix, rel=0.1)


def test_mci_signs_and_the_fiducial_at_the_origin(field, measured):
    _, noisy, truth = field
    _, phot = measured
    constants = fiducial_constants(
        noisy, None, exptime_s=EXPTIME_S, zeropoint_vega=ZEROPOINT, n_clusters=400, seed=7
    )
    assert constants.n_clusters >= 350
    morph = morphology_from_apertures(phot, constants)
    kinds = np.array([t[0] for t in truth])
    narrow = morph[kinds == "gauss0.7"]
    broad = morph[kinds == "moffat5_2.5"]
    fid = morph[kinds == "fiducial"]
    assert np.all(narrow["mci_in"] > 0) and np.all(narrow["mci_out"] > 0)
    assert np.all(broad["mci_in"] < 0) and np.all(broad["mci_out"] < 0)
    # the fiducial clusters sit at the origin: their median within 0.02 in both indices.
    # One fiducial alone scatters with its sub-pixel position (pixel phase) by up to
    # -0.02 ... +0.03 in MCI_in even noiseless, so each is held to 0.04
    assert abs(np.median(fid["mci_in"])) < 0.02, fid["mci_in"]
    assert abs(np.median(fid["mci_out"])) < 0.02, fid["mci_out"]
    assert np.all(np.abs(fid[["mci_in", "mci_out"]]) < 0.04)


# --- the geometry and the sky against photutils --------------------------------------------


def test_fluxes_and_sky_equal_photutils_exact_apertures_and_aperture_stats():
    """Same sums as photutils 'exact' apertures and the same clipped annulus statistics."""
    rng = np.random.default_rng(5)
    image = rng.normal(1.0, 0.3, (160, 160))
    image[rng.random(image.shape) < 0.01] += 20.0  # outliers for the clipping to remove
    x = np.r_[rng.uniform(-2, 162, 150), 40.5, 50.0, 60.25]
    y = np.r_[rng.uniform(-2, 162, 150), 40.5, 50.0, 60.75]
    ours = measure_apertures(image, x, y, exptime_s=500.0)
    pos = np.c_[x, y]
    apertures = [CircularAperture(pos, r=r) for r in APERTURE_RADII_PX]
    table = aperture_photometry(image, apertures, method="exact")
    stats = ApertureStats(
        image, CircularAnnulus(pos, 7.0, 8.0), sigma_clip=SigmaClip(sigma=3.0, maxiters=5)
    )
    assert np.allclose(ours.sky_median, stats.median, rtol=0, atol=1e-12)
    assert np.allclose(ours.sky_mean, stats.mean, rtol=0, atol=1e-12)
    assert np.allclose(ours.sky_std, stats.std, rtol=0, atol=1e-12)
    raw = ours.flux + ours.sky_median[:, None] * ours.area[None, :]
    for k in range(len(APERTURE_RADII_PX)):
        ref = np.asarray(table[f"aperture_sum_{k}"])
        r = APERTURE_RADII_PX[k]
        inside = (x - r > -0.5) & (x + r < 159.5) & (y - r > -0.5) & (y + r < 159.5)
        assert np.all(np.isfinite(raw[inside, k]))
        assert np.allclose(raw[inside, k], ref[inside], rtol=0, atol=1e-9)
        # an aperture reaching off the image is undefined: NaN, never a partial sum
        assert np.all(np.isnan(ours.flux[~inside, k]))


def test_nan_and_masked_pixels_make_only_the_apertures_that_touch_them_nan():
    image = np.full((64, 64), 2.0)
    image[30, 33] = np.nan  # 3 px right of the source at (30, 30)
    mask = np.zeros(image.shape, dtype=bool)
    mask[40, 30] = True  # 10 px away: in no aperture, in no annulus
    table = measure_apertures(image, [30.0], [30.0], exptime_s=100.0, mask=mask)
    radii = np.asarray(APERTURE_RADII_PX)
    # the NaN pixel covers x in [32.5, 33.5]: radii > 2.5 px overlap it
    assert np.all(np.isfinite(table.flux[0, radii <= 2.5]))
    assert np.all(np.isnan(table.flux[0, radii > 2.5]))
    assert np.all(np.isnan(table.flux_err[0, radii > 2.5]))
    assert table.flux[0, 0] == pytest.approx(0.0, abs=1e-12)  # flat image: nothing left
    # a source whose whole annulus is masked has no sky and no flux
    full = np.zeros(image.shape, dtype=bool)
    yy, xx = np.mgrid[0:64, 0:64]
    full[np.hypot(xx - 20, yy - 20) >= 6.5] = True
    none = measure_apertures(image, [20.0], [20.0], exptime_s=100.0, mask=full)
    assert none.n_sky[0] == 0 and np.isnan(none.sky_median[0])
    assert np.all(np.isnan(none.flux))


def test_flux_errors_match_the_scatter_of_noise_realisations():
    """Pulls (noisy - noiseless) / error have unit width: Poisson, pixel and sky terms.

    200 faint Gaussians (3 e-/s, 3000 e-) on 0.03 e-/s sky, where the source Poisson term
    and the two sky terms are comparable; the noiseless image measured at the true positions
    is the truth (equal to the exact overlap, see the photutils test above).
    """
    rng = np.random.default_rng(11)
    noiseless = np.full((480, 480), SKY_E_S)
    xs, ys = np.meshgrid(np.arange(15, 470, 32.0), np.arange(15, 470, 32.0))
    x = xs.ravel()[:200] + rng.uniform(-0.5, 0.5, 200)
    y = ys.ravel()[:200] + rng.uniform(-0.5, 0.5, 200)
    for x0, y0 in zip(x, y, strict=True):
        render_source(noiseless, x0, y0, 3.0, gaussian_profile(1.0), 8)
    counts = rng.poisson(noiseless * EXPTIME_S) + rng.normal(0, READ_NOISE_E, noiseless.shape)
    noisy = counts / EXPTIME_S
    truth = measure_apertures(noiseless, x, y, exptime_s=EXPTIME_S)
    meas = measure_apertures(noisy, x, y, exptime_s=EXPTIME_S, read_noise_e=READ_NOISE_E)
    lean = measure_apertures(
        noisy, x, y, exptime_s=EXPTIME_S, read_noise_e=READ_NOISE_E, covariance=False
    )
    assert lean.flux_cov is None and np.allclose(lean.flux_err, meas.flux_err, rtol=1e-12)
    assert np.allclose(np.diagonal(meas.flux_cov, axis1=1, axis2=2), meas.flux_err**2)
    pull = (meas.flux - truth.flux) / meas.flux_err
    width = np.std(pull, axis=0)
    assert np.all((width > 0.85) & (width < 1.15)), width
    # CI and MCI errors from the photometry's own covariance (nested apertures, one shared
    # sky level) have unit pulls; the magnitude-only models over-estimate them here, where
    # the sky-level error (the same for every radius) is a large part of the noise
    true = morphology_from_apertures(truth, THILKER_TABLE1)
    full = morphology_from_apertures(meas, THILKER_TABLE1)
    nested = morphology_from_apertures(meas, THILKER_TABLE1, error_model="nested")
    indep = morphology_from_apertures(meas, THILKER_TABLE1, error_model="independent")
    pd.testing.assert_frame_equal(
        full, morphology_from_apertures(meas, THILKER_TABLE1, chunk_size=37)
    )
    for col in ("ci", "mci_in", "mci_out"):
        width = np.std((full[col] - true[col]) / full[col + "_err"])
        assert 0.85 < width < 1.15, (col, width)
    assert np.all(nested["ci_err"] >= full["ci_err"] * 0.999)
    assert np.all(indep["ci_err"] >= nested["ci_err"] * 0.999)


def test_flux_to_vega_mag_is_nan_for_non_positive_flux():
    mag, err = flux_to_vega_mag(np.array([100.0, 0.0, -5.0, np.nan]), np.array([1.0] * 4), 25.0)
    assert mag[0] == pytest.approx(20.0) and err[0] == pytest.approx(2.5 / math.log(10) / 100)
    assert np.all(np.isnan(mag[1:])) and np.all(np.isnan(err[1:]))


# --- aperture corrections ----------------------------------------------------------------


def test_fiducial_aperture_correction_matches_an_independent_rendering():
    """4 px -> 20 px correction of the unconvolved fiducial, from this module's renderer."""
    correction = aperture_correction(None, fwhm_px=2.0, eta=3.0)
    assert correction.method == "fiducial-cluster-psf" and correction.value_mag > 0
    image = np.zeros((61, 61))
    values = []
    for off in (0.0, 0.25, 0.5):
        image[:] = 0.0
        render_source(image, 30 + off, 30 + off, 1.0, moffat_profile(2.0, 3.0), 28)
        f4 = true_overlap_sum(image, 30 + off, 30 + off, 4.0)
        f20 = true_overlap_sum(image, 30 + off, 30 + off, 20.0)
        values.append(2.5 * math.log10(f20 / f4))
    assert correction.value_mag == pytest.approx(np.mean(values), abs=0.003)
    # m_total = m_4px - apcor: the total is brighter
    assert total_magnitude(20.0, correction) == pytest.approx(20.0 - correction.value_mag)


def test_thilker_band_offsets():
    assert THILKER_BAND_OFFSETS_MAG["F275W"] == -0.19
    per_band = {b: thilker_aperture_correction(b, 0.70).value_mag for b in ("F275W", "F336W",
                "F438W", "F555W", "F814W")}  # fmt: skip
    assert per_band == pytest.approx(
        {"F275W": 0.51, "F336W": 0.58, "F438W": 0.67, "F555W": 0.70, "F814W": 0.58}
    )
    assert thilker_aperture_correction("f555w", 0.7).method == "thilker2022-band-offsets"
    with pytest.raises(KeyError, match="F658N"):
        thilker_aperture_correction("F658N", 0.7)


def test_point_source_aperture_correction_equals_the_psf_encircled_energy():
    """With FWHM 0 the "cluster" is the band's PSF: apcor = 2.5 log10(EE(20 px) / EE(4 px)).

    The EE comes from processing/psf.py's own pixel image measured by photutils; ours from
    rendering through processing/profiles.py and our apertures. Real STScI PSF files.
    """
    from clustercat.processing.psf import load_psf
    from conftest import shared_path

    shared_path("psf", "wfc3uvis_f814w_empirical_psf_grid.fits")
    for name in ("F555W", "F814W"):
        psf = load_psf(name, "WFC3/UVIS")
        ee = psf.encircled_energy(np.array([4.0, 20.0]) * psf.pixel_scale_arcsec)
        point = aperture_correction(psf, fwhm_px=0.0, band=name)
        assert point.value_mag == pytest.approx(2.5 * math.log10(ee[1] / ee[0]), abs=0.004)
        fiducial = aperture_correction(psf, band=name)
        # the extended fiducial loses more light outside 4 px than a point source
        assert fiducial.value_mag > point.value_mag + 0.05
        assert fiducial.settings["psf"] == psf.short_name
