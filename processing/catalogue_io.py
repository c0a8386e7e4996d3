"""Reading a release out of the database into frames: one function per need.

The thin database layer under :mod:`clustercat.processing.analyses` and
:mod:`clustercat.processing.crossmatch_db`. Every function takes an ``Engine`` or a
``Connection`` and returns a :class:`pandas.DataFrame` (one SQL statement each, through the
collaborator views ``cluster_catalogue`` and ``source_classes`` where they carry what is
needed, so that SQL users and the code see the same numbers). No science here and no
per-row Python: the frames go straight into the pure functions of ``processing``.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, text

__all__ = [
    "VISIBLE_STATUSES",
    "CatalogueLookupError",
    "FieldRef",
    "MethodRef",
    "ReleaseRef",
    "Side",
    "connect",
    "parse_side",
    "primary_method",
    "read_band_filters",
    "read_catalogue",
    "read_class_pairs",
    "read_classes",
    "read_classified_catalogue",
    "read_crossmatch_pairs",
    "read_crossmatch_run",
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


def _frame(conn: Connection, sql: str, params: dict | None = None, expanding=()) -> pd.DataFrame:
    """Run one SELECT and return its rows as a frame (columns named as in the SELECT)."""
    stmt = text(sql)
    if expanding:
        stmt = stmt.bindparams(*(bindparam(name, expanding=True) for name in expanding))
    result = conn.execute(stmt, params or {})
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


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


def read_classes(bind: Engine | Connection, side: Side, method: MethodRef) -> pd.DataFrame:
    """Class of each source of a side under one method (sources without a class: no row).

    Columns: ``source_pk``, ``class`` (1-4), ``subclass``, ``score``. Classes delivered by
    another release (e.g. StarcNet predictions attached to LEGUS sources) are included when
    that release is visible, exactly as in the ``source_classes`` view.
    """
    sql = (
        'SELECT source_pk, "class", subclass, score FROM source_classes '
        "WHERE release_id = :r AND method = :m AND method_version = :v"
    )
    params: dict = {"r": side.release.id, "m": method.name, "v": method.version}
    if side.field is not None:
        sql += " AND field = :f"
        params["f"] = side.field.name
    with connect(bind) as conn:
        frame = _frame(conn, sql + " ORDER BY source_pk", params)
    return frame.astype({"source_pk": np.int64, "class": np.int64})


_CATALOGUE_COLUMNS = (
    "c.source_pk, c.galaxy, c.field, c.source_id, c.ra, c.dec, c.x, c.y, "
    "c.mag_nuv, c.mag_nuv_err, c.mag_u, c.mag_u_err, c.mag_b, c.mag_b_err, "
    "c.mag_v, c.mag_v_err, c.mag_i, c.mag_i_err, c.ci, c.log_age, c.log_mass, c.ebv, "
    "c.distance_mpc, c.filter_b, c.filter_v"
)
_FLOAT_COLUMNS = (
    "ra", "dec", "x", "y", "mag_nuv", "mag_nuv_err", "mag_u", "mag_u_err", "mag_b",
    "mag_b_err", "mag_v", "mag_v_err", "mag_i", "mag_i_err", "ci", "log_age", "log_mass",
    "ebv", "distance_mpc",
)  # fmt: skip


def _empty_catalogue() -> pd.DataFrame:
    names = [c.strip().removeprefix("c.") for c in _CATALOGUE_COLUMNS.split(",")]
    return _typed(pd.DataFrame({n: pd.Series(dtype=object) for n in names}))


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
) -> pd.DataFrame:
    """``cluster_catalogue`` rows of a release (optionally some galaxies / fields).

    Columns: ``source_pk, galaxy, field, source_id, ra, dec, x, y``, the five total Vega
    magnitudes and errors (``mag_nuv`` ... ``mag_i_err``), ``ci``, ``log_age``, ``log_mass``,
    ``ebv`` (default SED fit), ``distance_mpc`` and the filter names ``filter_b``,
    ``filter_v`` actually measured as B and V.
    """
    params: dict = {"r": release.id}
    where, expanding = _where_places(params, galaxies, fields)
    sql = (
        f"SELECT {_CATALOGUE_COLUMNS} FROM cluster_catalogue c WHERE c.release_id = :r{where} "
        "ORDER BY c.source_pk"
    )
    with connect(bind) as conn:
        return _typed(_frame(conn, sql, params, expanding))


def read_classified_catalogue(
    bind: Engine | Connection,
    release: ReleaseRef,
    methods: Sequence[MethodRef],
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long frame: one row per (source, method) that classified it, with the catalogue row.

    Columns of :func:`read_catalogue` plus ``method`` (name) and ``class`` (1-4): the shape
    :func:`clustercat.processing.colour_boxes.box_counts` and the mass-function code take.
    """
    if not methods:
        raise ValueError("name at least one classification method")
    params: dict = {"r": release.id}
    where, expanding = _where_places(params, galaxies, fields, alias="k")
    pairs = []
    for k, m in enumerate(methods):
        params[f"m{k}"], params[f"v{k}"] = m.name, m.version
        pairs.append(f"(k.method = :m{k} AND k.method_version = :v{k})")
    # two single-view statements joined in pandas (see read_class_pairs for why)
    sql = (
        'SELECT k.source_pk, k.galaxy, k.method, k."class" FROM source_classes k '
        f"WHERE k.release_id = :r{where} AND ({' OR '.join(pairs)})"
    )
    with connect(bind) as conn:
        classes = _frame(conn, sql, params, expanding)
        present = sorted(classes["galaxy"].unique())  # read only the galaxies concerned
        cat = read_catalogue(conn, release, present, fields) if present else _empty_catalogue()
    frame = cat.merge(classes.drop(columns="galaxy"), on="source_pk", how="inner")
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
        f"FROM source_classes k WHERE k.release_id = :r{where} "
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
        "FROM source_classes k WHERE k.release_id = :r AND k.method = :ma "
        f"AND k.method_version = :va{where}"
    )
    sql_b = (
        'SELECT k.source_pk, k."class" AS class_b FROM source_classes k '
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

    Aggregated in SQL over ``photometry``: columns ``galaxy, band`` (NUV, U, B, V, I),
    ``filter`` (e.g. F435W), ``instrument`` and ``n`` (measured total magnitudes).
    """
    params: dict = {"r": release.id}
    where, expanding = _where_places(params, galaxies, None, alias="g")
    where = where.replace("g.galaxy", "g.name")
    sql = (
        "SELECT g.name AS galaxy, fl.band, fl.name AS filter, fl.instrument, count(*) AS n "
        "FROM photometry p JOIN filter fl ON fl.id = p.filter_id "
        "JOIN source s ON s.id = p.source_id JOIN field f ON f.id = s.field_id "
        "JOIN galaxy g ON g.id = f.galaxy_id "
        f"WHERE s.release_id = :r AND p.kind = 'total' AND p.mag_vega IS NOT NULL{where} "
        "GROUP BY g.name, fl.band, fl.name, fl.instrument ORDER BY g.name, fl.band, fl.name"
    )
    with connect(bind) as conn:
        frame = _frame(conn, sql, params, expanding)
    return frame.astype({"n": np.int64})


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


def read_crossmatch_pairs(bind: Engine | Connection, run_id: int) -> pd.DataFrame:
    """The ``crossmatch_pair`` rows of a run, with the catalogue ids of both sides.

    Columns: ``source_a_pk, source_b_pk`` (nullable), ``source_a_id, source_b_id`` (ids in
    the releases), ``separation_arcsec``, ``is_best``, ``outcome``; ordered by A then B.
    """
    sql = (
        "SELECT p.source_a_id AS source_a_pk, p.source_b_id AS source_b_pk, "
        "sa.id_in_release AS source_a_id, sb.id_in_release AS source_b_id, "
        "p.separation_arcsec, p.is_best, p.outcome FROM crossmatch_pair p "
        "LEFT JOIN source sa ON sa.id = p.source_a_id "
        "LEFT JOIN source sb ON sb.id = p.source_b_id WHERE p.run_id = :id"
    )
    with connect(bind) as conn:
        frame = _frame(conn, sql, {"id": run_id})
    for c in ("source_a_pk", "source_b_pk", "source_a_id", "source_b_id"):
        frame[c] = frame[c].astype("Int64")
    frame["separation_arcsec"] = frame["separation_arcsec"].astype(float)
    frame["is_best"] = frame["is_best"].astype(bool)
    return frame.sort_values(["source_a_pk", "source_b_pk"], na_position="last").reset_index(
        drop=True
    )
