"""Reading a release out of the database into frames: one function per need.

The thin database layer under :mod:`clustercat.processing.analyses`,
:mod:`clustercat.processing.crossmatch_db`, the command line and the dashboard (one reader
per concept: the dashboard has no SQL of its own). Every function takes an ``Engine`` or a
``Connection`` and returns a :class:`pandas.DataFrame` (one SQL statement each, through the
collaborator views ``cluster_catalogue_all``, ``source_classes_all`` and
``crossmatch_pairs_all``, so that SQL users and the code see the same numbers: the V
magnitude of a source, for one, is the view's ``mag_v``). No science here and no per-row
Python: the frames go straight into the pure functions of ``processing``.

A release is always read by its id, resolved first (:func:`resolve_release`): the ``_all``
twins of the views are read, so a superseded version named explicitly reads as well as the
newest complete one (for which the plain views and their twins hold the same rows).
Release, run and model metadata, which no view holds, are read from the tables by
:mod:`.readers_releases`, :mod:`.readers_injection` and :mod:`.readers_models`.

Units of the columns returned are the units of the views (README "Collaborator views"):
RA/Dec in deg, x/y in pix, magnitudes Vega mag, ``log_age`` log10(yr), ``log_mass``
log10(Msun), ``distance_mpc`` Mpc. Only visible releases (status complete or superseded)
are read.

Names accepted on input:

* a release by name, the newest complete version unless ``version`` is given;
* a side of a cross-match as ``RELEASE`` or ``RELEASE:FIELD`` (``legus:ngc628c``); field
  names are matched case-, blank-, hyphen- and underscore-insensitively (``ngc628-c``);
* a classification method by name, or ``NAME@VERSION`` when several versions exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, text

__all__ = [
    "CATALOGUE_COLUMNS",
    "VISIBLE_STATUSES",
    "CatalogueLookupError",
    "FieldRef",
    "MethodRef",
    "ReleaseRef",
    "Side",
    "connect",
    "id_list",
    "parse_side",
    "primary_method",
    "read_band_filters",
    "read_catalogue",
    "read_class_pairs",
    "read_classes",
    "read_classified_catalogue",
    "read_catalogue_page",
    "read_crossmatch_pair_keys",
    "read_crossmatch_pairs",
    "read_crossmatch_run",
    "read_crossmatch_runs",
    "read_frame",
    "read_mci_plane",
    "read_release_classes",
    "read_source_classes",
    "rows_to_frame",
    "read_local_background",
    "read_methods",
    "read_sources",
    "resolve_field",
    "resolve_method",
    "resolve_release",
    "resolve_side",
]

#: Release statuses the collaborator views show (schema.views.VISIBLE_RELEASE_STATUSES).
VISIBLE_STATUSES = ("complete", "superseded")


class CatalogueLookupError(LookupError):
    """A release, field or classification method named by the user does not exist."""


@dataclass(frozen=True)
class ReleaseRef:
    """A catalogue release, resolved to one row of ``catalogue_release``."""

    id: int
    name: str
    version: int

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class FieldRef:
    """A field (pointing), with its pixel scale (arcsec/pix) when known."""

    id: int
    name: str
    pixel_scale_arcsec: float | None


@dataclass(frozen=True)
class MethodRef:
    """A classification method, resolved to one row of ``classification_method``."""

    id: int
    name: str
    version: str
    kind: str


@dataclass(frozen=True)
class Side:
    """One side of a cross-match: a whole release, or one field of it."""

    release: ReleaseRef
    field: FieldRef | None = None

    @property
    def label(self) -> str:
        return self.release.name + (f":{self.field.name}" if self.field else "")


@contextmanager
def connect(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection: a new one from an engine (closed afterwards), or the one given."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            yield conn
    else:
        yield bind


def read_frame(
    bind: Engine | Connection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    floats: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows of one SELECT as a frame (columns named as in the SELECT).

    ``:name`` parameters; list or tuple values expand to IN lists (lists of integer ids are
    written inline: thousands of bound parameters cost psycopg more to parse than the query
    takes to run). Rows are fetched through the DBAPI cursor, without SQLAlchemy row
    objects: with 10^5 rows that halves the time of ``pandas.read_sql``. ``floats`` are
    columns cast to float64 (an all-NULL column would otherwise be ``object``).
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return read_frame(conn, sql, params, floats=floats)
    # parameters the statement does not name are left out (one dict may serve several)
    params = {k: v for k, v in (params or {}).items() if re.search(rf":{k}\b", sql)}
    for name in [k for k, v in params.items() if _int_list(v)]:
        ids = ", ".join(str(int(i)) for i in params.pop(name))
        sql = re.sub(rf":{name}\b", f"({ids})", sql)
    stmt = text(sql)
    expanding = [k for k, v in params.items() if isinstance(v, list | tuple)]
    if expanding:
        stmt = stmt.bindparams(*[bindparam(k, expanding=True) for k in expanding])
    if params:
        stmt = stmt.bindparams(**{k: list(v) if k in expanding else v for k, v in params.items()})
    compiled = stmt.compile(dialect=bind.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.params
    args: Any = (
        tuple(values[k] for k in compiled.positiontup or ()) if compiled.positional else values
    )
    raw = bind.connection.dbapi_connection
    # PostgreSQL: rows in binary format (psycopg), a third less client time at 10^5 rows
    # than parsing text; same Python values
    binary = bind.dialect.name == "postgresql"
    cursor = raw.cursor(binary=True) if binary else raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, args)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return rows_to_frame(rows, columns, floats)


def rows_to_frame(
    rows: Sequence[tuple], columns: Sequence[str], floats: Iterable[str] = ()
) -> pd.DataFrame:
    """A frame of DBAPI rows: ``floats`` columns as float64 (NULL -> NaN), the others with
    the dtypes :meth:`pandas.DataFrame.from_records` infers.

    Rows go through one 2-D object array; the float columns are cast from it in C, which
    at 10^5 rows × 20 columns takes a quarter of the time of ``from_records`` (it infers
    every column from Python objects).
    """
    floats = set(floats)
    obj = None
    if rows:
        try:
            obj = np.array(rows, dtype=object)
        except ValueError:  # a value that is itself a sequence (an array column)
            obj = None
    if (
        obj is None
        or obj.ndim != 2
        or obj.shape[1] != len(columns)
        or len(set(columns)) != len(columns)  # SELECT a.x, b.x: keep both, as from_records
    ):
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for name in floats & set(frame.columns):
            frame[name] = _as_float(frame[name].to_numpy(dtype=object))
        return frame
    data = {name: obj[:, i] for i, name in enumerate(columns)}
    at = [i for i, name in enumerate(columns) if name in floats]
    if at:
        try:  # one cast for every float column, each a contiguous row of the result
            block = obj[:, at].T.astype(float, order="C")
        except (TypeError, ValueError):
            block = np.stack([_as_float(obj[:, i]) for i in at])
        data.update({columns[i]: block[k] for k, i in enumerate(at)})
    return pd.DataFrame(data, copy=False).infer_objects()


def _as_float(values: np.ndarray) -> np.ndarray:
    """Numbers and None (NULL -> NaN) as float64, in C; anything else coerced (NaN)."""
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _int_list(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    )


def id_list(values: Iterable[int]) -> list[int]:
    """Integer ids for an IN list; an empty list becomes [-1], which matches no row."""
    out = sorted({int(v) for v in values})
    return out or [-1]


def _frame(conn: Connection, sql: str, params: dict | None = None, expanding=()) -> pd.DataFrame:
    """Run one SELECT and return its rows as a frame (``expanding``: IN-list parameters);
    columns named as the catalogue's float columns are read as float64."""
    return read_frame(conn, sql, params, floats=_FLOAT_COLUMNS)


def _normalise_field(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


# --- resolving names ---------------------------------------------------------------------


def resolve_release(bind: Engine | Connection, name: str, version: int | None = None) -> ReleaseRef:
    """The visible release called ``name``: its newest complete version unless ``version``."""
    with connect(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT id, name, version, status FROM catalogue_release "
                "WHERE name = :name AND status IN ('complete', 'superseded') "
                "ORDER BY CASE WHEN status = 'complete' THEN 0 ELSE 1 END, version DESC"
            ),
            {"name": name},
        ).all()
        if version is not None:
            rows = [r for r in rows if r.version == version]
        if not rows:
            known = conn.execute(
                text(
                    "SELECT DISTINCT name FROM catalogue_release "
                    "WHERE status IN ('complete', 'superseded') ORDER BY name"
                )
            ).scalars()
            wanted = name + (f" v{version}" if version is not None else "")
            raise CatalogueLookupError(
                f"no complete release {wanted!r}; known releases: {', '.join(known) or 'none'}"
            )
    row = rows[0]
    return ReleaseRef(int(row.id), str(row.name), int(row.version))


def resolve_field(bind: Engine | Connection, name: str) -> FieldRef:
    """The field called ``name`` (``ngc628c``; ``NGC628-C`` and ``ngc628_c`` work too)."""
    with connect(bind) as conn:
        rows = conn.execute(text("SELECT id, name, pixel_scale_arcsec FROM field")).all()
    by_key = {_normalise_field(r.name): r for r in rows}
    row = by_key.get(_normalise_field(name))
    if row is None:
        raise CatalogueLookupError(
            f"no field {name!r}; known fields: {', '.join(sorted(r.name for r in rows))}"
        )
    scale = None if row.pixel_scale_arcsec is None else float(row.pixel_scale_arcsec)
    return FieldRef(int(row.id), str(row.name), scale)


def parse_side(spec: str) -> tuple[str, str | None]:
    """``"legus:ngc628c"`` -> ``("legus", "ngc628c")``; ``"legus"`` -> ``("legus", None)``."""
    release, sep, field = spec.strip().rpartition(":")
    if not sep:
        return field, None
    if not release or not field:
        raise ValueError(f"expected RELEASE or RELEASE:FIELD, not {spec!r}")
    return release, field


def resolve_side(bind: Engine | Connection, spec: str | Side) -> Side:
    """A cross-match side from ``RELEASE`` or ``RELEASE:FIELD``; the field must have sources."""
    if isinstance(spec, Side):
        return spec
    release_name, field_name = parse_side(spec)
    with connect(bind) as conn:
        release = resolve_release(conn, release_name)
        if field_name is None:
            return Side(release)
        field = resolve_field(conn, field_name)
        n = conn.execute(
            text("SELECT count(*) FROM source WHERE release_id = :r AND field_id = :f"),
            {"r": release.id, "f": field.id},
        ).scalar_one()
    if n == 0:
        raise CatalogueLookupError(f"release {release.label} has no source in field {field.name}")
    return Side(release, field)


def resolve_method(bind: Engine | Connection, spec: str | MethodRef) -> MethodRef:
    """A classification method by name, or ``NAME@VERSION`` when the name has several."""
    if isinstance(spec, MethodRef):
        return spec
    name, sep, version = spec.partition("@")
    with connect(bind) as conn:
        rows = conn.execute(
            text("SELECT id, name, version, kind FROM classification_method WHERE name = :n"),
            {"n": name.strip()},
        ).all()
        if sep:
            rows = [r for r in rows if r.version == version.strip()]
        if not rows:
            known = conn.execute(
                text("SELECT DISTINCT name FROM classification_method ORDER BY name")
            ).scalars()
            raise CatalogueLookupError(
                f"no classification method {spec!r}; known: {', '.join(known) or 'none'}"
            )
    if len(rows) > 1:
        versions = ", ".join(sorted(r.version for r in rows))
        raise CatalogueLookupError(
            f"method {name!r} has versions {versions}: name one as '{name}@VERSION'"
        )
    r = rows[0]
    return MethodRef(int(r.id), str(r.name), str(r.version), str(r.kind))


def primary_method(bind: Engine | Connection, side: Side) -> MethodRef | None:
    """The class column the side's input files name as primary (``release_file``), if unique.

    This is the method a reader calls "the class" of the catalogue (e.g. 'LEGUS human mode'
    for NGC 628, 'LEGUS hybrid' for NGC 1566); None when the files disagree or name none.
    """
    sql = (
        "SELECT DISTINCT cm.id, cm.name, cm.version, cm.kind FROM release_file rf "
        "JOIN classification_method cm ON cm.id = rf.primary_classification_method_id "
        "WHERE rf.release_id = :r"
    )
    params: dict = {"r": side.release.id}
    if side.field is not None:
        sql += " AND rf.field_id = :f"
        params["f"] = side.field.id
    with connect(bind) as conn:
        rows = conn.execute(text(sql), params).all()
    if len(rows) != 1:
        return None
    r = rows[0]
    return MethodRef(int(r.id), str(r.name), str(r.version), str(r.kind))


# --- sources, classes, catalogue rows ------------------------------------------------------


def read_sources(bind: Engine | Connection, side: Side) -> pd.DataFrame:
    """Positions of every source of a side, ordered by ``source_pk``.

    Columns: ``source_pk`` (source.id), ``source_id`` (id in the release), ``field``,
    ``ra``, ``dec`` (deg), ``x``, ``y`` (pix on the field's frame).
    """
    sql = (
        "SELECT s.id AS source_pk, s.id_in_release AS source_id, f.name AS field, "
        "s.ra AS ra, s.dec AS dec, s.x AS x, s.y AS y "
        "FROM source s JOIN field f ON f.id = s.field_id WHERE s.release_id = :r"
    )
    params: dict = {"r": side.release.id}
    if side.field is not None:
        sql += " AND s.field_id = :f"
        params["f"] = side.field.id
    with connect(bind) as conn:
        frame = _frame(conn, sql + " ORDER BY s.id", params)
    return frame.astype(
        {"source_pk": np.int64, "source_id": np.int64, "ra": float, "dec": float}
    ).astype({"x": float, "y": float})


def read_classes(
    bind: Engine | Connection, side: Side, method: MethodRef, galaxy: str | None = None
) -> pd.DataFrame:
    """Class of each source of a side (in ``galaxy``) under one method (sources without a
    class: no row).

    Columns: ``source_pk``, ``class`` (1-4), ``subclass``, ``score``. Classes delivered by
    another release (e.g. StarcNet predictions attached to LEGUS sources) are included when
    that release is visible, exactly as in the ``source_classes`` view.
    """
    sql = (
        'SELECT source_pk, "class", subclass, score FROM source_classes_all '
        "WHERE release_id = :r AND method = :m AND method_version = :v"
    )
    params: dict = {"r": side.release.id, "m": method.name, "v": method.version}
    if side.field is not None:
        sql += " AND field = :f"
        params["f"] = side.field.name
    if galaxy is not None:
        sql += " AND galaxy = :g"
        params["g"] = galaxy
    with connect(bind) as conn:
        frame = _frame(conn, sql + " ORDER BY source_pk", params)
    return frame.astype({"source_pk": np.int64, "class": np.int64})


_CATALOGUE_COLUMNS = (
    "c.source_pk, c.galaxy, c.field, c.source_id, c.ra, c.dec, c.x, c.y, "
    "c.mag_nuv, c.mag_nuv_err, c.mag_u, c.mag_u_err, c.mag_b, c.mag_b_err, "
    "c.mag_v, c.mag_v_err, c.mag_i, c.mag_i_err, c.ci, c.mci_in, c.mci_out, "
    "c.log_age, c.log_mass, c.ebv, "
    "c.distance_mpc, c.filter_b, c.filter_v"
)
_FLOAT_COLUMNS = (
    "ra", "dec", "x", "y", "mag_nuv", "mag_nuv_err", "mag_u", "mag_u_err", "mag_b",
    "mag_b_err", "mag_v", "mag_v_err", "mag_i", "mag_i_err", "ci", "mci_in", "mci_out",
    "log_age", "log_mass", "ebv", "distance_mpc",
)  # fmt: skip


#: The columns of ``cluster_catalogue`` the readers take (names as in the view).
CATALOGUE_COLUMNS: tuple[str, ...] = tuple(
    c.strip().removeprefix("c.") for c in _CATALOGUE_COLUMNS.split(",")
)


def _empty_catalogue(columns: Sequence[str] | None = None) -> pd.DataFrame:
    names = CATALOGUE_COLUMNS if columns is None else ["source_pk", *columns]
    return _typed(pd.DataFrame({n: pd.Series(dtype=object) for n in dict.fromkeys(names)}))


def _where_places(
    params: dict, galaxies: Sequence[str] | None, fields: Sequence[str] | None, alias: str = "c"
) -> tuple[str, tuple[str, ...]]:
    clauses, expanding = [], []
    if galaxies:
        clauses.append(f"{alias}.galaxy IN :galaxies")
        params["galaxies"] = list(galaxies)
        expanding.append("galaxies")
    if fields:
        clauses.append(f"{alias}.field IN :fields")
        params["fields"] = [_normalise_field(f) for f in fields]
        expanding.append("fields")
    return "".join(f" AND {c}" for c in clauses), tuple(expanding)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    floats = {c: float for c in _FLOAT_COLUMNS if c in frame.columns}
    out = frame.astype(floats)
    for c in ("source_pk", "source_id"):
        if c in out.columns:
            out[c] = out[c].astype(np.int64)
    if "class" in out.columns:
        out["class"] = out["class"].astype(np.int64)
    return out


def read_catalogue(
    bind: Engine | Connection,
    release: ReleaseRef,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    *,
    among: tuple[str, dict] | None = None,
) -> pd.DataFrame:
    """``cluster_catalogue`` rows of a release (optionally some galaxies / fields).

    Columns: ``source_pk, galaxy, field, source_id, ra, dec, x, y``, the five total Vega
    magnitudes and errors (``mag_nuv`` ... ``mag_i_err``), ``ci``, ``log_age``, ``log_mass``,
    ``ebv`` (default SED fit), ``distance_mpc`` and the filter names ``filter_b``,
    ``filter_v`` actually measured as B and V; only ``columns`` of them (and ``source_pk``)
    when given. Read from ``cluster_catalogue_all`` by release id, so any visible version.
    ``among``: a sub-select of ``source_pk`` values (with its parameters) to keep.
    """
    if columns is None:
        names = list(CATALOGUE_COLUMNS)
    else:
        unknown = set(columns) - set(CATALOGUE_COLUMNS)
        if unknown:
            raise ValueError(f"cluster_catalogue has no column(s) {sorted(unknown)}")
        names = ["source_pk", *dict.fromkeys(c for c in columns if c != "source_pk")]
    # galaxy and distance are the field's: read once per field, not per row (at 10^5 rows
    # two string and float columns fewer to fetch and convert)
    per_field = [c for c in names if c in _FIELD_COLUMNS]
    selected = [c for c in names if c not in _FIELD_COLUMNS]
    if per_field and "field" not in selected:
        selected.append("field")
    columns = ", ".join(f"c.{c}" for c in selected)
    params: dict = {"r": release.id}
    where, expanding = _where_places(params, galaxies, fields)
    if among is not None:
        where += f" AND c.source_pk IN ({among[0]})"
        params = {**among[1], **params}
    sql = (
        f"SELECT {columns} FROM cluster_catalogue_all c WHERE c.release_id = :r{where} "
        "ORDER BY c.source_pk"
    )
    with connect(bind) as conn:
        frame = _frame(conn, sql, params, expanding)
        if per_field:
            frame = _with_field_columns(conn, frame, per_field)
    return _typed(frame[names])


#: ``cluster_catalogue`` columns that are attributes of a source's field (its galaxy's).
_FIELD_COLUMNS = ("galaxy", "distance_mpc")


def _with_field_columns(conn: Connection, frame: pd.DataFrame, wanted: Sequence[str]):
    """``frame`` (with ``field``) plus the ``wanted`` field attributes, as the view has them:
    ``galaxy`` (its name) and ``distance_mpc`` (the galaxy's)."""
    places = read_frame(
        conn,
        "SELECT f.name AS field, g.name AS galaxy, g.distance_mpc FROM field f "
        "JOIN galaxy g ON g.id = f.galaxy_id",
        floats=("distance_mpc",),
    ).set_index("field")
    codes, fields = pd.factorize(frame["field"])
    at = places.index.get_indexer(fields)[codes]
    out = frame.copy()
    for name in wanted:  # the dtypes read_frame gives the view's columns
        out[name] = places[name].array.take(at)
    return out


def read_classified_catalogue(
    bind: Engine | Connection,
    release: ReleaseRef,
    methods: Sequence[MethodRef],
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    *,
    classes: Sequence[int] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long frame: one row per (source, method) that classified it, with the catalogue row.

    Columns of :func:`read_catalogue` (only ``columns`` when given) plus ``method`` (name),
    ``method_version`` and ``class`` (1-4; only ``classes`` when given): the shape
    :func:`clustercat.processing.colour_boxes.box_counts` and the mass-function code take.
    """
    if not methods:
        raise ValueError("name at least one classification method")
    params: dict = {"r": release.id}
    if classes is not None:
        params["classes"] = [int(c) for c in classes]
    where, expanding = _where_places(params, galaxies, fields, alias="k")
    pairs = []
    for k, m in enumerate(methods):
        params[f"m{k}"], params[f"v{k}"] = m.name, m.version
        pairs.append(f"(k.method = :m{k} AND k.method_version = :v{k})")
    # two single-view statements joined in pandas (see read_class_pairs for why); the
    # catalogue statement reads only sources these methods classified: a superset of the
    # classes statement's (which decides, in the merge below), found from the table by
    # method id, at half the server time of repeating the view (10^5 sources)
    classified = (
        f"FROM source_classes_all k WHERE k.release_id = :r{where} AND ({' OR '.join(pairs)})"
        + ("" if classes is None else ' AND k."class" IN :classes')
    )
    sql = f'SELECT k.source_pk, k.method, k.method_version, k."class" {classified}'
    with connect(bind) as conn:
        found = _frame(conn, sql, params, expanding)
        if found.empty:
            cat = _empty_catalogue(columns)
        else:
            among = "SELECT cl.source_id FROM classification cl WHERE cl.method_id IN ({})".format(
                ", ".join(str(int(m.id)) for m in methods)
            )
            if classes is not None:
                among += " AND cl.cluster_class IN ({})".format(
                    ", ".join(map(str, params["classes"]))
                )
            cat = read_catalogue(conn, release, galaxies, fields, columns, among=(among, {}))
    frame = cat.merge(found, on="source_pk", how="inner")
    frame = frame.sort_values(["source_pk", "method"]).reset_index(drop=True)
    return _typed(frame)


def read_methods(
    bind: Engine | Connection, release: ReleaseRef, galaxies: Sequence[str] | None = None
) -> pd.DataFrame:
    """Which methods classified how many sources of a release, per galaxy.

    Columns: ``galaxy, method, method_version, method_kind, n`` (count of classified sources).
    """
    params: dict = {"r": release.id}
    where, expanding = _where_places(params, galaxies, None, alias="k")
    sql = (
        "SELECT k.galaxy, k.method, k.method_version, k.method_kind, count(*) AS n "
        f"FROM source_classes_all k WHERE k.release_id = :r{where} "
        "GROUP BY k.galaxy, k.method, k.method_version, k.method_kind "
        "ORDER BY k.galaxy, k.method"
    )
    with connect(bind) as conn:
        frame = _frame(conn, sql, params, expanding)
    return frame.astype({"n": np.int64})


def read_class_pairs(
    bind: Engine | Connection,
    release: ReleaseRef,
    method_a: MethodRef,
    method_b: MethodRef,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Sources classified by both methods (``source_classes`` joined on ``source_pk``).

    Columns: ``source_pk, galaxy, field, source_id, class_a, class_b, mag_v, distance_mpc,
    ra, dec, x, y``. This is the "intersection" of W21 §4 for two classifications of the
    same source list.
    """
    params: dict = {
        "r": release.id,
        "ma": method_a.name,
        "va": method_a.version,
        "mb": method_b.name,
        "vb": method_b.version,
    }
    where, expanding = _where_places(params, galaxies, fields, alias="k")
    # Three single-view statements joined in pandas: one flat SQL join of source_classes to
    # itself and to cluster_catalogue can send PostgreSQL into a nested loop of minutes when
    # a release was loaded moments ago and has no planner statistics yet.
    sql_a = (
        'SELECT k.source_pk, k.galaxy, k.field, k.source_id, k."class" AS class_a '
        "FROM source_classes_all k WHERE k.release_id = :r AND k.method = :ma "
        f"AND k.method_version = :va{where}"
    )
    sql_b = (
        'SELECT k.source_pk, k."class" AS class_b FROM source_classes_all k '
        f"WHERE k.release_id = :r AND k.method = :mb AND k.method_version = :vb{where}"
    )
    with connect(bind) as conn:
        frame_a = _frame(conn, sql_a, params, expanding)
        frame_b = _frame(conn, sql_b, params, expanding)
        frame = frame_a.merge(frame_b, on="source_pk", how="inner")
        present = sorted(frame["galaxy"].unique())  # read only the galaxies concerned
        cat = read_catalogue(conn, release, present, fields) if present else _empty_catalogue()
    columns = ["source_pk", "mag_v", "distance_mpc", "ra", "dec", "x", "y"]
    frame = frame.merge(cat[columns], on="source_pk", how="inner")
    frame = _typed(frame.sort_values("source_pk").reset_index(drop=True))
    return frame.astype({"class_a": np.int64, "class_b": np.int64})


def read_band_filters(
    bind: Engine | Connection, release: ReleaseRef, galaxies: Sequence[str] | None = None
) -> pd.DataFrame:
    """Which filter each band label was measured in, per galaxy (total magnitudes).

    Aggregated in SQL over ``cluster_catalogue_all`` (its ``filter_<band>`` columns name the
    filter of each source's catalogue magnitude): columns ``galaxy, band`` (NUV, U, B, V,
    I), ``filter`` (e.g. F435W) and ``n`` (sources with a magnitude in that filter).
    """
    params: dict = {"r": release.id}
    where, _ = _where_places(params, galaxies, None)
    parts = [
        f"SELECT c.galaxy, '{band}' AS band, c.filter_{low} AS filter, count(c.mag_{low}) AS n "
        f"FROM cluster_catalogue_all c WHERE c.release_id = :r{where} "
        f"AND c.mag_{low} IS NOT NULL GROUP BY c.galaxy, c.filter_{low}"
        for band, low in (("NUV", "nuv"), ("U", "u"), ("B", "b"), ("V", "v"), ("I", "i"))
    ]
    frame = read_frame(bind, " UNION ALL ".join(parts), params)
    frame = frame.dropna(subset=["filter"]).sort_values(["galaxy", "band", "filter"])
    return frame.astype({"n": np.int64}).reset_index(drop=True)


def read_local_background(
    bind: Engine | Connection, release: ReleaseRef, band: str = "V"
) -> pd.DataFrame:
    """Local sky (median in the photometry annulus, e-/s/pix) of a release's sources in a band.

    W21 §4.4 uses the median in the 7-8 px annulus of the V photometry. Columns:
    ``source_pk``, ``sky_median``; sources without a sky value get no row (LEGUS catalogues
    carry none). Prefers the total-magnitude row, else the largest aperture with a sky value.
    """
    sql = (
        "SELECT p.source_id AS source_pk, p.sky_median, p.kind, p.radius_px "
        "FROM photometry p JOIN filter fl ON fl.id = p.filter_id "
        "JOIN source s ON s.id = p.source_id "
        "WHERE s.release_id = :r AND fl.band = :band AND p.sky_median IS NOT NULL"
    )
    with connect(bind) as conn:
        frame = _frame(conn, sql, {"band": band, "r": release.id})
    if frame.empty:
        return pd.DataFrame({"source_pk": np.empty(0, np.int64), "sky_median": np.empty(0)})
    frame["is_total"] = frame["kind"] == "total"
    frame["radius_px"] = frame["radius_px"].astype(float).fillna(-1.0)
    frame = frame.sort_values(["source_pk", "is_total", "radius_px"], ascending=False)
    frame = frame.drop_duplicates("source_pk")
    out = frame[["source_pk", "sky_median"]].astype({"source_pk": np.int64, "sky_median": float})
    return out.sort_values("source_pk").reset_index(drop=True)


# --- stored cross-matches ------------------------------------------------------------------


def read_crossmatch_run(bind: Engine | Connection, run_id: int) -> dict:
    """The ``crossmatch_run`` row as a dict, with release and field names added."""
    sql = (
        "SELECT x.*, ra.name AS release_a, rb.name AS release_b, fa.name AS field_a, "
        "fb.name AS field_b, ma.name AS class_method_a, mb.name AS class_method_b "
        "FROM crossmatch_run x "
        "JOIN catalogue_release ra ON ra.id = x.release_a_id "
        "JOIN catalogue_release rb ON rb.id = x.release_b_id "
        "LEFT JOIN field fa ON fa.id = x.field_a_id LEFT JOIN field fb ON fb.id = x.field_b_id "
        "LEFT JOIN classification_method ma ON ma.id = x.classification_method_a_id "
        "LEFT JOIN classification_method mb ON mb.id = x.classification_method_b_id "
        "WHERE x.id = :id"
    )
    with connect(bind) as conn:
        row = conn.execute(text(sql), {"id": run_id}).mappings().first()
    if row is None:
        raise CatalogueLookupError(f"no crossmatch_run {run_id}")
    out = dict(row)
    if isinstance(out.get("config"), str):  # SQLite hands JSON back as text
        out["config"] = json.loads(out["config"])
    return out


def read_crossmatch_runs(bind: Engine | Connection, release_ids: Sequence[int]) -> pd.DataFrame:
    """Stored cross-match runs between any two of the releases (either direction), newest
    first: ``run_id, release_a_id, release_a, release_b_id, release_b, field_a, field_b``
    (NULL for a whole release), ``radius_arcsec, method, offset_ra_arcsec,
    offset_dec_arcsec, method_a, method_b`` (classification methods), ``n_pairs,
    code_version, created_at``. Run metadata: from the ``crossmatch_run`` table (the
    ``crossmatch_pairs`` view holds the pairs, one row each, not the runs)."""
    frame = read_frame(
        bind,
        """
        SELECT x.id AS run_id, x.release_a_id, ra.name AS release_a, x.release_b_id,
               rb.name AS release_b, fa.name AS field_a, fb.name AS field_b, x.radius_arcsec,
               x.method, x.offset_ra_arcsec, x.offset_dec_arcsec, ma.name AS method_a,
               mb.name AS method_b, x.n_pairs, x.code_version, x.created_at
        FROM crossmatch_run x
        JOIN catalogue_release ra ON ra.id = x.release_a_id
        JOIN catalogue_release rb ON rb.id = x.release_b_id
        LEFT JOIN field fa ON fa.id = x.field_a_id
        LEFT JOIN field fb ON fb.id = x.field_b_id
        LEFT JOIN classification_method ma ON ma.id = x.classification_method_a_id
        LEFT JOIN classification_method mb ON mb.id = x.classification_method_b_id
        WHERE x.release_a_id IN :rels AND x.release_b_id IN :rels
        ORDER BY x.id DESC
        """,
        {"rels": id_list(release_ids)},
        floats=("radius_arcsec", "offset_ra_arcsec", "offset_dec_arcsec"),
    )
    frame["created_at"] = pd.to_datetime(
        frame["created_at"], utc=True, errors="coerce", format="mixed"
    )
    return frame


def read_crossmatch_pairs(bind: Engine | Connection, run_id: int) -> pd.DataFrame:
    """The pairs (and unmatched sources) of a stored run, from ``crossmatch_pairs_all``.

    Columns: ``source_a_pk, source_b_pk`` (nullable), ``source_a_id, source_b_id`` (ids in
    the releases), ``separation_arcsec``, ``is_best``, ``outcome``, ``galaxy`` and
    ``mag_v_a``, ``mag_v_b`` (the view's V magnitudes); ordered by A then B.
    """
    sql = (
        "SELECT p.pair_pk, p.source_pk_a AS source_a_pk, p.source_pk_b AS source_b_pk, "
        "p.source_id_a AS source_a_id, p.source_id_b AS source_b_id, p.separation_arcsec, "
        "p.is_best, p.outcome, p.galaxy, p.mag_v_a, p.mag_v_b "
        "FROM crossmatch_pairs_all p WHERE p.run_id = :id"
    )
    frame = read_frame(bind, sql, {"id": int(run_id)}, floats=("mag_v_a", "mag_v_b"))
    frame = frame.drop_duplicates("pair_pk").drop(columns="pair_pk")
    for c in ("source_a_pk", "source_b_pk", "source_a_id", "source_b_id"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
    frame["separation_arcsec"] = frame["separation_arcsec"].astype(float)
    frame["is_best"] = frame["is_best"].astype(bool)
    return frame.sort_values(["source_a_pk", "source_b_pk"], na_position="last").reset_index(
        drop=True
    )


def read_crossmatch_pair_keys(bind: Engine | Connection, run_id: int) -> pd.DataFrame:
    """The rows of a stored run as keys only, straight from ``crossmatch_pair``: what a
    comparison needs when it has the sources' values already (a tenth of the time of
    :func:`read_crossmatch_pairs` at 10^5 rows, which joins both sides' catalogue entries).

    Columns: ``source_a_pk, source_b_pk`` (floats, NaN where a side has no source),
    ``separation_arcsec``, ``is_best``, ``outcome``; in stored order.
    """
    sql = (
        "SELECT source_a_id AS source_a_pk, source_b_id AS source_b_pk, separation_arcsec, "
        "is_best, outcome FROM crossmatch_pair WHERE run_id = :id ORDER BY id"
    )
    frame = read_frame(
        bind, sql, {"id": int(run_id)},
        floats=("source_a_pk", "source_b_pk", "separation_arcsec"),
    )  # fmt: skip
    frame["is_best"] = frame["is_best"].astype(bool)
    return frame


# --- the source table of a selection (the dashboard's explorer) ----------------------------


def _method_condition(params: dict, methods: Sequence[MethodRef], alias: str = "k") -> str:
    pairs = []
    for k, m in enumerate(methods):
        params[f"mn{k}"], params[f"mv{k}"] = m.name, m.version
        pairs.append(f"({alias}.method = :mn{k} AND {alias}.method_version = :mv{k})")
    return "(" + " OR ".join(pairs or ["1 = 0"]) + ")"


def read_catalogue_page(
    bind: Engine | Connection,
    release_ids: Sequence[int],
    galaxies: Sequence[str] | None = None,
    *,
    mag_v_range: tuple[float, float] | None = None,
    source_pks: Sequence[int] | None = None,
    classified_by: Sequence[MethodRef] | None = None,
    classes: Sequence[int] | None = None,
    limit: int = 5000,
) -> pd.DataFrame:
    """``cluster_catalogue_all`` rows of the releases, brightest in V first, at most ``limit``.

    Columns: ``source_pk, release_id, galaxy, field, source_id, ra, dec, x, y``, the five
    total magnitudes ``mag_nuv`` ... ``mag_i``, ``ci, mci_in, mci_out, log_age, log_mass,
    ebv``. ``mag_v_range`` keeps lo <= V <= hi (mag); ``classified_by`` with ``classes``
    keeps sources one of the methods puts in ``classes`` (``source_classes_all``);
    ``source_pks`` keeps only those sources. Sources without V come last.
    """
    conditions = ["c.release_id IN :rels"]
    params: dict[str, Any] = {"rels": id_list(release_ids)}
    if galaxies:
        conditions.append("c.galaxy IN :galaxies")
        params["galaxies"] = list(galaxies)
    if source_pks is not None:
        conditions.append("c.source_pk IN :pks")
        params["pks"] = id_list(source_pks)
    if classified_by is not None and classes is not None:
        methods = _method_condition(params, classified_by)
        conditions.append(
            "c.source_pk IN (SELECT k.source_pk FROM source_classes_all k "
            f'WHERE k.release_id IN :rels AND {methods} AND k."class" IN :classes)'
        )
        params["classes"] = id_list(classes)
    if mag_v_range is not None:
        conditions.append("c.mag_v >= :vlo AND c.mag_v <= :vhi")
        params.update(vlo=float(mag_v_range[0]), vhi=float(mag_v_range[1]))
    mags = ", ".join(f"c.mag_{b}" for b in ("nuv", "u", "b", "v", "i"))
    frame = read_frame(
        bind,
        f"""
        SELECT c.source_pk, c.release_id, c.galaxy, c.field, c.source_id, c.ra, c.dec, c.x,
               c.y, {mags}, c.ci, c.mci_in, c.mci_out, c.log_age, c.log_mass, c.ebv,
               c.distance_mpc
        FROM cluster_catalogue_all c
        WHERE {" AND ".join(conditions)}
        ORDER BY CASE WHEN c.mag_v IS NULL THEN 1 ELSE 0 END, c.mag_v, c.source_pk
        LIMIT {int(limit)}
        """,
        params,
    )
    frame = _typed(frame.drop_duplicates("source_pk"))
    return frame.astype({"release_id": np.int64}).reset_index(drop=True)


def _visible_classes(bind: Engine | Connection, where: str, params: dict) -> pd.DataFrame:
    """``source_pk, method, method_version, class, score`` of ``source_classes_all`` rows
    matching ``where`` (over alias ``k``)."""
    frame = read_frame(
        bind,
        'SELECT k.source_pk, k.method, k.method_version, k."class", k.score '
        f"FROM source_classes_all k WHERE {where}",
        params,
        floats=("score",),
    )
    return frame.astype({"source_pk": np.int64, "class": np.int64})


def read_source_classes(bind: Engine | Connection, source_pks: Sequence[int]) -> pd.DataFrame:
    """Every visible classification of the sources (``source_classes_all``): ``source_pk,
    method, method_version, class, score``."""
    return _visible_classes(bind, "k.source_pk IN :pks", {"pks": id_list(source_pks)})


def read_release_classes(
    bind: Engine | Connection, release_ids: Sequence[int], galaxy: str | None = None
) -> pd.DataFrame:
    """:func:`read_source_classes` of every source of the releases (in one galaxy). By
    release, not by a list of sources: at 5 × 10^4 sources a third of the time on
    PostgreSQL."""
    params: dict[str, Any] = {"rels": id_list(release_ids)}
    where = "k.release_id IN :rels"
    if galaxy is not None:
        where, params["galaxy"] = where + " AND k.galaxy = :galaxy", galaxy
    return _visible_classes(bind, where, params)


def read_mci_plane(
    bind: Engine | Connection, release_ids: Sequence[int], galaxy: str | None = None
) -> pd.DataFrame:
    """MCI_in and MCI_out of every source of the releases that has both
    (``cluster_catalogue_all``: the release's own morphology constants), with the selection
    flags the image pipeline wrote (``source_selection``, a table no view shows; NULL for
    catalogue releases). Columns: ``source_pk, release_id, field, galaxy,
    galaxy_distance_mpc, mci_in, mci_out, distance_mpc`` (adopted by the selection),
    ``v_snr, candidate, in_semi_empirical, super_hd``."""
    where = "" if galaxy is None else " AND c.galaxy = :galaxy"
    params: dict[str, Any] = {"rels": id_list(release_ids)}
    if galaxy is not None:
        params["galaxy"] = galaxy
    with connect(bind) as conn:
        frame = read_frame(
            conn,
            "SELECT c.source_pk, c.release_id, c.field, c.galaxy, "
            "c.distance_mpc AS galaxy_distance_mpc, c.mci_in, c.mci_out "
            "FROM cluster_catalogue_all c WHERE c.release_id IN :rels "
            f"AND c.mci_in IS NOT NULL AND c.mci_out IS NOT NULL{where}",
            params,
            floats=("mci_in", "mci_out", "galaxy_distance_mpc"),
        ).drop_duplicates("source_pk")
        flags = read_frame(
            conn,
            "SELECT x.source_id AS source_pk, x.distance_mpc, x.v_snr, x.candidate, "
            "x.in_semi_empirical, x.super_hd FROM source_selection x "
            "JOIN source s ON s.id = x.source_id "
            "JOIN catalogue_release r ON r.id = s.release_id "
            "AND x.constants_version = r.morphology_version WHERE s.release_id IN :rels",
            {"rels": id_list(release_ids)},
            floats=("distance_mpc", "v_snr"),
        )
    frame = frame.merge(flags, on="source_pk", how="left")
    for col in ("distance_mpc", "v_snr"):
        frame[col] = frame[col].astype(float)
    for col in ("candidate", "in_semi_empirical", "super_hd"):
        frame[col] = frame[col].astype("boolean")
    return frame.reset_index(drop=True)
