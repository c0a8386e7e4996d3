"""Cone search: q3c on PostgreSQL, the bounding-box fallback on SQLite, same answers on both.

The expected answers come from astropy (``SkyCoord.separation``) over the synthetic sources
each test inserts, never from :mod:`clustercat.schema.cone` itself. The awkward places are
covered on purpose: RA = 0/360, both poles, caps that contain a pole, a high-declination cap
whose RA extent is much wider than its radius, and a release that is still loading.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from click.testing import CliRunner
from clustercat.schema import make_engine, migrate
from clustercat.schema.cli_sql import cone_cmd
from clustercat.schema.cone import (
    CONE_COLUMNS,
    cone_query,
    cone_search,
    parse_position,
    parse_radius,
)
from sqlalchemy import Connection, Engine, text

DEG_TOL = 1e-9  # deg: "distances to 1e-9 deg"


def _fixed_positions() -> list[tuple[float, float]]:
    """Sources at the awkward places."""
    pts = []
    # across RA = 0/360 on the equator and at Dec 60
    for dec in (0.0, 60.0):
        for ra in (359.9990, 359.9995, 359.9999, 0.0, 0.0001, 0.0005, 0.0010, 359.99, 0.01):
            pts.append((ra, dec + 0.0001))
    # near the north pole, all around it, and the pole itself
    for ra in np.arange(0.0, 360.0, 22.5):
        pts += [(float(ra), 89.9990), (float(ra), 89.9997), (float(ra), 89.99)]
    pts.append((0.0, 90.0))
    # near the south pole
    for ra in np.arange(5.0, 360.0, 40.0):
        pts += [(float(ra), -89.9995), (float(ra), -89.998)]
    # a high-declination cap: the RA window is ~5.8x the radius at Dec 80
    for dra in (-0.0180, -0.0155, -0.0100, 0.0, 0.0100, 0.0155, 0.0180):
        pts.append((200.0 + dra, 80.0))
    return pts


def _random_positions(n: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    ra = 150.0 + rng.uniform(-0.05, 0.05, n)
    dec = 2.0 + rng.uniform(-0.05, 0.05, n)
    return list(zip(ra.tolist(), dec.tolist(), strict=True))


CONES: list[tuple[float, float, str]] = [
    (0.0, 0.0001, "2arcsec"),  # straddles RA = 0
    (359.9999, 0.0, "1.5arcsec"),
    (0.0005, 60.0001, "2arcsec"),  # RA = 0 at Dec 60 (RA window 2x wider)
    (359.995, 60.0, "1arcmin"),
    (0.0, 90.0, "5arcsec"),  # centred on the pole
    (123.0, 89.9995, "5arcsec"),  # cap containing the pole
    (77.0, 89.995, "0.5arcmin"),
    (0.0, -90.0, "3arcsec"),
    (250.0, -89.999, "6arcsec"),
    (200.0, 80.0, "10arcsec"),  # high-Dec cap: sources 0.0155 deg of RA away are inside
    (150.0, 2.0, "30arcsec"),
    (150.02, 1.98, "1arcmin"),
    (10.0, 10.0, "1arcsec"),  # empty
]


def _insert(conn: Connection, name: str, status: str, positions: list[tuple[float, float]]) -> int:
    conn.execute(
        text(
            "INSERT INTO catalogue_release (name, version, survey_id, status, morphology_version) "
            "VALUES (:name, 1, (SELECT id FROM survey WHERE name = 'LEGUS'), :status, 'catalogue')"
        ),
        {"name": name, "status": status},
    )
    rid = conn.execute(
        text("SELECT id FROM catalogue_release WHERE name = :n"), {"n": name}
    ).scalar_one()
    gal = conn.execute(text("SELECT id FROM galaxy WHERE name = 'CONE 1'")).scalar()
    if gal is None:
        conn.execute(text("INSERT INTO galaxy (name, distance_mpc) VALUES ('CONE 1', 5.0)"))
        gal = conn.execute(text("SELECT id FROM galaxy WHERE name = 'CONE 1'")).scalar_one()
        conn.execute(text("INSERT INTO field (name, galaxy_id) VALUES ('cone1', :g)"), {"g": gal})
    fid = conn.execute(text("SELECT id FROM field WHERE name = 'cone1'")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO source (release_id, field_id, id_in_release, ra, dec, flags) "
            "VALUES (:r, :f, :i, :ra, :dec, 0)"
        ),
        [
            {"r": rid, "f": fid, "i": k + 1, "ra": ra, "dec": dec}
            for k, (ra, dec) in enumerate(positions)
        ],
    )
    return int(rid)


def _visible_releases() -> dict[str, list[tuple[float, float]]]:
    return {
        "cone-a": _fixed_positions() + _random_positions(300, seed=3),
        "cone-b": _random_positions(50, seed=4) + [(0.0, 0.0001), (0.0, 90.0)],
    }


@pytest.fixture
def cone_data(connection: Connection) -> dict[str, list[tuple[float, float]]]:
    """Three releases in the rolled-back test transaction: two complete, one loading."""
    releases = _visible_releases()
    for name, positions in releases.items():
        _insert(connection, name, "complete", positions)
    _insert(connection, "cone-loading", "loading", [(0.0, 0.0001), (150.0, 2.0)])
    return releases


def _expected(
    releases: dict[str, list[tuple[float, float]]], ra0: float, dec0: float, radius: str
) -> pd.DataFrame:
    """(release, source_id, distance) of every source within radius, by astropy."""
    centre = SkyCoord(ra0 * u.deg, dec0 * u.deg)
    limit = u.Quantity(radius).to_value(u.deg)
    rows = []
    for name, positions in releases.items():
        ra, dec = np.array(positions).T
        sep = centre.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg
        for k in np.flatnonzero(sep <= limit):
            rows.append((name, k + 1, sep[k]))
    return pd.DataFrame(rows, columns=["release", "source_id", "distance_deg"])


@pytest.mark.parametrize(("ra0", "dec0", "radius"), CONES)
def test_cone_search_matches_astropy(
    connection: Connection, cone_data: dict, backend: str, ra0: float, dec0: float, radius: str
) -> None:
    got = cone_search(connection, ra0, dec0, radius)
    want = _expected(cone_data, ra0, dec0, radius)
    assert list(got.columns) == list(CONE_COLUMNS)
    assert sorted(zip(got["release"], got["source_id"], strict=True)) == sorted(
        zip(want["release"], want["source_id"], strict=True)
    )
    merged = got.merge(want, on=["release", "source_id"])
    assert np.all(np.abs(merged["distance_arcsec"] / 3600 - merged["distance_deg"]) <= DEG_TOL)
    assert got["distance_arcsec"].is_monotonic_increasing
    assert "cone-loading" not in set(got["release"])


def test_cone_cases_are_not_trivial() -> None:
    """The awkward cones really catch sources on both sides of RA = 0, around the poles and
    at the far RA edge of the high-declination cap."""
    counts = {c: len(_expected(_visible_releases(), *c)) for c in CONES}
    assert counts[(0.0, 0.0001, "2arcsec")] == 6  # 359.9995 .. 0.0005 (+ cone-b's source)
    assert counts[(0.0, 90.0, "5arcsec")] == 2 * 16 + 2  # 89.999 and 89.9997 rings, 2 poles
    assert counts[(123.0, 89.9995, "5arcsec")] > 16
    assert counts[(200.0, 80.0, "10arcsec")] == 5  # RA offsets up to 0.0155 deg inside
    assert counts[(10.0, 10.0, "1arcsec")] == 0


def test_release_filter(connection: Connection, cone_data: dict, backend: str) -> None:
    both = cone_search(connection, 0.0, 0.0001, "2arcsec")
    only_b = cone_search(connection, 0.0, 0.0001, "2arcsec", release="cone-b")
    assert set(both["release"]) == {"cone-a", "cone-b"}
    assert list(only_b["release"]) == ["cone-b"]
    assert cone_search(connection, 0.0, 0.0001, "2arcsec", release="cone-loading").empty


def test_postgresql_q3c_and_bbox_agree_exactly(
    connection: Connection, cone_data: dict, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("q3c is PostgreSQL only")
    for ra0, dec0, radius in CONES:
        q3c = cone_search(connection, ra0, dec0, radius, method="q3c")
        box = cone_search(connection, ra0, dec0, radius, method="bbox")
        pd.testing.assert_frame_equal(q3c, box)


@pytest.fixture(scope="module")
def two_backends(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Engine]]:
    """The same 3000 random sources (plus the awkward ones) in a new SQLite file and a new
    PostgreSQL database, for a direct comparison of the two backends."""
    dbs = request.getfixturevalue("postgres_databases")
    pg_url = dbs.create("clustercat_cone")
    request.addfinalizer(lambda: dbs.drop(pg_url))
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('cone') / f'{uuid.uuid4().hex}.db'}"
    rng = np.random.default_rng(11)
    ra = np.concatenate([rng.uniform(0, 360, 1000), rng.uniform(359.9, 360.1, 1000) % 360])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 1000))),
                          rng.uniform(-0.1, 0.1, 1000)])  # fmt: skip
    polar = np.column_stack([rng.uniform(0, 360, 1000), rng.uniform(89.8, 90.0, 1000)])
    positions = list(zip(ra, dec, strict=True)) + [tuple(p) for p in polar] + _fixed_positions()
    engines = {}
    for name, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
        migrate.upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            _insert(conn, "both", "complete", [(float(a) % 360, float(d)) for a, d in positions])
        engines[name] = engine
    yield engines
    for engine in engines.values():
        engine.dispose()


def test_sqlite_and_postgresql_give_identical_answers(two_backends: dict[str, Engine]) -> None:
    rng = np.random.default_rng(5)
    centres = [(0.0, 0.0, "0.1deg"), (359.95, 0.05, "5arcmin"), (10.0, 89.9, "0.2deg"),
               (0.0, 90.0, "0.05deg"), (180.0, -89.95, "0.2deg")]  # fmt: skip
    centres += [(float(rng.uniform(0, 360)), float(rng.uniform(-0.1, 0.1)), "2arcmin")
                for _ in range(15)]  # fmt: skip
    total = 0
    for ra0, dec0, radius in centres:
        lite = cone_search(two_backends["sqlite"], ra0, dec0, radius)
        pg = cone_search(two_backends["postgresql"], ra0, dec0, radius)
        assert list(lite["source_id"]) == list(pg["source_id"]), (ra0, dec0, radius)
        assert np.all(np.abs(lite["distance_arcsec"] - pg["distance_arcsec"]) / 3600 <= DEG_TOL)
        total += len(lite)
    assert total > 200  # the comparison is not vacuous


def test_explain_uses_the_q3c_index(backend: str, legus_engine: Engine) -> None:
    """Acceptance: a 1-arcmin cone search on PostgreSQL uses ix_source_q3c (on SQLite: the
    (dec, ra) index)."""
    query = cone_query(legus_engine.dialect.name, 24.17396, 15.78367, 1.0 / 60)
    with legus_engine.connect() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql("ANALYZE source")
            plan = "\n".join(conn.execute(text("EXPLAIN " + query.sql), query.params).scalars())
            assert query.method == "q3c"
            assert "ix_source_q3c" in plan and "Seq Scan on source" not in plan
        else:
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + query.sql), query.params).all()
            plan = "\n".join(str(r[-1]) for r in rows)
            assert "ix_source_dec_ra" in plan and "SCAN s" not in plan
        conn.rollback()


def test_cone_on_legus_counts_like_numpy(backend: str, legus_engine: Engine) -> None:
    """1' around the NGC 628 centre: the count of a brute-force astropy separation over every
    source position of the release (read back unfiltered)."""
    with legus_engine.connect() as conn:
        ra, dec = np.array(conn.execute(text("SELECT ra, dec FROM source")).all()).T
    sep = SkyCoord(24.17396 * u.deg, 15.78367 * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg))
    frame = cone_search(legus_engine, 24.17396, 15.78367, "1arcmin", release="legus")
    assert len(frame) == int((sep.arcsec <= 60).sum()) == 1221
    assert frame["galaxy"].unique().tolist() == ["NGC 628"]
    assert frame["mag_v"].notna().sum() > 1000


def test_cli_cone_csv_and_table(backend: str, legus_db_url: str) -> None:
    runner = CliRunner()
    obj = {"database": legus_db_url}
    # NGC 1566: negative Dec as an argument, sexagesimal and degrees
    sexa = runner.invoke(cone_cmd, ["04:20:00.42", "-54:56:16.1", "20arcsec", "--csv"], obj=obj)
    assert sexa.exit_code == 0, sexa.output
    lines = sexa.output.strip().splitlines()
    assert lines[0] == ",".join(CONE_COLUMNS)
    ra0, dec0 = parse_position("04:20:00.42", "-54:56:16.1")
    engine = make_engine(legus_db_url)
    frame = cone_search(engine, ra0, dec0, "20arcsec")
    engine.dispose()
    assert len(lines) - 1 == len(frame) > 10
    degrees = runner.invoke(cone_cmd, [f"{ra0!r}", f"{dec0!r}", "20arcsec", "--csv"], obj=obj)
    assert degrees.output == sexa.output
    pretty = runner.invoke(cone_cmd, [str(ra0), str(dec0), "20arcsec", "--release", "legus"],
                           obj=obj)  # fmt: skip
    assert pretty.exit_code == 0 and f"{len(frame)} sources within 20arcsec" in pretty.output
    no_unit = runner.invoke(cone_cmd, ["65", "-54.9", "20"], obj=obj)
    assert no_unit.exit_code == 2 and "has no unit" in no_unit.output


def test_parse_radius_and_position() -> None:
    assert parse_radius("1arcmin") == 60 * u.arcsec
    assert parse_radius("0.5 deg").to_value(u.arcsec) == pytest.approx(1800)
    assert parse_radius(3 * u.arcsec) == 3 * u.arcsec
    for bad in ("1", "1 kg", "-1arcsec", "181deg", "one arcmin"):
        with pytest.raises(ValueError):
            parse_radius(bad)
    with pytest.raises(TypeError):
        parse_radius(1.0)  # type: ignore[arg-type]
    # the one radius rule, shared with the cross-match: pixels need a pixel scale
    assert parse_radius('30"') == 30 * u.arcsec
    assert parse_radius("2px", "0.04").to_value(u.arcsec) == pytest.approx(0.08)
    with pytest.raises(ValueError, match="pixel scale"):
        parse_radius("2px")
    assert parse_position("04:20:00", "-54:56:00") == pytest.approx((65.0, -54.933333333))
    assert parse_position("4h20m0s", "-54d56m0s") == pytest.approx((65.0, -54.933333333))
    assert parse_position("65.0", "-54.9") == (65.0, -54.9)
    assert parse_position(370.0, 10.0) == (10.0, 10.0)
    assert parse_position(1 * u.hourangle, 0.5 * u.deg) == pytest.approx((15.0, 0.5))
    with pytest.raises(ValueError):
        parse_position(10.0, 91.0)


@pytest.mark.parametrize(
    ("ra", "dec"),
    [("nan", "10"), ("10", "nan"), ("inf", "10"), ("10", "-inf"), ("NaN", "NaN"),
     ("10", "91"), ("1e400", "0")],
)  # fmt: skip
def test_non_finite_cone_centre_is_refused(
    ra: str, dec: str, backend: str, legus_db_url: str
) -> None:
    """Issue 13: NaN or inf coordinates used to return 0 rows with exit 0."""
    with pytest.raises(ValueError, match="finite"):
        parse_position(ra, dec)
    with pytest.raises(ValueError, match="finite"):
        parse_position(float(ra), float(dec))
    out = CliRunner().invoke(cone_cmd, [ra, dec, "20arcsec"], obj={"database": legus_db_url})
    assert out.exit_code == 2, out.output
    assert "finite" in out.output and "sources within" not in out.output


def test_unknown_release_is_an_error(backend: str, legus_db_url: str) -> None:
    out = CliRunner().invoke(
        cone_cmd, ["24.17", "15.78", "1arcmin", "--release", "no-such-release"],
        obj={"database": legus_db_url},
    )  # fmt: skip
    assert out.exit_code == 2 and "no release named 'no-such-release'" in out.output


def test_cone_searches_only_the_newest_version(session, backend: str) -> None:  # noqa: ANN001
    """After a new version completes, the cone search (like the views) shows only it."""
    from factories import make_release

    old = make_release(session, name="cone-versions", status="complete", n_sources=3)
    old.status = "superseded"  # the one change a complete release allows
    session.flush()
    new = make_release(session, name="cone-versions-2", status="loading", n_sources=2)
    new.name, new.version = "cone-versions", 2
    session.flush()
    new.status = "complete"
    session.flush()
    found = cone_search(session.connection(), 24.17, 15.78, "30arcsec", release="cone-versions")
    assert len(found) == 2
    assert set(found["release"]) == {"cone-versions"}
