"""CI, NCI and MCI (Thilker et al. 2022 §4.2.1, Table 1): definitions, errors, constants.

Pure tests, no database.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from clustercat.processing.morphology import (
    CI_PAIRS,
    THILKER_TABLE1,
    FiducialConstants,
    ci_column,
    concentration_indices,
    fiducial_constants,
)
from clustercat.processing.photometry import APERTURE_RADII_PX
from photutils.aperture import CircularAperture, aperture_photometry

RADII = np.asarray(APERTURE_RADII_PX)


def mags_with_cis(cis, m1=20.0):
    """Magnitudes at the seven radii whose adjacent-pair CIs are ``cis`` (6 values)."""
    return m1 - np.concatenate([[0.0], np.cumsum(cis)])


def test_table1_constants_and_pairs():
    assert CI_PAIRS == ((1.0, 1.5), (1.5, 2.0), (2.0, 2.5), (2.5, 3.0), (3.0, 4.0), (4.0, 5.0))
    assert THILKER_TABLE1.values == (0.746, 0.447, 0.288, 0.186, 0.201, 0.0858)
    assert THILKER_TABLE1[(2.5, 3.0)] == 0.186
    # Table 1 telescopes to the fiducial CI(1, 3) = 1.67 (extract §2.10)
    assert THILKER_TABLE1.ci_1_3 == pytest.approx(1.667)
    assert (THILKER_TABLE1.fwhm_px, THILKER_TABLE1.eta) == (2.0, 3.0)


def test_constants_version_is_stable_and_round_trips():
    d = THILKER_TABLE1.to_dict()
    again = FiducialConstants.from_dict(d)
    assert again == THILKER_TABLE1 and again.version == THILKER_TABLE1.version
    assert len(THILKER_TABLE1.version) == 12
    other = [0.75, *d["values"][1:]]
    changed = FiducialConstants.from_dict({**d, "values": other, "version": None})
    assert changed.version != THILKER_TABLE1.version
    with pytest.raises(ValueError, match="does not match"):
        FiducialConstants.from_dict({**d, "values": other})
    with pytest.raises(ValueError, match="positive"):
        FiducialConstants(values=(0.7, 0.4, 0.3, 0.2, 0.2, -0.1))


def test_the_fiducial_sits_at_the_origin_and_a_hand_computed_source():
    fid = mags_with_cis(THILKER_TABLE1.values)
    # a compact source: every CI 20 % smaller -> every NCI = 0.2
    compact = mags_with_cis(np.asarray(THILKER_TABLE1.values) * 0.8)
    # mixed: CI(1, 1.5) = 0.5, CI(1.5, 2) = 0.447, CI(2, 2.5) = 0.4; outer pairs doubled
    mixed_cis = [0.5, 0.447, 0.4, 2 * 0.186, 2 * 0.201, 2 * 0.0858]
    mixed = mags_with_cis(mixed_cis)
    mag = np.vstack([fid, compact, mixed])
    out = concentration_indices(mag, np.full_like(mag, 0.01))
    assert out.loc[0, ["mci_in", "mci_out"]].tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert out.loc[0, "ci"] == pytest.approx(1.667)
    assert out.loc[1, ["mci_in", "mci_out"]].tolist() == pytest.approx([0.2, 0.2])
    nci = [1 - 0.5 / 0.746, 0.0, 1 - 0.4 / 0.288]
    assert out.loc[2, "mci_in"] == pytest.approx(np.mean(nci))
    assert out.loc[2, "mci_out"] == pytest.approx(-1.0)
    assert out.loc[2, ci_column((1.0, 1.5))] == pytest.approx(0.5)
    assert out.loc[2, ci_column((1.0, 1.5), "nci")] == pytest.approx(nci[0])
    assert out.loc[2, "ci"] == pytest.approx(0.5 + 0.447 + 0.4 + 0.372)
    assert out.attrs["constants_version"] == THILKER_TABLE1.version


def test_nan_magnitudes_give_nan_not_numbers():
    mag = np.vstack([mags_with_cis(THILKER_TABLE1.values)] * 2)
    mag[1, 6] = np.nan  # r = 5 px undefined
    out = concentration_indices(mag, np.full_like(mag, 0.01))
    assert np.isfinite(out.loc[1, "mci_in"]) and np.isfinite(out.loc[1, "ci"])
    assert np.isnan(out.loc[1, "mci_out"]) and np.isnan(out.loc[1, "mci_out_err"])
    assert np.isnan(out.loc[1, ci_column((4.0, 5.0), "nci")])
    assert np.isfinite(out.loc[0, "mci_out"])


def _nested_flux_samples(rng, flux, sigma, n):
    """Fluxes in nested apertures: cumulative sums of independent annulus fluxes."""
    annulus_flux = np.diff(np.r_[0.0, flux])
    annulus_sigma = np.sqrt(np.diff(np.r_[0.0, sigma**2]))
    draws = annulus_flux + rng.normal(size=(n, flux.size)) * annulus_sigma
    return np.cumsum(draws, axis=1)


def test_nested_error_model_matches_monte_carlo_of_nested_apertures():
    """CI and MCI errors equal the scatter of fluxes whose annuli have independent noise."""
    rng = np.random.default_rng(3)
    # a fiducial-like growth curve and errors growing with the aperture
    flux = 1000.0 * 10 ** (-0.4 * (mags_with_cis(THILKER_TABLE1.values) - 20.0))
    sigma = 4.0 + 0.8 * RADII**2
    samples = _nested_flux_samples(rng, flux, sigma, 40000)
    mag = -2.5 * np.log10(samples)
    mc = concentration_indices(mag, np.zeros_like(mag), error_model="independent")
    predicted = concentration_indices(
        -2.5 * np.log10(flux)[None, :], (2.5 / math.log(10) * sigma / flux)[None, :]
    )
    for col in ("ci", ci_column((1.0, 1.5)), ci_column((4.0, 5.0), "nci"), "mci_in", "mci_out"):
        assert predicted.loc[0, col + "_err"] == pytest.approx(np.std(mc[col]), rel=0.03), col
    # treating the magnitudes as independent over-estimates (the inner flux is shared)
    indep = concentration_indices(
        -2.5 * np.log10(flux)[None, :],
        (2.5 / math.log(10) * sigma / flux)[None, :],
        error_model="independent",
    )
    assert indep.loc[0, "ci_err"] > 1.15 * predicted.loc[0, "ci_err"]


def test_independent_error_model_formulae():
    mag = mags_with_cis(THILKER_TABLE1.values)[None, :]
    err = np.array([[0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]])
    out = concentration_indices(mag, err, error_model="independent")
    assert out.loc[0, "ci_err"] == pytest.approx(math.hypot(0.01, 0.05))
    nci_errs = [math.hypot(err[0, k], err[0, k + 1]) / THILKER_TABLE1.values[k] for k in range(3)]
    assert out.loc[0, "mci_in_err"] == pytest.approx(math.sqrt(sum(e * e for e in nci_errs)) / 3)


def _moffat_pixels(x0, y0, half, fwhm=2.0, eta=3.0, sub=20):
    """A unit-flux Moffat integrated over 20 x 20 sub-pixels, on a (2 half + 1)^2 stamp."""
    a = fwhm / 2 / math.sqrt(2 ** (1 / eta) - 1)
    grid = np.arange(-half, half + 1)
    s = (np.arange(sub) + 0.5) / sub - 0.5
    fx = (grid[:, None] + s[None, :]).ravel() - x0
    fy = (grid[:, None] + s[None, :]).ravel() - y0
    v = (eta - 1) / (np.pi * a * a) * (1 + (fy[:, None] ** 2 + fx[None, :] ** 2) / a**2) ** -eta
    n = 2 * half + 1
    return v.reshape(n, sub, n, sub).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def noise_field():
    """A flat 0.05 e-/s sky with 0.008 e-/s Gaussian noise."""
    rng = np.random.default_rng(12)
    return rng.normal(0.05, 0.008, (300, 300))


def test_fiducial_constants_match_an_independent_rendering(noise_field):
    """Median CIs of fiducials inserted into a noise image = CIs of noiseless Moffats.

    The reference: pre-PSF FWHM 2 px, eta = 3 Moffats integrated over 20 x 20 sub-pixels
    (not processing/profiles.py) on a 16 x 16 grid of sub-pixel offsets, measured with
    photutils' exact apertures minus the median of the 7-8 px annulus (the pipeline's sky,
    which holds a little of the cluster's own wing), median over the offsets.
    """
    n_grid, half, step = 16, 12, 26
    grid = (np.arange(n_grid) + 0.5) / n_grid - 0.5
    offsets = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    image = np.zeros((n_grid * n_grid * step, step))
    centres = []
    for i, (ox, oy) in enumerate(offsets):
        cx, cy = step // 2, step // 2 + i * step
        image[cy - half : cy + half + 1, cx - half : cx + half + 1] = _moffat_pixels(ox, oy, half)
        centres.append((cx + ox, cy + oy))
    centres = np.asarray(centres)
    table = aperture_photometry(
        image, [CircularAperture(centres, r) for r in RADII], method="exact"
    )
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    flux = np.empty((len(offsets), RADII.size))
    for i, (cx, cy) in enumerate(centres):
        near = slice(int(cy) - 9, int(cy) + 10)
        d = np.hypot(xx[near] - cx, yy[near] - cy)
        sky = np.median(image[near][(d >= 7.0) & (d < 8.0)])
        flux[i] = [table[f"aperture_sum_{k}"][i] - sky * np.pi * r * r for k, r in enumerate(RADII)]
    mag = -2.5 * np.log10(flux)
    reference = np.median(mag[:, :-1] - mag[:, 1:], axis=0)
    c = fiducial_constants(
        noise_field, None, exptime_s=1000.0, zeropoint_vega=25.0, n_clusters=600, seed=4
    )
    assert c.n_clusters == 600
    assert np.asarray(c.values) == pytest.approx(reference, abs=0.004)


def test_fiducial_constants_recorded_settings(noise_field):
    c = fiducial_constants(
        noise_field, None, exptime_s=1000.0, zeropoint_vega=25.0, n_clusters=120, seed=4
    )
    assert c.n_clusters == 120 and c.seed == 4 and c.method == "fiducial-cluster-median"
    assert c.settings["mag_range"] == [19.0, 21.0] and c.settings["psf"] is None
    same = fiducial_constants(
        noise_field, None, exptime_s=1000.0, zeropoint_vega=25.0, n_clusters=120, seed=4
    )
    assert same.values == c.values and same.version == c.version
    assert isinstance(pd.Series(c.to_dict()["values"]), pd.Series)


def test_fiducial_constants_with_the_f555w_psf_reproduce_table1(noise_field):
    """Fiducials convolved with the WFC3/UVIS F555W ePSF (processing/psf.py, fitted to the
    STScI encircled-energy curve) give Table 1's constants within 0.02 mag per pair."""
    from clustercat.processing.psf import load_psf
    from conftest import shared_path

    shared_path("phangs-metadata", "wfc3uvis1_aper_007_syn.csv")
    psf = load_psf("F555W", "WFC3/UVIS")
    c = fiducial_constants(
        noise_field, psf, exptime_s=1000.0, zeropoint_vega=25.7, n_clusters=400, seed=1
    )
    assert np.asarray(c.values) == pytest.approx(np.asarray(THILKER_TABLE1.values), abs=0.02)
    assert c.ci_1_3 == pytest.approx(1.67, abs=0.06)
    assert c.settings["psf"] == psf.short_name


def test_chunked_computation_equals_one_pass():
    rng = np.random.default_rng(21)
    mag = mags_with_cis(THILKER_TABLE1.values)[None, :] + rng.normal(0, 0.05, (50, 7))
    err = rng.uniform(0.005, 0.05, (50, 7))
    mag[3, 2] = np.nan
    whole = concentration_indices(mag, err)
    pieces = concentration_indices(mag, err, chunk_size=7)
    pd.testing.assert_frame_equal(whole, pieces)
    assert pieces.attrs["constants_version"] == THILKER_TABLE1.version
