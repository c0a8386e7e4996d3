"""Benchmark: injection-recovery throughput and trial bulk loading, in one run.

1. **Throughput**: frame sets of ``--batch`` clusters (C-4 sampling, BC03 magnitudes at
   10 Mpc) injected into a ``--size``^2 five-band frame set (noise-only images with the real
   PSFs) and recovered by the pipeline's stages
   (:func:`clustercat.processing.injection.run_frame_set`), as Dask tasks on a LocalCluster
   of 1 and of 2 single-threaded workers (:func:`clustercat.processing.pipeline_db.dask_client`).
   Reported: trials/s and trials/s per worker (core). Aim: >= 40 trials/s/core.
2. **Loading** (``--postgres URL``, a superuser URL; a scratch database is created and
   dropped): ``--rows`` trial rows written by
   :func:`clustercat.processing.injection_db.write_frame_set` (DataFrame to committed rows:
   conversion, COPY into a staging table, INSERT ... SELECT) against a raw ``COPY
   injection_trial FROM STDIN`` of the same rows already converted to tuples, in the same
   run. Aim: ours >= 0.5 x the raw rate.

    python bench/injection.py --postgres "postgresql+psycopg://root@/postgres?host=/var/run/postgresql"
    python bench/injection.py --size 1024 --frame-sets 2 --rows 100000   # quick check
"""

from __future__ import annotations

import argparse
import functools
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS
from clustercat.processing import ssp
from clustercat.processing.images import HSTImage
from clustercat.processing.injection import GeneratorSettings, field_context, run_frame_set
from clustercat.processing.injection_db import (
    TRIAL_VALUES,
    _grid_magnitudes,
    trial_rows_frame,
    write_frame_set,
)
from clustercat.processing.pipeline import PipelineSettings
from clustercat.processing.pipeline_db import dask_client
from rich.console import Console
from rich.table import Table

FILTERS = {"NUV": "F275W", "U": "F336W", "B": "F438W", "V": "F555W", "I": "F814W"}


def noise_frame_set(size: int, seed: int = 1) -> dict[str, HSTImage]:
    """Five noise-only frames (e-/s) on one grid, zeropoint 25 mag, sky rms 0.01 e-/s."""
    rng = np.random.default_rng(seed)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [24.17, 15.78]
    wcs.wcs.crpix = [size / 2, size / 2]
    scale = 0.03962 / 3600
    wcs.wcs.cd = [[-scale, 0], [0, scale]]
    return {
        band: HSTImage(
            path=Path(f"bench_{filt}.fits"),
            sha256="0" * 64,
            hdu=0,
            wcs=wcs,
            header=fits.Header(),
            filter_name=filt,
            instrument="WFC3/UVIS",
            detector="UVIS",
            photflam=1e-19,
            photplam=5000.0,
            exptime_s=1000.0,
            bunit="ELECTRONS/S",
            pixel_scale_arcsec=0.03962,
            zeropoint_ab=25.0,
            zeropoint_vega=25.0,
            shape=(size, size),
            data=rng.normal(0.0, 0.01, (size, size)),
        )  # fmt: skip
        for band, filt in FILTERS.items()
    }


def throughput(context, magnitudes, generator, workers: int, frame_sets: int) -> float:  # noqa: ANN001
    """Trials per second of ``frame_sets`` frame sets on ``workers`` Dask workers."""
    from distributed import wait

    with dask_client(None, workers) as client:
        shared, mags = client.scatter([context, magnitudes], broadcast=True)
        # warm-up: one small frame set per worker (imports, PSF caches)
        wait([client.submit(run_frame_set, shared, generator, 0, 10_000 + i, 5, mags,
                            pure=False) for i in range(workers)])  # fmt: skip
        started = time.perf_counter()
        futures = [client.submit(run_frame_set, shared, generator, 1, k, generator.batch_size,
                                 mags, pure=False) for k in range(frame_sets)]  # fmt: skip
        n = sum(len(f.result()) for f in futures)
        return n / (time.perf_counter() - started)


def synthetic_trials(n: int, seed: int = 2) -> pd.DataFrame:
    """``n`` trial rows with every column filled (the loading benchmark's payload)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"trial": np.arange(n, dtype=np.int64), "frame_set": np.arange(n) // 500})
    for name, kind in TRIAL_VALUES:
        if name == "frame_set":
            continue
        if kind == "bool":
            frame[name] = rng.uniform(size=n) < 0.5
        elif name == "ra":
            frame[name] = rng.uniform(24.0, 24.3, n)
        else:
            frame[name] = rng.uniform(0.5, 25.0, n)
    return frame


def loading(admin_url: str, n: int) -> tuple[float, float]:
    """(ours, raw COPY) seconds for ``n`` rows in a scratch PostgreSQL database."""
    from clustercat.ingest.bulk import frame_rows
    from clustercat.schema import make_engine, migrate
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"clustercat_bench_injection_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            gid = conn.execute(text("INSERT INTO galaxy (name) VALUES ('BENCH') RETURNING id"))
            gid = gid.scalar_one()
            fid = conn.execute(text("INSERT INTO field (galaxy_id, name) VALUES (:g, 'bench') "
                                    "RETURNING id"), {"g": gid}).scalar_one()  # fmt: skip
            runs = [conn.execute(text("INSERT INTO injection_run (field_id, status, grid, "
                                      "batch_size) VALUES (:f, 'running', 'c4', 500) "
                                      "RETURNING id"), {"f": fid}).scalar_one()
                    for _ in range(2)]  # fmt: skip
        trials = synthetic_trials(n)
        started = time.perf_counter()
        write_frame_set(engine, runs[0], fid, trials)
        ours = time.perf_counter() - started
        # raw: the same rows, already tuples, COPYed straight into the table
        cols = ["run_id", "trial", *(c for c, _ in TRIAL_VALUES)]
        frame = trial_rows_frame(trials).rename(columns={"id_in_release": "trial"})
        frame["run_id"] = runs[1]
        rows = frame_rows(frame, cols)
        quoted = ", ".join(f'"{c}"' for c in cols)
        started = time.perf_counter()
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY injection_trial ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw = time.perf_counter() - started
        with engine.connect() as conn:
            counts = conn.execute(text("SELECT run_id, count(*) FROM injection_trial "
                                       "GROUP BY run_id ORDER BY run_id")).all()  # fmt: skip
        assert [c[1] for c in counts] == [n, n], counts
        engine.dispose()
        return ours, raw
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="frame side (px)")
    parser.add_argument("--batch", type=int, default=500, help="clusters per frame set")
    parser.add_argument("--frame-sets", type=int, default=4, help="frame sets per measurement")
    parser.add_argument("--rows", type=int, default=1_000_000, help="trial rows to load")
    parser.add_argument("--postgres", default=None, help="superuser URL for the loading test")
    args = parser.parse_args()
    console = Console()
    import torch

    torch.set_num_threads(1)
    images = noise_frame_set(args.size)
    settings = PipelineSettings(n_fiducial=100, apcor_method="fiducial-cluster-psf-sky")
    t0 = time.perf_counter()
    context = field_context(images, settings, 10.0)
    grid = ssp.bc03_grid(tuple(FILTERS.values()))
    magnitudes = functools.partial(_grid_magnitudes, grid, 10.0, 3.1)
    console.print(f"field context of a {args.size}^2 five-band frame set: "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    generator = GeneratorSettings(batch_size=args.batch, log_mass_range=(2.5, 5.5))
    table = Table(title=f"injection-recovery, {args.batch} clusters per frame set")
    for col in ("workers", "frame sets", "trials/s", "trials/s/core", "aim"):
        table.add_column(col)
    for workers in (1, 2):
        rate = throughput(context, magnitudes, generator, workers, args.frame_sets)
        table.add_row(str(workers), str(args.frame_sets), f"{rate:.1f}",
                      f"{rate / workers:.1f}", ">= 40")  # fmt: skip
    console.print(table)
    if args.postgres:
        ours, raw = loading(args.postgres, args.rows)
        t = Table(title=f"{args.rows:,} trial rows into PostgreSQL")
        for col in ("path", "seconds", "rows/s", "vs raw COPY"):
            t.add_column(col)
        t.add_row("write_frame_set (DataFrame -> committed)", f"{ours:.2f}",
                  f"{args.rows / ours:,.0f}", f"{raw / ours:.2f} (aim >= 0.5)")  # fmt: skip
        t.add_row("raw COPY of prepared tuples", f"{raw:.2f}", f"{args.rows / raw:,.0f}", "1")
        console.print(t)


if __name__ == "__main__":
    main()
