"""Bulk loading through staging tables: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

Every table of a release is loaded the same way (the pattern of sdssdb's COPY loaders and
specprod-db's ``load.py``):

1. create a temporary staging table shaped like the reader's frame, keyed by the
   catalogue's own ``(field_id, id_in_release)`` rather than by database ids;
2. fill it: ``COPY ... FROM STDIN`` (psycopg 3) on PostgreSQL, one ``executemany`` on SQLite;
3. ``INSERT INTO target SELECT ... FROM stage JOIN source`` resolves the database ids in
   one set-based statement and lets the constraints of the target table check every row;
4. drop the staging table.

All of it happens inside the caller's transaction, so a failure anywhere leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

#: Column types of staging tables, per backend.
_TYPES = {
    "int": ("bigint", "INTEGER"),
    "float": ("double precision", "REAL"),
    "text": ("text", "TEXT"),
    "bool": ("boolean", "INTEGER"),
    "json": ("jsonb", "TEXT"),
}


@dataclass(frozen=True)
class StageSpec:
    """A staging table and the INSERT ... SELECT that moves its rows into ``target``.

    ``columns`` are (name, type) with type one of int, float, text, bool, json. The staging
    table always starts with the catalogue key ``field_id``, ``id_in_release``.
    ``insert_columns`` are the target's columns; ``select`` the matching expressions over
    ``st`` (the stage) and, when ``join_source``, ``s`` (the source row the key names).
    """

    name: str
    target: str
    columns: tuple[tuple[str, str], ...]
    insert_columns: tuple[str, ...]
    select: tuple[str, ...]
    join_source: bool = True

    @property
    def stage_columns(self) -> tuple[tuple[str, str], ...]:
        return (("field_id", "int"), ("id_in_release", "int")) + self.columns


def _stage_ddl(conn: Connection, spec: StageSpec) -> str:
    pg = conn.dialect.name == "postgresql"
    cols = ", ".join(f'"{n}" {_TYPES[t][0 if pg else 1]}' for n, t in spec.stage_columns)
    suffix = " ON COMMIT DROP" if pg else ""
    return f"CREATE TEMPORARY TABLE {spec.name} ({cols}){suffix}"


def frame_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """Rows of ``frame[columns]`` as tuples of plain Python values, ``None`` for missing."""
    if len(frame) == 0:
        return []
    sub = frame.loc[:, list(columns)]
    out = []
    for name in columns:
        col = sub[name]
        mask = col.isna().to_numpy()
        if pd.api.types.is_bool_dtype(col.dtype) and not mask.any():
            values = col.to_numpy(dtype=bool).tolist()
        elif pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            values = col.astype(object).to_numpy().tolist()
            values = [
                None if m else (bool(v) if isinstance(v, np.bool_ | bool) else int(v))
                for v, m in zip(values, mask, strict=True)
            ]
        elif pd.api.types.is_float_dtype(col.dtype):
            arr = col.to_numpy(dtype=float, na_value=np.nan)
            values = arr.tolist()
            if mask.any():
                values = [None if m else v for v, m in zip(values, mask, strict=True)]
        else:
            values = [None if m else v for v, m in zip(col.tolist(), mask, strict=True)]
        out.append(values)
    return list(zip(*out, strict=True))


def fill_stage(conn: Connection, spec: StageSpec, rows: Iterable[tuple]) -> int:
    """Create the staging table of ``spec`` and fill it with ``rows``; returns the row count."""
    conn.exec_driver_sql(_stage_ddl(conn, spec))
    names = [n for n, _ in spec.stage_columns]
    n = 0
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        quoted = ", ".join(f'"{c}"' for c in names)
        with cursor.copy(f"COPY {spec.name} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    else:
        rows = list(rows)
        placeholders = ", ".join("?" for _ in names)
        quoted = ", ".join(f'"{c}"' for c in names)
        cursor = conn.connection.driver_connection.cursor()
        cursor.executemany(f"INSERT INTO {spec.name} ({quoted}) VALUES ({placeholders})", rows)
        n = len(rows)
    return n


def move_stage(conn: Connection, spec: StageSpec, params: dict) -> int:
    """INSERT the staged rows into the target table; returns the number of rows inserted."""
    columns = ", ".join(spec.insert_columns)
    select = ", ".join(spec.select)
    if spec.join_source:
        sql = (
            f"INSERT INTO {spec.target} ({columns}) SELECT {select} FROM {spec.name} st "
            "JOIN source s ON s.release_id = :source_release_id "
            "AND s.field_id = st.field_id AND s.id_in_release = st.id_in_release"
        )
    else:
        sql = f"INSERT INTO {spec.target} ({columns}) SELECT {select} FROM {spec.name} st"
    result = conn.execute(text(sql), params)
    return result.rowcount


def drop_stage(conn: Connection, spec: StageSpec) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {spec.name}")


def load_through_stage(
    conn: Connection, spec: StageSpec, rows: Iterable[tuple], params: dict
) -> tuple[int, int]:
    """Stage ``rows`` and move them into the target: returns (rows staged, rows inserted).

    Raises ``ValueError`` when some staged rows found no source to attach to.
    """
    staged = fill_stage(conn, spec, rows)
    inserted = move_stage(conn, spec, params) if staged else 0
    drop_stage(conn, spec)
    if inserted != staged:
        raise ValueError(
            f"{spec.target}: {staged - inserted} of {staged} staged rows match no source "
            "of the release"
        )
    return staged, inserted


# --- the staging tables of a catalogue release ---------------------------------------

SOURCE_STAGE = StageSpec(
    name="stage_source",
    target="source",
    columns=(
        ("ra", "float"), ("dec", "float"), ("x", "float"), ("y", "float"),
        ("x_mosaic", "float"), ("y_mosaic", "float"), ("selection_flag", "int"),
        ("halpha_morph", "int"), ("cc_class", "text"), ("flags", "int"),
    ),
    insert_columns=(
        "release_id", "field_id", "id_in_release", "ra", "dec", "x", "y", "x_mosaic",
        "y_mosaic", "selection_flag", "halpha_morph", "cc_class", "flags",
    ),
    select=(
        ":release_id", "st.field_id", "st.id_in_release", "st.ra", "st.dec", "st.x", "st.y",
        "st.x_mosaic", "st.y_mosaic", "st.selection_flag", "st.halpha_morph", "st.cc_class",
        "st.flags",
    ),
    join_source=False,
)  # fmt: skip

_PHOT_VALUES = ("kind", "radius_px", "status", "mag_vega", "mag_err", "flux_mjy", "flux_err_mjy",
                "mw_extinction_corrected", "sky_median", "sky_std",
                "aperture_correction_mag")  # fmt: skip
#: ``run_id`` of measured rows: the loader's ``:run_id`` parameter, the ``processing_run`` it
#: wrote for the release (the image pipeline), NULL for published catalogues.
_RUN_ID = "CAST(:run_id AS BIGINT)"
PHOTOMETRY_STAGE = StageSpec(
    name="stage_photometry",
    target="photometry",
    columns=(
        ("filter_id", "int"), ("kind", "text"), ("radius_px", "float"), ("status", "text"),
        ("mag_vega", "float"), ("mag_err", "float"), ("flux_mjy", "float"),
        ("flux_err_mjy", "float"), ("mw_extinction_corrected", "bool"),
        ("sky_median", "float"), ("sky_std", "float"), ("aperture_correction_mag", "float"),
    ),
    insert_columns=("source_id", "filter_id", *_PHOT_VALUES, "run_id"),
    select=("s.id", "st.filter_id", *(f"st.{c}" for c in _PHOT_VALUES), _RUN_ID),
)  # fmt: skip

_MORPH_VALUES = ("constants_version", "filter_id", "ci", "ci_err", "nci", "mci_in",
                 "mci_in_err", "mci_out", "mci_out_err")  # fmt: skip
MORPHOLOGY_STAGE = StageSpec(
    name="stage_morphology",
    target="morphology",
    columns=(
        ("constants_version", "text"), ("filter_id", "int"), ("ci", "float"),
        ("ci_err", "float"), ("nci", "float"), ("mci_in", "float"), ("mci_in_err", "float"),
        ("mci_out", "float"), ("mci_out_err", "float"),
    ),
    insert_columns=("source_id", *_MORPH_VALUES, "run_id"),
    select=("s.id", *(f"st.{c}" for c in _MORPH_VALUES), _RUN_ID),
)  # fmt: skip

_SELECTION_VALUES = ("constants_version", "distance_mpc", "passes_general",
                     "passes_morph_quality", "in_semi_empirical", "super_hd", "is_double",
                     "candidate", "v_snr", "abs_mag_v")  # fmt: skip
SELECTION_STAGE = StageSpec(
    name="stage_source_selection",
    target="source_selection",
    columns=(
        ("constants_version", "text"), ("distance_mpc", "float"), ("passes_general", "bool"),
        ("passes_morph_quality", "bool"), ("in_semi_empirical", "bool"), ("super_hd", "bool"),
        ("is_double", "bool"), ("candidate", "bool"), ("v_snr", "float"),
        ("abs_mag_v", "float"),
    ),
    insert_columns=("source_id", *_SELECTION_VALUES, "run_id"),
    select=("s.id", *(f"st.{c}" for c in _SELECTION_VALUES), _RUN_ID),
)  # fmt: skip

_CLASS_VALUES = ("method_id", "cluster_class", "subclass", "score", "quality", "method_flag",
                 "p_class1", "p_class2", "p_class3", "p_class4")  # fmt: skip
CLASSIFICATION_STAGE = StageSpec(
    name="stage_classification",
    target="classification",
    columns=(
        ("method_id", "int"), ("cluster_class", "int"), ("subclass", "int"), ("score", "float"),
        ("quality", "int"), ("method_flag", "int"), ("p_class1", "float"),
        ("p_class2", "float"), ("p_class3", "float"), ("p_class4", "float"),
    ),
    insert_columns=("source_id", "release_id", *_CLASS_VALUES),
    select=("s.id", ":delivering_release_id", *(f"st.{c}" for c in _CLASS_VALUES)),
)  # fmt: skip

_SED_VALUES = ("method_id", "log_age", "log_age_min", "log_age_max", "log_mass",
               "log_mass_min", "log_mass_max", "ebv", "ebv_min", "ebv_max", "reduced_chi2",
               "q_prob", "n_bands")  # fmt: skip
SED_STAGE = StageSpec(
    name="stage_sed_fit",
    target="sed_fit",
    columns=(
        ("method_id", "int"), ("log_age", "float"), ("log_age_min", "float"),
        ("log_age_max", "float"), ("log_mass", "float"), ("log_mass_min", "float"),
        ("log_mass_max", "float"), ("ebv", "float"), ("ebv_min", "float"), ("ebv_max", "float"),
        ("reduced_chi2", "float"), ("q_prob", "float"), ("n_bands", "int"),
        ("band_residuals", "json"),
    ),
    insert_columns=("source_id", *_SED_VALUES, "band_residuals"),
    select=("s.id", *(f"st.{c}" for c in _SED_VALUES), "st.band_residuals"),
)  # fmt: skip
