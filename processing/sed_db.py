"""SED fits of a release through the database: photometry rows in, ``sed_fit`` rows out.

The database layer over :mod:`clustercat.processing.sed_fit` (Whitmore et al. 2021 §7:
ages, masses and E(B-V) from NUV-U-B-V-I photometry and an SSP grid; Viana et al. §II for
the method's typical errors, 0.3 dex in age and 0.2 dex in mass):

1. **Read** (:func:`read_photometry`): the release's total (aperture-corrected) Vega
   magnitudes and errors per source, with each field's own filters and instruments (B is
   F435W or F438W, V F555W or F606W, on ACS/WFC or WFC3/UVIS as the catalogue says), and the
   field's galaxy distance (``galaxy.distance_mpc``; for LEGUS the Calzetti et al. 2015
   Table 1 distances the LEGUS fits used). A band is valid when its magnitude and error are
   both present (status ``measured``).
2. **Grid** (:func:`field_fit_grid`): the stored SSP grid (:mod:`~clustercat.processing.ssp_db`)
   read back from ``ssp_model`` in exactly the field's filters, reddened with CCM89,
   R_V = 3.1, on E(B-V) = 0 ... ``ebv_max`` by ``ebv_step``. Filters the model lacks are
   refused unless stand-ins are asked for (Yggdrasil: F435W for F438W, ACS for WFC3/UVIS
   V and I), and then recorded in the method.
3. **Fit** (:func:`fit_fields`): :func:`~clustercat.processing.sed_fit.fit_sed`, vectorised
   over the sources of a field in blocks (no per-source loop over the grid).
4. **Write** (:func:`fit_release`), in ONE transaction: a ``processing_run`` (module
   ``sed``, settings, code version, status), the ``sed_method`` (name and config encode
   model, Z, IMF, extinction law, floor, E(B-V) grid, SSP grid, filters and stand-ins) and
   one ``sed_fit`` row per source with at least ``min_bands`` valid bands, bulk-loaded
   through a staging table (:mod:`clustercat.ingest.bulk`). A second run of the same method
   on the same sources is refused (:class:`SedRunConflictError`): fits of a complete release
   are never replaced or deleted (the database refuses it too, revision 0011 of
   :mod:`clustercat.schema.immutability`). A refit (after a code fix, say) runs the same
   settings as a NEW method, ``label="..."`` (``process sed --label``): its name is the
   method name plus `` [label]``, its config records the label, and its fits sit beside the
   old ones; ``set_default`` then points the catalogue at it, and back again if need be.

Default SED method. ``set_default=True`` (or :func:`set_default_sed_method`) points
``catalogue_release.default_sed_method_id`` at the method, which is what the
``cluster_catalogue`` view shows as ``log_age``, ``log_mass`` and ``ebv``. This is the
**one change allowed to the metadata of a complete release**: it selects which SED rows the
view shows; no source, photometry or ``sed_fit`` row of the release changes, and setting
the old method back restores the view exactly.

Units: magnitudes Vega mag; ``log_age`` log10(yr); ``log_mass`` log10(M☉, mass formed for
the default ``formed`` grids); ``ebv`` mag; distances Mpc.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from clustercat.ingest import bulk
from clustercat.ingest.releases import code_version, lock_ingest
from clustercat.processing import catalogue_io, sed_fit, ssp_db
from clustercat.processing.extinction import R_V_DEFAULT
from clustercat.schema import (
    CatalogueRelease,
    ProcessingRun,
    SedMethod,
    write_transaction,
)
from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update

__all__ = [
    "DEFAULT_EBV_MAX",
    "DEFAULT_EBV_STEP",
    "DEFAULT_ERROR_FLOOR",
    "LABEL_PATTERN",
    "REPLACE_REFUSED",
    "FieldPhotometry",
    "FieldSummary",
    "ReleaseInfo",
    "SedConfigError",
    "SedRunConflictError",
    "SedRunSummary",
    "band_residuals",
    "check_label",
    "ensure_grid",
    "field_fit_grid",
    "fit_fields",
    "fit_release",
    "FitSettings",
    "method_config",
    "method_name",
    "read_photometry",
    "resolve_fields",
    "resolve_release",
    "set_default_sed_method",
]

log = logging.getLogger(__name__)

DEFAULT_ERROR_FLOOR = 0.05  # mag
DEFAULT_EBV_MAX = 1.5  # mag, the range of the LEGUS fits
DEFAULT_EBV_STEP = 0.01  # mag
#: PostgreSQL advisory-lock key serialising SED writers ("ClustC" + 04).
SED_LOCK_KEY = 0x436C75737443_04
_BAND_ORDER = {"NUV": 0, "U": 1, "B": 2, "V": 3, "I": 4}
#: Keys of ``sed_method.config`` that grow with each run (everything else is the identity).
_ACCUMULATED = ("filters_used", "stand_ins_used")
#: A refit's label: 1-64 characters, a letter or digit first, then letters, digits, blanks
#: and ``. _ + - : /``.
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+:/-]{0,63}")
#: Why ``replace`` is refused, and what to do instead.
REPLACE_REFUSED = (
    "--replace (replace=True) is gone: fits of a complete release are never deleted (issue "
    "13, never lose data). Refit the same settings as a new method beside the old one with "
    "--label TEXT (label='TEXT'; the method is named '<method> [TEXT]') and make it the one "
    "cluster_catalogue shows with --set-default"
)


class SedConfigError(ValueError):
    """The fit cannot be set up as asked (unknown field, no distance, filter not in grid)."""


class SedRunConflictError(RuntimeError):
    """The method already has fits for these sources (refit with a ``label``), or another
    config under its name."""


# --- names ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseInfo:
    """A complete (or superseded) release."""

    id: int
    name: str
    version: int
    status: str
    default_sed_method_id: int | None


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def resolve_release(conn: Connection, name: str, version: int | None = None) -> ReleaseInfo:
    """The newest complete version of release ``name`` (or ``version``), with its default."""
    try:
        ref = catalogue_io.resolve_release(conn, name, version)
    except catalogue_io.CatalogueLookupError as exc:
        raise SedConfigError(str(exc)) from exc
    status, default = conn.execute(
        select(CatalogueRelease.status, CatalogueRelease.default_sed_method_id).where(
            CatalogueRelease.id == ref.id
        )
    ).one()
    return ReleaseInfo(ref.id, ref.name, ref.version, str(status), default)


def resolve_fields(
    conn: Connection, release_id: int, fields: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Fields of the release (all, or those named; ``NGC628-C`` finds ``ngc628c``).

    Columns: field_id, field, galaxy, distance_mpc, distance_ref, n_sources.
    """
    frame = pd.DataFrame(
        conn.execute(
            text(
                "SELECT f.id AS field_id, f.name AS field, g.name AS galaxy, g.distance_mpc, "
                "g.distance_ref, count(*) AS n_sources FROM source s "
                "JOIN field f ON f.id = s.field_id JOIN galaxy g ON g.id = f.galaxy_id "
                "WHERE s.release_id = :r GROUP BY f.id, f.name, g.name, g.distance_mpc, "
                "g.distance_ref ORDER BY f.name"
            ),
            {"r": release_id},
        ).all(),
        columns=["field_id", "field", "galaxy", "distance_mpc", "distance_ref", "n_sources"],
    )
    if fields is None:
        return frame
    wanted = [fields] if isinstance(fields, str) else list(fields)
    keys = frame["field"].map(_norm)
    missing = [f for f in wanted if _norm(f) not in set(keys)]
    if missing:
        raise SedConfigError(
            f"release has no source in field(s) {', '.join(missing)}; its fields: "
            f"{', '.join(frame['field'])}"
        )
    return frame[keys.isin({_norm(f) for f in wanted})].reset_index(drop=True)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FieldPhotometry:
    """Total Vega magnitudes of the sources of one field of a release, one column per filter.

    ``mag`` and ``mag_err`` are (n_source, n_filter) in mag, NaN where a band is not
    measured; columns follow ``filters``/``instruments``/``bands`` (NUV, U, B, V, I order).
    """

    field_id: int
    field: str
    galaxy: str
    distance_mpc: float | None
    distance_ref: str | None
    filter_ids: tuple[int, ...]
    filters: tuple[str, ...]
    instruments: tuple[str, ...]
    bands: tuple[str, ...]
    source_id: np.ndarray
    id_in_release: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray

    @property
    def n_sources(self) -> int:
        return int(self.source_id.size)

    def n_valid(self, max_error: float | None = None) -> np.ndarray:
        """Valid bands per source: magnitude and error present (and error ≤ max_error)."""
        ok = np.isfinite(self.mag) & np.isfinite(self.mag_err)
        if max_error is not None:
            ok &= np.where(np.isfinite(self.mag_err), self.mag_err, np.inf) <= max_error
        return ok.sum(axis=1)

    @property
    def filter_labels(self) -> list[str]:
        """``["F275W WFC3/UVIS", ...]``."""
        return [f"{f} {i}" for f, i in zip(self.filters, self.instruments, strict=True)]


def read_photometry(
    conn: Connection,
    release_id: int,
    *,
    field_ids: Sequence[int] | None = None,
    fitted_by: int | None = None,
) -> list[FieldPhotometry]:
    """Per-field magnitude matrices of a release (two SELECTs, pivoted with numpy).

    ``field_ids`` restricts the fields; ``fitted_by`` (an ``sed_method.id``) keeps only the
    sources that method fitted (e.g. the LEGUS catalogue's own fits). A field's filters are
    those of its sources' total photometry rows, whatever their status.
    """
    sql = (
        "SELECT s.id, s.field_id, s.id_in_release, p.filter_id, p.mag_vega, p.mag_err "
        "FROM photometry p JOIN source s ON s.id = p.source_id "
        "WHERE s.release_id = :r AND p.kind = 'total'"
    )
    params: dict[str, Any] = {"r": release_id}
    if field_ids is not None:
        sql += " AND s.field_id IN :fields"
        params["fields"] = [int(f) for f in field_ids]
    if fitted_by is not None:
        sql += " AND EXISTS (SELECT 1 FROM sed_fit x WHERE x.source_id = s.id AND x.method_id = :m)"
        params["m"] = int(fitted_by)
    stmt = text(sql)
    if field_ids is not None:
        stmt = stmt.bindparams(bindparam("fields", expanding=True))
    # plain DBAPI tuples (numbers only, no result processing): 5x faster than Row objects
    rows = conn.execute(stmt, params).cursor.fetchall()
    if not rows:
        return []
    arr = np.array(rows, dtype=float)  # None -> NaN; ids are < 2**53, so exact
    data = pd.DataFrame(
        {
            "source_id": arr[:, 0].astype(np.int64),
            "field_id": arr[:, 1].astype(np.int64),
            "id_in_release": arr[:, 2].astype(np.int64),
            "filter_id": arr[:, 3].astype(np.int64),
            "mag": arr[:, 4],
            "err": arr[:, 5],
        }
    )
    filters = pd.DataFrame(
        conn.execute(text("SELECT id, name, instrument, band FROM filter")).all(),
        columns=["filter_id", "name", "instrument", "band"],
    ).set_index("filter_id")
    meta = resolve_fields(conn, release_id).set_index("field_id")

    out = []
    for fid, grp in data.groupby("field_id", sort=True):
        flt = filters.loc[np.unique(grp["filter_id"].to_numpy())]
        flt = flt.assign(order=flt["band"].map(_BAND_ORDER)).sort_values(["order", "name"])
        if flt["name"].duplicated().any():
            raise SedConfigError(
                f"field {meta.loc[fid, 'field']} has a filter name on two instruments: "
                f"{flt['name'].tolist()} / {flt['instrument'].tolist()}"
            )
        col_of = pd.Series(np.arange(len(flt)), index=flt.index)
        src, row = np.unique(grp["source_id"].to_numpy(), return_inverse=True)
        col = col_of.loc[grp["filter_id"].to_numpy()].to_numpy()
        mag = np.full((src.size, len(flt)), np.nan)
        err = np.full_like(mag, np.nan)
        mag[row, col] = grp["mag"].to_numpy()
        err[row, col] = grp["err"].to_numpy()
        idr = np.zeros(src.size, dtype=np.int64)
        idr[row] = grp["id_in_release"].to_numpy(dtype=np.int64)
        m = meta.loc[fid]
        dist = None if pd.isna(m["distance_mpc"]) else float(m["distance_mpc"])
        out.append(
            FieldPhotometry(
                field_id=int(fid),
                field=str(m["field"]),
                galaxy=str(m["galaxy"]),
                distance_mpc=dist,
                distance_ref=None if pd.isna(m["distance_ref"]) else str(m["distance_ref"]),
                filter_ids=tuple(int(i) for i in flt.index),
                filters=tuple(flt["name"]),
                instruments=tuple(flt["instrument"]),
                bands=tuple(flt["band"]),
                source_id=src.astype(np.int64),
                id_in_release=idr,
                mag=mag,
                mag_err=err,
            )
        )
    return out


# --- grids ----------------------------------------------------------------------------------


def ensure_grid(
    engine: Engine, model: str, metallicity: float = 0.02, *, name: str | None = None
) -> ssp_db.StoredGrid:
    """The stored grid of (model, Z) or ``name``; synthesised and stored first if absent."""
    with engine.connect() as conn:
        try:
            return ssp_db.find_grid(conn, name or (model, metallicity))
        except ssp_db.SspGridNotFoundError:
            if name is not None and name != ssp_db.default_grid_name(model, metallicity):
                raise
    with write_transaction(engine) as conn:
        parts, _ = ssp_db.synthesize_grid(model, ssp_db.db_filters(conn), metallicity)
        grid_id = ssp_db.store_grid(conn, parts, name=name)
        log.info("stored SSP grid %s (id %d)", name or (model, metallicity), grid_id)
        return ssp_db.find_grid(conn, grid_id)


_FIT_GRID_CACHE: OrderedDict[tuple, tuple[sed_fit.FitGrid, dict[str, str]]] = OrderedDict()
_FIT_GRID_CACHE_SIZE = 32


def field_fit_grid(
    conn: Connection,
    grid: ssp_db.StoredGrid,
    filters: Sequence[tuple[str, str]],
    *,
    stand_ins: bool = False,
    ebv_max: float = DEFAULT_EBV_MAX,
    ebv_step: float = DEFAULT_EBV_STEP,
) -> tuple[sed_fit.FitGrid, dict[str, str]]:
    """The reddened fitting grid of a stored SSP grid in exactly these (name, instrument).

    Returns (FitGrid, stand-ins used). Cached in-process on the grid's content SHA-256, the
    filters and the E(B-V) grid, so a re-run does not redo the effective extinction.
    """
    key = (grid.content_sha256 or grid.id, tuple(filters), stand_ins, ebv_max, ebv_step)
    if key in _FIT_GRID_CACHE:
        _FIT_GRID_CACHE.move_to_end(key)
        return _FIT_GRID_CACHE[key]
    base = ssp_db.load_grid(conn, grid, list(filters), stand_ins=stand_ins, with_sed=True)
    fg = sed_fit.build_fit_grid(base, ebv_max=ebv_max, ebv_step=ebv_step)
    value = (fg, dict(base.provenance.get("stand_ins", {})))
    _FIT_GRID_CACHE[key] = value
    while len(_FIT_GRID_CACHE) > _FIT_GRID_CACHE_SIZE:
        _FIT_GRID_CACHE.popitem(last=False)
    return value


# --- fitting --------------------------------------------------------------------------------


def band_residuals(
    fp: FieldPhotometry,
    grid: sed_fit.FitGrid,
    fit: pd.DataFrame,
    *,
    error_floor: float = DEFAULT_ERROR_FLOOR,
    max_error: float | None = None,
) -> np.ndarray:
    """Signed residuals (m - model)/σ per band at the best node, (n_source, n_filter).

    σ = max(error, floor); NaN for bands not used and sources not fitted. Their squares sum
    to the fit's χ² (magnitude space).
    """
    fitted = np.isfinite(fit["log_age_yr"].to_numpy())
    ia = np.searchsorted(grid.log_age, fit["log_age_yr"].to_numpy()[fitted])
    ie = np.searchsorted(grid.ebv, fit["ebv_mag"].to_numpy()[fitted])
    out = np.full(fp.mag.shape, np.nan)
    model = grid.mag[ia, ie]  # (n_fitted, n_filter), columns in fp order (same filters)
    mu = sed_fit.distance_modulus(fp.distance_mpc * u.Mpc)
    offset = -2.5 * fit["log_mass_msun"].to_numpy()[fitted]
    mag, err = fp.mag[fitted], fp.mag_err[fitted]
    ok = np.isfinite(mag) & np.isfinite(err)
    if max_error is not None:
        ok &= np.where(np.isfinite(err), err, np.inf) <= max_error
    sigma = np.maximum(np.where(ok, err, 1.0), error_floor)
    res = (mag - mu - model - offset[:, None]) / sigma
    out[fitted] = np.where(ok, res, np.nan)
    return out


def fit_fields(
    fields: Sequence[FieldPhotometry],
    grids: dict[int, sed_fit.FitGrid],
    *,
    error_floor: float = DEFAULT_ERROR_FLOOR,
    max_error: float | None = None,
    min_bands: int = 3,
    chunk_size: int | None = None,
    residuals: bool = True,
) -> pd.DataFrame:
    """Fit every source of every field (vectorised per field); one row per source.

    ``grids`` maps field_id to the field's :class:`~sed_fit.FitGrid` (filters in the
    field's column order). Columns: source_id, field_id, id_in_release, the
    :data:`~sed_fit.FIT_COLUMNS` and, with ``residuals``, ``band_residuals`` (JSON text of
    {band label: residual} for the bands used, None when not fitted).
    """
    frames = []
    for fp in fields:
        grid = grids[fp.field_id]
        if grid.filters != fp.filters or grid.instruments != fp.instruments:
            raise ValueError(f"grid filters {grid.filters} do not match field {fp.field}")
        if fp.distance_mpc is None:
            raise SedConfigError(f"field {fp.field} ({fp.galaxy}): the galaxy has no distance")
        res = sed_fit.fit_sed(
            fp.mag,
            fp.mag_err,
            grid,
            distance=fp.distance_mpc * u.Mpc,
            error_floor=error_floor,
            max_error=max_error,
            min_bands=min_bands,
            chunk_size=chunk_size,
        )
        res.insert(0, "id_in_release", fp.id_in_release)
        res.insert(0, "field_id", fp.field_id)
        res.insert(0, "source_id", fp.source_id)
        if residuals:
            r = np.round(
                band_residuals(fp, grid, res, error_floor=error_floor, max_error=max_error), 5
            )
            res["band_residuals"] = [
                json.dumps({b: v for b, v in zip(fp.bands, row.tolist(), strict=True) if v == v})
                if ok
                else None
                for row, ok in zip(r, np.isfinite(res["log_age_yr"].to_numpy()), strict=True)
            ]
        frames.append(res)
    if not frames:
        return pd.DataFrame(
            columns=["source_id", "field_id", "id_in_release", *sed_fit.FIT_COLUMNS]
        )
    return pd.concat(frames, ignore_index=True)


# --- the method -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FitSettings:
    """The fit settings that, with the grid, identify an SED method (name and config)."""

    error_floor: float = DEFAULT_ERROR_FLOOR
    ebv_max: float = DEFAULT_EBV_MAX
    ebv_step: float = DEFAULT_EBV_STEP
    max_error: float | None = None
    min_bands: int = 3
    stand_ins: bool = False
    #: a refit's label (``process sed --label``): the same settings as a new method
    label: str | None = None


def check_label(label: str | None) -> str | None:
    """``label`` stripped, or :class:`SedConfigError` unless it matches :data:`LABEL_PATTERN`."""
    if label is None:
        return None
    text_ = label.strip()
    if not LABEL_PATTERN.fullmatch(text_):
        raise SedConfigError(
            f"label {label!r}: 1-64 characters, a letter or digit first, then letters, "
            "digits, blanks and . _ + - : /"
        )
    return text_


def method_name(grid: ssp_db.StoredGrid, settings: FitSettings = FitSettings()) -> str:
    """``clustercat chi2 Yggdrasil Z=0.02 floor=0.05 E(B-V)=0-1.5/0.01 grid=...`` (plus
    `` [label]`` for a labelled refit)."""
    parts = [
        f"clustercat chi2 {grid.model_name}",
        f"Z={grid.metallicity:g}",
        f"floor={settings.error_floor:g}",
        f"E(B-V)=0-{settings.ebv_max:g}/{settings.ebv_step:g}",
    ]
    if settings.max_error is not None:
        parts.append(f"max_err={settings.max_error:g}")
    if settings.min_bands != 3:
        parts.append(f"min_bands={settings.min_bands}")
    if settings.stand_ins:
        parts.append("stand-ins")
    parts.append(f"grid={grid.name}")
    if settings.label is not None:
        parts.append(f"[{settings.label}]")
    return " ".join(parts)


def method_config(grid: ssp_db.StoredGrid, settings: FitSettings = FitSettings()) -> dict:
    """The identity of an SED method (JSON for ``sed_method.config``)."""
    allowed = (
        {f"{w[0]} {w[1]}": f"{s[0]} {s[1]} (AB, converted with the {w[0]} offset)"
         for w, s in ssp_db.STAND_INS.items()}
        if settings.stand_ins else {}
    )  # fmt: skip
    labelled = {} if settings.label is None else {"label": settings.label}
    return {
        "code": "clustercat.processing.sed_fit.fit_sed (vectorised chi2 grid fit)",
        **labelled,
        "ssp_model": grid.model_name,
        "ssp_grid": grid.name,
        "ssp_grid_sha256": grid.content_sha256,
        "ssp_source_sha256": grid.provenance.get("source_sha256"),
        "metallicity_z": grid.metallicity,
        "imf": grid.imf,
        "mass_definition": grid.mass_definition,
        "extinction_law": "CCM89",
        "r_v": R_V_DEFAULT,
        "extinction": "effective CCM89 extinction integrated through each filter on the SSP "
        "spectrum (Yggdrasil: BC03 Z=0.02 proxy spectrum)",
        "ebv_min_mag": 0.0,
        "ebv_max_mag": float(settings.ebv_max),
        "ebv_step_mag": float(settings.ebv_step),
        "error_floor_mag": float(settings.error_floor),
        "max_error_mag": None if settings.max_error is None else float(settings.max_error),
        "min_bands": int(settings.min_bands),
        "space": "mag",
        "n_free_params": 3,
        "best_value": "minimum-chi2 node",
        "bounds": "16th and 84th percentiles of the marginal likelihood (flat in log age and "
        "E(B-V)) -> *_min and *_max",
        "photometry": "total (aperture-corrected) Vega magnitudes of the release, status "
        "measured, magnitude and error present",
        "distance": "galaxy.distance_mpc of each source's field",
        "filters": "each field's own filters and instruments, fitted with a grid of exactly "
        "those (see filters_used)",
        "stand_ins_allowed": allowed,
        "f435w_for_f438w": bool(settings.stand_ins),
    }


def _method_identity(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _ACCUMULATED}


def _ensure_method(
    conn: Connection, name: str, config: dict[str, Any], grid: ssp_db.StoredGrid
) -> int:
    row = conn.execute(select(SedMethod.id, SedMethod.config).where(SedMethod.name == name)).first()
    if row is not None:
        if _method_identity(row.config or {}) != _method_identity(config):
            raise SedRunConflictError(
                f"SED method {name!r} exists with other settings (e.g. another grid content); "
                "fit under a new method name with --label TEXT (label='TEXT')"
            )
        return int(row.id)
    return int(
        conn.execute(
            insert(SedMethod)
            .values(
                name=name,
                code="clustercat",
                ssp_model=grid.model_name,
                ssp_grid_id=grid.id,
                imf=grid.imf,
                metallicity=grid.metallicity,
                extinction_law=f"CCM89 R_V={R_V_DEFAULT:g}",
                config={**config, "filters_used": [], "stand_ins_used": {}},
                description=(
                    f"chi2 fit of {grid.model_name} Z={grid.metallicity:g} SSPs reddened by "
                    f"CCM89 (R_V={R_V_DEFAULT:g}) to total Vega magnitudes, "
                    f"{config['error_floor_mag']:g} mag error floor (Whitmore et al. 2021 §7; "
                    "Adamo et al. 2017)"
                    + (f"; refit labelled {config['label']!r}" if config.get("label") else "")
                ),
            )
            .returning(SedMethod.id)
        ).scalar_one()
    )


# --- the run --------------------------------------------------------------------------------


@dataclass
class FieldSummary:
    """What one field contributed to a run."""

    field: str
    galaxy: str
    distance_mpc: float
    distance_ref: str | None
    filters: list[str]
    stand_ins: dict[str, str]
    n_sources: int
    n_fitted: int


@dataclass
class SedRunSummary:
    """What :func:`fit_release` did (for the CLI report and the run's config)."""

    release: str
    release_version: int
    release_id: int
    model: str
    grid: str
    method: str
    method_id: int | None = None
    run_id: int | None = None
    fields: list[FieldSummary] = field(default_factory=list)
    default_set: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_sources(self) -> int:
        return sum(f.n_sources for f in self.fields)

    @property
    def n_fitted(self) -> int:
        return sum(f.n_fitted for f in self.fields)

    @property
    def fit_rate(self) -> float:
        """Sources fitted per second of fitting (vectorised χ², one core)."""
        return self.n_fitted / max(self.seconds.get("fit", 0.0), 1e-9)


def _selection_sql(field_ids: Sequence[int] | None) -> str:
    sql = "SELECT id FROM source WHERE release_id = :r"
    if field_ids is not None:
        sql += " AND field_id IN :fields"
    return sql


def _count_existing(
    conn: Connection, method_id: int, release_id: int, field_ids: Sequence[int] | None
) -> int:
    stmt = text(
        f"SELECT count(*) FROM sed_fit WHERE method_id = :m AND source_id IN "
        f"({_selection_sql(field_ids)})"
    )
    params: dict[str, Any] = {"m": method_id, "r": release_id}
    if field_ids is not None:
        stmt = stmt.bindparams(bindparam("fields", expanding=True))
        params["fields"] = list(field_ids)
    return int(conn.execute(stmt, params).scalar_one())


def _rerun_refused(name: str, n: int, rel: ReleaseInfo, selected: bool) -> SedRunConflictError:
    return SedRunConflictError(
        f"method {name!r} already has {n} fits of release {rel.name} v{rel.version}"
        f"{' in the selected fields' if selected else ''}; fits of a complete release are "
        "never replaced or deleted: refit the same settings as a new method beside them with "
        "--label TEXT (label='TEXT') and choose it with --set-default"
    )


_FIT_VALUES = ("log_age", "log_age_min", "log_age_max", "log_mass", "log_mass_min",
               "log_mass_max", "ebv", "ebv_min", "ebv_max", "chi2", "reduced_chi2", "q_prob",
               "n_bands")  # fmt: skip
#: Staging table of a run's fits: keyed by the catalogue id like every bulk load.
SED_RUN_STAGE = bulk.StageSpec(
    name="stage_sed_run",
    target="sed_fit",
    columns=(*((c, "int" if c == "n_bands" else "float") for c in _FIT_VALUES),
             ("band_residuals", "json")),
    insert_columns=("source_id", "method_id", "run_id", *_FIT_VALUES, "band_residuals"),
    select=("s.id", ":method_id", ":run_id", *(f"st.{c}" for c in _FIT_VALUES),
            "st.band_residuals"),
)  # fmt: skip


def _stage_rows(fits: pd.DataFrame) -> list[tuple]:
    frame = pd.DataFrame(
        {
            "field_id": fits["field_id"].astype("int64"),
            "id_in_release": fits["id_in_release"].astype("int64"),
            "log_age": fits["log_age_yr"],
            "log_age_min": fits["log_age_yr_p16"],
            "log_age_max": fits["log_age_yr_p84"],
            "log_mass": fits["log_mass_msun"],
            "log_mass_min": fits["log_mass_msun_p16"],
            "log_mass_max": fits["log_mass_msun_p84"],
            "ebv": fits["ebv_mag"],
            "ebv_min": fits["ebv_mag_p16"],
            "ebv_max": fits["ebv_mag_p84"],
            "chi2": fits["chi2"],
            "reduced_chi2": fits["chi2_red"],
            "q_prob": fits["q_prob"],
            "n_bands": fits["n_bands"].astype("int64"),
            "band_residuals": fits["band_residuals"],
        }
    )
    return bulk.frame_rows(frame, [n for n, _ in SED_RUN_STAGE.stage_columns])


def _record_failed_run(engine: Engine, release_id: int, config: dict, error: str) -> None:
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                insert(ProcessingRun).values(
                    module="sed",
                    release_id=release_id,
                    status="failed",
                    config={**config, "error": error[:2000]},
                    code_version=code_version(),
                    finished_at=dt.datetime.now(dt.UTC),
                )
            )
    except Exception:  # noqa: BLE001 - the original error matters more
        log.exception("could not record the failed SED run")


def fit_release(
    engine: Engine,
    release: str,
    model: str,
    *,
    field: str | Sequence[str] | None = None,
    metallicity: float = 0.02,
    grid: str | None = None,
    error_floor: float = DEFAULT_ERROR_FLOOR,
    ebv_max: float = DEFAULT_EBV_MAX,
    ebv_step: float = DEFAULT_EBV_STEP,
    max_error: float | None = None,
    min_bands: int = 3,
    stand_ins: bool = False,
    set_default: bool = False,
    label: str | None = None,
    replace: bool = False,
    version: int | None = None,
    chunk_size: int | None = None,
) -> SedRunSummary:
    """Fit the sources of a release (or of some fields) and store the fits (module docstring).

    Parameters
    ----------
    release, version : release name (newest complete version unless ``version``).
    model : ``"bc03"`` or ``"yggdrasil"``; ``metallicity`` Z (Yggdrasil: 0.02 only);
        ``grid`` a stored grid name instead of the default for (model, Z). A missing default
        grid is synthesised and stored first (its own transaction, idempotent).
    field : field name(s) to fit (default: every field of the release).
    error_floor : minimum magnitude error (mag). ``max_error``: bands with larger errors are
        not used (default: every valid band). ``min_bands``: fewest valid bands fitted (3).
    ebv_max, ebv_step : E(B-V) grid (mag).
    stand_ins : let :data:`~clustercat.processing.ssp_db.STAND_INS` stand in for filters the
        model lacks (recorded in the method's name and config).
    set_default : make this the release's default SED method (shown by cluster_catalogue).
    label : run the same settings as a new method named ``<method> [label]`` (a refit beside
        the existing fits; see :data:`LABEL_PATTERN`). A second run of a method that already
        has fits of the selected sources raises :class:`SedRunConflictError`.
    replace : refused (:data:`REPLACE_REFUSED`): fits of a complete release are never
        deleted; kept so that old callers get that explanation.

    Raises :class:`SedConfigError` (nothing written) for ``replace``, a bad label, unknown
    names, a field without distance, or a filter the grid lacks.
    """
    if replace:
        raise SedConfigError(REPLACE_REFUSED)
    label = check_label(label)
    t0 = time.perf_counter()
    stored = ensure_grid(engine, model, metallicity, name=grid)
    if stored.model != model.strip().lower():
        raise SedConfigError(f"grid {stored.name} is a {stored.model_name} grid, not {model}")
    clock = {"ssp_grid": time.perf_counter() - t0, "start": time.perf_counter()}
    settings = FitSettings(
        error_floor, ebv_max, ebv_step, max_error, min_bands, stand_ins, label=label
    )
    name = method_name(stored, settings)
    config = method_config(stored, settings)

    with engine.connect() as conn:
        rel = resolve_release(conn, release, version)
        selected = resolve_fields(conn, rel.id, field)
        field_ids = None if field is None else [int(i) for i in selected["field_id"]]
        photometry = read_photometry(conn, rel.id, field_ids=field_ids)
        clock["read"] = time.perf_counter()
        no_distance = [fp.field for fp in photometry if fp.distance_mpc is None]
        if no_distance:
            raise SedConfigError(f"no galaxy distance for field(s) {', '.join(no_distance)}")
        method_row = conn.execute(select(SedMethod.id).where(SedMethod.name == name)).scalar()
        if method_row is not None:
            n = _count_existing(conn, method_row, rel.id, field_ids)
            if n:
                raise _rerun_refused(name, n, rel, field is not None)
        grids, used = {}, {}
        for fp in photometry:
            pairs = list(zip(fp.filters, fp.instruments, strict=True))
            try:
                grids[fp.field_id], used[fp.field_id] = field_fit_grid(
                    conn, stored, pairs, stand_ins=stand_ins, ebv_max=ebv_max, ebv_step=ebv_step
                )
            except KeyError as exc:
                raise SedConfigError(f"field {fp.field}: {exc.args[0]}") from exc
    clock["grid"] = time.perf_counter()
    fits = fit_fields(
        photometry,
        grids,
        error_floor=error_floor,
        max_error=max_error,
        min_bands=min_bands,
        chunk_size=chunk_size,
    )
    fits = fits[np.isfinite(fits["log_age_yr"].to_numpy(dtype=float))]
    clock["fit"] = time.perf_counter()

    summary = SedRunSummary(rel.name, rel.version, rel.id, stored.model_name, stored.name, name)
    n_fit = fits.groupby("field_id").size()
    for fp in photometry:
        summary.fields.append(
            FieldSummary(
                field=fp.field,
                galaxy=fp.galaxy,
                distance_mpc=float(fp.distance_mpc or 0.0),
                distance_ref=fp.distance_ref,
                filters=fp.filter_labels,
                stand_ins=used[fp.field_id],
                n_sources=fp.n_sources,
                n_fitted=int(n_fit.get(fp.field_id, 0)),
            )
        )
    run_config = {
        "model": stored.model_name,
        "ssp_grid": stored.name,
        "method": name,
        "release": rel.name,
        "release_version": rel.version,
        "fields": [asdict(f) for f in summary.fields],
        "selection": "all fields" if field is None else "fields " + ",".join(selected["field"]),
        "options": {**asdict(settings), "set_default": set_default},
    }
    try:
        with write_transaction(engine) as conn:
            lock_ingest(conn, SED_LOCK_KEY)
            status = conn.execute(
                select(CatalogueRelease.status).where(CatalogueRelease.id == rel.id)
            ).scalar_one()
            if status not in ("complete", "superseded"):
                raise SedConfigError(f"release {rel.name} v{rel.version} is {status}")
            method_id = _ensure_method(conn, name, config, stored)
            existing = _count_existing(conn, method_id, rel.id, field_ids)
            if existing:  # another run got there first
                raise _rerun_refused(name, existing, rel, field is not None)
            run_id = conn.execute(
                insert(ProcessingRun)
                .values(
                    module="sed",
                    release_id=rel.id,
                    status="running",
                    config=run_config,
                    code_version=code_version(),
                    # the clock (and precision) of catalogue_release.completed_at, so that
                    # runs order correctly against the release's completion
                    started_at=dt.datetime.now(dt.UTC),
                )
                .returning(ProcessingRun.id)
            ).scalar_one()
            params = {"source_release_id": rel.id, "method_id": method_id, "run_id": run_id}
            bulk.load_through_stage(conn, SED_RUN_STAGE, _stage_rows(fits), params)
            method_cfg = (
                conn.execute(select(SedMethod.config).where(SedMethod.id == method_id)).scalar_one()
                or {}
            )
            filters_used = set(method_cfg.get("filters_used", []))
            stand_ins_used = dict(method_cfg.get("stand_ins_used", {}))
            for f in summary.fields:
                filters_used.update(f.filters)
                stand_ins_used.update(f.stand_ins)
            new_cfg = {
                **method_cfg,
                "filters_used": sorted(filters_used),
                "stand_ins_used": stand_ins_used,
            }
            conn.execute(update(SedMethod).where(SedMethod.id == method_id).values(config=new_cfg))
            if set_default:
                conn.execute(
                    update(CatalogueRelease)
                    .where(CatalogueRelease.id == rel.id)
                    .values(default_sed_method_id=method_id)
                )
                summary.default_set = True
            clock["write"] = time.perf_counter()
            summary.seconds = {
                "ssp_grid": clock["ssp_grid"],
                "read": clock["read"] - clock["start"],
                "grid": clock["grid"] - clock["read"],
                "fit": clock["fit"] - clock["grid"],
                "write": clock["write"] - clock["fit"],
            }
            run_config["n_fitted"] = summary.n_fitted
            run_config["seconds"] = {k: round(v, 3) for k, v in summary.seconds.items()}
            conn.execute(
                update(ProcessingRun)
                .where(ProcessingRun.id == run_id)
                .values(status="complete", config=run_config, finished_at=dt.datetime.now(dt.UTC))
            )
            summary.method_id, summary.run_id = method_id, int(run_id)
    except (SedRunConflictError, SedConfigError):
        raise
    except Exception as exc:
        _record_failed_run(engine, rel.id, run_config, f"{type(exc).__name__}: {exc}")
        raise
    return summary


def set_default_sed_method(
    engine: Engine, release: str, method: str | int, *, version: int | None = None
) -> tuple[int | None, int]:
    """Point a release's ``default_sed_method_id`` at ``method`` (name or id).

    The one change allowed to a complete release's metadata: it picks the SED rows the
    ``cluster_catalogue`` view shows; no data row changes. The method must have fits of the
    release. Returns (previous method id, new method id).
    """
    with write_transaction(engine) as conn:
        rel = resolve_release(conn, release, version)
        where = SedMethod.id == method if isinstance(method, int) else SedMethod.name == method
        method_id = conn.execute(select(SedMethod.id).where(where)).scalar()
        if method_id is None:
            raise SedConfigError(f"no SED method {method!r}")
        n = _count_existing(conn, method_id, rel.id, None)
        if n == 0:
            raise SedConfigError(f"SED method {method!r} has no fits of release {rel.name}")
        conn.execute(
            update(CatalogueRelease)
            .where(CatalogueRelease.id == rel.id)
            .values(default_sed_method_id=method_id)
        )
    return rel.default_sed_method_id, int(method_id)
