"""The cell-grid candidate search of ``clustercat crossmatch`` finds exactly the KD-tree's pairs.

:func:`clustercat.processing.crossmatch.grid_pairs` replaced the ``cKDTree`` search in the
command path (bench/crossmatch.py); here both run on synthetic positions whose truth is the
brute-force distance matrix: around a pole, across RA = 0/360, all over the sphere, with
non-finite rows, zero and large bounds, and on pixel-like coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest
from clustercat.processing.crossmatch import grid_pairs, pairs_within, unit_vectors


def brute_force(a: np.ndarray, b: np.ndarray, bound: float) -> set[tuple[int, int]]:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    ia, ib = np.nonzero(d2 <= bound * bound)  # NaN/inf rows compare False
    return set(zip(ia.tolist(), ib.tolist(), strict=True))


@pytest.mark.parametrize("case", ["pole", "ra_wrap", "sphere", "non_finite", "pixels"])
@pytest.mark.parametrize("bound", [0.0, 2e-6, 5e-5, 0.3])
def test_grid_pairs_equal_brute_force_and_the_kdtree(case: str, bound: float) -> None:
    rng = np.random.default_rng(abs(hash((case, bound))) % 2**32)
    n = 400
    if case == "pixels":
        a = rng.uniform(0, 4000, (n, 3))
        b = a[rng.permutation(n)] + rng.normal(0, 1e-4, (n, 3))
        bound = bound * 1e4
    else:
        if case == "pole":
            ra, dec = rng.uniform(0, 360, n), rng.uniform(89.99, 90.0, n)
        elif case == "ra_wrap":
            ra, dec = rng.uniform(-0.002, 0.002, n) % 360.0, rng.uniform(-0.002, 0.002, n)
        else:
            ra, dec = rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        a = unit_vectors(ra, dec)
        b = a[rng.permutation(n)] + rng.normal(0, 1e-5, (n, 3))
    if case == "non_finite":
        a[:5] = np.nan
        b[-3:] = np.inf
    b[0] = a[6]  # one exact duplicate (a finite row): found even with bound 0
    truth = brute_force(a, b, bound)
    ia, ib = grid_pairs(a, b, bound)
    ka, kb, _ = pairs_within(b, a, bound, 1)
    assert set(zip(ia.tolist(), ib.tolist(), strict=True)) == truth
    assert set(zip(ka.tolist(), kb.tolist(), strict=True)) == truth
    assert (6, 0) in truth
    assert len(ia) == len(truth)  # no duplicate pairs


def test_grid_pairs_refuses_a_bad_bound() -> None:
    a = unit_vectors([10.0], [20.0])
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bound"):
            grid_pairs(a, a, bad)
