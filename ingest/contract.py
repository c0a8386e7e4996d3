"""The contract between the catalogue readers and the loader: "file -> validated tables".

Every reader in :mod:`clustercat.ingest` (LEGUS ``.tab`` and CSV twin, StarcNet predictions,
PHANGS-HST FITS, published MRT tables) returns :class:`CatalogueTables`: plain pandas frames in
long format (DESIGN.md §4), free of sentinel numbers (DESIGN.md §6), with units fixed by this
module. The loader writes them into the database; nothing here touches a database.

Units and conventions (all frames)
----------------------------------
* positions: ``x``, ``y``, ``x_mosaic``, ``y_mosaic`` in pixels as given by the file (LEGUS:
  1-based pixel convention of the reference frame); ``ra``, ``dec`` in degrees (ICRS/J2000).
* magnitudes: Vega magnitudes; ``mag_err`` in mag; fluxes in mJy.
* ``ci``: concentration index m(1 px) - m(3 px) in mag; ``mci_in`` / ``mci_out`` in mag.
* SED: ``log_age`` = log10(age / yr), ``log_mass`` = log10(mass / Msun), ``ebv`` = E(B-V) in mag.
* missing values are NaN (float columns) or ``<NA>`` (nullable integer / string columns); the
  reason a value is missing is recorded in a status column or in ``sources.flags`` and counted
  in ``report``. No sentinel number (66.666, 99.999, 44.444, -9999, -999, 200) survives.

Band labels are exactly ``NUV``, ``U``, ``B``, ``V``, ``I``; the filter behind each label is in
``CatalogueTables.filters`` and repeated per row in ``photometry.filter``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Band labels, in wavelength order.
BANDS: tuple[str, ...] = ("NUV", "U", "B", "V", "I")

#: Camera names used in ``CatalogueTables.instruments``.
INSTRUMENTS: tuple[str, ...] = ("WFC3/UVIS", "ACS/WFC")

#: Values of ``ClassificationMethodSpec.kind``.
METHOD_KINDS: tuple[str, ...] = ("human", "ml", "hybrid", "consensus")

#: Values of ``photometry.status``.
#:   measured          -- magnitude present (its error may still be NaN, see SourceFlag)
#:   not_detected      -- LEGUS 99.999: flux negative or extremely small; PHANGS NaN magnitude
#:   outside_footprint -- LEGUS 66.666: source outside that filter's field of view
#:   no_coverage       -- PHANGS -9999: no data in that filter; MRT "no data available" nulls
#:   apcor_undefined   -- LEGUS 44.444: detected, but the CI-based aperture correction is
#:                        undefined (LEGUS_description.txt; absent from the avgapcor files)
PHOT_STATUSES: tuple[str, ...] = (
    "measured",
    "not_detected",
    "outside_footprint",
    "no_coverage",
    "apcor_undefined",
)

#: Values of ``morphology.ci_flag``.
CI_FLAGS: tuple[str, ...] = ("ok", "invalid")

#: Sentinel numbers that must never reach a measurement column (checked by ``check``).
SENTINELS: tuple[float, ...] = (66.666, 99.999, 44.444, -9999.0, -999.0)

#: CI values at or above this are invalid in LEGUS files (LAYOUTS.md §2.1).
CI_INVALID_THRESHOLD = 40.0

#: Measured magnitudes must lie in this open interval (Vega mag); anything else is a bad
#: value, not a sentinel (real LEGUS files span 10.5-35.0 mag).
MAG_RANGE: tuple[float, float] = (-30.0, 44.0)
#: Largest magnitude error accepted (mag); real LEGUS files reach 98.8 mag for faint sources.
MAG_ERR_MAX = 100.0


class SourceFlag(enum.IntFlag):
    """Bits of ``sources.flags`` (int64). A bit says *why* a value of that source is missing."""

    NONE = 0
    #: CI >= 40, non-finite or a sentinel: ``morphology.ci`` is NaN and ``ci_flag`` "invalid".
    CI_INVALID = 1 << 0
    #: at least one band is outside the footprint (LEGUS 66.666).
    PHOT_OUTSIDE_FOOTPRINT = 1 << 1
    #: at least one band is not detected (LEGUS 99.999 magnitude; PHANGS NaN magnitude).
    PHOT_NOT_DETECTED = 1 << 2
    #: at least one band has an undefined aperture correction (LEGUS 44.444).
    PHOT_APCOR_UNDEFINED = 1 << 3
    #: at least one band has no coverage (PHANGS -9999, MRT null).
    PHOT_NO_COVERAGE = 1 << 4
    #: at least one band has a magnitude but a sentinel error (error stored as NaN).
    PHOT_ERR_UNDEFINED = 1 << 5
    #: no SED fit in the file (LEGUS classic age=mass=E(B-V)=0 or extended Nflt=200).
    SED_UNFITTED = 1 << 6
    #: SED fitted but its 68 % bounds are missing (all bounds 0 in the file) or non-positive.
    SED_BOUNDS_MISSING = 1 << 7
    #: a class column says "not inspected" (NGC 4449 Whitmore class 5).
    CLASS_NOT_INSPECTED = 1 << 8
    #: a class column holds a value outside the 1-4 scheme (e.g. NGC 4242 id 386: 50).
    CLASS_OUT_OF_SCHEME = 1 << 9
    #: an SED value (age, mass, E(B-V)) was a sentinel or non-positive where a log is taken.
    SED_VALUE_INVALID = 1 << 10


@dataclass(frozen=True)
class ClassificationMethodSpec:
    """One classification method found in a file (one class column = one method)."""

    name: str  # e.g. "LEGUS human mode", "LEGUS ML", "LEGUS hybrid", "Whitmore visual", "StarcNet"
    kind: str  # "human" | "ml" | "hybrid" | "consensus"
    description: str
    reference: str = ""  # publication or document the definition comes from


@dataclass(frozen=True)
class SedMethodSpec:
    """How the SED values of a file were obtained (DESIGN.md §4 ``sed_method``)."""

    name: str
    code: str
    ssp_model: str
    imf: str | None
    metallicity: float | None  # Z (mass fraction), None when not stated in the file
    extinction_law: str | None
    description: str


# --- frame schemas -----------------------------------------------------------------------
# Required columns and their pandas dtypes. Readers may add documented extra columns to
# ``sources`` (e.g. PHANGS ``cc_class``); the other frames have exactly these columns.

SOURCE_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",  # source id in the file (unique)
    "line": "int64",  # 1-based line in the file (FITS: 1-based table row)
    "x": "float64",  # pix
    "y": "float64",  # pix
    "ra": "float64",  # deg
    "dec": "float64",  # deg
    "x_mosaic": "float64",  # pix, NGC 1313 mosaic frame only, else NaN
    "y_mosaic": "float64",  # pix
    "selection_flag": "Int16",  # 0 pipeline, 1 (2) added by visual inspection; <NA> if absent
    "halpha_morph": "Int16",  # 1 on top, 2 ring/associated, 3 possibly, 4 none; <NA> if absent
    "flags": "int64",  # SourceFlag bitmask
}

PHOTOMETRY_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",
    "band": "string",  # NUV | U | B | V | I
    "filter": "string",  # e.g. F336W
    "mag_vega": "float64",  # Vega mag, NaN unless status == "measured"
    "mag_err": "float64",  # mag, NaN when not measured or when the file's error is a sentinel
    "status": "string",  # PHOT_STATUSES
    "flux_mjy": "float64",  # mJy (PHANGS only), else NaN
    "flux_err_mjy": "float64",  # mJy
    "aperture_px": "float64",  # aperture radius in px; NaN = total (aperture-corrected) magnitude
    "mw_ext_corrected": "boolean",  # Milky-Way foreground extinction removed; <NA> if unknown
}

#: Optional photometry columns, written by ClusterCat's own aperture photometry (the image
#: pipeline, :mod:`clustercat.processing.pipeline`); readers of published catalogues leave
#: them out and the loader stores NULL. ``flux_mjy`` of such rows is the count rate
#: converted with the image's AB zeropoint (PHOTFNU = PHOTFLAM * PHOTPLAM^2 / c), so it is
#: only set where that conversion was made.
PHOTOMETRY_OPTIONAL_COLUMNS: dict[str, str] = {
    "sky_median": "float64",  # e-/s/pix, sigma-clipped median in the sky annulus
    "sky_std": "float64",  # e-/s/pix, sigma-clipped standard deviation in the annulus
    "aperture_correction_mag": "float64",  # mag added to the 4-px magnitude (total rows)
}

MORPHOLOGY_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",
    "ci": "float64",  # mag, NaN when invalid
    "ci_flag": "string",  # "ok" | "invalid"
    "mci_in": "float64",  # mag, NaN when not in the file
    "mci_out": "float64",  # mag
}

#: Optional morphology columns (the image pipeline's CI/MCI with errors, Thilker et al.
#: 2022 §3.5-3.7). ``constants_version`` names the per-field fiducial NCI constants; absent
#: or missing means the published catalogue's own values ("catalogue").
MORPHOLOGY_OPTIONAL_COLUMNS: dict[str, str] = {
    "ci_err": "float64",  # mag
    "nci": "float64",  # dimensionless, NCI(1,3)
    "mci_in_err": "float64",  # dimensionless
    "mci_out_err": "float64",  # dimensionless
    "constants_version": "string",  # FiducialConstants.version
}

#: The candidate-selection frame (``CatalogueTables.selection``, table ``source_selection``;
#: Thilker et al. 2022 §4). Empty for catalogues that carry no selection flags.
SELECTION_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",
    "constants_version": "string",  # FiducialConstants.version the morphology cuts used
    "distance_mpc": "float64",  # Mpc, distance adopted for M_V and the MCI region
    "passes_general": "boolean",
    "passes_morph_quality": "boolean",
    "in_semi_empirical": "boolean",
    "super_hd": "boolean",
    "is_double": "boolean",
    "candidate": "boolean",
    "v_snr": "float64",  # dimensionless
    "abs_mag_v": "float64",  # mag, total Vega M_V
}

CLASSIFICATION_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",
    "method": "string",  # ClassificationMethodSpec.name
    "cluster_class": "Int16",  # 1..4
    "subclass": "Int16",  # PHANGS 4.x code x (4.10 -> 10); <NA> otherwise
    "score": "float64",  # human mean vote, ML top probability / VGG quality; NaN if none
    "quality": "Int16",  # Whitmore quality (1 certain, 2 likely, 3 possible); <NA> otherwise
    "method_flag": "Int16",  # NGC 1566 hybrid method flag (0, 1, 3, 4, 6); <NA> otherwise
    "p_class1": "float64",  # ML class probabilities, NaN otherwise
    "p_class2": "float64",
    "p_class3": "float64",
    "p_class4": "float64",
}

SED_COLUMNS: dict[str, str] = {
    "id_in_release": "int64",
    "method": "string",  # SedMethodSpec.name
    "log_age": "float64",  # log10(age / yr)
    "log_age_min": "float64",
    "log_age_max": "float64",
    "log_mass": "float64",  # log10(mass / Msun)
    "log_mass_min": "float64",
    "log_mass_max": "float64",
    "ebv": "float64",  # E(B-V), mag
    "ebv_min": "float64",
    "ebv_max": "float64",
    "chi2_residuals": "object",  # dict band -> residual (bands not used in the fit dropped)
    "reduced_chi2": "float64",
    "q_prob": "float64",  # Q probability of the fit (0..1)
    "n_bands": "Int16",  # number of filters used in the fit
}

#: Keys every reader puts in ``report`` (other keys may be added, see each reader).
REPORT_KEYS: tuple[str, ...] = (
    "rows",  # data rows read
    "sentinel_66666",  # photometry cells (mag + err) equal to 66.666
    "sentinel_99999",  # photometry cells equal to 99.999
    "sentinel_44444",  # photometry cells equal to 44.444
    "sentinel_9999",  # cells equal to -9999 (any measurement column)
    "ci_invalid",  # sources whose CI was >= 40, non-finite or a sentinel
    "class_zero",  # class cells equal to 0 (not classified) -> no classification row
    "class_not_inspected",  # class cells meaning "not inspected" (NGC 4449: 5) -> no row
    "class_out_of_scheme",  # class cells outside 1..4 (e.g. 50) -> no row
    "sed_unfitted",  # sources without an SED fit -> no sed_fits row
)


def empty_frame(columns: Mapping[str, str], n: int = 0) -> pd.DataFrame:
    """An empty (or all-missing, length ``n``) frame with the given column dtypes."""
    data: dict[str, Any] = {}
    for name, dtype in columns.items():
        if dtype in ("float64",):
            data[name] = np.full(n, np.nan)
        elif dtype == "int64":
            data[name] = np.zeros(n, dtype=np.int64)
        elif dtype == "object":
            data[name] = pd.Series([None] * n, dtype=object)
        else:
            data[name] = pd.array([pd.NA] * n, dtype=dtype)
    return pd.DataFrame(data)


def coerce_frame(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Return ``frame`` with the required columns first, cast to the contract dtypes."""
    out = frame.copy()
    for name, dtype in columns.items():
        if name not in out.columns:
            out[name] = empty_frame({name: dtype}, len(out))[name].to_numpy()
        if dtype != "object":
            out[name] = out[name].astype(dtype)
    extras = [c for c in out.columns if c not in columns]
    return out[list(columns) + extras].reset_index(drop=True)


@dataclass
class CatalogueTables:
    """Everything one reader found in one catalogue file (or one block of a file)."""

    survey: str  # "LEGUS" | "PHANGS-HST" | published-table name ("Whitmore+2020", ...)
    galaxy: str  # canonical galaxy name, "NGC 628", "UGC 7408", "ESO 486-G021"
    field: str  # field/pointing, lower case: "ngc628c", "ngc1313e", "ngc1566"
    filters: dict[str, str]  # band label -> filter name, e.g. {"B": "F435W", ...}
    instruments: dict[str, str]  # band label -> "WFC3/UVIS" | "ACS/WFC" (see *_confidence)
    reader: str  # e.g. "legus_tab"
    reader_version: str
    layout: str | None  # LEGUS layout id (LAYOUTS.md §2.2), None for other formats
    source_path: Path
    sources: pd.DataFrame  # SOURCE_COLUMNS (+ documented extras)
    photometry: pd.DataFrame  # PHOTOMETRY_COLUMNS, long: one row per source x band
    morphology: pd.DataFrame  # MORPHOLOGY_COLUMNS
    classifications: pd.DataFrame  # CLASSIFICATION_COLUMNS, long: source x method
    classification_methods: list[ClassificationMethodSpec]
    sed_fits: pd.DataFrame  # SED_COLUMNS, fitted sources only
    sed_method: SedMethodSpec | None
    report: dict[str, int]  # counts of replaced / dropped values (REPORT_KEYS + reader keys)
    # --- additions to the brief's shape -------------------------------------------------
    version: str | None = None  # release version token of the file ("v1", "v2"), if any
    primary_method: str | None = None  # the class column a "class 1/2/3/4" user should use
    filter_confidence: dict[str, str] = field(default_factory=dict)  # band -> high|medium|low
    instrument_confidence: dict[str, str] = field(default_factory=dict)  # band -> ...
    sed_methods: list[SedMethodSpec] = field(default_factory=list)  # all methods in sed_fits
    notes: list[str] = field(default_factory=list)  # evidence / caveats worth keeping
    # --- image pipeline (clustercat.processing.pipeline) ----------------------------------
    selection: pd.DataFrame = field(default_factory=lambda: empty_frame(SELECTION_COLUMNS))
    #: the processing run that measured these tables (module, config, ...): the loader
    #: writes it as a ``processing_run`` row of the release and links the rows to it.
    processing_run: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.sed_method is not None and not self.sed_methods:
            self.sed_methods = [self.sed_method]

    def check(self) -> None:
        """Raise ``ValueError`` listing every violation of this contract (used by tests)."""
        problems = list(_check(self))
        if problems:
            raise ValueError(f"{self.source_path.name}: " + "; ".join(problems))


def _dtype_problems(name: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> list[str]:
    out = []
    for col, dtype in columns.items():
        if col not in frame.columns:
            out.append(f"{name}.{col} missing")
        elif dtype != "object" and str(frame[col].dtype) != dtype:
            out.append(f"{name}.{col} has dtype {frame[col].dtype}, expected {dtype}")
    return out


def _has_sentinel(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=np.float64)
    return bool(np.any(np.isclose(v[..., None], np.asarray(SENTINELS), rtol=0, atol=1e-6)))


def _at(t: CatalogueTables, frame: pd.DataFrame, bad: np.ndarray, values: np.ndarray) -> str:
    """Where the first bad row of ``frame`` comes from: its value, file line and source id."""
    i = int(np.flatnonzero(bad)[0])
    source_id = int(frame["id_in_release"].iat[i])
    lines = t.sources.loc[t.sources["id_in_release"] == source_id, "line"]
    line = f"line {int(lines.iat[0])}, " if len(lines) else ""
    band = f", band {frame['band'].iat[i]}" if "band" in frame.columns else ""
    n = int(np.count_nonzero(bad))
    more = f"; {n - 1} more" if n > 1 else ""
    return f" (first at {line}source id {source_id}{band}: {float(values[i]):g}{more})"


def _check(t: CatalogueTables) -> list[str]:
    p: list[str] = []
    p += _dtype_problems("sources", t.sources, SOURCE_COLUMNS)
    p += _dtype_problems("photometry", t.photometry, PHOTOMETRY_COLUMNS)
    p += _dtype_problems("morphology", t.morphology, MORPHOLOGY_COLUMNS)
    p += _dtype_problems("classifications", t.classifications, CLASSIFICATION_COLUMNS)
    p += _dtype_problems("sed_fits", t.sed_fits, SED_COLUMNS)
    if p:
        return p
    if set(t.filters) - set(BANDS) or set(t.instruments) - set(BANDS):
        p.append("filters/instruments keyed by something other than the band labels")
    if set(t.instruments.values()) - set(INSTRUMENTS):
        p.append(f"unknown instrument in {t.instruments}")
    ids = t.sources["id_in_release"]
    if ids.duplicated().any():
        p.append("duplicate id_in_release in sources")
    known = set(ids.tolist())
    for name in ("photometry", "morphology", "classifications", "sed_fits"):
        frame = getattr(t, name)
        if not set(frame["id_in_release"].tolist()) <= known:
            p.append(f"{name} refers to ids not in sources")
    ra, dec = t.sources["ra"].to_numpy(), t.sources["dec"].to_numpy()
    fin = np.isfinite(ra) & np.isfinite(dec)
    if np.any((ra[fin] < 0) | (ra[fin] >= 360) | (np.abs(dec[fin]) > 90)):
        p.append("RA/Dec out of range")
    ph = t.photometry
    if not ph["band"].isin(BANDS).all():
        p.append("photometry.band outside NUV/U/B/V/I")
    if not ph["status"].isin(PHOT_STATUSES).all():
        p.append("photometry.status outside PHOT_STATUSES")
    if ph.duplicated(["id_in_release", "band", "aperture_px"]).any():
        p.append("photometry has duplicate (id, band, aperture) rows")
    measured = (ph["status"] == "measured").to_numpy()
    mag = ph["mag_vega"].to_numpy()
    if np.any(np.isnan(mag[measured])) or np.any(np.isfinite(mag[~measured])):
        p.append("photometry.mag_vega must be finite exactly when status == 'measured'")
    for col in ("mag_vega", "mag_err", "flux_mjy", "flux_err_mjy"):
        if _has_sentinel(ph[col].to_numpy()):
            p.append(f"sentinel value in photometry.{col}")
    if np.any(np.isfinite(ph["flux_mjy"].to_numpy()[~measured])):
        p.append("photometry.flux_mjy must be NaN when status != 'measured'")
    lo, hi = MAG_RANGE
    bad_mag = measured & ((mag <= lo) | (mag >= hi))
    if bad_mag.any():
        p.append(f"photometry.mag_vega outside ({lo:g}, {hi:g}){_at(t, ph, bad_mag, mag)}")
    err = ph["mag_err"].to_numpy()
    if np.any(bad_err := (err < 0) | (err > MAG_ERR_MAX)):
        p.append(f"photometry.mag_err outside [0, {MAG_ERR_MAX:g}]{_at(t, ph, bad_err, err)}")
    flux_err = ph["flux_err_mjy"].to_numpy()
    if np.any(flux_err < 0):
        p.append(f"negative photometry.flux_err_mjy{_at(t, ph, flux_err < 0, flux_err)}")
    ci = t.morphology["ci"].to_numpy()
    if _has_sentinel(ci) or np.any(ci[np.isfinite(ci)] >= CI_INVALID_THRESHOLD):
        p.append("invalid CI value in morphology.ci")
    if not t.morphology["ci_flag"].isin(CI_FLAGS).all():
        p.append("morphology.ci_flag outside ok/invalid")
    if np.any(np.isnan(ci) != (t.morphology["ci_flag"] == "invalid").to_numpy()):
        p.append("morphology.ci must be NaN exactly when ci_flag == 'invalid'")
    cl = t.classifications
    names = {m.name for m in t.classification_methods}
    if not set(cl["method"].unique().tolist()) <= names:
        p.append("classification rows for a method not in classification_methods")
    if any(m.kind not in METHOD_KINDS for m in t.classification_methods):
        p.append("classification method kind outside human/ml/hybrid/consensus")
    if len(cl) and not cl["cluster_class"].isin([1, 2, 3, 4]).all():
        p.append("cluster_class outside 1..4")
    if (cl["subclass"].notna() & (cl["cluster_class"] != 4)).any():
        p.append("subclass set for a class other than 4")
    if cl.duplicated(["id_in_release", "method"]).any():
        p.append("duplicate (id, method) classification rows")
    sed = t.sed_fits
    if not set(sed["method"].unique().tolist()) <= {m.name for m in t.sed_methods}:
        p.append("sed_fits rows for a method not in sed_methods")
    if sed.duplicated(["id_in_release", "method"]).any():
        p.append("duplicate (id, method) sed_fits rows")
    # reduced chi2 and Q are free-ranging fit statistics; only the physical values are checked
    num = [c for c, d in SED_COLUMNS.items() if d == "float64" and c[:3] in ("log", "ebv")]
    if len(sed) and _has_sentinel(sed[num].to_numpy()):
        p.append("sentinel value in sed_fits")
    if len(sed) and np.any(np.isclose(sed[["reduced_chi2", "ebv"]].to_numpy(), 200.0)):
        p.append("unfitted SED marker 200 in sed_fits")
    for col, lo, hi in (("log_age", 4, 11), ("log_mass", -2, 12), ("ebv", -1, 10),
                        ("reduced_chi2", 0, np.inf), ("q_prob", 0, 1)):  # fmt: skip
        v = sed[col].to_numpy()
        if np.any(bad := np.isfinite(v) & ((v < lo) | (v > hi))):
            p.append(f"sed_fits.{col} outside [{lo}, {hi}]{_at(t, sed, bad, v)}")
    probs = cl[["p_class1", "p_class2", "p_class3", "p_class4"]].to_numpy()
    if np.any((probs[np.isfinite(probs)] < 0) | (probs[np.isfinite(probs)] > 1)):
        p.append("class probabilities outside [0, 1]")
    for residuals in sed["chi2_residuals"]:
        if not isinstance(residuals, dict) or set(residuals) - set(BANDS):
            p.append("chi2_residuals must be a dict keyed by band")
            break
        if any(v == 200.0 for v in residuals.values()):
            p.append("chi2_residuals contains the 'band unused' marker 200")
            break
    if any(v < 0 for v in t.report.values()):
        p.append("negative report count")
    p += _pipeline_problems(t, known)
    return p


def _pipeline_problems(t: CatalogueTables, known: set) -> list[str]:
    """Checks of the image pipeline's optional columns and of the selection frame."""
    p: list[str] = []
    for name, optional in (("photometry", PHOTOMETRY_OPTIONAL_COLUMNS),
                           ("morphology", MORPHOLOGY_OPTIONAL_COLUMNS)):  # fmt: skip
        frame = getattr(t, name)
        present = {c: d for c, d in optional.items() if c in frame.columns}
        p += _dtype_problems(name, frame, present)
    for col in ("sky_std",):
        if col in t.photometry.columns and np.any(t.photometry[col].to_numpy() < 0):
            p.append(f"negative photometry.{col}")
    for col in ("ci_err", "mci_in_err", "mci_out_err"):
        if col in t.morphology.columns and np.any(t.morphology[col].to_numpy() < 0):
            p.append(f"negative morphology.{col}")
    sel = t.selection
    problems = _dtype_problems("selection", sel, SELECTION_COLUMNS)
    if problems:
        return p + problems
    if not set(sel["id_in_release"].tolist()) <= known:
        p.append("selection refers to ids not in sources")
    if sel.duplicated(["id_in_release", "constants_version"]).any():
        p.append("duplicate (id, constants_version) selection rows")
    flags = [c for c, d in SELECTION_COLUMNS.items() if d == "boolean"]
    if len(sel) and sel[flags].isna().any().any():
        p.append("selection flags must be true or false, never missing")
    if len(sel) and sel["constants_version"].isna().any():
        p.append("selection.constants_version missing")
    snr = sel["v_snr"].to_numpy()
    if np.any(snr[np.isfinite(snr)] < 0):
        p.append("negative selection.v_snr")
    return p
