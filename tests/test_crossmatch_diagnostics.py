"""Cross-match diagnostics (processing/crossmatch_diagnostics.py): pure tests, no database.

Synthetic truth: two overlapping rectangles of sources on the sky (known areas and overlap),
B counterparts of A sources injected at a known offset of (+0.10, -0.05) arcsec, matched
fractions and class flips that depend on magnitude. The frames handed to the diagnostics have
the columns of the ``crossmatch_pairs`` view, built from a real one-to-one match
(:func:`clustercat.processing.crossmatch.crossmatch_sky`). The real-data test matches the two
overlapping LEGUS NGC 628 fields (628-c and 628-e) with each other.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.processing import crossmatch_diagnostics as xd
from clustercat.processing.agreement import binomial_interval
from clustercat.processing.crossmatch import crossmatch_sky, offset_positions
from conftest import shared_path
from scipy.spatial import cKDTree

RA0, DEC0 = 24.17, 15.78  # NGC 628
RECT_A = (-60.0, 20.0, -40.0, 40.0)  # xi_min, xi_max, eta_min, eta_max (arcsec)
RECT_B = (-20.0, 60.0, -50.0, 30.0)
OVERLAP = (-20.0, 20.0, -40.0, 30.0)
OVERLAP_AREA = 40.0 * 70.0
# The offset moves every counterpart of an A source of the overlap away from the overlap's A
# edges (east, south) or into it (B's west and north edges): B's hull stays RECT_B exactly.
OFFSET = (0.10, -0.05)  # arcsec, B - A (ΔRA cos δ, ΔDec)
JITTER = 0.02  # arcsec per axis
RADIUS = 0.3 * u.arcsec


def _sky(xi: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse gnomonic projection about (RA0, DEC0); xi, eta in arcsec."""
    x, y = np.deg2rad(xi / 3600.0), np.deg2rad(eta / 3600.0)
    d0, a0 = np.deg2rad(DEC0), np.deg2rad(RA0)
    denom = np.cos(d0) - y * np.sin(d0)
    ra = a0 + np.arctan2(x, denom)
    dec = np.arctan2(np.sin(d0) + y * np.cos(d0), np.hypot(x, denom))
    return np.rad2deg(ra), np.rad2deg(dec)


def _plane(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection about (RA0, DEC0), arcsec (the inverse of :func:`_sky`)."""
    a, d = np.deg2rad(ra) - np.deg2rad(RA0), np.deg2rad(dec)
    d0 = np.deg2rad(DEC0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a)
    xi = np.cos(d) * np.sin(a) / cos_c
    eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a)) / cos_c
    return np.rad2deg(xi) * 3600.0, np.rad2deg(eta) * 3600.0


def _inside(xi: np.ndarray, eta: np.ndarray, rect: tuple[float, ...]) -> np.ndarray:
    return (xi >= rect[0]) & (xi <= rect[1]) & (eta >= rect[2]) & (eta <= rect[3])


def _uniform(rng: np.random.Generator, n: int, rect: tuple[float, ...]) -> np.ndarray:
    xy = np.column_stack([rng.uniform(rect[0], rect[1], n), rng.uniform(rect[2], rect[3], n)])
    corners = np.array(
        [[rect[0], rect[2]], [rect[1], rect[2]], [rect[1], rect[3]], [rect[0], rect[3]]]
    )
    return np.vstack([corners, xy])  # the corners make the hull the rectangle exactly


def _isolated(xy: np.ndarray, others: np.ndarray | None, distance: float) -> np.ndarray:
    """Rows of ``xy`` with no other row (or no row of ``others``) within ``distance``."""
    tree = cKDTree(xy if others is None else others)
    counts = tree.query_ball_point(xy, distance, return_length=True)
    return counts == (1 if others is None else 0)


def view_rows(a: pd.DataFrame, b: pd.DataFrame, radius: u.Quantity = RADIUS) -> pd.DataFrame:
    """Rows shaped like the ``crossmatch_pairs`` view for a one-to-one match of A and B."""
    res = crossmatch_sky(a["ra"], a["dec"], b["ra"], b["dec"], radius)
    cols = ("source_pk", "ra", "dec", "mag_v", "class", "field")

    def side(frame: pd.DataFrame, idx: np.ndarray, suffix: str) -> pd.DataFrame:
        part = frame.iloc[idx][list(cols)].reset_index(drop=True)
        return part.add_suffix(f"_{suffix}")

    best = pd.concat([side(a, res.idx_a, "a"), side(b, res.idx_b, "b")], axis=1)
    same = best["class_a"] == best["class_b"]
    classified = best["class_a"].notna() & best["class_b"].notna()
    best["outcome"] = np.where(classified, np.where(same, "same_class", "other_class"), "matched")
    best["is_best"] = True
    best["separation_arcsec"] = res.separation.to_value(u.arcsec)
    lone_a = side(a, res.unmatched_a(), "a")
    lone_b = side(b, res.unmatched_b(), "b")
    for lone in (lone_a, lone_b):
        lone["outcome"] = "unmatched"
        lone["is_best"] = False
        lone["separation_arcsec"] = np.nan
    rows = pd.concat([best, lone_a, lone_b], ignore_index=True)
    rows["radius_arcsec"] = radius.to_value(u.arcsec)
    return rows


@pytest.fixture(scope="module")
def synthetic() -> dict:
    rng = np.random.default_rng(2022)
    xy_a = _uniform(rng, 2000, RECT_A)
    corners_b = _uniform(rng, 0, RECT_B)
    keep = _isolated(xy_a, None, 0.7) & _isolated(xy_a, corners_b, 0.7)
    keep[:4] = True  # the corners (no A-A neighbours within 0.7": no doubles)
    xy_a = xy_a[keep]
    n_a = len(xy_a)
    mag_a = rng.uniform(18.0, 26.0, n_a)
    class_a = rng.integers(1, 5, n_a).astype(float)
    in_ov_a = _inside(xy_a[:, 0], xy_a[:, 1], RECT_B)  # where counterparts are made
    # counterparts: 90 % of the A sources in the overlap brighter than 22, 50 % fainter
    p_match = np.where(mag_a < 22.0, 0.9, 0.5)
    has_b = in_ov_a & (rng.uniform(size=n_a) < p_match)
    ra_a, dec_a = _sky(xy_a[:, 0], xy_a[:, 1])
    # B = A + offset + jitter (exact spherical offsets, the crossmatch convention)
    idx = np.flatnonzero(has_b)
    dl = (OFFSET[0] + rng.normal(0, JITTER, idx.size)) * u.arcsec
    db = (OFFSET[1] + rng.normal(0, JITTER, idx.size)) * u.arcsec
    vec = offset_positions(ra_a[idx], dec_a[idx], dl, db)
    ra_cp = np.rad2deg(np.arctan2(vec[:, 1], vec[:, 0]))
    dec_cp = np.rad2deg(np.arcsin(vec[:, 2]))
    # class flips: 10 % brighter than 22 mag, 40 % fainter
    flip = rng.uniform(size=idx.size) < np.where(mag_a[idx] < 22.0, 0.1, 0.4)
    class_cp = np.where(flip, (class_a[idx] % 4) + 1, class_a[idx])
    # B's own sources (no counterpart), kept 0.7" away from every A source
    xy_x = _uniform(rng, 1500, RECT_B)
    keep = _isolated(xy_x, xy_a, 0.7)
    keep[:4] = True  # the corners
    xy_x = xy_x[keep]
    ra_x, dec_x = _sky(xy_x[:, 0], xy_x[:, 1])
    a = pd.DataFrame(
        {"source_pk": np.arange(n_a), "ra": ra_a, "dec": dec_a, "mag_v": mag_a,
         "class": class_a, "field": "A"}
    )  # fmt: skip
    b = pd.DataFrame(
        {
            "source_pk": 100_000 + np.arange(idx.size + len(xy_x)),
            "ra": np.concatenate([ra_cp, ra_x]),
            "dec": np.concatenate([dec_cp, dec_x]),
            "mag_v": np.concatenate([mag_a[idx] + 0.05, rng.uniform(18, 26, len(xy_x))]),
            "class": np.concatenate([class_cp, rng.integers(1, 5, len(xy_x))]).astype(float),
            "field": np.where(np.arange(idx.size + len(xy_x)) % 2 == 0, "B1", "B2"),
        }
    )
    xi_b, eta_b = _plane(b["ra"].to_numpy(), b["dec"].to_numpy())
    in_ov_b = _inside(xi_b, eta_b, OVERLAP)
    return {
        "a": a, "b": b, "pairs": view_rows(a, b), "in_ov_a": in_ov_a, "in_ov_b": in_ov_b,
        "has_b": has_b, "idx": idx, "flip": flip, "n_counterparts": idx.size,
    }  # fmt: skip


def test_footprints_and_overlap_areas(synthetic: dict) -> None:
    fp = xd.run_footprints(synthetic["a"], synthetic["b"])
    assert fp.a.area.unit == u.arcsec**2
    assert fp.a.area.to_value(u.arcsec**2) == pytest.approx(80 * 80, rel=1e-5)
    assert fp.b.area.to_value(u.arcsec**2) == pytest.approx(80 * 80, rel=1e-5)
    assert fp.overlap.area.to_value(u.arcsec**2) == pytest.approx(OVERLAP_AREA, rel=1e-5)
    summary = fp.summary().set_index("region")
    assert summary.loc["overlap", "n_vertices"] == 4
    # the footprints computed from the view's rows are the same
    from_rows = xd.run_footprints(
        xd.side_sources(synthetic["pairs"], "a"), xd.side_sources(synthetic["pairs"], "b")
    )
    assert from_rows.overlap.area.to_value(u.arcsec**2) == pytest.approx(OVERLAP_AREA, rel=1e-5)
    # the overlap polygon on the sky: its vertices are inside, a shifted copy is not all inside
    verts = fp.overlap.sky_vertices()
    assert len(verts) == 5 and verts.iloc[0].equals(verts.iloc[-1])
    assert fp.overlap.contains(verts["ra"], verts["dec"]).all()
    assert not fp.overlap.contains(verts["ra"] + 1.0 / 3600, verts["dec"]).all()
    # a margin grows the region
    ra, dec = _sky(np.array([20.5]), np.array([0.0]))  # 0.5" east of the overlap
    assert not fp.overlap.contains(ra, dec)[0]
    assert fp.overlap.contains(ra, dec, margin=0.6 * u.arcsec)[0]
    assert not fp.overlap.contains([np.nan], [np.nan])[0]


def test_which_sources_are_inside_the_overlap(synthetic: dict) -> None:
    pairs = synthetic["pairs"]
    inside = xd.in_overlap(pairs)
    assert list(inside.columns) == ["in_overlap_a", "in_overlap_b"]
    # by source: the truth of the generator
    a_rows = pairs["source_pk_a"].notna()
    got_a = dict(
        zip(pairs.loc[a_rows, "source_pk_a"], inside.loc[a_rows, "in_overlap_a"], strict=True)
    )
    truth_a = dict(zip(synthetic["a"]["source_pk"], synthetic["in_ov_a"], strict=True))
    assert got_a == truth_a
    b_rows = pairs["source_pk_b"].notna()
    got_b = dict(
        zip(pairs.loc[b_rows, "source_pk_b"], inside.loc[b_rows, "in_overlap_b"], strict=True)
    )
    assert got_b == dict(zip(synthetic["b"]["source_pk"], synthetic["in_ov_b"], strict=True))
    # rows without a source of a side are outside on that side
    assert not inside.loc[~a_rows, "in_overlap_a"].any()


def test_matched_fraction_inside_overlap_only(synthetic: dict) -> None:
    pairs = synthetic["pairs"]
    table = xd.matched_fraction(pairs).set_index("side")
    n_cp = synthetic["n_counterparts"]
    assert (pairs["is_best"]).sum() == n_cp  # every injected counterpart was matched
    n_a = int(synthetic["in_ov_a"].sum())
    n_b = int(synthetic["in_ov_b"].sum())
    assert (table.loc["a", "n"], table.loc["a", "k"]) == (n_a, n_cp)
    # B: the counterparts the offset moved out of the overlap (east or south) do not count
    k_b = int(synthetic["in_ov_b"][:n_cp].sum())
    assert 0 < n_cp - k_b < 10
    assert (table.loc["b", "n"], table.loc["b", "k"]) == (n_b, k_b)
    assert table.loc["a", "fraction"] == pytest.approx(n_cp / n_a)
    lo, hi = binomial_interval(n_cp, n_a)
    assert (table.loc["a", "fraction_lo"], table.loc["a", "fraction_hi"]) == (lo, hi)
    # over the whole of side A (the old page's definition) the fraction would be far lower
    assert n_cp / len(synthetic["a"]) < 0.5 * table.loc["a", "fraction"]


def test_offsets_median_and_scatter(synthetic: dict) -> None:
    offsets = xd.pair_offsets(synthetic["pairs"])
    assert len(offsets) == synthetic["n_counterparts"]
    assert offsets.attrs["units"]["dra_cosdec_arcsec"] == "arcsec"
    summary = xd.offset_summary(offsets)
    assert summary.median_dra_cosdec.unit == u.arcsec
    # injected (+0.10, -0.05) arcsec with 0.02 arcsec jitter per axis, n ~ 1,000 pairs
    assert summary.median_dra_cosdec.to_value(u.arcsec) == pytest.approx(OFFSET[0], abs=0.004)
    assert summary.median_ddec.to_value(u.arcsec) == pytest.approx(OFFSET[1], abs=0.004)
    assert summary.scatter_dra_cosdec.to_value(u.arcsec) == pytest.approx(JITTER, rel=0.15)
    assert summary.scatter_ddec.to_value(u.arcsec) == pytest.approx(JITTER, rel=0.15)
    expected_err = np.sqrt(np.pi / 2) * JITTER / np.sqrt(summary.n)
    assert summary.median_error_ddec.to_value(u.arcsec) == pytest.approx(expected_err, rel=0.15)
    # the offset is the length of the two components, and agrees with the stored separation
    np.testing.assert_allclose(
        offsets["offset_arcsec"],
        np.hypot(offsets["dra_cosdec_arcsec"], offsets["ddec_arcsec"]),
        rtol=1e-6,
    )
    best = synthetic["pairs"][synthetic["pairs"]["is_best"]]
    np.testing.assert_allclose(offsets["offset_arcsec"], best["separation_arcsec"], atol=1e-9)
    row = summary.to_frame()
    assert row.loc[0, "median_dra_cosdec_arcsec"] == summary.median_dra_cosdec.value
    # an empty run: NaN, not an error
    empty = xd.offset_summary(xd.pair_offsets(synthetic["pairs"].iloc[0:0]))
    assert empty.n == 0 and np.isnan(empty.median_ddec.value)


def test_fractions_against_magnitude(synthetic: dict) -> None:
    pairs = synthetic["pairs"]
    a = synthetic["a"]
    bins = [18.0, 22.0, 26.0]
    matched = xd.matched_fraction_by_magnitude(pairs, bins=bins)
    inside, has_b, mag = synthetic["in_ov_a"], synthetic["has_b"], a["mag_v"].to_numpy()
    for row, (lo, hi) in zip(matched.itertuples(), [(18, 22), (22, 26)], strict=True):
        sel = inside & (mag >= lo) & ((mag < hi) if hi < 26 else (mag <= hi))
        assert (row.n, row.k) == (sel.sum(), has_b[sel].sum())
        assert row.fraction_lo <= row.fraction <= row.fraction_hi
    # generated 90 % and 50 %: within 3 sigma of the binomial errors
    assert matched["fraction"].to_numpy() == pytest.approx([0.9, 0.5], abs=0.06)
    flips = xd.class_flip_by_magnitude(pairs, bins=bins)
    # pairs with both sources in the overlap (A's always is)
    both = synthetic["in_ov_b"][: synthetic["n_counterparts"]]
    flip, mag_cp = synthetic["flip"][both], mag[synthetic["idx"]][both]
    assert list(flips["k"]) == [flip[mag_cp < 22].sum(), flip[mag_cp >= 22].sum()]
    assert list(flips["n"]) == [(mag_cp < 22).sum(), (mag_cp >= 22).sum()]
    assert flips["fraction"].to_numpy() == pytest.approx([0.1, 0.4], abs=0.06)
    total = xd.class_flip_fraction(pairs).iloc[0]
    assert (total["n"], total["k"]) == (flip.size, flip.sum())
    # default bins: 0.5 mag wide on multiples of 0.5 mag, every source of the overlap once
    default = xd.matched_fraction_by_magnitude(pairs)
    assert (np.diff(default["lo"]) == 0.5).all() and default["lo"].iloc[0] == 18.0
    assert default["n"].sum() == inside.sum()
    # W21 agreement inside the overlap: the same pairs
    agree = xd.overlap_agreement(pairs)
    assert agree["n"].iloc[0] == flip.size
    assert {"agreement_lo", "agreement_hi"} <= set(agree.columns)


def test_run_scope(synthetic: dict) -> None:
    scope = xd.run_scope(synthetic["pairs"])
    counts = {(r.side, r.field): r.n_sources for r in scope.itertuples()}
    n_b = len(synthetic["b"])
    assert counts == {("a", "A"): len(synthetic["a"]), ("b", "B1"): (n_b + 1) // 2,
                      ("b", "B2"): n_b // 2}  # fmt: skip


def test_subject_sides_with_doubles() -> None:
    """A double row names both sources; its subject is the side without a best row."""
    rows = pd.DataFrame(
        {
            "outcome": [
                "same_class",
                "double",
                "double",
                "unmatched",
                "unmatched_outside_footprint",
            ],
            "is_best": [True, False, False, False, False],
            "source_pk_a": pd.array([1, 2, 1, 3, None], dtype="Int64"),
            "source_pk_b": pd.array([10, 10, 11, None, 12], dtype="Int64"),
            "ra_a": [10.0, 10.001, 10.0, 10.002, None],
            "dec_a": [0.0, 0.0, 0.0, 0.0, None],
            "ra_b": [10.0, 10.0, 10.0005, None, 10.003],
            "dec_b": [0.0, 0.0, 0.0, None, 0.0],
            "mag_v_a": [20.0, 21.0, 20.0, 22.0, None],
            "mag_v_b": [20.1, 20.1, 23.0, None, 24.0],
            "class_a": [1.0, 2.0, 1.0, None, None],
            "class_b": [1.0, 1.0, 4.0, None, 3.0],
        }
    )
    assert list(xd.subject_sides(rows)) == ["ab", "a", "b", "a", "b"]
    a = xd.side_sources(rows, "a")
    b = xd.side_sources(rows, "b")
    assert list(a["source_pk"]) == [1, 2, 3] and list(a["matched"]) == [True, False, False]
    assert list(b["source_pk"]) == [10, 11, 12] and list(b["outcome"]) == [
        "same_class", "double", "unmatched_outside_footprint"
    ]  # fmt: skip
    # without the key columns, positions identify the sources
    no_keys = rows.drop(columns=["source_pk_a", "source_pk_b"])
    assert list(xd.subject_sides(no_keys)) == ["ab", "a", "b", "a", "b"]


def test_disjoint_sides_have_no_overlap() -> None:
    rng = np.random.default_rng(1)
    xy_a = _uniform(rng, 200, (-60.0, -10.0, -20.0, 20.0))
    xy_b = _uniform(rng, 200, (10.0, 60.0, -20.0, 20.0))
    a = pd.DataFrame(dict(zip(("ra", "dec"), _sky(xy_a[:, 0], xy_a[:, 1]), strict=True)))
    b = pd.DataFrame(dict(zip(("ra", "dec"), _sky(xy_b[:, 0], xy_b[:, 1]), strict=True)))
    for frame, name in ((a, "A"), (b, "B")):
        frame["source_pk"] = np.arange(len(frame)) + (0 if name == "A" else 1000)
        frame["mag_v"], frame["class"], frame["field"] = 21.0, 1.0, name
    pairs = view_rows(a, b)
    fp = xd.run_footprints(a, b)
    assert fp.overlap.is_empty and fp.overlap.area.value == 0.0
    table = xd.matched_fraction(pairs, fp)
    assert (table["n"] == 0).all() and table["fraction"].isna().all()
    assert table["fraction_lo"].isna().all()
    assert xd.class_flip_fraction(pairs, fp).iloc[0]["n"] == 0
    # too few sources for a hull: an empty footprint
    assert xd.footprint([10.0, 10.1], [0.0, 0.1]).is_empty


def test_separation_histogram_starts_at_zero() -> None:
    sep = np.array([0.0, 0.01, 0.05, 0.10, 0.15, 0.2999, 0.3, np.nan])
    hist = xd.separation_histogram(sep, bins=3, max_separation=0.3 * u.arcsec)
    assert hist["lo_arcsec"].iloc[0] == 0.0
    np.testing.assert_allclose(hist["hi_arcsec"], [0.1, 0.2, 0.3])
    assert list(hist["n"]) == [3, 2, 2]  # 0.10 in the second bin; 0.3 in the last (closed)
    assert hist["n"].sum() == 7  # NaN dropped
    # a Quantity in another unit; default top = the largest separation
    hist = xd.separation_histogram([50.0, 100.0, 200.0] * u.mas, bins=4)
    np.testing.assert_allclose(hist["hi_arcsec"].iloc[-1], 0.2)
    assert hist["n"].sum() == 3
    with pytest.raises(ValueError, match="negative"):
        xd.separation_histogram([-0.01, 0.1])
    with pytest.raises(ValueError, match="start at 0"):
        xd.separation_histogram([0.1], bins=[0.05, 0.1, 0.2])
    assert xd.separation_histogram([], bins=2)["n"].sum() == 0


def test_binned_fraction_and_magnitude_bins() -> None:
    np.testing.assert_allclose(xd.magnitude_bins([18.2, 19.9, 20.0], 0.5), np.arange(18, 20.5, 0.5))
    values = np.array([1.0, 1.5, 2.5, 3.0, np.nan, 9.0])
    success = np.array([True, False, True, True, True, True])
    table = xd.binned_fraction(values, success, [1.0, 2.0, 3.0])
    assert list(table["n"]) == [2, 2] and list(table["k"]) == [1, 2]  # 3.0 closes the last bin
    lo, hi = binomial_interval([1, 2], [2, 2])
    np.testing.assert_allclose(table["fraction_lo"], lo)
    np.testing.assert_allclose(table["fraction_hi"], hi)
    empty = xd.binned_fraction(values, success, [5.0, 6.0, 10.0])
    assert list(empty["n"]) == [0, 1] and np.isnan(empty["fraction"].iloc[0])


def test_legus_ngc628_c_against_e() -> None:
    """The two LEGUS NGC 628 fields overlap: match them and diagnose the overlap.

    Measured: 128 one-to-one pairs within 0.2"; 179 NGC 628-c sources and 175 NGC 628-e
    sources lie inside the overlap of the two hulls (2,187 arcsec²), so 72 % of each side
    there is matched (128 and 126: two pairs straddle the overlap's edge). The median offset
    is (0.000, +0.036) arcsec: the catalogues' positions are rounded to 1e-5 deg = 0.036"
    (the offset is one rounding step in Dec).
    """
    data = {}
    for field in ("c", "e"):
        name = f"hlsp_legus_hst_acs-wfc3_ngc628-{field}_multiband_v1_padagb-mwext-avgapcor.tab"
        cat = np.loadtxt(shared_path("legus", name))
        mag = np.where(cat[:, 11] < 60, cat[:, 11], np.nan)  # 66.666 / 99.999 sentinels
        cls = np.where(cat[:, 33] > 0, cat[:, 33], np.nan)  # 0 = not inspected
        data[field] = pd.DataFrame(
            {"source_pk": cat[:, 0].astype(int) + (0 if field == "c" else 100_000),
             "ra": cat[:, 3], "dec": cat[:, 4], "mag_v": mag, "class": cls,
             "field": f"ngc628-{field}"}
        )  # fmt: skip
    pairs = view_rows(data["c"], data["e"], 0.2 * u.arcsec)
    assert pairs["is_best"].sum() == 128
    fp = xd.run_footprints(xd.side_sources(pairs, "a"), xd.side_sources(pairs, "b"))
    assert 0 < fp.overlap.area < min(fp.a.area, fp.b.area)
    inside = xd.in_overlap(pairs, fp)
    best = pairs["is_best"].to_numpy()
    # pairs straddle the overlap's edge only where it is one side's hull edge: 2 of 128
    assert inside["in_overlap_a"][best].sum() == 128
    assert inside["in_overlap_b"][best].sum() == 126
    table = xd.matched_fraction(pairs, fp).set_index("side")
    assert (table.loc["a", "n"], table.loc["b", "n"]) == (179, 175)
    assert (table.loc["a", "k"], table.loc["b", "k"]) == (128, 126)
    assert table.loc["a", "fraction"] == pytest.approx(128 / 179)
    summary = xd.offset_summary(xd.pair_offsets(pairs))
    assert summary.median_dra_cosdec.to_value(u.arcsec) == pytest.approx(0.0, abs=1e-6)
    assert summary.median_ddec.to_value(u.arcsec) == pytest.approx(0.036, abs=1e-4)
    # the two fields were classified independently: 13 of the 22 classified pairs flip
    flips = xd.class_flip_fraction(pairs, fp).iloc[0]
    assert (flips["n"], flips["k"]) == (22, 13)
    # the matched fraction of 628-c falls with magnitude: 17/17 brighter than V = 22,
    # 32/60 at V = 24-26
    by_mag = xd.matched_fraction_by_magnitude(pairs, fp, bins=[18, 22, 23, 24, 26])
    assert list(zip(by_mag["n"], by_mag["k"], strict=True)) == [
        (17, 17),
        (31, 23),
        (71, 56),
        (60, 32),
    ]
    hist = xd.separation_histogram(
        pairs.loc[best, "separation_arcsec"], bins=10, max_separation=0.2 * u.arcsec
    )
    assert hist["lo_arcsec"].iloc[0] == 0.0 and hist["n"].sum() == 128
