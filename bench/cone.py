"""Benchmark: cone search with q3c on PostgreSQL against the bounding-box fallback.

    python bench/cone.py postgresql://root@/postgres?host=/var/run/postgresql
    python bench/cone.py URL --n 1e5 --cones 100      # quicker
    python bench/cone.py --sqlite-only                # no PostgreSQL server

The URL names a PostgreSQL server and a user allowed to create databases (any database on
it; default ``$CLUSTERCAT_TEST_POSTGRES_URL``). The script creates a throwaway database
there and a throwaway SQLite file, migrates both to head (so the q3c index of revision 0004
and the ``(dec, ra)`` B-tree of the models exist), loads the same ``--n`` synthetic sources
into both (``COPY`` on PostgreSQL, one ``executemany`` on SQLite) with five total
magnitudes each (NUV, U, B, V, I: one ``INSERT ... SELECT``), runs ``ANALYZE``, and times
:func:`clustercat.schema.cone.cone_search` for ``--cones`` cones of ``--radius``:

* PostgreSQL, q3c (``q3c_radial_query`` on the q3c index): our path;
* PostgreSQL, bounding box on the ``(dec, ra)`` B-tree: the baseline, same server;
* SQLite, bounding box on the ``(dec, ra)`` index: the embedded fallback.

Sources sit in ``--fields`` circular fields of 3 arcmin radius at random sky positions
(uniform on the sphere, so some straddle RA = 0/360 or sit near a pole), uniformly inside
each field: at N = 10^6 and 200 fields that is ~180 sources per arcmin^2, like a crowded
LEGUS pointing, so a 1-arcmin cone returns ~550 sources. Cone centres are random sources
(each cone hits data). Times are per call, end to end (SQL, transfer, exact distance cut,
sorting, the V-magnitude lookup of the sources found, DataFrame), on a warm connection;
every cone's three answers (rows, distances, V magnitudes) are checked to be identical.
Both databases are dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from clustercat.schema import make_engine, migrate
from clustercat.schema.cone import cone_search
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

FIELD_RADIUS_ARCMIN = 3.0


def synthetic_sources(
    n: int, n_fields: int, seed: int = 7
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ra, dec, field index) of ``n`` sources in ``n_fields`` discs of 3 arcmin radius."""
    rng = np.random.default_rng(seed)
    # field centres uniform on the sphere
    ra_c = rng.uniform(0.0, 360.0, n_fields)
    dec_c = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_fields)))
    # make sure the awkward places are exercised
    ra_c[:3] = [0.01, 359.99, 180.0]
    dec_c[:3] = [10.0, -30.0, 89.97]
    field = rng.integers(0, n_fields, n)
    # uniform in a disc: offset rho (deg) at position angle theta, exact on the sphere
    rho = np.radians(FIELD_RADIUS_ARCMIN / 60.0) * np.sqrt(rng.uniform(0.0, 1.0, n))
    theta = rng.uniform(0.0, 2 * np.pi, n)
    lat0, lon0 = np.radians(dec_c[field]), np.radians(ra_c[field])
    lat = np.arcsin(np.sin(lat0) * np.cos(rho) + np.cos(lat0) * np.sin(rho) * np.cos(theta))
    lon = lon0 + np.arctan2(
        np.sin(theta) * np.sin(rho) * np.cos(lat0), np.cos(rho) - np.sin(lat0) * np.sin(lat)
    )
    ra = np.degrees(lon) % 360.0
    ra[ra >= 360.0] = 0.0
    return ra, np.degrees(lat), field


def _setup_rows(conn: Connection, n_fields: int) -> tuple[int, int]:
    """A galaxy, ``n_fields`` fields and one complete release; (release id, first field id)."""
    survey = conn.execute(text("SELECT id FROM survey WHERE name = 'LEGUS'")).scalar_one()
    conn.execute(text("INSERT INTO galaxy (name, distance_mpc) VALUES ('BENCH 1', 10.0)"))
    galaxy = conn.execute(text("SELECT id FROM galaxy WHERE name = 'BENCH 1'")).scalar_one()
    conn.execute(
        text("INSERT INTO field (name, galaxy_id) VALUES (:name, :galaxy)"),
        [{"name": f"bench{k:04d}", "galaxy": galaxy} for k in range(n_fields)],
    )
    first = conn.execute(text("SELECT min(id) FROM field")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO catalogue_release (name, version, survey_id, status, morphology_version)"
            " VALUES ('bench', 1, :survey, 'complete', 'catalogue')"
        ),
        {"survey": survey},
    )
    release = conn.execute(text("SELECT id FROM catalogue_release")).scalar_one()
    return release, first


def load(url: str, ra: np.ndarray, dec: np.ndarray, field: np.ndarray, n_fields: int) -> float:
    """Migrate ``url`` and load the sources; returns the load time (s)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        release, first_field = _setup_rows(conn, n_fields)
        frame = pd.DataFrame(
            {
                "release_id": release,
                "field_id": field + first_field,
                "id_in_release": np.arange(1, ra.size + 1),
                "ra": ra,
                "dec": dec,
            }
        )
        if conn.dialect.name == "postgresql":
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, float_format="%.17g")
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                copy_sql = (
                    "COPY source (release_id, field_id, id_in_release, ra, dec) "
                    "FROM STDIN (FORMAT csv)"
                )
                with cur.copy(copy_sql) as copy:
                    copy.write(buffer.getvalue())
        else:
            conn.exec_driver_sql(
                "INSERT INTO source (release_id, field_id, id_in_release, ra, dec, flags) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                list(frame.itertuples(index=False, name=None)),
            )
    with engine.begin() as conn:
        _load_photometry(conn)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    engine.dispose()
    return time.perf_counter() - start


def _load_photometry(conn: Connection) -> None:
    """Five total magnitudes per source (NUV, U, B, V, I), as a LEGUS source has: the cone
    search looks the V magnitude of every source in the cone up among them. One
    ``INSERT ... SELECT`` on either backend."""
    filters = conn.execute(
        text("SELECT min(id) FROM filter WHERE band IN ('NUV', 'U', 'B', 'V', 'I') GROUP BY band")
    ).scalars()
    values = " UNION ALL ".join(f"SELECT {int(fid)} AS fid" for fid in filters)
    conn.execute(  # text(): '%' is escaped for psycopg
        text(
            "INSERT INTO photometry (source_id, filter_id, kind, status, mag_vega, mag_err) "
            "SELECT s.id, f.fid, 'total', 'measured', "
            # dyadic steps: PostgreSQL's numeric and SQLite's double give the same value
            "18.0 + (s.id % 1000) * 0.0078125 + f.fid * 0.25, 0.0625 "
            f"FROM source s CROSS JOIN ({values}) AS f"
        )
    )


def time_cones(
    url: str, centres: list[tuple[float, float]], radius: u.Quantity, method: str
) -> tuple[list[float], list[pd.DataFrame]]:
    """Per-cone wall times (s) and answers of ``cone_search`` with ``method``."""
    engine = make_engine(url)
    times, answers = [], []
    with engine.connect() as conn:
        for ra0, dec0 in centres[:5]:  # warm-up: caches, plans, imports
            cone_search(conn, ra0, dec0, radius, method=method)  # type: ignore[arg-type]
        for ra0, dec0 in centres:
            start = time.perf_counter()
            frame = cone_search(conn, ra0, dec0, radius, method=method)  # type: ignore[arg-type]
            times.append(time.perf_counter() - start)
            answers.append(frame)
        conn.rollback()
    engine.dispose()
    return times, answers


def _summary(label: str, times: list[float], answers: list[pd.DataFrame]) -> str:
    ms = np.array(times) * 1e3
    rows = np.array([len(a) for a in answers])
    with_v = np.mean([a["mag_v"].notna().mean() if len(a) else 1.0 for a in answers])
    return (
        f"{label:<42s} median {statistics.median(ms):7.2f} ms   p90 {np.percentile(ms, 90):7.2f}"
        f" ms   max {ms.max():7.2f} ms   ({rows.mean():.0f} sources per cone on average, "
        f"{100 * with_v:.0f} % with their V magnitude)"
    )


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a["source_pk"]) != list(b["source_pk"]):
        return False
    if not np.array_equal(a["mag_v"].to_numpy(), b["mag_v"].to_numpy(), equal_nan=True):
        return False
    return bool(np.all(np.abs(a["distance_arcsec"] - b["distance_arcsec"]) <= 3.6e-6))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("CLUSTERCAT_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL of a user who may create databases "
        "(default $CLUSTERCAT_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--n", type=float, default=1e6, help="sources (1e6)")
    parser.add_argument("--fields", type=int, default=200, help="fields of 3' radius (200)")
    parser.add_argument("--cones", type=int, default=200, help="timed cones per method (200)")
    parser.add_argument("--radius", default="1arcmin", help="cone radius with unit (1arcmin)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    args = parser.parse_args(argv)
    n = int(args.n)
    radius = u.Quantity(args.radius)
    ra, dec, field = synthetic_sources(n, args.fields, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    picks = rng.integers(0, n, args.cones)
    centres = [(float(ra[k]), float(dec[k])) for k in picks]
    print(
        f"{n:,} sources in {args.fields} fields, {args.cones} cones of {radius}, "
        f"{os.cpu_count()} cores"
    )

    results: dict[str, tuple[list[float], list[pd.DataFrame]]] = {}
    admin = None
    pg_url = None
    if args.url and not args.sqlite_only:
        admin_url = make_url(args.url)
        if admin_url.drivername in ("postgresql", "postgres"):
            admin_url = admin_url.set(drivername="postgresql+psycopg")
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"clustercat_bench_cone_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        pg_url = admin_url.set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="clustercat_bench_cone_"))
    sqlite_url = f"sqlite:///{tmp / 'cone.db'}"
    try:
        if pg_url:
            seconds = load(pg_url, ra, dec, field, args.fields)
            print(f"PostgreSQL: loaded with COPY in {seconds:.1f} s (database {name})")
            results["PostgreSQL q3c_radial_query (ours)"] = time_cones(
                pg_url, centres, radius, "q3c"
            )
            results["PostgreSQL (dec, ra) B-tree box (baseline)"] = time_cones(
                pg_url, centres, radius, "bbox"
            )
        else:
            print("PostgreSQL: skipped (no URL given and $CLUSTERCAT_TEST_POSTGRES_URL unset)")
        seconds = load(sqlite_url, ra, dec, field, args.fields)
        print(f"SQLite: loaded with executemany in {seconds:.1f} s ({sqlite_url})")
        results["SQLite (dec, ra) index box (fallback)"] = time_cones(
            sqlite_url, centres, radius, "bbox"
        )
        for label, (times, answers) in results.items():
            print(_summary(label, times, answers))
        reference = next(iter(results.values()))[1]
        mismatches = sum(
            not _same(reference[k], answers[k])
            for _, answers in results.values()
            for k in range(len(centres))
        )
        print(f"cones whose answers differ between the methods: {mismatches}")
        return 1 if mismatches else 0
    finally:
        if admin is not None and pg_url is not None:
            if args.keep:
                print(f"kept {pg_url}")
            else:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        if args.keep:
            print(f"kept {sqlite_url}")
        else:
            for path in tmp.iterdir():
                path.unlink()
            tmp.rmdir()


if __name__ == "__main__":
    sys.exit(main())
