"""Reader for PHANGS-HST DR4 cluster catalogues (FITS binary tables).

Format: data/README.md, "PHANGS-HST catalogue format". One table per galaxy, classification
(human, ML) and class group (class12, class3, candidates); columns ``ID_PHANGS_*``,
``PHANGS_X/Y`` (pix), ``PHANGS_RA/DEC`` (deg), ``PHANGS_CLUSTER_CLASS_HUMAN``,
``PHANGS_CLUSTER_CLASS_ML_VGG`` and ``..._QUAL`` (fraction of the 10 VGG models agreeing),
``PHANGS_<F>_VEGA`` / ``_VEGA_ERR`` (mag; -9999 = no coverage), ``PHANGS_<F>_mJy`` /
``_mJy_ERR`` or ``_mJy_TOT_ERR`` (mJy), ``PHANGS_NON_DETECTION_FLAG``,
``PHANGS_NO_COVERAGE_FLAG``, ``PHANGS_CI`` (mag), ``CC_CLASS`` and, in later releases,
``PHANGS_SED_AGE`` (Myr), ``PHANGS_SED_MASS`` (Msun), ``PHANGS_SED_AV`` (mag),
``PHANGS_REDUCED_MINCHISQ``.

Mapping:

* ``id_in_release`` = ``ID_PHANGS_CANDIDATE`` (the id shared by the class12 / class3 /
  candidates tables of a galaxy; ``ID_PHANGS_CLUSTER`` restarts per table). Override with
  ``id_column=``. The other ids, ``CC_CLASS`` and both flag columns are kept as extra
  ``sources`` columns: ``phangs_index``, ``id_phangs_cluster``, ``id_phangs_allsources``,
  ``cc_class``, ``non_detection_flag``, ``no_coverage_flag``.
* magnitude -9999 -> NaN, status ``no_coverage``; NaN magnitude -> ``not_detected``; fluxes
  are kept for measured bands only (``report["flux_dropped_unmeasured"]``).
* classes: integer codes 1-4; PHANGS 4.x codes become class 4 with subclass x (DESIGN.md §4,
  Whitmore et al. 2021 Table 3). A string column is parsed exactly ("4.10" -> 10). A float
  column cannot tell 4.1 from 4.10: one-decimal values are read as subclass 1-9 and counted in
  ``report["class_subclass_ambiguous"]`` when the value is 4.1.
* methods: "PHANGS-HST human" (score NaN) and "PHANGS-HST ML VGG" (score = VGG quality).
* SED: log_age = log10(age_Myr * 1e6), log_mass = log10(mass), E(B-V) = A_V / 3.1 (R_V = 3.1
  assumed; PHANGS fits use a Milky-Way-type law). No bounds, residuals, Q or band count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Column, Table
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
)
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.galaxies import UnknownGalaxyError, canonical_galaxy

READER_VERSION = "1.0"
SURVEY = "PHANGS-HST"
NO_COVERAGE = -9999.0
R_V = 3.1  # E(B-V) = A_V / R_V
PIXEL_SCALE_ARCSEC = 0.03962

HUMAN = ClassificationMethodSpec(
    name="PHANGS-HST human",
    kind="human",
    description="PHANGS-HST visual class by B. C. Whitmore (BCW): 1, 2, 3, 4 with Class-4 "
    "subclasses 4.1-4.12 stored as class 4 + subclass.",
    reference="Whitmore et al. 2021, MNRAS 506, 5294; Thilker et al. 2022",
)
VGG = ClassificationMethodSpec(
    name="PHANGS-HST ML VGG",
    kind="ml",
    description="Mode of 10 VGG19-BN models trained on LEGUS BCW classes (Wei et al. 2020); "
    "score = PHANGS_CLUSTER_CLASS_ML_VGG_QUAL, the fraction of models agreeing (0.3-1).",
    reference="Whitmore et al. 2021; Hannon et al. 2023",
)
SED_METHOD = SedMethodSpec(
    name="PHANGS-HST CIGALE BC03",
    code="CIGALE",
    ssp_model="BC03 (Bruzual & Charlot 2003)",
    imf="Chabrier",
    metallicity=0.02,
    extinction_law="Milky-Way type (Cardelli et al. 1989), R_V = 3.1",
    description="PHANGS-HST SED columns (age in Myr, mass, A_V, reduced min chi2). Model "
    "choices from Turner et al. 2021, not stated in the FITS file. E(B-V) = A_V / 3.1.",
)

#: Galaxies whose PHANGS V band is archival ACS/WFC (Thilker et al. 2022 §2.3).
ACS_V_GALAXIES: frozenset[str] = frozenset({"NGC 628", "NGC 1300", "NGC 3621"})

_NAME = re.compile(
    r"hlsp_phangs-cat_hst_(?P<inst>[a-z0-9-]+)_(?P<target>[a-z]+\d+[a-z]?)_multi_"
    r"(?P<version>v[\d.]+)(?:_(?P<product>[a-z0-9_-]+))?\.fits(?:\.gz)?$",
    re.I,
)
_GALAXY_TOKEN = re.compile(r"(ngc|ic)\d+[a-z]?", re.I)
_CLASS_TEXT = re.compile(r"^\s*(-?\d+)(?:\.(\d{1,2}))?\s*$")
_BAND_FILTERS: dict[str, tuple[str, ...]] = {
    "NUV": ("F275W",),
    "U": ("F336W",),
    "B": ("F438W", "F435W"),
    "V": ("F555W",),
    "I": ("F814W",),
}


def read_phangs_fits(
    path: str | Path,
    *,
    galaxy: str | None = None,
    field: str | None = None,
    id_column: str = "ID_PHANGS_CANDIDATE",
) -> CatalogueTables:
    """Read one PHANGS-HST DR4 cluster-catalogue FITS table into validated tables."""
    path = Path(path)
    table, header = _read_table(path)
    cols = {c.upper(): c for c in table.colnames}

    filters: dict[str, str] = {}
    for band, options in _BAND_FILTERS.items():
        present = [f for f in options if f"PHANGS_{f}_VEGA" in cols]
        if len(present) > 1:
            raise CatalogueFormatError(path, None, present[1], "both F435W and F438W present")
        filters[band] = present[0] if present else options[0]
    required = [id_column.upper(), "PHANGS_X", "PHANGS_Y", "PHANGS_RA", "PHANGS_DEC", "PHANGS_CI"]
    required += ["PHANGS_CLUSTER_CLASS_HUMAN", "PHANGS_CLUSTER_CLASS_ML_VGG"]
    required += ["PHANGS_CLUSTER_CLASS_ML_VGG_QUAL"]
    for f in filters.values():
        required += [f"PHANGS_{f}_VEGA", f"PHANGS_{f}_VEGA_ERR"]
    for name in required:
        if name not in cols:
            raise CatalogueFormatError(path, None, name, "required column missing")

    gal, fld, version, product = _identify(path, header, galaxy, field)
    n = len(table)
    if n == 0:
        raise CatalogueFormatError(path, None, None, "the table has no rows")
    rows = np.arange(1, n + 1, dtype=np.int64)
    report: dict[str, int] = dict.fromkeys(REPORT_KEYS, 0) | {"rows": n}

    def num(name: str) -> np.ndarray:
        return _numeric(path, table[cols[name]], name)

    # --- identity and position -------------------------------------------------------------
    ids_f = num(id_column.upper())
    bad = np.flatnonzero(~np.isfinite(ids_f) | (ids_f != np.round(ids_f)) | (ids_f < 0))
    if bad.size:
        raise CatalogueFormatError(
            path,
            int(rows[bad[0]]),
            id_column,
            f"id must be an integer, got {float(ids_f[bad[0]]):g}",
        )
    ids = ids_f.astype(np.int64)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CatalogueFormatError(path, i + 1, id_column, f"duplicate source id {ids[i]}")
    ra, dec = num("PHANGS_RA"), num("PHANGS_DEC")
    for arr, name, lo, hi in ((ra, "PHANGS_RA", 0, 360), (dec, "PHANGS_DEC", -90, 90)):
        out = (arr < lo) | (arr > hi) | ((arr == hi) & (hi == 360))
        bad = np.flatnonzero(~np.isfinite(arr) | out)
        if bad.size:
            raise CatalogueFormatError(
                path, int(bad[0]) + 1, name, f"{float(arr[bad[0]]):g} deg outside [{lo}, {hi}]"
            )
    x, y = num("PHANGS_X"), num("PHANGS_Y")
    for arr, name in ((x, "PHANGS_X"), (y, "PHANGS_Y")):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr == NO_COVERAGE))
        if bad.size:
            raise CatalogueFormatError(path, int(bad[0]) + 1, name, "pixel position missing")
    flags = np.zeros(n, dtype=np.int64)
    sources = pd.DataFrame(
        {"id_in_release": ids, "line": rows, "x": x, "y": y, "ra": ra, "dec": dec}
    )
    for extra, name in (
        ("phangs_index", "INDEX"),
        ("id_phangs_cluster", "ID_PHANGS_CLUSTER"),
        ("id_phangs_candidate", "ID_PHANGS_CANDIDATE"),
        ("id_phangs_allsources", "ID_PHANGS_ALLSOURCES"),
        ("non_detection_flag", "PHANGS_NON_DETECTION_FLAG"),
        ("no_coverage_flag", "PHANGS_NO_COVERAGE_FLAG"),
    ):
        if name in cols:
            v = num(name)
            ok = np.isfinite(v) & (v != NO_COVERAGE)
            sources[extra] = pd.array(np.where(ok, v, 0).astype(np.int64), dtype="Int64")
            sources.loc[~ok, extra] = pd.NA
    if "CC_CLASS" in cols:
        cc = pd.Series(np.asarray(table[cols["CC_CLASS"]]).astype(str)).str.strip()
        sources["cc_class"] = pd.array(cc.where(cc != "").to_numpy(), dtype="string")

    # --- photometry ------------------------------------------------------------------------
    parts = []
    for band in BANDS:
        f = filters[band]
        mag, err = num(f"PHANGS_{f}_VEGA"), num(f"PHANGS_{f}_VEGA_ERR")
        flux = _optional(table, cols, num, [f"PHANGS_{f}_MJY"], n)
        ferr = _optional(table, cols, num, [f"PHANGS_{f}_MJY_ERR", f"PHANGS_{f}_MJY_TOT_ERR"], n)
        no_cov = mag == NO_COVERAGE
        not_det = ~np.isfinite(mag)
        status = np.where(no_cov, "no_coverage", np.where(not_det, "not_detected", "measured"))
        measured = status == "measured"
        err_bad = ~np.isfinite(err) | (err == NO_COVERAGE)
        _refuse_first_row(
            path, measured & ((mag <= MAG_RANGE[0]) | (mag >= MAG_RANGE[1])), mag,
            f"PHANGS_{f}_VEGA",
            f"outside the plausible Vega magnitudes ({MAG_RANGE[0]:g}, {MAG_RANGE[1]:g}), "
            "not NaN (non-detection) or -9999 (no coverage)",
        )  # fmt: skip
        _refuse_first_row(
            path, ~err_bad & ((err < 0) | (err > MAG_ERR_MAX)), err,
            f"PHANGS_{f}_VEGA_ERR",
            f"a magnitude error must be between 0 and {MAG_ERR_MAX:g} mag (or -9999)",
        )  # fmt: skip
        report["sentinel_9999"] += int(no_cov.sum() + (err == NO_COVERAGE).sum())
        report["sentinel_9999"] += int((flux == NO_COVERAGE).sum() + (ferr == NO_COVERAGE).sum())
        # The schema keeps fluxes only for measured bands ("unmeasured_is_null").
        dropped = ~measured & np.isfinite(flux) & (flux != NO_COVERAGE)
        report["flux_dropped_unmeasured"] = report.get("flux_dropped_unmeasured", 0) + int(
            dropped.sum()
        )
        flags |= np.where(no_cov, int(SourceFlag.PHOT_NO_COVERAGE), 0)
        flags |= np.where(not_det, int(SourceFlag.PHOT_NOT_DETECTED), 0)
        flags |= np.where(measured & err_bad, int(SourceFlag.PHOT_ERR_UNDEFINED), 0)
        parts.append(
            pd.DataFrame(
                {
                    "id_in_release": ids,
                    "band": band,
                    "filter": f,
                    "mag_vega": np.where(measured, mag, np.nan),
                    "mag_err": np.where(measured & ~err_bad, err, np.nan),
                    "status": status.astype(object),
                    "flux_mjy": np.where(measured & (flux != NO_COVERAGE), flux, np.nan),
                    "flux_err_mjy": np.where(measured & (ferr != NO_COVERAGE), ferr, np.nan),
                    "aperture_px": np.nan,
                }
            )
        )
    photometry = pd.concat(parts, ignore_index=True)
    order = np.argsort(np.tile(np.arange(n), len(BANDS)), kind="stable")
    photometry = photometry.iloc[order]

    # --- morphology ------------------------------------------------------------------------
    ci = num("PHANGS_CI")
    ci_bad = ~np.isfinite(ci) | (ci == NO_COVERAGE) | (ci >= CI_INVALID_THRESHOLD)
    report["sentinel_9999"] += int((ci == NO_COVERAGE).sum())
    report["ci_invalid"] = int(ci_bad.sum())
    flags |= np.where(ci_bad, int(SourceFlag.CI_INVALID), 0)
    morphology = pd.DataFrame(
        {
            "id_in_release": ids,
            "ci": np.where(ci_bad, np.nan, ci),
            "ci_flag": np.where(ci_bad, "invalid", "ok").astype(object),
        }
    )

    # --- classifications -------------------------------------------------------------------
    quality = num("PHANGS_CLUSTER_CLASS_ML_VGG_QUAL")
    quality = np.where(quality == NO_COVERAGE, np.nan, quality)
    frames = []
    for method, name, score in (
        (HUMAN, "PHANGS_CLUSTER_CLASS_HUMAN", np.full(n, np.nan)),
        (VGG, "PHANGS_CLUSTER_CLASS_ML_VGG", quality),
    ):
        cls, sub, cflags = _classes(path, table[cols[name]], name, method.name, report)
        flags |= cflags
        keep = ~np.isnan(cls)
        frames.append(
            pd.DataFrame(
                {
                    "id_in_release": ids[keep],
                    "method": method.name,
                    "cluster_class": _int16(cls[keep]),
                    "subclass": _int16(sub[keep]),
                    "score": score[keep],
                }
            )
        )
    classifications = pd.concat(frames, ignore_index=True)

    # --- SED -------------------------------------------------------------------------------
    sed = pd.DataFrame({"id_in_release": np.array([], dtype=np.int64)})
    sed_method = None
    if "PHANGS_SED_AGE" in cols:
        sed_method = SED_METHOD
        sed, sed_flags = _sed(path, table, cols, num, ids, report)
        flags |= sed_flags

    sources["flags"] = flags
    return CatalogueTables(
        survey=SURVEY,
        galaxy=gal,
        field=fld,
        filters=filters,
        instruments=_instruments(gal, filters),
        reader="phangs_fits",
        reader_version=READER_VERSION,
        layout=None,
        source_path=path,
        sources=coerce_frame(sources, SOURCE_COLUMNS),
        photometry=coerce_frame(photometry, PHOTOMETRY_COLUMNS),
        morphology=coerce_frame(morphology, MORPHOLOGY_COLUMNS),
        classifications=coerce_frame(classifications, CLASSIFICATION_COLUMNS),
        classification_methods=[HUMAN, VGG],
        sed_fits=coerce_frame(sed, SED_COLUMNS),
        sed_method=sed_method,
        report=report,
        version=version,
        primary_method=HUMAN.name,
        filter_confidence=dict.fromkeys(BANDS, "high"),
        instrument_confidence={
            "NUV": "high",
            "U": "high",
            "B": "high",
            "V": "medium",
            "I": "medium",
        },  # fmt: skip
        notes=[f"PHANGS product: {product}"] if product else [],
    )


def _read_table(path: Path) -> tuple[Table, fits.Header]:
    """First binary-table HDU of a FITS file, as an astropy Table, and its header."""
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            index = next((i for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU)), None)
            if index is None:
                raise CatalogueFormatError(path, None, None, "no binary table HDU in the file")
            header = hdul[0].header.copy()
            header.extend(hdul[index].header, unique=True)
            table = Table.read(hdul, hdu=index)
    except CatalogueFormatError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise CatalogueFormatError(path, None, None, f"not a readable FITS table ({exc})") from exc
    return table, header


def _identify(
    path: Path, header: fits.Header, galaxy: str | None, field: str | None
) -> tuple[str, str, str | None, str | None]:
    m = _NAME.search(path.name)
    token = galaxy or (m["target"] if m else None)
    if token is None:
        for key in ("TARGET", "GALAXY", "OBJECT"):
            if key in header and str(header[key]).strip():
                token = str(header[key]).strip()
                break
    if token is None and (g := _GALAXY_TOKEN.search(path.name)):
        token = g.group(0)
    if token is None:
        raise CatalogueFormatError(path, None, None, "cannot tell the galaxy; pass galaxy=")
    try:
        gal, gal_field = canonical_galaxy(token)
    except UnknownGalaxyError as exc:
        raise CatalogueFormatError(path, None, None, str(exc)) from exc
    return (
        gal,
        (field or gal_field).lower(),
        m["version"] if m else None,
        (m["product"] if m else None),
    )


def _numeric(path: Path, column: Column, name: str) -> np.ndarray:
    """Column as float64 with masked entries NaN; a non-numeric entry is a format error."""
    data = np.ma.asarray(column)
    if data.dtype.kind in "US":
        text = pd.Series(np.ma.filled(data.astype(str), "")).str.strip()
        parsed = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy() & (text != "").to_numpy())
        if bad.size:
            i = int(bad[0])
            raise CatalogueFormatError(path, i + 1, name, f"expected a number, got {text.iat[i]!r}")
        return parsed.to_numpy(dtype=np.float64)
    if data.dtype.kind not in "iufb":
        raise CatalogueFormatError(path, None, name, f"expected a numeric column, got {data.dtype}")
    return np.ma.filled(data.astype(np.float64), np.nan)


def _optional(
    table: Table, cols: dict[str, str], num: Callable[[str], np.ndarray], names: list[str], n: int
) -> np.ndarray:
    for name in names:
        if name in cols:
            return num(name)
    return np.full(n, np.nan)


def _int16(values: np.ndarray) -> pd.arrays.IntegerArray:
    ok = ~np.isnan(values)
    return pd.arrays.IntegerArray(np.where(ok, values, 0).astype(np.int16), mask=~ok)


def _classes(
    path: Path,
    column: Column,
    name: str,
    method: str,
    report: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class column -> (class 1-4 or NaN, subclass or NaN, source flags)."""
    data = np.ma.asarray(column)
    n = len(data)
    ambiguous = np.zeros(n, dtype=bool)
    if data.dtype.kind in "US":
        text = pd.Series(np.ma.filled(data.astype(str), "")).str.strip()
        parts = text.str.extract(_CLASS_TEXT)
        empty = (text == "") | text.str.lower().isin(["nan", "none", "null"])
        unparsable = (parts[0].isna() & ~empty).to_numpy()
        if unparsable.any():
            i = int(np.flatnonzero(unparsable)[0])
            raise CatalogueFormatError(path, i + 1, name, f"cannot read class {text.iat[i]!r}")
        major = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=np.float64)
        minor = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=np.float64)
    elif data.dtype.kind in "iub":
        major = np.ma.filled(data.astype(np.float64), np.nan)
        minor = np.full(n, np.nan)
    elif data.dtype.kind == "f":
        v = np.ma.filled(data.astype(np.float64), np.nan)
        major = np.floor(v)
        hundredths = np.round((v - major) * 100)
        one_decimal = (hundredths % 10 == 0) & (hundredths > 0)
        minor = np.where(hundredths > 0, np.where(one_decimal, hundredths / 10, hundredths), np.nan)
        ambiguous = np.isclose(v, 4.1)  # 4.1 (single star) or 4.10 (too faint)?
    else:
        raise CatalogueFormatError(path, None, name, f"unexpected class column type {data.dtype}")
    missing = np.isnan(major) | (major == NO_COVERAGE)
    zero = (major == 0) & np.isnan(minor)
    subclass_ok = (major == 4) & (minor >= 1) & (minor <= 12)
    valid = np.isin(major, (1, 2, 3, 4)) & (np.isnan(minor) | subclass_ok)
    out_of_scheme = ~(valid | zero | missing)
    report["sentinel_9999"] += int((major == NO_COVERAGE).sum())
    for key, mask in (
        ("class_missing", missing),
        ("class_zero", zero),
        ("class_out_of_scheme", out_of_scheme),
        ("class_subclass_ambiguous", ambiguous & valid),
    ):
        report[key] = report.get(key, 0) + int(mask.sum())
        report[f"{key}:{method}"] = int(mask.sum())
    flags = np.where(out_of_scheme, int(SourceFlag.CLASS_OUT_OF_SCHEME), 0).astype(np.int64)
    return np.where(valid, major, np.nan), np.where(valid, minor, np.nan), flags


def _refuse_first_row(
    path: Path, bad: np.ndarray, values: np.ndarray, column: str, why: str
) -> None:
    """Raise for the first bad value of one FITS column (1-based table row)."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CatalogueFormatError(path, i + 1, column, f"{float(values[i]):g}: {why}")


def _sed(
    path: Path,
    table: Table,
    cols: dict[str, str],
    num: Callable[[str], np.ndarray],
    ids: np.ndarray,
    report: dict[str, int],
) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(ids)
    age = num("PHANGS_SED_AGE")
    mass = _optional(table, cols, num, ["PHANGS_SED_MASS"], n)
    av = _optional(table, cols, num, ["PHANGS_SED_AV"], n)
    chi2 = _optional(table, cols, num, ["PHANGS_REDUCED_MINCHISQ"], n)
    for arr in (age, mass, av, chi2):
        report["sentinel_9999"] += int((arr == NO_COVERAGE).sum())
    for arr, name in ((age, "PHANGS_SED_AGE"), (mass, "PHANGS_SED_MASS")):
        _refuse_first_row(
            path, (arr < 0) & (arr != NO_COVERAGE), arr, name,
            "ages (Myr) and masses (Msun) cannot be negative",
        )  # fmt: skip
    fitted = np.isfinite(age) & (age > 0)
    report["sed_unfitted"] = int((~fitted).sum())
    flags = np.where(fitted, 0, int(SourceFlag.SED_UNFITTED)).astype(np.int64)
    bad_mass = fitted & ~(mass > 0)
    bad_av = fitted & ~(np.isfinite(av) & (av != NO_COVERAGE))
    report["sed_value_invalid"] = int(bad_mass.sum() + bad_av.sum())
    flags |= np.where(bad_mass | bad_av, int(SourceFlag.SED_VALUE_INVALID), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_age = np.log10(age) + 6.0  # Myr -> yr
        log_mass = np.where(mass > 0, np.log10(np.where(mass > 0, mass, 1.0)), np.nan)
    ebv = np.where(bad_av, np.nan, av / R_V)
    sel = fitted
    frame = pd.DataFrame(
        {
            "id_in_release": ids[sel],
            "method": SED_METHOD.name,
            "log_age": log_age[sel],
            "log_mass": log_mass[sel],
            "ebv": ebv[sel],
            "chi2_residuals": pd.Series([{} for _ in range(int(sel.sum()))], dtype=object),
            "reduced_chi2": np.where(chi2 == NO_COVERAGE, np.nan, chi2)[sel],
        }
    )
    return frame, flags


def _instruments(galaxy: str, filters: dict[str, str]) -> dict[str, str]:
    """Camera per band: F275W/F336W/F438W WFC3/UVIS, F435W ACS/WFC; V and I see the docstring."""
    acs_b = filters["B"] == "F435W"
    return {
        "NUV": "WFC3/UVIS",
        "U": "WFC3/UVIS",
        "B": "ACS/WFC" if acs_b else "WFC3/UVIS",
        "V": "ACS/WFC" if galaxy in ACS_V_GALAXIES or acs_b else "WFC3/UVIS",
        "I": "ACS/WFC" if acs_b else "WFC3/UVIS",
    }
