"""The image pipeline: one field's five drizzled images in, catalogue tables out.

Pure orchestration (Thilker et al. 2022 §2-§4, Fig. 1): no database here, see
:mod:`clustercat.processing.pipeline_db`. The stages, each a function of another module:

1. **detection** on the V image (:func:`clustercat.processing.detection.detect_sources`,
   DAOStarFinder with a 2.5 px FWHM kernel, Thilker §2.1; peak-anchored windowed centroids;
   no roundness limits by default, ``detection_roundness_range``: Thilker §4.1 do not select
   clusters on the core's shape parameters, and the stellar limits of DAOFIND reject
   elongated and multi-knot clusters);
2. **photometry** in every band at r = 1, 1.5, 2, 2.5, 3, 4, 5 px with the 7-8 px sky
   annulus (:func:`clustercat.processing.photometry.measure_apertures`, §2.2);
3. **aperture correction** 4 px -> total per band (method and values recorded in the run):
   by default the field's average over its bright isolated clusters of m(4 px, sky 7-8 px) -
   m(20 px, sky 20-21 px), as LEGUS's "avgapcor" catalogues and Thilker §2.2
   (``average-isolated``, :func:`isolated_average_corrections`, after the photometry); or
   per source from its whole V-band growth curve (``growth-curve``,
   :func:`growth_curve_corrections` and :mod:`clustercat.processing.aperture_corrections`):
   model clusters (Moffat, Thilker's eta grid x FWHM 0-10 px) convolved with each band's PSF
   and measured like the sources (apertures minus the 7-8 px annulus median, against the
   flux within 20 px, Thilker §2.2) are fitted to the source's V fluxes at r = 1-5 px, and
   the fit's weights give its correction in every band; or by the V-band CI alone, as
   LEGUS's CI-based correction (``ci-dependent``, :func:`ci_aperture_corrections`); or one
   value per band from the fiducial cluster (FWHM 2 px, eta = 3, §4.2.1) as Thilker's single
   correction (``fiducial-cluster-psf-sky``, :func:`band_aperture_correction`);
4. **morphology**: CI, NCI, MCI_in, MCI_out with the field's fiducial constants
   (:func:`clustercat.processing.morphology.fiducial_constants` from ``n_fiducial``
   synthetic clusters in the V image, then ``concentration_indices``; §3.5-3.7);
5. **selection**: general criteria, morphology quality, semi-empirical region, super H-D,
   doubles (:func:`clustercat.processing.selection.select_candidates`, §4).

Independent work runs as Dask tasks when a ``distributed.Client`` is given: detection per
tile, photometry per band and tile, one aperture correction per band and the fiducial
constants, all submitted together. A large mosaic is cut into ``tile_px`` tiles that
overlap by the sky annulus' outer radius plus a margin, so every aperture and annulus of a
source a tile owns lies inside that tile: the tiled photometry equals the untiled one. A
tile owns the sources whose nearest pixel lies in its core (the tiles' cores partition the
image); sources that two tiles still both report within ``duplicate_radius_px`` are merged,
keeping the brighter.

Coordinates are 0-based pixel centres here (numpy/photutils); :func:`catalogue_tables`
writes 1-based x, y as the database stores them. RA/Dec come from the V image's WCS.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .aperture_corrections import (
    APCOR_SAMPLE_ISOLATION_PX,
    APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION,
    APCOR_SAMPLE_MIN_CI_ABOVE_PSF,
    APCOR_SAMPLE_MIN_SNR,
    APCOR_SAMPLE_MIN_SOURCES,
    APCOR_SAMPLE_SIZE,
    GROWTH_MODEL_ETAS,
    GROWTH_MODEL_FWHMS_PX,
    GrowthCurveApertureCorrection,
    average_aperture_correction,
    isolated_cluster_sample,
)
from .images import HSTImage
from .photometry import (
    APERTURE_RADII_PX,
    SKY_ANNULUS_PX,
    ApertureCorrection,
    ApertureTable,
    aperture_correction,
    flux_to_vega_mag,
    measure_apertures,
)

#: The five bands the pipeline measures (Thilker et al. 2022 §2, Table 4).
BANDS: tuple[str, ...] = ("NUV", "U", "B", "V", "I")

#: Module name of the pipeline's ``processing_run`` rows.
MODULE = "image_pipeline"

#: Ways to make the 4 px -> total aperture correction (module docstring, stage 3).
APCOR_METHODS: tuple[str, ...] = (
    "growth-curve",
    "average-isolated",
    "ci-dependent",
    "fiducial-cluster-psf-sky",
    "fiducial-cluster-psf",
)

#: Moffat indices (Thilker et al. 2022 §3.1 grid, eta > 1) and pre-PSF FWHMs (px) of the
#: model clusters that calibrate the CI-dependent aperture correction.
APCOR_MODEL_ETAS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0)
APCOR_MODEL_FWHMS_PX: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
#: Sub-pixel centre of the model clusters (px from a pixel centre).
APCOR_MODEL_OFFSET_PX: tuple[float, float] = (0.25, 0.25)

#: A flux below this many times its error is "not detected": no magnitude is stored (its
#: error would exceed 1.0857 / 0.1 = 10.9 mag).
MIN_MEASURED_SNR = 0.1

#: Version of the pipeline's orchestration (stored as the release's reader version).
PIPELINE_VERSION = "1"


@dataclass(frozen=True)
class PipelineSettings:
    """Every parameter of a pipeline run (all recorded in the ``processing_run`` config).

    Lengths in pixels of the drizzled frame. ``tile_px`` None processes the image whole;
    otherwise tiles of ``tile_px`` x ``tile_px`` (cores) overlapping by
    :attr:`overlap_px`. ``n_fiducial`` synthetic fiducial clusters set the NCI constants
    (Thilker §3.6 used 21,000; a few hundred give the median to ~0.01 mag).
    """

    bands: tuple[str, ...] = BANDS
    detection_band: str = "V"
    fwhm_px: float = 2.5
    detection_threshold_sigma: float = 3.0
    detection_roundness_range: tuple[float, float] | None = None
    background_box_px: int | None = None
    radii_px: tuple[float, ...] = APERTURE_RADII_PX
    annulus_px: tuple[float, float] = SKY_ANNULUS_PX
    apcor_radius_px: float = 4.0
    apcor_total_radius_px: float = 20.0
    apcor_method: str = "average-isolated"
    n_fiducial: int = 300
    seed: int = 1
    tile_px: int | None = None
    tile_margin_px: int = 4
    duplicate_radius_px: float = 1.0

    def __post_init__(self) -> None:
        if self.detection_band not in self.bands:
            raise ValueError(f"detection band {self.detection_band} is not among {self.bands}")
        if not any(math.isclose(r, self.apcor_radius_px) for r in self.radii_px):
            raise ValueError(f"the aperture-correction radius {self.apcor_radius_px} px is "
                             f"not one of the radii {self.radii_px}")  # fmt: skip
        if self.tile_px is not None and self.tile_px < 4 * self.overlap_px:
            raise ValueError(f"tile_px must be at least {4 * self.overlap_px} px "
                             f"(4 x the {self.overlap_px} px overlap)")  # fmt: skip
        if self.apcor_method not in APCOR_METHODS:
            raise ValueError(f"apcor_method must be one of {APCOR_METHODS}")
        if self.n_fiducial < 10:
            raise ValueError("n_fiducial must be at least 10")

    @property
    def overlap_px(self) -> int:
        """Tile overlap: the outer sky radius (or largest aperture) plus the margin (px)."""
        return int(math.ceil(max(*self.radii_px, *self.annulus_px))) + int(self.tile_margin_px)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able parameters (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# --- tiles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """A rectangle of the image: ``core`` (owned) inside ``outer`` (core + overlap).

    Bounds are 0-based pixel indices, ``[x0, x1)`` x ``[y0, y1)``.
    """

    index: int
    core: tuple[int, int, int, int]  # x0, x1, y0, y1
    outer: tuple[int, int, int, int]

    def cut(self, data: np.ndarray) -> np.ndarray:
        """The ``outer`` rectangle of an image (a view)."""
        x0, x1, y0, y1 = self.outer
        return data[y0:y1, x0:x1]

    def owns(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True for positions (0-based) whose nearest pixel lies in the core."""
        ix, iy = np.floor(np.asarray(x) + 0.5), np.floor(np.asarray(y) + 0.5)
        x0, x1, y0, y1 = self.core
        return (ix >= x0) & (ix < x1) & (iy >= y0) & (iy < y1)


def tile_grid(shape: tuple[int, int], tile_px: int | None, overlap_px: int) -> list[Tile]:
    """Tiles whose cores partition an image of ``shape`` (ny, nx); one tile if ``tile_px`` None.

    Cores are as equal as possible and at most ``tile_px`` wide; outers extend each core by
    ``overlap_px`` on every side, clipped to the image.
    """
    ny, nx = (int(s) for s in shape)
    if tile_px is None:
        return [Tile(0, (0, nx, 0, ny), (0, nx, 0, ny))]

    def edges(n: int) -> np.ndarray:
        return np.linspace(0, n, max(1, math.ceil(n / tile_px)) + 1).round().astype(int)

    xs, ys = edges(nx), edges(ny)
    tiles = []
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            core = (int(xs[i]), int(xs[i + 1]), int(ys[j]), int(ys[j + 1]))
            outer = (max(0, core[0] - overlap_px), min(nx, core[1] + overlap_px),
                     max(0, core[2] - overlap_px), min(ny, core[3] + overlap_px))  # fmt: skip
            tiles.append(Tile(len(tiles), core, outer))
    return tiles


def duplicates(
    x: np.ndarray, y: np.ndarray, brightness: np.ndarray, radius_px: float
) -> np.ndarray:
    """True for each source with a brighter one within ``radius_px`` (pix): the copy to drop.

    Ties in brightness keep the first. Used on the sources of neighbouring tiles.
    """
    n = len(x)
    drop = np.zeros(n, dtype=bool)
    if n < 2:
        return drop
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius_px, output_type="ndarray")
    if len(pairs) == 0:
        return drop
    b = np.nan_to_num(np.asarray(brightness, dtype=float), nan=-np.inf)
    i, j = pairs[:, 0], pairs[:, 1]
    fainter = np.where((b[j] > b[i]) | ((b[j] == b[i]) & (j < i)), i, j)
    drop[fainter] = True
    return drop


# --- the tasks (plain functions: run inline or on Dask workers) -----------------------------


def detect_tile(
    data: np.ndarray,
    tile: Tile,
    sky: tuple[float | np.ndarray, float | np.ndarray],
    settings: PipelineSettings,
) -> pd.DataFrame:
    """Detections of one tile, in full-image 0-based coordinates, owned by the tile.

    ``sky`` is the (level, rms) of the whole image (scalars or maps), so that every tile
    thresholds at the same level.
    """
    from .detection import detect_sources

    level, rms = (tile.cut(v) if np.ndim(v) == 2 else v for v in sky)
    found = detect_sources(
        tile.cut(data), fwhm_px=settings.fwhm_px, sky_level=level, sky_rms=rms,
        threshold_sigma=settings.detection_threshold_sigma,
        dedup_radius_px=settings.duplicate_radius_px,
        roundness_range=settings.detection_roundness_range,
    ).copy()  # fmt: skip
    found["x"] = found["x"] + tile.outer[0]
    found["y"] = found["y"] + tile.outer[2]
    return found[tile.owns(found["x"].to_numpy(), found["y"].to_numpy())].reset_index(drop=True)


def photometry_tile(
    data: np.ndarray,
    tile: Tile,
    x: np.ndarray,
    y: np.ndarray,
    exptime_s: float,
    settings: PipelineSettings,
) -> ApertureTable:
    """Aperture photometry of the sources a tile owns (positions in full-image coordinates)."""
    return measure_apertures(
        tile.cut(data), np.asarray(x) - tile.outer[0], np.asarray(y) - tile.outer[2],
        exptime_s=exptime_s, radii_px=settings.radii_px, annulus_px=settings.annulus_px,
    )  # fmt: skip


def band_psf(filter_name: str, instrument: str) -> Any:
    """The PSF model of a filter on a camera (:func:`clustercat.processing.psf.load_psf`)."""
    from .psf import load_psf

    return load_psf(filter_name, instrument)


#: Offsets (px) of the fiducial cluster from a pixel centre, averaged in the correction.
APCOR_OFFSETS_PX: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.25, 0.25), (0.5, 0.5))


def band_aperture_correction(
    filter_name: str, instrument: str, band: str, settings: PipelineSettings
) -> ApertureCorrection:
    """4 px -> total correction of one band, by ``settings.apcor_method``.

    ``fiducial-cluster-psf-sky``: the fiducial cluster (Moffat FWHM 2 px, eta = 3, Thilker
    §4.2.1) convolved with the band's PSF, rendered noiseless with all its flux within
    ``apcor_total_radius_px`` (20 px, the paper's reference aperture, §2.2), and measured
    exactly as the sources are: 4 px aperture minus the median of the 7-8 px annulus. The
    PSF wings in the annulus are then subtracted as in the measurement (about 0.03 mag for
    the HST PSFs, which the no-sky correction below misses).
    ``fiducial-cluster-psf``: :func:`clustercat.processing.photometry.aperture_correction`
    (the same cluster, apertures without sky subtraction).
    """
    psf = band_psf(filter_name, instrument)
    if settings.apcor_method == "fiducial-cluster-psf":
        return aperture_correction(
            psf, radius_px=settings.apcor_radius_px,
            total_radius_px=settings.apcor_total_radius_px, band=band,
        )  # fmt: skip
    from .profiles import add_profiles

    total_r = int(math.ceil(settings.apcor_total_radius_px))
    reach = total_r + int(math.ceil(settings.annulus_px[1])) + 4
    values = []
    for ox, oy in APCOR_OFFSETS_PX:
        stamp = np.zeros((2 * reach + 1, 2 * reach + 1))
        x, y = np.array([reach + ox]), np.array([reach + oy])
        add_profiles(stamp, x, y, np.array([1.0]), 2.0, 3.0, psf=psf, stamp_radius_px=total_r)
        table = measure_apertures(stamp, x, y, exptime_s=1.0,
                                  radii_px=(settings.apcor_radius_px,),
                                  annulus_px=settings.annulus_px)  # fmt: skip
        values.append(2.5 * math.log10(float(stamp.sum()) / float(table.flux[0, 0])))
    return ApertureCorrection(
        value_mag=float(np.mean(values)), method=settings.apcor_method,
        radius_px=settings.apcor_radius_px, band=band,
        settings={"fwhm_px": 2.0, "eta": 3.0, "total_radius_px": total_r,
                  "annulus_px": list(settings.annulus_px),
                  "offsets_px": [list(o) for o in APCOR_OFFSETS_PX],
                  "psf": getattr(psf, "name", None) or getattr(psf, "description", None)},
    )  # fmt: skip


def point_source_ci(psf: Any, annulus_px: tuple[float, float] = SKY_ANNULUS_PX) -> float:
    """CI(1, 3) of a point source (``psf``), measured as the sources are (the sky annulus
    median subtracted), averaged over the sub-pixel phases :data:`APCOR_OFFSETS_PX`: the
    model cluster of :func:`_model_apertures` with FWHM 0."""
    settings = PipelineSettings(annulus_px=tuple(annulus_px))
    values = []
    for offset in APCOR_OFFSETS_PX:
        f1, f3, _, _ = _model_apertures(psf, 0.0, 3.0, settings, offset)
        values.append(2.5 * math.log10(f3 / f1))
    return float(np.mean(values))


#: Per-band S/N (4 px) a sample source needs to enter that band's average correction.
APCOR_BAND_MIN_SNR = 10.0


def isolated_average_corrections(
    sources: pd.DataFrame,
    tables: Mapping[str, ApertureTable],
    images: Mapping[str, HSTImage],
    fiducial: Mapping[str, ApertureCorrection],
    settings: PipelineSettings,
) -> dict[str, ApertureCorrection]:
    """``average-isolated``: one correction per band, the sigma-clipped, inverse-variance
    weighted mean over the field's bright isolated clusters of m(4 px, sky 7-8 px) -
    m(20 px, sky 20-21 px) (:func:`~clustercat.processing.aperture_corrections.
    average_aperture_correction`), as LEGUS's
    "avgapcor" catalogues (Adamo et al. 2017) and Thilker et al. 2022 §2.2 (galaxy F555W
    average over isolated sources; the sample is chosen by
    :func:`~clustercat.processing.aperture_corrections.isolated_cluster_sample`, not by eye).

    A band where fewer than :data:`APCOR_SAMPLE_MIN_SOURCES` sample sources reach S/N 10
    takes V's value plus the fiducial cluster's offset between the two bands (Thilker's
    survey-wide offsets play that role); with too few in V every band takes the fiducial
    cluster's correction (``fiducial``, from :func:`band_aperture_correction`). What was
    used is recorded in each correction's ``settings``.
    """
    v = settings.detection_band
    ref, image_v = tables[v], images[v]
    k4 = ref.column(settings.apcor_radius_px)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = 2.5 * np.log10(ref.flux[:, ref.column(3.0)] / ref.flux[:, ref.column(1.0)])
    x, y = sources["x"].to_numpy(float), sources["y"].to_numpy(float)
    total_r = float(settings.apcor_total_radius_px)
    annulus = (total_r, total_r + 1.0)
    psf_ci = point_source_ci(band_psf(image_v.filter_name, image_v.instrument),
                             settings.annulus_px)  # fmt: skip
    sample = isolated_cluster_sample(
        x, y, ref.flux[:, k4], ref.flux_err[:, k4], ci, psf_ci,
        image_shape=image_v.data.shape, edge_px=annulus[1],
    )  # fmt: skip
    idx = np.flatnonzero(sample)
    cuts = {
        "min_snr_v": APCOR_SAMPLE_MIN_SNR, "min_ci_above_psf": APCOR_SAMPLE_MIN_CI_ABOVE_PSF,
        "psf_ci": round(psf_ci, 4), "isolation_px": APCOR_SAMPLE_ISOLATION_PX,
        "max_neighbour_fraction": APCOR_SAMPLE_MAX_NEIGHBOUR_FRACTION,
        "band_min_snr": APCOR_BAND_MIN_SNR, "min_sources": APCOR_SAMPLE_MIN_SOURCES,
        "size": APCOR_SAMPLE_SIZE,
        "total_radius_px": total_r, "total_annulus_px": list(annulus),
        "annulus_px": list(settings.annulus_px),
    }  # fmt: skip
    measured: dict[str, tuple[float, float, int]] = {}
    for band in settings.bands:
        table = tables[band]
        f4, e4 = table.flux[idx, k4], table.flux_err[idx, k4]
        with np.errstate(divide="ignore", invalid="ignore"):
            use = np.isfinite(f4) & (f4 / e4 >= APCOR_BAND_MIN_SNR)
        if not use.any():
            measured[band] = (float("nan"), float("nan"), 0)
            continue
        big = measure_apertures(
            images[band].data, x[idx][use], y[idx][use], exptime_s=images[band].exptime_s,
            radii_px=(total_r,), annulus_px=annulus, covariance=False,
        )  # fmt: skip
        measured[band] = average_aperture_correction(
            f4[use], big.flux[:, 0], e4[use], big.flux_err[:, 0]
        )
    out: dict[str, ApertureCorrection] = {}
    v_ok = measured[v][2] >= APCOR_SAMPLE_MIN_SOURCES
    for band in settings.bands:
        value, std, n = measured[band]  # std: the mean's standard error
        if n >= APCOR_SAMPLE_MIN_SOURCES and v_ok:
            source = "sample"
        elif v_ok:
            value = measured[v][0] + fiducial[band].value_mag - fiducial[v].value_mag
            source = f"{v} sample + fiducial-cluster offset"
        else:
            value, source = fiducial[band].value_mag, "fiducial-cluster-psf-sky"
        out[band] = ApertureCorrection(
            value_mag=float(value), method="average-isolated", radius_px=settings.apcor_radius_px,
            band=band,
            settings={**cuts, "source": source, "n_sample": int(n),
                      "error_mag": None if not np.isfinite(std) else round(std, 5),
                      "sample_ids": [int(i) for i in sources["id"].to_numpy()[idx]]},
        )  # fmt: skip
    return out


def _model_apertures(
    psf: Any, fwhm_px: float, eta: float, settings: PipelineSettings, offset: tuple[float, float]
) -> tuple[float, float, float, float]:
    """(F(1 px), F(3 px), F(4 px) - annulus sky, F(total)) of one noiseless model cluster of
    unit flux within ``apcor_total_radius_px``, measured as the sources are."""
    from .profiles import add_profiles

    total_r = int(math.ceil(settings.apcor_total_radius_px))
    reach = total_r + int(math.ceil(settings.annulus_px[1])) + 4
    stamp = np.zeros((2 * reach + 1, 2 * reach + 1))
    x, y = np.array([reach + offset[0]]), np.array([reach + offset[1]])
    add_profiles(stamp, x, y, np.array([1.0]), fwhm_px, eta, psf=psf, stamp_radius_px=total_r)
    table = measure_apertures(stamp, x, y, exptime_s=1.0,
                              radii_px=(1.0, 3.0, settings.apcor_radius_px),
                              annulus_px=settings.annulus_px)  # fmt: skip
    f1, f3, f4 = (float(v) for v in table.flux[0])
    return f1, f3, f4, float(stamp.sum())


@functools.lru_cache(maxsize=16)
def band_model_apertures(
    filter_name: str, instrument: str, band: str, settings: PipelineSettings
) -> pd.DataFrame:
    """Aperture fluxes of the model-cluster ladder (:data:`APCOR_MODEL_ETAS` x
    :data:`APCOR_MODEL_FWHMS_PX`, Moffat convolved with the band's PSF, centred at
    :data:`APCOR_MODEL_OFFSET_PX`): the calibration of :func:`ci_aperture_corrections`.
    Deterministic, so cached per filter, camera and settings (do not modify the frame)."""
    psf = band_psf(filter_name, instrument)
    rows = []
    for eta in APCOR_MODEL_ETAS:
        for fwhm in APCOR_MODEL_FWHMS_PX:
            sums = _model_apertures(psf, fwhm, eta, settings, APCOR_MODEL_OFFSET_PX)
            rows.append((band, eta, fwhm, *sums))
    return pd.DataFrame(rows, columns=["band", "eta", "fwhm_px", "f1", "f3", "f4", "total"])


@dataclass(frozen=True)
class CIApertureCorrection:
    """A 4 px -> total correction that depends on the source's V-band CI (LEGUS-style).

    ``apcor_mag(ci)`` interpolates (``ci_grid``, ``apcor_grid``): for model clusters of the
    ladder, the V-band CI(1, 3) they show and the correction they need in this band (median
    over the Moffat indices at equal CI); CIs outside the grid take its end values and a
    source without a CI takes ``value_mag``, the fiducial cluster's (FWHM 2 px, eta = 3).
    Sign: m_total = m(4 px) - apcor (apcor > 0), as
    :class:`~clustercat.processing.photometry.ApertureCorrection`.
    """

    band: str
    ci_grid: tuple[float, ...]
    apcor_grid: tuple[float, ...]
    value_mag: float
    method: str = "ci-dependent"
    radius_px: float = 4.0
    settings: dict = field(default_factory=dict)

    def apcor_mag(self, ci: np.ndarray) -> np.ndarray:
        """Correction (mag, > 0) for each V-band CI (mag); NaN CI -> ``value_mag``."""
        ci = np.asarray(ci, dtype=float)
        out = np.interp(ci, self.ci_grid, self.apcor_grid)
        return np.where(np.isfinite(ci), out, self.value_mag)

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        d = asdict(self)
        d["ci_grid"], d["apcor_grid"] = list(self.ci_grid), list(self.apcor_grid)
        return d


def ci_aperture_corrections(
    models: pd.DataFrame, detection_band: str, settings: PipelineSettings
) -> dict[str, CIApertureCorrection]:
    """Per band, the CI-dependent aperture correction from the model ladder's fluxes.

    Each model cluster (eta, FWHM) has a V-band CI = 2.5 log10(F3/F1) and, in every band,
    apcor = 2.5 log10(F_total / F4_sky-subtracted); per eta the relation CI -> apcor is
    interpolated on a common CI grid and the median over eta is kept, over the CIs that
    every index reaches. CI and correction are degenerate in eta (at CI = 1.78 in F555W an
    eta = 1.25 cluster needs 0.83 mag, eta = 4 0.30 mag): the median suits a population
    spread over Thilker's grid, while a field of eta = 3 fiducial clusters comes out
    ~0.09 mag too bright (use ``fiducial-cluster-psf-sky`` for such a field).
    """
    v = models[models["band"] == detection_band].set_index(["eta", "fwhm_px"])
    ci_v = 2.5 * np.log10(v["f3"] / v["f1"])
    grid = np.linspace(float(ci_v.min()), float(ci_v.max()), 60)
    out = {}
    for band, rows in models.groupby("band", sort=False):
        rows = rows.set_index(["eta", "fwhm_px"])
        apcor = 2.5 * np.log10(rows["total"] / rows["f4"])
        curves = []
        for eta in APCOR_MODEL_ETAS:
            c, a = ci_v.loc[eta].to_numpy(), apcor.loc[eta].to_numpy()
            order = np.argsort(c)
            c, a = c[order], a[order]
            curves.append(np.where((grid >= c[0]) & (grid <= c[-1]), np.interp(grid, c, a),
                                   np.nan))  # fmt: skip
        stack = np.vstack(curves)
        med = np.nanmedian(stack, axis=0)
        # keep the CIs that every Moffat index reaches (a median over fewer curves at the
        # extremes would jump from one profile family to another)
        ok = np.all(np.isfinite(stack), axis=0)
        out[band] = CIApertureCorrection(
            band=band, ci_grid=tuple(grid[ok].round(5)), apcor_grid=tuple(med[ok].round(5)),
            value_mag=float(apcor.loc[(3.0, 2.0)]), radius_px=settings.apcor_radius_px,
            settings={"etas": list(APCOR_MODEL_ETAS), "fwhms_px": list(APCOR_MODEL_FWHMS_PX),
                      "total_radius_px": settings.apcor_total_radius_px,
                      "annulus_px": list(settings.annulus_px), "ci_band": detection_band},
        )  # fmt: skip
    return out


#: Largest radius (px) of the growth curve fitted by the ``growth-curve`` correction.
GROWTH_MAX_RADIUS_PX = 5.0


def growth_radii(settings: PipelineSettings) -> tuple[float, ...]:
    """The radii (px) of the growth curve: the measured ones up to :data:`GROWTH_MAX_RADIUS_PX`."""
    return tuple(float(r) for r in settings.radii_px if 0 < r <= GROWTH_MAX_RADIUS_PX)


@functools.lru_cache(maxsize=16)
def band_growth_models(
    filter_name: str, instrument: str, band: str, settings: PipelineSettings
) -> pd.DataFrame:
    """Growth curves of the model grid (:data:`GROWTH_MODEL_ETAS` x
    :data:`GROWTH_MODEL_FWHMS_PX`, Moffat convolved with the band's PSF, centred at
    :data:`APCOR_MODEL_OFFSET_PX`) measured as the sources are: one row per model with
    ``eta``, ``fwhm_px``, ``f_<r>`` (annulus-subtracted flux within each of
    :func:`growth_radii`) and ``total`` (flux within ``apcor_total_radius_px``) for unit
    flux. Deterministic, so cached per filter, camera and settings (do not modify)."""
    from .profiles import add_profiles

    psf = band_psf(filter_name, instrument)
    radii = growth_radii(settings)
    total_r = int(math.ceil(settings.apcor_total_radius_px))
    reach = total_r + int(math.ceil(settings.annulus_px[1])) + 4
    rows = []
    for eta in GROWTH_MODEL_ETAS:
        for fwhm in GROWTH_MODEL_FWHMS_PX:
            stamp = np.zeros((2 * reach + 1, 2 * reach + 1))
            x = np.array([reach + APCOR_MODEL_OFFSET_PX[0]])
            y = np.array([reach + APCOR_MODEL_OFFSET_PX[1]])
            add_profiles(stamp, x, y, np.array([1.0]), fwhm, eta, psf=psf,
                         stamp_radius_px=total_r)  # fmt: skip
            table = measure_apertures(stamp, x, y, exptime_s=1.0, radii_px=radii,
                                      annulus_px=settings.annulus_px,
                                      covariance=False)  # fmt: skip
            rows.append((band, eta, fwhm, *(float(v) for v in table.flux[0]),
                         float(stamp.sum())))  # fmt: skip
    columns = ["band", "eta", "fwhm_px", *(f"f_{r:g}" for r in radii), "total"]
    return pd.DataFrame(rows, columns=columns)


def growth_curve_corrections(
    models: pd.DataFrame, settings: PipelineSettings
) -> dict[str, GrowthCurveApertureCorrection]:
    """Per band, the growth-curve correction of every model of :func:`band_growth_models`.

    Each model's correction is 2.5 log10(F_total / F(4 px)) in that band; its growth curve
    (fluxes over the 4 px flux) is what the detection band's sources are fitted with
    (:func:`clustercat.processing.aperture_corrections.fit_growth_curves`), and the fit's
    weights pick the correction in every band, so one shape per source serves all bands.
    """
    radii = growth_radii(settings)
    cols = [f"f_{r:g}" for r in radii]
    f4 = f"f_{settings.apcor_radius_px:g}"
    out = {}
    for band, rows in models.groupby("band", sort=False):
        rows = rows.reset_index(drop=True)
        apcor = 2.5 * np.log10(rows["total"] / rows[f4])
        growth = rows[cols].to_numpy() / rows[[f4]].to_numpy()
        fid = rows[(rows["eta"] == 3.0) & (rows["fwhm_px"] == 2.0)]
        value = (float(apcor[fid.index[0]]) if len(fid)
                 else float(np.median(apcor)))  # fmt: skip
        out[str(band)] = GrowthCurveApertureCorrection(
            band=str(band), etas=tuple(rows["eta"].astype(float)),
            fwhms_px=tuple(rows["fwhm_px"].astype(float)),
            apcor_grid=tuple(apcor.round(5)), growth=tuple(map(tuple, growth.round(6))),
            radii_px=radii, value_mag=value, radius_px=settings.apcor_radius_px,
            settings={"etas": list(GROWTH_MODEL_ETAS), "fwhms_px": list(GROWTH_MODEL_FWHMS_PX),
                      "fit_band": settings.detection_band, "fit_radii_px": list(radii),
                      "total_radius_px": settings.apcor_total_radius_px,
                      "annulus_px": list(settings.annulus_px),
                      "estimate": "likelihood-weighted mean over the model grid"},
        )  # fmt: skip
    return out


def field_constants(
    data: np.ndarray, filter_name: str, instrument: str, exptime_s: float,
    zeropoint_vega: float, settings: PipelineSettings,
) -> Any:  # fmt: skip
    """The field's fiducial NCI constants (Thilker §4.2.1): the median CIs of
    ``n_fiducial`` synthetic fiducial clusters inserted into the V image."""
    from .morphology import fiducial_constants

    return fiducial_constants(
        data, band_psf(filter_name, instrument), n_clusters=settings.n_fiducial,
        seed=settings.seed, exptime_s=exptime_s, zeropoint_vega=zeropoint_vega,
        radii_px=settings.radii_px, annulus_px=settings.annulus_px,
    )  # fmt: skip


# --- results ----------------------------------------------------------------------------------


@dataclass
class FieldResult:
    """What :func:`run_field` measured (0-based pixel positions; fluxes in e-/s).

    ``sources``: ``id`` (1..n, ordered by y then x), ``x``, ``y``, ``ra``, ``dec`` (deg)
    and the detection columns. ``photometry``: long, one row per source, band and radius
    (``radius_px`` NaN = total, aperture-corrected): ``flux``, ``flux_err`` (e-/s),
    ``mag_vega``, ``mag_err`` (mag), ``flux_mjy``, ``flux_err_mjy`` (mJy, through the AB
    zeropoint), ``sky_median``, ``sky_std`` (e-/s/pix), ``aperture_correction_mag`` (mag
    added to m(4 px), negative). ``morphology`` (V band) and ``selection`` per source.
    """

    sources: pd.DataFrame
    photometry: pd.DataFrame
    morphology: pd.DataFrame
    selection: pd.DataFrame
    constants: Any
    aperture_corrections: dict[
        str, ApertureCorrection | CIApertureCorrection | GrowthCurveApertureCorrection
    ]
    settings: PipelineSettings
    distance_mpc: float
    n_tiles: int
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n_candidates(self) -> int:
        return int(self.selection["candidate"].sum()) if len(self.selection) else 0


# --- the runner ---------------------------------------------------------------------------------


class _Executor:
    """Runs task functions on a ``distributed.Client``, or inline when there is none."""

    def __init__(self, client: Any | None, progress: Any | None) -> None:
        self.client = client
        self.progress = progress

    def put(self, value: Any) -> Any:
        """Make ``value`` available to tasks (scattered once to the cluster)."""
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=False, hash=False)

    def run(self, label: str, calls: Sequence[tuple[Callable, tuple]]) -> list[Any]:
        """Results of ``fn(*args)`` for each call, in order, with one progress bar."""
        task = self.progress.add_task(label, total=len(calls)) if self.progress else None
        if self.client is None:
            out = []
            for fn, args in calls:
                out.append(fn(*args))
                if task is not None:
                    self.progress.advance(task)
            return out
        from distributed import as_completed

        futures = [self.client.submit(fn, *args, pure=False) for fn, args in calls]
        for _ in as_completed(futures):
            if task is not None:
                self.progress.advance(task)
        return self.client.gather(futures)


def _check_images(images: Mapping[str, HSTImage], settings: PipelineSettings) -> None:
    missing = [b for b in settings.bands if b not in images]
    if missing:
        raise ValueError(f"no image for band(s) {', '.join(missing)}")
    ref = images[settings.detection_band]
    for band in settings.bands:
        if images[band].data.shape != ref.data.shape:
            raise ValueError(
                f"{images[band].path.name}: shape {images[band].data.shape} differs from the "
                f"{settings.detection_band} image's {ref.data.shape} (images must share one grid)"
            )


def band_aperture_task(settings: PipelineSettings) -> Callable[..., Any]:
    """The per-band step of ``settings.apcor_method`` (called with filter, instrument, band,
    settings): model apertures for the CI-dependent and growth-curve methods, the band's
    correction itself for the fiducial-cluster methods (for ``average-isolated``, its
    fallback). :func:`combine_aperture_corrections` turns the per-band results into
    corrections."""
    return {"ci-dependent": band_model_apertures,
            "growth-curve": band_growth_models}.get(settings.apcor_method,
                                                    band_aperture_correction)  # fmt: skip


def combine_aperture_corrections(per_band: Mapping[str, Any], settings: PipelineSettings) -> Any:
    """Corrections from the per-band results of :func:`band_aperture_task`."""
    if settings.apcor_method == "ci-dependent":
        return ci_aperture_corrections(
            pd.concat(list(per_band.values()), ignore_index=True), settings.detection_band,
            settings,
        )  # fmt: skip
    if settings.apcor_method == "growth-curve":
        return growth_curve_corrections(
            pd.concat(list(per_band.values()), ignore_index=True), settings
        )
    return dict(per_band)


def field_aperture_corrections(images: Mapping[str, HSTImage], settings: PipelineSettings) -> Any:
    """The 4 px -> total corrections of a field's bands, in this process (what
    :func:`run_field` computes with its executor; the injection context calls this)."""
    task = band_aperture_task(settings)
    per_band = {b: task(images[b].filter_name, images[b].instrument, b, settings)
                for b in settings.bands}  # fmt: skip
    apcors = combine_aperture_corrections(per_band, settings)
    if settings.apcor_method == "average-isolated":  # the field's own detections' sample
        from .detection import estimate_background

        ref = images[settings.detection_band]
        whole = tile_grid(ref.data.shape, None, settings.overlap_px)[0]
        sky = estimate_background(_background_sample(ref.data, settings),
                                  box_px=settings.background_box_px)  # fmt: skip
        sources = _merge_detections([detect_tile(ref.data, whole, sky, settings)], settings)
        x, y = sources["x"].to_numpy(), sources["y"].to_numpy()
        tables = {b: photometry_tile(images[b].data, whole, x, y, images[b].exptime_s, settings)
                  for b in settings.bands}  # fmt: skip
        apcors = isolated_average_corrections(sources, tables, images, apcors, settings)
    return apcors


def run_field(
    images: Mapping[str, HSTImage],
    settings: PipelineSettings = PipelineSettings(),
    distance_mpc: float | u.Quantity = 10.0,
    *,
    client: Any | None = None,
    progress: Any | None = None,
) -> FieldResult:
    """Detect, measure and select the sources of one field (see the module docstring).

    ``images``: band label -> :class:`~clustercat.processing.images.HSTImage` on one pixel
    grid (e-/s). ``distance_mpc`` (Mpc, or an astropy distance) sets M_V and the
    semi-empirical MCI region. ``client``: a ``distributed.Client`` (tasks run inline when
    None). ``progress``: a ``rich.progress.Progress`` to report to.
    """
    distance = float(u.Quantity(distance_mpc, u.Mpc).to_value(u.Mpc))
    _check_images(images, settings)
    ex = _Executor(client, progress)
    timings: dict[str, float] = {}
    ref = images[settings.detection_band]
    tiles = tile_grid(ref.data.shape, settings.tile_px, settings.overlap_px)
    data = {b: ex.put(images[b].data) for b in settings.bands}

    started = time.perf_counter()
    from .detection import estimate_background

    sky = estimate_background(
        _background_sample(ref.data, settings), box_px=settings.background_box_px
    )
    found = ex.run("detection", [(detect_tile, (data[settings.detection_band], t, sky, settings))
                                 for t in tiles])  # fmt: skip
    sources = _merge_detections(found, settings)
    ra, dec = ref.wcs.celestial.pixel_to_world_values(sources["x"].to_numpy(),
                                                      sources["y"].to_numpy())  # fmt: skip
    sources["ra"], sources["dec"] = np.mod(ra, 360.0), dec
    timings["detection"] = time.perf_counter() - started

    started = time.perf_counter()
    owner = np.full(len(sources), -1)
    for t in tiles:
        owner[t.owns(sources["x"].to_numpy(), sources["y"].to_numpy())] = t.index
    phot_calls, keys = [], []
    for band in settings.bands:
        for t in tiles:
            idx = np.flatnonzero(owner == t.index)
            if len(idx):
                xs, ys = sources["x"].to_numpy()[idx], sources["y"].to_numpy()[idx]
                phot_calls.append(
                    (photometry_tile, (data[band], t, xs, ys, images[band].exptime_s, settings))
                )
                keys.append((band, idx))  # fmt: skip
    apcor_task = band_aperture_task(settings)
    other_calls = [
        (apcor_task, (images[b].filter_name, images[b].instrument, b, settings))
        for b in settings.bands
    ]
    other_calls.append((field_constants, (data[settings.detection_band], ref.filter_name,
                                          ref.instrument, ref.exptime_s, ref.zeropoint_vega,
                                          settings)))  # fmt: skip
    results = ex.run("photometry, aperture corrections, constants", phot_calls + other_calls)
    tables = _assemble_photometry(len(sources), keys, results[: len(phot_calls)], settings)
    apcors = combine_aperture_corrections(
        dict(zip(settings.bands, results[len(phot_calls) : -1], strict=True)), settings
    )
    constants = results[-1]
    if settings.apcor_method == "average-isolated":
        apcors = isolated_average_corrections(sources, tables, images, apcors, settings)
    timings["photometry"] = time.perf_counter() - started

    started = time.perf_counter()
    photometry = photometry_frame(sources, tables, apcors, images, settings)
    morphology = morphology_frame(sources, tables[settings.detection_band],
                                  images[settings.detection_band], constants)  # fmt: skip
    timings["morphology"] = time.perf_counter() - started

    started = time.perf_counter()
    selection = selection_frame(sources, photometry, morphology, distance, settings)
    timings["selection"] = time.perf_counter() - started
    return FieldResult(
        sources=sources, photometry=photometry, morphology=morphology, selection=selection,
        constants=constants, aperture_corrections=apcors, settings=settings,
        distance_mpc=distance, n_tiles=len(tiles), timings_s=timings,
    )  # fmt: skip


#: Pixels of the regular sub-grid on which the global sky level and rms are estimated.
BACKGROUND_SAMPLE_PX = 1 << 20


def _background_sample(data: np.ndarray, settings: PipelineSettings) -> np.ndarray:
    """The image, or (global background only) a regular sub-grid of about 10^6 of its pixels:
    the sigma-clipped median and rms of a 4096^2 mosaic from every 4th pixel in each axis
    agree with the full image's to well below their noise, at 1/16 of the cost."""
    if settings.background_box_px is not None or data.size <= BACKGROUND_SAMPLE_PX:
        return data
    step = int(math.ceil(math.sqrt(data.size / BACKGROUND_SAMPLE_PX)))
    return data[::step, ::step]


def _merge_detections(found: Sequence[pd.DataFrame], settings: PipelineSettings) -> pd.DataFrame:
    """One detection list: tiles concatenated, cross-tile duplicates dropped, ids 1..n."""
    frames = [f for f in found if len(f)]
    if not frames:
        return pd.DataFrame({"id": np.array([], dtype=np.int64), "x": [], "y": []})
    det = pd.concat(frames, ignore_index=True)
    bright = det["flux"].to_numpy() if "flux" in det.columns else np.zeros(len(det))
    drop = duplicates(det["x"].to_numpy(), det["y"].to_numpy(), bright,
                      settings.duplicate_radius_px)  # fmt: skip
    det = det[~drop].sort_values(["y", "x"], kind="stable").reset_index(drop=True)
    det.insert(0, "id", np.arange(1, len(det) + 1, dtype=np.int64))
    return det


def _assemble_photometry(
    n: int,
    keys: Sequence[tuple[str, np.ndarray]],
    parts: Sequence[ApertureTable],
    settings: PipelineSettings,
) -> dict[str, ApertureTable]:
    """Per band, the tiles' aperture tables put back into source order."""
    n_r = len(settings.radii_px)
    out: dict[str, dict[str, np.ndarray]] = {}
    for (band, idx), part in zip(keys, parts, strict=True):
        arrays = out.setdefault(band, {
            "flux": np.full((n, n_r), np.nan), "flux_err": np.full((n, n_r), np.nan),
            "sky_median": np.full(n, np.nan), "sky_mean": np.full(n, np.nan),
            "sky_std": np.full(n, np.nan), "n_sky": np.zeros(n, dtype=np.int64),
        })  # fmt: skip
        for name, values in arrays.items():
            values[idx] = getattr(part, name)
    area = np.pi * np.asarray(settings.radii_px) ** 2
    empty = {"flux": np.full((n, n_r), np.nan), "flux_err": np.full((n, n_r), np.nan),
             "sky_median": np.full(n, np.nan), "sky_mean": np.full(n, np.nan),
             "sky_std": np.full(n, np.nan), "n_sky": np.zeros(n, dtype=np.int64)}  # fmt: skip
    return {
        band: ApertureTable(
            **out.get(band, empty),
            area=area,
            radii_px=tuple(settings.radii_px),
            annulus_px=tuple(settings.annulus_px),
        )  # fmt: skip
        for band in settings.bands
    }


def mjy_per_rate(image: HSTImage) -> float:
    """Flux density of 1 e-/s in mJy, from the image's AB zeropoint (PHOTFNU-equivalent).

    zp_AB = -2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408 (WFC3 IHB §9.1), so
    10^(-0.4 zp_AB) x 3631 Jy is PHOTFNU (Jy s/e-) = PHOTFLAM PHOTPLAM^2 / c.
    """
    return float((image.zeropoint_ab * u.ABmag).to_value(u.mJy))


def photometry_frame(
    sources: pd.DataFrame,
    tables: Mapping[str, ApertureTable],
    apcors: Mapping[str, ApertureCorrection | CIApertureCorrection | GrowthCurveApertureCorrection],
    images: Mapping[str, HSTImage],
    settings: PipelineSettings,
) -> pd.DataFrame:
    """Long photometry: every source x band x radius, plus the aperture-corrected total."""
    parts = []
    ids = sources["id"].to_numpy()
    n = len(ids)
    ref = tables[settings.detection_band]
    with np.errstate(divide="ignore", invalid="ignore"):
        ci_v = 2.5 * np.log10(ref.flux[:, ref.column(3.0)] / ref.flux[:, ref.column(1.0)])
    growth_fit = None
    if isinstance(apcors[settings.detection_band], GrowthCurveApertureCorrection):
        growth_fit = apcors[settings.detection_band].fit(
            ref.flux, ref.flux_err, ref.flux_cov, tuple(ref.radii_px)
        )
    for band, table in tables.items():
        image = images[band]
        if image.zeropoint_vega is None:
            raise ValueError(f"{image.path.name}: no Vega zeropoint for {image.filter_name}")
        k4 = table.column(settings.apcor_radius_px)
        correction = apcors[band]
        if isinstance(correction, CIApertureCorrection):
            apcor = correction.apcor_mag(ci_v)
        elif isinstance(correction, GrowthCurveApertureCorrection):
            apcor = correction.apcor_mag(growth_fit)
        else:
            apcor = np.full(n, correction.value_mag)
        to_total = 10 ** (0.4 * apcor)  # F_total / F(4 px), per source
        flux = np.column_stack([table.flux, table.flux[:, k4] * to_total])
        err = np.column_stack([table.flux_err, table.flux_err[:, k4] * to_total])
        radii = np.append(np.asarray(settings.radii_px, dtype=float), np.nan)
        mag, mag_err = flux_to_vega_mag(flux, err, image.zeropoint_vega)
        scale = mjy_per_rate(image)
        n_col = len(radii)
        frame = pd.DataFrame({
            "id": np.repeat(ids, n_col),
            "band": band,
            "filter": image.filter_name,
            "radius_px": np.tile(radii, n),
            "flux": flux.ravel(),
            "flux_err": err.ravel(),
            "mag_vega": mag.ravel(),
            "mag_err": mag_err.ravel(),
            "flux_mjy": flux.ravel() * scale,
            "flux_err_mjy": err.ravel() * scale,
            "sky_median": np.repeat(table.sky_median, n_col),
            "sky_std": np.repeat(table.sky_std, n_col),
            "aperture_correction_mag": np.column_stack(
                [np.full((n, len(settings.radii_px)), np.nan), -apcor]
            ).ravel(),
        })  # fmt: skip
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def morphology_frame(
    sources: pd.DataFrame, table: ApertureTable, image: HSTImage, constants: Any
) -> pd.DataFrame:
    """CI, NCI, MCI_in and MCI_out (with errors) of every source in the V band."""
    from .morphology import concentration_indices

    mag, mag_err = flux_to_vega_mag(table.flux, table.flux_err, image.zeropoint_vega)
    ci = concentration_indices(mag, mag_err, constants, table.radii_px)
    frame = pd.DataFrame({"id": sources["id"].to_numpy()})
    for name in ("ci", "ci_err", "mci_in", "mci_in_err", "mci_out", "mci_out_err"):
        frame[name] = ci[name].to_numpy(dtype=float)
    # NCI of the traditional CI(1, 3): 1 - CI / CI_fiducial (Thilker §4.2.1)
    frame["nci"] = 1.0 - frame["ci"] / constants.ci_1_3
    return frame


def selection_frame(
    sources: pd.DataFrame,
    photometry: pd.DataFrame,
    morphology: pd.DataFrame,
    distance_mpc: float,
    settings: PipelineSettings,
) -> pd.DataFrame:
    """Thilker et al. 2022 §4 flags of every source (:mod:`clustercat.processing.selection`)."""
    from .selection import distance_modulus, select_candidates

    table = selection_input(sources, photometry, morphology, settings)
    flags = select_candidates(table, distance_mpc)
    out = pd.DataFrame({"id": sources["id"].to_numpy()})
    for name in ("passes_general", "passes_morph_quality", "in_semi_empirical", "super_hd",
                 "is_double", "candidate"):  # fmt: skip
        out[name] = np.asarray(flags[name], dtype=bool)
    out["v_snr"] = np.clip(table["v_snr"].to_numpy(dtype=float), 0.0, None)
    out["abs_mag_v"] = table["mag_v"].to_numpy(dtype=float) - distance_modulus(distance_mpc)
    out["distance_mpc"] = distance_mpc
    return out


def selection_input(
    sources: pd.DataFrame,
    photometry: pd.DataFrame,
    morphology: pd.DataFrame,
    settings: PipelineSettings,
) -> pd.DataFrame:
    """Per-source columns the selection reads: V total mag, V S/N, per-band totals, MCI."""
    total = photometry[photometry["radius_px"].isna()]
    wide = total.pivot(index="id", columns="band", values=["mag_vega", "mag_err"])
    table = pd.DataFrame({"id": sources["id"].to_numpy(), "x": sources["x"].to_numpy(),
                          "y": sources["y"].to_numpy()})  # fmt: skip
    for band in settings.bands:
        table[f"mag_{band}"] = wide[("mag_vega", band)].reindex(table["id"]).to_numpy()
        table[f"mag_err_{band}"] = wide[("mag_err", band)].reindex(table["id"]).to_numpy()
    table["mag_v"] = table[f"mag_{settings.detection_band}"]
    v = photometry[(photometry["band"] == settings.detection_band)
                   & np.isclose(photometry["radius_px"], settings.apcor_radius_px)]  # fmt: skip
    v = v.set_index("id").reindex(table["id"])
    with np.errstate(divide="ignore", invalid="ignore"):
        table["v_snr"] = (v["flux"] / v["flux_err"]).to_numpy()
    table["count_rate"] = v["flux"].to_numpy()
    table = table.merge(morphology, on="id", how="left")
    return table


# --- contract frames ----------------------------------------------------------------------


def catalogue_tables(
    result: FieldResult,
    images: Mapping[str, HSTImage],
    *,
    field_name: str,
    galaxy: str,
    survey: str,
    source_path: Path,
    constants_version: str,
    processing_run: dict[str, Any] | None = None,
) -> Any:
    """The :class:`~clustercat.ingest.contract.CatalogueTables` of a pipeline result.

    Sources get 1-based x, y (the database convention); photometry rows whose flux is not
    positive, or below :data:`MIN_MEASURED_SNR` times its error, are ``not_detected`` (no
    magnitude, no flux: the contract stores no negative flux and no magnitude whose error
    exceeds 10 mag), rows without a flux (aperture off the image) ``outside_footprint``.
    """
    from clustercat.ingest.contract import (
        MORPHOLOGY_COLUMNS,
        MORPHOLOGY_OPTIONAL_COLUMNS,
        PHOTOMETRY_COLUMNS,
        PHOTOMETRY_OPTIONAL_COLUMNS,
        SELECTION_COLUMNS,
        SOURCE_COLUMNS,
        CatalogueTables,
        SourceFlag,
        coerce_frame,
    )

    s = result.sources
    ph = result.photometry
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = ph["flux"].to_numpy() / ph["flux_err"].to_numpy()
    measured = np.isfinite(ph["mag_vega"].to_numpy()) & (snr >= MIN_MEASURED_SNR)
    status = np.where(measured, "measured",
                      np.where(np.isfinite(ph["flux"].to_numpy()), "not_detected",
                               "outside_footprint"))  # fmt: skip
    flags = np.zeros(len(s), dtype=np.int64)
    flags[np.isin(s["id"], ph["id"][status == "not_detected"])] |= SourceFlag.PHOT_NOT_DETECTED
    flags[np.isin(s["id"], ph["id"][status == "outside_footprint"])] |= (
        SourceFlag.PHOT_OUTSIDE_FOOTPRINT
    )
    sources = coerce_frame(pd.DataFrame({
        "id_in_release": s["id"].to_numpy(), "line": s["id"].to_numpy(),
        "x": s["x"].to_numpy() + 1.0, "y": s["y"].to_numpy() + 1.0,
        "ra": s["ra"].to_numpy(), "dec": s["dec"].to_numpy(), "flags": flags,
    }), SOURCE_COLUMNS)  # fmt: skip
    photometry = pd.DataFrame({
        "id_in_release": ph["id"].to_numpy(), "band": ph["band"].to_numpy(),
        "filter": ph["filter"].to_numpy(),
        "mag_vega": np.where(measured, ph["mag_vega"].to_numpy(), np.nan),
        "mag_err": np.where(measured, ph["mag_err"].to_numpy(), np.nan), "status": status,
        "flux_mjy": np.where(measured, ph["flux_mjy"].to_numpy(), np.nan),
        "flux_err_mjy": np.where(measured, ph["flux_err_mjy"].to_numpy(), np.nan),
        "aperture_px": ph["radius_px"].to_numpy(), "mw_ext_corrected": False,
        "sky_median": ph["sky_median"].to_numpy(), "sky_std": ph["sky_std"].to_numpy(),
        "aperture_correction_mag": ph["aperture_correction_mag"].to_numpy(),
    })  # fmt: skip
    photometry = coerce_frame(photometry, {**PHOTOMETRY_COLUMNS, **PHOTOMETRY_OPTIONAL_COLUMNS})
    mo = result.morphology
    ci = mo["ci"].to_numpy()
    morphology = coerce_frame(pd.DataFrame({
        "id_in_release": mo["id"].to_numpy(),
        "ci": ci, "ci_flag": np.where(np.isfinite(ci), "ok", "invalid"),
        "mci_in": mo["mci_in"].to_numpy(), "mci_out": mo["mci_out"].to_numpy(),
        "ci_err": np.where(np.isfinite(ci), mo["ci_err"].to_numpy(), np.nan),
        "nci": mo["nci"].to_numpy(), "mci_in_err": mo["mci_in_err"].to_numpy(),
        "mci_out_err": mo["mci_out_err"].to_numpy(), "constants_version": constants_version,
    }), {**MORPHOLOGY_COLUMNS, **MORPHOLOGY_OPTIONAL_COLUMNS})  # fmt: skip
    sel = result.selection.rename(columns={"id": "id_in_release"})
    sel["constants_version"] = constants_version
    selection = coerce_frame(sel, SELECTION_COLUMNS)
    ref = images[result.settings.detection_band]
    return CatalogueTables(
        survey=survey, galaxy=galaxy, field=field_name,
        filters={b: images[b].filter_name for b in result.settings.bands},
        instruments={b: images[b].instrument for b in result.settings.bands},
        reader=MODULE, reader_version=PIPELINE_VERSION, layout=None,
        source_path=source_path, sources=sources, photometry=photometry,
        morphology=morphology,
        classifications=_empty("CLASSIFICATION_COLUMNS"), classification_methods=[],
        sed_fits=_empty("SED_COLUMNS"), sed_method=None,
        report={"rows": len(sources), "candidates": result.n_candidates,
                "tiles": result.n_tiles},
        selection=selection, processing_run=processing_run,
        notes=[f"measured on {ref.path.name} and the other bands' images"],
    )  # fmt: skip


def _empty(name: str) -> pd.DataFrame:
    from clustercat.ingest import contract

    return contract.empty_frame(getattr(contract, name))


def semi_empirical_outline(distance_mpc: float) -> np.ndarray:
    """The semi-empirical MCI region for a distance as a closed outline (k, 2) of
    (MCI_in, MCI_out): Thilker et al. 2022 Table 2's polygon cut at the distance's MCI_out
    floor (§4.2.3), for drawing (membership is
    :func:`clustercat.processing.selection.in_semi_empirical_region`)."""
    from .selection import SEMI_EMPIRICAL_VERTICES, mci_out_floor

    floor = mci_out_floor(distance_mpc)
    poly = np.asarray(SEMI_EMPIRICAL_VERTICES, dtype=float)
    out = []
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if y0 >= floor:
            out.append((x0, y0))
        if (y0 >= floor) != (y1 >= floor):  # the edge crosses the floor
            out.append((x0 + (floor - y0) * (x1 - x0) / (y1 - y0), floor))
    out.append(out[0])
    return np.asarray(out)
