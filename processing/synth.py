"""Synthetic HST fields rendered from a real catalogue (pure: frames and arrays in and out).

A catalogue of one field (positions, Vega magnitudes per band, classes) becomes five
noisy drizzled images in e-/s with a truth table; the database side is
:mod:`clustercat.processing.cli_synth` and the full recipe is docs/synthetic_fields.md.

* Bands, zeropoints, exposure times, cameras: the real ``header_info`` table of the field
  (:func:`clustercat.processing.hst_metadata.read_header_info`), or :data:`DEFAULT_TARGET`.
* WCS: TAN fitted to the catalogue's own x, y <-> RA, Dec (astropy ``fit_wcs_from_points``);
  a crop shifts CRPIX. Sources are placed at their catalogue x, y (1-based) - 1 - crop origin.
* Counts: F = 10^(-0.4 (m_Vega - ZP_Vega)) e-/s, m what a catalogue magnitude means
  (:data:`MAGNITUDE_DEFINITIONS`): by default, as in LEGUS and PHANGS-HST, the 4 px aperture
  magnitude plus the field's average correction over its isolated clusters
  (:func:`aperture_corrected_fluxes`); or the source's total.
* Sizes: Ryon et al. 2017 effective radii matched by position (<= 0.1"); elsewhere
  log-normal with Ryon's median and scatter. Moffat/EFF profiles (Thilker et al. 2022 §3.1)
  with eta snapped to Thilker's grid values > 1 and FWHM from r_eff and eta.
* Morphology from the class (Adamo et al. 2017; Whitmore et al. 2021 §3): :data:`KINDS`.
  Class-4 sources are stars or close pairs of stars (their photometry is multi-band);
  detector artefacts (hot pixels, cosmic-ray streaks) are extra V-only features outside the
  catalogue (:data:`ARTEFACTS_PER_4096_SQ`).
* PSFs: :func:`clustercat.processing.psf.load_psf` per band.
* Noise: Poisson on source + sky through the exposure time, Gaussian read noise of
  ``n_exposures`` reads, sky subtracted afterwards (as AstroDrizzle's MDRIZSKY).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import fit_wcs_from_points, proj_plane_pixel_scales
from clustercat.processing.images import pyphot_name, zeropoint_vega
from clustercat.processing.profiles import add_profiles, default_stamp_radius, moffat_reff_px
from clustercat.processing.psf import PSFModel, load_psf
from photutils.aperture import CircularAperture, aperture_photometry

__all__ = [
    "BANDS",
    "DEFAULT_TARGET",
    "MAGNITUDE_DEFINITIONS",
    "ARTEFACTS_PER_4096_SQ",
    "KINDS",
    "SKY_E_PER_S_PIX",
    "BandSetup",
    "CatalogueApertureCorrections",
    "SyntheticField",
    "SynthSettings",
    "add_noise",
    "aperture_corrected_fluxes",
    "band_setups",
    "catalogue_aperture_fractions",
    "crop_wcs",
    "density_centre",
    "empty_pixel_sigma",
    "expected_flux_error",
    "file_digests",
    "fit_catalogue_wcs",
    "fwhm_from_reff",
    "plan_field",
    "read_ryon_radii",
    "render_field",
    "size_distribution",
    "source_sizes",
    "synth_file_name",
    "write_synthetic_field",
]

#: The five broad bands, blue to red, and the catalogue columns holding their magnitudes.
BANDS = ("NUV", "U", "B", "V", "I")
MAG_COLUMN = {"NUV": "mag_nuv", "U": "mag_u", "B": "mag_b", "V": "mag_v", "I": "mag_i"}

#: Header table used when a field has none (NGC 1566: the five bands on WFC3/UVIS, LEGUS).
DEFAULT_TARGET = "ngc1566"

#: Sky background per filter (e-/s/pix on the 0.0396" grid), dark in the UV, brighter red-
#: wards: WFC3 Instrument Handbook §9.7 (zodiacal + earthshine, average conditions) and ACS
#: Instrument Handbook §9.5 orders of magnitude. Used for the noise only (subtracted).
SKY_E_PER_S_PIX = {
    "F275W": 0.0015,
    "F336W": 0.003,
    "F435W": 0.02,
    "F438W": 0.012,
    "F555W": 0.04,
    "F606W": 0.06,
    "F814W": 0.05,
}
#: Read noise per exposure (e-): WFC3/UVIS ~3.1 e-, ACS/WFC ~3.9 e- (post-SM4), rounded.
READ_NOISE_E = {"WFC3/UVIS": 3.0, "ACS/WFC": 4.0}

#: Morphology kinds, by class: 1 compact (circular Moffat); 2 elongated (elliptical Moffat,
#: axis ratio 0.4-0.7, angle a multiple of 30 deg, plus a 30 % companion knot 1-2 px along
#: its major axis); 3 multi-peak (2-4 knots: the dominant one at the position, the others
#: 2.5-5 px away); 4 point (the PSF) or pair (two PSFs 3-4 px apart, flux ratio 0.5-1: two
#: peaks in the ~2.3 px PSF, which merges pairs closer than ~2.5 px into one): LEGUS class 4
#: ("spurious": foreground/background sources, single bright stars, artefacts) holds, in a
#: catalogue, only sources detected and measured in 4-5 bands, which a cosmic ray or a hot
#: pixel cannot give, so they are rendered as what their photometry allows, stars. Unclassified
#: sources: point if the catalogue CI < :data:`STELLAR_CI_MAX`, else compact. Field stars:
#: star (the PSF). Artefacts: detector features added outside the catalogue (a hot pixel or
#: a 2-4 px cosmic-ray streak in V only, not PSF-convolved; :data:`ARTEFACTS_PER_4096_SQ`).
KINDS = ("compact", "elongated", "multi-peak", "point", "pair", "artefact", "star")
#: Class-4 sub-kind probabilities (point, pair): the 60:30 ratio of point sources to pairs
#: of the earlier mix (point, pair, artefact) = (0.6, 0.3, 0.1), without the artefacts.
CLASS4_MIX = (2 / 3, 1 / 3)
#: Detector artefacts (hot pixels, cosmic-ray streaks) added per 4096^2 px when
#: ``SynthSettings.n_artefacts`` is None (16 in a 1024^2 crop): uniform positions, not tied
#: to any catalogue source, ids after the field stars', flagged ``is_artefact``.
ARTEFACTS_PER_4096_SQ = 256
#: V magnitude range of an artefact's total flux (uniform in mag): in the 858 s F555W image
#: of NGC 628-c 0.8-31 e-/s, i.e. 700-26,000 e- in one exposure, the charge of a hot pixel
#: or a cosmic ray left by the rejection, as bright as the catalogue's faint-to-median sources.
ARTEFACT_V_MAG_RANGE = (22.0, 26.0)
#: CI (mag) below which an unclassified source is rendered as a point source (LEGUS NGC 628
#: stellar CI limit, Adamo et al. 2017 §3.2: clusters have CI >= 1.4 there).
STELLAR_CI_MAX = 1.4
#: Thilker et al. (2022) Moffat indices > 1 (r_eff defined); rendered eta is the nearest.
ETA_GRID = np.array([1.25, 1.5, 2.0, 3.0, 4.0])
#: FWHM quantum (px; Thilker et al.'s grid step): shapes share templates (add_profiles
#: groups sources by shape).
FWHM_STEP_PX = 0.25
#: Ryon et al. 2017 radius tables per galaxy (``$CLUSTERCAT_DATA/tables``).
RYON_TABLES = {
    "NGC 628": "ryon2017_ngc628_ymc_radii.txt",
    "NGC 1313": "ryon2017_ngc1313_ymc_radii.txt",
}
#: Ryon GALFIT radii above this (pc) are unconstrained (eta -> 1): the CI-based radius is used.
RYON_MAX_GALFIT_REFF_PC = 20.0
#: Match radius of Ryon's clusters to catalogue sources (arcsec).
RYON_MATCH_ARCSEC = 0.1
#: Smallest stamp radius (px) of a rendered component: Thilker et al. 2022 §2.2's reference
#: ("total") aperture of 20 px, so that a source's catalogue flux is its flux within 20 px,
#: the total the pipeline's aperture corrections aim at. A shorter stamp (the profiles
#: module's default, 12 px) cuts the wings of shallow profiles: an eta = 1.25, FWHM 1 px
#: cluster in F555W has 0.08 mag of its 20 px flux beyond a 12 px stamp.
MIN_STAMP_RADIUS_PX = 20
#: Truth apertures (px) in V: CI = m(1) - m(3) (Thilker et al. §3.5) and the 4-px total.
TRUTH_RADII_PX = (1.0, 3.0, 4.0)
#: How a catalogue magnitude becomes rendered flux (``SynthSettings.magnitudes``):
#: ``total``: the magnitude is the source's flux within its stamp (>= 20 px);
#: ``aperture-corrected`` (default): the definition of LEGUS, PHANGS-HST and the pipeline's
#: default releases, m(4 px,
#: sky 7-8 px) minus the field's average 4 px -> 20 px correction over its clusters (LEGUS
#: readme, "avgapcor": "average aperture corrections calculated from isolated clusters in the
#: field", 4 px aperture, sky at 7 px, 1 px wide; Thilker et al. 2022 §2.2: r = 4 px, sky
#: 7-8 px, total r = 20 px, sky 20-21 px, galaxy F555W correction the average over isolated
#: class 1-3 sources). Each source's flux is then set so that its own 4 px flux plus the
#: field's average correction gives the catalogue magnitude: a cluster broader than average,
#: a multi-peak source with knots beyond 4 px or a pair has more total light than its
#: catalogue magnitude says, as it had in the real images.
MAGNITUDE_DEFINITIONS = ("total", "aperture-corrected")
#: Distance (px) beyond which a source's knot or companion star is a peak of its own for the
#: aperture-correction sample's isolation (pairs closer than ~2.5 px merge in the PSF).
SEPARATE_PEAK_PX = 2.5
#: The catalogue aperture and sky annulus, and the "total" aperture and its annulus (px).
CATALOGUE_APERTURE_PX = 4.0
CATALOGUE_ANNULUS_PX = (7.0, 8.0)
CATALOGUE_TOTAL_PX = 20.0
CATALOGUE_TOTAL_ANNULUS_PX = (20.0, 21.0)


@dataclass(frozen=True)
class BandSetup:
    """One band of a synthetic field: the real facts of its drizzled image.

    photflam erg/s/cm2/Angstrom per e-/s; photplam Angstrom; zp_vega mag for 1 e-/s;
    exptime_s s; sky_e_s e-/s/pix; read_noise_e e- per exposure.
    """

    band: str
    filter_name: str
    instrument: str
    photflam: float
    photplam: float
    zp_vega: float
    exptime_s: float
    n_exposures: int
    sky_e_s: float
    read_noise_e: float


def band_setups(
    header_info: pd.DataFrame, filters: dict[str, str] | None = None
) -> list[BandSetup]:
    """The five bands (NUV, U, B, V, I) from a ``read_header_info`` frame.

    ``filters`` picks the filter of a band where the table has two (e.g. {'V': 'F555W'}).
    Raises ValueError naming the missing bands. The Vega zeropoint that turns magnitudes into
    counts is the one :func:`clustercat.processing.images.zeropoint_vega` derives from the
    PHOTFLAM/PHOTPLAM written into the file, so a reader of the synthetic images recovers
    the catalogue magnitudes exactly (the header table's zpVEGA differs by up to 0.02 mag,
    docs/images.md).
    """
    rows = header_info[header_info["band"].isin(BANDS)]
    out, missing = [], []
    for band in BANDS:
        candidates = rows[rows["band"] == band]
        if filters and filters.get(band):
            chosen = candidates[candidates["filter"] == filters[band].upper()]
            candidates = chosen if len(chosen) else candidates
        if candidates.empty:
            missing.append(band)
            continue
        r = candidates.iloc[0]
        name = str(r["filter"])
        if name not in SKY_E_PER_S_PIX:
            raise ValueError(f"no sky level stated for filter {name}")
        out.append(
            BandSetup(
                band, name, str(r["instrument"]), float(r["photflam"]), float(r["photplam"]),
                zeropoint_vega(float(r["photflam"]), float(r["photplam"]),
                               pyphot_name(name, str(r["instrument"]))),
                float(r["exptime_s"]), int(r["n_exposures"]),
                SKY_E_PER_S_PIX[name], READ_NOISE_E[str(r["instrument"])],
            )
        )  # fmt: skip
    if missing:
        raise ValueError(f"header table has no filter for band(s) {', '.join(missing)}")
    return out


# --- geometry ------------------------------------------------------------------------------------


def fit_catalogue_wcs(x_cat: np.ndarray, y_cat: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> WCS:
    """A TAN WCS of the catalogue frame fitted to its sources (1-based x, y; deg).

    The WCS's pixel coordinates are 0-based: pixel (x_cat - 1, y_cat - 1). Least squares via
    astropy ``fit_wcs_from_points`` (projection point: the sources' centre).
    """
    ok = np.isfinite(x_cat) & np.isfinite(y_cat) & np.isfinite(ra) & np.isfinite(dec)
    if ok.sum() < 4:
        raise ValueError(f"need >= 4 sources with x, y, RA, Dec to fit a WCS, have {ok.sum()}")
    sky = SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg)
    xy = (np.asarray(x_cat)[ok] - 1.0, np.asarray(y_cat)[ok] - 1.0)
    return fit_wcs_from_points(xy, sky, proj_point="center", projection="TAN")


def crop_wcs(wcs: WCS, x_origin: float, y_origin: float) -> WCS:
    """The WCS of a crop whose pixel (0, 0) is pixel (x_origin, y_origin) of ``wcs``."""
    out = wcs.deepcopy()
    out.wcs.crpix = [out.wcs.crpix[0] - x_origin, out.wcs.crpix[1] - y_origin]
    return out


def density_centre(x: np.ndarray, y: np.ndarray, size_px: int) -> tuple[float, float]:
    """Centre of the ``size_px`` square holding the most sources (1-based catalogue frame).

    Counts on a 64-px grid, summed over boxes of ``size_px`` (integral image); ties go to
    the lowest x, y.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    step = 64
    nb = max(1, int(round(size_px / step)))
    x0, y0 = np.floor(x.min()), np.floor(y.min())
    nx = int((x.max() - x0) // step) + 1
    ny = int((y.max() - y0) // step) + 1
    hist, _, _ = np.histogram2d(
        y, x, bins=(ny, nx), range=((y0, y0 + ny * step), (x0, x0 + nx * step))
    )
    if nb >= nx and nb >= ny:
        return float(x0 + nx * step / 2), float(y0 + ny * step / 2)
    integral = np.pad(hist.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    by, bx = min(nb, ny), min(nb, nx)
    sums = integral[by:, bx:] - integral[:-by, bx:] - integral[by:, :-bx] + integral[:-by, :-bx]
    j, i = np.unravel_index(np.argmax(sums), sums.shape)
    return float(x0 + (i + bx / 2) * step), float(y0 + (j + by / 2) * step)


# --- sizes ---------------------------------------------------------------------------------------


def read_ryon_radii(path: Path | str) -> pd.DataFrame:
    """Ryon et al. 2017 (ApJ 841, 92) Table 3/4: ra, dec (deg), eta, r_eff_pc.

    r_eff is the GALFIT value where given and <= 20 pc, else the CI-based one (their §3.2).
    """
    path = Path(path)
    try:
        t = Table.read(path, format="ascii.mrt")
    except Exception as exc:  # astropy raises several types for malformed MRT files
        raise ValueError(f"{path}: not a Ryon et al. 2017 MRT table ({exc})") from exc
    for col in ("RAdeg", "DEdeg", "Eta", "logReff-gal", "logReff-ci"):
        if col not in t.colnames:
            raise ValueError(f"{path}: column {col} missing")
    galfit = np.ma.filled(t["logReff-gal"].astype(float), np.nan)
    ci = np.ma.filled(t["logReff-ci"].astype(float), np.nan)
    use_galfit = np.isfinite(galfit) & (10**galfit <= RYON_MAX_GALFIT_REFF_PC)
    return pd.DataFrame(
        {
            "ryon_id": np.asarray(t["ID"], dtype=str),
            "ra": np.asarray(t["RAdeg"], float),
            "dec": np.asarray(t["DEdeg"], float),
            "eta": np.ma.filled(t["Eta"].astype(float), np.nan),
            "r_eff_pc": 10 ** np.where(use_galfit, galfit, ci),
        }
    )


def fwhm_from_reff(r_eff_px: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Pre-PSF Moffat FWHM (px) of a given r_eff (px) and eta > 1 (Thilker et al. §3.1 inverted)."""
    eta = np.asarray(eta, float)
    ratio = np.sqrt(2.0 ** (1.0 / eta) - 1.0) / np.sqrt(0.5 ** (1.0 / (1.0 - eta)) - 1.0)
    return 2.0 * np.asarray(r_eff_px, float) * ratio


def size_distribution(ryon: pd.DataFrame | None) -> tuple[float, float, np.ndarray]:
    """(median log10 r_eff/pc, robust scatter in dex, pool of eta values) of the sizes drawn
    for sources Ryon et al. 2017 did not measure; without Ryon: (log10 2.5, 0.25, [1.5])."""
    if ryon is None or not len(ryon):
        return float(np.log10(2.5)), 0.25, np.array([1.5])
    logs = np.log10(ryon["r_eff_pc"].to_numpy())
    median = float(np.median(logs))
    scatter = float(1.4826 * np.median(np.abs(logs - median)))
    return median, scatter, ryon["eta"].dropna().to_numpy()


def source_sizes(
    ra: np.ndarray,
    dec: np.ndarray,
    ryon: pd.DataFrame | None,
    pc_per_px: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """r_eff (pc, px), eta and pre-PSF FWHM for each source, and where the size came from.

    Sources within 0.1" of a Ryon et al. 2017 cluster take its r_eff and eta; the others
    draw log10 r_eff from a normal with Ryon's median and robust scatter (1.4826 MAD), and
    eta from Ryon's measured values (without Ryon: median 2.5 pc, 0.25 dex, eta 1.5). Eta is
    snapped to the nearest of :data:`ETA_GRID`, FWHM rounded to 0.25 px (0.25-10 px), and the
    r_eff returned is that of the rendered (snapped) profile.
    """
    n = len(ra)
    log_r = np.full(n, np.nan)
    eta = np.full(n, np.nan)
    origin = np.full(n, "lognormal", dtype=object)
    if ryon is not None and len(ryon):
        cat = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
        ref = SkyCoord(ryon["ra"].to_numpy() * u.deg, ryon["dec"].to_numpy() * u.deg)
        idx, sep, _ = ref.match_to_catalog_sky(cat)
        hit = sep.arcsec <= RYON_MATCH_ARCSEC
        log_r[idx[hit]] = np.log10(ryon["r_eff_pc"].to_numpy()[hit])
        eta[idx[hit]] = ryon["eta"].to_numpy()[hit]
        origin[idx[hit]] = "ryon2017"
    median, scatter, eta_pool = size_distribution(ryon)
    draw = np.isnan(log_r)
    log_r[draw] = rng.normal(median, scatter, draw.sum())
    no_eta = np.isnan(eta)
    eta[no_eta] = rng.choice(eta_pool, no_eta.sum())
    eta = ETA_GRID[np.argmin(np.abs(eta[:, None] - ETA_GRID[None, :]), axis=1)]
    r_px = 10**log_r / pc_per_px
    fwhm = np.round(fwhm_from_reff(r_px, eta) / FWHM_STEP_PX) * FWHM_STEP_PX
    fwhm = np.maximum(fwhm, FWHM_STEP_PX)
    fwhm = np.minimum(fwhm, 10.0)
    r_px = moffat_reff_px(fwhm, eta)
    return pd.DataFrame(
        {"r_eff_px": r_px, "r_eff_pc": r_px * pc_per_px, "eta": eta, "fwhm_px": fwhm,
         "size_origin": origin}
    )  # fmt: skip


# --- the plan: sources -> rendered components ----------------------------------------------------


@dataclass(frozen=True)
class SynthSettings:
    """What a synthetic field is made of besides the catalogue.

    ``size_px``: side of the square image; ``centre``: its centre in the 1-based catalogue
    frame (None: :func:`density_centre`); ``n_stars``: field stars (None: 300 per 4096^2);
    ``star_mag_range`` (V, mag) and ``star_lf_slope`` (dN/dm ~ 10^(slope m)) the stars'
    luminosity function; ``n_artefacts``: detector artefacts in V (None:
    :data:`ARTEFACTS_PER_4096_SQ` per 4096^2); ``exptime_scale`` multiplies every exposure
    time; ``noiseless`` skips sky and noise (the images are then the pure e-/s model);
    ``magnitudes`` what a catalogue magnitude means (:data:`MAGNITUDE_DEFINITIONS`).
    """

    size_px: int = 4096
    centre: tuple[float, float] | None = None
    seed: int = 0
    n_stars: int | None = None
    star_mag_range: tuple[float, float] = (19.0, 26.5)
    star_lf_slope: float = 0.3
    n_artefacts: int | None = None
    exptime_scale: float = 1.0
    oversample: int = 4
    noiseless: bool = False
    magnitudes: str = "aperture-corrected"

    def __post_init__(self) -> None:
        if self.magnitudes not in MAGNITUDE_DEFINITIONS:
            raise ValueError(f"magnitudes must be one of {MAGNITUDE_DEFINITIONS}, "
                             f"got {self.magnitudes!r}")  # fmt: skip


@dataclass
class SyntheticField:
    """Images (band -> e-/s array, sky-subtracted), their WCS, band facts, PSFs, the truth
    (one row per source) and the rendered components (one row each)."""

    field_name: str
    wcs: WCS
    bands: list[BandSetup]
    images: dict[str, np.ndarray]
    psfs: dict[str, PSFModel]
    truth: Table
    settings: SynthSettings
    origin: tuple[float, float]
    components: Table = field(default_factory=Table)


def _class_kinds(cls: np.ndarray, ci: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = cls.size
    kinds = np.full(n, "compact", dtype=object)
    kinds[cls == 2] = "elongated"
    kinds[cls == 3] = "multi-peak"
    four = np.flatnonzero(cls == 4)  # stars: never artefacts (multi-band photometry)
    kinds[four] = rng.choice(["point", "pair"], four.size, p=CLASS4_MIX)
    unclassified = ~np.isin(cls, (1, 2, 3, 4))
    kinds[unclassified & (ci < STELLAR_CI_MAX)] = "point"
    return kinds


def _quantise_fwhm(fwhm: np.ndarray) -> np.ndarray:
    return np.maximum(FWHM_STEP_PX, np.round(np.asarray(fwhm) / FWHM_STEP_PX) * FWHM_STEP_PX)


def _components(kinds: np.ndarray, sizes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per rendered component: source index, offset (px), flux fraction, shape.

    Vectorised per kind (see :data:`KINDS`). The brightest component of every source sits
    at its catalogue position (offset 0, 0): the multi-peak source's dominant knot (the
    largest flux share), the brighter star of a pair, the main body of an elongated cluster
    (artefacts are not catalogue sources: :func:`_artefacts`). LEGUS positions are detection
    peaks (SExtractor on the white-light image, Adamo et al. 2017), not flux-weighted
    centres, so a peak finder should find a source where the catalogue puts it; the other
    components lie 1-5 px away.
    The fractions of each source sum to 1 (its total flux is the catalogue magnitude).
    """
    kinds = np.asarray(kinds, dtype=object)
    fwhm_all = sizes["fwhm_px"].to_numpy(float)
    eta_all = sizes["eta"].to_numpy(float)
    parts: list[dict[str, np.ndarray]] = []

    def add(src, dx, dy, frac, fwhm, eta, q=1.0, theta=0.0, psf=True) -> None:  # noqa: ANN001
        n = np.size(src)
        parts.append({k: np.broadcast_to(np.asarray(v, dtype=float if k != "psf" else bool), (n,))
                      for k, v in (("src", src), ("dx", dx), ("dy", dy), ("frac", frac),
                                   ("fwhm", fwhm), ("eta", eta), ("q", q), ("theta", theta),
                                   ("psf", psf))})  # fmt: skip

    idx = np.flatnonzero(kinds == "compact")
    add(idx, 0.0, 0.0, 1.0, fwhm_all[idx], eta_all[idx])

    idx = np.flatnonzero(kinds == "elongated")
    q = np.round(rng.uniform(0.4, 0.7, idx.size), 1)
    theta = rng.integers(0, 6, idx.size) * 30.0
    sep = rng.uniform(1.0, 2.0, idx.size)
    t = np.deg2rad(theta)
    add(idx, 0.0, 0.0, 0.7, fwhm_all[idx], eta_all[idx], q, theta)
    add(idx, sep * np.cos(t), sep * np.sin(t), 0.3, _quantise_fwhm(fwhm_all[idx] / 2), eta_all[idx])

    idx = np.flatnonzero(kinds == "multi-peak")
    n_knots = rng.integers(2, 5, idx.size)
    owner = np.repeat(idx, n_knots)
    which = np.repeat(np.arange(idx.size), n_knots)
    shares = rng.gamma(3.0, 1.0, owner.size)  # Dirichlet(3, ..., 3) per source
    shares /= np.bincount(which, shares)[which]
    # each source's largest share goes to its first knot, the dominant one at (0, 0)
    first = np.concatenate([[0], np.cumsum(n_knots)[:-1]]) if idx.size else np.zeros(0, int)
    order = np.lexsort((-shares, which))  # by source, then share descending
    shares = shares[order]
    r, phi = rng.uniform(2.5, 5.0, owner.size), rng.uniform(0, 2 * np.pi, owner.size)
    r[first] = 0.0
    add(owner, r * np.cos(phi), r * np.sin(phi), shares, _quantise_fwhm(fwhm_all[owner] * 0.6),
        eta_all[owner])  # fmt: skip

    idx = np.flatnonzero(np.isin(kinds, ["point", "star"]))
    add(idx, 0.0, 0.0, 1.0, 0.0, 3.0)

    idx = np.flatnonzero(kinds == "pair")
    sep, phi = rng.uniform(3.0, 4.0, idx.size), rng.uniform(0, 2 * np.pi, idx.size)
    first = 1.0 / (1.0 + rng.uniform(0.5, 1.0, idx.size))
    add(idx, 0.0, 0.0, first, 0.0, 3.0)
    add(idx, sep * np.cos(phi), sep * np.sin(phi), 1.0 - first, 0.0, 3.0)

    unknown = set(kinds) - (set(KINDS) - {"artefact"})  # artefacts: _artefacts, not here
    if unknown:
        raise ValueError(f"unknown or non-source morphology kind(s) {sorted(unknown)}")
    comp = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    comp["src"] = comp["src"].astype(np.int64)
    return comp.sort_values("src", kind="stable").reset_index(drop=True)


def _field_stars(
    n: int, size: int, catalogue: pd.DataFrame, settings: SynthSettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Field stars: uniform positions, V from dN/dm ~ 10^(slope m) within the magnitude range,
    colours (m_band - V) of a random class-4 catalogue source (all sources if none)."""
    lo, hi = settings.star_mag_range
    a = settings.star_lf_slope * np.log(10)
    uu = rng.uniform(0, 1, n)
    v = np.log(np.exp(a * lo) + uu * (np.exp(a * hi) - np.exp(a * lo))) / a
    pool = catalogue[(catalogue["class"] == 4) & catalogue["mag_v"].notna()]
    if pool.empty:
        pool = catalogue[catalogue["mag_v"].notna()]
    pick = pool.iloc[rng.integers(0, len(pool), n)] if len(pool) else None
    out = pd.DataFrame({"x_image": rng.uniform(-0.5, size - 0.5, n),
                        "y_image": rng.uniform(-0.5, size - 0.5, n)})  # fmt: skip
    for band in BANDS:
        col = MAG_COLUMN[band]
        colour = (pick[col] - pick["mag_v"]).to_numpy() if pick is not None else np.zeros(n)
        out[col] = v + colour
    return out


def plan_field(
    catalogue: pd.DataFrame,
    *,
    wcs: WCS,
    origin: tuple[float, float],
    size_px: int,
    ryon: pd.DataFrame | None,
    pc_per_px: float,
    settings: SynthSettings,
    rng: np.random.Generator,
    artefact_rng: np.random.Generator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sources inside the crop, field stars and detector artefacts (one row each) and their
    components.

    ``catalogue``: columns source_id, x, y (1-based catalogue frame), ra, dec, mag_nuv ...
    mag_i (Vega, NaN = not measured), class (1-4 or NaN), ci. Returns (sources, components).
    The artefacts are drawn from ``artefact_rng`` (default: ``rng``, after everything else),
    so the catalogue sources and stars do not depend on how many artefacts there are.
    """
    x_img = catalogue["x"].to_numpy(float) - 1.0 - origin[0]
    y_img = catalogue["y"].to_numpy(float) - 1.0 - origin[1]
    inside = (x_img >= -0.5) & (x_img < size_px - 0.5) & (y_img >= -0.5) & (y_img < size_px - 0.5)
    src = catalogue.loc[inside].reset_index(drop=True).copy()
    src["x_image"], src["y_image"] = x_img[inside], y_img[inside]
    src["x_catalogue"], src["y_catalogue"] = src["x"], src["y"]
    src["is_field_star"] = False
    cls = src["class"].to_numpy(float)
    ci = src["ci"].to_numpy(float)
    src["kind"] = _class_kinds(np.nan_to_num(cls, nan=0).astype(int), ci, rng)
    n_stars = settings.n_stars
    if n_stars is None:
        n_stars = int(round(300 * (size_px / 4096) ** 2))
    stars = _field_stars(n_stars, size_px, catalogue, settings, rng)
    sky = wcs.pixel_to_world_values(stars["x_image"] + origin[0], stars["y_image"] + origin[1])
    stars["ra"], stars["dec"] = sky
    stars["x_catalogue"] = stars["x_image"] + origin[0] + 1.0
    stars["y_catalogue"] = stars["y_image"] + origin[1] + 1.0
    first = int(catalogue["source_id"].max()) + 1 if len(catalogue) else 1
    stars["source_id"] = np.arange(first, first + n_stars)
    stars["kind"] = "star"
    stars["is_field_star"] = True
    stars["class"] = np.nan
    src["is_artefact"] = stars["is_artefact"] = False
    cols = ["source_id", "ra", "dec", "x_catalogue", "y_catalogue", "x_image", "y_image",
            "class", "kind", "is_field_star", "is_artefact", *MAG_COLUMN.values()]  # fmt: skip
    sources = pd.concat([src[cols], stars[cols]], ignore_index=True)
    sizes = source_sizes(sources["ra"].to_numpy(), sources["dec"].to_numpy(), ryon, pc_per_px, rng)
    point_like = sources["kind"].isin(["point", "pair", "artefact", "star"]).to_numpy()
    sizes.loc[point_like, ["r_eff_px", "r_eff_pc", "eta", "fwhm_px"]] = [0.0, 0.0, np.nan, 0.0]
    sizes.loc[point_like, "size_origin"] = "none"
    sources = pd.concat([sources, sizes], axis=1)
    comps = _components(sources["kind"].to_numpy(), sizes.fillna({"eta": 3.0}), rng)
    n_art = settings.n_artefacts
    if n_art is None:
        n_art = int(round(ARTEFACTS_PER_4096_SQ * (size_px / 4096) ** 2))
    if n_art > 0:
        art, art_comps = _artefacts(n_art, size_px, first + n_stars, artefact_rng or rng)
        sky = wcs.pixel_to_world_values(art["x_image"] + origin[0], art["y_image"] + origin[1])
        art["ra"], art["dec"] = sky
        art["x_catalogue"] = art["x_image"] + origin[0] + 1.0
        art["y_catalogue"] = art["y_image"] + origin[1] + 1.0
        art_comps["src"] += len(sources)
        sources = pd.concat([sources, art[sources.columns]], ignore_index=True)
        comps = pd.concat([comps, art_comps], ignore_index=True)
    return sources, comps


def _artefacts(
    n: int, size: int, first_id: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detector artefacts, not catalogue sources: (rows, components indexed from 0).

    Each is a hot pixel or a 2-4 px cosmic-ray streak (length 1-4 px, equal shares, the
    first pixel at its position, a random angle), in V only (one exposure), not
    PSF-convolved, at a uniform position, V uniform in :data:`ARTEFACT_V_MAG_RANGE`; ids
    from ``first_id``.
    """
    lo, hi = ARTEFACT_V_MAG_RANGE
    rows = pd.DataFrame({"x_image": rng.uniform(-0.5, size - 0.5, n),
                         "y_image": rng.uniform(-0.5, size - 0.5, n)})  # fmt: skip
    for band in BANDS:
        rows[MAG_COLUMN[band]] = np.nan
    rows["mag_v"] = rng.uniform(lo, hi, n)
    rows["source_id"] = np.arange(first_id, first_id + n)
    rows["class"] = np.nan
    rows["kind"] = "artefact"
    rows["is_field_star"] = False
    rows["is_artefact"] = True
    rows[["r_eff_px", "r_eff_pc", "eta", "fwhm_px"]] = [0.0, 0.0, np.nan, 0.0]
    rows["size_origin"] = "none"
    length = rng.integers(1, 5, n)
    phi = np.repeat(rng.uniform(0, np.pi, n), length)
    step = np.concatenate([np.arange(k) for k in length])
    comps = pd.DataFrame({
        "src": np.repeat(np.arange(n), length), "dx": step * np.cos(phi),
        "dy": step * np.sin(phi), "frac": 1.0 / np.repeat(length, length), "fwhm": 0.0,
        "eta": 3.0, "q": 1.0, "theta": 0.0, "psf": False,
    })  # fmt: skip
    return rows, comps


# --- rendering -----------------------------------------------------------------------------------


def _band_fluxes(sources: pd.DataFrame, band: BandSetup) -> np.ndarray:
    """True total flux (e-/s) in a band; 0 where the catalogue has no magnitude (absent).

    Artefacts have a V magnitude only (a cosmic ray or hot pixel is in one exposure).
    """
    mag = sources[MAG_COLUMN[band.band]].to_numpy(float)
    flux = np.where(np.isfinite(mag), 10 ** (-0.4 * (mag - band.zp_vega)), 0.0)
    if band.band != "V":  # a guard: artefacts exist in one exposure, V
        flux[sources["is_artefact"].to_numpy(bool)] = 0.0
    return flux


def _render_components(
    image: np.ndarray,
    comps: pd.DataFrame,
    x_centre: np.ndarray,
    y_centre: np.ndarray,
    flux: np.ndarray,
    psf: PSFModel,
    oversample: int,
    psf_x: np.ndarray,
    psf_y: np.ndarray,
) -> None:
    """Add every component with flux > 0 to ``image``.

    ``x_centre``, ``y_centre``, ``flux`` are indexed by the components' source; ``psf_x``,
    ``psf_y`` (one per component) are the detector positions at which the PSF is taken.
    """
    src = comps["src"].to_numpy()
    f = flux[src] * comps["frac"].to_numpy()
    x = x_centre[src] + comps["dx"].to_numpy()
    y = y_centre[src] + comps["dy"].to_numpy()
    use_psf = comps["psf"].to_numpy(bool)
    sel = (f > 0) & use_psf
    add_profiles(
        image, x[sel], y[sel], f[sel], comps["fwhm"].to_numpy()[sel], comps["eta"].to_numpy()[sel],
        psf=psf, oversample=oversample, stamp_radius_px=_stamp_radii(comps["fwhm"].to_numpy()[sel]),
        axis_ratio=comps["q"].to_numpy()[sel],
        theta_deg=comps["theta"].to_numpy()[sel], psf_x=psf_x[sel], psf_y=psf_y[sel],
    )  # fmt: skip
    sharp = (f > 0) & ~use_psf  # artefacts: straight into the nearest pixel
    ix, iy = np.floor(x[sharp] + 0.5).astype(int), np.floor(y[sharp] + 0.5).astype(int)
    ok = (ix >= 0) & (ix < image.shape[1]) & (iy >= 0) & (iy < image.shape[0])
    np.add.at(image, (iy[ok], ix[ok]), f[sharp][ok])


def _stamp_radii(fwhm: np.ndarray) -> np.ndarray:
    """Stamp radius (px) of each component: max(20, 4 FWHM), at most 40 (see
    :data:`MIN_STAMP_RADIUS_PX`)."""
    return np.maximum(default_stamp_radius(fwhm), MIN_STAMP_RADIUS_PX)


def _detector_positions(
    sources: pd.DataFrame, comps: pd.DataFrame, origin: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each component's position in the 0-based catalogue frame (= detector position for
    position-dependent PSFs)."""
    src = comps["src"].to_numpy()
    x = sources["x_image"].to_numpy()[src] + comps["dx"].to_numpy() + origin[0]
    y = sources["y_image"].to_numpy()[src] + comps["dy"].to_numpy() + origin[1]
    return x, y


def add_noise(
    image: np.ndarray, band: BandSetup, exptime_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Noisy, sky-subtracted image in e-/s from a noiseless one in e-/s.

    electrons = Poisson((image + sky) t) + Normal(0, RN sqrt(n_exp)); result electrons/t - sky.
    Expected noise of an empty pixel: sqrt(sky t + n_exp RN^2) / t (e-/s).
    """
    t = band.exptime_s * exptime_scale
    expected = np.clip(image + band.sky_e_s, 0.0, None) * t
    electrons = rng.poisson(expected).astype(np.float64)
    electrons += rng.normal(0.0, band.read_noise_e * np.sqrt(band.n_exposures), image.shape)
    return electrons / t - band.sky_e_s


def empty_pixel_sigma(band: BandSetup, exptime_scale: float = 1.0) -> float:
    """Expected standard deviation (e-/s) of a source-free pixel (sky Poisson + read noise)."""
    t = band.exptime_s * exptime_scale
    return float(np.sqrt(band.sky_e_s * t + band.n_exposures * band.read_noise_e**2) / t)


def _isolated_measure(
    sources: pd.DataFrame,
    comps: pd.DataFrame,
    flux: np.ndarray,
    psf: PSFModel,
    oversample: int,
    origin: tuple[float, float],
    measure: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    n_values: int,
) -> np.ndarray:
    """``measure(mosaic, x, y)`` -> (m, n_values) of every source with flux > 0, each
    rendered alone without noise (NaN rows elsewhere).

    Sources are laid out on a grid of cells (no light shared; a cell holds the 20-21 px
    annulus), keeping each one's sub-pixel phase and its own detector position's PSF; one
    ``measure`` call per block of 1024 sources.
    """
    n = len(sources)
    out = np.full((n, n_values), np.nan)
    has = np.flatnonzero(flux > 0)
    if has.size == 0:
        return out
    reach = np.hypot(comps["dx"], comps["dy"]).max() if len(comps) else 0.0
    fwhm_max = comps["fwhm"].max() if len(comps) else 0.0
    radius = int(_stamp_radii(np.array([fwhm_max]))[0])
    cell = int(2 * (radius + np.ceil(reach)) + 3)
    per_side = 32
    x_img, y_img = sources["x_image"].to_numpy(), sources["y_image"].to_numpy()
    frac_x, frac_y = x_img - np.floor(x_img + 0.5), y_img - np.floor(y_img + 0.5)
    for start in range(0, has.size, per_side**2):
        block = has[start : start + per_side**2]
        slot = np.arange(block.size)
        cx = (slot % per_side) * cell + cell // 2 + frac_x[block]
        cy = (slot // per_side) * cell + cell // 2 + frac_y[block]
        x_all, y_all = np.full(n, -1e9), np.full(n, -1e9)
        x_all[block], y_all[block] = cx, cy
        f_block = np.zeros(n)
        f_block[block] = flux[block]
        rows = int(np.ceil(block.size / per_side))
        mosaic = np.zeros((rows * cell, min(block.size, per_side) * cell))
        mine = comps[comps["src"].isin(block)]
        # the PSF of each source's real position, not of its mosaic cell
        real_x, real_y = _detector_positions(sources, mine, origin)
        _render_components(mosaic, mine, x_all, y_all, f_block, psf, oversample, real_x, real_y)
        out[block] = measure(mosaic, cx, cy)
    return out


def _truth_apertures(mosaic: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact flux in the :data:`TRUTH_RADII_PX` apertures (no sky: a noiseless render)."""
    apertures = [CircularAperture(np.column_stack([x, y]), r=r) for r in TRUTH_RADII_PX]
    table = aperture_photometry(mosaic, apertures, method="exact")
    return np.column_stack([np.asarray(table[f"aperture_sum_{k}"])
                            for k in range(len(TRUTH_RADII_PX))])  # fmt: skip


def _catalogue_apertures(mosaic: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """F(1), F(3), F(4 px) minus the 7-8 px annulus median and F(20 px) minus the 20-21 px
    one: CI(1, 3), the catalogue aperture and the "total" of LEGUS and PHANGS, measured as
    the pipeline measures them."""
    from clustercat.processing.photometry import measure_apertures

    small = measure_apertures(mosaic, x, y, exptime_s=1.0,
                              radii_px=(1.0, 3.0, CATALOGUE_APERTURE_PX),
                              annulus_px=CATALOGUE_ANNULUS_PX, covariance=False)  # fmt: skip
    big = measure_apertures(mosaic, x, y, exptime_s=1.0, radii_px=(CATALOGUE_TOTAL_PX,),
                            annulus_px=CATALOGUE_TOTAL_ANNULUS_PX, covariance=False)  # fmt: skip
    return np.column_stack([small.flux, big.flux[:, 0]])


def catalogue_aperture_fractions(
    sources: pd.DataFrame,
    comps: pd.DataFrame,
    present: np.ndarray,
    psf: PSFModel,
    oversample: int,
    origin: tuple[float, float],
) -> np.ndarray:
    """(n, 4) fractions of each source's rendered flux (unit flux, rendered alone) in r = 1,
    3 and 4 px minus the 7-8 px annulus median and in 20 px minus the 20-21 px one; NaN rows
    where ``present`` is False."""
    unit = np.where(present, 1.0, 0.0)
    return _isolated_measure(sources, comps, unit, psf, oversample, origin,
                             _catalogue_apertures, 4)  # fmt: skip


def expected_flux_error(
    flux: np.ndarray,
    band: BandSetup,
    radius_px: float = CATALOGUE_APERTURE_PX,
    annulus_px: tuple[float, float] = CATALOGUE_ANNULUS_PX,
    exptime_scale: float = 1.0,
) -> np.ndarray:
    """Expected error (e-/s) of an aperture flux (e-/s) in this band's noise: the source's
    Poisson noise, the sky and read noise of the aperture's pixels and the error of the
    annulus median, as :func:`clustercat.processing.photometry.measure_apertures` states it
    (sigma^2 A + (pi / 2) sigma^2 A^2 / N_annulus)."""
    t = band.exptime_s * exptime_scale
    area = np.pi * radius_px**2
    n_sky = np.pi * (annulus_px[1] ** 2 - annulus_px[0] ** 2)
    sigma = empty_pixel_sigma(band, exptime_scale)
    var = np.clip(flux, 0, None) / t + area * sigma**2 * (1.0 + np.pi / 2 * area / n_sky)
    return np.sqrt(var)


@dataclass(frozen=True)
class CatalogueApertureCorrections:
    """The ``aperture-corrected`` definition's numbers, per band: the rendered fluxes, each
    source's own 4 px -> 20 px correction (mag), the field's average correction (mag) and
    how many sample sources it averages; ``sample``: the field's sample (True per source)."""

    fluxes: dict[str, np.ndarray]
    own: dict[str, np.ndarray]
    field: dict[str, float]
    n_sample: dict[str, int]
    sample: np.ndarray


def aperture_corrected_fluxes(
    sources: pd.DataFrame,
    comps: pd.DataFrame,
    bands: Sequence[BandSetup],
    psfs: dict[str, PSFModel],
    settings: SynthSettings,
    origin: tuple[float, float],
) -> CatalogueApertureCorrections:
    """Fluxes under the ``aperture-corrected`` definition (:data:`MAGNITUDE_DEFINITIONS`).

    A catalogue source's rendered flux F satisfies F f4 = F_cat 10^(-0.4 C): its 4 px flux
    (fraction f4 after the 7-8 px annulus) is its catalogue flux less the field's average
    correction C. C is the mean 4 px -> 20 px correction of the field's isolated clusters,
    chosen from the noiseless truth by the rule the pipeline applies to its detections
    (:func:`clustercat.processing.aperture_corrections.isolated_cluster_sample`: expected V
    S/N, CI above a point source's, no bright neighbour within 21 px - a source's own knot
    or companion :data:`SEPARATE_PEAK_PX` or more away counts as one -, 21 px from the
    edges, the 30 brightest) and averaged as the pipeline averages them; the sample depends on C
    through the fluxes, so it is iterated to a fixed point. Field stars and artefacts (not
    catalogue sources) keep their fluxes as totals.
    """
    from clustercat.processing.aperture_corrections import (
        APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION,
        APCOR_SAMPLE_MIN_SOURCES,
        average_aperture_correction,
        isolated_cluster_sample,
    )
    from clustercat.processing.pipeline import APCOR_BAND_MIN_SNR, point_source_ci

    catalogue = ~(sources["is_field_star"].to_numpy(bool) | sources["is_artefact"].to_numpy(bool))
    cat_flux = {b.band: _band_fluxes(sources, b) for b in bands}
    frac = {
        b.band: catalogue_aperture_fractions(sources, comps, cat_flux[b.band] > 0,
                                             psfs[b.band], settings.oversample, origin)
        for b in bands
    }  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        own = {b.band: 2.5 * np.log10(frac[b.band][:, 3] / frac[b.band][:, 2]) for b in bands}
    by_band = {b.band: b for b in bands}
    v = "V" if "V" in by_band else bands[0].band
    f_v = frac[v]
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = 2.5 * np.log10(f_v[:, 1] / f_v[:, 0])
    psf_ci = point_source_ci(psfs[v], CATALOGUE_ANNULUS_PX)
    x, y = sources["x_image"].to_numpy(), sources["y_image"].to_numpy()

    def scaled(band: str, apcor: float) -> np.ndarray:
        out = cat_flux[band].copy()
        ok = catalogue & (cat_flux[band] > 0) & (frac[band][:, 2] > 0)
        out[ok] = cat_flux[band][ok] * 10 ** (-0.4 * apcor) / frac[band][ok, 2]
        return out

    # a knot or companion star >= 2.5 px away is a detection of its own in the images (two
    # peaks in the ~2.3 px PSF), hence a neighbour of the source's main peak
    far = np.hypot(comps["dx"].to_numpy(), comps["dy"].to_numpy()) >= SEPARATE_PEAK_PX
    src = comps["src"].to_numpy()
    main = np.zeros(len(sources))
    np.maximum.at(main, src, comps["frac"].to_numpy())
    second = np.zeros(len(sources))
    np.maximum.at(second, src[far], comps["frac"].to_numpy()[far])
    with np.errstate(divide="ignore", invalid="ignore"):
        second_peak = second > APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION * main
    clusters = catalogue & sources["kind"].isin(("compact", "elongated")).to_numpy()
    apcor_v, _, _ = average_aperture_correction(f_v[clusters, 2], f_v[clusters, 3])
    apcor_v = apcor_v if np.isfinite(apcor_v) else 0.0  # the start of the iteration

    def expected(band: str, apcor: float, total: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Flux (e-/s) in the catalogue's 4 px aperture (or its 20 px "total") of every
        source rendered with field correction ``apcor``, and the error this band's noise
        would give it."""
        radius, annulus = ((CATALOGUE_TOTAL_PX, CATALOGUE_TOTAL_ANNULUS_PX) if total
                           else (CATALOGUE_APERTURE_PX, CATALOGUE_ANNULUS_PX))  # fmt: skip
        f = np.nan_to_num(scaled(band, apcor) * frac[band][:, 3 if total else 2])
        return f, expected_flux_error(f, by_band[band], radius, annulus, settings.exptime_scale)

    def average(band: str, apcor: float, use: np.ndarray) -> tuple[float, int]:
        """The pipeline's weighted mean, with the errors this band's noise would give."""
        (f4, e4), (f20, e20) = expected(band, apcor), expected(band, apcor, total=True)
        value, _, n = average_aperture_correction(f4[use], f20[use], e4[use], e20[use])
        return (value if np.isfinite(value) else apcor), n

    sample = np.zeros(len(sources), bool)
    for _ in range(10):  # C changes the fluxes, hence the S/N, weights and isolation
        flux4, err4 = expected(v, apcor_v)
        chosen = isolated_cluster_sample(x, y, flux4, err4, ci, psf_ci,
                                         eligible=catalogue & ~second_peak,
                                         image_shape=(settings.size_px, settings.size_px),
                                         edge_px=CATALOGUE_TOTAL_ANNULUS_PX[1])  # fmt: skip
        before, apcor_v = apcor_v, average(v, apcor_v, chosen)[0] if chosen.any() else apcor_v
        if np.array_equal(chosen, sample) and abs(apcor_v - before) < 1e-6:
            break
        sample = chosen
    field_apcor, n_sample, fluxes = {}, {}, {}
    for b in bands:
        value, n = apcor_v, int(sample.sum())
        if b.band != v:
            f4, e4 = expected(b.band, apcor_v)
            use = sample & (cat_flux[b.band] > 0) & (f4 / e4 >= APCOR_BAND_MIN_SNR)
            value, n = average(b.band, apcor_v, use) if use.any() else (apcor_v, 0)
            for _ in range(5):  # the band's own C sets its fluxes, hence its weights
                value = average(b.band, value, use)[0] if use.any() else value
            if n < APCOR_SAMPLE_MIN_SOURCES:  # as the pipeline: V's plus the band's offset
                both = sample & (cat_flux[b.band] > 0)
                offset = float(np.nanmean(own[b.band][both] - own[v][both])) if both.any() else 0.0
                value = apcor_v + offset
        field_apcor[b.band], n_sample[b.band] = float(value), int(n)
        fluxes[b.band] = scaled(b.band, value)
    return CatalogueApertureCorrections(fluxes, own, field_apcor, n_sample, sample)


def render_field(
    catalogue: pd.DataFrame,
    bands: Sequence[BandSetup],
    *,
    field_name: str,
    distance_mpc: float,
    pixel_scale_arcsec: float | None = None,
    ryon: pd.DataFrame | None = None,
    settings: SynthSettings = SynthSettings(),
    psf_data: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyntheticField:
    """Render the synthetic field of one catalogue (see the module docstring).

    ``catalogue`` columns: source_id, x, y (1-based), ra, dec (deg), mag_nuv ... mag_i (Vega;
    NaN: not measured, the source is absent in that band), class (1-4, NaN unclassified), ci.
    ``distance_mpc`` converts parsecs to pixels at ``pixel_scale_arcsec`` (default: the scale
    of the WCS fitted to the catalogue). Deterministic in ``settings.seed``.
    """
    if not distance_mpc or not np.isfinite(distance_mpc) or distance_mpc <= 0:
        raise ValueError(f"distance_mpc must be positive, got {distance_mpc}")
    if catalogue.empty:
        raise ValueError(f"catalogue of field {field_name} is empty")
    required = ["source_id", "x", "y", "ra", "dec", *(MAG_COLUMN[b.band] for b in bands)]
    missing = [c for c in required if c not in catalogue.columns]
    if missing:
        raise ValueError(f"catalogue of field {field_name} lacks column(s) {', '.join(missing)}")
    catalogue = catalogue.copy()
    for optional in ("class", "ci"):
        if optional not in catalogue.columns:
            catalogue[optional] = np.nan
    say = progress or (lambda message: None)
    size = int(settings.size_px)
    # plan, one noise stream per band, artefacts (child i is the same whatever the count)
    seeds = np.random.SeedSequence(settings.seed).spawn(2 + len(bands))
    plan_rng = np.random.default_rng(seeds[0])
    wcs_full = fit_catalogue_wcs(
        catalogue["x"].to_numpy(float), catalogue["y"].to_numpy(float),
        catalogue["ra"].to_numpy(float), catalogue["dec"].to_numpy(float),
    )  # fmt: skip
    if pixel_scale_arcsec is None:  # the catalogue frame's own scale, to 0.01 mas
        scales = proj_plane_pixel_scales(wcs_full) * 3600.0
        pixel_scale_arcsec = round(float(np.mean(scales)), 5)
    centre = settings.centre or density_centre(catalogue["x"], catalogue["y"], size)
    origin = (
        float(np.round(centre[0] - 1.0 - size / 2)),
        float(np.round(centre[1] - 1.0 - size / 2)),
    )
    settings = replace(settings, centre=(float(centre[0]), float(centre[1])))
    wcs = crop_wcs(wcs_full, *origin)
    pc_per_px = distance_mpc * 1e6 * np.deg2rad(pixel_scale_arcsec / 3600.0)
    sources, comps = plan_field(
        catalogue, wcs=wcs_full, origin=origin, size_px=size, ryon=ryon, pc_per_px=pc_per_px,
        settings=settings, rng=plan_rng, artefact_rng=np.random.default_rng(seeds[-1]),
    )  # fmt: skip
    x_img, y_img = sources["x_image"].to_numpy(), sources["y_image"].to_numpy()
    psf_xy = _detector_positions(sources, comps, origin)
    images: dict[str, np.ndarray] = {}
    psfs: dict[str, PSFModel] = {}
    fluxes: dict[str, np.ndarray] = {}
    for band in bands:
        psfs[band.band] = load_psf(band.filter_name, band.instrument, data=psf_data,
                                   pixel_scale_arcsec=pixel_scale_arcsec)  # fmt: skip
    corrected = None
    if settings.magnitudes == "aperture-corrected":
        say("catalogue apertures of every source rendered alone, in every band")
        corrected = aperture_corrected_fluxes(sources, comps, bands, psfs, settings, origin)
    aper = None
    for k, band in enumerate(bands):
        say(
            f"{band.band} ({band.filter_name}, {band.instrument}): rendering {len(sources)} sources"
        )
        psf = psfs[band.band]
        flux = corrected.fluxes[band.band] if corrected else _band_fluxes(sources, band)
        fluxes[band.band] = flux
        image = np.zeros((size, size))
        _render_components(image, comps, x_img, y_img, flux, psf, settings.oversample, *psf_xy)
        if not settings.noiseless:
            image = add_noise(
                image, band, settings.exptime_scale, np.random.default_rng(seeds[1 + k])
            )
        images[band.band] = image.astype(np.float32)
        if band.band == "V":
            say("V: isolated noiseless renders for the truth apertures")
            aper = _isolated_measure(sources, comps, flux, psf, settings.oversample, origin,
                                     _truth_apertures, len(TRUTH_RADII_PX))  # fmt: skip
    truth = _truth_table(sources, bands, fluxes, aper, wcs)
    if corrected:
        for band in bands:
            truth[f"apcor_{band.band.lower()}"] = corrected.own[band.band] * u.mag
        truth["in_apcor_sample"] = corrected.sample
    log_median, log_scatter, _ = size_distribution(ryon)
    truth.meta.update(
        {
            "field": field_name, "seed": int(settings.seed), "size_px": size,
            "crop_origin_px": list(origin), "centre_catalogue_px": list(settings.centre),
            "distance_mpc": float(distance_mpc), "pixel_scale_arcsec": pixel_scale_arcsec,
            "pc_per_px": float(pc_per_px), "exptime_scale": float(settings.exptime_scale),
            "x_image": "0-based pixel centre of the image (pixel i covers [i-0.5, i+0.5])",
            "x_catalogue": "1-based catalogue frame; x_image = x_catalogue - 1 - crop origin",
            "noiseless": bool(settings.noiseless),
            "sky_e_per_s_pix": {b.filter_name: b.sky_e_s for b in bands},
            "psf": {b.filter_name: psfs[b.band].description for b in bands},
            "size_lognormal": {"median_pc": float(10**log_median), "sigma_dex": log_scatter},
            "n_artefacts": int(sources["is_artefact"].sum()),
            "artefact_v_mag_range": list(ARTEFACT_V_MAG_RANGE),
            "magnitudes": settings.magnitudes,
        }
    )  # fmt: skip
    if corrected:
        truth.meta["catalogue_aperture_correction_mag"] = {
            b.filter_name: round(corrected.field[b.band], 5) for b in bands
        }
        truth.meta["catalogue_aperture_correction_sample"] = {
            b.filter_name: corrected.n_sample[b.band] for b in bands
        }
    parts = Table()
    src = comps["src"].to_numpy()
    parts["id"] = truth["id"][src]
    parts["x_image"] = (x_img[src] + comps["dx"].to_numpy()) * u.pix
    parts["y_image"] = (y_img[src] + comps["dy"].to_numpy()) * u.pix
    parts["flux_fraction"] = comps["frac"].to_numpy(float)
    parts["fwhm_px"] = comps["fwhm"].to_numpy(float) * u.pix
    parts["eta"] = comps["eta"].to_numpy(float)
    parts["axis_ratio"] = comps["q"].to_numpy(float)
    parts["theta_deg"] = comps["theta"].to_numpy(float) * u.deg
    parts["psf_convolved"] = comps["psf"].to_numpy(bool)
    parts["is_artefact"] = sources["is_artefact"].to_numpy(bool)[src]
    parts.meta["description"] = "rendered components of each truth source (0-based image px)"
    return SyntheticField(
        field_name, wcs, list(bands), images, psfs, truth, settings, origin, parts
    )


def _truth_table(
    sources: pd.DataFrame,
    bands: Sequence[BandSetup],
    fluxes: dict[str, np.ndarray],
    aper: np.ndarray | None,
    wcs: WCS,
) -> Table:
    t = Table()
    t["id"] = sources["source_id"].to_numpy(np.int64)
    t["ra"] = sources["ra"].to_numpy(float) * u.deg
    t["dec"] = sources["dec"].to_numpy(float) * u.deg
    for c in ("x_catalogue", "y_catalogue", "x_image", "y_image"):
        t[c] = sources[c].to_numpy(float) * u.pix
    ra_wcs, dec_wcs = wcs.pixel_to_world_values(t["x_image"].value, t["y_image"].value)
    t["ra_wcs"] = ra_wcs * u.deg  # the image WCS at the rendered centre (RA/Dec of the
    t["dec_wcs"] = dec_wcs * u.deg  # catalogue are rounded to 1e-5 deg, ~0.9 px)
    cls = sources["class"].to_numpy(float)
    t["class"] = np.ma.masked_array(np.nan_to_num(cls, nan=0).astype(np.int16), mask=np.isnan(cls))
    t["kind"] = sources["kind"].to_numpy(str)
    t["fwhm_px"] = sources["fwhm_px"].to_numpy(float) * u.pix
    t["eta"] = sources["eta"].to_numpy(float)
    t["r_eff_px"] = sources["r_eff_px"].to_numpy(float) * u.pix
    t["r_eff_pc"] = sources["r_eff_pc"].to_numpy(float) * u.pc
    t["size_origin"] = sources["size_origin"].to_numpy(str)
    for band in bands:
        flux = fluxes[band.band]
        mag = np.where(flux > 0, band.zp_vega - 2.5 * np.log10(np.where(flux > 0, flux, 1)), np.nan)
        t[f"mag_{band.band.lower()}"] = mag * u.mag
        t[f"flux_{band.band.lower()}"] = flux * u.electron / u.s
    if aper is not None:
        for k, r in enumerate(TRUTH_RADII_PX):
            t[f"flux_v_r{int(r)}"] = aper[:, k] * u.electron / u.s
        with np.errstate(divide="ignore", invalid="ignore"):
            t["ci_v"] = -2.5 * np.log10(aper[:, 0] / aper[:, 1]) * u.mag
    t["is_field_star"] = sources["is_field_star"].to_numpy(bool)
    t["is_artefact"] = sources["is_artefact"].to_numpy(bool)
    return t


# --- files ---------------------------------------------------------------------------------------


def synth_file_name(field_name: str, band: BandSetup) -> str:
    """MAST-like name: ``hlsp_clustercat-synth_hst_wfc3-uvis_ngc628c_f275w_drc.fits``."""
    inst = band.instrument.lower().replace("/", "-")
    return (
        f"hlsp_clustercat-synth_hst_{inst}_{field_name.lower()}_{band.filter_name.lower()}_drc.fits"
    )


def write_synthetic_field(
    synth: SyntheticField, out_dir: Path | str, *, source: str = ""
) -> list[Path]:
    """Five FITS images (processing.images.write_hst_fits), ``truth_<field>.ecsv`` (one row
    per source) and ``truth_<field>_components.ecsv`` (one row per rendered component).

    Headers carry the real PHOTFLAM/PHOTPLAM/EXPTIME (times ``exptime_scale``) and camera,
    the PSF (PSFMODEL, PSFNOTE, PSFAPPRX), seed, sky, read noise and the source catalogue.
    Same field and settings -> same bytes.
    """
    from clustercat.processing.images import write_hst_fits

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for band in synth.bands:
        psf = synth.psfs[band.band]
        extra = {
            "PSFMODEL": (psf.short_name, "PSF used to render sources"),
            "PSFNOTE": (psf.description, "how the PSF was built"),
            "PSFAPPRX": (bool(psf.is_approximation), "PSF is an approximation"),
            "SYNSEED": (int(synth.settings.seed), "random seed of the synthetic field"),
            "SYNSKY": (band.sky_e_s, "sky level added before noise (e-/s/pix)"),
            "MDRIZSKY": (band.sky_e_s, "sky subtracted (e-/s/pix)"),
            "SYNRDNS": (band.read_noise_e, "read noise per exposure (e-)"),
            "SYNNEXP": (band.n_exposures, "exposures (read noise draws)"),
            "SYNEXPSC": (float(synth.settings.exptime_scale), "exposure time scale factor"),
            "SYNCAT": (source or synth.field_name, "catalogue the field was rendered from"),
        }
        path = out / synth_file_name(synth.field_name, band)
        write_hst_fits(
            path, synth.images[band.band], synth.wcs, filter_name=band.filter_name,
            instrument=band.instrument, photflam=band.photflam, photplam=band.photplam,
            exptime_s=band.exptime_s * synth.settings.exptime_scale, extra_header=extra,
        )  # fmt: skip
        written.append(path)
    truth_path = out / f"truth_{synth.field_name.lower()}.ecsv"
    synth.truth.write(truth_path, format="ascii.ecsv", overwrite=True)
    parts_path = out / f"truth_{synth.field_name.lower()}_components.ecsv"
    synth.components.write(parts_path, format="ascii.ecsv", overwrite=True)
    written += [truth_path, parts_path]
    return written


def file_digests(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 of each file, by name (for reproducibility checks)."""
    return {p.name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
