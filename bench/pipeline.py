"""Benchmark: the image pipeline end to end on a 4096^2 five-band field of 10^4 sources.

Run: ``python bench/pipeline.py [--size 4096] [--sources 10000] [--workers 1 2]
[--tile-px 1024] [--database URL] [--keep DIR]``

What it does
------------
* Field: ``--sources`` clusters at uniform random positions (at least 3 px apart) on a
  ``--size``^2 grid, V magnitudes uniform in 19-25 mag, colours V + N(0, 0.3) mag, Moffat
  profiles (FWHM 0-4 px on a 0.25 px grid, eta from Thilker's grid) convolved with each
  band's PSF (:func:`clustercat.processing.profiles.add_profiles`,
  :func:`clustercat.processing.psf.load_psf`), Poisson and read noise with the real NGC 628-C
  zeropoints and exposure times; written as five MAST-like FITS files (rendering and writing
  timed apart, not in the pipeline times).
* Database: ``--database URL`` or a temporary SQLite file; the images are registered once.
* Runs: for each ``--workers`` count, :func:`clustercat.processing.pipeline_db.run_pipeline`
  on a ``distributed.LocalCluster`` of that many single-threaded workers (threads in this
  process), tiles of ``--tile-px``, a release of its own each time (so every run computes);
  the per-process cache of the aperture-correction model ladder is cleared before each run.
  A warm-up run on a 512^2 cut first pays the one-time costs (imports, PSF models).
  Printed: each stage's time (detection, photometry + aperture corrections + fiducial
  constants as Dask tasks, morphology, selection), the rest of the release's ingest
  (reading and hashing the five images, starting the cluster, writing the rows), the
  total, and the speed-up of each worker count over the first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.wcs import WCS
from rich.console import Console
from rich.table import Table

console = Console(width=180)


def render_field(folder: Path, size: int, n_sources: int, seed: int = 11) -> dict[str, Path]:
    """Five FITS images of ``n_sources`` clusters on a ``size``^2 grid (see module docstring)."""
    from clustercat.processing.hst_metadata import read_header_info
    from clustercat.processing.images import write_hst_fits
    from clustercat.processing.profiles import add_profiles
    from clustercat.processing.psf import load_psf
    from clustercat.processing.selection import suppress_fainter_neighbours

    rng = np.random.default_rng(seed)
    draw = int(n_sources * 1.3)
    x, y = rng.uniform(10, size - 11, draw), rng.uniform(10, size - 11, draw)
    keep = ~suppress_fainter_neighbours(x, y, rng.random(draw), 3.0)
    x, y = x[keep][:n_sources], y[keep][:n_sources]
    n = len(x)
    mag_v = rng.uniform(19.0, 25.0, n)
    fwhm = np.round(rng.uniform(0.0, 4.0, n) * 4) / 4
    eta = rng.choice([1.5, 2.0, 3.0, 4.0], n)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [24.1739, 15.7836]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cd = [[-0.04 / 3600, 0], [0, 0.04 / 3600]]
    info = read_header_info("ngc628c")
    paths = {}
    for _, row in info[info["band"].notna()].iterrows():
        mag = mag_v if row["band"] == "V" else mag_v + rng.normal(0.0, 0.3, n)
        model = np.zeros((size, size))
        add_profiles(model, x, y, 10 ** (-0.4 * (mag - row["zp_vega"])), fwhm, eta,
                     psf=load_psf(row["filter"], row["instrument"]))  # fmt: skip
        t = row["exptime_s"]
        data = rng.poisson((model + 0.01) * t) / t - 0.01 + rng.normal(0, 0.003, model.shape)
        paths[row["band"]] = write_hst_fits(
            folder / f"bench_{row['filter'].lower()}_drc.fits", data, wcs,
            filter_name=row["filter"], instrument=row["instrument"], photflam=row["photflam"],
            photplam=row["photplam"], exptime_s=t,
        )  # fmt: skip
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tile-px", type=int, default=1024)
    parser.add_argument("--n-fiducial", type=int, default=300)
    parser.add_argument("--database", default=None, help="database URL [temporary SQLite]")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the images")
    args = parser.parse_args()

    from clustercat.processing import pipeline
    from clustercat.processing.images_db import register_images
    from clustercat.processing.pipeline_db import run_pipeline
    from clustercat.schema import make_engine, migrate

    with tempfile.TemporaryDirectory(prefix="clustercat-bench-pipeline-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        paths = render_field(folder, args.size, args.sources)
        console.print(f"rendered {args.sources:,} sources in five {args.size}^2 images in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        migrate.upgrade(url)
        engine = make_engine(url)
        register_images(engine, list(paths.values()), field="bench", galaxy="NGC 628")
        settings = pipeline.PipelineSettings(tile_px=args.tile_px, n_fiducial=args.n_fiducial)
        # warm-up (imports, PSF models) on a 512^2 cut, so no timed run pays one-time costs
        from dataclasses import replace

        from clustercat.processing.images import read_hst_image

        cut = {b: replace(im, data=im.data[:512, :512].copy())
               for b, im in ((b, read_hst_image(p)) for b, p in paths.items())}  # fmt: skip
        pipeline.run_field(cut, replace(settings, tile_px=None, n_fiducial=20), 9.9)
        columns = ("workers", "sources", "candidates", "detection (s)",
                   "photometry+apcor+constants (s)", "morphology (s)", "selection (s)",
                   "read images + write db (s)", "total (s)", "speed-up")  # fmt: skip
        table = Table(*columns, title="image pipeline")
        first = None
        for workers in args.workers:
            pipeline.band_model_apertures.cache_clear()
            run = run_pipeline(engine, "bench", f"bench-{workers}w-{time.time_ns()}",
                               settings=settings, distance_mpc=9.9, workers=workers,
                               show_progress=True)  # fmt: skip
            stages = run.timings_s
            load = run.ingest.seconds - sum(stages.values()) if run.ingest else float("nan")
            first = first or run.seconds
            table.add_row(
                str(workers), f"{run.n_sources:,}", f"{run.n_candidates:,}",
                f"{stages['detection']:.1f}", f"{stages['photometry']:.1f}",
                f"{stages['morphology']:.1f}", f"{stages['selection']:.1f}", f"{load:.1f}",
                f"{run.seconds:.1f}", f"{first / run.seconds:.2f}x",
            )  # fmt: skip
        engine.dispose()
        console.print(table)


if __name__ == "__main__":
    main()
