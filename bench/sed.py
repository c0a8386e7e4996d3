"""Benchmark: χ² SED fits of every SED-fitted LEGUS source in the database, vectorised vs loop.

Run: ``python bench/sed.py [--database URL] [--model yggdrasil|bc03|both] [--baseline-n 2000]
[--repeat 3] [--threads 1] [--write]``

What it does
------------
* Database: ``--database URL`` (a database holding release ``--release``, default
  ``legus``), or else a temporary SQLite database into which the 28 LEGUS catalogues of
  ``<data_dir>/legus`` are ingested with the project's loader (timed, not in the rates).
* Sources: every source the release's default SED method fitted (for LEGUS the catalogue's
  own fits: 27,154 sources in 28 fields), read with
  :func:`clustercat.processing.sed_db.read_photometry`: total Vega magnitudes and errors with
  each field's own filters and instruments, and the galaxy distance (Calzetti et al. 2015
  Table 1 for LEGUS).
* Grids: the SSP grids stored in the database (``ssp_model`` rows; built and stored first if
  absent), read back in each field's exact filters and reddened with CCM89 on E(B-V) =
  0-1.5 by 0.01 (:func:`~clustercat.processing.sed_db.field_fit_grid`). BC03 Z = 0.02 fits
  every field in its exact filters (178 ages x 151 E(B-V) = 26,878 nodes); Yggdrasil
  (46 x 151 = 6,946 nodes) needs the documented stand-ins for WFC3/UVIS F438W, F555W and
  F814W (``stand_ins=True``, see ``processing/ssp_db.py``). Grid time is reported apart.
* Rates: :func:`~clustercat.processing.sed_db.fit_fields` over all sources (vectorised in
  blocks of sources x the whole grid), best of ``--repeat``, against the same χ² done one
  source at a time (``chunk_size=1``, a Python loop over sources, each still vectorised over
  the grid) on the first ``--baseline-n`` sources, in the same run; and the agreement of the
  new fits with the catalogue's (SQL-side values, |Δ| ≤ 0.3 dex).
* ``--write`` also times :func:`~clustercat.processing.sed_db.fit_release` end to end (read,
  grids, fit with residuals, one-transaction bulk write of every source with ≥ 3 bands),
  under a fresh ``label`` (a new method beside earlier runs; fits are never replaced): it
  writes ``sed_fit`` rows into the database.
* One core: BLAS/OpenMP threads are capped at ``--threads`` (default 1) before numpy loads,
  and the fitter keeps BLAS at one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads before numpy loads (``n = 1``: the fit uses one core)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _ingest_legus(url: str) -> tuple[int, float]:
    """Migrate ``url`` and ingest every LEGUS catalogue as release ``legus``."""
    from clustercat.ingest.legus import find_legus_files
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info
    from clustercat.schema import make_engine, migrate
    from clustercat.schema.config import data_dir

    files = find_legus_files(data_dir() / "legus")
    if not files:
        raise SystemExit(f"no LEGUS catalogues in {data_dir() / 'legus'} (set CLUSTERCAT_DATA)")
    started = time.perf_counter()
    migrate.upgrade(url)
    engine = make_engine(url)
    info = reader_info("legus")
    ingest_release(engine, ReleaseRequest("legus", info.name, info.version, files), info.reader())
    engine.dispose()
    return len(files), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", metavar="URL", help="database URL [temporary SQLite]")
    parser.add_argument("--release", default="legus", help="release name (default legus)")
    parser.add_argument("--model", choices=("yggdrasil", "bc03", "both"), default="both")
    parser.add_argument("--baseline-n", type=int, default=2000, help="sources in the loop run")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1 = one core)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--write", action="store_true", help="also time fit_release (writes)")
    args = parser.parse_args(argv)
    _limit_threads(args.threads)

    import dataclasses

    import numpy as np
    from clustercat.processing import sed_db
    from clustercat.schema import make_engine
    from sqlalchemy import text

    tmp = None
    url = args.database
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="clustercat_bench_sed_")
        url = f"sqlite:///{Path(tmp.name) / 'legus.db'}"
        n_files, t_ingest = _ingest_legus(url)
        print(f"temporary SQLite database: {n_files} LEGUS catalogues ingested in {t_ingest:.1f} s")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rel = sed_db.resolve_release(conn, args.release)
            if rel.default_sed_method_id is None:
                print(f"release {rel.name} has no default SED method", file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            fields = sed_db.read_photometry(conn, rel.id, fitted_by=rel.default_sed_method_id)
            t_read = time.perf_counter() - t0
            catalogue = dict(
                (int(s), (a, m))
                for s, a, m in conn.execute(
                    text("SELECT source_id, log_age, log_mass FROM sed_fit WHERE method_id = :m"),
                    {"m": rel.default_sed_method_id},
                ).all()
            )
        n_total = sum(f.n_sources for f in fields)
        print(
            f"{engine.dialect.name} database, release {rel.name} v{rel.version}: {len(fields)} "
            f"fields, {n_total} sources with catalogue SED fits, read in {t_read:.2f} s "
            f"({n_total / t_read:,.0f} sources/s); BLAS threads {args.threads}"
        )

        def first_n(n: int) -> list:
            out, left = [], n
            for f in fields:
                if left <= 0:
                    break
                k = min(left, f.n_sources)
                out.append(dataclasses.replace(
                    f, source_id=f.source_id[:k], id_in_release=f.id_in_release[:k],
                    mag=f.mag[:k], mag_err=f.mag_err[:k],
                ))  # fmt: skip
                left -= k
            return out

        baseline_fields = first_n(args.baseline_n)
        models = ("yggdrasil", "bc03") if args.model == "both" else (args.model,)
        for model in models:
            stand_ins = model == "yggdrasil"
            t0 = time.perf_counter()
            stored = sed_db.ensure_grid(engine, model, 0.02)
            t_store = time.perf_counter() - t0
            t0 = time.perf_counter()
            with engine.connect() as conn:
                grids, used = {}, {}
                for f in fields:
                    grids[f.field_id], used[f.field_id] = sed_db.field_fit_grid(
                        conn, stored, list(zip(f.filters, f.instruments, strict=True)),
                        stand_ins=stand_ins,
                    )  # fmt: skip
            t_grid = time.perf_counter() - t0
            n_sets = len({(f.filters, f.instruments) for f in fields})
            n_stand = sum(f.n_sources for f in fields if used[f.field_id])

            best_vec = np.inf
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fits = sed_db.fit_fields(fields, grids, residuals=False)
                best_vec = min(best_vec, time.perf_counter() - t0)
            best_loop = np.inf
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                loop = sed_db.fit_fields(baseline_fields, grids, residuals=False, chunk_size=1)
                best_loop = min(best_loop, time.perf_counter() - t0)
            n_vec, n_loop = len(fits), len(loop)
            rate_vec, rate_loop = n_vec / best_vec, n_loop / best_loop
            same = np.allclose(
                loop["log_age_yr"].to_numpy(), fits["log_age_yr"].to_numpy()[:n_loop],
                equal_nan=True,
            )  # fmt: skip

            ok = np.isfinite(fits["log_age_yr"].to_numpy())
            cat = np.array([catalogue[int(s)] for s in fits["source_id"]], dtype=float)
            d_age = np.abs(fits["log_age_yr"].to_numpy() - cat[:, 0])[ok]
            d_mass = np.abs(fits["log_mass_msun"].to_numpy() - cat[:, 1])[ok]
            print(
                f"\n[{model}] grid {stored.name} ({grids[fields[0].field_id].n_models} nodes); "
                f"{n_sets} filter sets; stored grid {t_store:.2f} s, read back + reddening "
                f"{t_grid:.2f} s; stand-ins for {n_stand} sources"
            )
            print(
                f"  vectorised : {n_vec} sources in {best_vec:.3f} s = {rate_vec:,.0f} "
                f"sources/s (best of {args.repeat})"
            )
            print(
                f"  per-source : {n_loop} sources in {best_loop:.3f} s = {rate_loop:,.0f} "
                f"sources/s (best of {args.repeat}; same ages: {same})"
            )
            print(f"  speed-up   : {rate_vec / rate_loop:.1f}x")
            print(
                f"  agreement with the catalogue's fits: |Δ log age| ≤ 0.3 dex "
                f"{np.mean(d_age <= 0.3):.1%}, |Δ log M| ≤ 0.3 dex {np.mean(d_mass <= 0.3):.1%} "
                f"({ok.sum()} fitted)"
            )
            if args.write:
                summary = sed_db.fit_release(
                    engine, rel.name, model, stand_ins=stand_ins,
                    label=f"bench {time.strftime('%Y%m%dT%H%M%S')}", version=rel.version,
                )  # fmt: skip
                s = summary.seconds
                total = sum(s.values())
                print(
                    f"  fit_release: {summary.n_fitted} of {summary.n_sources} sources written "
                    f"(run {summary.run_id}) in {total:.2f} s = {summary.n_fitted / total:,.0f} "
                    f"sources/s end to end (read {s['read']:.2f}, grids {s['grid']:.2f}, fit "
                    f"{s['fit']:.2f}, write {s['write']:.2f} s)"
                )
    finally:
        engine.dispose()
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
