"""Reading one source: everything the collaborator views hold about it, in one record.

The one reader of a single source, shared by the command line, SQL users and the dashboard's
source page. :func:`read_source` reads only the documented ``_all`` views (so a source of a
superseded release version reads as well as one of the newest):

* ``cluster_catalogue_all``: the source's row (release and version, galaxy, field, id,
  RA/Dec, x/y, the five total magnitudes, CI, MCI, the default SED fit, the filters);
* ``source_photometry_all``: every filter x aperture row and the aperture-corrected totals,
  with errors, status, radius, filter, instrument, band and pivot wavelength;
* ``source_classes_all``: its class under every method (scores, ML probabilities);
* ``sed_results_all``: every SED method's fit (age, mass, E(B-V) with bounds, chi2, the
  method's assumptions, which one is the release's default);
* ``crossmatch_pairs_all``: the stored cross-match pairs it takes part in;

and the image registry (:func:`clustercat.processing.images_db.list_images`, metadata no
view holds) for the images of its field, so that stamps can be cut. Columns keep the views'
names and units (README "Collaborator views": RA/Dec deg, x/y pix, magnitudes Vega mag,
fluxes mJy, ``log_age`` log10 yr, ``log_mass`` log10 Msun, E(B-V) mag).

:func:`read_sed_grid` finds the SSP grid of an SED method in the source's own filters, for
:func:`clustercat.processing.sed_model.model_magnitudes` (``sed_method`` is metadata no view
holds: its grid id and configuration are read from the table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from clustercat.schema.views import CURRENT_VIEW_COMMENTS
from sqlalchemy import Connection, Engine

from .catalogue_io import connect, read_frame
from .images_db import ALL_BANDS, ImageRecord, list_images

__all__ = [
    "SOURCE_VIEWS",
    "SedGrid",
    "SedModel",
    "SourceRecord",
    "population_query",
    "read_population",
    "read_sed_grid",
    "read_source",
    "sed_models",
    "source_query",
    "view_columns",
]

#: The views :func:`read_source` reads, by the part of the record they fill.
SOURCE_VIEWS: dict[str, str] = {
    "catalogue": "cluster_catalogue_all",
    "photometry": "source_photometry_all",
    "classes": "source_classes_all",
    "sed": "sed_results_all",
    "crossmatch": "crossmatch_pairs_all",
}

_ORDER = {
    "photometry": "pivot_wavelength_aa, filter, aperture_kind, radius_px, photometry_pk",
    "classes": "method, method_version, delivered_by",
    "sed": "is_default DESC, method",
    "crossmatch": "run_id, pair_pk",
}


def view_columns(view: str) -> list[str]:
    """The documented columns of ``view``, in view order (``CURRENT_VIEW_COMMENTS``)."""
    return list(CURRENT_VIEW_COMMENTS[view][1])


def _select(view: str, where: str, order: str | None = None) -> str:
    columns = ", ".join(f'v."{c}"' for c in view_columns(view))
    return f"SELECT {columns}\nFROM {view} v\nWHERE {where}" + (
        f"\nORDER BY {order}" if order else ""
    )


def source_query(part: str, source_pk: int, where: str = "") -> tuple[str, dict[str, object]]:
    """The SELECT :func:`read_source` runs for one part of the record (a key of
    :data:`SOURCE_VIEWS`): every documented column of the view for the source, in the
    record's order; ``where`` adds a condition on the view's columns (alias ``v``). Returns
    ``(sql, params)`` with the one parameter ``:source_pk``, for a figure's download."""
    if part == "crossmatch":
        condition = "(v.source_pk_a = :source_pk OR v.source_pk_b = :source_pk)"
    else:
        condition = "v.source_pk = :source_pk"
    condition += f" AND {where}" if where else ""
    return _select(SOURCE_VIEWS[part], condition, _ORDER.get(part)), {"source_pk": int(source_pk)}


def population_query(
    release_ids: Sequence[int],
    columns: Sequence[str],
    *,
    galaxy: str | None = None,
    field: str | None = None,
    not_null: Sequence[str] = (),
    brightest: int | None = None,
) -> tuple[str, dict[str, object]]:
    """``cluster_catalogue_all`` rows (``columns``, ``source_pk`` first) of the releases, in
    ``galaxy`` / ``field``, with ``not_null`` columns present, by ``source_pk``: the
    population a source is drawn against; with ``brightest``, only that many, the brightest
    in V first (ties by ``source_pk``). Scalar parameters (``:release_id_0``, ...)."""
    known = set(view_columns(SOURCE_VIEWS["catalogue"]))
    names = list(dict.fromkeys(["source_pk", *columns]))
    unknown = (set(names) | set(not_null)) - known
    if unknown:
        raise ValueError(f"cluster_catalogue_all has no column(s) {sorted(unknown)}")
    params: dict[str, object] = {}
    ids = []
    for i, rid in enumerate(release_ids):
        params[f"release_id_{i}"] = int(rid)
        ids.append(f":release_id_{i}")
    conditions = [f"v.release_id IN ({', '.join(ids) or 'NULL'})"]
    if galaxy is not None:
        conditions.append("v.galaxy = :galaxy")
        params["galaxy"] = galaxy
    if field is not None:
        conditions.append("v.field = :field")
        params["field"] = field
    conditions += [f"v.{c} IS NOT NULL" for c in not_null]
    order = "v.source_pk"
    if brightest is not None:
        conditions.append("v.mag_v IS NOT NULL")
        order = f"v.mag_v, v.source_pk\nLIMIT {int(brightest)}"
    sql = (
        f"SELECT {', '.join(f'v.{c}' for c in names)}\nFROM {SOURCE_VIEWS['catalogue']} v\n"
        f"WHERE {' AND '.join(conditions)}\nORDER BY {order}"
    )
    return sql, params


def read_population(
    bind: Engine | Connection,
    release_ids: Sequence[int],
    columns: Sequence[str],
    *,
    galaxy: str | None = None,
    field: str | None = None,
    not_null: Sequence[str] = (),
    brightest: int | None = None,
) -> pd.DataFrame:
    """The rows of :func:`population_query`, typed as the view documents them."""
    sql, params = population_query(
        release_ids, columns, galaxy=galaxy, field=field, not_null=not_null, brightest=brightest
    )
    frame = read_frame(bind, sql, params)
    if frame.empty:
        frame = pd.DataFrame(columns=list(dict.fromkeys(["source_pk", *columns])))
    return _typed(frame.drop_duplicates("source_pk"), SOURCE_VIEWS["catalogue"]).reset_index(
        drop=True
    )


def _typed(frame: pd.DataFrame, view: str) -> pd.DataFrame:
    """The view's kinds of value as column types: floats for quantities with a unit, nullable
    integers for keys/ids/codes/counts, nullable booleans, strings for text (so that a frame
    never holds an object column of mixed types)."""
    out = frame.copy()
    for name, comment in CURRENT_VIEW_COMMENTS[view][1].items():
        if name not in out.columns:
            continue
        kind = comment.rsplit("(", 1)[-1].rstrip(")").strip()
        if kind in ("key", "id", "code", "count"):
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("Int64")
        elif kind == "boolean":
            out[name] = out[name].map(lambda v: pd.NA if v is None or pd.isna(v) else bool(v))
            out[name] = out[name].astype("boolean")
        elif kind == "text":
            out[name] = out[name].astype("string")
        else:  # a unit, "dimensionless" or "probability"
            out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    return out


@dataclass(frozen=True)
class SourceRecord:
    """One source as the views show it (see the module docstring; columns as in the views).

    ``catalogue`` is its ``cluster_catalogue_all`` row; ``photometry``, ``classes``,
    ``sed`` and ``crossmatch`` its rows of ``source_photometry_all``, ``source_classes_all``,
    ``sed_results_all`` and ``crossmatch_pairs_all``; ``images`` the newest registered image
    of each band of its field (band label -> record; empty when none is registered).
    """

    source_pk: int
    catalogue: pd.Series
    photometry: pd.DataFrame
    classes: pd.DataFrame
    sed: pd.DataFrame
    crossmatch: pd.DataFrame
    images: dict[str, ImageRecord] = field(default_factory=dict)

    def _value(self, name: str) -> Any:
        value = self.catalogue.get(name)
        return None if value is None or pd.isna(value) else value

    @property
    def release(self) -> str:
        return str(self.catalogue["release"])

    @property
    def release_id(self) -> int:
        return int(self.catalogue["release_id"])

    @property
    def release_version(self) -> int:
        return int(self.catalogue["release_version"])

    @property
    def release_label(self) -> str:
        """``name vN``, as the dashboard names releases."""
        return f"{self.release} v{self.release_version}"

    @property
    def galaxy(self) -> str:
        return str(self.catalogue["galaxy"])

    @property
    def field(self) -> str:
        return str(self.catalogue["field"])

    @property
    def source_id(self) -> int:
        return int(self.catalogue["source_id"])

    def number(self, name: str) -> float | None:
        """A numeric catalogue value (``mag_v``, ``ci``, ``distance_mpc``...), None if NULL."""
        value = self._value(name)
        return None if value is None else float(value)

    def text(self, name: str) -> str | None:
        """A text catalogue value (``filter_v``...), None if NULL."""
        value = self._value(name)
        return None if value is None else str(value)

    @property
    def totals(self) -> pd.DataFrame:
        """The aperture-corrected total magnitudes (``aperture_kind = 'total'``), by
        wavelength."""
        p = self.photometry
        return p[p["aperture_kind"] == "total"].reset_index(drop=True)

    @property
    def apertures(self) -> pd.DataFrame:
        """The aperture magnitudes (``aperture_kind = 'aperture'``), by band and radius."""
        p = self.photometry
        return p[p["aperture_kind"] == "aperture"].reset_index(drop=True)

    @property
    def default_sed(self) -> pd.Series | None:
        """The fit of the release's default SED method, None without one."""
        rows = self.sed[self.sed["is_default"].fillna(False).astype(bool)]
        return None if rows.empty else rows.iloc[0]


def read_source(bind: Engine | Connection, source_pk: int) -> SourceRecord | None:
    """Everything the views hold about the source ``source_pk`` (``source.id``), or None when
    no visible release (complete or superseded) holds it. Five short SELECTs by key, and one
    look-up of the field's images."""
    pk = int(source_pk)
    with connect(bind) as conn:
        row = read_frame(conn, *source_query("catalogue", pk))
        if row.empty:
            return None
        parts = {
            part: _typed(read_frame(conn, *source_query(part, pk)), view)
            for part, view in SOURCE_VIEWS.items()
            if part != "catalogue"
        }
        images = _field_images(conn, str(row["field"].iloc[0]))
    catalogue = _typed(row.drop_duplicates("source_pk"), SOURCE_VIEWS["catalogue"]).iloc[0]
    return SourceRecord(
        source_pk=pk,
        catalogue=catalogue,
        photometry=parts["photometry"],
        classes=parts["classes"],
        sed=parts["sed"],
        crossmatch=parts["crossmatch"],
        images=images,
    )


def _field_images(conn: Connection, field_name: str) -> dict[str, ImageRecord]:
    """Band -> the newest registered image of the field, in NUV, U, B, V, I order."""
    newest: dict[str, ImageRecord] = {}
    for record in list_images(conn, field_name):
        if record.band not in newest or record.id > newest[record.band].id:
            newest[record.band] = record
    order = {b: k for k, b in enumerate(ALL_BANDS)}
    return dict(sorted(newest.items(), key=lambda kv: order.get(kv[0], 99)))


# --- the SSP grid of an SED method -------------------------------------------------------


@dataclass(frozen=True)
class SedGrid:
    """The SSP grid of an SED method in a source's filters (an
    :class:`~clustercat.processing.ssp.SSPGrid` with its SED), or None and ``reason``; ``note``
    says where the grid came from."""

    grid: Any | None
    note: str = ""
    reason: str = ""
    #: the method's error floor (mag; ``config["error_floor_mag"]``), 0 when it names none
    error_floor: float = 0.0


def _json(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def read_sed_grid(
    bind: Engine | Connection, method_id: int, filters: Sequence[tuple[str, str]]
) -> SedGrid:
    """The SSP grid the SED method ``method_id`` fitted with, in ``filters`` ((name,
    instrument) pairs, in plotting order), with the SSP spectrum for the effective extinction.

    * A ``clustercat sed`` method names its stored grid (``sed_method.ssp_grid_id``): that
      grid, with the stand-ins its configuration allowed (``f435w_for_f438w``).
    * A method imported from a catalogue names its model in words. LEGUS's
      (``ssp_model`` "Yggdrasil ...", Adamo et al. 2017) is the Yggdrasil table of the shared
      data (``ssp.yggdrasil_grid``): F435W stands in for F438W, F555W and F814W are the
      table's ACS/WFC curves, and the mass is the mass in living stars when the method says
      so (the LEGUS fits: :mod:`clustercat.ingest.legus_layouts`). A BC03 method gets the
      installed BC03 grid of its metallicity.
    * Anything else (or a grid file that is not installed) gives ``grid=None`` and the
      reason in words.
    """
    with connect(bind) as conn:
        found = read_frame(
            conn,
            "SELECT m.name, m.ssp_model, m.ssp_grid_id, m.metallicity, m.config, "
            "m.description FROM sed_method m WHERE m.id = :m",
            {"m": int(method_id)},
        )
        if found.empty:
            return SedGrid(None, reason=f"no SED method with id {int(method_id)}")
        method = found.iloc[0]
        config = _json(method["config"])
        wanted = [(str(n), str(i)) for n, i in filters]
        if not wanted:
            return SedGrid(None, reason="the source has no measured total magnitude")
        grid_id = method["ssp_grid_id"]
        if grid_id is not None and not pd.isna(grid_id):
            found = _stored_grid(conn, int(grid_id), wanted, config)
        else:
            found = _named_grid(method, config, wanted)
    floor = config.get("error_floor_mag")
    return replace(found, error_floor=float(floor)) if floor else found


def _stored_grid(
    conn: Connection, grid_id: int, filters: list[tuple[str, str]], config: dict
) -> SedGrid:
    from . import ssp_db

    try:
        grid = ssp_db.load_grid(
            conn, grid_id, filters, stand_ins=bool(config.get("f435w_for_f438w")),
            with_sed=True,
        )  # fmt: skip
    except (KeyError, LookupError, ValueError, FileNotFoundError) as exc:
        return SedGrid(None, reason=f"its stored SSP grid (id {grid_id}) cannot be used: {exc}")
    name = grid.provenance.get("ssp_grid_name", grid_id)
    return SedGrid(grid, note=f"stored SSP grid {name} ({grid.model}, {grid.mass_definition} "
                   "mass)")  # fmt: skip


def _named_grid(method: pd.Series, config: dict, filters: list[tuple[str, str]]) -> SedGrid:
    from . import ssp

    model = str(method["ssp_model"] or "")
    description = str(method["description"] or "")
    names = [n for n, _ in filters]
    mass = config.get("mass_definition") or (
        "living" if re.search(r"living stars|mstars", description, re.IGNORECASE) else "formed"
    )
    try:
        if re.match(r"\s*yggdrasil", model, re.IGNORECASE):
            path = ssp.yggdrasil_path()
            if not path.exists():
                return SedGrid(None, reason=f"the Yggdrasil table {path} is not installed")
            grid = ssp.yggdrasil_grid(names, f435w_for_f438w=True, mass_definition=mass)
            other = [
                f"{n} {i}" for (n, i), j in zip(filters, grid.instruments, strict=True)
                if n != "F438W" and i != j
            ]  # fmt: skip
            note = (
                f"Yggdrasil table of the shared data (Z = 0.02, Kroupa), mass {mass}"
                + ("; F435W standing in for F438W" if "F438W" in names else "")
                + (f"; the table's ACS/WFC curves for {', '.join(other)}" if other else "")
            )
        elif re.match(r"\s*bc03", model, re.IGNORECASE):
            z = float(method["metallicity"]) if method["metallicity"] is not None else 0.02
            grid = ssp.bc03_grid(names, metallicity=z, mass_definition=mass)
            note = f"installed BC03 grid (Z = {z:g}), mass {mass}"
        else:
            return SedGrid(
                None,
                reason=f"the method names no SSP grid ClusterCat holds (SSP model: "
                f"{model or 'not stated'}, no stored grid)",
            )
    except (KeyError, ValueError, FileNotFoundError) as exc:
        return SedGrid(None, reason=f"its SSP grid cannot be built in these filters: {exc}")
    if grid.sed_flux is None:
        return SedGrid(
            None, reason="the BC03 spectra needed for the effective extinction are not installed"
        )
    return SedGrid(grid, note=note)


# --- model magnitudes of the source's fits ------------------------------------------------


@dataclass(frozen=True)
class SedModel:
    """One SED fit of a source drawn as magnitudes: ``points`` are its measured totals
    (``source_photometry_all`` columns) with ``mag_model`` (the fit's apparent Vega magnitude
    in that filter, mag) and ``residual`` (measured - model, mag); None with ``reason`` when
    the fit cannot be drawn. ``chi2``: sum of ((measured - model) / max(error, floor))^2 over
    the points with an error, ``error_floor`` the method's (0 when it names none): for a
    ``clustercat sed`` fit this is the stored χ² (the model is exact at the grid's nodes)."""

    method_id: int
    method: str
    is_default: bool
    points: pd.DataFrame | None
    note: str = ""
    reason: str = ""
    chi2: float | None = None
    error_floor: float = 0.0


def sed_models(bind: Engine | Connection, record: SourceRecord) -> list[SedModel]:
    """Every SED fit of the source as model magnitudes in its measured filters
    (:func:`clustercat.processing.sed_model.model_magnitudes` with :func:`read_sed_grid`),
    at the galaxy's distance (``distance_mpc``), in ``record.sed`` order."""
    import astropy.units as u

    from .sed_model import extinction_law_is_modelled, model_magnitudes

    totals = record.totals
    measured = totals[(totals["status"] == "measured") & totals["mag_vega"].notna()]
    measured = measured.reset_index(drop=True)
    filters = list(zip(measured["filter"], measured["instrument"], strict=True))
    distance = record.number("distance_mpc")
    out = []
    for fit in record.sed.itertuples(index=False):  # one per SED method: a few
        default = False if pd.isna(fit.is_default) else bool(fit.is_default)
        common = {"method_id": int(fit.method_id), "method": str(fit.method), "is_default": default}
        values = (fit.log_age, fit.log_mass, fit.ebv)
        if any(v is None or pd.isna(v) for v in values):
            out.append(SedModel(**common, points=None, reason="the fit has no age, mass and "
                                "E(B-V) (not fitted)"))  # fmt: skip
            continue
        if distance is None:
            out.append(SedModel(**common, points=None, reason="the galaxy has no distance"))
            continue
        found = read_sed_grid(bind, int(fit.method_id), filters)
        if found.grid is None:
            out.append(SedModel(**common, points=None, reason=found.reason))
            continue
        try:
            model = model_magnitudes(found.grid, float(fit.log_age), float(fit.log_mass),
                                     float(fit.ebv), distance=distance * u.Mpc)  # fmt: skip
        except ValueError as exc:
            out.append(SedModel(**common, points=None, reason=str(exc)))
            continue
        points = measured.assign(mag_model=model["mag_model"].to_numpy(dtype=float))
        points["residual"] = points["mag_vega"] - points["mag_model"]
        err = points["mag_err"].to_numpy(dtype=float)
        ok = err > 0
        sigma = np.maximum(err[ok], found.error_floor)
        chi2 = float(((points["residual"].to_numpy(dtype=float)[ok] / sigma) ** 2).sum())
        note = found.note
        if not extinction_law_is_modelled(fit.extinction_law):
            note += (f"; CCM89 extinction drawn, the fit used "
                     f"{fit.extinction_law or 'an unstated law'}")  # fmt: skip
        out.append(SedModel(**common, points=points, note=note, chi2=chi2 if ok.any() else None,
                            error_floor=found.error_floor))  # fmt: skip
    return out
