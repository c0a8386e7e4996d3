"""Injection runs against the database: a field's registered images in, trial rows out.

:func:`run_injection` (``clustercat inject run``) finds the field, its images
(:mod:`.images_db`), the galaxy's distance and a stored SSP grid (:mod:`.ssp_db`), builds
the field context once (sky, aperture corrections, fiducial constants: the pipeline's own
functions, :func:`clustercat.processing.injection.field_context`) and runs one Dask task per
frame set (:func:`clustercat.processing.injection.run_frame_set`) on a ``LocalCluster`` or
the scheduler given (:func:`clustercat.processing.pipeline_db.dask_client`).

Atomicity and resumption:

* the ``injection_run`` row is written first, ``status = 'running'``, keyed by
  ``identity_sha256`` (field, image checksums, generator and pipeline settings, SSP grid,
  seed and size);
* each finished frame set's trials are written in **one** transaction (bulk: ``COPY`` into a
  staging table on PostgreSQL, ``executemany`` on SQLite, through :mod:`clustercat.ingest.bulk`);
* when every frame set is in, the run becomes ``complete``. The view
  ``injection_completeness`` shows complete runs only, so a killed run is invisible; the
  same command again finds the running row by its identity and runs only the frame sets
  that are missing. Frame set ``k`` is seeded by ``(seed, k)``, so the resumed run's table
  is the uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from clustercat.ingest.bulk import StageSpec, drop_stage, fill_stage, frame_rows, move_stage
from clustercat.ingest.releases import code_version
from clustercat.schema import write_transaction
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, text

from . import images_db
from .injection import (
    GeneratorSettings,
    InjectionInputError,
    cluster_magnitudes,
    field_context,
    frame_set_sizes,
    run_frame_set,
)
from .pipeline import BANDS, PipelineSettings
from .pipeline_db import PipelineError, dask_client, field_info

#: Trial columns written, in order (``run_id`` comes from the run).
TRIAL_VALUES: tuple[tuple[str, str], ...] = (
    ("frame_set", "int"), ("x", "float"), ("y", "float"), ("ra", "float"), ("dec", "float"),
    ("log_mass", "float"), ("log_age", "float"), ("av_mag", "float"), ("r_eff_pc", "float"),
    ("fwhm_px", "float"), ("profile_index", "float"),
    *((f"mag_in_{b.lower()}", "float") for b in BANDS),
    *((f"mag_out_{b.lower()}", "float") for b in BANDS),
    ("ci_out", "float"), ("mci_in_out", "float"), ("mci_out_out", "float"),
    ("detected", "bool"), ("passes_photometric_cuts", "bool"), ("passes_ci_cut", "bool"),
    ("in_selection_region", "bool"), ("passes_mag_cut", "bool"), ("recovered", "bool"),
    ("match_distance_px", "float"),
)  # fmt: skip

TRIAL_STAGE = StageSpec(
    name="stage_injection_trial",
    target="injection_trial",
    columns=TRIAL_VALUES,
    insert_columns=("run_id", "trial", *(n for n, _ in TRIAL_VALUES)),
    select=(":run_id", "st.id_in_release", *(f"st.{n}" for n, _ in TRIAL_VALUES)),
    join_source=False,
)
DEFAULT_SSP_MODEL = "bc03"


class InjectionError(RuntimeError):
    """An injection run that cannot start (unknown field, no images, no SSP grid, ...)."""


@dataclass
class InjectionRunResult:
    """What :func:`run_injection` did."""

    run_id: int
    status: str  # "complete" | "already complete" | "incomplete"
    field: str
    n_trials: int
    n_frame_sets: int
    frame_sets_run: int
    frame_sets_before: int
    seconds: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("frame sets"), TimeElapsedColumn(), disable=not show,
        console=Console(stderr=True),
    )  # fmt: skip


def _sha(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _grid_magnitudes(grid: Any, distance_mpc: float, r_v: float, trials: pd.DataFrame):
    """Magnitudes (n, 5) of the trials from the stored grid (module level: picklable)."""
    return cluster_magnitudes(grid, trials["log_mass"].to_numpy(), trials["log_age"].to_numpy(),
                              trials["av_mag"].to_numpy(), distance_mpc, r_v)  # fmt: skip


def load_field(
    conn: Connection, field_name: str, settings: PipelineSettings
) -> tuple[Any, dict[str, images_db.ImageRecord]]:
    """The field and its images, or :class:`InjectionError` with a clear reason."""
    try:
        info = field_info(conn, field_name)
    except PipelineError as exc:
        raise InjectionError(str(exc)) from None
    try:
        records = images_db.field_images(conn, info.name, settings.bands)
    except images_db.MissingBandsError as exc:
        raise InjectionError(str(exc)) from None
    return info, records


def trial_rows_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The columns the stage needs (``field_id`` is filled by the caller)."""
    out = trials.rename(columns={"trial": "id_in_release"})
    for name, kind in TRIAL_VALUES:
        if kind == "bool":
            out[name] = out[name].astype(bool)
    return out


def write_frame_set(engine: Engine, run_id: int, field_id: int, trials: pd.DataFrame) -> int:
    """One frame set's trials in one transaction (COPY / executemany through a stage).

    A frame set already stored (a resumed run racing itself) is refused by the primary key,
    and nothing of it is written."""
    frame = trial_rows_frame(trials)
    frame["field_id"] = field_id
    rows = frame_rows(frame, [n for n, _ in TRIAL_STAGE.stage_columns])
    with write_transaction(engine) as conn:
        staged = fill_stage(conn, TRIAL_STAGE, rows)
        inserted = move_stage(conn, TRIAL_STAGE, {"run_id": run_id}) if staged else 0
        drop_stage(conn, TRIAL_STAGE)
    return inserted


def _start_run(
    engine: Engine,
    identity: str,
    field_id: int,
    n_trials: int,
    seed: int,
    generator: GeneratorSettings,
    pipeline_doc: dict,
    generator_doc: dict,
    n_frame_sets: int,
) -> tuple[int, str, set[int]]:
    """(run id, status, frame sets already stored): the run of this identity, or a new one."""
    with write_transaction(engine) as conn:
        row = conn.execute(text("SELECT id, status FROM injection_run WHERE identity_sha256 = :h"),
                           {"h": identity}).first()  # fmt: skip
        if row is None:
            params = {
                "field_id": field_id, "pipeline_settings": json.dumps(pipeline_doc),
                "generator_settings": json.dumps(generator_doc), "seed": seed,
                "n_trials": n_trials, "code_version": code_version()[:64], "grid": generator.grid,
                "batch_size": generator.batch_size, "n_frame_sets": n_frame_sets, "h": identity,
            }  # fmt: skip
            cast = "CAST(:{} AS JSONB)" if conn.dialect.name == "postgresql" else ":{}"
            run_id = conn.execute(text(
                "INSERT INTO injection_run (field_id, pipeline_settings, generator_settings, "
                "seed, n_trials, code_version, status, grid, batch_size, n_frame_sets, "
                f"identity_sha256) VALUES (:field_id, {cast.format('pipeline_settings')}, "
                f"{cast.format('generator_settings')}, :seed, :n_trials, :code_version, "
                "'running', :grid, :batch_size, :n_frame_sets, :h) RETURNING id"),
                params).scalar_one()  # fmt: skip
            return int(run_id), "running", set()
        done = conn.execute(text("SELECT DISTINCT frame_set FROM injection_trial "
                                 "WHERE run_id = :r"), {"r": row.id}).scalars().all()  # fmt: skip
        return int(row.id), str(row.status), {int(k) for k in done}


def run_injection(
    engine: Engine,
    field_name: str,
    n_trials: int,
    *,
    grid: str = "c4",
    seed: int = 0,
    generator: GeneratorSettings | None = None,
    settings: PipelineSettings | None = None,
    ssp_model: str = DEFAULT_SSP_MODEL,
    distance_mpc: float | None = None,
    scheduler: str | None = None,
    workers: int = 1,
    show_progress: bool = False,
    max_frame_sets: int | None = None,
    model_regions_run: int | None = None,
    selection_region: str = "semi_empirical",
) -> InjectionRunResult:
    """Inject ``n_trials`` clusters into ``field_name`` and store the trials (module docstring).

    ``generator`` default: :class:`GeneratorSettings` of ``grid`` (``thilker`` or ``c4``).
    ``max_frame_sets`` stops after that many new frame sets (the run stays ``running`` and
    resumable). ``model_regions_run``: a complete run whose hit maps give the Thilker model
    regions (:func:`model_regions_from_run`); ``selection_region`` ``"model"`` then selects
    on them instead of the semi-empirical region. Raises :class:`InjectionError` (unknown
    field, missing images, no distance, no SSP grid) or
    :class:`~clustercat.processing.injection.InjectionInputError` (bad ranges) before anything
    is written.
    """
    started = time.perf_counter()
    settings = settings or PipelineSettings()
    if generator is None:
        generator = GeneratorSettings.thilker() if grid == "thilker" else GeneratorSettings(
            grid=grid)  # fmt: skip
    sizes = frame_set_sizes(n_trials, generator.batch_size)
    from . import ssp_db

    with engine.connect() as conn:
        info, records = load_field(conn, field_name, settings)
        distance = distance_mpc if distance_mpc is not None else info.distance_mpc
        if distance is None or not distance > 0:
            raise InjectionError(f"galaxy {info.galaxy} of field {info.name} has no distance; "
                                 "give one (--distance-mpc)")  # fmt: skip
        filters = [(records[b].filter_name, records[b].instrument) for b in settings.bands]
        try:
            stored = ssp_db.find_grid(conn, ssp_db.default_grid_name(ssp_model))
            ssp_grid = ssp_db.load_grid(conn, stored, filters, with_sed=True)
        except (LookupError, ValueError) as exc:
            raise InjectionError(
                f"no usable stored {ssp_model} SSP grid for {filters}: {exc} "
                f"(run 'clustercat ssp build {ssp_model}')"
            ) from None
    nodes = np.asarray(ssp_grid.log_age)
    lo, hi = generator.log_age_range
    if lo < nodes[0] - 1e-9 or hi > nodes[-1] + 1e-9:
        raise InjectionInputError(f"log age range {lo}-{hi} outside the {ssp_model} grid "
                                  f"({nodes[0]:.3f}-{nodes[-1]:.3f})")  # fmt: skip
    generator_doc = {
        **generator.to_dict(), "ssp_model": ssp_model, "ssp_grid": stored.name,
        "ssp_grid_id": stored.id, "filters": [list(f) for f in filters],
        "distance_mpc": float(distance), "profile": "EFF (Moffat) convolved with band PSF",
        "psf": "clustercat.processing.pipeline.band_psf", "extinction": "CCM89",
    }  # fmt: skip
    pipeline_doc = {**settings.to_dict(), "selection_region": selection_region,
                    "model_regions_run": model_regions_run}  # fmt: skip
    regions = None
    if model_regions_run is not None:
        with engine.connect() as conn:
            regions = model_regions_from_run(conn, model_regions_run)
    elif selection_region == "model":
        raise InjectionError("selection on the model region needs --model-regions-from RUN")
    identity = _sha({"field": info.name, "images": {b: r.sha256 for b, r in records.items()},
                     "generator": generator_doc, "pipeline": pipeline_doc, "seed": int(seed),
                     "n_trials": int(n_trials)})  # fmt: skip
    run_id, status, done = _start_run(
        engine, identity, info.field_id, n_trials, seed, generator, pipeline_doc, generator_doc,
        len(sizes),
    )  # fmt: skip
    result = InjectionRunResult(run_id=run_id, status=status, field=info.name,
                                n_trials=n_trials, n_frame_sets=len(sizes), frame_sets_run=0,
                                frame_sets_before=len(done))  # fmt: skip
    if status == "complete":
        result.status = "already complete"
        result.seconds = time.perf_counter() - started
        return result
    todo = [k for k in range(len(sizes)) if k not in done]
    if max_frame_sets is not None:
        todo = todo[: max(0, int(max_frame_sets))]
    if todo:
        t0 = time.perf_counter()
        images = {b: images_db.open_image(r) for b, r in records.items()}
        context = field_context(images, settings, float(distance), model_region=regions,
                                selection_region=selection_region)  # fmt: skip
        result.timings_s["context"] = time.perf_counter() - t0
        magnitudes = functools.partial(_grid_magnitudes, ssp_grid, float(distance), generator.r_v)
        t0 = time.perf_counter()
        with (_progress(show_progress) as progress,
              dask_client(scheduler, workers) as client):  # fmt: skip
            from distributed import as_completed

            task = progress.add_task(f"injecting into {info.name}", total=len(sizes),
                                     completed=len(done))  # fmt: skip
            shared, mags = client.scatter([context, magnitudes], broadcast=True)
            futures = [client.submit(run_frame_set, shared, generator, int(seed), k, sizes[k],
                                     mags, pure=False) for k in todo]  # fmt: skip
            for future in as_completed(futures):
                trials = future.result()
                write_frame_set(engine, run_id, info.field_id, trials)
                result.frame_sets_run += 1
                progress.advance(task)
        result.timings_s["frame_sets"] = time.perf_counter() - t0
    with write_transaction(engine) as conn:
        stored_sets = conn.execute(text("SELECT count(DISTINCT frame_set), count(*) FROM "
                                        "injection_trial WHERE run_id = :r"),
                                   {"r": run_id}).one()  # fmt: skip
        if stored_sets[0] == len(sizes) and stored_sets[1] == n_trials:
            conn.execute(
                text(
                    "UPDATE injection_run SET status = 'complete', completed_at = :t WHERE id = :r"
                ),
                {"t": dt.datetime.now(dt.UTC), "r": run_id},
            )
            result.status = "complete"
        else:
            result.status = "incomplete"
    result.seconds = time.perf_counter() - started
    return result


def model_regions_from_run(conn: Connection, run_id: int) -> Any:
    """Thilker §4.2.2 nested model regions from a complete run's detected trials that meet
    the existence and detection criteria (:mod:`clustercat.processing.model_regions`)."""
    from .model_regions import detectable, exists, nested_model_regions

    row = conn.execute(text("SELECT r.status, r.field_id FROM injection_run r WHERE r.id = :r"),
                       {"r": run_id}).first()  # fmt: skip
    if row is None or row.status != "complete":
        raise InjectionError(f"model regions need a complete injection run; run {run_id} is "
                             f"{'missing' if row is None else row.status}")  # fmt: skip
    zp = conn.execute(text(
        "SELECT im.zeropoint_vega FROM image im JOIN filter fl ON fl.id = im.filter_id "
        "WHERE im.field_id = :f AND fl.band = 'V' ORDER BY im.id DESC"),
        {"f": row.field_id}).scalar()  # fmt: skip
    if zp is None:
        raise InjectionError(f"run {run_id}: the field has no V image with a Vega zeropoint")
    t = pd.read_sql_query(text(
        "SELECT log_mass, log_age, r_eff_pc, fwhm_px, profile_index, mag_in_v, mci_in_out, "
        "mci_out_out FROM injection_trial WHERE run_id = :r AND detected"), conn,
        params={"r": run_id})  # fmt: skip
    keep = exists(t["log_mass"], t["log_age"], t["r_eff_pc"]) & detectable(
        t["mag_in_v"], float(zp), t["fwhm_px"], t["profile_index"]
    )
    keep &= np.isfinite(t["mci_in_out"].to_numpy(float)) & np.isfinite(
        t["mci_out_out"].to_numpy(float))  # fmt: skip
    if keep.sum() < 9:
        raise InjectionError(f"run {run_id}: only {int(keep.sum())} detected trials meet the "
                             "existence and detection criteria; inject more")  # fmt: skip
    return nested_model_regions(t.loc[keep, "mci_in_out"], t.loc[keep, "mci_out_out"])


def run_trials(conn: Connection, run_id: int) -> pd.DataFrame:
    """Every trial of a run, ordered by trial number (any status)."""
    return pd.read_sql_query(
        text("SELECT * FROM injection_trial WHERE run_id = :r ORDER BY trial"), conn,
        params={"r": run_id},
    )  # fmt: skip


def completeness_table(conn: Connection, run_id: int, quantity: str) -> pd.DataFrame:
    """Rows of ``injection_completeness`` for one run and quantity, by bin."""
    return pd.read_sql_query(
        text("SELECT * FROM injection_completeness WHERE run_id = :r AND quantity = :q "
             "ORDER BY bin_low"), conn, params={"r": run_id, "q": quantity},
    )  # fmt: skip
