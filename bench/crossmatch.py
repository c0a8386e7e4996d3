"""Benchmark: the ``clustercat crossmatch`` path against astropy, at the same thread count.

Both run in the same process on the same synthetic catalogues: N sources in a 1 deg x 1 deg
field (about one source per 3.6 arcsec^2, i.e. a crowded HST-like density at N = 10^6), and a
second catalogue in which 90 % of them reappear with 0.03" scatter and 10 % are new.

    python bench/crossmatch.py            # N = 10^6, radius 0.1"
    python bench/crossmatch.py --n 1e4    # quick check

What is timed, positions already in memory (the database reads, the outcome codes and the
writes of the command are not part of either side):

* **command path**: exactly what ``clustercat crossmatch`` (``--method kdtree``, the
  default) runs on the positions it read: RA/Dec -> unit vectors, then
  :func:`clustercat.processing.crossmatch.match_vectors` (candidates from the numpy cell
  grid, single-threaded; the exact atan2 cut; the one-to-one resolution);
* **KD-tree variant**: the same with ``cKDTree`` candidates
  (:func:`~clustercat.processing.crossmatch.kdtree_candidates`), 1 and ``--workers``
  query threads, for comparison;
* **astropy**: ``SkyCoord`` construction, ``search_around_sky`` (``storekdtree=False``, so
  its trees are rebuilt every run, as ours are) and the same ``one_to_one`` on its pairs, so
  both sides produce a one-to-one match.

astropy's search is single-threaded and so is the command path: the headline ratio compares
them at one thread each. Each is run
``--repeat`` times after a small warm-up; the best time of each is compared.
"""

from __future__ import annotations

import argparse
import os
import time

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, search_around_sky
from clustercat.processing.crossmatch import (
    CrossMatchResult,
    exact_pairs,
    kdtree_candidates,
    match_vectors,
    one_to_one,
    unit_vectors,
)
from sqlalchemy import Connection


def synthetic_catalogues(
    n: int, seed: int = 42, centre: tuple[float, float] = (150.0, 2.0), side_deg: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RA/Dec (deg) of catalogue A and of catalogue B (90 % of A re-observed, 10 % new)."""
    rng = np.random.default_rng(seed)
    ra0, dec0 = centre
    cos_dec = np.cos(np.deg2rad(dec0))
    ra_a = ra0 + rng.uniform(-0.5, 0.5, n) * side_deg / cos_dec
    dec_a = dec0 + rng.uniform(-0.5, 0.5, n) * side_deg
    again = rng.random(n) < 0.9
    scatter = 0.03 / 3600.0
    ra_b = np.where(again, ra_a + rng.normal(0, scatter, n) / cos_dec, 0.0)
    dec_b = np.where(again, dec_a + rng.normal(0, scatter, n), 0.0)
    new = ~again
    ra_b[new] = ra0 + rng.uniform(-0.5, 0.5, new.sum()) * side_deg / cos_dec
    dec_b[new] = dec0 + rng.uniform(-0.5, 0.5, new.sum()) * side_deg
    return ra_a, dec_a, ra_b, dec_b


def _copy_positions(conn: Connection, table: str, ra: np.ndarray, dec: np.ndarray) -> None:
    """Fill ``table (idx, ra, dec)`` with one binary ``COPY`` built by numpy (no row loop)."""
    n = ra.size
    rows = np.empty(
        n,
        dtype=[("nf", ">i2"), ("l0", ">i4"), ("idx", ">i8"), ("l1", ">i4"), ("ra", ">f8"),
               ("l2", ">i4"), ("dec", ">f8")],
    )  # fmt: skip
    rows["nf"], rows["l0"], rows["l1"], rows["l2"] = 3, 8, 8, 8
    rows["idx"], rows["ra"], rows["dec"] = np.arange(n), ra, dec
    payload = b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff"
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} (idx, ra, dec) FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(payload)


def time_q3c(
    database_url: str | None,
    ra_a: np.ndarray,
    dec_a: np.ndarray,
    ra_b: np.ndarray,
    dec_b: np.ndarray,
    radius: u.Quantity,
) -> float | None:
    """q3c timing on PostgreSQL: ``q3c_join`` candidates + the same one-to-one resolution.

    Loads the two catalogues into throwaway temporary tables with one binary ``COPY`` each,
    indexes B on ``q3c_ang2ipix(ra, dec)``, CLUSTERs and ANALYZEs it (load and index times
    are printed, not counted), then times the ClusterCat q3c path exactly as
    ``clustercat crossmatch --method q3c`` runs it
    (:mod:`clustercat.processing.crossmatch_db`): ``q3c_join`` candidates fetched with
    ``COPY ... TO STDOUT``, the exact separations by the shared formula, and
    :func:`~clustercat.processing.crossmatch.one_to_one`. Returns those seconds (best of two
    runs), and checks that the pairs equal the KD-tree path's.

    Skipped (returns None) when no SQLAlchemy URL is given.
    """
    if not database_url:
        return None
    from clustercat.processing.crossmatch_db import (
        Q3cUnavailableError,
        q3c_available,
        q3c_table_candidates,
    )
    from clustercat.schema import make_engine

    engine = make_engine(database_url)
    n_a, n_b = ra_a.size, ra_b.size
    vec_a, vec_b = unit_vectors(ra_a, dec_a), unit_vectors(ra_b, dec_b)
    try:
        with engine.connect() as conn:
            if not q3c_available(conn):
                raise Q3cUnavailableError(f"{engine.url.database}: no q3c extension")
            start = time.perf_counter()
            for name in ("xm_bench_a", "xm_bench_b"):
                conn.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE {name} "
                    "(idx bigint, ra double precision, dec double precision)"
                )
            _copy_positions(conn, "xm_bench_a", ra_a, dec_a)
            _copy_positions(conn, "xm_bench_b", ra_b, dec_b)
            t_load = time.perf_counter() - start
            start = time.perf_counter()
            conn.exec_driver_sql(
                "CREATE INDEX xm_bench_b_q3c ON xm_bench_b (q3c_ang2ipix(ra, dec))"
            )
            conn.exec_driver_sql("CLUSTER xm_bench_b USING xm_bench_b_q3c")
            conn.exec_driver_sql("ANALYZE xm_bench_a")
            conn.exec_driver_sql("ANALYZE xm_bench_b")
            t_index = time.perf_counter() - start
            print(
                f"q3c setup: COPY of {n_a:,} + {n_b:,} rows {t_load:.2f} s, "
                f"q3c index + CLUSTER + ANALYZE {t_index:.2f} s (not timed below)"
            )
            times = []
            for _ in range(2):
                start = time.perf_counter()
                cand = q3c_table_candidates(conn, "xm_bench_a", "xm_bench_b", radius)
                ia, ib, sep = exact_pairs(
                    vec_a, vec_b, cand["a"].to_numpy(), cand["b"].to_numpy(), radius
                )
                q3c = one_to_one(ia, ib, sep * u.arcsec, n_a, n_b, radius=radius)
                times.append(time.perf_counter() - start)
            conn.rollback()  # the temporary tables were created in this transaction: gone
    finally:
        engine.dispose()
    ka, kb = kdtree_candidates(vec_a, vec_b, radius)
    ka, kb, ksep = exact_pairs(vec_a, vec_b, ka, kb, radius)
    kd = one_to_one(ka, kb, ksep * u.arcsec, n_a, n_b, radius=radius)
    same = bool(
        np.array_equal(q3c.idx_a, kd.idx_a)
        and np.array_equal(q3c.idx_b, kd.idx_b)
        and np.array_equal(q3c.separation.value, kd.separation.value)
    )
    print(
        f"q3c_join + one-to-one: {len(cand):,} candidate pairs, {len(q3c):,} matches "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)} s); identical to the KD-tree path: "
        f"{'yes' if same else 'NO'}"
    )
    return min(times)


def command_path(
    ra_a: np.ndarray,
    dec_a: np.ndarray,
    ra_b: np.ndarray,
    dec_b: np.ndarray,
    radius: u.Quantity,
    workers: int | None = None,
) -> CrossMatchResult:
    """What ``clustercat crossmatch`` computes from the positions it has read; with
    ``workers`` (>= 1 or -1) the KD-tree candidates instead of the cell grid."""
    vec_a, vec_b = unit_vectors(ra_a, dec_a), unit_vectors(ra_b, dec_b)
    candidates = None if workers is None else kdtree_candidates(vec_a, vec_b, radius, workers)
    result, _, _, _ = match_vectors(vec_a, vec_b, radius, candidates=candidates)
    return result


def astropy_path(
    ra_a: np.ndarray, dec_a: np.ndarray, ra_b: np.ndarray, dec_b: np.ndarray, radius: u.Quantity
) -> tuple[CrossMatchResult, int]:
    """astropy's all-pairs search, resolved one-to-one by the same rule; also the pair count."""
    coords_a = SkyCoord(ra_a * u.deg, dec_a * u.deg)
    coords_b = SkyCoord(ra_b * u.deg, dec_b * u.deg)
    idx_a, idx_b, sep, _ = search_around_sky(coords_a, coords_b, radius, storekdtree=False)
    result = one_to_one(idx_a, idx_b, sep.to(u.arcsec), ra_a.size, ra_b.size, radius=radius)
    return result, int(idx_a.size)


def _best(call, repeat: int) -> tuple[float, list[float], object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return min(times), times, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, default=1e6, help="sources per catalogue (1e6)")
    parser.add_argument("--radius", type=float, default=0.1, help="match radius, arcsec (0.1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--workers", type=int, default=2, help="threads of the multi-threaded KD-tree run (2)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (best kept)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of a PostgreSQL database with q3c (timing skipped if absent)",
    )
    args = parser.parse_args(argv)
    n = int(args.n)
    radius = args.radius * u.arcsec

    ra_a, dec_a, ra_b, dec_b = synthetic_catalogues(n, args.seed)
    print(
        f"catalogues: {n:,} x {n:,} sources, radius {radius}, cores {os.cpu_count()}, "
        f"best of {args.repeat}"
    )
    # warm-up on a small slice (imports, thread pools)
    command_path(ra_a[:1000], dec_a[:1000], ra_b[:1000], dec_b[:1000], radius)
    command_path(ra_a[:1000], dec_a[:1000], ra_b[:1000], dec_b[:1000], radius, 1)
    astropy_path(ra_a[:1000], dec_a[:1000], ra_b[:1000], dec_b[:1000], radius)

    def run(workers: int | None) -> tuple[float, list[float], CrossMatchResult]:
        return _best(lambda: command_path(ra_a, dec_a, ra_b, dec_b, radius, workers), args.repeat)

    t_cmd, runs_cmd, ours = run(None)
    t_kd1, runs_kd1, ours_kd1 = run(1)
    t_kdn, runs_kdn, ours_kdn = run(args.workers)
    t_astropy, runs_astropy, (theirs, n_pairs) = _best(
        lambda: astropy_path(ra_a, dec_a, ra_b, dec_b, radius), args.repeat
    )

    def _fmt(best: float, times: list[float]) -> str:
        return f"{best:8.3f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})"

    print(
        f"clustercat crossmatch path (cell grid, 1 thread):  {_fmt(t_cmd, runs_cmd)}  "
        f"{len(ours):,} matches, {int(ours.double.sum()):,} flagged double"
    )
    print(f"  same with cKDTree candidates, 1 thread:         {_fmt(t_kd1, runs_kd1)}")
    print(f"  same with cKDTree candidates, {args.workers} threads:        {_fmt(t_kdn, runs_kdn)}")
    print(
        f"astropy search_around_sky + one_to_one, 1 thread: {_fmt(t_astropy, runs_astropy)}  "
        f"{n_pairs:,} pairs -> {len(theirs):,} matches"
    )
    print(f"speed-up of the command path at the same thread count (1): {t_astropy / t_cmd:.2f}x")

    # the same answer whatever the candidate search, and astropy's pairs up to ties broken by
    # the two separation formulae
    for other in (ours_kd1, ours_kdn):
        assert np.array_equal(ours.idx_a, other.idx_a) and np.array_equal(ours.idx_b, other.idx_b)
    key = ours.idx_a * n + ours.idx_b
    same = np.intersect1d(key, theirs.idx_a * n + theirs.idx_b).size
    print(f"one-to-one pairs shared with astropy's: {same:,} of {len(ours):,} / {len(theirs):,}")

    t_q3c = time_q3c(args.database_url, ra_a, dec_a, ra_b, dec_b, radius)
    if t_q3c is None:
        print("q3c: skipped (no --database-url)")
    else:
        print(f"q3c join on PostgreSQL: {t_q3c:8.3f} s")


if __name__ == "__main__":
    main()
