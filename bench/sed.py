"""Benchmark: χ² SED fits of every SED-fitted LEGUS source, vectorised vs one source at a time.

Run: ``python bench/sed.py [--model yggdrasil|bc03|both] [--baseline-n 2000] [--per-galaxy]``

What it does
------------
* Reads every ``hlsp_legus_*.tab`` in ``<data_dir>/legus`` with pandas (whitespace, no
  header; columns from ``legus/LAYOUTS.md`` §2.1: 6-15 magnitudes/errors UV, U, B, V, I in
  Vega, 17 age, 20 mass, 23 E(B-V), 33 Nflt; NGC 1313 files shift every column from 4 on by
  +2). Sentinels 66.666 / 99.999 become NaN. A source is "SED-fitted" when age > 0 and
  Nflt != 200 (the two LEGUS conventions, LAYOUTS.md §1).
* Filters per galaxy from LAYOUTS.md §2.3 (B = F435W or F438W, V = F555W or F606W; the six
  galaxies marked unknown are taken as F438W/F555W). Instruments: ``acs-wfc3`` files use ACS
  for V, I and F435W, WFC3/UVIS for F275W, F336W, F438W; ``wfc3`` files are all WFC3/UVIS.
* Distances: Calzetti et al. (2015) Table 1 (``data/tables``), the LEGUS distances.
* Models: BC03 solar with each galaxy's exact filters (178 ages × 151 E(B-V) = 26,878 nodes)
  and/or Yggdrasil Z = 0.02 (46 × 151 = 6,946 nodes; ACS F435W-F814W curves for every galaxy,
  F435W standing in for F438W: ``f435w_for_f438w=True``, see ``processing/ssp.py``).
* Times the fit of all sources with :func:`clustercat.processing.sed_fit.fit_sed` (blocks of
  sources × whole grid) and, in the same run, the same χ² done one source at a time
  (``chunk_size=1``, i.e. a Python loop over sources) on the first ``--baseline-n`` sources,
  and prints both rates (best of ``--repeat``) and their ratio. Grid synthesis is timed
  separately (not in the rates).
* One core: BLAS threads are limited to ``--threads`` (default 1) before numpy loads (and
  ``fit_sed`` keeps BLAS at one thread); the rest of numpy is single-threaded anyway.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads before numpy loads (``n = 1``: the fit uses one core)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("yggdrasil", "bc03", "both"), default="both")
    parser.add_argument("--baseline-n", type=int, default=2000, help="sources in the loop run")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1 = one core)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--per-galaxy", action="store_true", help="agreement per catalogue")
    args = parser.parse_args(argv)
    _limit_threads(args.threads)

    import astropy.units as u
    import numpy as np
    import pandas as pd
    from astropy.table import Table
    from clustercat.processing import sed_fit, ssp
    from clustercat.schema.config import data_dir

    root = data_dir()
    files = sorted((root / "legus").glob("hlsp_legus_*.tab"))
    if not files:
        print(f"no LEGUS catalogues in {root / 'legus'} (set CLUSTERCAT_DATA)", file=sys.stderr)
        return 2
    table = Table.read(
        root / "tables" / "calzetti2015_table1_legus_galaxies.txt",
        format="ascii.commented_header",
        header_start=3,
    )
    names, dists = table["name"], table["distance_mpc"]
    distance_mpc = {str(n).upper(): float(d) for n, d in zip(names, dists, strict=True)}

    f438w_f606w = {
        *("ic4247", "ngc3738", "ngc5238", "ngc5474", "ngc5477"),
        *("ugc1249", "ugc685", "ugc7408", "ugca281"),
    }
    f435w_f555w = {"ngc4449", "ngc5253", "ngc628-c", "ngc628-e", "ngc1313-e", "ngc1313-w"}

    def galaxy_key(path) -> tuple[str, str]:
        parts = path.name.split("_")  # hlsp legus hst <inst> <galaxy> multiband ...
        return parts[3], parts[4]

    def calzetti_name(key: str) -> str:
        base = key.split("-")[0] if key[-2:-1] == "-" and len(key.split("-")[-1]) == 1 else key
        return base.upper()

    catalogue = []
    for path in files:
        inst, key = galaxy_key(path)
        raw = pd.read_csv(path, sep=r"\s+", header=None)
        shift = 2 if key.startswith("ngc1313") else 0

        def col(i: int, raw=raw, shift=shift) -> np.ndarray:
            return raw[i - 1 + (shift if i >= 4 else 0)].to_numpy(dtype=float)

        mags = np.column_stack([col(i) for i in (6, 8, 10, 12, 14)])
        errs = np.column_stack([col(i) for i in (7, 9, 11, 13, 15)])
        bad = np.isclose(mags, 66.666) | np.isclose(mags, 99.999)
        bad |= np.isclose(errs, 66.666) | np.isclose(errs, 99.999)
        mags[bad] = np.nan
        errs[bad] = np.nan
        fitted = (col(17) > 0) & (col(33) != 200)
        b = "F435W" if key in f435w_f555w else "F438W"
        v = "F606W" if key in f438w_f606w else "F555W"
        acs = inst == "acs-wfc3"
        exact = (
            "F275W",
            "F336W",
            f"ACS_WFC_{b}" if b == "F435W" else "WFC3_F438W",
            f"ACS_WFC_{v}" if acs else f"WFC3_{v}",
            "ACS_WFC_F814W" if acs else "WFC3_F814W",
        )
        catalogue.append(
            {
                "galaxy": key,
                "filters_exact": exact,
                "filters_ygg": ("F275W", "F336W", b, v, "F814W"),
                "distance_mpc": distance_mpc[calzetti_name(key)],
                "mag": mags[fitted],
                "err": errs[fitted],
                "log_age": np.log10(col(17)[fitted]),
                "log_mass": np.log10(col(20)[fitted]),
            }
        )
    n_total = sum(len(c["mag"]) for c in catalogue)
    print(
        f"{len(files)} LEGUS catalogues, {n_total} SED-fitted sources, BLAS threads {args.threads}"
    )

    models = ("yggdrasil", "bc03") if args.model == "both" else (args.model,)
    for model in models:
        t0 = time.perf_counter()
        grids = {}
        for c in catalogue:
            key = c["filters_exact"] if model == "bc03" else c["filters_ygg"]
            if key not in grids:
                base = (
                    ssp.bc03_grid(key)
                    if model == "bc03"
                    else ssp.yggdrasil_grid(key, f435w_for_f438w=True)
                )
                grids[key] = sed_fit.build_fit_grid(base)
        t_grid = time.perf_counter() - t0
        n_nodes = next(iter(grids.values())).n_models

        def run_all(chunk_size: int | None, limit: int | None = None, model=model, grids=grids):
            results, done = [], 0
            for c in catalogue:
                key = c["filters_exact"] if model == "bc03" else c["filters_ygg"]
                take = len(c["mag"]) if limit is None else min(len(c["mag"]), limit - done)
                if take <= 0:
                    break
                results.append(
                    sed_fit.fit_sed(
                        c["mag"][:take],
                        c["err"][:take],
                        grids[key],
                        distance=c["distance_mpc"] * u.Mpc,
                        chunk_size=chunk_size,
                    )
                )
                done += take
            return results, done

        best_vec = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            results, n_vec = run_all(None)
            best_vec = min(best_vec, time.perf_counter() - t0)
        t_loop = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            _, n_loop = run_all(1, limit=args.baseline_n)
            t_loop = min(t_loop, time.perf_counter() - t0)
        rate_vec, rate_loop = n_vec / best_vec, n_loop / t_loop

        fits = pd.concat(results, ignore_index=True)
        cat_age = np.concatenate([c["log_age"] for c in catalogue])
        cat_mass = np.concatenate([c["log_mass"] for c in catalogue])
        ok = fits["log_age_yr"].notna().to_numpy()
        age_agree = np.mean(np.abs(fits["log_age_yr"].to_numpy()[ok] - cat_age[ok]) <= 0.3)
        mass_agree = np.mean(np.abs(fits["log_mass_msun"].to_numpy()[ok] - cat_mass[ok]) <= 0.3)
        print(
            f"\n[{model}] {len(grids)} filter sets, {n_nodes} (age × E(B-V)) nodes per grid, "
            f"grid synthesis + reddening {t_grid:.2f} s"
        )
        print(
            f"  vectorised : {n_vec} sources in {best_vec:.3f} s = {rate_vec:,.0f} sources/s "
            f"(best of {args.repeat})"
        )
        print(
            f"  per-source : {n_loop} sources in {t_loop:.3f} s = {rate_loop:,.0f} sources/s "
            f"(best of {args.repeat})"
        )
        print(f"  speed-up   : {rate_vec / rate_loop:.1f}x")
        print(
            f"  agreement with the LEGUS catalogue: |Δ log age| ≤ 0.3 dex {age_agree:.1%}, "
            f"|Δ log M| ≤ 0.3 dex {mass_agree:.1%} ({ok.sum()} fitted)"
        )
        if args.per_galaxy:
            for c, r in zip(catalogue, results, strict=True):
                da = np.abs(r["log_age_yr"].to_numpy() - c["log_age"]) <= 0.3
                dm = np.abs(r["log_mass_msun"].to_numpy() - c["log_mass"]) <= 0.3
                print(
                    f"    {c['galaxy']:<12} {len(r):>5}  {'/'.join(c['filters_exact']):<60}"
                    f" {c['distance_mpc']:>5.2f} Mpc  age {da.mean():6.1%}  mass {dm.mean():6.1%}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
