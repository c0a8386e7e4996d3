"""Export a release from a collaborator view to FITS, VOTable, ECSV, Parquet or CSV.

``clustercat export --release NAME --format fits --output FILE [--where SQL] [--view NAME]``
reads one release's rows of a view (``cluster_catalogue`` by default) into an
:class:`astropy.table.Table` whose columns carry

* a **unit**, parsed from the trailing parentheses of the column comment
  (``(deg)`` -> deg, ``(mag)`` -> mag, ``(pix)`` -> pix, ``(log yr)`` -> dex(yr), ...); kinds
  of value that are not units (``(text)``, ``(key)``, ``(code)``, ...) give no unit and decide
  the column type instead (string, integer, boolean);
* a **description**: the full column comment;
* missing values: NULL floats become NaN, NULL integers, strings and booleans are masked;
* a **UCD** (``meta['ucd']``, written to VOTable) where one is obvious: ``pos.eq.ra;meta.main``,
  ``phot.mag;em.opt.V``, ``meta.id;meta.main`` ...

Units each format cannot store are left out of that file (the description still states
them): FITS and VOTable have no logarithmic units (astropy: "Function units cannot be written
in fits format"), so ``log_age``/``log_mass`` carry ``dex(yr)``/``dex(solMass)`` only in ECSV
and Parquet; FITS also lacks ``electron``. FITS files get one ``TCOMMn`` card per column with
its description. CSV keeps the values only.

``--where`` is a condition on the view's columns, e.g. ``"galaxy = 'NGC 628' AND mag_v <
22"``. It is parsed by :mod:`clustercat.schema.user_filter` (sqlglot), which accepts only the
view's columns, literals, comparisons, boolean and arithmetic operators and a few functions,
and renders the literals as bound parameters; anything else (UNION, subqueries, other tables,
other functions, comments, ``;``) is refused with :class:`~clustercat.schema.user_filter.
FilterError` before the database is touched. The condition is applied in an outer query over
the release's rows, so an ``OR`` in it cannot reach other releases.

Every export runs in a read-only transaction (``SET TRANSACTION READ ONLY`` on PostgreSQL,
``PRAGMA query_only`` on SQLite, whose connection is then discarded) with a statement
timeout (:data:`EXPORT_STATEMENT_TIMEOUT_S`; PostgreSQL ``SET LOCAL statement_timeout``, never
above a timeout the role already has; SQLite: a progress handler that interrupts the query).
A release name that does not exist, or whose ingest is not complete, is an error: nothing is
written.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.table import Column, MaskedColumn, Table
from sqlalchemy import Connection, Engine, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError

from .dictionary import split_comment
from .user_filter import parse_filter
from .views import CURRENT_VIEW_COMMENTS, VISIBLE_RELEASE_STATUSES

__all__ = [
    "EXPORTABLE_VIEWS",
    "EXPORT_STATEMENT_TIMEOUT_S",
    "FORMATS",
    "ExportSpec",
    "ExportTimeoutError",
    "UnknownReleaseError",
    "export_query",
    "column_ucd",
    "export_release",
    "export_table",
    "frame_table",
    "parse_unit",
    "read_only_transaction",
    "table_text",
    "write_table",
]

#: --format value -> (astropy writer format, usual file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "fits": ("fits", ".fits"),
    "votable": ("votable", ".xml"),
    "ecsv": ("ascii.ecsv", ".ecsv"),
    "parquet": ("parquet", ".parquet"),
    "csv": ("ascii.csv", ".csv"),
}


@dataclass(frozen=True)
class ExportSpec:
    """How to select one release's rows of a view and in which order."""

    release_predicate: str
    order_by: str


EXPORTABLE_VIEWS: dict[str, ExportSpec] = {
    "cluster_catalogue": ExportSpec("release = :release", "release_id, source_pk"),
    "source_classes": ExportSpec("release = :release", "release_id, source_pk, method"),
    "source_photometry": ExportSpec("release = :release", "release_id, source_pk, photometry_pk"),
    "source_photometry_wide": ExportSpec("release = :release", "release_id, source_pk"),
    "sed_results": ExportSpec("release = :release", "release_id, source_pk, method_id"),
    "crossmatch_pairs": ExportSpec("(release_a = :release OR release_b = :release)", "pair_pk"),
    "release_summary": ExportSpec(
        "release = :release",
        'release_id, galaxy_pk, (method_pk IS NULL), method_pk, delivered_by, "class"',
    ),
}

# Kinds of value that are not physical units, and the column type they imply.
_INT_KINDS = {"key", "id", "count", "code", "bits", "index", "integer"}
_STR_KINDS = {"text", "hex", "URL", "JSON", "date", "UTC"}
_NO_UNIT = _INT_KINDS | _STR_KINDS | {"boolean", "dimensionless", "probability", "same unit"}

_UNIT_ALIASES: dict[str, u.UnitBase | u.FunctionUnitBase] = {
    "deg": u.deg,
    "arcsec": u.arcsec,
    "mag": u.mag,
    "Vega mag": u.mag,
    "pix": u.pix,
    "Mpc": u.Mpc,
    "pc": u.pc,
    "log yr": u.dex(u.yr),
    "log Msun": u.dex(u.Msun),
    "mJy": u.mJy,
    "Angstrom": u.AA,
    "arcsec/pix": u.arcsec / u.pix,
    "e-/s/pix": u.electron / u.s / u.pix,
    "s": u.s,
    "bytes": u.byte,
}

_BAND_UCD = {
    "nuv": "em.UV.200-300nm",
    "f275w": "em.UV.200-300nm",
    "u": "em.opt.U",
    "f336w": "em.opt.U",
    "b": "em.opt.B",
    "f435w": "em.opt.B",
    "f438w": "em.opt.B",
    "v": "em.opt.V",
    "f555w": "em.opt.V",
    "f606w": "em.opt.V",
    "i": "em.opt.I",
    "f814w": "em.opt.I",
}

_UCDS: dict[str, str] = {
    "ra": "pos.eq.ra;meta.main",
    "dec": "pos.eq.dec;meta.main",
    "ra_a": "pos.eq.ra",
    "dec_a": "pos.eq.dec",
    "ra_b": "pos.eq.ra",
    "dec_b": "pos.eq.dec",
    "source_id": "meta.id;meta.main",
    "source_id_a": "meta.id",
    "source_id_b": "meta.id",
    "release": "meta.dataset",
    "galaxy": "meta.id.parent",
    "x": "pos.cartesian.x;instr.det",
    "y": "pos.cartesian.y;instr.det",
    "distance_mpc": "pos.distance",
    "log_age": "time.age",
    "log_mass": "phys.mass",
    "ebv": "phot.color.excess",
    "ci": "src.morph.param",
    "mci_in": "src.morph.param",
    "mci_out": "src.morph.param",
    "class": "src.class",
    "class_a": "src.class",
    "class_b": "src.class",
    "p_class1": "stat.probability",
    "p_class2": "stat.probability",
    "p_class3": "stat.probability",
    "p_class4": "stat.probability",
    "separation_arcsec": "pos.angDistance",
    "mag_vega": "phot.mag",
    "mag_err": "stat.error;phot.mag",
    "flux_mjy": "phot.flux.density",
    "flux_err_mjy": "stat.error;phot.flux.density",
    "pivot_wavelength_aa": "em.wl.effective",
    "chi2": "stat.fit.chi2",
    "reduced_chi2": "stat.fit.chi2",
    "q_prob": "stat.fit.goodness",
}

_MAG = re.compile(r"^mag_(?P<band>[a-z0-9]+?)(_r\d)?(?P<err>_err)?$")


def _kind(comment: str | None) -> str | None:
    """The trailing parenthesised token of a comment; ``key: table.id`` counts as ``key``."""
    token = split_comment(comment)[1]
    return token.split(":")[0].strip() if token else None


def parse_unit(comment: str | None) -> u.UnitBase | u.FunctionUnitBase | None:
    """The astropy unit in the trailing parentheses of a column comment, or None.

    ``"right ascension, ICRS J2000 (deg)"`` -> deg; ``"best-fit log10 age (log yr)"`` ->
    dex(yr); ``"release name (text)"`` -> None (a kind of value, not a unit).
    """
    token = _kind(comment)
    if token is None or token in _NO_UNIT:
        return None
    if token in _UNIT_ALIASES:
        return _UNIT_ALIASES[token]
    try:
        return u.Unit(token, parse_strict="raise")
    except ValueError:
        return None


def column_ucd(column: str) -> str | None:
    """An obvious IVOA UCD for a view column, or None."""
    if column in _UCDS:
        return _UCDS[column]
    match = _MAG.match(column)
    if match and match.group("band") in _BAND_UCD:
        word = f"phot.mag;{_BAND_UCD[match.group('band')]}"
        return f"stat.error;{word}" if match.group("err") else word
    return None


class UnknownReleaseError(ValueError):
    """The release to export does not exist or is not complete."""


class ExportTimeoutError(RuntimeError):
    """The export query ran longer than its statement timeout."""


@contextmanager
def read_only_transaction(
    engine: Engine, statement_timeout_s: float | None = None
) -> Iterator[Connection]:
    """A connection in a transaction that cannot write, rolled back at the end.

    PostgreSQL: ``SET TRANSACTION READ ONLY`` (any write, ``nextval`` or DDL fails with
    SQLSTATE 25006) and, with ``statement_timeout_s``, ``SET LOCAL statement_timeout`` unless
    the session already has a shorter one (a reader role's). SQLite: ``PRAGMA query_only =
    ON`` and a progress handler that interrupts a statement after ``statement_timeout_s``
    (``sqlite3.OperationalError: interrupted``); the connection is invalidated afterwards so
    that neither leaks into the pool.
    """
    if statement_timeout_s is not None and not (
        math.isfinite(statement_timeout_s) and statement_timeout_s > 0
    ):
        raise ValueError(
            f"statement timeout must be a positive number of seconds: {statement_timeout_s!r}"
        )
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            with conn.begin() as trans:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                if statement_timeout_s is not None:
                    wanted_ms = max(1, round(statement_timeout_s * 1000))
                    current_ms = int(
                        conn.exec_driver_sql(
                            "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
                        ).scalar_one()
                    )
                    if current_ms == 0 or current_ms > wanted_ms:
                        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {wanted_ms:d}")
                try:
                    yield conn
                finally:
                    trans.rollback()
            return
        try:
            with conn.begin() as trans:
                conn.exec_driver_sql("PRAGMA query_only = ON")
                if statement_timeout_s is not None:
                    deadline = time.monotonic() + statement_timeout_s
                    raw = conn.connection.driver_connection
                    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
                try:
                    yield conn
                finally:
                    trans.rollback()
        finally:
            conn.invalidate()


def _column_values(
    name: str, values: Sequence[object], comment: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(data, mask) of one column, typed by its comment's kind of value, else by its values."""
    mask = np.array([v is None for v in values], dtype=bool)
    token = _kind(comment)
    present = [v for v in values if v is not None]

    def _plain(v: object) -> object:
        if isinstance(v, decimal.Decimal):
            return float(v)
        if isinstance(v, dt.datetime | dt.date):
            return v.isoformat()
        if isinstance(v, dict | list):
            return json.dumps(v, sort_keys=True)
        return v

    present = [_plain(v) for v in present]
    if token == "boolean":
        kind = "bool"
    elif token in _INT_KINDS and all(isinstance(v, int | np.integer) for v in present):
        kind = "int"
    elif token in _STR_KINDS or any(isinstance(v, str) for v in present):
        kind = "str"
    elif all(isinstance(v, bool | np.bool_) for v in present) and present:
        kind = "bool"
    elif all(isinstance(v, int | np.integer) for v in present) and present:
        kind = "int"
    else:
        kind = "float"
    fill = {"bool": False, "int": 0, "str": "", "float": np.nan}[kind]
    filled = [fill if v is None else _plain(v) for v in values]
    if kind == "bool":
        data = np.array([bool(v) for v in filled], dtype=bool)
    elif kind == "int":
        data = np.array(filled, dtype=np.int64)
    elif kind == "str":
        data = np.array([str(v) for v in filled], dtype=str)
    else:
        data = np.array(filled, dtype=np.float64)
    return data, mask


#: Default statement timeout of an export (seconds).
EXPORT_STATEMENT_TIMEOUT_S = 300.0


def export_query(view: str, where: str | None = None):  # noqa: ANN201 - a SQLAlchemy Select
    """The SELECT of one release's rows of ``view`` (bind parameter ``release``) filtered by
    ``where``, a user filter checked by :func:`clustercat.schema.user_filter.parse_filter`.

    Raises ``ValueError`` for an unknown view and ``FilterError`` for a refused filter.
    """
    if view not in EXPORTABLE_VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(EXPORTABLE_VIEWS)}")
    spec = EXPORTABLE_VIEWS[view]
    inner = (
        select(literal_column("*"))
        .select_from(table(view))
        .where(text(spec.release_predicate))
        .subquery("exported")
    )
    query = select(literal_column("*")).select_from(inner)
    if where is not None and where.strip():
        columns = CURRENT_VIEW_COMMENTS[view][1]
        query = query.where(parse_filter(where, columns, relation=f"view {view}").clause())
    return query.order_by(text(spec.order_by))


def _require_release(conn: Connection, release: str) -> None:
    statuses = (
        conn.execute(
            text("SELECT status FROM catalogue_release WHERE name = :release"),
            {"release": release},
        )
        .scalars()
        .all()
    )
    if not statuses:
        known = conn.exec_driver_sql(
            f"SELECT DISTINCT name FROM catalogue_release WHERE status IN "
            f"{VISIBLE_RELEASE_STATUSES} ORDER BY name"
        ).scalars()
        names = ", ".join(known) or "none: ingest one first"
        raise UnknownReleaseError(f"no release named {release!r} (releases: {names})")
    visible = VISIBLE_RELEASE_STATUSES.strip("()").replace("'", "").split(", ")
    if not set(statuses) & set(visible):
        raise UnknownReleaseError(
            f"release {release!r} is not complete (status {', '.join(sorted(set(statuses)))}):"
            " only complete or superseded releases are exported"
        )


def export_table(
    engine: Engine,
    release: str,
    *,
    view: str = "cluster_catalogue",
    where: str | None = None,
    statement_timeout_s: float = EXPORT_STATEMENT_TIMEOUT_S,
) -> Table:
    """One release's rows of a collaborator view as an astropy Table with units and UCDs.

    ``where`` is an optional filter on the view's columns (see the module docstring).
    Raises ``ValueError`` for an unknown view, ``FilterError`` for a refused filter,
    :class:`UnknownReleaseError` for a release that does not exist or is not complete,
    :class:`ExportTimeoutError` when the query exceeds ``statement_timeout_s``.
    """
    query = export_query(view, where)
    comments = CURRENT_VIEW_COMMENTS[view][1]
    condition = where.strip() if where is not None and where.strip() else None
    try:
        with read_only_transaction(engine, statement_timeout_s) as conn:
            _require_release(conn, release)
            result = conn.execute(query, {"release": release})
            names = list(result.keys())
            rows = result.fetchall()
    except DBAPIError as exc:
        if _is_timeout(exc):
            raise ExportTimeoutError(
                f"the export of {view} (release {release!r}) ran longer than its statement "
                f"timeout of {statement_timeout_s:g} s and was cancelled"
            ) from exc
        raise
    table = Table(meta={"VIEW": view, "RELEASE": release, "ORIGIN": "ClusterCat"})
    if condition is not None:
        table.meta["WHERE"] = condition
    for k, name in enumerate(names):
        comment = comments.get(name)
        data, mask = _column_values(name, [row[k] for row in rows], comment)
        if data.dtype.kind == "f" or not mask.any():
            # NULL floats are NaN (as FITS and VOTable store them); unmasked columns stay
            # plain, which astropy's text writers handle ten times faster
            column = Column(data, name=name, description=comment)
        else:
            column = MaskedColumn(data, name=name, mask=mask, description=comment)
        unit = parse_unit(comment)
        if unit is not None:
            column.unit = unit
        ucd = column_ucd(name)
        if ucd is not None:
            column.meta["ucd"] = ucd
        table.add_column(column)
    return table


def frame_table(
    frame: pd.DataFrame,
    view: str | None = None,
    *,
    units: dict[str, str] | None = None,
    meta: dict[str, object] | None = None,
) -> Table:
    """Rows a figure draws (a pandas frame) as an astropy Table with units and descriptions.

    Columns named as a column of ``view`` (a key of :data:`CURRENT_VIEW_COMMENTS`) take that
    column's comment as description and its unit, as :func:`export_table` does; ``units``
    (column -> ``"meaning (unit)"`` or a bare unit string) describes derived columns such as
    colours. NULLs become NaN in float columns and masked entries elsewhere.
    """
    comments = dict(CURRENT_VIEW_COMMENTS[view][1]) if view is not None else {}
    for name, value in (units or {}).items():
        comments[name] = value if value.rstrip().endswith(")") else f"{name} ({value})"
    table = Table(meta={"ORIGIN": "ClusterCat", **({"VIEW": view} if view else {}),
                        **(meta or {})})  # fmt: skip
    for name in frame.columns:
        values = [None if _is_missing(v) else v for v in frame[name].tolist()]
        comment = comments.get(str(name))
        data, mask = _column_values(str(name), values, comment)
        if data.dtype.kind == "f" or not mask.any():
            column = Column(data, name=str(name), description=comment)
        else:
            column = MaskedColumn(data, name=str(name), mask=mask, description=comment)
        unit = parse_unit(comment)
        if unit is not None:
            column.unit = unit
        ucd = column_ucd(str(name))
        if ucd is not None:
            column.meta["ucd"] = ucd
        table.add_column(column)
    return table


def _is_missing(value: object) -> bool:
    """None, NaN, NaT or pandas NA (a frame's ways of saying NULL)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def table_text(table: Table, fmt: str) -> str:
    """``table`` as the text of a ``csv`` or ``ecsv`` file (units kept in ECSV only)."""
    if fmt not in ("csv", "ecsv"):
        raise ValueError(f"text formats are csv and ecsv, not {fmt!r}")
    buffer = io.StringIO()
    table.write(buffer, format=FORMATS[fmt][0])
    return buffer.getvalue()


def _is_timeout(exc: DBAPIError) -> bool:
    """True for PostgreSQL's query_canceled (57014) and SQLite's interrupted statement."""
    if getattr(exc.orig, "sqlstate", None) == "57014":
        return True
    return "interrupted" in str(exc.orig).lower()


def _unit_writable(unit: u.UnitBase | u.FunctionUnitBase, fmt: str) -> bool:
    try:
        unit.to_string(fmt)
    except (ValueError, TypeError):
        return False
    return True


def write_table(table: Table, path: str | Path, fmt: str, *, overwrite: bool = False) -> None:
    """Write ``table`` to ``path`` in ``fmt`` (a key of :data:`FORMATS`).

    Units a format cannot store are dropped from that file only (the description keeps them).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    out = table.copy(copy_data=False)
    unit_format = {"fits": "fits", "votable": "vounit"}.get(fmt)
    if unit_format is not None:
        for column in out.itercols():
            if column.unit is not None and not _unit_writable(column.unit, unit_format):
                column.unit = None
    if fmt == "fits":
        from astropy.io import fits

        hdu = fits.table_to_hdu(out)
        for k, column in enumerate(out.itercols(), start=1):
            if column.description:
                hdu.header[f"TCOMM{k}"] = column.description
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=overwrite)
        return
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("Parquet export needs pyarrow: pip install pyarrow") from exc
    out.write(path, format=FORMATS[fmt][0], overwrite=overwrite)


def export_release(
    engine: Engine,
    release: str,
    fmt: str,
    output: str | Path,
    *,
    view: str = "cluster_catalogue",
    where: str | None = None,
    overwrite: bool = False,
    statement_timeout_s: float = EXPORT_STATEMENT_TIMEOUT_S,
) -> Table:
    """:func:`export_table` then :func:`write_table`; returns the table written.

    Nothing is written when the export fails (unknown release, refused filter, timeout).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if Path(output).exists() and not overwrite:
        raise FileExistsError(f"{output} exists (use --overwrite to replace it)")
    table = export_table(
        engine, release, view=view, where=where, statement_timeout_s=statement_timeout_s
    )
    write_table(table, output, fmt, overwrite=overwrite)
    return table
