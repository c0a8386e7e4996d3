"""One-to-one positional cross-match: known-truth catalogues and astropy as a reference.

Pure tests, no database.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky
from clustercat.processing.crossmatch import (
    angular_radius,
    crossmatch_pixels,
    crossmatch_sky,
    offset_positions,
    one_to_one,
    pair_separation,
    unit_vectors,
)
from clustercat.schema.cone import angular_distance_deg


def _shift(ra, dec, d_ra_cosdec, d_dec):
    """Positions moved by a (dRA cos Dec, dDec) offset, by astropy."""
    moved = SkyCoord(ra, dec, unit="deg").spherical_offsets_by(d_ra_cosdec, d_dec)
    return moved.ra.deg, moved.dec.deg


def _known_truth(ra0: float, dec0: float, seed: int):
    """Catalogues with a known answer.

    A: 900 sources on a jittered 3" grid. B: 90 % of A moved by a common astrometric offset
    (0.6", -0.4") plus 0.05" scatter; 30 extra B sources far from any A; and 5 "double" A
    sources placed 0.2" from a B source whose true partner sits 0.05" from it, so that B
    source is the nearest of two A sources and the extra A source must stay unmatched.
    """
    rng = np.random.default_rng(seed)
    side = 30
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    xi = (gx.ravel() - side / 2) * 3.0 + rng.uniform(-0.3, 0.3, side * side)  # arcsec
    eta = (gy.ravel() - side / 2) * 3.0 + rng.uniform(-0.3, 0.3, side * side)
    ra_a, dec_a = _shift(
        np.full(xi.size, ra0), np.full(xi.size, dec0), xi * u.arcsec, eta * u.arcsec
    )
    n_a = ra_a.size

    has_b = rng.random(n_a) < 0.9
    true_a = np.flatnonzero(has_b)
    offset = (0.6 * u.arcsec, -0.4 * u.arcsec)
    jitter = rng.normal(0, 0.05 / np.sqrt(2), (true_a.size, 2))
    ra_b, dec_b = _shift(ra_a[true_a], dec_a[true_a], offset[0], offset[1])
    ra_b, dec_b = _shift(ra_b, dec_b, jitter[:, 0] * u.arcsec, jitter[:, 1] * u.arcsec)

    # extra B sources, 1.5" from grid nodes without a B counterpart (far from every A)
    lonely = np.flatnonzero(~has_b)[:30]
    ra_x, dec_x = _shift(ra_a[lonely], dec_a[lonely], 1.5 * u.arcsec, 1.5 * u.arcsec)

    # doubles: new A sources 0.2" (after the offset) from five B sources whose true partner is
    # within 0.08", so the true partner is clearly the closer one
    hosts = np.flatnonzero(np.hypot(*jitter.T) < 0.08)[:5]
    back_ra, back_dec = _shift(ra_b[hosts], dec_b[hosts], -offset[0], -offset[1])
    dbl_ra, dbl_dec = _shift(back_ra, back_dec, 0.0 * u.arcsec, 0.2 * u.arcsec)

    ra_b_all = np.concatenate([ra_b, ra_x])
    dec_b_all = np.concatenate([dec_b, dec_x])
    ra_a_all = np.concatenate([ra_a, dbl_ra])
    dec_a_all = np.concatenate([dec_a, dbl_dec])
    order_b = rng.permutation(ra_b_all.size)  # shuffle B so indices carry no information
    inverse_b = np.argsort(order_b)
    truth = {
        "pairs_a": true_a,
        "pairs_b": inverse_b[np.arange(true_a.size)],
        "double_b": inverse_b[hosts],
        "double_a": n_a + np.arange(hosts.size),
    }
    return (ra_a_all, dec_a_all, ra_b_all[order_b], dec_b_all[order_b], offset, truth)


@pytest.mark.parametrize(
    ("ra0", "dec0"),
    [(150.0, 2.0), (0.0, -30.0), (359.9995, 45.0), (10.0, 89.9995), (250.0, -89.9992)],
    ids=["field", "ra0", "ra360-wrap", "north-pole", "south-pole"],
)
def test_recovers_known_pairs(ra0, dec0):
    ra_a, dec_a, ra_b, dec_b, offset, truth = _known_truth(ra0, dec0, seed=int(abs(dec0) * 10))
    if ra0 > 359 or ra0 == 0.0:
        assert ra_a.min() < 1.0 and ra_a.max() > 359.0  # the field really straddles RA = 0
    result = crossmatch_sky(ra_a, dec_a, ra_b, dec_b, 0.3 * u.arcsec, offset=offset)
    np.testing.assert_array_equal(result.idx_a, truth["pairs_a"])
    np.testing.assert_array_equal(result.idx_b, truth["pairs_b"])
    # doubles: exactly the five host B sources, flagged on their (true) pairs
    np.testing.assert_array_equal(np.sort(result.double_b), np.sort(truth["double_b"]))
    assert set(result.idx_b[result.double]) == set(truth["double_b"])
    assert set(truth["double_a"]) <= set(result.unmatched_a())
    assert len(result.unmatched_b()) == ra_b.size - len(result)
    # separations agree with astropy's for the matched pairs (after applying the offset)
    moved = SkyCoord(ra_a[result.idx_a], dec_a[result.idx_a], unit="deg").spherical_offsets_by(
        *offset
    )
    sep = moved.separation(SkyCoord(ra_b[result.idx_b], dec_b[result.idx_b], unit="deg"))
    np.testing.assert_allclose(result.separation.to_value(u.arcsec), sep.arcsec, atol=1e-7)
    assert result.separation.max() <= 0.3 * u.arcsec

    # without the astrometric offset (0.72") nothing lies within 0.3"
    assert len(crossmatch_sky(ra_a, dec_a, ra_b, dec_b, 0.3 * u.arcsec)) == 0


def _greedy_reference(ia, ib, sep, n_a, n_b):
    """Sequential greedy one-to-one on astropy pairs: the textbook loop, for reference only."""
    order = np.lexsort((ib, ia, sep))
    used_a = np.zeros(n_a, bool)
    used_b = np.zeros(n_b, bool)
    kept = []
    for k in order:
        if not used_a[ia[k]] and not used_b[ib[k]]:
            used_a[ia[k]] = used_b[ib[k]] = True
            kept.append(k)
    kept = np.array(kept, dtype=int)
    by_a = np.argsort(ia[kept])
    return ia[kept][by_a], ib[kept][by_a], sep[kept][by_a]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_identical_to_astropy_based_one_to_one(seed):
    # dense random catalogues: many sources have several candidates within the radius
    rng = np.random.default_rng(seed)
    n_a, n_b = 3000, 2500
    ra_a = 20.0 + rng.uniform(0, 0.02, n_a)
    dec_a = -5.0 + rng.uniform(0, 0.02, n_a)
    ra_b = 20.0 + rng.uniform(0, 0.02, n_b)
    dec_b = -5.0 + rng.uniform(0, 0.02, n_b)
    radius = 1.5 * u.arcsec
    ca, cb = SkyCoord(ra_a, dec_a, unit="deg"), SkyCoord(ra_b, dec_b, unit="deg")

    ia, ib, sep, _ = search_around_sky(ca, cb, radius)
    ref_a, ref_b, ref_sep = _greedy_reference(ia, ib, sep.arcsec, n_a, n_b)
    got = crossmatch_sky(ra_a * u.deg, dec_a * u.deg, ra_b * u.deg, dec_b * u.deg, radius)
    assert np.bincount(ia, minlength=n_a).max() >= 3  # the case really has conflicts
    np.testing.assert_array_equal(got.idx_a, ref_a)
    np.testing.assert_array_equal(got.idx_b, ref_b)
    np.testing.assert_allclose(got.separation.to_value(u.arcsec), ref_sep, atol=1e-8)

    # mutual nearest neighbours == astropy match_coordinates_sky both ways
    j, d2d, _ = match_coordinates_sky(ca, cb)
    i_back, _, _ = match_coordinates_sky(cb, ca)
    mutual = (i_back[j] == np.arange(n_a)) & (d2d <= radius)
    got_mutual = crossmatch_sky(ra_a, dec_a, ra_b, dec_b, radius, method="mutual")
    np.testing.assert_array_equal(got_mutual.idx_a, np.flatnonzero(mutual))
    np.testing.assert_array_equal(got_mutual.idx_b, j[mutual])

    # doubles: B sources that are the nearest (within the radius) of several A sources
    nearest = j[d2d <= radius]
    np.testing.assert_array_equal(got.nearest_count_b, np.bincount(nearest, minlength=n_b))

    # candidate pairs from astropy resolved by our rule give the same answer
    same = one_to_one(ia, ib, sep.to(u.arcsec), n_a, n_b)
    np.testing.assert_array_equal(same.idx_a, got.idx_a)
    np.testing.assert_array_equal(same.idx_b, got.idx_b)


def test_greedy_differs_from_mutual_by_hand():
    # 1-D positions (pixels): A0 = 0, A1 = 0.7; B0 = 0.4, B1 = -0.6; radius 1.
    # Pairs: A1-B0 0.3, A0-B0 0.4, A0-B1 0.6. Greedy takes A1-B0 then A0-B1; only A1-B0 is mutual.
    xa, xb = [0.0, 0.7], [0.4, -0.6]
    greedy = crossmatch_pixels(xa, [0, 0], xb, [0, 0], 1.0)
    np.testing.assert_array_equal(greedy.idx_a, [0, 1])
    np.testing.assert_array_equal(greedy.idx_b, [1, 0])
    np.testing.assert_allclose(greedy.separation.to_value(u.pix), [0.6, 0.3])
    np.testing.assert_array_equal(greedy.double, [False, True])  # B0 is nearest to A0 and A1
    mutual = crossmatch_pixels(xa, [0, 0], xb, [0, 0], 1.0, method="mutual")
    np.testing.assert_array_equal(mutual.idx_a, [1])
    np.testing.assert_array_equal(mutual.idx_b, [0])
    np.testing.assert_array_equal(mutual.unmatched_a(), [0])
    # inclusive radius; a pixel offset moves A before matching
    edge = crossmatch_pixels([0.0], [0.0], [3.0], [4.0], 5.0)
    assert len(edge) == 1 and edge.separation[0] == 5.0 * u.pix
    shifted = crossmatch_pixels([0.0], [0.0], [3.0], [4.0], 0.5, offset=(3.0, 4.2))
    assert len(shifted) == 1 and shifted.separation[0].value == pytest.approx(0.2)


def test_pixel_radius_with_pixel_scale():
    scale = 0.03962 * u.arcsec / u.pix  # WFC3/UVIS
    assert angular_radius(2 * u.pix, scale).to_value(u.arcsec) == pytest.approx(0.07924)
    assert angular_radius(2 * u.pix, 0.03962 * u.arcsec) == angular_radius(2 * u.pix, scale)
    with pytest.raises(ValueError):
        angular_radius(2 * u.pix)
    with pytest.raises(u.UnitsError):
        angular_radius(2 * u.m)

    ra_a = np.array([30.0, 30.01])
    dec_a = np.array([10.0, 10.0])
    # B sources 0.075" and 0.085" north of the A sources: inside / outside 2 px = 0.07924"
    ra_b, dec_b = _shift(ra_a, dec_a, [0.0, 0.0] * u.arcsec, [0.075, 0.085] * u.arcsec)
    result = crossmatch_sky(ra_a, dec_a, ra_b, dec_b, 2 * u.pix, pixel_scale=scale)
    np.testing.assert_array_equal(result.idx_a, [0])
    np.testing.assert_array_equal(result.idx_b, [0])
    assert result.separation[0].to_value(u.arcsec) == pytest.approx(0.075, abs=1e-9)
    assert result.radius.to_value(u.arcsec) == pytest.approx(0.07924)


def test_offset_matches_astropy_and_unit_vectors():
    ra = np.array([0.0, 120.0, 359.9, 45.0])
    dec = np.array([0.0, 60.0, -89.9, 89.99])
    d_ra, d_dec = 1.2 * u.arcsec, -0.7 * u.arcsec
    moved = SkyCoord(ra, dec, unit="deg").spherical_offsets_by(d_ra, d_dec)
    np.testing.assert_allclose(
        offset_positions(ra, dec, d_ra, d_dec),
        unit_vectors(moved.ra, moved.dec),
        atol=1e-14,
    )
    np.testing.assert_allclose(np.linalg.norm(unit_vectors(ra, dec), axis=1), 1.0)


def test_empty_inputs():
    empty = np.array([])
    result = crossmatch_sky(empty, empty, [1.0], [2.0], 1 * u.arcsec)
    assert len(result) == 0 and result.n_a == 0 and result.n_b == 1
    result = crossmatch_sky([1.0], [2.0], empty, empty, 1 * u.arcsec)
    assert len(result) == 0 and result.unmatched_a().tolist() == [0]


def test_missing_positions_never_match():
    nan = np.nan
    result = crossmatch_sky([1.0, nan, 2.0], [1.0, 1.0, 2.0], [1.0, 2.0], [1.0, 2.0], 1 * u.arcsec)
    np.testing.assert_array_equal(result.idx_a, [0, 2])
    np.testing.assert_array_equal(result.idx_b, [0, 1])
    result = crossmatch_pixels([0.0, 5.0], [0.0, 5.0], [nan, 5.0, 0.1], [0.0, 5.0, 0.0], 1.0)
    np.testing.assert_array_equal(result.idx_a, [0, 1])
    np.testing.assert_array_equal(result.idx_b, [2, 1])


def test_one_separation_formula_agrees_with_skycoord():
    """The one separation formula (schema.sky.separation_rad), as the cross-match
    (pair_separation) and the cone search (angular_distance_deg) use it, against astropy's
    SkyCoord.separation to 1e-9 arcsec, at separations from 1e-4 arcsec to 10 deg, including
    near the poles and across RA = 0/360."""
    rng = np.random.default_rng(13)
    n = 4000
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    ra[:200] = rng.choice([0.0, 1e-7, 359.9999999, 180.0], 200)
    dec[200:400] = rng.choice([-89.9999, -89.9, 89.9, 89.9999], 200)
    sep_true = 10.0 ** rng.uniform(np.log10(1e-4), np.log10(36000.0), n) * u.arcsec
    sep_true[:8] = [1e-4, 1e-3, 0.01, 0.1, 1.0, 60.0, 3600.0, 36000.0] * u.arcsec
    a = SkyCoord(ra, dec, unit="deg")
    b = a.directional_offset_by(rng.uniform(0.0, 360.0, n) * u.deg, sep_true)
    reference = a.separation(b).to_value(u.arcsec)
    assert reference.min() < 1.1e-4 and reference.max() > 35999.0

    vec_a = unit_vectors(a.ra, a.dec)
    vec_b = unit_vectors(b.ra, b.dec)
    np.testing.assert_allclose(pair_separation(vec_a, vec_b), reference, rtol=0, atol=1e-9)
    cone = np.array(
        [angular_distance_deg(b.ra.deg[k : k + 1], b.dec.deg[k : k + 1], ra[k], dec[k])[0]
         for k in range(n)]
    ) * 3600.0  # fmt: skip
    np.testing.assert_allclose(cone, reference, rtol=0, atol=1e-9)
    # one formula: the cone search and the cross-match give the same doubles
    np.testing.assert_array_equal(cone, pair_separation(vec_a, vec_b))
