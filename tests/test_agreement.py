"""Agreement fractions, confusion matrices, crowding and ML count uncertainty.

Pure tests (no database). Expected values are computed by hand from the published formulas:
Whitmore et al. 2021 (W21) §4 / §6.3.2 and Thilker et al. 2022 (T22) §6.3, Table 6.
"""

from __future__ import annotations

import numpy as np
import pytest
from clustercat.processing.agreement import (
    DEFAULT_CONFIDENCE_LEVEL,
    agreement_fraction,
    binned_agreement,
    binomial_interval,
    confusion_matrix,
    covariate_bins,
    mean_with_uncertainty,
    ml_count_uncertainty,
    neighbour_counts,
    symmetric_confusion_matrix,
)
from conftest import shared_path
from scipy.spatial.distance import cdist
from scipy.stats import norm

# A small hand-made example: 8 matched pairs plus one pair that B classified and A did not.
HAND_A = [1, 1, 1, 2, 2, 3, 4, 4, np.nan]
HAND_B = [1, 1, 2, 2, 3, 3, 4, 1, 2]


def test_agreement_fraction_hand_example():
    table = agreement_fraction(HAND_A, HAND_B)
    # class: (N_A, N_B, N_both) counted by hand, the NaN pair dropped
    by_hand = {"1": (3, 3, 2), "2": (2, 2, 1), "3": (1, 2, 1), "4": (2, 1, 1), "1+2": (5, 5, 4)}
    expected_f = {"1": 2 / 3, "2": 1 / 2, "3": 3 / 4, "4": 3 / 4, "1+2": 4 / 5}
    for label, (n_a, n_b, n_both) in by_hand.items():
        row = table.loc[label]
        assert (row["n_a"], row["n_b"], row["n_both"]) == (n_a, n_b, n_both)
        assert row["agreement"] == pytest.approx(expected_f[label])
    # symmetric in A and B
    swapped = agreement_fraction(HAND_B, HAND_A)
    np.testing.assert_allclose(swapped["agreement"], table["agreement"])


def test_agreement_fraction_empty_class_is_nan():
    table = agreement_fraction([1, 1, 2], [1, 2, 2])
    assert np.isnan(table.loc["3", "agreement"])
    assert table.loc["3", "n_a"] == 0


def test_confusion_matrices_hand_example():
    counts = confusion_matrix(HAND_A, HAND_B)
    np.testing.assert_array_equal(
        counts.to_numpy(), [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    )
    sym = symmetric_confusion_matrix(counts)
    # row sums (A) 3, 2, 1, 2; column sums (B) 3, 2, 2, 1
    assert sym.loc[1, 2] == pytest.approx(0.5 * (1 / 3 + 1 / 2))  # A=1, B=2
    assert sym.loc[4, 1] == pytest.approx(0.5 * (1 / 2 + 1 / 3))  # A=4, B=1
    assert sym.loc[2, 3] == pytest.approx(0.5 * (1 / 2 + 1 / 2))
    assert sym.loc[1, 3] == 0.0
    # the diagonal is the agreement fraction
    f = agreement_fraction(HAND_A, HAND_B)["agreement"]
    np.testing.assert_allclose(np.diag(sym.to_numpy()), f.loc[["1", "2", "3", "4"]])


# LEGUS 3-person human classes (rows) vs StarcNet (columns), NGC 1566.
NGC1566_LEGUS_VS_STARCNET = np.array(
    [[241, 7, 0, 10], [59, 79, 19, 57], [9, 28, 114, 110], [20, 11, 44, 253]]
)


def _pairs_from_matrix(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = np.arange(1, 5)
    a = np.repeat(np.repeat(classes, 4), matrix.ravel())
    b = np.repeat(np.tile(classes, 4), matrix.ravel())
    rng = np.random.default_rng(3)
    order = rng.permutation(a.size)
    return a[order], b[order]


def test_agreement_from_ngc1566_confusion_matrix():
    a, b = _pairs_from_matrix(NGC1566_LEGUS_VS_STARCNET)
    counts = confusion_matrix(a, b)
    np.testing.assert_array_equal(counts.to_numpy(), NGC1566_LEGUS_VS_STARCNET)

    # By hand: LEGUS (row) totals 258, 214, 261, 328; StarcNet (column) totals 329, 125, 177, 430.
    by_hand = {
        "1": 0.5 * (241 / 258 + 241 / 329),
        "2": 0.5 * (79 / 214 + 79 / 125),
        "3": 0.5 * (114 / 261 + 114 / 177),
        "4": 0.5 * (253 / 328 + 253 / 430),
        # 1+2: LEGUS 258 + 214 = 472, StarcNet 329 + 125 = 454, both 241 + 7 + 59 + 79 = 386
        "1+2": 0.5 * (386 / 472 + 386 / 454),
    }
    table = agreement_fraction(a, b)
    for label, f in by_hand.items():
        assert table.loc[label, "agreement"] == pytest.approx(f, rel=1e-12)
    assert [round(table.loc[k, "agreement"], 3) for k in by_hand] == [
        0.833,
        0.501,
        0.540,
        0.680,
        0.834,
    ]
    sym = symmetric_confusion_matrix(counts)
    assert sym.loc[2, 4] == pytest.approx(0.5 * (57 / 214 + 57 / 430))
    assert sym.loc[4, 2] == pytest.approx(0.5 * (11 / 328 + 11 / 125))


def test_ngc1566_matrix_from_the_real_catalogues():
    """The same matrix, rebuilt from the public LEGUS NGC 1566 catalogue and StarcNet file."""
    legus = shared_path(
        "legus", "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
    )
    starcnet = shared_path("legus", "starcnet_ml_predictions_ngc1566.tab")
    catalogue = np.loadtxt(legus)
    ml = np.loadtxt(starcnet, usecols=(0, 3), delimiter="\t")
    np.testing.assert_array_equal(catalogue[:, 0], ml[:, 0])  # same ids, same order
    # layout L39-1566-HYBRID (legus/LAYOUTS.md): column 36 (1-based) = 3-person human mode
    human = catalogue[:, 35]
    counts = confusion_matrix(human, ml[:, 1])
    np.testing.assert_array_equal(counts.to_numpy(), NGC1566_LEGUS_VS_STARCNET)


def test_covariate_bins_equal_number_and_explicit():
    values = np.array([5.0, 1.0, 3.0, 2.0, 8.0, 7.0, 6.0, 4.0, np.nan])
    index, edges = covariate_bins(values, 2)
    np.testing.assert_array_equal(edges, [1.0, 4.5, 8.0])
    np.testing.assert_array_equal(index, [1, 0, 0, 0, 1, 1, 1, 0, -1])
    index, edges = covariate_bins(values, [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(index, [1, 0, 0, 0, 1, 1, 1, 1, -1])  # 8.0: last edge included
    index, _ = covariate_bins([-1.0, 9.0], [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(index, [-1, -1])


def test_binned_agreement_by_hand():
    covariate = np.arange(40.0)
    a = np.repeat([1, 2, 3, 4], 10)
    b = np.concatenate([np.full(10, 1), np.repeat([2, 1], 5), np.full(10, 4), np.full(10, 4)])
    order = np.random.default_rng(0).permutation(40)
    table = binned_agreement(a[order], b[order], covariate[order], bins=4)
    f = table.set_index(["bin", "class_set"])["agreement"]
    assert f[(1, "1")] == 1.0
    assert f[(2, "2")] == pytest.approx(0.5 * (5 / 10 + 5 / 5))
    assert np.isnan(f[(2, "1")])  # A has no class 1 in bin 2
    assert f[(2, "1+2")] == 1.0
    assert np.isnan(f[(3, "3")]) and np.isnan(f[(3, "4")])
    assert f[(4, "4")] == 1.0
    medians = table.groupby("bin")["median"].first().to_numpy()
    np.testing.assert_allclose(medians, [4.5, 14.5, 24.5, 34.5])
    assert (table.groupby("bin")["n_a"].max() == 10).all()


def test_neighbour_counts_against_brute_force():
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 100, size=(500, 2))
    radius = 5.0
    brute = (cdist(xy, xy) <= radius).sum(axis=1) - 1
    np.testing.assert_array_equal(neighbour_counts(xy[:, 0], xy[:, 1], radius), brute)
    others = rng.uniform(0, 100, size=(800, 2))
    brute_others = (cdist(xy, others) <= radius).sum(axis=1)
    got = neighbour_counts(xy[:, 0], xy[:, 1], radius, others_x=others[:, 0], others_y=others[:, 1])
    np.testing.assert_array_equal(got, brute_others)


def test_neighbour_counts_small_grid():
    x = np.array([0.0, 1.0, 2.0, 10.0])
    y = np.zeros(4)
    np.testing.assert_array_equal(neighbour_counts(x, y, 1.0), [1, 2, 1, 0])


def test_ml_count_uncertainty_thilker_table6():
    # T22 Table 6, "ML Class 1 or 2" (full ML samples; NGC 3351 all data):
    # NGC 628-C, NGC 628-E, NGC 1433, NGC 1566, NGC 3351
    vgg = [1595, 474, 342, 1194, 687]
    resnet = [1447, 499, 500, 1530, 857]
    consensus = [1218, 417, 329, 1068, 629]
    representative, fraction = ml_count_uncertainty(consensus, vgg, resnet)
    np.testing.assert_array_equal(np.round(100 * fraction), [13, 9, 22, 18, 16])  # T22 §6.3
    np.testing.assert_allclose(representative[0], (1218 + 1595 + 1447) / 3)
    assert fraction[0] == pytest.approx((1595 - 1218) / 2 / ((1218 + 1595 + 1447) / 3))


def test_mean_with_uncertainty_w21_table1():
    # W21 Table 1, mean of means (n = 5 galaxies), Class 1+2: 0.82 (0.03), an SEM
    mean, sem = mean_with_uncertainty([0.83, 0.74, 0.81, 0.82, 0.91], "sem")
    assert (round(mean, 2), round(sem, 2)) == (0.82, 0.03)
    # NGC 628, "mean for above values", Class 1: 0.80 (0.02), which is the plain std
    mean, std = mean_with_uncertainty([0.81, 0.79, 0.82, 0.78, 0.78], "std")
    assert (round(mean, 2), round(std, 2)) == (0.80, 0.02)
    with pytest.raises(ValueError):
        mean_with_uncertainty([1.0, 2.0], "var")  # type: ignore[arg-type]


# --- binomial intervals on the fractions ------------------------------------------------------


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """The Wilson score interval written out (Wilson 1927)."""
    p = k / n
    centre = (k + z**2 / 2) / (n + z**2)
    half = z * np.sqrt(n) / (n + z**2) * np.sqrt(p * (1 - p) + z**2 / (4 * n))
    return centre - half, centre + half


def test_binomial_interval_wilson_known_values():
    # 8/10 at 95 %: the textbook Wilson interval (0.490, 0.943)
    lo, hi = binomial_interval(8, 10, confidence_level=0.95)
    assert (round(float(lo), 3), round(float(hi), 3)) == (0.490, 0.943)
    # 8/10 at the default 1 sigma (68.27 %, z = 1): 0.649078 - 0.896377
    assert norm.ppf(0.5 + DEFAULT_CONFIDENCE_LEVEL / 2) == pytest.approx(1.0, abs=1e-9)
    lo, hi = binomial_interval(8, 10)
    np.testing.assert_allclose([lo, hi], _wilson(8, 10, 1.0), rtol=1e-9)
    np.testing.assert_allclose([lo, hi], [0.649078, 0.896377], atol=1e-6)
    # astropy's documented example: 4/5 at 1 sigma
    np.testing.assert_allclose(binomial_interval(4, 5), [0.57921724, 0.92078259], atol=1e-6)
    # vectorised, 0/n and n/n stay inside [0, 1], n = 0 gives NaN
    lo, hi = binomial_interval([0, 10, 0], [10, 10, 0])
    assert lo[0] == 0.0 and hi[1] == 1.0 and 0 < hi[0] < 0.2 and 0.8 < lo[1] < 1
    assert np.isnan(lo[2]) and np.isnan(hi[2])
    # Jeffreys: the Beta(k + 1/2, n - k + 1/2) quantiles
    from scipy.stats import beta

    lo, hi = binomial_interval(8, 10, interval="jeffreys", confidence_level=0.9)
    np.testing.assert_allclose([lo, hi], beta.ppf([0.05, 0.95], 8.5, 2.5), rtol=1e-9)
    with pytest.raises(ValueError):
        binomial_interval(11, 10)


def test_agreement_fraction_binomial_columns():
    table = agreement_fraction(HAND_A, HAND_B)
    # existing columns first, unchanged; intervals and the pair count appended
    assert list(table.columns[:6]) == ["n_a", "n_b", "n_both", "frac_a", "frac_b", "agreement"]
    for col in ("frac_a_lo", "frac_a_hi", "frac_b_lo", "frac_b_hi", "agreement_lo", "agreement_hi"):
        assert col in table.columns
    assert (table["n"] == 8).all()  # 8 classified pairs (the NaN pair dropped)
    # "1+2": N_A = N_B = 5, N_both = 4 -> exactly the Wilson interval of 4/5
    row = table.loc["1+2"]
    np.testing.assert_allclose(
        [row["agreement_lo"], row["agreement_hi"]], [0.57921724, 0.92078259], atol=1e-6
    )
    # "3": N_A = 1, N_B = 2, N_both = 1 -> mean of the intervals of 1/1 and 1/2
    row = table.loc["3"]
    a, b = _wilson(1, 1, 1.0), _wilson(1, 2, 1.0)
    np.testing.assert_allclose([row["frac_a_lo"], row["frac_a_hi"]], [a[0], 1.0], atol=1e-12)
    np.testing.assert_allclose([row["frac_b_lo"], row["frac_b_hi"]], b, atol=1e-12)
    np.testing.assert_allclose(
        [row["agreement_lo"], row["agreement_hi"]], [(a[0] + b[0]) / 2, (1 + b[1]) / 2]
    )
    assert row["agreement_lo"] <= row["agreement"] <= row["agreement_hi"]
    # an empty class: no interval
    empty = agreement_fraction([1, 1, 2], [1, 2, 2])
    assert np.isnan(empty.loc["3", "agreement_lo"]) and np.isnan(empty.loc["3", "agreement_hi"])
    # a wider confidence level widens every interval
    wide = agreement_fraction(HAND_A, HAND_B, confidence_level=0.95)
    assert (
        wide["agreement_hi"] - wide["agreement_lo"] > table["agreement_hi"] - table["agreement_lo"]
    ).all()


def test_ngc1566_agreement_errors():
    """NGC 1566 LEGUS vs StarcNet, class 1+2: f = 0.834 from 386 of 472 and 386 of 454."""
    a, b = _pairs_from_matrix(NGC1566_LEGUS_VS_STARCNET)
    row = agreement_fraction(a, b).loc["1+2"]
    lo_a, hi_a = _wilson(386, 472, 1.0)
    lo_b, hi_b = _wilson(386, 454, 1.0)
    assert row["agreement_lo"] == pytest.approx((lo_a + lo_b) / 2, rel=1e-12)
    assert row["agreement_hi"] == pytest.approx((hi_a + hi_b) / 2, rel=1e-12)
    # about +/- 0.017 at 1 sigma, the binomial sqrt(f (1 - f) / n) for n ~ 460
    assert row["agreement_hi"] - row["agreement_lo"] == pytest.approx(0.0345, abs=0.001)


def test_binned_agreement_has_errors():
    covariate = np.arange(40.0)
    a = np.repeat([1, 2, 3, 4], 10)
    b = np.concatenate([np.full(10, 1), np.repeat([2, 1], 5), np.full(10, 4), np.full(10, 4)])
    table = binned_agreement(a, b, covariate, bins=4).set_index(["bin", "class_set"])
    assert (table["n"] == 10).all()  # pairs per bin
    # bin 1, class 1: 10/10 on both sides -> the Wilson interval of 10/10
    np.testing.assert_allclose(
        table.loc[(1, "1"), ["agreement_lo", "agreement_hi"]], _wilson(10, 10, 1.0), atol=1e-12
    )
    # bin 2, class 2: N_A = 10, N_B = 5, N_both = 5
    lo_a, hi_a = _wilson(5, 10, 1.0)
    lo_b, _ = _wilson(5, 5, 1.0)
    np.testing.assert_allclose(
        table.loc[(2, "2"), ["agreement_lo", "agreement_hi"]],
        [(lo_a + lo_b) / 2, (hi_a + 1.0) / 2],
        atol=1e-12,
    )
    jeff = binned_agreement(a, b, covariate, bins=4, interval="jeffreys")
    assert not np.allclose(
        jeff["agreement_lo"].fillna(0), table["agreement_lo"].fillna(0).to_numpy()
    )
