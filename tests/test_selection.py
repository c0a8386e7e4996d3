"""Candidate selection (Thilker et al. 2022 §4.1-4.4, Table 2). Pure tests, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from clustercat.processing.selection import (
    SEMI_EMPIRICAL_VERTICES,
    distance_modulus,
    flag_doubles,
    in_polygon,
    in_semi_empirical_region,
    is_super_hd,
    mci_out_floor,
    passes_general,
    passes_morphology_quality,
    select_candidates,
    suppress_fainter_neighbours,
)


def test_table2_vertices():
    assert SEMI_EMPIRICAL_VERTICES == (
        (0.050, 0.600),
        (0.300, 0.600),
        (0.110, -0.700),
        (-0.200, -2.000),
        (-0.525, -2.000),
    )


@pytest.mark.parametrize(
    ("distance", "floor"),
    [(5.0, -1.7), (8.0, -1.7), (8.3, -1.1), (9.9, -1.1), (10.0, -1.1), (13.99, -1.1),
     (14.0, -0.7), (18.0, -0.7), (25.0, -0.7)],
)  # fmt: skip
def test_distance_crop(distance, floor):
    """NGC 628 (9.9 Mpc) -> -1.1, NGC 1566 (18 Mpc) -> -0.7, 5 Mpc -> -1.7 (Thilker §4.2.3)."""
    assert mci_out_floor(distance) == floor


def test_uncropped_polygon_for_very_near_targets_and_bad_distances():
    assert mci_out_floor(3.0, uncropped_below_mpc=4.0) == -2.0
    assert mci_out_floor(5.0, uncropped_below_mpc=4.0) == -1.7
    with pytest.raises(ValueError, match="positive"):
        mci_out_floor(0.0)


def _edge_probes(eps=1e-3):
    """For each polygon edge, its midpoint moved eps inward and eps outward."""
    v = np.asarray(SEMI_EMPIRICAL_VERTICES)
    centroid = v.mean(axis=0)
    inside, outside = [], []
    for a, b in zip(v, np.roll(v, -1, axis=0), strict=True):
        mid = (a + b) / 2
        normal = np.array([b[1] - a[1], a[0] - b[0]])
        normal /= np.hypot(*normal)
        if np.dot(centroid - mid, normal) < 0:
            normal = -normal  # point it inward
        inside.append(mid + eps * normal)
        outside.append(mid - eps * normal)
    return np.asarray(inside), np.asarray(outside)


def test_points_just_inside_and_outside_each_edge():
    inside, outside = _edge_probes()
    # uncropped (the bottom edge at -2 is inside the polygon only above it)
    assert in_polygon(inside[:, 0], inside[:, 1], SEMI_EMPIRICAL_VERTICES).all()
    assert not in_polygon(outside[:, 0], outside[:, 1], SEMI_EMPIRICAL_VERTICES).any()
    # vertices and edge midpoints are on the boundary, which is inside
    v = np.asarray(SEMI_EMPIRICAL_VERTICES)
    mids = (v + np.roll(v, -1, axis=0)) / 2
    assert in_polygon(v[:, 0], v[:, 1], v).all()
    assert in_polygon(mids[:, 0], mids[:, 1], v).all()
    assert not in_polygon([np.nan], [0.0], v).any()


def test_region_with_distance_crop():
    # x = -0.1 crosses the polygon from MCI_out -1.62 (lower-left edge) up to 0.6
    mci_in = np.full(6, -0.1)
    mci_out = np.array([-1.0, -1.2, -0.65, -0.75, -1.1, 0.61])
    near = in_semi_empirical_region(mci_in, mci_out, 5.0)
    ngc628 = in_semi_empirical_region(mci_in, mci_out, 9.9)
    ngc1566 = in_semi_empirical_region(mci_in, mci_out, 18.0)
    assert near.tolist() == [True, True, True, True, True, False]
    assert ngc628.tolist() == [True, False, True, True, True, False]  # -1.1 is inclusive
    assert ngc1566.tolist() == [False, False, True, False, False, False]
    # the bottom-left corner region exists only uncropped / near: (-0.45, -1.9)
    assert in_polygon([-0.45], [-1.9], SEMI_EMPIRICAL_VERTICES)[0]
    assert not in_semi_empirical_region([-0.45], [-1.9], 5.0)[0]  # below -1.7
    assert in_semi_empirical_region([-0.45], [-1.9], 3.0, uncropped_below_mpc=4.0)[0]


def test_general_criteria():
    errs = pd.DataFrame(
        {
            "NUV": [0.1, 0.5, np.nan, 0.1, 0.3],
            "U": [0.1, 0.5, 0.1, 0.1, 0.3],
            "B": [0.5, 0.1, 0.1, 0.1, 0.3],
            "V": [0.1, 0.1, 0.1, 0.31, 0.3],
            "I": [0.5, 0.1, np.nan, 0.1, 0.3],
        }
    )
    # 3 good incl. V | 3 good incl. V | 3 good incl. V (NaN = no coverage) | V bad | all = 0.3
    assert passes_general(errs).tolist() == [True, True, True, False, True]
    assert passes_general(errs, min_bands=4).tolist() == [False, False, False, False, True]
    with pytest.raises(KeyError, match="V"):
        passes_general(errs.drop(columns="V"))


def test_morphology_quality_boundaries():
    snr = [10.0, 10.01, 50, 50, 50, 50, np.nan]
    e_in = [0.1, 0.1, 0.3, 0.31, 0.1, 0.1, 0.1]
    e_out = [0.5, 0.5, 0.5, 0.5, 1.0, 1.01, 0.5]
    got = passes_morphology_quality(snr, e_in, e_out).tolist()
    assert got == [False, True, True, False, True, False, False]


def test_super_hd_boundaries():
    m_v = [-10.0, -9.99, -12, -12, -12, -12]
    mci_in = [0.0, 0.0, -0.55, 0.45, -0.56, 0.46]
    assert is_super_hd(m_v, mci_in).tolist() == [True, False, True, True, False, False]


def test_doubles_on_a_constructed_set():
    # A (brightest) at 0; B 2 px from A; C 2 px beyond B (4 px from A); D 2.5 px from C
    # (exactly the radius: inclusive); E isolated; F and G equal count rates 1 px apart
    x = np.array([0.0, 2.0, 4.0, 4.0, 50.0, 100.0, 101.0])
    y = np.array([0.0, 0.0, 0.0, 2.5, 50.0, 100.0, 100.0])
    rate = np.array([100.0, 90.0, 80.0, 70.0, 10.0, 5.0, 5.0])
    double = flag_doubles(x, y, rate)
    # B is removed by A; C survives (its brighter neighbour B was removed); D is removed by
    # C; of the tie the first listed is kept
    assert double.tolist() == [False, True, False, True, False, False, True]
    # the fainter is flagged whatever the input order; of a tie, the first listed stays
    perm = np.array([6, 3, 1, 5, 0, 2, 4])  # G D B F A C E
    assert flag_doubles(x[perm], y[perm], rate[perm]).tolist() == [
        False, True, True, True, False, False, False,
    ]  # fmt: skip


def test_doubles_equal_the_sequential_walk():
    """The vectorised suppression equals the paper's sequential walk (random crowded set)."""
    rng = np.random.default_rng(1)
    n = 800
    x, y = rng.uniform(0, 120, n), rng.uniform(0, 120, n)
    rate = rng.lognormal(0, 1, n)
    order = np.argsort(-rate, kind="stable")
    removed = np.zeros(n, dtype=bool)
    for i in order:  # the reference: walk down the list
        if removed[i]:
            continue
        d = np.hypot(x - x[i], y - y[i])
        removed |= (d <= 2.5) & (rate < rate[i])
    assert np.array_equal(suppress_fainter_neighbours(x, y, rate, 2.5), removed)
    assert removed.sum() > 50  # the set is crowded enough for chains to matter


def _table():
    """Seven sources, each built to exercise one branch of the pathway (NGC 628, 9.9 Mpc)."""
    mu = distance_modulus(9.9)
    rows = [
        # 0: a good cluster inside the region
        dict(x=10, y=10, count_rate=50, v_snr=40, mci_in=-0.1, mci_out=-0.5, mag_v=mu - 8),
        # 1: same but outside the region (too extended in MCI_out for 9.9 Mpc)
        dict(x=30, y=10, count_rate=50, v_snr=40, mci_in=-0.1, mci_out=-1.3, mag_v=mu - 8),
        # 2: inside the region but S/N 8: fails morphology quality
        dict(x=50, y=10, count_rate=5, v_snr=8, mci_in=-0.1, mci_out=-0.5, mag_v=mu - 6),
        # 3: super H-D: outside the region, poor S/N ignored, M_V = -10.5
        dict(x=70, y=10, count_rate=900, v_snr=5, mci_in=-0.4, mci_out=-2.5, mag_v=mu - 10.5),
        # 4: a good cluster 2 px from source 0 but fainter: a double
        dict(x=12, y=10, count_rate=20, v_snr=30, mci_in=-0.05, mci_out=-0.3, mag_v=mu - 7.5),
        # 5: good morphology, but only two bands with good photometry: fails general
        dict(x=90, y=10, count_rate=30, v_snr=30, mci_in=-0.1, mci_out=-0.5, mag_v=mu - 7.5),
        # 6: a star-like source: inside the polygon's upper-right corner
        dict(x=110, y=10, count_rate=40, v_snr=60, mci_in=0.25, mci_out=0.55, mag_v=mu - 8),
    ]
    t = pd.DataFrame(rows)
    t["mci_in_err"] = 0.05
    t["mci_out_err"] = 0.2
    for band in ("NUV", "U", "B", "V", "I"):
        t[f"mag_err_{band}"] = 0.1
    t.loc[5, ["mag_err_NUV", "mag_err_U", "mag_err_B"]] = [0.5, np.nan, 0.4]
    return t


def test_select_candidates_pathways():
    flags = select_candidates(_table(), 9.9)
    assert flags["passes_general"].tolist() == [True, True, True, True, True, False, True]
    assert flags["passes_morph_quality"].tolist() == [True, True, False, False, True, True, True]
    assert flags["in_semi_empirical"].tolist() == [True, False, True, False, True, True, True]
    assert flags["super_hd"].tolist() == [False, False, False, True, False, False, False]
    assert flags["is_double"].tolist() == [False, False, False, False, True, False, False]
    assert flags["candidate"].tolist() == [True, False, False, True, False, False, True]
    assert not flags["in_model_region"].any() and not flags["in_stellar_exclusion"].any()


def test_stellar_exclusion_and_model_region_slots():
    table = _table()
    stellar = [(0.2, 0.5), (0.35, 0.5), (0.35, 0.7), (0.2, 0.7)]  # around source 6
    flags = select_candidates(table, 9.9, stellar_exclusion=stellar)
    assert flags["in_stellar_exclusion"].tolist() == [False] * 6 + [True]
    assert flags["candidate"].tolist() == [True, False, False, True, False, False, False]

    # an ML-style model region that reaches MCI_out = -1.5: source 1 comes in
    def model_region(mci_in, mci_out):
        return (np.abs(mci_in) < 0.3) & (mci_out > -1.5) & (mci_out < 0.3)

    ml = select_candidates(table, 9.9, model_region=model_region, region="model")
    assert ml["in_model_region"].tolist() == [True, True, True, False, True, True, False]
    assert ml["candidate"].tolist() == [True, True, False, True, False, False, False]
    with pytest.raises(ValueError, match="model_region"):
        select_candidates(table, 9.9, region="model")


def test_select_candidates_names_missing_columns():
    with pytest.raises(KeyError, match="v_snr"):
        select_candidates(_table().drop(columns="v_snr"), 9.9)
