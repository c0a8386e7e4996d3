"""Synthetic catalogue releases at scale, written straight into the tables (for benchmarks).

:func:`add_synthetic_releases` adds ``n_releases`` complete releases holding ``n_sources``
sources in all, spread over ``n_galaxies`` synthetic galaxies of ``fields_per_galaxy`` fields
each. Every source has, in five filters (NUV, U, B, V, I), a total magnitude and seven
aperture magnitudes (r = 1, 1.5, 2, 2.5, 3, 4, 5 px): 40 photometry rows; plus one morphology
row (CI, MCI_in, MCI_out from the V apertures), one human classification and one fit by the
release's default SED method.

Values are plausible, not fitted: total V magnitudes 19-26 (more faint than bright sources),
colours scattered around those of young clusters, errors growing with magnitude, aperture
magnitudes from a growth curve ``f(r) = r^2 / (r^2 + a^2)`` whose size ``a`` differs per
source (so CI spans ~0.5-2 mag), rows fainter than 27.5 mag ``not_detected`` with NULL
magnitudes, positions uniform in ~2.7-arcmin fields around a random centre per galaxy.

The loader's row-by-row path would take hours at 10^6 sources, so rows go in with PostgreSQL
``COPY ... (FORMAT BINARY)`` (built with numpy structured arrays, psycopg 3 ``cursor.copy``)
or SQLite ``executemany``, in chunks of ``chunk`` sources, one transaction per release. A
release is completed as the loader completes one: status ``loading`` while its rows are
written, then :func:`clustercat.schema.catalogue_entry.write_catalogue_entries` (migration
0010) fills its catalogue rows, then status ``complete`` and ``completed_at``; after the
commit, the loader's ``refresh_statistics``.

One shortcut on PostgreSQL, switchable in :class:`Layout`: the foreign-key triggers are off
while the generated rows are COPYed (``session_replication_role = replica``, 2.5x faster; the
keys are consistent by construction, and the role is back to ``origin`` before the catalogue
entries and the completion). The entries are written exactly as the loader writes them,
with no ANALYZE first: the planner's statistics know only the earlier releases, which is why
the PostgreSQL statement ranks each source's rows in a ``LATERAL`` subquery (the version-1
statement, estimated at one source, took 127 s instead of 0.1 s for 5,000 sources).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Engine, inspect, text

#: Aperture radii of the synthetic photometry (pix), and the aperture the totals come from.
APERTURE_RADII_PX: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
TOTAL_FROM_RADIUS_PX = 4.0
#: Filters per galaxy: WFC3/UVIS only, or UVIS NUV/U with ACS B, V, I (as in LEGUS).
FILTER_SETS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("F275W", "WFC3/UVIS"), ("F336W", "WFC3/UVIS"), ("F438W", "WFC3/UVIS"),
     ("F555W", "WFC3/UVIS"), ("F814W", "WFC3/UVIS")),
    (("F275W", "WFC3/UVIS"), ("F336W", "WFC3/UVIS"), ("F435W", "ACS/WFC"),
     ("F555W", "ACS/WFC"), ("F814W", "ACS/WFC")),
)  # fmt: skip
#: Vega -> AB offsets (mag) of the five bands NUV, U, B, V, I (approximate).
AB_MINUS_VEGA = np.array([1.50, 1.19, -0.15, -0.03, 0.42])
#: Colours band - V (mean, scatter) of NUV, U, B, V, I.
COLOUR_MEAN = np.array([0.2, 0.0, 0.25, 0.0, -0.5])
COLOUR_SCATTER = np.array([0.9, 0.6, 0.3, 0.0, 0.4])
#: Magnitudes fainter than this are ``not_detected``.
DETECTION_LIMIT_MAG = 27.5
PIXEL_SCALE_ARCSEC = 0.0396
FIELD_SIZE_PX = 4096

CLASS_METHOD = ("bench synthetic human", "1", "human")
SED_METHOD = "bench synthetic Yggdrasil"
RELEASE_PREFIX = "synthetic-"


@dataclass(frozen=True)
class Layout:
    """How many synthetic sources, releases, galaxies and fields."""

    n_sources: int = 1_000_000
    n_releases: int = 4
    n_galaxies: int = 20
    fields_per_galaxy: int = 2
    chunk: int = 10_000
    seed: int = 13
    #: PostgreSQL: skip the foreign-key triggers while COPYing the generated rows (their
    #: keys are consistent by construction), ``session_replication_role = replica``.
    skip_fk_checks: bool = True

    def galaxies_of(self, release: int) -> list[int]:
        """Galaxy indices (0-based) of release ``release`` (contiguous blocks)."""
        return [g for g in range(self.n_galaxies) if g * self.n_releases // self.n_galaxies
                == release]  # fmt: skip

    def sources_of(self, galaxy: int) -> int:
        """Sources of galaxy ``galaxy``: an equal share, the remainder to the first ones."""
        base, extra = divmod(self.n_sources, self.n_galaxies)
        return base + (1 if galaxy < extra else 0)


@dataclass
class SyntheticRelease:
    """A synthetic release as written: names, ids and row counts."""

    name: str
    release_id: int
    galaxies: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    catalogue_entries: int | None = None
    seconds: float = 0.0


# --- PostgreSQL binary COPY from numpy ---------------------------------------------------

_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_TRAILER = struct.pack(">h", -1)
_PG_DTYPES = {
    "bigint": ">i8",
    "integer": ">i4",
    "smallint": ">i2",
    "double precision": ">f8",
    "real": ">f4",
    "boolean": "?",
}


@dataclass(frozen=True)
class Text:
    """A text column: ``codes`` index into ``values`` (a constant when ``codes`` is None)."""

    values: tuple[str, ...]
    codes: np.ndarray | None = None


Column = np.ndarray | Text


def _column_types(conn: Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table},
    ).all()
    return {name: kind for name, kind in rows}


def pg_binary(columns: Sequence[tuple[Column, str]], n: int) -> bytes:
    """``n`` rows in PostgreSQL's binary COPY format; NaN floats are NULL.

    ``columns``: (values, PostgreSQL data type). Rows are grouped by their pattern of NULLs
    and text values, each group one numpy structured array (row order is not kept).
    """
    key = np.zeros(n, dtype=np.int64)
    mult = 1
    for values, kind in columns:
        if isinstance(values, Text):
            if values.codes is not None:
                key += values.codes.astype(np.int64) * mult
                mult *= len(values.values)
        elif kind in ("double precision", "real"):
            key += np.isnan(values).astype(np.int64) * mult
            mult *= 2
    parts = [_PG_HEADER]
    groups, inverse = np.unique(key, return_inverse=True)
    for g, group_key in enumerate(groups):
        idx = np.flatnonzero(inverse == g)
        fields: list[tuple[str, str]] = [("nf", ">i2")]
        fill: list[tuple[str, object]] = [("nf", len(columns))]
        rest = int(group_key)
        for i, (values, kind) in enumerate(columns):
            if isinstance(values, Text):
                code = 0
                if values.codes is not None:
                    code, rest = rest % len(values.values), rest // len(values.values)
                raw = values.values[code].encode()
                fields += [(f"l{i}", ">i4"), (f"v{i}", f"S{len(raw)}")]
                fill += [(f"l{i}", len(raw)), (f"v{i}", raw)]
                continue
            is_null = False
            if kind in ("double precision", "real"):
                is_null, rest = bool(rest % 2), rest // 2
            if is_null:
                fields.append((f"l{i}", ">i4"))
                fill.append((f"l{i}", -1))
                continue
            dtype = np.dtype(_PG_DTYPES[kind])
            fields += [(f"l{i}", ">i4"), (f"v{i}", dtype.str)]
            fill += [(f"l{i}", dtype.itemsize), (f"v{i}", values[idx])]
        arr = np.empty(idx.size, dtype=np.dtype(fields))
        for name, value in fill:
            arr[name] = value
        parts.append(arr.tobytes())
    parts.append(_PG_TRAILER)
    return b"".join(parts)


def write_rows(conn: Connection, table: str, data: dict[str, Column], n: int) -> int:
    """Append ``n`` rows of ``data`` (column -> values) to ``table``: binary COPY on
    PostgreSQL, one ``executemany`` on SQLite. Returns ``n``."""
    if n == 0:
        return 0
    names = list(data)
    quoted = ", ".join(f'"{c}"' for c in names)
    if conn.dialect.name == "postgresql":
        cache = conn.info.setdefault("bench_column_types", {})
        if table not in cache:
            cache[table] = _column_types(conn, table)
        types = cache[table]
        payload = pg_binary([(data[c], types[c]) for c in names], n)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        return n
    lists = []
    for c in names:
        values = data[c]
        if isinstance(values, Text):
            if values.codes is None:
                lists.append([values.values[0]] * n)
            else:
                lists.append([values.values[k] for k in values.codes.tolist()])
        elif values.dtype.kind == "f":
            nan = np.isnan(values)
            col = values.tolist()
            lists.append([None if m else v for v, m in zip(col, nan.tolist(), strict=True)]
                         if nan.any() else col)  # fmt: skip
        elif values.dtype.kind == "b":
            lists.append([int(v) for v in values.tolist()])
        else:
            lists.append(values.tolist())
    placeholders = ", ".join("?" for _ in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(
        f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", list(zip(*lists, strict=True))
    )
    return n


# --- the values --------------------------------------------------------------------------


def _mag_err(mag: np.ndarray) -> np.ndarray:
    """1-sigma error of a magnitude: 0.005 mag floor, x2.5 every magnitude past 24."""
    return np.minimum(0.005 + 0.03 * 10 ** (0.4 * (mag - 24.0)), 3.0)


def _flux_mjy(mag: np.ndarray, band: np.ndarray) -> np.ndarray:
    return 10 ** (-0.4 * (mag + AB_MINUS_VEGA[band] - 16.4))


def source_values(
    rng: np.random.Generator, n: int, ra0: float, dec0: float, first_id: int
) -> dict[str, np.ndarray]:
    """Positions and frame coordinates of ``n`` sources of a field centred on (ra0, dec0)."""
    x = rng.uniform(1.0, FIELD_SIZE_PX, n)
    y = rng.uniform(1.0, FIELD_SIZE_PX, n)
    dx = (x - FIELD_SIZE_PX / 2) * PIXEL_SCALE_ARCSEC / 3600.0
    dy = (y - FIELD_SIZE_PX / 2) * PIXEL_SCALE_ARCSEC / 3600.0
    dec = dec0 + dy
    ra = (ra0 + dx / np.cos(np.radians(dec))) % 360.0
    return {
        "id_in_release": np.arange(first_id, first_id + n, dtype=np.int64),
        "ra": ra,
        "dec": dec,
        "x": x,
        "y": y,
        "selection_flag": np.zeros(n, dtype=np.int64),
        "flags": np.zeros(n, dtype=np.int64),
    }


def measurement_values(
    rng: np.random.Generator, source_ids: np.ndarray, filter_ids: Sequence[int]
) -> dict[str, dict[str, Column]]:
    """Photometry (totals and apertures), morphology, classification and SED values."""
    n = source_ids.size
    n_f, n_r = len(filter_ids), len(APERTURE_RADII_PX)
    mag_v = np.clip(26.0 - rng.exponential(1.6, n), 19.0, 26.0)
    colour = COLOUR_MEAN + rng.normal(0.0, 1.0, (n, n_f)) * COLOUR_SCATTER
    total = mag_v[:, None] + colour  # (n, 5)
    size = np.clip(np.exp(rng.normal(np.log(1.3), 0.35, n)), 0.6, 4.0)  # growth-curve a (pix)
    radii = np.array(APERTURE_RADII_PX)
    frac = radii**2 / (radii**2 + size[:, None] ** 2)  # (n, 7) enclosed flux fraction
    aperture = total[:, :, None] - 2.5 * np.log10(frac)[:, None, :]  # (n, 5, 7)
    apcor = 2.5 * np.log10(TOTAL_FROM_RADIUS_PX**2 / (TOTAL_FROM_RADIUS_PX**2 + size**2))
    band = np.arange(n_f)
    fid = np.asarray(filter_ids, dtype=np.int64)

    def phot(mag: np.ndarray, bands: np.ndarray) -> dict[str, Column]:
        mag = mag.ravel()
        detected = mag <= DETECTION_LIMIT_MAG
        err = _mag_err(mag)
        flux = _flux_mjy(mag, bands.ravel())
        nan = np.where(detected, 1.0, np.nan)
        return {
            "status": Text(("not_detected", "measured"), detected.astype(np.int64)),
            "mag_vega": mag * nan,
            "mag_err": err * nan,
            "flux_mjy": flux * nan,
            "flux_err_mjy": flux * err / 1.0857 * nan,
            "mw_extinction_corrected": np.ones(mag.size, dtype=bool),
        }

    totals: dict[str, Column] = {
        "source_id": np.repeat(source_ids, n_f),
        "filter_id": np.tile(fid, n),
        "kind": Text(("total",)),
        "radius_px": np.full(n * n_f, TOTAL_FROM_RADIUS_PX),
        **phot(total, np.broadcast_to(band, (n, n_f))),
        "aperture_correction_mag": np.repeat(apcor, n_f),
    }
    sky = rng.normal(0.01, 0.003, n * n_f * n_r)
    apertures: dict[str, Column] = {
        "source_id": np.repeat(source_ids, n_f * n_r),
        "filter_id": np.tile(np.repeat(fid, n_r), n),
        "kind": Text(("aperture",)),
        "radius_px": np.tile(radii, n * n_f),
        **phot(aperture, np.broadcast_to(band[:, None], (n, n_f, n_r))),
        "sky_median": sky,
        "sky_std": np.abs(sky) * 0.4 + 0.001,
    }
    v = aperture[:, 3, :]  # V band: m(1), m(1.5), m(2), m(2.5), m(3), m(4), m(5)
    ev = _mag_err(v)
    morphology: dict[str, Column] = {
        "source_id": source_ids,
        "constants_version": Text(("catalogue",)),
        "filter_id": np.full(n, fid[3]),
        "ci": v[:, 0] - v[:, 4],
        "ci_err": np.hypot(ev[:, 0], ev[:, 4]),
        "mci_in": (v[:, 0] - v[:, 2]) / 0.8,
        "mci_in_err": np.hypot(ev[:, 0], ev[:, 2]) / 0.8,
        "mci_out": (v[:, 2] - v[:, 6]) / 0.6,
        "mci_out_err": np.hypot(ev[:, 2], ev[:, 6]) / 0.6,
    }
    klass = rng.choice([1, 2, 3, 4], n, p=[0.15, 0.15, 0.2, 0.5]).astype(np.int64)
    classification: dict[str, Column] = {
        "source_id": source_ids,
        "cluster_class": klass,
        "score": np.round(rng.uniform(1.0, 4.0, n), 2),
        "quality": rng.integers(1, 4, n).astype(np.int64),
    }
    log_age = rng.uniform(6.0, 10.0, n)
    log_mass = np.clip(2.0 + 0.4 * (26.0 - mag_v) + 0.3 * (log_age - 6.0), 1.5, 7.0)
    ebv = rng.uniform(0.0, 1.0, n)
    chi2 = rng.chisquare(2, n)
    sed: dict[str, Column] = {
        "source_id": source_ids,
        "log_age": log_age,
        "log_age_min": log_age - rng.uniform(0.0, 0.5, n),
        "log_age_max": log_age + rng.uniform(0.0, 0.5, n),
        "log_mass": log_mass,
        "log_mass_min": log_mass - rng.uniform(0.0, 0.3, n),
        "log_mass_max": log_mass + rng.uniform(0.0, 0.3, n),
        "ebv": ebv,
        "ebv_min": np.maximum(ebv - rng.uniform(0.0, 0.2, n), 0.0),
        "ebv_max": ebv + rng.uniform(0.0, 0.2, n),
        "chi2": chi2 * 2,
        "reduced_chi2": chi2,
        "q_prob": rng.uniform(0.0, 1.0, n),
        "n_bands": np.full(n, n_f, dtype=np.int64),
    }
    return {
        "photometry_total": totals,
        "photometry_aperture": apertures,
        "morphology": morphology,
        "classification": classification,
        "sed_fit": sed,
    }


# --- writing releases --------------------------------------------------------------------


def _id(conn: Connection, sql: str, **params: object) -> int | None:
    return conn.execute(text(sql), params).scalar()


def _insert_id(conn: Connection, table: str, values: dict[str, object]) -> int:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    return conn.execute(
        text(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING id"), values
    ).scalar_one()


def _methods(conn: Connection) -> tuple[int, int]:
    """The synthetic classification and SED methods, created if needed."""
    name, version, kind = CLASS_METHOD
    cm = _id(conn, "SELECT id FROM classification_method WHERE name = :n", n=name)
    if cm is None:
        cm = _insert_id(conn, "classification_method", {
            "name": name, "version": version, "kind": kind,
            "description": "synthetic classes of bench/views.py",
        })  # fmt: skip
    sm = _id(conn, "SELECT id FROM sed_method WHERE name = :n", n=SED_METHOD)
    if sm is None:
        sm = _insert_id(conn, "sed_method", {
            "name": SED_METHOD, "code": "synthetic", "ssp_model": "Yggdrasil",
            "imf": "Kroupa", "metallicity": 0.02, "extinction_law": "CCM89 R_V=3.1",
            "description": "synthetic fits of bench/views.py",
        })  # fmt: skip
    return int(cm), int(sm)


def catalogue_entry_writer(conn: Connection) -> Callable[[Connection, int], int] | None:
    """``write_catalogue_entries`` of migration 0010, or None on a schema without it.

    Raises ``RuntimeError`` when the database has the ``catalogue_entry`` table but the
    function cannot be imported (the bench would leave the releases out of the views).
    """
    try:
        from clustercat.schema.catalogue_entry import write_catalogue_entries
    except ImportError as exc:
        if inspect(conn).has_table("catalogue_entry"):
            raise RuntimeError(
                "the database has table catalogue_entry (migration 0010) but "
                f"clustercat.schema.catalogue_entry.write_catalogue_entries is missing: {exc}"
            ) from exc
        return None
    return write_catalogue_entries


def _galaxy_rows(
    conn: Connection, layout: Layout, g: int, rng: np.random.Generator
) -> tuple[str, list[tuple[int, float, float]], list[int]]:
    """Galaxy ``g`` with its fields and filters: (name, [(field id, ra, dec)], filter ids)."""
    name = f"SYNTH {g + 1:02d}"
    ra0, dec0 = float(rng.uniform(0.0, 360.0)), float(np.degrees(np.arcsin(rng.uniform(-0.9, 0.9))))
    galaxy_id = _insert_id(conn, "galaxy", {
        "name": name, "ra_deg": ra0, "dec_deg": dec0,
        "distance_mpc": float(rng.uniform(3.0, 18.0)), "notes": "synthetic (bench/views.py)",
    })  # fmt: skip
    conn.execute(
        text("INSERT INTO galaxy_alias (alias, galaxy_id) VALUES (:a, :g)"),
        {"a": name.lower().replace(" ", ""), "g": galaxy_id},
    )
    filter_ids = []
    for fname, instrument in FILTER_SETS[g % len(FILTER_SETS)]:
        filter_ids.append(int(_id(
            conn, "SELECT id FROM filter WHERE name = :n AND instrument = :i", n=fname,
            i=instrument,
        )))  # fmt: skip
    fields = []
    step = FIELD_SIZE_PX * PIXEL_SCALE_ARCSEC / 3600.0 * 0.8  # adjacent, overlapping a little
    for k in range(layout.fields_per_galaxy):
        dec = dec0 + (k - (layout.fields_per_galaxy - 1) / 2) * step
        field_id = _insert_id(conn, "field", {
            "name": f"synth{g + 1:02d}{chr(ord('a') + k)}", "galaxy_id": galaxy_id,
            "pixel_scale_arcsec": PIXEL_SCALE_ARCSEC,
        })  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO field_filter (field_id, filter_id, exposure_time_s) "
                "VALUES (:f, :flt, 2400.0)"
            ),
            [{"f": field_id, "flt": fid} for fid in filter_ids],
        )
        fields.append((field_id, ra0, dec))
    return name, fields, filter_ids


def _source_ids(conn: Connection, release_id: int, field_id: int, lo: int, hi: int) -> np.ndarray:
    rows = conn.execute(
        text(
            "SELECT id FROM source WHERE release_id = :r AND field_id = :f "
            "AND id_in_release BETWEEN :lo AND :hi ORDER BY id_in_release"
        ),
        {"r": release_id, "f": field_id, "lo": lo, "hi": hi},
    ).scalars()
    return np.fromiter(rows, dtype=np.int64)


def write_release(
    conn: Connection,
    layout: Layout,
    index: int,
    advance: Callable[[int], None] = lambda n: None,
) -> SyntheticRelease:
    """Write synthetic release number ``index`` (0-based) in ``conn``'s transaction."""
    rng = np.random.default_rng([layout.seed, index])
    class_method, sed_method = _methods(conn)
    survey = _id(conn, "SELECT id FROM survey WHERE name = 'LEGUS'")
    name = f"{RELEASE_PREFIX}{index + 1:02d}"
    release_id = _insert_id(conn, "catalogue_release", {
        "name": name, "version": 1, "survey_id": survey, "pipeline_version": "synthetic",
        "status": "loading", "reader": "bench-synthetic", "reader_version": "1",
        "default_sed_method_id": sed_method, "morphology_version": "catalogue",
        "notes": "synthetic release of bench/views.py",
    })  # fmt: skip
    out = SyntheticRelease(name, release_id, [])
    pg = conn.dialect.name == "postgresql"
    if pg and layout.skip_fk_checks:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    rows = out.rows
    next_id = 1
    for g in layout.galaxies_of(index):
        galaxy, fields, filter_ids = _galaxy_rows(conn, layout, g, rng)
        out.galaxies.append(galaxy)
        n_galaxy = layout.sources_of(g)
        per_field = np.diff(np.linspace(0, n_galaxy, len(fields) + 1).astype(int))
        for (field_id, ra0, dec0), n_field in zip(fields, per_field, strict=True):
            for start in range(0, int(n_field), layout.chunk):
                n = min(layout.chunk, int(n_field) - start)
                src = source_values(rng, n, ra0, dec0, next_id)
                src["release_id"] = np.full(n, release_id, dtype=np.int64)
                src["field_id"] = np.full(n, field_id, dtype=np.int64)
                rows["source"] = rows.get("source", 0) + write_rows(conn, "source", src, n)
                ids = _source_ids(conn, release_id, field_id, next_id, next_id + n - 1)
                next_id += n
                values = measurement_values(rng, ids, filter_ids)
                values["classification"]["method_id"] = np.full(n, class_method, np.int64)
                values["sed_fit"]["method_id"] = np.full(n, sed_method, np.int64)
                for key, data in values.items():
                    table = "photometry" if key.startswith("photometry") else key
                    count = len(data["source_id"])  # type: ignore[arg-type]
                    rows[table] = rows.get(table, 0) + write_rows(conn, table, data, count)
                advance(n)
    if pg:
        conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
    writer = catalogue_entry_writer(conn)
    if writer is not None:
        out.catalogue_entries = writer(conn, release_id)
    conn.execute(
        text("UPDATE catalogue_release SET status = 'complete', completed_at = :t WHERE id = :r"),
        {"t": dt.datetime.now(dt.UTC), "r": release_id},
    )
    return out


def add_synthetic_releases(
    engine: Engine, layout: Layout, show_progress: bool = True
) -> list[SyntheticRelease]:
    """Write every synthetic release of ``layout``, one transaction each, each followed by
    the loader's ``refresh_statistics`` (ANALYZE of the loaded tables)."""
    import time

    from clustercat.ingest.loader import refresh_statistics
    from clustercat.schema.engine import write_transaction
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    done = []
    columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress, transient=True) as progress:
        task = progress.add_task("synthetic sources", total=layout.n_sources)
        for index in range(layout.n_releases):
            start = time.perf_counter()
            progress.update(task, description=f"{RELEASE_PREFIX}{index + 1:02d}")
            with write_transaction(engine) as conn:
                release = write_release(conn, layout, index, lambda n: progress.advance(task, n))
            refresh_statistics(engine)  # as the loader does after each ingest
            release.seconds = time.perf_counter() - start
            done.append(release)
    return done
