"""Reader for published machine-readable tables (AAS MRT) through astropy's ``ascii.mrt``.

Two tables are known (data/README.md "tables/"); the table is recognised by its column labels:

* ``whitmore2020_ngc4449_clusters_mrt.txt`` (Whitmore et al. 2020, ApJ 889, 154), NGC 4449:
  id, x, y, RA, Dec; F275W, F336W, F435W, F555W, F658N, F814W Vega magnitudes in a **5-pixel
  aperture, not aperture-corrected and not corrected for Milky-Way extinction** (their note 2;
  ``photometry.aperture_px = 5``, ``mw_ext_corrected = False``; 99.999 = "no data available"
  -> status ``no_coverage``); CI; number of filters; cluster category 1-3 (method
  "Whitmore+2020 category", quality 1 good / 2 poor); H-alpha morphology 1-4; two sets of age,
  mass, E(B-V): the recommended "H-alpha-LEGUS" fits and the LEGUS v1 values they quote; the
  "Added" flag (-> ``selection_flag``). F658N is not one of the five bands: it is kept as the
  extra ``sources`` columns ``mag_f658n``, ``mag_err_f658n``; ``Nfilt`` as ``n_filters``.
* ``chandar2016_m51_clusters_mrt.txt`` (Chandar et al. 2016, ApJ 824, 71), M51 = NGC 5194:
  id, x, y, RA, Dec (already shifted onto the WCS by the authors, their note 1), log age,
  log mass (-999 = NULL, their note 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table
from clustercat.ingest.contract import (
    BANDS,
    CI_INVALID_THRESHOLD,
    CLASSIFICATION_COLUMNS,
    MAG_ERR_MAX,
    MAG_RANGE,
    MORPHOLOGY_COLUMNS,
    PHOTOMETRY_COLUMNS,
    REPORT_KEYS,
    SED_COLUMNS,
    SOURCE_COLUMNS,
    CatalogueTables,
    ClassificationMethodSpec,
    SedMethodSpec,
    SourceFlag,
    coerce_frame,
    empty_frame,
)
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.galaxies import UnknownGalaxyError, canonical_galaxy
from clustercat.ingest.legus import read_text, split_lines

READER_VERSION = "1.0"
NULL_999 = -999.0

WHITMORE_CATEGORY = ClassificationMethodSpec(
    name="Whitmore+2020 category",
    kind="human",
    description="NGC 4449 cluster category of Whitmore et al. 2020 (1 symmetric, 2 asymmetric, "
    "3 compact association); quality 1 = good, 2 = poor (their scale, not the LEGUS 1-3).",
    reference="Whitmore et al. 2020, ApJ 889, 154",
)
WHITMORE_HA_SED = SedMethodSpec(
    name="Whitmore+2020 H-alpha-LEGUS",
    code="H-alpha-LEGUS SED fit (Whitmore et al. 2020)",
    ssp_model="not stated in the MRT (see Whitmore et al. 2020)",
    imf=None,
    metallicity=None,
    extinction_law=None,
    description="Recommended ages, masses and E(B-V) of Whitmore et al. 2020 (fits including "
    "H-alpha); distance modulus 28.17 mag (4.31 Mpc), average aperture correction -0.87 mag.",
)
WHITMORE_V1_SED = SedMethodSpec(
    name="LEGUS v1 as quoted by Whitmore+2020",
    code="LEGUS SED fit (Adamo et al. 2017)",
    ssp_model="not stated in the MRT (LEGUS v1 models)",
    imf=None,
    metallicity=None,
    extinction_law=None,
    description="Best-fit LEGUS version-1 age, mass and E(B-V) quoted in Whitmore et al. 2020 "
    "(their note 7: 'may change with subsequent catalog releases').",
)
CHANDAR_SED = SedMethodSpec(
    name="Chandar+2016 M51",
    code="Chandar et al. SED fit",
    ssp_model="not stated in the MRT (see Chandar et al. 2016)",
    imf=None,
    metallicity=None,
    extinction_law=None,
    description="Log age and log mass of 3800+ M51 clusters from Chandar et al. 2016 (ApJ 824, "
    "71); -999 = NULL. No bounds or fit statistics in the table.",
)


@dataclass(frozen=True)
class _Kind:
    name: str
    survey: str
    galaxy: str
    labels: frozenset[str]
    build: Callable[..., dict]


def read_mrt(
    path: str | Path, *, galaxy: str | None = None, field: str | None = None
) -> CatalogueTables:
    """Read one of the known published MRT tables into validated tables."""
    path = Path(path)
    text = read_text(path)
    lines = split_lines(text)
    try:
        table = Table.read(text, format="ascii.mrt")
    except Exception as exc:  # astropy raises many types for malformed MRT files
        raise CatalogueFormatError(path, None, None, f"not a readable MRT table ({exc})") from exc
    labels = set(table.colnames)
    kind = next((k for k in _KINDS if k.labels <= labels), None)
    if kind is None:
        raise CatalogueFormatError(
            path, None, None, f"unrecognised MRT table (labels {sorted(labels)[:8]} ...)"
        )
    try:
        gal, gal_field = canonical_galaxy(galaxy or kind.galaxy)
    except UnknownGalaxyError as exc:
        raise CatalogueFormatError(path, None, None, str(exc)) from exc
    first = _first_data_line(lines)
    line_no = np.arange(first, first + len(table), dtype=np.int64)
    report: dict[str, int] = dict.fromkeys(REPORT_KEYS, 0) | {"rows": len(table)}

    id_label = "Cluster" if "Cluster" in labels else "ID"
    ids_f = _column(table, id_label)
    bad = np.flatnonzero(~np.isfinite(ids_f) | (ids_f != np.round(ids_f)) | (ids_f < 1))
    if bad.size:
        raise CatalogueFormatError(path, int(line_no[bad[0]]), id_label, "id must be >= 1")
    ids = ids_f.astype(np.int64)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CatalogueFormatError(path, int(line_no[i]), id_label, f"duplicate id {ids[i]}")
    ra, dec = _column(table, "RAdeg"), _column(table, "DEdeg")
    for arr, label, lo, hi in ((ra, "RAdeg", 0, 360), (dec, "DEdeg", -90, 90)):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < lo) | (arr > hi) | (arr == 360))
        if bad.size:
            i = int(bad[0])
            raise CatalogueFormatError(
                path, int(line_no[i]), label, f"{float(arr[i]):g} deg out of range"
            )
    sources = pd.DataFrame(
        {
            "id_in_release": ids,
            "line": line_no,
            "x": _column(table, "Xpix"),
            "y": _column(table, "Ypix"),
            "ra": ra,
            "dec": dec,
            "flags": np.zeros(len(ids), dtype=np.int64),
        }
    )
    _check_values(path, table, line_no)
    parts = kind.build(table, sources, ids, report)
    sed_methods: list[SedMethodSpec] = parts.get("sed_methods", [])
    methods: list[ClassificationMethodSpec] = parts.get("methods", [])
    return CatalogueTables(
        survey=kind.survey,
        galaxy=gal,
        field=(field or gal_field).lower(),
        filters=parts.get("filters", {}),
        instruments=parts.get("instruments", {}),
        reader="mrt",
        reader_version=READER_VERSION,
        layout=None,
        source_path=path,
        sources=coerce_frame(sources, SOURCE_COLUMNS),
        photometry=parts.get("photometry", empty_frame(PHOTOMETRY_COLUMNS)),
        morphology=parts.get("morphology", empty_frame(MORPHOLOGY_COLUMNS)),
        classifications=parts.get("classifications", empty_frame(CLASSIFICATION_COLUMNS)),
        classification_methods=methods,
        sed_fits=parts.get("sed_fits", empty_frame(SED_COLUMNS)),
        sed_method=sed_methods[0] if sed_methods else None,
        report=report,
        primary_method=methods[0].name if methods else None,
        filter_confidence=dict.fromkeys(parts.get("filters", {}), "high"),
        instrument_confidence=dict.fromkeys(parts.get("instruments", {}), "high"),
        sed_methods=sed_methods,
        notes=[f"MRT table kind: {kind.name}"],
    )


def _check_values(path: Path, table: Table, line_no: np.ndarray) -> None:
    """Refuse impossible values by the unit of their column, naming line and label.

    Magnitudes (``<filter>mag``) outside :data:`MAG_RANGE`, magnitude errors (``e_...mag``)
    outside [0, :data:`MAG_ERR_MAX`], negative masses (solMass) and log ages (dex(yr))
    outside [4, 11] other than the -999 null of Chandar et al. 2016 (their note 2).
    """
    for label in table.colnames:
        unit = str(table[label].unit)
        if unit not in ("mag", "solMass", "dex(yr)") or label in ("CI",) or "E(B-V)" in label:
            continue
        v = _column(table, label)
        fin = np.isfinite(v)
        if unit == "mag" and label.startswith("e_"):
            bad, why = fin & ((v < 0) | (v > MAG_ERR_MAX)), f"error outside [0, {MAG_ERR_MAX:g}]"
        elif unit == "mag":
            lo, hi = MAG_RANGE
            bad, why = fin & ((v <= lo) | (v >= hi)), f"magnitude outside ({lo:g}, {hi:g})"
        elif unit == "solMass":
            bad, why = fin & (v < 0), "a mass cannot be negative"
        else:
            bad, why = fin & (v != NULL_999) & ((v < 4) | (v > 11)), "log age outside [4, 11]"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CatalogueFormatError(path, int(line_no[i]), label, f"{float(v[i]):g}: {why}")


def _first_data_line(lines: pd.Series) -> int:
    """1-based line of the first data row: after the last ``----``/``====`` separator."""
    sep = lines.str.match(r"^\s*[-=]{20,}\s*$").to_numpy(dtype=bool)
    return int(lines.index[np.flatnonzero(sep)[-1]]) + 1 if sep.any() else 1


def _column(table: Table, label: str) -> np.ndarray:
    """Numeric column as float64, masked (MRT ``?=`` null) entries as NaN."""
    return np.ma.filled(np.ma.asarray(table[label]).astype(np.float64), np.nan)


def _masked(table: Table, label: str) -> np.ndarray:
    return np.ma.getmaskarray(np.ma.asarray(table[label]))


def _int16(values: np.ndarray, ok: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.where(ok, values, 0).astype(np.int16), mask=~ok)


def _sed_frame(
    ids: np.ndarray,
    method: SedMethodSpec,
    log_age: np.ndarray,
    mass_log: np.ndarray,
    ebv: np.ndarray,
    report: dict[str, int],
) -> pd.DataFrame:
    fitted = np.isfinite(log_age)
    report["sed_unfitted"] += int((~fitted).sum())
    k = int(fitted.sum())
    return pd.DataFrame(
        {
            "id_in_release": ids[fitted],
            "method": method.name,
            "log_age": log_age[fitted],
            "log_mass": mass_log[fitted],
            "ebv": ebv[fitted],
            "chi2_residuals": pd.Series([{} for _ in range(k)], dtype=object),
        }
    )


def _whitmore2020(
    table: Table, sources: pd.DataFrame, ids: np.ndarray, report: dict[str, int]
) -> dict:
    n = len(ids)
    filters = {"NUV": "F275W", "U": "F336W", "B": "F435W", "V": "F555W", "I": "F814W"}
    # cameras as named in the table's byte-by-byte description
    wfc3, acs = "WFC3/UVIS", "ACS/WFC"
    instruments = {"NUV": wfc3, "U": wfc3, "B": acs, "V": acs, "I": acs}
    flags = np.zeros(n, dtype=np.int64)
    parts = []
    for band in BANDS:
        f = filters[band]
        mag, err = _column(table, f"{f}mag"), _column(table, f"e_{f}mag")
        null_m, null_e = _masked(table, f"{f}mag"), _masked(table, f"e_{f}mag")
        report["sentinel_99999"] += int(null_m.sum() + null_e.sum())
        flags |= np.where(null_m, int(SourceFlag.PHOT_NO_COVERAGE), 0)
        flags |= np.where(~null_m & null_e, int(SourceFlag.PHOT_ERR_UNDEFINED), 0)
        parts.append(
            pd.DataFrame(
                {
                    "id_in_release": ids,
                    "band": band,
                    "filter": f,
                    "mag_vega": np.where(null_m, np.nan, mag),
                    "mag_err": np.where(null_m | null_e, np.nan, err),
                    "status": np.where(null_m, "no_coverage", "measured").astype(object),
                    "aperture_px": 5.0,
                    "mw_ext_corrected": False,
                }
            )
        )
    order = np.argsort(np.tile(np.arange(n), len(BANDS)), kind="stable")
    photometry = pd.concat(parts, ignore_index=True).iloc[order]
    ha_null = _masked(table, "F658Nmag")
    report["sentinel_99999"] += int(ha_null.sum() + _masked(table, "e_F658Nmag").sum())
    sources["mag_f658n"] = _column(table, "F658Nmag")
    sources["mag_err_f658n"] = _column(table, "e_F658Nmag")
    sources["n_filters"] = pd.array(_column(table, "Nfilt").astype(np.int16), dtype="Int16")
    added = _column(table, "Added")
    sources["selection_flag"] = _int16(added, np.isfinite(added))
    morph = _column(table, "morph")
    ok = np.isin(morph, (1, 2, 3, 4))
    report["halpha_unset"] = int((~ok).sum())
    sources["halpha_morph"] = _int16(morph, ok)

    ci = _column(table, "CI")
    ci_bad = ~np.isfinite(ci) | (ci >= CI_INVALID_THRESHOLD)
    report["ci_invalid"] = int(ci_bad.sum())
    flags |= np.where(ci_bad, int(SourceFlag.CI_INVALID), 0)
    morphology = pd.DataFrame(
        {
            "id_in_release": ids,
            "ci": np.where(ci_bad, np.nan, ci),
            "ci_flag": np.where(ci_bad, "invalid", "ok").astype(object),
        }
    )

    cat = _column(table, "Category")
    valid = np.isin(cat, (1, 2, 3, 4))
    report["class_zero"] += int((cat == 0).sum())
    report["class_out_of_scheme"] += int((~valid & (cat != 0)).sum())
    flags |= np.where(~valid & (cat != 0), int(SourceFlag.CLASS_OUT_OF_SCHEME), 0)
    qual = _column(table, "Qual")[valid]
    qok = np.isin(qual, (1, 2, 3))
    report["quality_unset"] = int((~qok).sum())
    classifications = pd.DataFrame(
        {
            "id_in_release": ids[valid],
            "method": WHITMORE_CATEGORY.name,
            "cluster_class": _int16(cat[valid], np.ones(int(valid.sum()), dtype=bool)),
            "quality": _int16(qual, qok),
        }
    )

    seds = []
    for method, age_l, mass_l, ebv_l in (
        (WHITMORE_HA_SED, "logAge", "Mass", "E(B-V)"),
        (WHITMORE_V1_SED, "logAge-v1", "Mass-v1", "E(B-V)-v1"),
    ):
        log_age, mass, ebv = _column(table, age_l), _column(table, mass_l), _column(table, ebv_l)
        bad = np.isfinite(log_age) & ~(mass > 0)
        report["sed_value_invalid"] = report.get("sed_value_invalid", 0) + int(bad.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            log_mass = np.where(mass > 0, np.log10(np.where(mass > 0, mass, 1.0)), np.nan)
        seds.append(_sed_frame(ids, method, log_age, log_mass, ebv, report))
    sources["flags"] = sources["flags"].to_numpy() | flags
    return {
        "filters": filters,
        "instruments": instruments,
        "photometry": coerce_frame(photometry, PHOTOMETRY_COLUMNS),
        "morphology": coerce_frame(morphology, MORPHOLOGY_COLUMNS),
        "classifications": coerce_frame(classifications, CLASSIFICATION_COLUMNS),
        "methods": [WHITMORE_CATEGORY],
        "sed_fits": coerce_frame(pd.concat(seds, ignore_index=True), SED_COLUMNS),
        "sed_methods": [WHITMORE_HA_SED, WHITMORE_V1_SED],
    }


def _chandar2016(
    table: Table, sources: pd.DataFrame, ids: np.ndarray, report: dict[str, int]
) -> dict:
    log_age, log_mass = _column(table, "logA"), _column(table, "logM")
    null_a, null_m = log_age == NULL_999, log_mass == NULL_999
    report["sentinel_999"] = int(null_a.sum() + null_m.sum())
    log_age = np.where(null_a, np.nan, log_age)
    log_mass = np.where(null_m, np.nan, log_mass)
    sources["flags"] = np.where(np.isnan(log_age), int(SourceFlag.SED_UNFITTED), 0)
    sed = _sed_frame(ids, CHANDAR_SED, log_age, log_mass, np.full(len(ids), np.nan), report)
    return {"sed_fits": coerce_frame(sed, SED_COLUMNS), "sed_methods": [CHANDAR_SED]}


_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "Whitmore et al. 2020, NGC 4449 clusters",
        "Whitmore et al. 2020",
        "NGC 4449",
        frozenset({"Cluster", "RAdeg", "DEdeg", "F555Wmag", "Category", "Qual", "morph"}),
        _whitmore2020,
    ),
    _Kind(
        "Chandar et al. 2016, M51 clusters",
        "Chandar et al. 2016",
        "M51",
        frozenset({"ID", "Xpix", "Ypix", "RAdeg", "DEdeg", "logA", "logM"}),
        _chandar2016,
    ),
)
