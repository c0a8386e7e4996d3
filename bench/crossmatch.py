"""Benchmark: our one-to-one sky cross-match against astropy ``search_around_sky``.

Both run in the same process on the same synthetic catalogues: N sources in a 1 deg x 1 deg
field (about one source per 3.6 arcsec^2, i.e. a crowded HST-like density at N = 10^6), and a
second catalogue in which 90 % of them reappear with 0.03" scatter and 10 % are new.

    python bench/crossmatch.py            # N = 10^6, radius 0.1"
    python bench/crossmatch.py --n 1e4    # quick check

Timings include everything each call does with positions already in memory: ours converts
RA/Dec to unit vectors, builds the KD-tree, finds all pairs and resolves them one-to-one;
astropy's ``search_around_sky`` gets prebuilt ``SkyCoord`` objects, builds its KD-trees
(``storekdtree=False``, so no tree is reused between runs) and only finds pairs. Both run
``--repeat`` times after a small warm-up; the best time of each is compared.
"""

from __future__ import annotations

import argparse
import os
import time

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, search_around_sky
from clustercat.processing.crossmatch import crossmatch_sky


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


def time_q3c(
    database_url: str | None,
    ra_a: np.ndarray,
    dec_a: np.ndarray,
    ra_b: np.ndarray,
    dec_b: np.ndarray,
    radius: u.Quantity,
) -> float | None:
    """q3c timing on PostgreSQL -- PLACEHOLDER for the database engineer.

    ############################################################################
    # TO BE ADDED BY THE DATABASE ENGINEER (no database code in this module yet):
    # load the two catalogues into temporary tables (COPY), create q3c indexes
    # (q3c_ang2ipix), ANALYZE, then time one q3c_join(...) within
    # radius.to_value(u.deg), and resolve its pairs with
    # clustercat.processing.crossmatch.one_to_one so the rule is identical.
    # Return the elapsed seconds of the join (+ resolution).
    ############################################################################

    Skipped (returns None) when no SQLAlchemy URL is given.
    """
    if not database_url:
        return None
    raise NotImplementedError(
        "q3c timing is not implemented yet: the database layer adds it here (see docstring)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, default=1e6, help="sources per catalogue (1e6)")
    parser.add_argument("--radius", type=float, default=0.1, help="match radius, arcsec (0.1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2, help="cKDTree query threads (2)")
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
    coords_a = SkyCoord(ra_a * u.deg, dec_a * u.deg)
    coords_b = SkyCoord(ra_b * u.deg, dec_b * u.deg)
    print(
        f"catalogues: {n:,} x {n:,} sources, radius {radius}, cores {os.cpu_count()}, "
        f"best of {args.repeat}"
    )

    # warm-up on a small slice (imports, thread pools), then best-of-N timings
    crossmatch_sky(ra_a[:1000], dec_a[:1000], ra_b[:1000], dec_b[:1000], radius)
    search_around_sky(coords_a[:1000], coords_b[:1000], radius, storekdtree=False)
    t_ours, t_astropy = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        ours = crossmatch_sky(ra_a, dec_a, ra_b, dec_b, radius, workers=args.workers)
        t_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        # storekdtree=False: astropy rebuilds its trees every time, as we do
        idx_a, idx_b, _, _ = search_around_sky(coords_a, coords_b, radius, storekdtree=False)
        t_astropy.append(time.perf_counter() - start)

    def _fmt(times: list[float]) -> str:
        return f"{min(times):8.3f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})"

    print(
        f"clustercat crossmatch_sky (cKDTree, one-to-one): {_fmt(t_ours)}  "
        f"{len(ours):,} matches, {int(ours.double.sum()):,} flagged double"
    )
    print(
        f"astropy search_around_sky (all pairs):           {_fmt(t_astropy)}  {idx_a.size:,} pairs"
    )
    print(f"speed-up (best of each): {min(t_astropy) / min(t_ours):.2f}x")

    # sanity: every one-to-one match is one of astropy's pairs
    key = idx_a.astype(np.int64) * n + idx_b
    ours_key = ours.idx_a * n + ours.idx_b
    missing = np.setdiff1d(ours_key, key).size
    print(f"matches not among astropy's pairs: {missing}")

    t_q3c = time_q3c(args.database_url, ra_a, dec_a, ra_b, dec_b, radius)
    if t_q3c is None:
        print("q3c: skipped (no --database-url)")
    else:
        print(f"q3c join on PostgreSQL: {t_q3c:8.3f} s")


if __name__ == "__main__":
    main()
