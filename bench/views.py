"""Benchmark: the collaborator views at scale, on SQLite and PostgreSQL (issue 13).

The database holds every LEGUS catalogue (release ``legus``, ingested with the real loader,
plus the StarcNet predictions of NGC 1566) and ``--n-sources`` synthetic sources (default
10^6) in ``--releases`` complete releases over ``--galaxies`` galaxies of
``--fields-per-galaxy`` fields (default 4 x 5 x 2: 50,000 sources per galaxy), each source
with five filters x (seven apertures r = 1-5 px + the total) = 40 photometry rows, CI/MCI,
one class and one default SED fit: ~4 x 10^7 photometry rows (see ``bench/_synthetic.py``;
rows go in by binary ``COPY`` / ``executemany``, one transaction per release, and each
release is completed as the loader completes one, ``write_catalogue_entries`` included).
After loading, ``ANALYZE`` runs on the whole database, as a deployment would after a bulk
load (autovacuum would, later).

Each query runs on a fresh connection first (``cold``: a new server backend on PostgreSQL, an
empty page cache on SQLite; the operating system's file cache stays warm), then ``--repeat``
more times (``warm``: the median). Every row is fetched into Python (SQLAlchemy rows), so
the times are what a Python user waits for; on PostgreSQL ``server`` is the server's own
time (planning + execution, ``EXPLAIN (ANALYZE, TIMING OFF)``, median of 3), without
sending the rows. The baseline, in the same
run, is the same query over the view body of revision 0007 (``VIEWS_V3``) as a subquery,
``SELECT * FROM (<body>) c WHERE ...``: for ``cluster_catalogue`` that is the join of five
of the ~40 photometry rows per source that revision 0010 replaced by ``catalogue_entry``; for
the other views it is their previous body. Aim (issue 13): on PostgreSQL at 10^6 sources,
``cluster_catalogue`` for one galaxy of one release answers in under 100 ms.

    python bench/views.py --n-sources 20000                 # SQLite, quick
    python bench/views.py --n-sources 20000 --postgres      # and PostgreSQL (server of
                                                            # $CLUSTERCAT_TEST_POSTGRES_URL)
    python bench/views.py --postgres-only --keep            # the full 10^6, database kept
    python bench/views.py --reuse postgresql+psycopg://root@/clustercat_bench_views?host=...

Measured build times on the shared 2-core machine: 10^6 sources on PostgreSQL 11.6 min
(LEGUS 43 s; synthetic rows 647 s, 130-190 s per release of 250,000 sources; ANALYZE 2 s;
10 GB on disk); 2 x 10^4 sources 26 s on PostgreSQL and 11 s on SQLite (SQLite writes
~3,500 sources/s, so 10^6 there takes ~5 min plus its indexes). Use ``--keep`` and
``--reuse URL`` to time a built database again.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import _synthetic as synthetic
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InternalError

AIM_MS = 100.0
PG_DATABASE = "clustercat_bench_views"


# --- building ------------------------------------------------------------------------------


def ingest_legus(engine: Engine, data: Path) -> None:
    """All LEGUS catalogues as ``legus`` and StarcNet NGC 1566 as ``starcnet-ngc1566``."""
    from clustercat.ingest.legus import find_legus_files
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    legus = reader_info("legus")
    files = find_legus_files(data / "legus")
    request = ReleaseRequest("legus", legus.name, legus.version, files)
    ingest_release(engine, request, legus.reader())
    starcnet = reader_info("starcnet")
    predictions = [data / "legus" / "starcnet_ml_predictions_ngc1566.tab"]
    request = ReleaseRequest(
        "starcnet-ngc1566", starcnet.name, starcnet.version, predictions, attach_to="legus"
    )
    ingest_release(engine, request, starcnet.reader())


def analyze(engine: Engine) -> None:
    """``ANALYZE`` the whole database (planner statistics after the bulk load)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def build(url: str, layout: synthetic.Layout, legus: bool, progress: bool) -> dict[str, float]:
    """Migrate ``url``, ingest LEGUS, add the synthetic releases, ANALYZE; phase times (s)."""
    from clustercat.schema import make_engine, migrate
    from clustercat.schema.config import data_dir

    times: dict[str, float] = {}
    start = time.perf_counter()
    for attempt in range(8):  # roles are server-wide: a concurrent migration elsewhere can
        try:  # fail ALTER ROLE with "tuple concurrently updated"
            migrate.upgrade(url)
            break
        except InternalError:
            if attempt == 7:
                raise
            time.sleep(1.0 + attempt)
    times["migrate"] = time.perf_counter() - start
    engine = make_engine(url)
    if legus:
        start = time.perf_counter()
        ingest_legus(engine, data_dir())
        times["LEGUS ingest (real loader)"] = time.perf_counter() - start
    start = time.perf_counter()
    releases = synthetic.add_synthetic_releases(engine, layout, show_progress=progress)
    times[f"synthetic rows ({layout.n_sources:,} sources)"] = time.perf_counter() - start
    for r in releases:
        counts = ", ".join(f"{k} {v:,}" for k, v in r.rows.items())
        entries = "no catalogue_entry (pre-0010)" if r.catalogue_entries is None else (
            f"catalogue_entry {r.catalogue_entries:,}"
        )  # fmt: skip
        print(f"  {r.name}: {', '.join(r.galaxies)}: {counts}, {entries}; {r.seconds:.1f} s")
    start = time.perf_counter()
    analyze(engine)
    times["ANALYZE"] = time.perf_counter() - start
    engine.dispose()
    return times


def postgres_database(admin_url: str, name: str) -> tuple[str, Callable[[], None]]:
    """(URL, drop) of a fresh database ``name`` on the server of ``admin_url``."""
    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


# --- the queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One timed query: ``SELECT * FROM <view> c WHERE <where>``, or a Python ``call``."""

    label: str
    view: str
    where: str = "TRUE"
    params: dict = field(default_factory=dict)
    aim: bool = False
    call: Callable[[Connection], int] | None = None
    baseline: bool = True

    def sql(self, body: str | None = None) -> str:
        source = self.view if body is None else f"({body})"
        return f"SELECT * FROM {source} c WHERE {self.where}"


@dataclass
class Timing:
    rows: int
    cold_ms: float
    warm_ms: float
    runs: int
    server_ms: float | None = None  # PostgreSQL: planning + execution, no transfer


def _largest_galaxy(conn: Connection, release_id: int) -> tuple[str, int]:
    name, count = conn.execute(
        text(
            "SELECT g.name, count(*) FROM source s JOIN field f ON f.id = s.field_id "
            "JOIN galaxy g ON g.id = f.galaxy_id WHERE s.release_id = :r "
            "GROUP BY g.name ORDER BY count(*) DESC, g.name LIMIT 1"
        ),
        {"r": release_id},
    ).one()
    return str(name), int(count)


def _release(conn: Connection, pattern: str) -> tuple[str, int] | None:
    row = conn.execute(
        text(
            "SELECT name, id FROM catalogue_release WHERE status = 'complete' "
            "AND name LIKE :p ORDER BY name LIMIT 1"
        ),
        {"p": pattern},
    ).first()
    return None if row is None else (row[0], int(row[1]))


def queries(conn: Connection, cone_radius_arcsec: float) -> list[Query]:
    """The queries, on the first synthetic release's largest galaxy (else LEGUS's)."""
    from clustercat.schema.cone import cone_query, cone_search

    synth = _release(conn, synthetic.RELEASE_PREFIX + "%")
    legus = _release(conn, "legus")
    main = synth or legus
    if main is None:
        raise SystemExit("no complete synthetic or legus release in this database")
    release, release_id = main
    galaxy, n_galaxy = _largest_galaxy(conn, release_id)
    ra0, dec0 = conn.execute(
        text(
            "SELECT s.ra, s.dec FROM source s JOIN field f ON f.id = s.field_id "
            "JOIN galaxy g ON g.id = f.galaxy_id WHERE s.release_id = :r AND g.name = :g "
            "ORDER BY s.id LIMIT 1 OFFSET :k"
        ),
        {"r": release_id, "g": galaxy, "k": n_galaxy // 2},
    ).one()
    radius_deg = cone_radius_arcsec / 3600.0
    cone = cone_query(conn.dialect.name, ra0, dec0, radius_deg)
    one = {"r": release, "g": galaxy}
    where_one = "c.release = :r AND c.galaxy = :g"
    out = [
        Query(f"cluster_catalogue: {galaxy} of {release}", "cluster_catalogue", where_one,
              one, aim=True),
        Query(f"cluster_catalogue: all of {release}", "cluster_catalogue", "c.release = :r",
              {"r": release}),
    ]  # fmt: skip
    if legus is not None and synth is not None:
        legus_galaxy, _ = _largest_galaxy(conn, legus[1])
        out.insert(1, Query(
            f"cluster_catalogue: {legus_galaxy} of legus", "cluster_catalogue", where_one,
            {"r": "legus", "g": legus_galaxy}, aim=True,
        ))  # fmt: skip
    spatial = f"c.source_pk IN (SELECT source_pk FROM ({cone.sql}) q)"
    out += [
        Query(f'cluster_catalogue: {cone_radius_arcsec:g}" cone ({cone.method})',
              "cluster_catalogue", spatial, cone.params),
        Query(f'cone_search(): {cone_radius_arcsec:g}" cone (CLI path)', "cluster_catalogue",
              call=lambda c: len(cone_search(c, ra0, dec0, f"{cone_radius_arcsec} arcsec")),
              baseline=False),
        Query(f"source_photometry: {galaxy}", "source_photometry", where_one, one),
        Query(f"source_photometry_wide: {galaxy}", "source_photometry_wide", where_one, one),
        Query(f"sed_results: {galaxy}", "sed_results", where_one, one),
        Query(f"source_classes: {galaxy}", "source_classes", where_one, one),
        Query("release_summary: all", "release_summary"),
    ]  # fmt: skip
    return out


def _run(conn: Connection, sql: str, params: dict) -> int:
    """Fetch every row (each converted to Python values, none kept); the row count."""
    return sum(1 for _ in conn.execute(text(sql), params))


def time_query(
    engine: Engine, run: Callable[[Connection], int], repeat: int, budget_s: float
) -> Timing:
    """Cold (first on a fresh connection) and warm (median of up to ``repeat``) times."""
    engine.dispose()  # a new connection: new backend / empty SQLite page cache
    with engine.connect() as conn:
        start = time.perf_counter()
        rows = run(conn)
        cold = time.perf_counter() - start
        warm = []
        spent = 0.0
        while len(warm) < repeat and (len(warm) < 2 or spent < budget_s):
            start = time.perf_counter()
            run(conn)
            warm.append(time.perf_counter() - start)
            spent += warm[-1]
        conn.rollback()
    return Timing(rows, cold * 1e3, statistics.median(warm) * 1e3, len(warm))


def server_ms(engine: Engine, sql: str, params: dict, runs: int = 3) -> float | None:
    """PostgreSQL's own time for ``sql`` (planning + execution, median of ``runs``), without
    sending the rows: ``EXPLAIN (ANALYZE, TIMING OFF)``. None on SQLite (in process)."""
    if engine.dialect.name != "postgresql":
        return None
    times = []
    with engine.connect() as conn:
        for _ in range(runs):
            lines = conn.execute(text("EXPLAIN (ANALYZE, TIMING OFF) " + sql), params).scalars()
            found = re.findall(r"(?:Planning|Execution) Time: ([0-9.]+) ms", "\n".join(lines))
            times.append(sum(float(t) for t in found))
        conn.rollback()
    return statistics.median(times)


def explain(engine: Engine, sql: str, params: dict) -> str:
    """The plan as executed (PostgreSQL) or the query plan (SQLite)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars()
            return "\n".join(rows)
        rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql), params).all()
        return "\n".join(f"{r[0]:>4} {r[1]:>4} {r[-1]}" for r in rows)


def run(
    url: str, label: str, args: argparse.Namespace
) -> list[tuple[Query, Timing, Timing | None]]:
    """Time every query on ``url`` and print the table."""
    from clustercat.schema import make_engine
    from clustercat.schema.views import VIEWS_V3

    engine = make_engine(url)
    with engine.connect() as conn:
        qs = queries(conn, args.cone_radius)
        info = _database_info(conn)
    print(f"\n{label}: {info}; ANALYZE ran after loading")
    results = []
    for q in qs:
        if q.call is not None:
            call = q.call
        else:
            sql = q.sql()
            call = lambda c, sql=sql, p=q.params: _run(c, sql, p)  # noqa: E731
        ours = time_query(engine, call, args.repeat, args.budget)
        if q.call is None:
            ours.server_ms = server_ms(engine, q.sql(), q.params)
        base = None
        if q.baseline and not args.no_baseline:
            body_sql = q.sql(VIEWS_V3[q.view])
            base = time_query(
                engine, lambda c, s=body_sql, p=q.params: _run(c, s, p), args.repeat, args.budget
            )
            if base.rows != ours.rows:
                print(f"  ! {q.label}: {ours.rows} rows, baseline {base.rows}")
        results.append((q, ours, base))
        _print_row(q, ours, base, header=len(results) == 1)
    engine.dispose()
    misses = [q for q, t, _ in results if q.aim and t.warm_ms >= AIM_MS]
    for q in qs if args.explain else misses:
        if q.call is not None:
            continue
        print(f"\n  EXPLAIN {q.label}:\n" + _indent(explain(engine, q.sql(), q.params)))
        if args.explain and q.baseline and not args.no_baseline:
            plan = explain(engine, q.sql(VIEWS_V3[q.view]), q.params)
            print(f"\n  EXPLAIN baseline of {q.label}:\n" + _indent(plan))
    engine.dispose()
    return results


def _indent(s: str) -> str:
    return "\n".join("    " + line for line in s.splitlines())


def _print_row(q: Query, ours: Timing, base: Timing | None, header: bool) -> None:
    if header:
        print(
            f"  {'query':52s} {'rows':>9s} {'cold ms':>9s} {'warm ms':>9s} {'n':>2s} "
            f"{'server':>8s} {'base ms':>9s} {'ratio':>7s}  aim <{AIM_MS:.0f} ms"
        )
    b = f"{base.warm_ms:9.1f}" if base else f"{'-':>9s}"
    ratio = f"{base.warm_ms / ours.warm_ms:6.1f}x" if base else f"{'-':>7s}"
    aim = ("yes" if ours.warm_ms < AIM_MS else "NO") if q.aim else ""
    if q.aim and ours.server_ms is not None and ours.warm_ms >= AIM_MS:
        aim += f" (server {'yes' if ours.server_ms < AIM_MS else 'NO'})"
    server = f"{ours.server_ms:8.1f}" if ours.server_ms is not None else f"{'-':>8s}"
    print(
        f"  {q.label[:52]:52s} {ours.rows:9,d} {ours.cold_ms:9.1f} {ours.warm_ms:9.1f} "
        f"{ours.runs:2d} {server} {b} {ratio}  {aim}",
        flush=True,
    )


def _database_info(conn: Connection) -> str:
    """Sources, photometry rows and size of the database."""
    if conn.dialect.name == "postgresql":
        n_src, n_phot = (
            conn.execute(
                text("SELECT sum(reltuples)::bigint FROM pg_class WHERE relname = :t AND relkind "
                     "IN ('r', 'p')"),
                {"t": t},
            ).scalar() or 0
            for t in ("source", "photometry")
        )  # fmt: skip
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        approx = "~"
    else:
        n_src = conn.execute(text("SELECT count(*) FROM source")).scalar_one()
        n_phot = conn.execute(text("SELECT count(*) FROM photometry")).scalar_one()
        page = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        size = page * conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        approx = ""
    return f"{approx}{n_src:,} sources, {approx}{n_phot:,} photometry rows, {size / 2**30:.2f} GiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sources", type=int, default=1_000_000, help="synthetic sources")
    parser.add_argument("--releases", type=int, default=4, help="synthetic releases (4)")
    parser.add_argument("--galaxies", type=int, default=20, help="synthetic galaxies (20)")
    parser.add_argument("--fields-per-galaxy", type=int, default=2, help="fields per galaxy")
    parser.add_argument("--chunk", type=int, default=10_000, help="sources per COPY chunk")
    parser.add_argument("--no-legus", action="store_true", help="leave LEGUS out (quicker)")
    parser.add_argument(
        "--fk-checks", action="store_true",
        help="PostgreSQL: keep the foreign-key triggers while COPYing synthetic rows",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per query (median)")
    parser.add_argument(
        "--budget", type=float, default=10.0,
        help="stop a query's warm runs after 2 once they took this many seconds",
    )  # fmt: skip
    parser.add_argument("--cone-radius", type=float, default=10.0, help="cone radius (arcsec)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the VIEWS_V3 baseline")
    parser.add_argument("--explain", action="store_true", help="print every plan")
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL")
    parser.add_argument("--postgres-only", action="store_true", help="PostgreSQL, no SQLite")
    parser.add_argument("--sqlite-only", action="store_true", help="SQLite only (the default)")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CLUSTERCAT_TEST_POSTGRES_URL"),
        help="superuser URL of a PostgreSQL server [$CLUSTERCAT_TEST_POSTGRES_URL]",
    )  # fmt: skip
    parser.add_argument("--pg-database", default=PG_DATABASE, help="database to (re)create")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse", action="append", default=[], metavar="URL",
        help="time a database this script built (with --keep) instead of building one",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.reuse:
        for url in args.reuse:
            run(url, make_url(url).get_backend_name(), args)
        return

    layout = synthetic.Layout(
        n_sources=args.n_sources, n_releases=args.releases, n_galaxies=args.galaxies,
        fields_per_galaxy=args.fields_per_galaxy, chunk=args.chunk,
        skip_fk_checks=not args.fk_checks,
    )  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="clustercat_bench_views_"))
    targets: list[tuple[str, str, Callable[[], None] | None]] = []
    if not args.postgres_only:
        targets.append(("SQLite", f"sqlite:///{folder / 'views.db'}", None))
    if (args.postgres or args.postgres_only) and not args.sqlite_only:
        if not args.postgres_url:
            parser.error("PostgreSQL needs --postgres-url or $CLUSTERCAT_TEST_POSTGRES_URL")
        url, drop = postgres_database(args.postgres_url, args.pg_database)
        targets.append(("PostgreSQL", url, drop))
    print(
        f"views bench: {'all LEGUS + ' if not args.no_legus else ''}{args.n_sources:,} "
        f"synthetic sources ({args.releases} releases, {args.galaxies} galaxies x "
        f"{args.fields_per_galaxy} fields, 40 photometry rows each), {os.cpu_count()} cores; "
        f"warm = median of {args.repeat} after the cold run"
    )
    try:
        for label, url, _ in targets:
            print(f"\nbuilding the {label} database")
            times = build(url, layout, not args.no_legus, not args.quiet)
            total = sum(times.values())
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
            print(f"  built in {total:.1f} s ({parts})")
            run(url, label, args)
    finally:
        for label, url, drop in targets:
            if args.keep:
                print(f"kept {label}: {make_url(url).render_as_string(hide_password=False)}")
            elif drop is not None:
                drop()
        if not args.keep:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


if __name__ == "__main__":
    main()
