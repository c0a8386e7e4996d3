"""Cone search: the sources of visible releases within an angular radius of a sky position.

One function, :func:`cone_search`, answers on both backends with the same rows and the same
distances:

* **PostgreSQL with q3c**: ``q3c_radial_query(ra, dec, ra0, dec0, r)``, which uses the
  ``ix_source_q3c`` index on ``q3c_ang2ipix(ra, dec)`` (revision 0004);
* **SQLite** (or PostgreSQL without q3c): a bounding box on the ``ix_source_dec_ra`` index,
  ``dec BETWEEN dec0 - r AND dec0 + r`` and an RA window of half-width
  ``asin(sin r / cos dec0)`` (the exact RA extent of a spherical cap), split in two where it
  crosses RA = 0/360 and dropped where the cap contains a pole.

Either way the database returns candidates from a cone (or box) padded by a relative 1e-9,
and the final selection ``distance <= radius`` and the distances themselves are computed
here, in numpy, with the project's one separation formula
(:func:`clustercat.schema.sky.separation_rad`, Vincenty's formula in Cartesian form: exact at
all separations, stable near 0 and 180 degrees; the cross-match uses it too). The backends
therefore agree bit for bit: the same candidate superset goes through the same arithmetic on
the same IEEE doubles. The radius is read by :func:`clustercat.schema.sky.parse_radius`, the
cross-match's radius rule too (a bare number is refused).

Only the newest complete version of each release name is searched, as in the views (older,
``superseded`` versions stay in the ``_all`` views).

Speed (``bench/cone.py --n 2e5 --fields 40``: 1-arcmin cones of ~490 sources, five total
magnitudes per source, the V lookup included, on a shared 2-core machine): median 10-21 ms
with q3c and 8-11 ms with the bounding box on PostgreSQL, 7-10 ms on SQLite; the answers
(rows, distances, V) are identical. On PostgreSQL a good part of the q3c time is *planning*
``q3c_radial_query``, which expands into ~100 index ranges; do not try to save it with
``plan_cache_mode = force_generic_plan``: PostgreSQL's generic plan for q3c takes seconds.
The spatial query reads ``source`` alone; names and V magnitudes are fetched afterwards for
the sources inside the cone (joins planned around q3c's row estimate of one row were 3x
slower).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from sqlalchemy import Connection, Engine, TextClause, bindparam, text

from .sky import angular_distance_deg, parse_radius
from .views import NEWEST_RELEASE_STATUS

__all__ = [
    "CONE_COLUMNS",
    "ConeQuery",
    "angular_distance_deg",
    "cone_query",
    "cone_search",
    "has_q3c",
    "parse_position",
    "parse_radius",
]

#: Columns of the frame :func:`cone_search` returns, in order.
CONE_COLUMNS: tuple[str, ...] = (
    "release",
    "galaxy",
    "field",
    "source_id",
    "ra",
    "dec",
    "distance_arcsec",
    "mag_v",
    "release_id",
    "source_pk",
)

#: Relative padding of the candidate search; the exact cut is applied afterwards.
_PAD_REL = 1e-9
#: Absolute padding (deg), so that a zero radius still finds a source exactly at the centre.
_PAD_ABS = 1e-10

Method = Literal["auto", "q3c", "bbox"]

#: The spatial query reads ``source`` alone: joins planned around q3c's row estimate (one
#: row, whatever the density) cost more than the search itself. Names and V magnitudes are
#: fetched afterwards for the sources inside the cone.
_SPATIAL = """
SELECT s.id AS source_pk, s.release_id AS release_id, s.field_id AS field_id,
       s.id_in_release AS source_id, s.ra AS ra, s.dec AS dec
FROM source s {indexed}
WHERE {spatial}
"""

_RELEASES = f"SELECT id, name FROM catalogue_release WHERE status IN {NEWEST_RELEASE_STATUS}"

_FIELDS_SQL = (
    "SELECT f.id, f.name, g.name FROM field f JOIN galaxy g ON g.id = f.galaxy_id "
    "WHERE f.id {member}"
)
#: The V magnitude of ``cluster_catalogue`` (one per source, by the one band rule of
#: :mod:`clustercat.schema.catalogue_entry`).
_MAG_V_SQL = "SELECT source_id, mag_v FROM catalogue_entry WHERE source_id {member}"


def _member_query(template: str, dialect: str) -> TextClause:
    """``template`` with an id-list membership test: one array parameter on PostgreSQL
    (``= ANY(:ids)``; psycopg re-parses a query per distinct number of placeholders), an
    expanding ``IN`` elsewhere."""
    if dialect == "postgresql":
        return text(template.format(member="= ANY(:ids)"))
    return text(template.format(member="IN :ids")).bindparams(bindparam("ids", expanding=True))


#: Keys per IN list (SQLite allows 32766 variables per statement).
_CHUNK = 10_000


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def parse_position(
    ra: float | str | u.Quantity, dec: float | str | u.Quantity
) -> tuple[float, float]:
    """(RA, Dec) in degrees from numbers (degrees), Quantities or sexagesimal strings.

    Strings: plain numbers are degrees; ``'04:20:00.4' '-54:56:15'`` or ``'04 20 00.4'`` is
    hours for RA and degrees for Dec; anything with units (``'4h20m0.4s'``, ``'65.0d'``,
    ``'-54d56m15s'``) is read by :class:`astropy.coordinates.SkyCoord` as written.
    """
    if isinstance(ra, str) and isinstance(dec, str):
        ra_s, dec_s = ra.strip(), dec.strip()
        if _is_number(ra_s) and _is_number(dec_s):
            return parse_position(float(ra_s), float(dec_s))
        if not any(c.isalpha() for c in ra_s + dec_s):
            coord = SkyCoord(ra_s, dec_s, unit=(u.hourangle, u.deg))
        else:
            coord = SkyCoord(ra_s, dec_s)
    elif isinstance(ra, str) or isinstance(dec, str):
        raise TypeError("give RA and Dec both as strings or both as numbers/Quantities")
    else:
        ra_deg = float(ra.to_value(u.deg)) if isinstance(ra, u.Quantity) else float(ra)
        dec_deg = float(dec.to_value(u.deg)) if isinstance(dec, u.Quantity) else float(dec)
        if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)) or abs(dec_deg) > 90.0:
            raise ValueError(
                f"invalid position RA={ra!r}, Dec={dec!r}: both must be finite numbers "
                "and |Dec| <= 90 deg"
            )
        return ra_deg % 360.0, dec_deg
    ra_deg, dec_deg = float(coord.ra.wrap_at(360 * u.deg).deg), float(coord.dec.deg)
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)):
        raise ValueError(f"invalid position RA={ra!r}, Dec={dec!r}: not finite numbers")
    return ra_deg % 360.0, dec_deg


@dataclass(frozen=True)
class ConeQuery:
    """The candidate query of one cone search: SQL text, its parameters and the method."""

    sql: str
    params: dict[str, float | str]
    method: str


def has_q3c(conn: Connection) -> bool:
    """True when the database is PostgreSQL with the q3c extension (cached per connection)."""
    if conn.dialect.name != "postgresql":
        return False
    key = "clustercat_has_q3c"
    if key not in conn.info:
        found = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'q3c'").first()
        conn.info[key] = found is not None
    return bool(conn.info[key])


def _ra_windows(ra0: float, dec0: float, r_deg: float) -> list[tuple[float, float]] | None:
    """RA intervals (deg, within [0, 360]) covering the cap, or None when all RA qualify."""
    if abs(dec0) + r_deg >= 90.0:
        return None  # the cap contains a pole
    s = math.sin(math.radians(r_deg)) / math.cos(math.radians(dec0))
    if s >= 1.0:
        return None
    half = math.degrees(math.asin(s)) * (1 + _PAD_REL) + _PAD_ABS  # asin rounding
    if half >= 180.0:
        return None
    lo, hi = ra0 - half, ra0 + half
    if lo < 0.0:
        return [(0.0, hi), (lo + 360.0, 360.0)]
    if hi >= 360.0:
        return [(lo, 360.0), (0.0, hi - 360.0)]
    return [(lo, hi)]


def cone_query(
    dialect: str,
    ra0: float,
    dec0: float,
    radius_deg: float,
    method: Method = "auto",
    q3c_available: bool = True,
) -> ConeQuery:
    """The spatial candidate query on ``source`` for a cone (a padded superset of it;
    :func:`cone_search` applies the exact cut, the release filter and adds names).

    ``method``: ``"q3c"`` (PostgreSQL with q3c), ``"bbox"`` (any backend) or ``"auto"``
    (q3c when ``dialect`` is PostgreSQL and ``q3c_available``, else bbox).
    """
    if method == "auto":
        method = "q3c" if dialect == "postgresql" and q3c_available else "bbox"
    if method == "q3c" and dialect != "postgresql":
        raise ValueError("q3c cone search needs PostgreSQL with the q3c extension")
    search = radius_deg * (1 + _PAD_REL) + _PAD_ABS
    params: dict[str, float | str] = {}
    indexed = ""
    if method == "q3c":
        spatial = "q3c_radial_query(s.ra, s.dec, :ra0, :dec0, :search)"
        params.update(ra0=ra0, dec0=dec0, search=search)
    elif method == "bbox":
        if dialect == "sqlite":
            indexed = "INDEXED BY ix_source_dec_ra"
        params.update(dec_lo=max(-90.0, dec0 - search), dec_hi=min(90.0, dec0 + search))
        spatial = "s.dec BETWEEN :dec_lo AND :dec_hi"
        windows = _ra_windows(ra0, dec0, search)
        if windows is not None:
            parts = []
            for k, (lo, hi) in enumerate(windows):
                parts.append(f"s.ra BETWEEN :ra_lo{k} AND :ra_hi{k}")
                params[f"ra_lo{k}"], params[f"ra_hi{k}"] = lo, hi
            spatial += " AND (" + " OR ".join(parts) + ")"
    else:
        raise ValueError(f"unknown cone-search method {method!r}")
    sql = _SPATIAL.format(indexed=indexed, spatial=spatial)
    return ConeQuery(sql=sql, params=params, method=method)


def cone_search(
    engine_or_conn: Engine | Connection,
    ra: float | str | u.Quantity,
    dec: float | str | u.Quantity,
    radius: str | u.Quantity,
    release: str | None = None,
    *,
    method: Method = "auto",
) -> pd.DataFrame:
    """Sources within ``radius`` of (``ra``, ``dec``), nearest first.

    ``ra``/``dec``: degrees (numbers), Quantities or sexagesimal strings (see
    :func:`parse_position`); ``radius``: an angle with a unit (``'1arcmin'``, ``5 * u.arcsec``).
    ``release``: only that release name (every version of it). Returns :data:`CONE_COLUMNS`;
    ``distance_arcsec`` is the great-circle distance from the centre. Ties are broken by
    ``release_id`` and ``source_pk``, so the order is deterministic.
    """
    ra0, dec0 = parse_position(ra, dec)
    radius_deg = float(parse_radius(radius).to_value(u.deg))
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return _cone_search(conn, ra0, dec0, radius_deg, release, method)
    return _cone_search(engine_or_conn, ra0, dec0, radius_deg, release, method)


def _in_chunks(conn: Connection, template: str, ids: list[int]) -> list:
    query = _member_query(template, conn.dialect.name)
    rows: list = []
    for start in range(0, len(ids), _CHUNK):
        rows += conn.execute(query, {"ids": ids[start : start + _CHUNK]}).all()
    return rows


def _cone_search(
    conn: Connection,
    ra0: float,
    dec0: float,
    radius_deg: float,
    release: str | None,
    method: Method,
) -> pd.DataFrame:
    query = cone_query(
        conn.dialect.name,
        ra0,
        dec0,
        radius_deg,
        method,
        q3c_available=has_q3c(conn) if method == "auto" else True,
    )
    releases = {
        int(rid): str(name)
        for rid, name in conn.exec_driver_sql(_RELEASES).all()
        if release is None or name == release
    }
    if release is not None and not releases:
        exists = conn.execute(
            text("SELECT 1 FROM catalogue_release WHERE name = :name"), {"name": release}
        ).first()
        if exists is None:
            raise ValueError(f"no release named {release!r}")
    rows = conn.execute(text(query.sql), query.params).all()
    if rows:
        pk, rel, fld, sid = (np.array(c, dtype=np.int64) for c in list(zip(*rows, strict=True))[:4])
        ra = np.array([r[4] for r in rows], dtype=float)
        dec = np.array([r[5] for r in rows], dtype=float)
    else:
        pk = rel = fld = sid = np.empty(0, dtype=np.int64)
        ra = dec = np.empty(0, dtype=float)
    distance = angular_distance_deg(ra, dec, ra0, dec0)
    keep = (distance <= radius_deg) & np.isin(rel, np.fromiter(releases, np.int64))
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((pk[idx], rel[idx], distance[idx]))]
    fields = {
        int(fid): (str(fname), str(gname))
        for fid, fname, gname in _in_chunks(conn, _FIELDS_SQL, sorted({int(f) for f in fld[order]}))
    }
    mags: dict[int, float] = {}
    for source_pk, mag in _in_chunks(conn, _MAG_V_SQL, [int(k) for k in pk[order]]):
        if mag is not None:
            mags[int(source_pk)] = float(mag)
    out = {
        "release": [releases[int(k)] for k in rel[order]],
        "galaxy": [fields[int(k)][1] for k in fld[order]],
        "field": [fields[int(k)][0] for k in fld[order]],
        "source_id": sid[order],
        "ra": ra[order],
        "dec": dec[order],
        "distance_arcsec": distance[order] * 3600.0,
        "mag_v": np.array([mags.get(int(k), np.nan) for k in pk[order]], dtype=float),
        "release_id": rel[order],
        "source_pk": pk[order],
    }
    frame = pd.DataFrame(out, columns=list(CONE_COLUMNS))
    for column in ("release", "galaxy", "field"):
        frame[column] = frame[column].astype(object)
    return frame
