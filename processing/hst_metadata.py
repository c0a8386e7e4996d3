"""The shared PHANGS-HST observation tables: per-target header facts and WFC3/UVIS EE curves.

Pure readers of ``$CLUSTERCAT_DATA/phangs-metadata`` (data/README.md):

* :func:`read_header_info` — ``header_info_<target>_prime.txt``: per filter the detector,
  PHOTFLAM, PHOTPLAM, PHOTFNU, AB and Vega zeropoints, exposure time, number of exposures and
  date, as in the real drizzled images' headers (PHANGS data-access code, Lee et al. 2022).
* :func:`read_encircled_energy` — the STScI WFC3/UVIS encircled-energy tables
  ``wfc3uvis{1,2}_aper_007_syn.csv`` (WFC3 Instrument Handbook §9.1.8).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from clustercat.schema.config import data_dir

METADATA_DIR = "phangs-metadata"
HEADER_INFO_PATTERN = "header_info_{target}_prime.txt"

#: Band label of each broad-band filter (Whitmore et al. 2021 §2; Lee et al. 2022 Table 1).
#: F606W stands in for V in a few LEGUS fields, as in the ``filter`` table seed.
BAND_OF_FILTER: dict[str, str] = {
    "F275W": "NUV",
    "F336W": "U",
    "F435W": "B",
    "F438W": "B",
    "F555W": "V",
    "F606W": "V",
    "F814W": "I",
}

#: Detector keyword → camera/channel name used by the ``filter`` table.
INSTRUMENT_OF_DETECTOR: dict[str, str] = {"UVIS": "WFC3/UVIS", "WFC": "ACS/WFC"}

HEADER_INFO_COLUMNS = (
    "filter", "detector", "instrument", "band", "photflam", "photplam", "photfnu",
    "zp_ab", "zp_vega", "exptime_s", "n_exposures", "date",
)  # fmt: skip


class UnknownTargetError(LookupError):
    """A PHANGS target with no header_info table in the shared data."""


def _metadata_dir(data: Path | None) -> Path:
    """``data`` may be the shared-data folder or its ``phangs-metadata`` folder itself."""
    if data is None:
        return data_dir() / METADATA_DIR
    data = Path(data)
    return data / METADATA_DIR if (data / METADATA_DIR).is_dir() else data


def available_targets(data: Path | None = None) -> list[str]:
    """Targets with a ``header_info_<target>_prime.txt`` table, sorted (e.g. ``ngc628c``)."""
    folder = _metadata_dir(data)
    found = (re.fullmatch(r"header_info_(.+)_prime\.txt", p.name) for p in folder.glob("*.txt"))
    return sorted(m.group(1) for m in found if m)


def normalise_target(target: str) -> str:
    """``'NGC 628C'``, ``'ngc_628c'``, ``'ngc628-c'`` → ``'ngc628c'``."""
    return re.sub(r"[\s_\-]+", "", target.strip().lower())


def read_header_info(target: str, data: Path | None = None) -> pd.DataFrame:
    """Per-filter header facts of a PHANGS-HST target's drizzled images.

    ``data`` is the shared-data folder or the folder holding the tables (default
    ``$CLUSTERCAT_DATA/phangs-metadata``).
    Columns: ``filter``, ``detector`` ('UVIS'/'WFC'), ``instrument`` ('WFC3/UVIS'/'ACS/WFC'),
    ``band`` (NUV/U/B/V/I, None for other filters), ``photflam`` (erg/s/cm2/Angstrom per
    e-/s), ``photplam`` (Angstrom), ``photfnu`` (Jy s/e-; NaN where the file has 0, i.e.
    ACS headers without PHOTFNU, or no such column), ``zp_ab`` and ``zp_vega`` (mag for
    1 e-/s), ``exptime_s`` (s), ``n_exposures``, ``date`` (observation date, datetime64).

    ``zp_vega`` is one constant per filter and camera in these tables, whatever the image's
    PHOTFLAM (docs/images.md, "Accuracy").
    """
    folder = _metadata_dir(data)
    key = normalise_target(target)
    path = folder / HEADER_INFO_PATTERN.format(target=key)
    if not path.is_file():
        known = available_targets(data)
        raise UnknownTargetError(
            f"no header table for PHANGS target {target!r} ({path} does not exist); "
            f"available targets: {', '.join(known) if known else 'none (folder empty/missing)'}"
        )
    raw = pd.read_csv(path, sep=r"\s+", comment=None, dtype=str)
    raw.columns = [c.lstrip("#").strip().lower() for c in raw.columns]
    expected = ["filter", "detector", "photflam", "photplam", "photfnu", "zpab", "zpvega",
                "exptime", "number", "date"]  # fmt: skip
    if "photfnu" not in raw.columns:  # one real table (ngc1317) has no PHOTFNU column
        raw.insert(4, "photfnu", "0")
    if list(raw.columns) != expected:
        raise ValueError(f"{path}: header line has columns {list(raw.columns)}, not {expected}")
    try:
        detector = raw["detector"].str.upper()
        unknown = sorted(set(detector) - set(INSTRUMENT_OF_DETECTOR))
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown}")
        photfnu = raw["photfnu"].astype(float)
        out = pd.DataFrame(
            {
                "filter": raw["filter"].str.upper(),
                "detector": detector,
                "instrument": detector.map(INSTRUMENT_OF_DETECTOR),
                "band": raw["filter"].str.upper().map(BAND_OF_FILTER),
                "photflam": raw["photflam"].astype(float),
                "photplam": raw["photplam"].astype(float),
                "photfnu": photfnu.where(photfnu > 0, np.nan),
                "zp_ab": raw["zpab"].astype(float),
                "zp_vega": raw["zpvega"].astype(float),
                "exptime_s": raw["exptime"].astype(float),
                "n_exposures": raw["number"].astype(int),
                "date": pd.to_datetime(raw["date"], format="%Y-%m-%d"),
            }
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    out["band"] = out["band"].astype(object).where(out["band"].notna(), None)
    return out.reset_index(drop=True)


#: The STScI WFC3/UVIS encircled-energy tables (one per chip).
EE_FILES = {"uvis1": "wfc3uvis1_aper_007_syn.csv", "uvis2": "wfc3uvis2_aper_007_syn.csv"}


def read_encircled_energy(detector: str = "uvis1", data: Path | None = None) -> pd.DataFrame:
    """WFC3/UVIS encircled-energy fraction per filter and radius, as a tidy long frame.

    Columns: ``filter`` (e.g. 'F275W'), ``wavelength_aa`` (Angstrom), ``radius_arcsec``
    (arcsec, float from the ``APER#r`` headers) and ``fraction`` (of the total flux; the
    largest radius, 6", is 1 by definition). The two ``FFFFF`` rows of the STScI file
    (wavelength anchors at 2000 and 11000 Angstrom, not filters) are dropped. For a wide
    table use ``frame.pivot(index="filter", columns="radius_arcsec", values="fraction")``.
    WFC3 Instrument Handbook §9.1.8 (aperture corrections).
    """
    key = detector.strip().lower().replace("/", "").replace("wfc3", "")
    if key not in EE_FILES:
        raise ValueError(f"unknown WFC3/UVIS chip {detector!r}; use one of {sorted(EE_FILES)}")
    path = _metadata_dir(data) / EE_FILES[key]
    if not path.is_file():
        raise FileNotFoundError(f"encircled-energy table {path} does not exist")
    wide = pd.read_csv(path)
    radii = [c for c in wide.columns if c.startswith("APER#")]
    if "FILTER" not in wide.columns or "WAVELENGTH" not in wide.columns or not radii:
        raise ValueError(f"{path}: expected FILTER, WAVELENGTH and APER#<r> columns")
    wide = wide[wide["FILTER"].str.upper() != "FFFFF"]
    long = wide.melt(
        id_vars=["FILTER", "WAVELENGTH"], value_vars=radii, var_name="aper", value_name="fraction"
    )
    out = pd.DataFrame(
        {
            "filter": long["FILTER"].str.upper(),
            "wavelength_aa": long["WAVELENGTH"].astype(float),
            "radius_arcsec": long["aper"].str.removeprefix("APER#").astype(float),
            "fraction": long["fraction"].astype(float),
        }
    )
    return out.sort_values(["filter", "radius_arcsec"], kind="stable").reset_index(drop=True)
