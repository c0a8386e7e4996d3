"""Cross-match in the database: LEGUS NGC 628-c against 628-e (two real, overlapping pointings).

Every number is checked against an independent computation written here: astropy's
``search_around_sky`` plus a plain greedy one-to-one loop, astropy offsets, and scipy's
Delaunay triangulation for the footprint. On PostgreSQL the q3c path must give exactly the
KD-tree path's pairs.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord, search_around_sky
from clustercat.processing.catalogue_io import (
    read_crossmatch_pairs,
    read_crossmatch_run,
    resolve_side,
)
from clustercat.processing.crossmatch import unit_vectors
from clustercat.processing.crossmatch_db import (
    OUTCOMES,
    DatabaseMatch,
    Q3cUnavailableError,
    match_sides,
    outcome_counts,
    store_match,
)
from clustercat.processing.footprint import tangent_plane
from clustercat.schema.sky import parse_offset, parse_pixel_scale, parse_radius
from scipy.spatial import Delaunay
from sqlalchemy import Connection, Engine, text

A, B = "legus:ngc628c", "legus:ngc628e"
#: One-to-one pairs of NGC 628-c x 628-e, greedy by separation (checked below with astropy).
EXPECTED_PAIRS = {0.05: 109, 0.1: 122, 0.2: 128}


def _positions(conn: Connection, field: str) -> pd.DataFrame:
    """Sources of a LEGUS field straight from the source table, ordered by key."""
    rows = conn.execute(
        text(
            "SELECT s.id, s.ra, s.dec FROM source s JOIN field f ON f.id = s.field_id "
            "JOIN catalogue_release r ON r.id = s.release_id "
            "WHERE r.name = 'legus' AND f.name = :f ORDER BY s.id"
        ),
        {"f": field},
    ).all()
    return pd.DataFrame(rows, columns=["pk", "ra", "dec"])


def _greedy_astropy(
    a: pd.DataFrame, b: pd.DataFrame, radius_arcsec: float, shift=(0.0, 0.0)
) -> dict[tuple[int, int], float]:
    """Independent one-to-one: astropy pairs, then accept in order of separation."""
    ca = SkyCoord(a["ra"].to_numpy(), a["dec"].to_numpy(), unit="deg")
    if shift != (0.0, 0.0):
        ca = ca.spherical_offsets_by(shift[0] * u.arcsec, shift[1] * u.arcsec)
    cb = SkyCoord(b["ra"].to_numpy(), b["dec"].to_numpy(), unit="deg")
    ia, ib, d2d, _ = search_around_sky(ca, cb, radius_arcsec * u.arcsec)
    sep = d2d.to_value(u.arcsec)
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: dict[tuple[int, int], float] = {}
    for k in np.lexsort((ib, ia, sep)):  # the loop the library avoids, written out plainly
        if ia[k] in used_a or ib[k] in used_b:
            continue
        used_a.add(int(ia[k]))
        used_b.add(int(ib[k]))
        pairs[(int(a["pk"].iat[ia[k]]), int(b["pk"].iat[ib[k]]))] = float(sep[k])
    return pairs


def _pairs_of(match: DatabaseMatch) -> dict[tuple[int, int], float]:
    best = match.matched_pairs()
    return {
        (int(x), int(y)): float(s)
        for x, y, s in zip(
            best["source_a_pk"], best["source_b_pk"], best["separation_arcsec"], strict=True
        )
    }


@pytest.mark.parametrize("radius", sorted(EXPECTED_PAIRS))
def test_pair_counts_equal_astropy_greedy(legus_engine: Engine, backend: str, radius: float):
    with legus_engine.connect() as conn:
        a, b = _positions(conn, "ngc628c"), _positions(conn, "ngc628e")
        expected = _greedy_astropy(a, b, radius)
        methods = ["kdtree", "q3c"] if backend == "postgresql" else ["kdtree"]
        for method in methods:
            match = match_sides(conn, A, B, f"{radius}arcsec", method=method)
            got = _pairs_of(match)
            assert match.n_pairs == len(expected) == EXPECTED_PAIRS[radius]
            assert got.keys() == expected.keys()
            assert np.allclose(
                [got[k] for k in expected], list(expected.values()), rtol=0, atol=1e-6
            )


def test_q3c_gives_identical_pairs_and_outcomes(legus_engine: Engine, backend: str):
    if backend != "postgresql":
        with legus_engine.connect() as conn, pytest.raises(Q3cUnavailableError):
            match_sides(conn, A, B, "0.1arcsec", method="q3c")
        return
    with legus_engine.connect() as conn:
        for radius in sorted(EXPECTED_PAIRS):
            opts = {"class_method_a": "primary", "class_method_b": "primary"}
            kd = match_sides(conn, A, B, f"{radius}arcsec", method="kdtree", **opts)
            q3 = match_sides(conn, A, B, f"{radius}arcsec", method="q3c", **opts)
            pk, pq = _pairs_of(kd), _pairs_of(q3)
            assert pk.keys() == pq.keys()
            assert max(abs(pk[k] - pq[k]) for k in pk) <= 1e-6
            # the q3c_dist cross-check against our separation formula
            assert q3.config["q3c_max_abs_diff_arcsec"] < 1e-6
            pd.testing.assert_frame_equal(kd.pairs, q3.pairs)
            # and with an offset, where the q3c search is widened and cut in Python
            shift = "0.05,-0.03"
            kd = match_sides(conn, A, B, f"{radius}arcsec", offset=shift, method="kdtree")
            q3 = match_sides(conn, A, B, f"{radius}arcsec", offset=shift, method="q3c")
            pd.testing.assert_frame_equal(kd.pairs, q3.pairs)


def test_offset_matches_astropy_spherical_offsets(legus_engine: Engine):
    shift = (0.04, -0.03)  # arcsec, dRA cos(Dec), dDec
    with legus_engine.connect() as conn:
        a, b = _positions(conn, "ngc628c"), _positions(conn, "ngc628e")
        expected = _greedy_astropy(a, b, 0.1, shift)
        match = match_sides(conn, A, B, "0.1arcsec", offset=f"{shift[0]},{shift[1]}")
    got = _pairs_of(match)
    assert got.keys() == expected.keys()
    assert np.allclose([got[k] for k in expected], list(expected.values()), atol=1e-6)
    assert len(got) != EXPECTED_PAIRS[0.1]  # the offset changes the answer


def test_every_source_has_one_outcome(legus_engine: Engine):
    with legus_engine.connect() as conn:
        m = match_sides(conn, A, B, "0.2arcsec", class_method_a="primary", class_method_b="primary")
        classes = dict(
            conn.execute(
                text(
                    "SELECT source_pk, \"class\" FROM source_classes WHERE release = 'legus' "
                    "AND method = 'LEGUS human mode' AND field IN ('ngc628c', 'ngc628e')"
                )
            ).all()
        )
    p = m.pairs
    n_a, n_b = len(m.sources_a), len(m.sources_b)
    assert len(p) == n_a + n_b - m.n_pairs
    # each source is the subject of exactly one row: its best pair, or its own row (a
    # double row names a counterpart that has its own best row, so the subject is the other)
    best = p[p["is_best"]]
    rest = p[~p["is_best"]]
    both = rest["source_a_pk"].notna() & rest["source_b_pk"].notna()
    a_own = rest["source_b_pk"].isna() | (both & ~rest["source_a_pk"].isin(best["source_a_pk"]))
    b_own = rest["source_a_pk"].isna() | (both & ~rest["source_b_pk"].isin(best["source_b_pk"]))
    assert not (a_own & b_own).any()
    subjects_a = pd.concat([best["source_a_pk"], rest.loc[a_own, "source_a_pk"]])
    subjects_b = pd.concat([best["source_b_pk"], rest.loc[b_own, "source_b_pk"]])
    assert sorted(subjects_a.astype(int)) == sorted(m.sources_a["source_pk"])
    assert sorted(subjects_b.astype(int)) == sorted(m.sources_b["source_pk"])
    # doubles: the counterpart they name is matched one-to-one, and farther from them
    doubles = rest[both]
    assert (doubles["outcome"] == "double").all() and len(doubles) > 0
    for row in doubles.itertuples():
        if row.source_b_pk in set(best["source_b_pk"]) and row.source_a_pk not in set(
            best["source_a_pk"]
        ):
            partner = best[best["source_b_pk"] == row.source_b_pk]
        else:
            partner = best[best["source_a_pk"] == row.source_a_pk]
        assert partner["separation_arcsec"].iat[0] <= row.separation_arcsec
    # class outcomes follow the LEGUS human classes, computed here from source_classes
    for row in best.itertuples():
        ca, cb = classes.get(int(row.source_a_pk)), classes.get(int(row.source_b_pk))
        want = "matched" if ca is None or cb is None else (
            "same_class" if ca == cb else "other_class"
        )  # fmt: skip
        assert row.outcome == want
    counts = outcome_counts(p)
    assert list(counts.index) == list(OUTCOMES)
    assert counts.sum() == len(p)
    assert counts["same_class"] + counts["other_class"] + counts["matched"] == m.n_pairs == 128


def test_outside_footprint_is_outside_the_other_field(legus_engine: Engine):
    with legus_engine.connect() as conn:
        m = match_sides(conn, A, B, "0.1arcsec")
    va = unit_vectors(m.sources_a["ra"], m.sources_a["dec"])
    vb = unit_vectors(m.sources_b["ra"], m.sources_b["dec"])
    centre = np.concatenate([va, vb]).sum(axis=0)
    hull_b = Delaunay(tangent_plane(vb, centre))
    inside_b = hull_b.find_simplex(tangent_plane(va, centre)) >= 0
    pk_a = m.sources_a["source_pk"].to_numpy()
    outside = m.pairs[
        (m.pairs["outcome"] == "unmatched_outside_footprint") & m.pairs["source_b_pk"].isna()
    ]
    flagged = np.isin(pk_a, outside["source_a_pk"].astype(int))
    assert flagged.sum() > 2000  # most of the central field lies outside the E pointing
    assert not (flagged & inside_b).any()  # never inside the other field's hull
    unmatched_inside = m.pairs[m.pairs["outcome"] == "unmatched"]
    assert len(unmatched_inside) > 0


def test_classified_only_and_not_candidate(legus_engine: Engine):
    with legus_engine.connect() as conn:
        m = match_sides(
            conn, A, B, "0.2arcsec", class_method_a="LEGUS human mode",
            class_method_b="LEGUS human mode", classified_only=True,
        )  # fmt: skip
        classified = set(
            conn.execute(
                text(
                    "SELECT source_pk FROM source_classes WHERE release = 'legus' "
                    "AND method = 'LEGUS human mode' AND field IN ('ngc628c', 'ngc628e')"
                )
            ).scalars()
        )
    best = m.pairs[m.pairs["is_best"]]
    assert set(best["outcome"]) <= {"same_class", "other_class"}
    assert best["source_a_pk"].isin(classified).all() and best["source_b_pk"].isin(classified).all()
    assert len(best) >= 22  # at least the 9 + 13 classified pairs of the full match
    # unclassified sources are no subjects: one row per classified source, pairs counted once
    n_a = int(m.sources_a["source_pk"].isin(classified).sum())
    n_b = int(m.sources_b["source_pk"].isin(classified).sum())
    assert len(m.pairs) == n_a + n_b - len(best)
    # "not a candidate": an unclassified source of the other side lies within the radius
    not_cand = m.pairs[m.pairs["outcome"] == "unmatched_not_candidate"]
    assert len(not_cand) > 0
    for mine, theirs, col in (
        (m.sources_a, m.sources_b, "source_a_pk"),
        (m.sources_b, m.sources_a, "source_b_pk"),
    ):
        subject = mine[mine["source_pk"].isin(not_cand[col].dropna().astype(int))]
        if subject.empty:
            continue
        others = theirs[~theirs["source_pk"].isin(classified)]
        cs = SkyCoord(subject["ra"].to_numpy(), subject["dec"].to_numpy(), unit="deg")
        co = SkyCoord(others["ra"].to_numpy(), others["dec"].to_numpy(), unit="deg")
        idx, _, _, _ = search_around_sky(cs, co, 0.2 * u.arcsec)
        assert set(idx) == set(range(len(subject)))


def test_stored_run_reads_back(legus_engine: Engine, backend: str):
    method = "q3c" if backend == "postgresql" else "kdtree"
    with legus_engine.connect() as conn:
        trans = conn.begin()
        try:
            m = match_sides(
                conn, A, B, "2pix", pixel_scale="0.04arcsec/pix", method=method,
                offset="0.01,0.0", class_method_a="primary", class_method_b="primary",
            )  # fmt: skip
            run_id = store_match(conn, m)
            run = read_crossmatch_run(conn, run_id)
            stored = read_crossmatch_pairs(conn, run_id)
        finally:
            trans.rollback()
    assert run["n_pairs"] == m.n_pairs
    assert run["radius_arcsec"] == pytest.approx(0.08)
    assert (run["field_a"], run["field_b"], run["method"]) == ("ngc628c", "ngc628e", method)
    assert run["offset_ra_arcsec"] == pytest.approx(0.01)
    assert run["class_method_a"] == run["class_method_b"] == "LEGUS human mode"
    assert run["config"]["outcome_counts"] == {k: int(v) for k, v in m.counts.items()}
    assert outcome_counts(stored).equals(m.counts)
    mine = m.pairs.sort_values(["source_a_pk", "source_b_pk"], na_position="last")
    mine = mine.reset_index(drop=True)
    pd.testing.assert_series_equal(mine["outcome"], stored["outcome"])
    pd.testing.assert_series_equal(mine["is_best"], stored["is_best"])
    assert (mine["source_a_pk"].fillna(-1) == stored["source_a_pk"].fillna(-1)).all()
    assert (mine["source_b_pk"].fillna(-1) == stored["source_b_pk"].fillna(-1)).all()
    assert np.allclose(
        mine["separation_arcsec"].fillna(-1), stored["separation_arcsec"].fillna(-1), atol=1e-9
    )


def test_units_at_the_boundary(legus_engine: Engine):
    assert parse_radius("0.1arcsec").to_value(u.arcsec) == pytest.approx(0.1)
    assert parse_radius("1e-5deg").to_value(u.arcsec) == pytest.approx(0.036)
    assert parse_radius("0.001 arcmin").to_value(u.arcsec) == pytest.approx(0.06)
    scale = parse_pixel_scale("0.0396")
    assert parse_radius("2px", scale).to_value(u.arcsec) == pytest.approx(0.0792)
    assert parse_radius("2 pix", scale).to_value(u.arcsec) == pytest.approx(0.0792)
    with pytest.raises(ValueError, match="unit"):
        parse_radius("0.1")
    with pytest.raises(ValueError):
        parse_radius("2pix")  # no pixel scale
    with pytest.raises(u.UnitsError):
        parse_radius("2 kg")
    d_ra, d_dec = parse_offset("0.02,-1e-5deg")
    assert d_ra.to_value(u.arcsec) == pytest.approx(0.02)
    assert d_dec.to_value(u.arcsec) == pytest.approx(-0.036)
    with legus_engine.connect() as conn:
        side = resolve_side(conn, "legus:NGC628-C")
        assert side.field is not None and side.field.name == "ngc628c"
        # LEGUS fields carry the survey's 0.04"/pix grid: 2 px is 0.08"
        by_pixels = match_sides(conn, A, B, "2pix")
        by_arcsec = match_sides(conn, A, B, "0.08arcsec")
        assert by_pixels.n_pairs == by_arcsec.n_pairs > 0
        with pytest.raises(ValueError, match="positive"):
            match_sides(conn, A, B, "0arcsec")
