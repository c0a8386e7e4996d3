"""SQL of the dashboard: every query returns a pandas DataFrame (no science, no Streamlit).

The queries read the tables directly rather than the collaborator views: the views join five
photometry rows per source with correlated subqueries, which PostgreSQL plans badly for a
galaxy of 10^5 sources (minutes instead of a fraction of a second). They apply the views'
visibility rule all the same: only releases that are ``complete`` or ``superseded`` are
offered by :func:`releases` (``visible`` column), and classifications delivered by another
release (StarcNet) count only when that release is visible too.

Rows are fetched through the DBAPI cursor (no ORM, no SQLAlchemy row objects): with 10^5 rows
that halves the time of ``pandas.read_sql``. Integer ids are bound as expanding parameters;
filters restrict by ``release_id`` and ``field_id`` (both indexed) with literal lists, so the
PostgreSQL planner sees the real row counts of a field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from clustercat.schema.views import VISIBLE_RELEASE_STATUSES
from sqlalchemy import Connection, Engine, bindparam, inspect, text
from sqlalchemy.exc import SQLAlchemyError

#: Band labels of ``filter.band`` and the magnitude column each becomes in a frame.
BAND_COLUMNS: dict[str, str] = {
    "NUV": "mag_nuv",
    "U": "mag_u",
    "B": "mag_b",
    "V": "mag_v",
    "I": "mag_i",
}

#: Tables the dashboard needs; a database without them has not been migrated.
REQUIRED_TABLES = ("catalogue_release", "source", "photometry", "classification", "galaxy")


def _visible(alias: str) -> str:
    """A classification counts if its own release (if it names one) is visible."""
    return (
        f"({alias}.release_id IS NULL OR {alias}.release_id IN "
        f"(SELECT id FROM catalogue_release WHERE status IN {VISIBLE_RELEASE_STATUSES}))"
    )


_DELIVERED_VISIBLE = _visible("c")


# --- plumbing ---------------------------------------------------------------------------------


def read_frame(
    conn: Connection | Engine,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    floats: Iterable[str] = (),
) -> pd.DataFrame:
    """Run ``sql`` (``:name`` parameters; list or tuple values expand to IN lists) into a frame.

    ``floats`` are columns cast to float64 (all-NULL columns would otherwise be ``object``).
    """
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return read_frame(c, sql, params, floats=floats)
    params = dict(params or {})
    for name in [k for k, v in params.items() if _int_list(v)]:
        # integer id lists are written inline: thousands of bound parameters cost more to
        # parse (psycopg) than the query takes to run
        sql = re.sub(
            rf":{name}\b", "(" + ", ".join(str(int(i)) for i in params.pop(name)) + ")", sql
        )
    stmt = text(sql)
    expanding = [k for k, v in params.items() if isinstance(v, list | tuple)]
    if expanding:
        stmt = stmt.bindparams(*[bindparam(k, expanding=True) for k in expanding])
    if params:
        stmt = stmt.bindparams(**{k: list(v) if k in expanding else v for k, v in params.items()})
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.params
    args: Any = (
        tuple(values[k] for k in compiled.positiontup or ()) if compiled.positional else values
    )
    cursor = conn.connection.cursor()
    try:
        cursor.execute(compiled.string, args)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for name in floats:
        if name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame


def _int_list(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    )


def _ids(values: Iterable[int]) -> list[int]:
    """Integer ids for an IN list; an empty list becomes [-1], which matches nothing."""
    out = sorted({int(v) for v in values})
    return out or [-1]


# --- database state ---------------------------------------------------------------------------


def schema_problem(engine: Engine) -> str | None:
    """Why the database cannot be shown (unreachable, not migrated), or None when it can."""
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


def state_token(engine: Engine) -> tuple:
    """A cheap fingerprint of what the dashboard shows: changes when a release or run is added.

    Every cached page result is keyed by it (and by the release ids), so a new ingest, a
    release changing status or a new cross-match run never serves numbers computed before.
    """
    frame = read_frame(
        engine,
        "SELECT id, name, version, status, completed_at FROM catalogue_release ORDER BY id",
    )
    runs = read_frame(
        engine,
        "SELECT (SELECT count(*) FROM crossmatch_run) AS x, "
        "(SELECT max(id) FROM crossmatch_run) AS xm, "
        "(SELECT count(*) FROM classification_method) AS m, "
        "(SELECT count(*) FROM processing_run) AS p",
    )
    releases = tuple(tuple(str(v) for v in row) for row in frame.itertuples(index=False))
    return releases, tuple(str(v) for v in runs.iloc[0])


def filter_bands(engine: Engine | Connection) -> dict[str, list[int]]:
    """Band label -> ids of the filters carrying it (F435W and F438W are both B)."""
    frame = read_frame(engine, "SELECT id, band FROM filter")
    return {band: sorted(group["id"].astype(int)) for band, group in frame.groupby("band")}


# --- releases, galaxies, methods ---------------------------------------------------------------


def releases(engine: Engine) -> pd.DataFrame:
    """Every release with its survey, status, provenance, inputs and row counts.

    ``visible`` is true for the statuses the collaborator views show; ``n_sources`` counts the
    release's own sources and ``n_classifications_delivered`` the classes it attached to
    another release's sources (StarcNet).
    """
    frame = read_frame(
        engine,
        f"""
        SELECT r.id AS release_id, r.name AS release, r.version, sv.name AS survey, r.status,
               r.pipeline_version, r.reader, r.reader_version, r.layout, r.code_version,
               r.content_sha256, r.ingested_at, r.completed_at, r.notes,
               sup.name AS supersedes, sm.name AS default_sed_method,
               (SELECT count(*) FROM release_file rf WHERE rf.release_id = r.id) AS n_files,
               (SELECT count(*) FROM source s WHERE s.release_id = r.id) AS n_sources,
               (SELECT count(*) FROM classification c WHERE c.release_id = r.id)
                   AS n_classifications_delivered,
               CASE WHEN r.status IN {VISIBLE_RELEASE_STATUSES} THEN 1 ELSE 0 END AS visible
        FROM catalogue_release r
        JOIN survey sv ON sv.id = r.survey_id
        LEFT JOIN catalogue_release sup ON sup.id = r.supersedes_id
        LEFT JOIN sed_method sm ON sm.id = r.default_sed_method_id
        ORDER BY r.id
        """,
    )
    frame["visible"] = frame["visible"].astype(bool)
    frame["label"] = frame["release"] + " v" + frame["version"].astype(str)
    for col in ("ingested_at", "completed_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="mixed")
    return frame


def release_files(engine: Engine) -> pd.DataFrame:
    """Input files of every release: path, SHA-256, size, layout, rows, field."""
    return read_frame(
        engine,
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


def processing_runs(engine: Engine) -> pd.DataFrame:
    """Processing-module runs (module, release, status, times)."""
    frame = read_frame(
        engine,
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


def fields(engine: Engine, release_ids: Sequence[int]) -> pd.DataFrame:
    """Fields holding sources of the releases: galaxy, distance (Mpc), pixel scale, counts.

    ``filter_b`` / ``filter_v`` are the filters measured as B and V there (most sources).
    """
    frame = read_frame(
        engine,
        """
        SELECT s.release_id, s.field_id, f.name AS field, g.id AS galaxy_id, g.name AS galaxy,
               g.distance_mpc, g.ra_deg, g.dec_deg, f.pixel_scale_arcsec, count(*) AS n_sources
        FROM source s
        JOIN field f ON f.id = s.field_id
        JOIN galaxy g ON g.id = f.galaxy_id
        WHERE s.release_id IN :rels
        GROUP BY s.release_id, s.field_id, f.name, g.id, g.name, g.distance_mpc, g.ra_deg,
                 g.dec_deg, f.pixel_scale_arcsec
        ORDER BY g.name, f.name
        """,
        {"rels": _ids(release_ids)},
        floats=("distance_mpc", "ra_deg", "dec_deg", "pixel_scale_arcsec"),
    )
    filters = read_frame(
        engine,
        """
        SELECT ff.field_id, fl.band, fl.name
        FROM field_filter ff JOIN filter fl ON fl.id = ff.filter_id
        WHERE ff.field_id IN :fields AND fl.band IN ('B', 'V')
        """,
        {"fields": _ids(frame["field_id"])},
    )
    for band in ("B", "V"):
        names = filters[filters["band"] == band].groupby("field_id")["name"].first()
        frame[f"filter_{band.lower()}"] = frame["field_id"].map(names)
    return frame


def methods(engine: Engine, release_ids: Sequence[int]) -> pd.DataFrame:
    """Classification methods used on the releases' sources, per release and galaxy.

    One row per (release, galaxy, method): ``method`` is the name (with `` vN`` when the
    method version is not 1), ``kind``, ``delivered_by`` (the release that attached it, or the
    source's own release) and ``n`` classified sources.
    """
    frame = read_frame(
        engine,
        f"""
        SELECT s.release_id, f.galaxy_id, c.method_id, cm.name, cm.version, cm.kind,
               COALESCE(dr.name, r.name) AS delivered_by, count(*) AS n
        FROM classification c
        JOIN source s ON s.id = c.source_id
        JOIN field f ON f.id = s.field_id
        JOIN classification_method cm ON cm.id = c.method_id
        JOIN catalogue_release r ON r.id = s.release_id
        LEFT JOIN catalogue_release dr ON dr.id = c.release_id
        WHERE s.release_id IN :rels AND {_DELIVERED_VISIBLE}
        GROUP BY s.release_id, f.galaxy_id, c.method_id, cm.name, cm.version, cm.kind,
                 COALESCE(dr.name, r.name)
        """,
        {"rels": _ids(release_ids)},
    )
    frame["method"] = np.where(
        frame["version"].astype(str) == "1",
        frame["name"],
        frame["name"] + " v" + frame["version"].astype(str),
    )
    return frame


def class_counts(engine: Engine, release_ids: Sequence[int]) -> pd.DataFrame:
    """Classified sources per release, galaxy, method and class (aggregated in SQL)."""
    return read_frame(
        engine,
        f"""
        SELECT s.release_id, f.galaxy_id, c.method_id, c.cluster_class AS class, count(*) AS n
        FROM classification c
        JOIN source s ON s.id = c.source_id
        JOIN field f ON f.id = s.field_id
        WHERE s.release_id IN :rels AND {_DELIVERED_VISIBLE}
        GROUP BY s.release_id, f.galaxy_id, c.method_id, c.cluster_class
        """,
        {"rels": _ids(release_ids)},
    )


def sed_counts(engine: Engine, release_ids: Sequence[int]) -> pd.DataFrame:
    """Sources with a fit of the release's default SED method, per release and galaxy."""
    return read_frame(
        engine,
        """
        SELECT s.release_id, f.galaxy_id, count(*) AS n_sed
        FROM sed_fit sf
        JOIN source s ON s.id = sf.source_id
        JOIN catalogue_release r ON r.id = s.release_id AND r.default_sed_method_id = sf.method_id
        JOIN field f ON f.id = s.field_id
        WHERE s.release_id IN :rels
        GROUP BY s.release_id, f.galaxy_id
        """,
        {"rels": _ids(release_ids)},
    )


# --- per-source frames ------------------------------------------------------------------------


def _mag_limit_sql(v_limits: Mapping[int, float] | None) -> str:
    """``HAVING``/``WHERE`` expression keeping V magnitudes below a per-field apparent limit.

    The limits are numbers computed by :mod:`clustercat.processing` (distance moduli) and
    rendered as literals; a 1e-6 mag margin leaves the exact (strict) cut to ``processing``.
    """
    if not v_limits:
        return ""
    cases = " ".join(
        f"WHEN {int(fid)} THEN {float(lim) + 1e-6!r}" for fid, lim in sorted(v_limits.items())
    )
    return f"CASE s.field_id {cases} END"


def classified_sources(
    engine: Engine,
    release_ids: Sequence[int],
    field_ids: Sequence[int],
    method_ids: Sequence[int],
    classes: Sequence[int] = (1, 2, 3, 4),
    *,
    bands: Sequence[str] = ("NUV", "U", "B", "V", "I"),
    v_limits: Mapping[int, float] | None = None,
    with_sed: bool = False,
) -> pd.DataFrame:
    """One row per (source, method) classified into ``classes``, with its total magnitudes.

    Columns: ``source_pk, release_id, field_id, method_id, class`` and one ``mag_<band>`` per
    band (Vega, NaN when not measured); with ``with_sed`` also ``log_age, log_mass, ebv`` of
    the release's default SED method (NaN without a fit). ``v_limits`` (field id -> apparent V
    limit, mag) keeps only sources brighter than the limit of their field (pre-filter; the
    processing functions apply the exact cut).
    """
    band_ids = filter_bands(engine)
    pivots = [
        f"MAX(CASE WHEN p.filter_id IN ({', '.join(map(str, band_ids.get(b, [-1])))}) "
        f"THEN p.mag_vega END) AS {BAND_COLUMNS[b]}"
        for b in bands
    ]
    limit = _mag_limit_sql(v_limits)
    v_ids = ", ".join(map(str, band_ids.get("V", [-1])))
    # the V cut as a join (before the pivot): several times faster than a HAVING clause
    v_cut = (
        f"JOIN photometry vcut ON vcut.source_id = c.source_id AND vcut.kind = 'total' "
        f"AND vcut.filter_id IN ({v_ids}) AND vcut.mag_vega < {limit}"
        if limit
        else ""
    )
    sed_cols = (
        ", MAX(sf.log_age) AS log_age, MAX(sf.log_mass) AS log_mass, MAX(sf.ebv) AS ebv"
        if with_sed
        else ""
    )
    sed_join = (
        "JOIN catalogue_release r ON r.id = s.release_id "
        "LEFT JOIN sed_fit sf ON sf.source_id = c.source_id "
        "AND sf.method_id = r.default_sed_method_id"
        if with_sed
        else ""
    )
    sql = f"""
        SELECT c.source_id AS source_pk, s.release_id, s.field_id, c.method_id,
               c.cluster_class AS class, {", ".join(pivots)}{sed_cols}
        FROM classification c
        JOIN source s ON s.id = c.source_id
        {v_cut}
        {sed_join}
        LEFT JOIN photometry p ON p.source_id = c.source_id AND p.kind = 'total'
        WHERE s.release_id IN :rels AND s.field_id IN :fields AND c.method_id IN :methods
          AND c.cluster_class IN :classes AND {_DELIVERED_VISIBLE}
        GROUP BY c.source_id, s.release_id, s.field_id, c.method_id, c.cluster_class
    """
    floats = [BAND_COLUMNS[b] for b in bands] + (["log_age", "log_mass", "ebv"] if with_sed else [])
    return read_frame(
        engine,
        sql,
        {
            "rels": _ids(release_ids),
            "fields": _ids(field_ids),
            "methods": _ids(method_ids),
            "classes": _ids(classes),
        },
        floats=floats,
    )


def method_classes(
    engine: Engine,
    release_ids: Sequence[int],
    field_ids: Sequence[int],
    method_ids: Sequence[int],
    *,
    v_limits: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """Classes of several methods on the same sources, wide: one row per source.

    Columns ``source_pk, release_id, field_id, mag_v`` and ``m<method_id>`` (class or NaN).
    Only sources classified by at least one of the methods (and brighter than ``v_limits``,
    if given) are returned.
    """
    band_ids = filter_bands(engine)
    v_ids = ", ".join(map(str, band_ids.get("V", [-1])))
    cols = ", ".join(
        f"MAX(CASE WHEN c.method_id = {int(m)} THEN c.cluster_class END) AS m{int(m)}"
        for m in _ids(method_ids)
    )
    limit = _mag_limit_sql(v_limits)
    where_limit = f"AND v.mag_vega < {limit}" if limit else ""
    frame = read_frame(
        engine,
        f"""
        SELECT c.source_id AS source_pk, s.release_id, s.field_id, MAX(v.mag_vega) AS mag_v,
               {cols}
        FROM classification c
        JOIN source s ON s.id = c.source_id
        LEFT JOIN photometry v ON v.source_id = c.source_id AND v.kind = 'total'
             AND v.filter_id IN ({v_ids})
        WHERE s.release_id IN :rels AND s.field_id IN :fields AND c.method_id IN :methods
          AND {_DELIVERED_VISIBLE} {where_limit}
        GROUP BY c.source_id, s.release_id, s.field_id
        """,
        {"rels": _ids(release_ids), "fields": _ids(field_ids), "methods": _ids(method_ids)},
        floats=["mag_v"] + [f"m{int(m)}" for m in _ids(method_ids)],
    )
    return frame


def positions(
    engine: Engine,
    release_id: int,
    field_ids: Sequence[int],
    method_id: int | None = None,
) -> pd.DataFrame:
    """Every source of a release in the fields: ``source_pk, source_id, field_id, ra, dec,
    x, y, mag_v`` and ``class`` (of ``method_id``; NaN when unclassified or no method)."""
    band_ids = filter_bands(engine)
    v_ids = ", ".join(map(str, band_ids.get("V", [-1])))
    return read_frame(
        engine,
        f"""
        SELECT s.id AS source_pk, s.id_in_release AS source_id, s.field_id, s.ra, s.dec,
               s.x, s.y, v.mag_vega AS mag_v, c.cluster_class AS class
        FROM source s
        LEFT JOIN photometry v ON v.source_id = s.id AND v.kind = 'total'
             AND v.filter_id IN ({v_ids})
        LEFT JOIN classification c ON c.source_id = s.id AND c.method_id = :method
             AND {_DELIVERED_VISIBLE}
        WHERE s.release_id = :rel AND s.field_id IN :fields
        ORDER BY s.id
        """,
        {"rel": int(release_id), "fields": _ids(field_ids), "method": int(method_id or -1)},
        floats=("ra", "dec", "x", "y", "mag_v", "class"),
    )


# --- cross-match runs -------------------------------------------------------------------------


def crossmatch_runs(engine: Engine, release_ids: Sequence[int]) -> pd.DataFrame:
    """Stored cross-match runs between any two of the releases (either direction)."""
    frame = read_frame(
        engine,
        """
        SELECT x.id AS run_id, x.release_a_id, ra.name AS release_a, x.release_b_id,
               rb.name AS release_b, x.radius_arcsec, x.method, x.offset_ra_arcsec,
               x.offset_dec_arcsec, ma.name AS method_a, mb.name AS method_b, x.n_pairs,
               x.code_version, x.created_at, x.field_a_id, x.field_b_id
        FROM crossmatch_run x
        JOIN catalogue_release ra ON ra.id = x.release_a_id
        JOIN catalogue_release rb ON rb.id = x.release_b_id
        LEFT JOIN classification_method ma ON ma.id = x.classification_method_a_id
        LEFT JOIN classification_method mb ON mb.id = x.classification_method_b_id
        WHERE x.release_a_id IN :rels AND x.release_b_id IN :rels
        ORDER BY x.id DESC
        """,
        {"rels": _ids(release_ids)},
        floats=("radius_arcsec", "offset_ra_arcsec", "offset_dec_arcsec"),
    )
    frame["created_at"] = pd.to_datetime(
        frame["created_at"], utc=True, errors="coerce", format="mixed"
    )
    return frame


def crossmatch_pairs(engine: Engine, run_id: int) -> pd.DataFrame:
    """Pairs and unmatched sources of a stored run: source keys, outcome, separation."""
    frame = read_frame(
        engine,
        """
        SELECT p.source_a_id AS source_pk_a, p.source_b_id AS source_pk_b,
               p.separation_arcsec, p.is_best, p.outcome
        FROM crossmatch_pair p WHERE p.run_id = :run
        """,
        {"run": int(run_id)},
        floats=("separation_arcsec", "source_pk_a", "source_pk_b"),
    )
    frame["is_best"] = frame["is_best"].astype(bool)
    return frame


def matched_classes(
    engine: Engine,
    run_id: int,
    method_a: int,
    method_b: int,
    field_ids_a: Sequence[int],
    *,
    swap: bool = False,
) -> pd.DataFrame:
    """Classes of the one-to-one pairs of a stored run: ``source_a_pk, source_b_pk,
    field_id`` (of A), ``mag_v`` (of A), ``class_a`` (``method_a`` on A) and ``class_b``.

    ``swap`` reads a run stored the other way round (its B side is our A side).
    """
    a, b = ("source_b_id", "source_a_id") if swap else ("source_a_id", "source_b_id")
    v_ids = ", ".join(map(str, filter_bands(engine).get("V", [-1])))
    return read_frame(
        engine,
        f"""
        SELECT p.{a} AS source_a_pk, p.{b} AS source_b_pk, sa.field_id, v.mag_vega AS mag_v,
               ca.cluster_class AS class_a, cb.cluster_class AS class_b
        FROM crossmatch_pair p
        JOIN source sa ON sa.id = p.{a}
        LEFT JOIN classification ca ON ca.source_id = p.{a} AND ca.method_id = :ma
             AND {_visible("ca")}
        LEFT JOIN classification cb ON cb.source_id = p.{b} AND cb.method_id = :mb
             AND {_visible("cb")}
        LEFT JOIN photometry v ON v.source_id = p.{a} AND v.kind = 'total'
             AND v.filter_id IN ({v_ids})
        WHERE p.run_id = :run AND p.is_best = :best AND sa.field_id IN :fields
        """,
        {
            "run": int(run_id),
            "ma": int(method_a),
            "mb": int(method_b),
            "best": True,
            "fields": _ids(field_ids_a),
        },
        floats=("mag_v", "class_a", "class_b"),
    )


# --- source explorer --------------------------------------------------------------------------


def explorer_sources(
    engine: Engine,
    release_ids: Sequence[int],
    field_ids: Sequence[int],
    *,
    v_range: tuple[float, float] | None = None,
    source_pks: Sequence[int] | None = None,
    classified_by: Sequence[int] | None = None,
    classes: Sequence[int] | None = None,
    limit: int = 5000,
) -> pd.DataFrame:
    """Sources for the explorer table, brightest in V first, at most ``limit`` rows.

    Columns: keys, positions, the five total magnitudes, CI, MCI and the default SED values.
    ``v_range`` keeps lo <= V <= hi (mag); ``classified_by``/``classes`` keep sources that one
    of the methods puts in ``classes``; ``source_pks`` keeps only those sources. The page of
    sources is chosen first (one indexed join on V), then only those rows are pivoted.
    """
    band_ids = filter_bands(engine)
    v_ids = ", ".join(map(str, band_ids.get("V", [-1])))
    conditions = ["s.release_id IN :rels", "s.field_id IN :fields"]
    params: dict[str, Any] = {"rels": _ids(release_ids), "fields": _ids(field_ids)}
    if source_pks is not None:
        conditions.append("s.id IN :pks")
        params["pks"] = _ids(source_pks)
    if classified_by is not None and classes is not None:
        conditions.append(
            "EXISTS (SELECT 1 FROM classification c WHERE c.source_id = s.id "
            "AND c.method_id IN :cmethods AND c.cluster_class IN :classes "
            f"AND {_DELIVERED_VISIBLE})"
        )
        params["cmethods"] = _ids(classified_by)
        params["classes"] = _ids(classes)
    v_join = "LEFT JOIN"
    if v_range is not None:
        v_join = "JOIN"
        conditions.append("v.mag_vega >= :vlo AND v.mag_vega <= :vhi")
        params.update(vlo=float(v_range[0]), vhi=float(v_range[1]))
    picked = read_frame(
        engine,
        f"""
        SELECT s.id AS source_pk FROM source s
        {v_join} photometry v ON v.source_id = s.id AND v.kind = 'total'
             AND v.filter_id IN ({v_ids})
        WHERE {" AND ".join(conditions)}
        ORDER BY CASE WHEN v.mag_vega IS NULL THEN 1 ELSE 0 END, v.mag_vega, s.id
        LIMIT {int(limit)}
        """,
        params,
    )
    pivots = ", ".join(
        f"MAX(CASE WHEN p.filter_id IN ({', '.join(map(str, band_ids.get(b, [-1])))}) "
        f"THEN p.mag_vega END) AS {col}"
        for b, col in BAND_COLUMNS.items()
    )
    frame = read_frame(
        engine,
        f"""
        SELECT s.id AS source_pk, s.release_id, s.field_id, s.id_in_release AS source_id,
               s.ra, s.dec, s.x, s.y, {pivots},
               MAX(m.ci) AS ci, MAX(m.mci_in) AS mci_in, MAX(m.mci_out) AS mci_out,
               MAX(sf.log_age) AS log_age, MAX(sf.log_mass) AS log_mass, MAX(sf.ebv) AS ebv
        FROM source s
        JOIN catalogue_release r ON r.id = s.release_id
        LEFT JOIN photometry p ON p.source_id = s.id AND p.kind = 'total'
        LEFT JOIN morphology m ON m.source_id = s.id AND m.constants_version = r.morphology_version
        LEFT JOIN sed_fit sf ON sf.source_id = s.id AND sf.method_id = r.default_sed_method_id
        WHERE s.id IN :pks
        GROUP BY s.id, s.release_id, s.field_id, s.id_in_release, s.ra, s.dec, s.x, s.y
        """,
        {"pks": _ids(picked["source_pk"])},
        floats=["ra", "dec", "x", "y", *BAND_COLUMNS.values(), "ci", "mci_in", "mci_out",
                "log_age", "log_mass", "ebv"],
    )  # fmt: skip
    order = pd.Index(picked["source_pk"]).get_indexer(frame["source_pk"])
    return frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def classes_of(engine: Engine, source_pks: Sequence[int]) -> pd.DataFrame:
    """Every visible classification of the sources: ``source_pk, method_id, class, score``."""
    return read_frame(
        engine,
        f"""
        SELECT c.source_id AS source_pk, c.method_id, c.cluster_class AS class, c.score
        FROM classification c
        WHERE c.source_id IN :pks AND {_DELIVERED_VISIBLE}
        """,
        {"pks": _ids(source_pks)},
        floats=("score",),
    )


# --- injection runs and completeness models (issue 11) ------------------------------------------


def completeness_token(engine: Engine) -> tuple:
    """Fingerprint of the complete injection runs and completeness models (cache keys)."""
    row = read_frame(
        engine,
        "SELECT (SELECT count(*) FROM injection_run WHERE status = 'complete') AS n, "
        "(SELECT max(id) FROM injection_run WHERE status = 'complete') AS r, "
        "(SELECT count(*) FROM ml_model WHERE task = 'completeness') AS m, "
        "(SELECT max(id) FROM ml_model WHERE task = 'completeness') AS mm",
    )
    return tuple(str(v) for v in row.iloc[0])


def injection_runs(engine: Engine, galaxy: str | None = None) -> pd.DataFrame:
    """Complete injection runs (of ``galaxy``'s fields): ``run_id, field, galaxy, grid,
    n_trials, n_frame_sets, completed_at``, newest first."""
    where = "" if galaxy is None else "AND g.name = :galaxy"
    return read_frame(
        engine,
        f"""
        SELECT r.id AS run_id, f.name AS field, g.name AS galaxy, r.grid,
               (SELECT count(*) FROM injection_trial t WHERE t.run_id = r.id) AS n_trials,
               (SELECT count(DISTINCT t.frame_set) FROM injection_trial t
                 WHERE t.run_id = r.id) AS n_frame_sets,
               r.completed_at
        FROM injection_run r
        JOIN field f ON f.id = r.field_id
        JOIN galaxy g ON g.id = f.galaxy_id
        WHERE r.status = 'complete' {where}
        ORDER BY r.id DESC
        """,
        {} if galaxy is None else {"galaxy": galaxy},
    )


def completeness_by_age(
    engine: Engine, run_id: int, column: str, width: float, age_width: float
) -> pd.DataFrame:
    """Recovered / injected of a complete run per (log-age bin, ``column`` bin), binned as the
    ``injection_completeness`` view bins (floor(x / width) * width, binomial errors)."""
    if column not in ("mag_in_v", "log_mass"):
        raise ValueError(f"no completeness curves against {column!r}")
    n = "CAST(count(*) AS DOUBLE PRECISION)"
    k = "CAST(sum(CASE WHEN t.recovered THEN 1 ELSE 0 END) AS DOUBLE PRECISION)"
    return read_frame(
        engine,
        f"""
        SELECT floor(t.log_age / {age_width}) * {age_width} AS age_low,
               floor(t.{column} / {width}) * {width} AS bin_low,
               count(*) AS n_injected,
               sum(CASE WHEN t.recovered THEN 1 ELSE 0 END) AS n_recovered,
               {k} / {n} AS completeness,
               sqrt({k} * ({n} - {k}) / {n}) / {n} AS completeness_err
        FROM injection_trial t JOIN injection_run r ON r.id = t.run_id AND r.status = 'complete'
        WHERE t.run_id = :r AND t.{column} IS NOT NULL AND t.log_age IS NOT NULL
        GROUP BY floor(t.log_age / {age_width}) * {age_width},
                 floor(t.{column} / {width}) * {width}
        ORDER BY age_low, bin_low
        """,
        {"r": int(run_id)},
        floats=("age_low", "bin_low", "completeness", "completeness_err"),
    )  # fmt: skip


def recovered_mci(engine: Engine, run_id: int) -> pd.DataFrame:
    """Measured MCI_in, MCI_out of a run's recovered trials."""
    return read_frame(
        engine,
        "SELECT mci_in_out AS mci_in, mci_out_out AS mci_out FROM injection_trial "
        "WHERE run_id = :r AND recovered AND mci_in_out IS NOT NULL AND mci_out_out IS NOT NULL",
        {"r": int(run_id)},
        floats=("mci_in", "mci_out"),
    )


def completeness_models(engine: Engine) -> pd.DataFrame:
    """Registered completeness networks: ``model_id, name, version, kind, run_id``, newest
    first (``kind`` from the hyper-parameters)."""
    import json

    frame = read_frame(
        engine,
        "SELECT id AS model_id, name, version, hyperparameters FROM ml_model "
        "WHERE task = 'completeness' ORDER BY id DESC",
    )
    hyper = [h if isinstance(h, dict) else json.loads(h or "{}") for h in frame["hyperparameters"]]
    frame["kind"] = [h.get("kind") for h in hyper]
    frame["run_id"] = [h.get("injection_run_id") for h in hyper]
    return frame.drop(columns="hyperparameters")


# --- the ML model registry and per-source predictions (issue 12) -------------------------------


def _json_dict(value: Any) -> dict:
    """A JSON column as a dict (PostgreSQL returns dicts, SQLite may return text)."""
    import json

    if isinstance(value, dict):
        return value
    if value in (None, ""):
        return {}
    try:
        loaded = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def ml_token(conn: Connection | Engine) -> tuple:
    """Fingerprint of the model registry and predictions (changes when a model is added)."""
    frame = read_frame(
        conn,
        "SELECT (SELECT count(*) FROM ml_model) AS n_models, "
        "(SELECT max(id) FROM ml_model) AS last_model, "
        "(SELECT count(*) FROM processing_run WHERE module = 'ml') AS n_runs",
    )
    return tuple(None if pd.isna(v) else int(v) for v in frame.iloc[0])


def ml_models(conn: Connection | Engine) -> pd.DataFrame:
    """Every ``ml_model`` row: id, name, version, task, architecture, created_at,
    training_query_sha256, weights_sha256, and ``hyperparameters`` / ``metrics`` as dicts."""
    frame = read_frame(
        conn,
        "SELECT id, name, version, task, architecture, created_at, training_query_sha256, "
        "weights_sha256, hyperparameters, metrics FROM ml_model ORDER BY id",
    )
    if frame.empty:
        return pd.DataFrame(
            columns=["id", "name", "version", "task", "architecture", "created_at",
                     "training_query_sha256", "weights_sha256", "hyperparameters", "metrics"]
        )  # fmt: skip
    frame["hyperparameters"] = [_json_dict(h) for h in frame["hyperparameters"]]
    frame["metrics"] = [_json_dict(m) for m in frame["metrics"]]
    return frame


def ml_predictions(conn: Connection | Engine, source_pk: int) -> pd.DataFrame:
    """Each model's prediction for one source: model id, name, version, task, predicted
    class, class probabilities and value (e.g. log age) with its error."""
    return read_frame(
        conn,
        """
        SELECT p.model_id, m.name AS model, m.version, m.task, p.predicted_class,
               p.p_class1, p.p_class2, p.p_class3, p.p_class4, p.predicted_value,
               p.predicted_err
        FROM ml_prediction p JOIN ml_model m ON m.id = p.model_id
        WHERE p.source_id = :pk ORDER BY p.model_id
        """,
        {"pk": int(source_pk)},
        floats=("p_class1", "p_class2", "p_class3", "p_class4", "predicted_value",
                "predicted_err"),
    )  # fmt: skip
