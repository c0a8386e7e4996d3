"""The one loader behind every reader: validated tables in, one complete release out.

``ingest_release`` turns the :class:`~clustercat.ingest.contract.CatalogueTables` of one or
more files into a release, atomically:

* the release name is checked first (:func:`~clustercat.ingest.releases.check_release_name`);
* the files are hashed; the same files as the newest complete version of the name are a
  no-op ("already ingested"), other content under that name needs ``new_version=True``
  (content equal to an older, superseded version is a new version too);
* with ``extend=True`` (fetch, sync) the release definition of docs/ingest.md decides
  between adding fields to the newest version and making a new one;
* the files are read and validated completely before anything is written;
* everything is written in ONE transaction (``BEGIN IMMEDIATE`` on SQLite, the row lock of
  ``ingest_lock`` on PostgreSQL), through staging tables (:mod:`clustercat.ingest.bulk`);
  the older complete version is marked ``superseded`` and the new one flips from
  ``loading`` to ``complete`` as the last statements, and the views only show the newest
  complete version of each name. A killed process leaves nothing behind; an ingest that
  raises leaves a ``failed`` record (invisible) that the next run of the same name removes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from clustercat.schema import (
    CatalogueRelease,
    ClassificationMethod,
    Field,
    FieldFilter,
    Filter,
    Galaxy,
    GalaxyAlias,
    ProcessingRun,
    ReleaseFile,
    SedMethod,
    Source,
    Survey,
    write_transaction,
)
from clustercat.schema.catalogue_entry import write_catalogue_entries
from rich.progress import Progress
from sqlalchemy import Connection, Engine, insert, select, update

from . import bulk
from .contract import (
    MORPHOLOGY_OPTIONAL_COLUMNS,
    PHOTOMETRY_OPTIONAL_COLUMNS,
    CatalogueTables,
    empty_frame,
)
from .errors import CatalogueFormatError
from .galaxies import UnknownGalaxyError, galaxy_aliases, galaxy_table
from .releases import (
    InputFile,
    LockTimeoutError,
    ReleaseConflictError,
    carry_forward,
    check_release_name,
    code_version,
    complete_releases,
    content_identity,
    find_delivered,
    find_identical,
    lock_ingest,
    mark_superseded,
    newest_complete,
    next_version,
    remove_stale,
)

log = logging.getLogger(__name__)

Reader = Callable[[Path], "CatalogueTables | Sequence[CatalogueTables]"]

#: Readers of published tables, whose paper becomes the survey of the release.
PUBLISHED_TABLE_READERS = ("mrt",)

#: Tolerance per axis when attaching predictions to an existing release's sources by x, y
#: (pix): StarcNet writes the LEGUS x, y truncated to integers.
ATTACH_XY_TOLERANCE_PX = 1.0


@dataclass
class ReleaseRequest:
    """What to ingest and under which name."""

    name: str
    reader: str
    reader_version: str
    files: Sequence[str | Path]
    survey: str | None = None  # default: the survey the reader reports
    layout: str | None = None  # layout override given by the user
    pipeline_version: str | None = None
    new_version: bool = False
    attach_to: str | None = None  # release whose sources receive the classifications
    options: dict = field(default_factory=dict)
    #: fetch / sync: apply the release definition (docs/ingest.md): files of fields the
    #: newest version lacks, of the same survey, reader and pipeline version, are added to
    #: it; anything else (a changed field, another pipeline version) is a new version.
    extend: bool = False
    #: sync: a drop folder is ingested once; a folder whose files (and pipeline_version
    #: label) an earlier version of the name already holds is "already ingested".
    skip_if_delivered: bool = False


@dataclass
class IngestResult:
    """What an ingest did, for the report printed by the CLI."""

    release: str
    status: str  # "ingested" | "fields added" | "already ingested"
    version: int | None = None
    release_id: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    report: dict[str, int] = field(default_factory=dict)
    files: list[InputFile] = field(default_factory=list)
    seconds: float = 0.0
    removed_stale: int = 0
    superseded: int = 0  # complete versions this one superseded
    carried: dict[str, int] = field(default_factory=dict)  # rows copied from the old version
    fields: list[str] = field(default_factory=list)  # fields written


def _maybe_pause(stage: str) -> None:
    """Fault-injection point for the kill test: sleep after ``stage`` when asked to."""
    if os.environ.get("CLUSTERCAT_INGEST_PAUSE_AT") == stage:
        log.warning("pausing after %s (CLUSTERCAT_INGEST_PAUSE_AT)", stage)
        time.sleep(float(os.environ.get("CLUSTERCAT_INGEST_PAUSE_SECONDS", "60")))


def normalise_alias(name: str) -> str:
    """Alias key: lower case without blanks, underscores or hyphens (``NGC_628C`` → ``ngc628c``)."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


# --- reading ----------------------------------------------------------------------------


def read_all(
    request: ReleaseRequest, read: Reader, files: list[InputFile], progress: Progress | None
) -> list[tuple[InputFile, CatalogueTables]]:
    """Read and validate every file before anything is written."""
    out: list[tuple[InputFile, CatalogueTables]] = []
    task = progress.add_task("reading", total=len(files)) if progress else None
    for f in files:
        result = read(f.path)
        for tables in [result] if isinstance(result, CatalogueTables) else list(result):
            try:
                tables.check()
            except ValueError as exc:
                raise CatalogueFormatError(f.path, None, None, str(exc)) from exc
            out.append((f, tables))
        if progress:
            progress.advance(task)
    # A field's source ids must be unique across the files of a release (each file is
    # already checked on its own by the reader).
    keys = pd.concat(
        [t.sources[["id_in_release", "line"]].assign(field=t.field, file=k)
         for k, (_, t) in enumerate(out)],
        ignore_index=True,
    )  # fmt: skip
    clash = keys[keys.duplicated(["field", "id_in_release"], keep="first")]
    if not clash.empty:
        bad = clash.iloc[0]
        first = keys[(keys["field"] == bad["field"])
                     & (keys["id_in_release"] == bad["id_in_release"])].iloc[0]  # fmt: skip
        raise CatalogueFormatError(
            out[int(bad["file"])][0].path, int(bad["line"]), 1,
            f"source id {int(bad['id_in_release'])} of field {bad['field']} is also in "
            f"{out[int(first['file'])][0].path.name}",
        )  # fmt: skip
    return out


# --- reference rows -----------------------------------------------------------------------


def _galaxy_reference(name: str) -> dict:
    """Centre, distance and morphology of a galaxy from the reference table, if known."""
    try:
        table = galaxy_table()
    except FileNotFoundError:  # no shared data: the galaxy gets its name only
        return {}
    rows = table[table["name"] == name]
    if rows.empty:
        return {}
    row = rows.iloc[0]

    def num(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or pd.isna(value) else float(value)

    distance, ref = num("distance_mpc"), row.get("distance_ref")
    if distance is None and num("phangs_distance_mpc") is not None:
        distance, ref = num("phangs_distance_mpc"), row.get("phangs_distance_ref")
    morph = row.get("morphology")
    return {
        "ra_deg": num("ra_deg"),
        "dec_deg": num("dec_deg"),
        "distance_mpc": distance,
        "distance_ref": None if ref is None or pd.isna(ref) else str(ref),
        "morphology": None if morph is None or pd.isna(morph) else str(morph)[:32],
    }


def ensure_galaxy(conn: Connection, name: str, field_tokens: Sequence[str] = ()) -> int:
    """The id of galaxy ``name``, created (with reference data and aliases) if needed."""
    galaxy_id = conn.execute(select(Galaxy.id).where(Galaxy.name == name)).scalar()
    if galaxy_id is None:
        galaxy_id = conn.execute(
            insert(Galaxy).values(name=name, **_galaxy_reference(name)).returning(Galaxy.id)
        ).scalar_one()
    aliases = {normalise_alias(name)}
    with contextlib.suppress(UnknownGalaxyError):  # a name no rule knows keeps its own alias
        aliases |= {normalise_alias(a) for a in galaxy_aliases([name], field_tokens)["alias"]}
    existing = set(
        conn.execute(select(GalaxyAlias.alias).where(GalaxyAlias.alias.in_(aliases))).scalars()
    )
    new = sorted(aliases - existing)
    if new:
        conn.execute(insert(GalaxyAlias), [{"alias": a, "galaxy_id": galaxy_id} for a in new])
    return galaxy_id


#: Pixel scale of the drizzled reference frames (arcsec/pix) by survey: PHANGS-HST uses the
#: native WFC3/UVIS 0.03962" (Thilker et al. 2022 §3.3), LEGUS a 0.04" grid (Viana et al.
#: §II). Set when a field is first created; pixel radii in cross-matches use it.
SURVEY_PIXEL_SCALE_ARCSEC = {"PHANGS-HST": 0.03962, "LEGUS": 0.04}


def ensure_field(
    conn: Connection, name: str, galaxy_id: int, pixel_scale_arcsec: float | None = None
) -> int:
    field_id = conn.execute(select(Field.id).where(Field.name == name)).scalar()
    if field_id is None:
        field_id = conn.execute(
            insert(Field)
            .values(name=name, galaxy_id=galaxy_id, pixel_scale_arcsec=pixel_scale_arcsec)
            .returning(Field.id)
        ).scalar_one()
    return field_id


def filter_ids(conn: Connection, tables: CatalogueTables) -> dict[str, int]:
    """band label -> filter id for the filters (and instruments) of a file."""
    out = {}
    for band, name in tables.filters.items():
        instrument = tables.instruments.get(band)
        query = select(Filter.id).where(Filter.name == name)
        if instrument:
            query = query.where(Filter.instrument == instrument)
        ids = conn.execute(query).scalars().all()
        if len(ids) != 1:
            raise CatalogueFormatError(
                tables.source_path, None, None,
                f"filter {name} on {instrument or 'any instrument'} for band {band} is not "
                "in the filter table",
            )  # fmt: skip
        out[band] = ids[0]
    return out


def ensure_field_filters(conn: Connection, field_id: int, ids: dict[str, int]) -> None:
    have = set(
        conn.execute(
            select(FieldFilter.filter_id).where(FieldFilter.field_id == field_id)
        ).scalars()
    )
    new = [{"field_id": field_id, "filter_id": fid} for fid in ids.values() if fid not in have]
    if new:
        conn.execute(insert(FieldFilter), new)


def ensure_classification_method(conn: Connection, spec) -> int:  # noqa: ANN001
    method_id = conn.execute(
        select(ClassificationMethod.id).where(
            ClassificationMethod.name == spec.name, ClassificationMethod.version == "1"
        )
    ).scalar()
    if method_id is None:
        method_id = conn.execute(
            insert(ClassificationMethod)
            .values(
                name=spec.name,
                version="1",
                kind=spec.kind,
                description=spec.description,
                reference=getattr(spec, "reference", None) or None,
            )
            .returning(ClassificationMethod.id)
        ).scalar_one()
    return method_id


def ensure_sed_method(conn: Connection, spec) -> int:  # noqa: ANN001
    method_id = conn.execute(select(SedMethod.id).where(SedMethod.name == spec.name)).scalar()
    if method_id is None:
        method_id = conn.execute(
            insert(SedMethod)
            .values(
                name=spec.name,
                code=spec.code,
                ssp_model=spec.ssp_model,
                imf=spec.imf,
                metallicity=spec.metallicity,
                extinction_law=spec.extinction_law,
                description=spec.description,
            )
            .returning(SedMethod.id)
        ).scalar_one()
    return method_id


# --- frames -> staging rows --------------------------------------------------------------


def _with_keys(frame: pd.DataFrame, field_id: int) -> pd.DataFrame:
    out = frame.copy()
    out["field_id"] = field_id
    return out


def source_rows(tables: CatalogueTables, field_id: int) -> list[tuple]:
    frame = _with_keys(tables.sources, field_id)
    if "cc_class" not in frame.columns:
        frame["cc_class"] = pd.array([pd.NA] * len(frame), dtype="string")
    cols = [n for n, _ in bulk.SOURCE_STAGE.stage_columns]
    return bulk.frame_rows(frame, cols)


def _with_optional(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with the contract's optional ``columns`` added (all missing) where absent."""
    absent = {c: d for c, d in columns.items() if c not in frame.columns}
    if not absent:
        return frame
    return pd.concat([frame, empty_frame(absent, len(frame)).set_index(frame.index)], axis=1)


def photometry_rows(tables: CatalogueTables, field_id: int, ids: dict[str, int]) -> list[tuple]:
    ph = _with_optional(_with_keys(tables.photometry, field_id), PHOTOMETRY_OPTIONAL_COLUMNS)
    ph["filter_id"] = ph["band"].map(ids).astype("int64")
    total = ph["aperture_px"].isna()
    ph["kind"] = np.where(total, "total", "aperture")
    ph["radius_px"] = ph["aperture_px"]
    ph["mw_extinction_corrected"] = ph["mw_ext_corrected"]
    cols = [n for n, _ in bulk.PHOTOMETRY_STAGE.stage_columns]
    return bulk.frame_rows(ph, cols)


def morphology_rows(tables: CatalogueTables, field_id: int, ids: dict[str, int]) -> list[tuple]:
    mo = _with_optional(_with_keys(tables.morphology, field_id), MORPHOLOGY_OPTIONAL_COLUMNS)
    mo = mo[mo[["ci", "mci_in", "mci_out"]].notna().any(axis=1)].copy()
    mo["constants_version"] = mo["constants_version"].fillna("catalogue")
    mo["filter_id"] = ids.get("V")
    if ids.get("V") is None:
        mo["filter_id"] = pd.array([pd.NA] * len(mo), dtype="Int64")
    cols = [n for n, _ in bulk.MORPHOLOGY_STAGE.stage_columns]
    return bulk.frame_rows(mo, cols)


def selection_rows(tables: CatalogueTables, field_id: int) -> list[tuple]:
    """Staging rows of the candidate-selection frame (empty for published catalogues)."""
    sel = _with_keys(tables.selection, field_id)
    cols = [n for n, _ in bulk.SELECTION_STAGE.stage_columns]
    return bulk.frame_rows(sel, cols)


def record_processing_run(
    conn: Connection, release_id: int, read: list[tuple[InputFile, CatalogueTables]]
) -> int | None:
    """Write the ``processing_run`` behind a release's measured rows, if its tables name one.

    The image pipeline hands its run (module, config with every parameter, input sha256,
    fiducial constants) in ``CatalogueTables.processing_run``; the run is written in the
    release's transaction (so it exists exactly when the release does); the release's
    config names the run (``processing_run_id``) and the release shows the run's morphology
    constants version in ``cluster_catalogue``. Returns the run
    id (the ``:run_id`` of the photometry, morphology and selection rows), or None.
    """
    runs = [t.processing_run for _, t in read if t.processing_run]
    if not runs:
        return None
    run = runs[0]
    run_id = conn.execute(
        insert(ProcessingRun)
        .values(
            module=run["module"], release_id=release_id, config=run.get("config"),
            code_version=run.get("code_version") or code_version(), status="complete",
            started_at=dt.datetime.now(dt.UTC), finished_at=dt.datetime.now(dt.UTC),
        )
        .returning(ProcessingRun.id)
    ).scalar_one()  # fmt: skip
    config = conn.execute(
        select(CatalogueRelease.config).where(CatalogueRelease.id == release_id)
    ).scalar()
    values: dict = {"config": {**(config or {}), "processing_run_id": run_id}}
    if run.get("morphology_version"):
        values["morphology_version"] = run["morphology_version"]
    conn.execute(update(CatalogueRelease).where(CatalogueRelease.id == release_id).values(values))
    return run_id


def classification_rows(
    tables: CatalogueTables, field_id: int, method_ids: dict[str, int]
) -> list[tuple]:
    cl = _with_keys(tables.classifications, field_id)
    cl["method_id"] = cl["method"].map(method_ids).astype("int64")
    cols = [n for n, _ in bulk.CLASSIFICATION_STAGE.stage_columns]
    return bulk.frame_rows(cl, cols)


def sed_rows(tables: CatalogueTables, field_id: int, method_ids: dict[str, int]) -> list[tuple]:
    sed = _with_keys(tables.sed_fits, field_id)
    sed["method_id"] = sed["method"].map(method_ids).astype("int64")
    sed["band_residuals"] = [
        json.dumps({k: float(v) for k, v in r.items()}) if isinstance(r, dict) else None
        for r in sed["chi2_residuals"]
    ]
    cols = [n for n, _ in bulk.SED_STAGE.stage_columns]
    return bulk.frame_rows(sed, cols)


# --- the ingest -----------------------------------------------------------------------------


def _attach_target(conn: Connection, name: str) -> int:
    versions = complete_releases(conn, name)
    if not versions:
        raise ValueError(f"release {name!r} to attach to does not exist (or is not complete)")
    return versions[-1].id


def _check_alignment(
    conn: Connection, release_id: int, field_id: int, tables: CatalogueTables
) -> None:
    """Predictions keyed by id must sit at the same x, y as the sources they attach to."""
    rows = conn.execute(
        select(Source.id_in_release, Source.x, Source.y).where(
            Source.release_id == release_id, Source.field_id == field_id
        )
    ).all()
    known = pd.DataFrame(rows, columns=["id_in_release", "x_db", "y_db"])
    merged = tables.sources.merge(known, on="id_in_release", how="left")
    missing = merged["x_db"].isna()
    if missing.any():
        bad = merged[missing].iloc[0]
        raise CatalogueFormatError(
            tables.source_path, int(bad["line"]), 1,
            f"source id {int(bad['id_in_release'])} is not in the release it attaches to",
        )  # fmt: skip
    for column, axis in ((2, "x"), (3, "y")):
        offset = (merged[axis] - merged[f"{axis}_db"]).abs()
        if (offset >= ATTACH_XY_TOLERANCE_PX).any():
            bad = merged[offset >= ATTACH_XY_TOLERANCE_PX].iloc[0]
            raise CatalogueFormatError(
                tables.source_path, int(bad["line"]), column,
                f"source id {int(bad['id_in_release'])} lies at {axis} = {bad[axis]:.2f} but "
                f"the catalogue has {bad[f'{axis}_db']:.2f}",
            )  # fmt: skip


def _pipeline_version(request: ReleaseRequest, read: list[tuple[InputFile, CatalogueTables]]):  # noqa: ANN202
    return (
        request.pipeline_version
        or ",".join(sorted({t.version for _, t in read if t.version}))
        or None
    )


@dataclass
class _ExtensionPlan:
    """What the release definition makes of an ``extend`` request (see below)."""

    newest: object  # the newest complete version's catalogue_release row
    add: list[tuple[InputFile, CatalogueTables]]  # files of new fields, to add to it
    carry_field_ids: list[int] | None = None  # set: a new version carrying these fields


def _plan_extension(
    conn: Connection,
    request: ReleaseRequest,
    survey_id: int,
    read: list[tuple[InputFile, CatalogueTables]],
) -> _ExtensionPlan | None:
    """The release definition (docs/ingest.md, "What a release is").

    A release name is one survey's catalogue, read by one reader, at one pipeline version,
    over a set of fields. Against the newest complete version (same survey and reader):

    * files of fields it lacks are added to it; files of fields it has must be identical
      to its own (nothing to add: already ingested);
    * a field it has with other content (a re-issued file) makes a new version that carries
      its other fields forward (``carry_field_ids``);
    * an explicit pipeline version other than its own (a sync manifest's label) makes a new
      version of exactly the files given: None, like a release without versions yet.

    The version in a file name (LEGUS ``_v1_``/``_v2_``) is that field's catalogue version,
    not a pipeline version: fields of either are added.
    """
    newest = newest_complete(conn, request.name)
    if newest is None or request.attach_to:
        return None
    if (newest.survey_id, newest.reader) != (survey_id, request.reader):
        return None
    if request.pipeline_version and request.pipeline_version != newest.pipeline_version:
        return None  # an explicit new pipeline version (a sync manifest's label)
    have_fields = dict(
        conn.execute(
            select(Field.name, Field.id).join(Source, Source.field_id == Field.id)
            .where(Source.release_id == newest.id).distinct()
        ).all()
    )  # fmt: skip
    have_files = set(
        conn.execute(select(ReleaseFile.sha256).where(ReleaseFile.release_id == newest.id))
        .scalars()
    )  # fmt: skip
    add, changed = [], set()
    for f, tables in read:
        if tables.field not in have_fields:
            add.append((f, tables))
        elif f.sha256 not in have_files:
            changed.add(tables.field)
    if changed:  # a re-issued field: a new version with the release's other fields
        given = {t.field for _, t in read}
        carry = sorted(i for name, i in have_fields.items() if name not in given)
        return _ExtensionPlan(newest, [], carry)
    return _ExtensionPlan(newest, add)


def _write(
    conn: Connection,
    request: ReleaseRequest,
    identity: str,
    files: list[InputFile],
    read: list[tuple[InputFile, CatalogueTables]],
    progress: Progress | None,
    result: IngestResult,
) -> None:
    survey_name = request.survey or read[0][1].survey
    survey_id = conn.execute(select(Survey.id).where(Survey.name == survey_name)).scalar()
    if survey_id is None and request.reader in PUBLISHED_TABLE_READERS:
        # A published table is its own "survey": the paper that printed it.
        survey_id = conn.execute(
            insert(Survey)
            .values(name=survey_name, description="published machine-readable table",
                    reference=survey_name)
            .returning(Survey.id)
        ).scalar_one()  # fmt: skip
    if survey_id is None:
        raise ValueError(f"unknown survey {survey_name!r}")
    plan = _plan_extension(conn, request, survey_id, read) if request.extend else None
    if plan is not None and plan.carry_field_ids is None:
        result.release_id, result.version = plan.newest.id, plan.newest.version
        result.status = "fields added" if plan.add else "already ingested"
        if plan.add:
            _write_rows(conn, request, plan.newest.id, plan.add, progress, result)
            result.rows["catalogue_entry"] = write_catalogue_entries(conn, plan.newest.id)
        return
    previous = complete_releases(conn, request.name)
    if previous and not (request.new_version or request.extend):
        raise ReleaseConflictError(
            f"release {request.name!r} exists (version {previous[-1].version}) with other "
            "content; ask for a new version (--new-version) to ingest these files beside it"
        )
    result.removed_stale = remove_stale(conn, request.name)
    version = next_version(conn, request.name)
    layouts = sorted({t.layout for _, t in read if t.layout})
    release_id = conn.execute(
        insert(CatalogueRelease)
        .values(
            name=request.name,
            version=version,
            survey_id=survey_id,
            pipeline_version=_pipeline_version(request, read),
            status="loading",
            reader=request.reader,
            reader_version=request.reader_version,
            layout=request.layout or (",".join(layouts) if layouts else None),
            code_version=code_version(),
            config={
                **request.options,
                "layout_override": request.layout,
                "attach_to": request.attach_to,
            },
            content_sha256=identity,
            supersedes_id=previous[-1].id if previous else None,
        )
        .returning(CatalogueRelease.id)
    ).scalar_one()
    result.release_id, result.version = release_id, version
    sed_method_ids = _write_rows(conn, request, release_id, read, progress, result)
    if plan is not None and plan.carry_field_ids:
        result.carried = carry_forward(conn, plan.newest.id, release_id, plan.carry_field_ids)
    result.rows["catalogue_entry"] = write_catalogue_entries(conn, release_id)
    result.superseded = mark_superseded(conn, request.name, release_id)
    conn.execute(
        update(CatalogueRelease)
        .where(CatalogueRelease.id == release_id)
        .values(
            status="complete",
            completed_at=dt.datetime.now(dt.UTC),
            default_sed_method_id=sed_method_ids[0] if sed_method_ids else None,
        )
    )


def _write_rows(
    conn: Connection,
    request: ReleaseRequest,
    release_id: int,
    read: list[tuple[InputFile, CatalogueTables]],
    progress: Progress | None,
    result: IngestResult,
) -> list[int]:
    """Write the rows of ``read`` into release ``release_id``; the SED methods met."""
    source_release_id = _attach_target(conn, request.attach_to) if request.attach_to else release_id
    delivering = release_id if request.attach_to else None
    run_id = record_processing_run(conn, release_id, read)

    stage_rows: dict[str, list[tuple]] = {k: [] for k in
                                          ("source", "photometry", "morphology",
                                           "classification", "sed_fit",
                                           "selection")}  # fmt: skip
    sed_method_ids: list[int] = []
    file_rows: dict[str, dict] = {}
    for f, tables in read:
        galaxy_id = ensure_galaxy(conn, tables.galaxy, [tables.field])
        field_id = ensure_field(
            conn, tables.field, galaxy_id, SURVEY_PIXEL_SCALE_ARCSEC.get(tables.survey)
        )
        fids = filter_ids(conn, tables) if tables.filters else {}
        ensure_field_filters(conn, field_id, fids)
        cm_ids = {m.name: ensure_classification_method(conn, m)
                  for m in tables.classification_methods}  # fmt: skip
        sm_ids = {m.name: ensure_sed_method(conn, m) for m in tables.sed_methods}
        sed_method_ids += [i for i in sm_ids.values() if i not in sed_method_ids]
        if request.attach_to:
            _check_alignment(conn, source_release_id, field_id, tables)
        else:
            stage_rows["source"] += source_rows(tables, field_id)
            stage_rows["photometry"] += photometry_rows(tables, field_id, fids)
            stage_rows["morphology"] += morphology_rows(tables, field_id, fids)
            stage_rows["sed_fit"] += sed_rows(tables, field_id, sm_ids)
            stage_rows["selection"] += selection_rows(tables, field_id)
        stage_rows["classification"] += classification_rows(tables, field_id, cm_ids)
        row = file_rows.setdefault(f.path.name, {
            "release_id": release_id, "path": f.path.name, "sha256": f.sha256,
            "size_bytes": f.size_bytes, "layout": tables.layout, "field_id": field_id,
            "n_rows": 0, "primary_classification_method_id": cm_ids.get(tables.primary_method),
        })  # fmt: skip
        row["n_rows"] += len(tables.sources)
        if row["field_id"] != field_id:  # one file, several fields (e.g. a CSV twin)
            row["field_id"] = None
    conn.execute(insert(ReleaseFile), list(file_rows.values()))

    params = {
        "release_id": release_id,
        "source_release_id": source_release_id,
        "delivering_release_id": delivering,
        "run_id": run_id,
    }
    specs = [
        ("source", bulk.SOURCE_STAGE),
        ("photometry", bulk.PHOTOMETRY_STAGE),
        ("morphology", bulk.MORPHOLOGY_STAGE),
        ("classification", bulk.CLASSIFICATION_STAGE),
        ("sed_fit", bulk.SED_STAGE),
        ("selection", bulk.SELECTION_STAGE),
    ]
    total = sum(len(stage_rows[k]) for k, _ in specs)
    task = progress.add_task("loading", total=total) if progress else None
    for key, spec in specs:
        rows = stage_rows[key]
        if not rows:
            continue
        _, inserted = bulk.load_through_stage(conn, spec, rows, params)
        result.rows[key] = inserted
        if progress:
            progress.advance(task, len(rows))
        _maybe_pause(key)
    result.fields = sorted({t.field for _, t in read})
    return sed_method_ids


def _record_failure(engine: Engine, request: ReleaseRequest, identity: str, error: str) -> None:
    """Keep an invisible ``failed`` record of an ingest that raised (ingest history)."""
    try:
        with write_transaction(engine) as conn:
            lock_ingest(conn)
            survey_id = (
                conn.execute(
                    select(Survey.id).where(Survey.name == (request.survey or "LEGUS"))
                ).scalar()
                or conn.execute(select(Survey.id)).scalar()
            )
            conn.execute(
                insert(CatalogueRelease).values(
                    name=request.name, version=next_version(conn, request.name),
                    survey_id=survey_id, status="failed", reader=request.reader,
                    reader_version=request.reader_version, code_version=code_version(),
                    content_sha256=identity, notes=error[:2000],
                )
            )  # fmt: skip
    except Exception:  # noqa: BLE001 - the original error matters more
        log.exception("could not record the failed ingest of %s", request.name)


#: Tables whose planner statistics an ingest changes.
LOADED_TABLES = ("catalogue_release", "release_file", "source", "photometry", "morphology",
                 "classification", "sed_fit", "galaxy", "galaxy_alias", "field",
                 "source_selection", "processing_run", "catalogue_entry")  # fmt: skip


def refresh_statistics(engine: Engine) -> None:
    """Update the query planner's statistics after a bulk load.

    Without it, PostgreSQL plans joins through the views on a freshly loaded database as if
    the tables were empty (queries that take 0.2 s take minutes); SQLite's
    ``PRAGMA optimize`` likewise runs ANALYZE where it helps.

    It runs after the ingest committed, so it never fails the ingest: on SQLite it takes
    the write lock up front (``BEGIN IMMEDIATE``, waiting up to the busy timeout, instead of
    failing with "database is locked" when another writer committed meanwhile), and any
    error is logged as a warning.
    """
    try:
        with write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE " + ", ".join(LOADED_TABLES))
            else:
                conn.exec_driver_sql("PRAGMA optimize")
    except Exception as exc:  # noqa: BLE001 - statistics are an optimisation
        log.warning("ingest committed; refreshing planner statistics failed: %s", exc)


def _already_in(
    conn: Connection, request: ReleaseRequest, identity: str, files: list[InputFile]
) -> tuple[int, int] | None:
    found = find_identical(conn, request.name, identity)
    if found is None and request.skip_if_delivered:
        found = find_delivered(
            conn, request.name, [f.sha256 for f in files], request.pipeline_version
        )
    return found


def ingest_release(
    engine: Engine, request: ReleaseRequest, read: Reader, *, show_progress: bool = False
) -> IngestResult:
    """Ingest the files of ``request`` as one release (see the module docstring)."""
    started = time.perf_counter()
    check_release_name(request.name)
    files = [InputFile.from_path(p) for p in request.files]
    options = {"layout": request.layout, "attach_to": request.attach_to}
    if request.pipeline_version:  # a new version label is a new version
        options["pipeline_version"] = request.pipeline_version
    if request.attach_to:  # predictions attached to a newer catalogue version are new content
        with engine.connect() as conn:
            target = newest_complete(conn, request.attach_to)
        if target is not None and target.version > 1:
            options["attach_to_version"] = target.version
    identity = content_identity(request.reader, files, options)
    result = IngestResult(release=request.name, status="ingested", files=files)
    with engine.connect() as conn:
        found = _already_in(conn, request, identity, files)
    if found:
        result.status, result.release_id, result.version = "already ingested", *found
        result.seconds = time.perf_counter() - started
        return result

    with Progress(disable=not show_progress, transient=True) as progress:
        read_tables = read_all(request, read, files, progress if show_progress else None)
        report: Counter = Counter()
        for _, tables in read_tables:
            report.update(tables.report)
        result.report = dict(report)
        try:
            with write_transaction(engine) as conn:
                lock_ingest(conn)
                found = _already_in(conn, request, identity, files)
                if found:  # another process ingested the same files meanwhile
                    result.status, result.release_id, result.version = "already ingested", *found
                else:
                    _write(conn, request, identity, files, read_tables,
                           progress if show_progress else None, result)  # fmt: skip
        except (ReleaseConflictError, LockTimeoutError):
            raise
        except Exception as exc:
            _record_failure(engine, request, identity, f"{type(exc).__name__}: {exc}")
            raise
    if result.status != "already ingested":
        refresh_statistics(engine)
    result.seconds = time.perf_counter() - started
    return result
