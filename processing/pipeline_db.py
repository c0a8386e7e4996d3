"""The image pipeline against the database: registered images in, a new release out.

:func:`run_pipeline` finds a field's registered images (:mod:`.images_db`), runs
:func:`clustercat.processing.pipeline.run_field` on a Dask cluster and writes the result as
a NEW release through the same atomic loader as every catalogue
(:func:`clustercat.ingest.loader.ingest_release`):

* the release's input files are the five images plus the run's parameter file (a JSON of
  every setting, the distance and the field): the same images with the same settings
  under the same name are "already ingested", and then nothing is computed at all (the
  loader checks before it calls the reader that runs the pipeline); other images or
  settings under an existing name need ``new_version``;
* the measurement happens inside the loader's reading step, before its single write
  transaction: a run that is killed or fails leaves no release behind;
* the ``processing_run`` row (module ``image_pipeline``: every parameter, the code and
  library versions, the images' sha256, the aperture corrections and the fiducial
  constants) is written in that same transaction; photometry, morphology and selection
  rows point at it (``run_id``), the release's config names it and the release shows
  the run's morphology constants in ``cluster_catalogue``.

Dask: a ``distributed.LocalCluster`` (threads, ``workers`` of them) by default, or the
scheduler at ``scheduler`` (``tcp://host:8786``). Also here: what the dashboard reads about
a source's images (stamps) and aperture photometry (growth curve).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from clustercat.ingest.contract import CatalogueTables, empty_frame
from clustercat.ingest.loader import IngestResult, ReleaseRequest, ingest_release
from clustercat.ingest.releases import code_version
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, text

from . import images_db
from .images import HSTImage
from .pipeline import MODULE, PIPELINE_VERSION, FieldResult, PipelineSettings, catalogue_tables
from .pipeline import run_field as run_field_images

#: Survey recorded for pipeline releases unless another is given: the pipeline follows the
#: PHANGS-HST cluster pipeline of Thilker et al. (2022).
DEFAULT_SURVEY = "PHANGS-HST"

log = logging.getLogger(__name__)

#: Libraries whose versions go into the run's config.
LIBRARIES = ("numpy", "scipy", "astropy", "photutils", "dask", "distributed", "pandas")


class PipelineError(RuntimeError):
    """A pipeline run that cannot start (unknown field, no distance, ...)."""


@dataclass
class PipelineRun:
    """What :func:`run_pipeline` did."""

    release: str
    status: str  # "ingested" | "already ingested"
    version: int | None
    release_id: int | None
    field: str
    distance_mpc: float
    run_id: int | None = None
    n_sources: int | None = None
    n_candidates: int | None = None
    median_ci: float | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    ingest: IngestResult | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class FieldInfo:
    """A field of the database with its galaxy and the galaxy's adopted distance."""

    field_id: int
    name: str
    galaxy: str
    distance_mpc: float | None


def field_info(conn: Connection, name: str) -> FieldInfo:
    """The field called ``name`` (``NGC 628C``, ``ngc628c``: :func:`images_db.field_key`), or
    :class:`PipelineError` naming the fields the database knows."""
    row = conn.execute(
        text(
            "SELECT f.id, f.name, g.name, g.distance_mpc FROM field f "
            "JOIN galaxy g ON g.id = f.galaxy_id WHERE lower(f.name) = lower(:name)"
        ),
        {"name": images_db.field_key(name)},
    ).first()
    if row is None:
        known = conn.execute(text("SELECT name FROM field ORDER BY name")).scalars().all()
        listing = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise PipelineError(f"unknown field {name!r} (known fields: {listing or 'none'})")
    return FieldInfo(int(row[0]), str(row[1]), str(row[2]),
                     None if row[3] is None else float(row[3]))  # fmt: skip


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the measurement depends on."""
    out = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 1) -> Iterator[Any]:
    """A ``distributed.Client``: on the scheduler at ``scheduler``, else on a new
    ``LocalCluster`` of ``workers`` single-threaded workers in this process (no pickling of
    the images; the photometry releases the GIL in numpy)."""
    from distributed import Client, LocalCluster

    # the scheduler's and workers' INFO lines (start, connect, retire ...) drown the progress
    logging.getLogger("distributed").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=max(1, int(workers)),
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,  # fmt: skip
        Client(cluster) as client,
    ):
        yield client


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), disable=not show, console=Console(stderr=True),
    )  # fmt: skip


def _parameter_file(
    folder: Path, info: FieldInfo, settings: PipelineSettings, distance: float, survey: str
) -> Path:
    """The run's parameter file: one of the release's input files (its identity)."""
    path = folder / f"{MODULE}_{info.name}_parameters.json"
    doc = {
        "module": MODULE,
        "pipeline_version": PIPELINE_VERSION,
        "field": info.name,
        "galaxy": info.galaxy,
        "survey": survey,
        "distance_mpc": distance,
        "settings": settings.to_dict(),
    }
    path.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")
    return path


def _band_tables(
    info: FieldInfo, survey: str, band: str, image: images_db.ImageRecord
) -> CatalogueTables:
    """An image's own (empty) tables: the loader records it as an input file of the release."""
    from clustercat.ingest import contract

    return CatalogueTables(
        survey=survey, galaxy=info.galaxy, field=info.name,
        filters={band: image.filter_name}, instruments={band: image.instrument},
        reader=MODULE, reader_version=PIPELINE_VERSION, layout=None,
        source_path=Path(image.path), sources=empty_frame(contract.SOURCE_COLUMNS),
        photometry=empty_frame(contract.PHOTOMETRY_COLUMNS),
        morphology=empty_frame(contract.MORPHOLOGY_COLUMNS),
        classifications=empty_frame(contract.CLASSIFICATION_COLUMNS),
        classification_methods=[], sed_fits=empty_frame(contract.SED_COLUMNS),
        sed_method=None, report={"rows": 0},
        notes=[f"{band} image ({image.filter_name}); measured rows are in the parameter file's "
               "tables"],
    )  # fmt: skip


def _run_config(
    result: FieldResult,
    images: Mapping[str, HSTImage],
    info: FieldInfo,
    distance_source: str,
    cluster: str,
) -> dict[str, Any]:
    constants = result.constants
    return {
        "field": info.name,
        "galaxy": info.galaxy,
        "distance_mpc": result.distance_mpc,
        "distance_source": distance_source,
        "settings": result.settings.to_dict(),
        "images": {
            band: {
                "path": str(im.path),
                "sha256": im.sha256,
                "filter": im.filter_name,
                "instrument": im.instrument,
                "exptime_s": im.exptime_s,
                "zeropoint_ab": im.zeropoint_ab,
                "zeropoint_vega": im.zeropoint_vega,
                "pixel_scale_arcsec": im.pixel_scale_arcsec,
                "shape": list(im.data.shape),
            }
            for band, im in images.items()
        },  # fmt: skip
        "aperture_corrections": {
            band: {**ac.to_dict(), "stored_as": "aperture_correction_mag = -value_mag"}
            for band, ac in result.aperture_corrections.items()
        },
        "fiducial_constants": constants.to_dict() if hasattr(constants, "to_dict") else None,
        "constants_version": getattr(constants, "version", None),
        "flux_mjy": "count rate x 10^(-0.4 (zeropoint_ab - 8.90)) Jy (PHOTFNU equivalent)",
        "n_sources": len(result.sources),
        "n_candidates": result.n_candidates,
        "n_tiles": result.n_tiles,
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
        "dask": cluster,
        "libraries": library_versions(),
    }


def run_pipeline(
    engine: Engine,
    field_name: str,
    release: str,
    *,
    settings: PipelineSettings | None = None,
    distance_mpc: float | None = None,
    scheduler: str | None = None,
    workers: int = 1,
    new_version: bool = False,
    survey: str = DEFAULT_SURVEY,
    show_progress: bool = False,
) -> PipelineRun:
    """Run the image pipeline on ``field_name``'s registered images as release ``release``.

    Raises :class:`PipelineError` (unknown field, no distance),
    :class:`~clustercat.processing.images_db.MissingBandsError` (bands without an image)
    and the image layer's errors (a file whose sha256 changed since it was registered).
    See the module docstring for atomicity and idempotence.
    """
    started = time.perf_counter()
    settings = settings or PipelineSettings()
    with engine.connect() as conn:
        info = field_info(conn, field_name)
        records = images_db.field_images(conn, info.name, settings.bands)
    if distance_mpc is None:
        if info.distance_mpc is None:
            raise PipelineError(f"galaxy {info.galaxy} of field {info.name} has no distance; "
                                "give one (--distance-mpc)")  # fmt: skip
        distance, distance_source = info.distance_mpc, f"galaxy.distance_mpc of {info.galaxy}"
    else:
        distance, distance_source = float(distance_mpc), "given"
    if not distance > 0:
        raise PipelineError(f"distance must be positive, got {distance} Mpc")
    outcome: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="clustercat-pipeline-") as tmp:
        parameters = _parameter_file(Path(tmp), info, settings, distance, survey)
        paths = {Path(r.path).resolve(): (band, r) for band, r in records.items()}

        def read(path: Path) -> CatalogueTables:
            """The loader's reader: the parameter file runs the pipeline; images list it."""
            if Path(path).resolve() in paths:
                band, record = paths[Path(path).resolve()]
                return _band_tables(info, survey, band, record)
            images = {band: images_db.open_image(r) for band, r in records.items()}
            cluster = scheduler or f"LocalCluster(n_workers={workers}, processes=False)"
            with _progress(show_progress) as progress, dask_client(scheduler, workers) as client:
                result = run_field_images(images, settings, distance, client=client,
                                          progress=progress if show_progress else None)  # fmt: skip
            version = str(getattr(result.constants, "version", "none"))[:32]
            outcome["result"] = result
            run = {
                "module": MODULE,
                "config": _run_config(result, images, info, distance_source, cluster),
                "code_version": code_version(),
                "morphology_version": version,
            }
            return catalogue_tables(
                result, images, field_name=info.name, galaxy=info.galaxy, survey=survey,
                source_path=Path(path), constants_version=version, processing_run=run,
            )  # fmt: skip

        request = ReleaseRequest(
            name=release, reader=MODULE, reader_version=PIPELINE_VERSION,
            files=[parameters, *(Path(r.path) for r in records.values())],
            survey=survey, pipeline_version=f"{MODULE} {PIPELINE_VERSION}",
            new_version=new_version,
            options={"processing_run_module": MODULE, "field": info.name,
                     "distance_mpc": distance,
                     "images": {b: r.sha256 for b, r in records.items()}},
        )  # fmt: skip
        ingest = ingest_release(engine, request, read, show_progress=False)

    out = PipelineRun(
        release=release, status=ingest.status, version=ingest.version,
        release_id=ingest.release_id, field=info.name, distance_mpc=distance, ingest=ingest,
    )  # fmt: skip
    if ingest.release_id is not None:
        with engine.connect() as conn:
            stats = release_summary(conn, ingest.release_id)
        out.run_id, out.n_sources = stats["run_id"], stats["n_sources"]
        out.n_candidates, out.median_ci = stats["n_candidates"], stats["median_ci"]
    if "result" in outcome:
        out.timings_s = dict(outcome["result"].timings_s)
    out.seconds = time.perf_counter() - started
    return out


def release_summary(conn: Connection, release_id: int) -> dict[str, Any]:
    """Sources, candidates, median CI and the processing run of a pipeline release."""
    run_id = conn.execute(
        text("SELECT max(id) FROM processing_run WHERE release_id = :r AND module = :m"),
        {"r": release_id, "m": MODULE},
    ).scalar()
    n_sources = conn.execute(
        text("SELECT count(*) FROM source WHERE release_id = :r"), {"r": release_id}
    ).scalar()
    n_candidates = conn.execute(
        text(
            "SELECT count(*) FROM source_selection x JOIN source s ON s.id = x.source_id "
            "WHERE s.release_id = :r AND x.candidate"
        ),
        {"r": release_id},
    ).scalar()
    ci = conn.execute(
        text(
            "SELECT m.ci FROM morphology m JOIN source s ON s.id = m.source_id "
            "WHERE s.release_id = :r AND m.ci IS NOT NULL"
        ),
        {"r": release_id},
    ).scalars()
    values = np.fromiter((float(v) for v in ci), dtype=float)
    return {
        "run_id": None if run_id is None else int(run_id),
        "n_sources": int(n_sources or 0),
        "n_candidates": int(n_candidates or 0),
        "median_ci": float(np.median(values)) if values.size else None,
    }


# --- what the dashboard reads ---------------------------------------------------------------


def source_images(conn: Connection, source_pk: int) -> tuple[pd.Series, dict[str, Any]] | None:
    """The source's row (x, y 1-based, ra, dec, field) and its field's registered images
    (band -> image record), or None when the source is unknown or its field has no image."""
    row = conn.execute(
        text(
            "SELECT s.id, s.x, s.y, s.ra, s.dec, f.name AS field FROM source s "
            "JOIN field f ON f.id = s.field_id WHERE s.id = :pk"
        ),
        {"pk": int(source_pk)},
    ).mappings().first()  # fmt: skip
    if row is None:
        return None
    present = {r.band for r in images_db.list_images(conn, row["field"])}
    if not present:
        return None
    records = images_db.field_images(
        conn, row["field"], [b for b in images_db.ALL_BANDS if b in present]
    )
    return pd.Series(dict(row)), records


def growth_curve(conn: Connection, source_pk: int) -> pd.DataFrame:
    """Aperture photometry of a source: band, radius_px, mag_vega, mag_err, flux_mjy,
    sky_median (e-/s/pix), with the total (aperture-corrected) magnitude as radius NaN."""
    rows = conn.execute(
        text(
            "SELECT f.band, p.radius_px, p.kind, p.mag_vega, p.mag_err, p.flux_mjy, "
            "p.sky_median, p.aperture_correction_mag FROM photometry p "
            "JOIN filter f ON f.id = p.filter_id WHERE p.source_id = :pk "
            "ORDER BY f.pivot_wavelength_aa, p.radius_px"
        ),
        {"pk": int(source_pk)},
    ).all()
    cols = ["band", "radius_px", "kind", "mag_vega", "mag_err", "flux_mjy", "sky_median",
            "aperture_correction_mag"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=cols)
    frame.loc[frame["kind"] == "total", "radius_px"] = np.nan
    return frame


def stamps(
    images: Mapping[str, HSTImage], ra: float, dec: float, size_px: int = 41
) -> dict[str, np.ndarray]:
    """``size_px`` square cutouts (astropy ``Cutout2D``, NaN outside the image) per band,
    centred on (ra, dec) through each image's WCS."""
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    centre = SkyCoord(ra, dec, unit="deg")
    out = {}
    for band, image in images.items():
        cut = Cutout2D(image.data, centre, (size_px, size_px), wcs=image.wcs, mode="partial",
                       fill_value=np.nan)  # fmt: skip
        out[band] = cut.data
    return out


def rgb_stamp(cutouts: Mapping[str, np.ndarray], bands: Sequence[str] = ("I", "V", "B")) -> Any:
    """An RGB image (uint8, ny x nx x 3) of three bands (red, green, blue) with astropy's
    ``make_lupton_rgb`` (asinh stretch, scaled by the green band's range)."""
    from astropy.visualization import make_lupton_rgb

    planes = [np.nan_to_num(np.asarray(cutouts[b], dtype=float)) for b in bands]
    finite = np.concatenate([p.ravel() for p in planes])
    lo, hi = np.percentile(finite, [5, 99.5])
    stretch = max(float(hi - lo), 1e-12) / 4.0
    return make_lupton_rgb(*(p - lo for p in planes), stretch=stretch, Q=8)
