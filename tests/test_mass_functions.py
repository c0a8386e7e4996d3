"""Mass/age functions: binning, power-law slopes (MLE and least squares), C-4 corrections.

Pure tests, no database. Samples come from known power laws with a seeded RNG.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from clustercat.processing.agreement import mean_with_uncertainty
from clustercat.processing.mass_functions import (
    equal_number_log_edges,
    fit_power_law_binned,
    fit_power_law_mle,
    log_binned_function,
)
from scipy import stats

N_DRAWS = 200


def power_law_sample(rng, beta, size, x_min, x_max=np.inf):
    """Inverse-CDF draws from p(x) ∝ x^beta on [x_min, x_max] (beta != -1)."""
    k = beta + 1.0
    uniform = rng.random(size)
    upper = 0.0 if np.isinf(x_max) else x_max**k
    return (x_min**k + uniform * (upper - x_min**k)) ** (1.0 / k)


@pytest.mark.parametrize("beta", [-2.0, -1.8])
@pytest.mark.parametrize("n", [300, 3000])
def test_mle_slope_recovery(beta, n):
    rng = np.random.default_rng(int(1000 * -beta) + n)
    samples = power_law_sample(rng, beta, (N_DRAWS, n), x_min=1e4)  # M_sun
    fits = [fit_power_law_mle(s, 1e4) for s in samples]
    slope = np.array([f.slope for f in fits])
    err = np.array([f.slope_err for f in fits])
    pull = np.abs(slope - beta) / err
    assert np.mean(pull < 2.0) >= 0.90
    # the errors are calibrated, not just large: ~68 % within 1 sigma (binomial +/- 0.08)
    assert 0.60 <= np.mean(pull < 1.0) <= 0.76
    assert all(f.n == n for f in fits)


def test_mle_closed_form_and_units():
    rng = np.random.default_rng(5)
    x = power_law_sample(rng, -2.0, 1000, x_min=1e3)
    fit = fit_power_law_mle(x * u.Msun, 1e3 * u.Msun)
    closed = -1.0 - x.size / np.sum(np.log(x / 1e3))  # Clauset et al. 2009, Eq. 3.1
    assert fit.slope == pytest.approx(closed, rel=1e-12)
    assert fit.slope_err == pytest.approx(abs(closed + 1.0) / np.sqrt(x.size), rel=1e-12)
    # a lower limit in another unit is converted; values below it are left out
    fit_kg = fit_power_law_mle(x * u.Msun, (2e3 * u.Msun).to(u.kg))
    assert fit_kg.n == int(np.sum(x >= 2e3))


def test_truncated_mle_agrees_with_scipy_truncpareto():
    rng = np.random.default_rng(8)
    x = power_law_sample(rng, -1.8, 2000, x_min=1e3, x_max=1e5)
    fit = fit_power_law_mle(x, 1e3, 1e5)
    b, _, _, _ = stats.truncpareto.fit(x, floc=0, fscale=1e3, f1=100.0)  # pdf ∝ x^(-b-1)
    assert fit.slope == pytest.approx(-b - 1.0, abs=1e-6)
    assert fit.x_max == 1e5


def test_truncated_mle_slope_recovery():
    rng = np.random.default_rng(21)
    samples = power_law_sample(rng, -2.0, (N_DRAWS, 300), x_min=1e3, x_max=1e5)
    fits = [fit_power_law_mle(s, 1e3, 1e5) for s in samples]
    pull = np.abs(np.array([f.slope for f in fits]) + 2.0) / np.array([f.slope_err for f in fits])
    assert np.mean(pull < 2.0) >= 0.90
    # ignoring the truncation biases the slope steep: the untruncated fit is not the same
    assert np.mean([fit_power_law_mle(s, 1e3).slope for s in samples]) < -2.03


def test_weighted_mle_corrects_incompleteness():
    # observed = true power law thinned by a known completeness c(M); weights 1/c
    def completeness(m):
        return 1.0 / (1.0 + (m / 3e3) ** -3)

    rng = np.random.default_rng(13)
    pulls, raw = [], []
    for _ in range(N_DRAWS):
        m = power_law_sample(rng, -2.0, 3000, x_min=1e3, x_max=1e6)
        seen = m[rng.random(m.size) < completeness(m)]
        fit = fit_power_law_mle(seen, 1e3, 1e6, weights=1.0 / completeness(seen))
        pulls.append(abs(fit.slope + 2.0) / fit.slope_err)
        raw.append(fit_power_law_mle(seen, 1e3, 1e6).slope)
    assert np.mean(np.array(pulls) < 2.0) >= 0.90
    assert np.mean(raw) > -1.8  # the uncorrected slope is much too flat
    # unit weights reproduce the unweighted slope
    m = power_law_sample(rng, -2.0, 500, x_min=1e3)
    assert fit_power_law_mle(m, 1e3, weights=np.ones(m.size)).slope == pytest.approx(
        fit_power_law_mle(m, 1e3).slope, rel=1e-12
    )


def test_binned_counts_and_poisson_errors():
    x = np.array([1e3, 2e3, 5e3, 1e4, 1e4, 3e4, 1e5]) * u.Msun
    binned = log_binned_function(x, log_edges=[3.0, 4.0, 5.0])
    # 1e4 sits on the inner edge -> upper bin; 1e5 on the last edge -> included
    np.testing.assert_array_equal(binned.n, [3, 4])
    np.testing.assert_allclose(binned.width, [9e3, 9e4])
    np.testing.assert_allclose(binned.dn_dx, [3 / 9e3, 4 / 9e4])
    np.testing.assert_allclose(binned.dn_dx_err, [np.sqrt(3) / 9e3, np.sqrt(4) / 9e4])
    np.testing.assert_allclose(binned.dn_dlogx, [3.0, 4.0])
    assert binned.unit == u.Msun
    weighted = log_binned_function(x, log_edges=[3.0, 4.0, 5.0], weights=[1, 1, 2, 1, 1, 1, 3])
    np.testing.assert_allclose(weighted.weighted_n, [4.0, 6.0])
    np.testing.assert_allclose(weighted.n_err, [np.sqrt(6.0), np.sqrt(12.0)])
    frame = binned.to_frame()
    assert list(frame["n"]) == [3, 4] and "dn_dx_err" in frame


def test_equal_number_bins():
    rng = np.random.default_rng(2)
    x = power_law_sample(rng, -2.0, 1000, x_min=1e4)
    binned = log_binned_function(x, n_bins=8, equal_number=True)
    np.testing.assert_array_equal(binned.n, np.full(8, 125))
    assert binned.edges[0] == pytest.approx(x.min()) and binned.edges[-1] == pytest.approx(x.max())
    assert np.sum(binned.dn_dx * binned.width) == pytest.approx(1000)
    edges = equal_number_log_edges([1.0, 2.0, 3.0, 4.0, 5.0], 2)
    np.testing.assert_allclose(edges, [1.0, 3.5, 5.0])  # groups of 3 and 2


def test_least_squares_slope_on_noiseless_counts():
    # a "perfect" sample: the power-law quantiles; equal-width log bins then give exact slopes
    n = 200_000
    for beta in (-2.0, -1.8, -0.45):
        k = beta + 1.0
        q = (np.arange(n) + 0.5) / n
        x = (1e6**k + q * (1e9**k - 1e6**k)) ** (1.0 / k)
        fit = fit_power_law_binned(log_binned_function(x, log_edges=np.linspace(6, 9, 7)))
        assert fit.slope == pytest.approx(beta, abs=2e-3)


def test_least_squares_slope_recovery_and_youngest_bin():
    rng = np.random.default_rng(4)
    x = power_law_sample(rng, -1.86, 5000, x_min=1e4)
    # equal-number bins between the fit limits (an open-ended last bin would be huge)
    binned = log_binned_function(x, n_bins=10, equal_number=True, log_range=(4.0, 6.0))
    for weighted in (False, True):
        fit = fit_power_law_binned(binned, weighted=weighted)
        assert abs(fit.slope + 1.86) < 3 * fit.slope_err
        assert fit.n == np.sum(x <= 1e6)
    # age function with an excess in the youngest bin, excluded from the fit as in W21 Fig. 24
    ages = np.concatenate(
        [power_law_sample(rng, -0.45, 4000, 10**6, 10**9), rng.uniform(1e6, 10**6.5, 1500)]
    )
    binned = log_binned_function(ages * u.yr, log_edges=np.arange(6.0, 9.01, 0.5))
    with_young = fit_power_law_binned(binned)
    without = fit_power_law_binned(binned, log_range=(6.5, 9.0))
    assert without.x_min == pytest.approx(10**6.5)
    assert abs(without.slope + 0.45) < 3 * without.slope_err
    assert with_young.slope < without.slope - 0.1  # the youngest point steepens gamma


def test_completeness_corrected_counts_tang_eq17_18():
    masses = np.array([2e3, 3e3, 4e3, 5e3, 2e4, 3e4])
    p = np.array([0.5, 0.5, 1.0, 1.0, 1e-5, 1e-4])
    binned = log_binned_function(masses, log_edges=[3.0, 4.0, 5.0], completeness=p)
    # bin 1: mean p 0.75 -> 4 / 0.75; p16 = 0.5 -> N_hi = 8; p84 = 1.0 -> N_lo = 4
    assert binned.corrected_n[0] == pytest.approx(4 / 0.75)
    assert binned.corrected_n_hi[0] == pytest.approx(8.0)
    assert binned.corrected_n_lo[0] == pytest.approx(4.0)
    # bin 2: both values clipped at the 1e-3 floor -> 2 / 1e-3
    assert binned.corrected_n[1] == pytest.approx(2000.0)
    masked = log_binned_function(
        masses,
        log_edges=[3.0, 4.0, 5.0],
        completeness=p,
        completeness_floor=1e-10,
        mask_mean_completeness_below=1e-3,
    )
    assert np.isnan(masked.corrected_n[1]) and masked.corrected_n[0] == pytest.approx(4 / 0.75)


def test_whitmore2021_table4_and_table5_averages():
    # W21 Table 4, Class 1+2 beta for PH, LG, RS, VG x log(age) 6-7, 7-8, 8-8.6
    beta = [-1.66, -1.81, -1.93, -1.73, -2.01, -2.00, -1.63, -1.95, -1.99, -1.73, -1.87, -2.05]
    mean, sem = mean_with_uncertainty(beta)
    assert (round(mean, 2), round(sem, 2)) == (-1.86, 0.04)
    mean, sem = mean_with_uncertainty(beta[:3])  # PHANGS-HST: -1.80 (.08)
    assert (round(mean, 2), round(sem, 2)) == (-1.80, 0.08)
    # W21 Table 5, Class 1+2 gamma, log(age) 6.5-9, two mass ranges per method: -0.45 (.03)
    gamma = [-0.50, -0.52, -0.49, -0.57, -0.39, -0.44, -0.42, -0.27]
    mean, sem = mean_with_uncertainty(gamma)
    assert (round(mean, 2), round(sem, 2)) == (-0.45, 0.03)
