"""Reading the releases: their metadata, what they cover and what their classes count.

Readers shared by the command line and the dashboard (:mod:`.catalogue_io` reads sources,
classes and cross-match pairs). What a release covers (galaxies, fields, sources, the B and
V filters) and what its classifications count come from the collaborator views
``cluster_catalogue_all`` and ``release_summary_all``, so SQL users see the same numbers. The
release list itself (status, provenance, input files), the processing runs and the
database's fingerprint are metadata no view holds: those are read from the tables
``catalogue_release``, ``release_file``, ``processing_run``, ``crossmatch_run`` and
``classification_method``.

A release is *shown* by the views when its status is ``complete`` (the newest complete
version of its name: the plain views) or ``superseded`` (an older version: the ``_all``
views only); ``loading`` and ``failed`` releases are never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from .catalogue_io import VISIBLE_STATUSES, connect, id_list, read_frame

__all__ = [
    "NEWEST_STATUS",
    "REQUIRED_TABLES",
    "database_fingerprint",
    "read_catalogue_coverage",
    "read_processing_runs",
    "read_release_files",
    "read_release_summary",
    "read_releases",
    "schema_problem",
]

#: Status of the one version per release name the plain views show
#: (``clustercat.schema.views.NEWEST_RELEASE_STATUS``).
NEWEST_STATUS = "complete"
#: Tables a reader needs; a database without them has not been migrated.
REQUIRED_TABLES = ("catalogue_release", "source", "photometry", "classification", "galaxy")

_VISIBLE_SQL = "(" + ", ".join(f"'{s}'" for s in VISIBLE_STATUSES) + ")"


def schema_problem(engine: Engine) -> str | None:
    """Why the database cannot be read (unreachable, not migrated), or None when it can."""
    url = engine.url
    file_db = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if file_db and not Path(url.database).exists():  # connecting would create an empty file
        return f"there is no SQLite database file at {url.database}"
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
    except SQLAlchemyError as exc:
        return f"cannot connect to the database: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    missing = [t for t in REQUIRED_TABLES if t not in names]
    if missing:
        return (
            "the database has no ClusterCat schema (missing tables: "
            f"{', '.join(missing)}); create it with `clustercat db upgrade`"
        )
    return None


def database_fingerprint(bind: Engine | Connection) -> tuple:
    """A cheap fingerprint of what the readers return: it changes when a release is added or
    changes status, or a cross-match run, classification method or processing run is added
    (release and run metadata: tables). Cached results keyed by it are never stale."""
    with connect(bind) as conn:
        frame = read_frame(
            conn, "SELECT id, name, version, status, completed_at FROM catalogue_release "
            "ORDER BY id",
        )  # fmt: skip
        runs = read_frame(
            conn,
            "SELECT (SELECT count(*) FROM crossmatch_run) AS x, "
            "(SELECT max(id) FROM crossmatch_run) AS xm, "
            "(SELECT count(*) FROM classification_method) AS m, "
            "(SELECT count(*) FROM processing_run) AS p",
        )
    releases = tuple(tuple(str(v) for v in row) for row in frame.itertuples(index=False))
    return releases, tuple(str(v) for v in runs.iloc[0])


def read_releases(bind: Engine | Connection) -> pd.DataFrame:
    """Every release with its survey, status, provenance, inputs and row counts (tables).

    ``visible``: shown by the ``_all`` views (complete or superseded); ``newest``: the newest
    complete version of its name (shown by the plain views). ``n_sources`` counts the
    release's own sources and ``n_classifications_delivered`` the classes it attached to
    another release's sources (StarcNet); ``label`` is ``name vN``.
    """
    frame = read_frame(
        bind,
        f"""
        SELECT r.id AS release_id, r.name AS release, r.version, sv.name AS survey, r.status,
               r.pipeline_version, r.reader, r.reader_version, r.layout, r.code_version,
               r.content_sha256, r.ingested_at, r.completed_at, r.notes,
               sup.name AS supersedes, sm.name AS default_sed_method,
               (SELECT count(*) FROM release_file rf WHERE rf.release_id = r.id) AS n_files,
               (SELECT count(*) FROM source s WHERE s.release_id = r.id) AS n_sources,
               (SELECT count(*) FROM classification c WHERE c.release_id = r.id)
                   AS n_classifications_delivered,
               CASE WHEN r.status IN {_VISIBLE_SQL} THEN 1 ELSE 0 END AS visible
        FROM catalogue_release r
        JOIN survey sv ON sv.id = r.survey_id
        LEFT JOIN catalogue_release sup ON sup.id = r.supersedes_id
        LEFT JOIN sed_method sm ON sm.id = r.default_sed_method_id
        ORDER BY r.id
        """,
    )
    frame["visible"] = frame["visible"].astype(bool)
    frame["newest"] = frame["status"] == NEWEST_STATUS
    frame["label"] = frame["release"] + " v" + frame["version"].astype(str)
    for col in ("ingested_at", "completed_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="mixed")
    return frame


def read_release_files(bind: Engine | Connection) -> pd.DataFrame:
    """Input files of every release (table ``release_file``): path, SHA-256, size, layout,
    rows, field and the classification method the file names as primary."""
    return read_frame(
        bind,
        """
        SELECT rf.release_id, r.name AS release, r.version, rf.path, rf.sha256, rf.size_bytes,
               rf.layout, rf.n_rows, f.name AS field, cm.name AS primary_method
        FROM release_file rf
        JOIN catalogue_release r ON r.id = rf.release_id
        LEFT JOIN field f ON f.id = rf.field_id
        LEFT JOIN classification_method cm ON cm.id = rf.primary_classification_method_id
        ORDER BY rf.release_id, rf.path
        """,
    )


def read_processing_runs(bind: Engine | Connection) -> pd.DataFrame:
    """Processing-module runs (table ``processing_run``): module, release, status, times."""
    frame = read_frame(
        bind,
        """
        SELECT p.id AS run_id, p.module, r.name AS release, p.status, p.code_version,
               p.started_at, p.finished_at
        FROM processing_run p LEFT JOIN catalogue_release r ON r.id = p.release_id
        ORDER BY p.started_at DESC
        """,
    )
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="mixed")
    return frame


def read_catalogue_coverage(bind: Engine | Connection, release_ids: Sequence[int]) -> pd.DataFrame:
    """The fields of the releases, from ``cluster_catalogue_all``: one row per (release,
    field) with ``release_id, galaxy, field, distance_mpc`` (Mpc), ``n_sources`` and
    ``filter_b``, ``filter_v`` (the filter measured as B and V for most of its sources)."""
    frame = read_frame(
        bind,
        """
        SELECT c.release_id, c.galaxy, c.field, c.distance_mpc, c.filter_b, c.filter_v,
               count(*) AS n_sources
        FROM cluster_catalogue_all c
        WHERE c.release_id IN :rels
        GROUP BY c.release_id, c.galaxy, c.field, c.distance_mpc, c.filter_b, c.filter_v
        """,
        {"rels": id_list(release_ids)},
        floats=("distance_mpc",),
    )
    keys = ["release_id", "galaxy", "field"]
    columns = [*keys, "distance_mpc", "n_sources", "filter_b", "filter_v"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["n_sources"] = frame["n_sources"].astype(np.int64)
    out = frame.groupby(keys, as_index=False, sort=False).agg(
        distance_mpc=("distance_mpc", "first"), n_sources=("n_sources", "sum")
    )
    for band in ("b", "v"):  # the filter of most sources of the field
        col = f"filter_{band}"
        named = frame.dropna(subset=[col])
        counts = named.groupby([*keys, col], as_index=False)["n_sources"].sum()
        top = counts.sort_values("n_sources", ascending=False, kind="stable").drop_duplicates(keys)
        out = out.merge(top[[*keys, col]], on=keys, how="left")
    out["release_id"] = out["release_id"].astype(np.int64)
    return out[columns].sort_values(["galaxy", "field", "release_id"]).reset_index(drop=True)


def read_release_summary(bind: Engine | Connection, release_ids: Sequence[int]) -> pd.DataFrame:
    """``release_summary_all`` rows of the releases: one per (release, galaxy, method,
    class) with ``n_sources`` (sources of the galaxy the method put in the class) and the
    galaxy's ``n_galaxy_sources``, ``n_galaxy_fields``, ``n_galaxy_sed_fitted``; plus the
    keys ``release_id, galaxy_pk, method_pk`` and ``method, method_version, method_kind,
    delivered_by``. A galaxy no method classified has one row with method and class NULL."""
    frame = read_frame(
        bind,
        """
        SELECT s.release_id, s.galaxy, s.galaxy_pk, s.method_pk, s.method, s.method_version,
               s.method_kind, s.delivered_by, s."class", s.n_sources, s.n_classified,
               s.n_galaxy_sources, s.n_galaxy_fields, s.n_galaxy_sed_fitted
        FROM release_summary_all s
        WHERE s.release_id IN :rels
        """,
        {"rels": id_list(release_ids)},
        floats=("method_pk", "class"),
    )
    for col in ("n_sources", "n_classified", "n_galaxy_sources", "n_galaxy_fields",
                "n_galaxy_sed_fitted", "release_id", "galaxy_pk"):  # fmt: skip
        frame[col] = pd.to_numeric(frame[col]).fillna(0).astype(np.int64)
    return frame
