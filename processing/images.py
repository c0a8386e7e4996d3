"""Drizzled HST images: read and write MAST-style FITS files, photometric zeropoints.

Pure functions (files and arrays in, dataclasses and numbers out); the database side is
``processing/images_db.py``. What is read from which keyword, and why, is in docs/images.md.

* :func:`write_hst_fits` writes a drizzled image laid out as MAST delivers it (``*_drc.fits``:
  empty primary + ``SCI`` extension; or HLSP-style, everything in the primary HDU).
* :func:`read_hst_image` / :func:`read_hst_header` read such files (real MAST products
  unchanged) into an :class:`HSTImage` / :class:`HSTHeader`.
* :func:`zeropoint_ab` and :func:`zeropoint_vega` are the STScI zeropoints for 1 e-/s
  (WFC3 Instrument Handbook §9.1; ACS Data Handbook §5.1.1; Sirianni et al. 2005 §3).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import astropy.constants as const
import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

#: Camera/channel name (as in the ``filter`` table) → (INSTRUME, DETECTOR) keywords.
INSTRUMENT_KEYWORDS: dict[str, tuple[str, str]] = {
    "WFC3/UVIS": ("WFC3", "UVIS"),
    "ACS/WFC": ("ACS", "WFC"),
}
#: Detector assumed when a file has INSTRUME but no DETECTOR keyword.
DEFAULT_DETECTOR = {"WFC3": "UVIS", "ACS": "WFC"}

#: ACS filters mounted on wheel 1 (FILTER1); all other ACS/WFC filters are on wheel 2
#: (FILTER2). ACS Instrument Handbook §5.1, Table 5.1.
ACS_WHEEL1 = frozenset(
    {"F555W", "F775W", "F625W", "F550M", "F850LP", "F892N", "F606W", "F502N", "F658N", "F475W"}
)
ACS_CLEAR = {"FILTER1": "CLEAR1L", "FILTER2": "CLEAR2L"}

#: STScI PHOTZPT: the ST magnitude zeropoint, -21.10 mag (WFC3 IHB §9.1.1).
PHOTZPT = -21.1

#: BUNIT spellings of a count rate (normalised: lower case, no blanks) and of counts.
RATE_UNITS = frozenset(
    {"electrons/s", "electron/s", "e-/s", "e/s", "electrons/sec", "electron/sec",
     "electrons.s**-1", "electron.s**-1", "electrons/second", "electrons/s/pixel",
     "electrons/s/pix", "electrons.s-1", "electron.s-1", "e-.s-1", "e.s-1"}
)  # fmt: skip
COUNT_UNITS = frozenset({"electrons", "electron", "e-", "e"})


class ImageFormatError(ValueError):
    """A file that is not a usable drizzled HST image; names the file, HDU and keyword."""

    def __init__(
        self, path: Path | str, message: str, *, hdu: int | None = None, keyword: str | None = None
    ) -> None:
        self.path, self.hdu, self.keyword = Path(path), hdu, keyword
        where = str(path)
        if hdu is not None:
            where += f" [HDU {hdu}]"
        if keyword is not None:
            where += f" keyword {keyword}"
        super().__init__(f"{where}: {message}")


class ImageChangedError(ValueError):
    """A file whose SHA-256 is not the one it was registered with."""


# --- zeropoints -----------------------------------------------------------------------------


def _value(x: float | u.Quantity, unit: u.UnitBase) -> float:
    return float(x.to_value(unit)) if isinstance(x, u.Quantity) else float(x)


FLAM = u.erg / u.s / u.cm**2 / u.AA
FNU = u.erg / u.s / u.cm**2 / u.Hz


def zeropoint_ab(photflam: float | u.Quantity, photplam: float | u.Quantity) -> float:
    """AB magnitude of 1 e-/s: -2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408.

    PHOTFLAM in erg/s/cm2/Angstrom per e-/s, PHOTPLAM in Angstrom (WFC3 IHB §9.1.1,
    Sirianni et al. 2005 eq. 9). Returns mag.
    """
    flam, plam = _value(photflam, FLAM), _value(photplam, u.AA)
    if not (flam > 0 and plam > 0):
        raise ValueError(f"PHOTFLAM ({flam}) and PHOTPLAM ({plam}) must be positive")
    return float(-2.5 * np.log10(flam) - 5.0 * np.log10(plam) - 2.408)


@lru_cache(maxsize=1)
def _pyphot_library():  # noqa: ANN202
    import pyphot

    return pyphot.get_library()


#: The Vega spectrum of the Vega zeropoints: CALSPEC ``alpha_lyr_mod_003`` (Bohlin 2014's
#: model), pyphot flavour ``mod_003``. Against the 202 zpVEGA rows of the 39 PHANGS-HST
#: header tables it gives a median |dZP| of 0.020 mag with 13 rows beyond 0.03 (NGC 628-c:
#: worst 0.021); pyphot's default (``legacy``, STIS 003) gives 42 rows beyond 0.03 (NGC
#: 628-c F336W 0.040). tests/test_images.py measures both (docs/images.md).
VEGA_FLAVOR = "mod_003"


@lru_cache(maxsize=8)
def _vega_spectrum(flavor: str) -> tuple[u.Quantity, u.Quantity]:
    from pyphot.vega import Vega

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Vega(flavor=flavor) as vega:
            return vega.wavelength, vega.flux


@lru_cache(maxsize=64)
def vega_zero_flux(pyphot_name: str, flavor: str = VEGA_FLAVOR) -> float:
    """Photon-weighted mean flux density of Vega through a pyphot curve (erg/s/cm2/Angstrom).

    ``flavor`` names pyphot's Vega spectrum (:data:`VEGA_FLAVOR` by default).
    """
    library = _pyphot_library()
    if pyphot_name not in library.get_library_content():
        raise KeyError(f"pyphot has no filter curve named {pyphot_name!r}")
    wavelength, flux = _vega_spectrum(flavor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = library[pyphot_name].get_flux(wavelength, flux)
    return float(u.Quantity(mean).to_value(FLAM))


def pyphot_name(filter_name: str, instrument: str) -> str:
    """The pyphot curve name of an HST filter: ``HST_WFC3_F555W``, ``HST_ACS_WFC_F435W``."""
    camera = {"WFC3/UVIS": "HST_WFC3", "ACS/WFC": "HST_ACS_WFC"}.get(instrument)
    if camera is None:
        raise KeyError(f"no pyphot curve naming rule for instrument {instrument!r}")
    return f"{camera}_{filter_name.upper()}"


def vega_ab_magnitude(pyphot_curve: str, flavor: str = VEGA_FLAVOR) -> float:
    """AB magnitude of Vega through a pyphot curve (mag): -2.5 log10(<f_nu>) - 48.60.

    <f_nu> = <f_lambda> lambda_p**2 / c with pyphot's photon-weighted mean flux density of
    its Vega spectrum and the curve's own pivot wavelength (Bessell & Murphy 2012 eq. A11).
    """
    library = _pyphot_library()
    if pyphot_curve not in library.get_library_content():
        raise KeyError(f"pyphot has no filter curve named {pyphot_curve!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pivot = u.Quantity(library[pyphot_curve].lpivot).to(u.AA)
    fnu = (vega_zero_flux(pyphot_curve, flavor) * FLAM * pivot**2 / const.c).to_value(FNU)
    return float(-2.5 * np.log10(fnu) - 48.60)


def zeropoint_vega(
    photflam: float | u.Quantity, photplam: float | u.Quantity, pyphot_curve: str
) -> float:
    """Vega magnitude of 1 e-/s (mag): ZP_AB minus the AB magnitude of Vega in the filter.

    Equal to -2.5 log10(PHOTFLAM / F_Vega) (WFC3 IHB §9.1.1) when the curve's pivot is
    PHOTPLAM; written this way the curve only sets Vega's AB colour, so a pyphot curve
    whose pivot differs from the image's (e.g. pyphot's WFC3 F814W, 8307 vs 8040 Angstrom)
    moves the result by 0.04 instead of 0.11 mag. See docs/images.md for the accuracy.
    """
    return zeropoint_ab(photflam, photplam) - vega_ab_magnitude(pyphot_curve)


# --- writing ----------------------------------------------------------------------------------


def _wcs_cards(wcs: WCS) -> fits.Header:
    """The celestial WCS as MAST writes it: CD matrix, no PC/CDELT."""
    cel = wcs.celestial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = cel.to_header()
    cd = cel.wcs.cd if cel.wcs.has_cd() else cel.wcs.get_pc() * cel.wcs.cdelt[:, None]
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2", "MJDREF", "DATEREF"):
        header.remove(key, ignore_missing=True)
    for i in range(2):
        for j in range(2):
            header[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "partial of coordinate wrt pixel")
    return header


def write_hst_fits(
    path: Path | str,
    data: np.ndarray,
    wcs: WCS,
    *,
    filter_name: str,
    instrument: str,
    photflam: float,
    photplam: float,
    exptime_s: float,
    bunit: str = "ELECTRONS/S",
    layout: str = "sci",
    extra_header: Mapping[str, object] | None = None,
    dtype: type | np.dtype = np.float32,
) -> Path:
    """Write a drizzled HST image laid out as MAST delivers it; returns the path.

    ``instrument`` is 'WFC3/UVIS' or 'ACS/WFC'. ``layout="sci"``: an empty primary HDU with
    TELESCOP, INSTRUME, DETECTOR, FILTER (WFC3) or FILTER1/FILTER2 (ACS, the other wheel
    CLEAR1L/CLEAR2L), EXPTIME, and an ``SCI`` image extension with the WCS (CD matrix), BUNIT,
    PHOTMODE, PHOTFLAM, PHOTPLAM and PHOTZPT (the ``*_drc.fits`` layout). ``layout="primary"``:
    everything in the primary HDU (the HLSP layout). ``extra_header`` keywords are set on the
    HDU holding the pixels; a value of ``None`` deletes that keyword from every HDU (to write
    deliberately broken files). Deterministic: the same inputs give the same bytes.
    """
    if instrument not in INSTRUMENT_KEYWORDS:
        raise ValueError(
            f"instrument must be one of {sorted(INSTRUMENT_KEYWORDS)}, not {instrument!r}"
        )
    if layout not in ("sci", "primary"):
        raise ValueError(f"layout must be 'sci' or 'primary', not {layout!r}")
    array = np.asarray(data)
    if array.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {array.shape}")
    instrume, detector = INSTRUMENT_KEYWORDS[instrument]
    filt = filter_name.upper()

    primary = fits.Header()
    primary["TELESCOP"] = ("HST", "telescope used to acquire data")
    primary["INSTRUME"] = (instrume, "identifier for instrument used to acquire data")
    primary["DETECTOR"] = (detector, "detector in use")
    if instrume == "ACS":
        wheel = "FILTER1" if filt in ACS_WHEEL1 else "FILTER2"
        for key in ("FILTER1", "FILTER2"):
            value = filt if key == wheel else ACS_CLEAR[key]
            primary[key] = (value, f"element selected from filter wheel {key[-1]}")
    else:
        primary["FILTER"] = (filt, "element selected from filter wheel")
    primary["EXPTIME"] = (float(exptime_s), "exposure duration (seconds)--calculated")

    science = _wcs_cards(wcs)
    science["BUNIT"] = (bunit, "brightness units")
    chip = "UVIS2" if detector == "UVIS" else "WFC1"
    science["PHOTMODE"] = (f"{instrume} {chip} {filt}", "observation configuration")
    science["PHOTFLAM"] = (float(photflam), "inverse sensitivity, ergs/cm2/A/e-")
    science["PHOTZPT"] = (PHOTZPT, "ST magnitude zero point")
    science["PHOTPLAM"] = (float(photplam), "Pivot wavelength (Angstroms)")

    pixels = array.astype(dtype, copy=False)
    if layout == "sci":
        science["EXTNAME"] = "SCI"
        science["EXTVER"] = 1
        primary["NEXTEND"] = (1, "number of extensions")
        hdus = fits.HDUList(
            [fits.PrimaryHDU(header=primary), fits.ImageHDU(pixels, header=science)]
        )
    else:
        primary.extend(science, unique=True)
        hdus = fits.HDUList([fits.PrimaryHDU(pixels, header=primary)])
    for key, value in (extra_header or {}).items():
        if value is None:
            for hdu in hdus:
                hdu.header.remove(key, ignore_missing=True, remove_all=True)
        else:
            hdus[-1].header[key] = value
    path = Path(path)
    hdus.writeto(path, overwrite=True, output_verify="exception", checksum=False)
    return path


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HSTHeader:
    """What the FITS headers of a drizzled HST image say (no pixels).

    Units: photflam erg/s/cm2/Angstrom per e-/s; photplam Angstrom; exptime_s s;
    pixel_scale_arcsec arcsec/pix; zeropoints mag for 1 e-/s (``zeropoint_vega`` is None
    when pyphot has no curve for the filter). ``bunit`` is the file's BUNIT as written;
    pixels returned by :func:`read_hst_image` are always e-/s. ``shape`` is (ny, nx).
    """

    path: Path
    sha256: str
    hdu: int
    wcs: WCS
    header: fits.Header
    filter_name: str
    instrument: str
    detector: str
    photflam: float
    photplam: float
    exptime_s: float
    bunit: str
    pixel_scale_arcsec: float
    zeropoint_ab: float
    zeropoint_vega: float | None
    shape: tuple[int, int]

    @property
    def counts_to_rate(self) -> float:
        """Factor turning the stored pixels into e-/s (1, or 1/EXPTIME for BUNIT ELECTRONS)."""
        return 1.0 if normalise_bunit(self.bunit) in RATE_UNITS else 1.0 / self.exptime_s


@dataclass(frozen=True)
class HSTImage(HSTHeader):
    """A drizzled HST image: header facts plus the science array in e-/s (float64)."""

    data: np.ndarray


def normalise_bunit(bunit: str) -> str:
    """``'ELECTRONS/S'`` → ``'electrons/s'``, ``'electrons s-1'`` → ``'electrons.s-1'``."""
    unit = re.sub(r"\s*/\s*", "/", bunit.strip().lower())
    return re.sub(r"\s+|(?<!\*)\*(?!\*)", ".", unit)


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file (hex), read once in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _science_hdu(path: Path, hdus: fits.HDUList) -> int:
    for index, hdu in enumerate(hdus):
        if index > 0 and str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI":
            return index
    if hdus[0].header.get("NAXIS", 0) >= 2:
        return 0
    raise ImageFormatError(
        path, "no science array: no SCI extension and the primary HDU holds no image", hdu=0
    )


def _merged_header(hdus: fits.HDUList, index: int) -> fits.Header:
    merged = hdus[0].header.copy()
    if index > 0:
        merged.extend(hdus[index].header, update=True)  # structural keywords stripped
    return merged


def _float_keyword(path: Path, index: int, header: fits.Header, key: str) -> float:
    if key not in header:
        raise ImageFormatError(path, "missing (needed for the zeropoint)", hdu=index, keyword=key)
    try:
        value = float(header[key])
    except (TypeError, ValueError):
        raise ImageFormatError(
            path, f"not a number: {header[key]!r}", hdu=index, keyword=key
        ) from None
    if not np.isfinite(value) or value <= 0:
        raise ImageFormatError(path, f"must be positive, is {value}", hdu=index, keyword=key)
    return value


def _filter_from(path: Path, index: int, header: fits.Header, instrume: str) -> str:
    candidates = [str(header.get(k, "")).strip().upper() for k in ("FILTER", "FILTER1", "FILTER2")]
    real = [f for f in candidates if f and not f.startswith("CLEAR") and f != "N/A"]
    if not real:
        raise ImageFormatError(
            path, f"no filter: FILTER/FILTER1/FILTER2 absent or CLEAR ({instrume})",
            hdu=0, keyword="FILTER",
        )  # fmt: skip
    if len(set(real)) > 1:
        raise ImageFormatError(path, f"two filters in the beam: {real}", hdu=0, keyword="FILTER1")
    return real[0]


def _describe(path: Path, hdus: fits.HDUList, sha256: str) -> HSTHeader:
    """Check the headers and collect everything but the pixels."""
    index = _science_hdu(path, hdus)
    header = _merged_header(hdus, index)
    telescope = str(header.get("TELESCOP", "")).strip().upper()
    instrume = str(header.get("INSTRUME", "")).strip().upper()
    if not instrume:
        raise ImageFormatError(path, "missing: not an HST image", hdu=0, keyword="INSTRUME")
    if telescope and telescope != "HST":
        raise ImageFormatError(path, f"not an HST image ({telescope})", hdu=0, keyword="TELESCOP")
    detector = str(header.get("DETECTOR", "")).strip().upper() or DEFAULT_DETECTOR.get(instrume, "")
    instrument = f"{instrume}/{detector}" if detector else instrume
    filter_name = _filter_from(path, index, header, instrume)
    photflam = _float_keyword(path, index, header, "PHOTFLAM")
    photplam = _float_keyword(path, index, header, "PHOTPLAM")
    if "BUNIT" not in header:
        raise ImageFormatError(path, "missing (pixel unit unknown)", hdu=index, keyword="BUNIT")
    bunit = str(header["BUNIT"]).strip()
    unit = normalise_bunit(bunit)
    if unit in COUNT_UNITS:
        exptime = _float_keyword(path, index, header, "EXPTIME")
    elif unit in RATE_UNITS:
        exptime = float(header.get("EXPTIME", np.nan))
    else:
        raise ImageFormatError(
            path, f"unit {bunit!r} is neither electrons/s nor electrons", hdu=index, keyword="BUNIT"
        )
    own = hdus[index].header
    naxis = int(own.get("NAXIS", 0))
    if naxis != 2:
        raise ImageFormatError(
            path, f"science array has {naxis} axes, not 2", hdu=index, keyword="NAXIS"
        )
    shape = (int(own["NAXIS2"]), int(own["NAXIS1"]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(hdus[index].header, hdus).celestial
    except Exception as exc:  # astropy raises several types for broken WCS keywords
        raise ImageFormatError(path, f"unreadable WCS: {exc}", hdu=index, keyword="CTYPE1") from exc
    if wcs.naxis != 2 or not wcs.has_celestial:
        raise ImageFormatError(path, "no celestial WCS", hdu=index, keyword="CTYPE1")
    scale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
    try:
        zp_vega: float | None = zeropoint_vega(
            photflam, photplam, pyphot_name(filter_name, instrument)
        )
    except KeyError:
        zp_vega = None
    return HSTHeader(
        path=path, sha256=sha256, hdu=index, wcs=wcs, header=header, filter_name=filter_name,
        instrument=instrument, detector=detector, photflam=photflam, photplam=photplam,
        exptime_s=exptime, bunit=bunit, pixel_scale_arcsec=scale,
        zeropoint_ab=zeropoint_ab(photflam, photplam), zeropoint_vega=zp_vega, shape=shape,
    )  # fmt: skip


def _open_fits(path: Path) -> fits.HDUList:
    try:
        hdus = fits.open(path, memmap=True, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ImageFormatError(path, f"not a FITS file ({exc})") from exc
    if len(hdus) == 0:
        raise ImageFormatError(path, "not a FITS file (no HDU)")
    return hdus


def _check_finite(path: Path, index: int, pixels: np.ndarray | fits.hdu.base.Section) -> None:
    ny = pixels.shape[0]
    block = max(1, (1 << 22) // max(1, pixels.shape[1]))  # about 4 M pixels per read
    for start in range(0, ny, block):
        if np.isfinite(np.asarray(pixels[start : start + block, :])).any():
            return
    raise ImageFormatError(path, "the science array has no finite pixel (all NaN/inf)", hdu=index)


def read_hst_header(path: Path | str, *, check_pixels: bool = True) -> HSTHeader:
    """Header facts of a drizzled HST image without loading its pixels.

    Hashes the file once (streamed) and, with ``check_pixels``, reads the science array in
    sections until a finite pixel turns up (all-NaN images are refused).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFormatError(path, "no such file")
    sha = file_sha256(path)
    with _open_fits(path) as hdus:
        info = _describe(path, hdus, sha)
        if check_pixels:
            _check_finite(path, info.hdu, hdus[info.hdu].section)
    return info


def read_hst_image(path: Path | str, *, expected_sha256: str | None = None) -> HSTImage:
    """A drizzled HST image (``*_drc.fits``/``*_drz.fits`` or HLSP) with pixels in e-/s.

    The file is hashed (streamed) and its science array read through a memory map into one
    float64 array, so a large mosaic is held once. BUNIT ELECTRONS (counts) is divided by
    EXPTIME; other units than electrons(/s) are refused. With ``expected_sha256`` a file
    with another hash is refused (:class:`ImageChangedError`) before its pixels are read.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFormatError(path, "no such file")
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise ImageChangedError(
            f"{path}: the file changed since it was registered (sha256 {sha[:12]}... now, "
            f"{expected_sha256[:12]}... registered); re-register it or restore the original file"
        )
    with _open_fits(path) as hdus:
        info = _describe(path, hdus, sha)
        data = np.array(hdus[info.hdu].data, dtype=np.float64)
    if info.counts_to_rate != 1.0:
        data *= info.counts_to_rate
    _check_finite(path, info.hdu, data)
    return HSTImage(**{k: getattr(info, k) for k in info.__dataclass_fields__}, data=data)


# --- pixel grids ------------------------------------------------------------------------------


def pixel_grid_offset(
    wcs_a: WCS, shape_a: tuple[int, int], wcs_b: WCS, shape_b: tuple[int, int]
) -> float:
    """Largest pixel offset (pix) between two images' grids over image A.

    The corners, edge midpoints and centre of image A are mapped to the sky with ``wcs_a``
    and back to pixels with ``wcs_b``; the result is the largest distance from where they
    started. Different shapes give ``inf``. Same grid means < 0.01 pix.
    """
    if tuple(shape_a) != tuple(shape_b):
        return float("inf")
    ny, nx = shape_a
    xs = np.array([0, (nx - 1) / 2, nx - 1], dtype=float)
    ys = np.array([0, (ny - 1) / 2, ny - 1], dtype=float)
    x, y = (g.ravel() for g in np.meshgrid(xs, ys))
    sky = wcs_a.celestial.pixel_to_world_values(x, y)
    x2, y2 = wcs_b.celestial.world_to_pixel_values(*sky)
    return float(np.max(np.hypot(x2 - x, y2 - y)))


def wcs_from_header(cards: Mapping[str, object]) -> WCS:
    """A celestial WCS from stored keyword/value pairs (the ``image.wcs_header`` JSON)."""
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header).celestial


def wcs_cards(wcs: WCS) -> dict[str, object]:
    """The celestial WCS as plain keyword → value pairs (JSON-ready; CD matrix)."""
    return {k: v for k, v in _wcs_cards(wcs).items() if k not in ("COMMENT", "HISTORY", "")}
