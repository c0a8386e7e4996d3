"""Readers for the LEGUS HLSP cluster catalogues: ``.tab`` (optionally gzip) and the CSV twin.

Format: whitespace-separated ASCII, no header, one source per line, 34-39 columns in one of
nine layouts (data/legus/LAYOUTS.md §2; registry in :mod:`clustercat.ingest.legus_layouts`).
Parsing is vectorised (``pandas.read_csv`` + numpy); every validation failure raises
:class:`~clustercat.ingest.errors.CatalogueFormatError` naming file, line and column.

What becomes what (LAYOUTS.md §2.1-2.2, data/README.md "Traps"):

* magnitudes 66.666 -> NaN, status ``outside_footprint``; 99.999 -> ``not_detected``;
  44.444 -> ``apcor_undefined``; -9999 -> ``no_coverage``. A sentinel in an error column next
  to a real magnitude (e.g. 32.88 +- 99.999) keeps the magnitude, stores the error as NaN and
  sets ``SourceFlag.PHOT_ERR_UNDEFINED``. Every replaced cell is counted in ``report``.
* CI >= 40 (or non-finite, or -9999) -> NaN with ``ci_flag = "invalid"``.
* SED: a source is fitted when age > 0 and Nflt != 200. That covers both conventions: "classic"
  files write age = mass = E(B-V) = 0 for unfitted sources, "extended" files Nflt = 200,
  age = 2e8, mass = 200, E(B-V) = 200. Unfitted sources get no ``sed_fits`` row. Where every
  68 % bound of a fitted source is 0 the bounds were not computed: NaN, ``SED_BOUNDS_MISSING``.
  Age and mass are stored as log10; residuals of 200 (band not used) are dropped.
* every class column is one classification method; class 0 -> no row (``class_zero``),
  "not inspected" codes (NGC 4449: 5) -> no row (``class_not_inspected``), anything else outside
  1-4 (NGC 4242 id 386: 50) -> no row (``class_out_of_scheme``).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
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
from clustercat.ingest.legus_layouts import (
    FILE_PATTERN,
    FILES,
    LAYOUTS,
    METHODS,
    SED_METHOD,
    ClassColumn,
    Layout,
    LegusFile,
    lookup,
    optics_for,
)

READER_VERSION = "1.0"
SURVEY = "LEGUS"

#: The two NGC 628 catalogues concatenated in data/ngc628/Catalog.csv, in file order.
NGC628_CSV_FILES: tuple[str, str] = (
    "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab",
)

#: SED method of the CSV twin: its age/mass/E(B-V) columns differ from the .tab files for a
#: sizeable fraction of fitted sources (tests/test_readers_legus.py), and the file does not say
#: which model produced them.
CSV_SED_METHOD = SedMethodSpec(
    name="LEGUS NGC 628 Catalog.csv SED (unidentified run)",
    code="LEGUS SED fit (Adamo et al. 2017); run not identified",
    ssp_model="not stated in the file",
    imf=None,
    metallicity=None,
    extinction_law=None,
    description="SED columns of data/ngc628/Catalog.csv. Sources, photometry, CI and classes "
    "equal the ngc628-c/-e .tab files, but age, mass, E(B-V), reduced chi2 and Q differ for "
    "many fitted sources, so this is another SED run than padagb-mwext-avgapcor.",
)

# Photometric sentinels (LAYOUTS.md §2.1, LEGUS_description.txt) -> status and report key.
_PHOT_SENTINELS: tuple[tuple[float, str, str], ...] = (
    (66.666, "outside_footprint", "sentinel_66666"),
    (99.999, "not_detected", "sentinel_99999"),
    (44.444, "apcor_undefined", "sentinel_44444"),
    (-9999.0, "no_coverage", "sentinel_9999"),
)
_STATUS_FLAG = {
    "outside_footprint": SourceFlag.PHOT_OUTSIDE_FOOTPRINT,
    "not_detected": SourceFlag.PHOT_NOT_DETECTED,
    "apcor_undefined": SourceFlag.PHOT_APCOR_UNDEFINED,
    "no_coverage": SourceFlag.PHOT_NO_COVERAGE,
}
_SENTINEL_ATOL = 5e-4  # values are printed with 3-5 decimals
_UNFITTED_NFLT = 200.0
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")

# Standard-block column names (LAYOUTS.md §2.1), for error messages.
_STD_NAMES: dict[int, str] = {
    1: "id", 2: "x", 3: "y", 4: "ra", 5: "dec", 6: "mag_UV", 7: "err_UV", 8: "mag_U",
    9: "err_U", 10: "mag_B", 11: "err_B", 12: "mag_V", 13: "err_V", 14: "mag_I", 15: "err_I",
    16: "ci", 17: "age", 18: "age_max", 19: "age_min", 20: "mass", 21: "mass_max",
    22: "mass_min", 23: "ebv", 24: "ebv_max", 25: "ebv_min", 26: "chi2res_UV",
    27: "chi2res_U", 28: "chi2res_B", 29: "chi2res_V", 30: "chi2res_I", 31: "chi2_red",
    32: "q_prob", 33: "nflt",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Text handling shared by the ASCII readers (also used by starcnet.py)
# ---------------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """File content as text: gzip (by magic bytes) decompressed, BOM stripped, binary refused."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CatalogueFormatError(path, None, None, f"corrupt gzip stream ({exc})") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    bad = None
    if m := _CONTROL_BYTES.search(raw):
        bad = m.start()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start if bad is None else min(bad, exc.start)
        text = ""
    if bad is not None:
        line_start = raw.rfind(b"\n", 0, bad) + 1
        prefix = raw[line_start:bad].decode("utf-8", errors="replace")
        column = len(prefix.split()) + (1 if not prefix or prefix[-1].isspace() else 0)
        raise CatalogueFormatError(
            path,
            raw.count(b"\n", 0, bad) + 1,
            column,
            f"binary data (byte 0x{raw[bad]:02x} at offset {bad}): not a text catalogue",
        )
    return text


def split_lines(text: str) -> pd.Series:
    """Physical lines of ``text`` (LF, CRLF or CR endings), index = 1-based line number."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return pd.Series(lines, index=np.arange(1, len(lines) + 1), dtype=object)


def parse_numeric(
    path: Path,
    lines: pd.Series,
    ncols: int,
    *,
    sep: str = r"\s+",
    column_offset: int = 0,
    column_names: dict[int, str] | None = None,
) -> np.ndarray:
    """Parse data ``lines`` (index = line numbers) into a finite float64 array (n, ncols).

    Checks the number of fields of every line, then converts with ``pandas.read_csv``; on
    failure finds the first bad cell. Error columns are 1-based plus ``column_offset``.
    """
    if sep in (",", "\t"):
        counts = lines.str.count(sep).to_numpy() + 1
    else:
        counts = lines.str.split().str.len().to_numpy()
    wrong = np.flatnonzero(counts != ncols)
    if wrong.size:
        i = wrong[0]
        found = int(counts[i])
        hint = " (truncated line?)" if found < ncols and i == len(lines) - 1 else ""
        raise CatalogueFormatError(
            path,
            int(lines.index[i]),
            min(found, ncols) + 1 + column_offset,
            f"expected {ncols} columns, found {found}{hint}",
        )
    text = "\n".join(lines.tolist())
    kw = {"sep": sep, "header": None, "names": list(range(ncols)), "na_filter": False}
    try:
        values = pd.read_csv(io.StringIO(text), dtype=np.float64, **kw).to_numpy()
    except (ValueError, TypeError):
        values = None
    if values is not None and values.shape == (len(lines), ncols) and np.isfinite(values).all():
        return values
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, **kw)
    conv = raw.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(conv)
    row, colno = np.argwhere(bad)[0]
    name = (column_names or {}).get(int(colno) + 1)
    what = f" ({name})" if name else ""
    raise CatalogueFormatError(
        path,
        int(lines.index[row]),
        int(colno) + 1 + column_offset,
        f"expected a finite number{what}, got {raw.iat[row, colno]!r}",
    )


def _data_lines(lines: pd.Series) -> pd.Series:
    stripped = lines.str.strip()
    return lines[~((stripped == "") | stripped.str.startswith("#"))]


# ---------------------------------------------------------------------------------------------
# Public readers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    galaxy: str
    field: str
    version: str | None
    filters: dict[str, str]
    filter_confidence: dict[str, str]
    instruments: dict[str, str]
    instrument_confidence: dict[str, str]
    notes: tuple[str, ...]


def read_legus_tab(
    path: str | Path,
    *,
    layout: str | None = None,
    galaxy: str | None = None,
    field: str | None = None,
    filters: dict[str, str] | None = None,
) -> CatalogueTables:
    """Read one LEGUS ``.tab`` / ``.tab.gz`` catalogue into validated tables.

    The layout, galaxy, field and filters come from the registry (keyed by file name); for a
    file not in the registry pass ``layout=`` (one of ``LAYOUTS``) and, unless the name follows
    the HLSP pattern, ``galaxy=`` (``field`` defaults to the galaxy's). ``filters`` overrides
    band -> filter names.
    """
    path = Path(path)
    lay, meta = _resolve(path, layout, galaxy, field, filters)
    lines = split_lines(read_text(path))
    data = _data_lines(lines)
    if data.empty:
        raise CatalogueFormatError(path, 1, 1, "empty file: no data rows")
    values = parse_numeric(path, data, lay.ncols, column_names=_column_names(lay))
    return _tables(path, values, data.index.to_numpy(np.int64), lay, meta, "legus_tab")


def read_legus_csv(
    path: str | Path, *, files: Sequence[str] = NGC628_CSV_FILES
) -> list[CatalogueTables]:
    """Read the CSV twin of LEGUS catalogues (data/ngc628/Catalog.csv) -> one result per block.

    Format: header ``Column1..ColumnN``; each data row has a leading empty field followed by the
    .tab columns; blocks (one catalogue each) are separated by blank rows (``#,,,``). Block k
    is read with the registry entry of ``files[k]`` (default: NGC 628-c then 628-e).
    """
    path = Path(path)
    entries = []
    for name in files:
        entry = lookup(name)
        if entry is None:
            raise CatalogueFormatError(path, None, None, f"unknown LEGUS catalogue {name!r}")
        entries.append(entry)
    lines = split_lines(read_text(path))
    if lines.empty:
        raise CatalogueFormatError(path, 1, 1, "empty file: no header")
    header = lines.iloc[0].strip()
    ncols = LAYOUTS[entries[0].layout].ncols
    expected = ",".join(f"Column{i}" for i in range(1, ncols + 2))
    if header != expected:
        raise CatalogueFormatError(
            path, 1, 1, f"expected header 'Column1,...,Column{ncols + 1}', got {header[:40]!r}"
        )
    body = lines.iloc[1:]
    # A blank row has nothing after Column1 (the file writes "#,,,,"); Column1 of a data row is
    # normally empty but holds a marker ("#") on some rows, kept as sources.csv_marker.
    blank = body.str.fullmatch(r"[^,]*(,\s*)*").to_numpy(dtype=bool)
    block_no = np.cumsum(blank & ~np.r_[False, blank[:-1]])  # new block after each blank run
    data = body[~blank]
    block_no = block_no[~blank]
    firsts = np.r_[True, block_no[1:] != block_no[:-1]]
    block_id = np.cumsum(firsts) - 1
    nblocks = int(block_id.max()) + 1 if len(block_id) else 0
    if nblocks != len(entries):
        line = int(data.index[-1]) if len(data) else 1
        raise CatalogueFormatError(
            path, line, None, f"found {nblocks} catalogue blocks, expected {len(entries)}"
        )
    out = []
    for k, entry in enumerate(entries):
        lay = LAYOUTS[entry.layout]
        rows = data[block_id == k]
        marker = rows.str.extract(r"^([^,]*),", expand=False).str.strip()
        part = rows.str.replace(r"^[^,]*,", "", regex=True)
        values = parse_numeric(
            path, part, lay.ncols, sep=",", column_offset=1, column_names=_column_names(lay)
        )
        meta = _meta_from_entry(entry)
        tables = _tables(
            path, values, part.index.to_numpy(np.int64), lay, meta, "legus_csv", column_offset=1
        )
        mark = marker.where(marker != "").astype("string").to_numpy()
        tables.sources["csv_marker"] = pd.array(mark, dtype="string")
        tables.report["csv_marked_rows"] = int(pd.notna(mark).sum())
        tables.notes.append(f"block {k + 1} of {path.name}, read as {entry.file_name}")
        # Same sources, photometry, CI and classes as the .tab, but different SED values:
        # a different SED run, so it must not be filed under the .tab's SED method.
        tables.sed_fits["method"] = pd.array([CSV_SED_METHOD.name] * len(tables.sed_fits),
                                             dtype="string")  # fmt: skip
        tables.sed_method = CSV_SED_METHOD
        tables.sed_methods = [CSV_SED_METHOD]
        out.append(tables)
    return out


def find_legus_files(folder: str | Path) -> list[Path]:
    """LEGUS catalogue files (``.tab`` or ``.tab.gz``) in ``folder`` that the registry knows."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and lookup(p.name))


# ---------------------------------------------------------------------------------------------
# Resolution of layout / galaxy / filters
# ---------------------------------------------------------------------------------------------


def _column_names(lay: Layout) -> dict[int, str]:
    names = {lay.col(k): v for k, v in _STD_NAMES.items()}
    if lay.mosaic:
        names |= {4: "x_mosaic", 5: "y_mosaic"}
    for cc in lay.class_columns:
        names[cc.column] = f"class ({cc.method})"
    if lay.selection_column:
        names[lay.selection_column] = "selection_flag"
    if lay.halpha_column:
        names[lay.halpha_column] = "halpha_morph"
    return names


def _meta_from_entry(entry: LegusFile) -> _Meta:
    return _Meta(
        entry.galaxy,
        entry.field,
        entry.version,
        dict(entry.filters),
        dict(entry.filter_confidence),
        dict(entry.instruments),
        dict(entry.instrument_confidence),
        entry.notes,
    )


def _resolve(
    path: Path,
    layout: str | None,
    galaxy: str | None,
    field: str | None,
    filters: dict[str, str] | None,
) -> tuple[Layout, _Meta]:
    entry = lookup(path.name)
    if layout is not None and layout not in LAYOUTS:
        raise CatalogueFormatError(
            path, None, None, f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}"
        )
    if entry is None and layout is None:
        raise CatalogueFormatError(
            path,
            None,
            None,
            "unknown LEGUS file name (not one of the 39 files of LAYOUTS.md); "
            "pass layout= (and galaxy=) to read it",
        )
    lay = LAYOUTS[layout or entry.layout]  # type: ignore[union-attr]
    if entry is not None:
        meta = _meta_from_entry(entry)
    else:
        m = FILE_PATTERN.match(path.name)
        target = m["target"] if m else None
        if galaxy is None and target is None:
            raise CatalogueFormatError(
                path, None, None, "cannot tell the galaxy from the file name; pass galaxy="
            )
        try:
            gal, fld = canonical_galaxy(galaxy or target)  # type: ignore[arg-type]
        except UnknownGalaxyError as exc:
            raise CatalogueFormatError(path, None, None, str(exc)) from exc
        # Filters from the registry entry of the same target (or field, or galaxy) if unique.
        same = (
            [e for e in FILES.values() if e.target == target]
            or [e for e in FILES.values() if e.field == fld]
            or [e for e in FILES.values() if e.galaxy == gal]
        )
        if len({(e.target, e.instrument_token) for e in same}) == 1:
            f, fc, ins, ic, notes = optics_for(same[0].target, same[0].instrument_token)
        else:
            f = {"NUV": "F275W", "U": "F336W", "B": "F438W", "V": "F555W", "I": "F814W"}
            fc = dict.fromkeys(BANDS, "low")
            ins = dict.fromkeys(BANDS, "WFC3/UVIS")
            ic = dict.fromkeys(BANDS, "low")
            notes = ("galaxy not in the registry: default WFC3 filter set assumed",)
        meta = _Meta(gal, fld, m["version"] if m else None, f, fc, ins, ic, notes)
    if galaxy is not None:
        try:
            gal, gal_field = canonical_galaxy(galaxy)
        except UnknownGalaxyError as exc:
            raise CatalogueFormatError(path, None, None, str(exc)) from exc
        meta = replace(meta, galaxy=gal, field=(field or gal_field).lower())
    elif field is not None:
        meta = replace(meta, field=field.lower())
    if filters is not None:
        if set(filters) - set(BANDS):
            raise CatalogueFormatError(path, None, None, f"filters keys must be {BANDS}")
        meta = replace(
            meta,
            filters=meta.filters | dict(filters),
            filter_confidence=meta.filter_confidence | dict.fromkeys(filters, "given"),
        )
    return lay, meta


# ---------------------------------------------------------------------------------------------
# Values -> tables
# ---------------------------------------------------------------------------------------------


def _near(a: np.ndarray, value: float) -> np.ndarray:
    return np.abs(a - value) < _SENTINEL_ATOL


def _int16(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    data = np.where(valid, values, 0).astype(np.int16)
    return pd.arrays.IntegerArray(data, mask=~valid)


def _refuse_first(
    path: Path,
    lines: np.ndarray,
    bad: np.ndarray,
    values: np.ndarray,
    columns: Sequence[int],
    names: Sequence[str],
    why: str,
) -> None:
    """Raise for the first bad cell (by line, then column) of an (n, k) block of columns."""
    if not bad.any():
        return
    row, k = np.argwhere(bad)[0]
    raise CatalogueFormatError(
        path, int(lines[row]), int(columns[k]), f"{names[k]} = {float(values[row, k]):g}: {why}"
    )


def _require_integers(
    path: Path, values: np.ndarray, lines: np.ndarray, column: int, what: str
) -> None:
    bad = np.flatnonzero(values != np.round(values))
    if bad.size:
        i = bad[0]
        raise CatalogueFormatError(
            path, int(lines[i]), column, f"{what} must be an integer, got {float(values[i]):g}"
        )


def _tables(
    path: Path,
    values: np.ndarray,
    lines: np.ndarray,
    lay: Layout,
    meta: _Meta,
    reader: str,
    column_offset: int = 0,
) -> CatalogueTables:
    n = len(values)
    report: dict[str, int] = dict.fromkeys(REPORT_KEYS, 0)
    report["rows"] = n
    flags = np.zeros(n, dtype=np.int64)

    def col(c: int) -> np.ndarray:
        return values[:, c - 1]

    def std(k: int) -> np.ndarray:
        return col(lay.col(k))

    # --- identity and position -------------------------------------------------------------
    ids_f = std(1)
    _require_integers(path, ids_f, lines, 1, "source id")
    if np.any(ids_f < 1):
        i = int(np.flatnonzero(ids_f < 1)[0])
        raise CatalogueFormatError(
            path, int(lines[i]), 1, f"source id must be >= 1, got {ids_f[i]:g}"
        )
    ids = ids_f.astype(np.int64)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[i])[0])
        raise CatalogueFormatError(
            path, int(lines[i]), 1, f"duplicate source id {ids[i]} (first at line {lines[first]})"
        )
    ra, dec = std(4), std(5)
    for arr, k, lo, hi, label in ((ra, 4, 0.0, 360.0, "RA"), (dec, 5, -90.0, 90.0, "Dec")):
        bad = np.flatnonzero((arr < lo) | (arr > hi) | ((arr == hi) & (k == 4)))
        if bad.size:
            i = bad[0]
            raise CatalogueFormatError(
                path, int(lines[i]), lay.col(k) + column_offset,
                f"{label} {float(arr[i]):g} deg outside [{lo:g}, {hi:g}{')' if k == 4 else ']'}",
            )  # fmt: skip
    nan = np.full(n, np.nan)
    sources = pd.DataFrame(
        {
            "id_in_release": ids,
            "line": lines.astype(np.int64),
            "x": std(2),
            "y": std(3),
            "ra": ra,
            "dec": dec,
            "x_mosaic": col(4) if lay.mosaic else nan,
            "y_mosaic": col(5) if lay.mosaic else nan,
        }
    )

    # --- photometry ------------------------------------------------------------------------
    mags = np.column_stack([std(6 + 2 * b) for b in range(5)])
    errs = np.column_stack([std(7 + 2 * b) for b in range(5)])
    status = np.full(mags.shape, "measured", dtype=object)
    err_bad = np.zeros(mags.shape, dtype=bool)
    for value, label, key in _PHOT_SENTINELS:
        hit_m, hit_e = _near(mags, value), _near(errs, value)
        status[hit_m] = label
        err_bad |= hit_e
        report[key] += int(hit_m.sum() + hit_e.sum())
        flags |= np.where(hit_m.any(axis=1), int(_STATUS_FLAG[label]), 0)
    measured = status == "measured"
    mag_cols = [lay.col(6 + 2 * b) + column_offset for b in range(5)]
    err_cols = [lay.col(7 + 2 * b) + column_offset for b in range(5)]
    _refuse_first(
        path, lines, measured & ((mags <= MAG_RANGE[0]) | (mags >= MAG_RANGE[1])), mags,
        mag_cols, [_STD_NAMES[6 + 2 * b] for b in range(5)],
        f"outside the plausible Vega magnitudes ({MAG_RANGE[0]:g}, {MAG_RANGE[1]:g}) and not "
        "a sentinel (66.666, 99.999, 44.444, -9999)",
    )  # fmt: skip
    _refuse_first(
        path, lines, ~err_bad & ((errs < 0) | (errs > MAG_ERR_MAX)), errs,
        err_cols, [_STD_NAMES[7 + 2 * b] for b in range(5)],
        f"a magnitude error must be between 0 and {MAG_ERR_MAX:g} mag (or a sentinel)",
    )  # fmt: skip
    err_only = measured & err_bad
    flags |= np.where(err_only.any(axis=1), int(SourceFlag.PHOT_ERR_UNDEFINED), 0)
    photometry = pd.DataFrame(
        {
            "id_in_release": np.repeat(ids, 5),
            "band": np.tile(np.array(BANDS, dtype=object), n),
            "filter": np.tile(np.array([meta.filters[b] for b in BANDS], dtype=object), n),
            "mag_vega": np.where(measured, mags, np.nan).ravel(),
            "mag_err": np.where(measured & ~err_bad, errs, np.nan).ravel(),
            "status": status.ravel(),
            "aperture_px": np.nan,  # total, aperture-corrected magnitudes
            "mw_ext_corrected": True,  # readme: "Galactic ext from NED ... is included"
        }
    )

    # --- morphology ------------------------------------------------------------------------
    ci = std(16)
    ci_bad = ~np.isfinite(ci) | (ci >= CI_INVALID_THRESHOLD) | (ci == -9999.0)
    report["ci_invalid"] = int(ci_bad.sum())
    flags |= np.where(ci_bad, int(SourceFlag.CI_INVALID), 0)
    morphology = pd.DataFrame(
        {
            "id_in_release": ids,
            "ci": np.where(ci_bad, np.nan, ci),
            "ci_flag": np.where(ci_bad, "invalid", "ok").astype(object),
        }
    )

    # --- SED -------------------------------------------------------------------------------
    sed_k = (17, 18, 19, 20, 21, 22)  # age, age_max, age_min, mass, mass_max, mass_min
    sed_values = np.column_stack([std(k) for k in sed_k])
    _refuse_first(
        path, lines, sed_values < 0, sed_values,
        [lay.col(k) + column_offset for k in sed_k], [_STD_NAMES[k] for k in sed_k],
        "ages (yr) and masses (Msun) cannot be negative (0 means not fitted)",
    )  # fmt: skip
    sed, sed_flags = _sed(std, ids, report)
    flags |= sed_flags

    # --- classifications, selection flag, H-alpha -----------------------------------------
    frames, methods = [], []
    for cc in lay.class_columns:
        frame, cflags = _classes(path, col, lines, ids, cc, report)
        frames.append(frame)
        flags |= cflags
        if METHODS[cc.method] not in methods:
            methods.append(METHODS[cc.method])
    classifications = pd.concat(frames, ignore_index=True)

    if lay.selection_column:
        sel = col(lay.selection_column)
        _require_integers(path, sel, lines, lay.selection_column, "selection flag")
        sources["selection_flag"] = _int16(sel, np.ones(n, dtype=bool))
    if lay.halpha_column:
        ha = col(lay.halpha_column)
        ok = np.isin(ha, (1, 2, 3, 4))
        report["halpha_unset"] = int((ha == 0).sum())
        report["halpha_out_of_range"] = int((~ok & (ha != 0)).sum())
        sources["halpha_morph"] = _int16(ha, ok)
    sources["flags"] = flags

    return CatalogueTables(
        survey=SURVEY,
        galaxy=meta.galaxy,
        field=meta.field,
        filters=dict(meta.filters),
        instruments=dict(meta.instruments),
        reader=reader,
        reader_version=READER_VERSION,
        layout=lay.name,
        source_path=path,
        sources=coerce_frame(sources, SOURCE_COLUMNS),
        photometry=coerce_frame(photometry, PHOTOMETRY_COLUMNS),
        morphology=coerce_frame(morphology, MORPHOLOGY_COLUMNS),
        classifications=coerce_frame(classifications, CLASSIFICATION_COLUMNS),
        classification_methods=methods,
        sed_fits=coerce_frame(sed, SED_COLUMNS),
        sed_method=SED_METHOD,
        report=report,
        version=meta.version,
        primary_method=lay.primary_method,
        filter_confidence=dict(meta.filter_confidence),
        instrument_confidence=dict(meta.instrument_confidence),
        notes=[*meta.notes, f"layout {lay.name}: {lay.evidence} (confidence {lay.confidence})"],
    )


def _sed(
    std: Callable[[int], np.ndarray], ids: np.ndarray, report: dict[str, int]
) -> tuple[pd.DataFrame, np.ndarray]:
    """SED block (standard columns 17-33) -> sed_fits rows of fitted sources, source flags."""
    n = len(ids)
    age, age_max, age_min = std(17), std(18), std(19)
    mass, mass_max, mass_min = std(20), std(21), std(22)
    ebv, ebv_max, ebv_min = std(23), std(24), std(25)
    chi = np.column_stack([std(k) for k in range(26, 31)])
    nflt = std(33)
    extended_unfitted = nflt == _UNFITTED_NFLT
    fitted = (age > 0) & ~extended_unfitted
    report["sed_unfitted"] = int((~fitted).sum())
    report["sed_unfitted_extended"] = int(extended_unfitted.sum())
    report["sed_unfitted_classic"] = int((~fitted & ~extended_unfitted).sum())
    flags = np.where(fitted, 0, int(SourceFlag.SED_UNFITTED)).astype(np.int64)

    no_bounds = fitted & (age_min <= 0) & (age_max <= 0) & (mass_min <= 0) & (mass_max <= 0)
    report["sed_bounds_missing"] = int(no_bounds.sum())
    flags |= np.where(no_bounds, int(SourceFlag.SED_BOUNDS_MISSING), 0)
    with_bounds = fitted & ~no_bounds

    def log10_where(a: np.ndarray, ok: np.ndarray, key: str, bit: SourceFlag) -> np.ndarray:
        nonlocal flags
        bad = ok & ~(a > 0)
        report[key] = report.get(key, 0) + int(bad.sum())
        flags |= np.where(bad, int(bit), 0)
        out = np.full(n, np.nan)
        good = ok & (a > 0)
        out[good] = np.log10(a[good])
        return out

    bounds_bit = SourceFlag.SED_BOUNDS_MISSING
    log_age = log10_where(age, fitted, "sed_value_invalid", SourceFlag.SED_VALUE_INVALID)
    log_mass = log10_where(mass, fitted, "sed_value_invalid", SourceFlag.SED_VALUE_INVALID)
    lo_age = log10_where(age_min, with_bounds, "sed_bound_invalid", bounds_bit)
    hi_age = log10_where(age_max, with_bounds, "sed_bound_invalid", bounds_bit)
    lo_mass = log10_where(mass_min, with_bounds, "sed_bound_invalid", bounds_bit)
    hi_mass = log10_where(mass_max, with_bounds, "sed_bound_invalid", bounds_bit)
    sentinel = fitted & (ebv == -9999.0)
    report["sentinel_9999"] += int(sentinel.sum())

    unused = _near(chi, _UNFITTED_NFLT)
    report["chi2_band_unused"] = int((unused & fitted[:, None]).sum())
    wide = pd.DataFrame(np.where(unused, np.nan, chi)[fitted], columns=list(BANDS))
    residuals = [{b: v for b, v in r.items() if v == v} for r in wide.to_dict("records")]

    sel = fitted
    frame = pd.DataFrame(
        {
            "id_in_release": ids[sel],
            "method": SED_METHOD.name,
            "log_age": log_age[sel],
            "log_age_min": lo_age[sel],
            "log_age_max": hi_age[sel],
            "log_mass": log_mass[sel],
            "log_mass_min": lo_mass[sel],
            "log_mass_max": hi_mass[sel],
            "ebv": np.where(sentinel, np.nan, ebv)[sel],
            "ebv_min": np.where(with_bounds, ebv_min, np.nan)[sel],
            "ebv_max": np.where(with_bounds, ebv_max, np.nan)[sel],
            "chi2_residuals": pd.Series(residuals, dtype=object),
            "reduced_chi2": std(31)[sel],
            "q_prob": std(32)[sel],
            "n_bands": _int16(nflt[sel], np.ones(int(sel.sum()), dtype=bool)),
        }
    )
    return frame, flags


def _classes(
    path: Path,
    col: Callable[[int], np.ndarray],
    lines: np.ndarray,
    ids: np.ndarray,
    cc: ClassColumn,
    report: dict[str, int],
) -> tuple[pd.DataFrame, np.ndarray]:
    """One class column -> classification rows (classes 1-4 only) and source flags."""
    v = col(cc.column)
    method: ClassificationMethodSpec = METHODS[cc.method]
    integral = v == np.round(v)
    valid = integral & (v >= 1) & (v <= 4)
    zero = v == 0
    not_inspected = np.isin(v, cc.not_inspected) & ~valid
    out_of_scheme = ~(valid | zero | not_inspected)
    for key, mask in (
        ("class_zero", zero),
        ("class_not_inspected", not_inspected),
        ("class_out_of_scheme", out_of_scheme),
    ):
        report[key] += int(mask.sum())
        report[f"{key}:{method.name}"] = report.get(f"{key}:{method.name}", 0) + int(mask.sum())
    flags = np.where(not_inspected, int(SourceFlag.CLASS_NOT_INSPECTED), 0).astype(np.int64)
    flags |= np.where(out_of_scheme, int(SourceFlag.CLASS_OUT_OF_SCHEME), 0)

    k = int(valid.sum())
    frame = pd.DataFrame(
        {
            "id_in_release": ids[valid],
            "method": method.name,
            "cluster_class": _int16(v[valid], np.ones(k, dtype=bool)),
            "score": col(cc.score_column)[valid] if cc.score_column else np.full(k, np.nan),
        }
    )
    if cc.quality_column:
        q = col(cc.quality_column)[valid]
        ok = np.isin(q, (1, 2, 3))
        report["quality_unset"] = report.get("quality_unset", 0) + int((q == 0).sum())
        report["quality_out_of_range"] = report.get("quality_out_of_range", 0) + int(
            (~ok & (q != 0)).sum()
        )
        frame["quality"] = _int16(q, ok)
    if cc.method_flag_column:
        mf = col(cc.method_flag_column)
        _require_integers(path, mf, lines, cc.method_flag_column, "hybrid method flag")
        frame["method_flag"] = _int16(mf[valid], np.ones(k, dtype=bool))
    return frame, flags
