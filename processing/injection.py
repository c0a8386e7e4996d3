"""Artificial-cluster injection and recovery (Thilker et al. 2022 §4.2; Tang et al. 2026 §3.2).

Pure functions, no database (:mod:`clustercat.processing.injection_db` stores runs and
trials). One **frame set** is the field's images (one per band) with a batch of synthetic
clusters added; every trial is one injected cluster and its fate in each pipeline stage.

Generator (seeded: frame set ``k`` of seed ``s`` draws from ``default_rng([s, k])``, so a
frame set is the same whether it runs first, last or after a resume):

* sampling ``"thilker"`` (Thilker §3.3, extract §2.18): per frame set one combination of
  log age (6.0-9.0 by 0.5), A_V (0, 0.25, 0.5 mag), Moffat/EFF eta (0.75-4), pre-PSF FWHM
  (0.5-7 px by 0.25) and sub-pixel offset (five offsets), masses flat on 10^3-10^5 Msun in
  steps of 10^2 Msun; positions uniform, integer pixel + the batch offset;
* sampling ``"c4"`` (Tang §3.2, extract §3.4-3.8): log M ~ U(2, 8), log T ~ U(6, 10.1)
  (the SSP grids start at 1 Myr), A_V ~ U(0, 3), eta = 1.5, one r_eff per frame set drawn
  from the integers 1-10 pc (flat prescription, Eq. 5); positions uniform at continuous
  sub-pixel positions (Tang weight positions by smoothed white light; uniform placement is
  Thilker's choice and is used for both);
* profiles: EFF (1987) = Moffat surface brightness (1 + r^2/a^2)^-eta, r_eff <-> FWHM by
  Thilker §3.1 (:func:`clustercat.processing.synth.fwhm_from_reff`), at the galaxy's
  distance and the image's pixel scale, convolved with each band's PSF
  (:func:`clustercat.processing.profiles.add_profiles`), with Poisson shot noise of the
  cluster's own electrons;
* magnitudes: the stored SSP grid (BC03 or Yggdrasil, recorded in the run) per Msun at the
  trial's age (linear in log age between nodes), reddened by CCM89 with R_V = 3.1 through
  the grid's SED (:func:`clustercat.processing.extinction.reddened_magnitudes`), scaled by
  the mass and moved to the galaxy's distance modulus;
* clusters at least ``max(3 r_eff, min_separation_px)`` apart, ``edge_px`` from the edges.

Recovery re-runs the pipeline's **own** task functions with the pipeline's
:class:`~clustercat.processing.pipeline.PipelineSettings`: detection
(:func:`~clustercat.processing.pipeline.detect_tile`, at the field's sky level and rms
measured on the unmodified detection image, as :func:`~clustercat.processing.pipeline.run_field`
does), photometry (:func:`~clustercat.processing.pipeline.photometry_tile`), aperture
corrections and magnitudes (:func:`~clustercat.processing.pipeline.photometry_frame`), CI/MCI
with the field's fiducial constants (:func:`~clustercat.processing.pipeline.morphology_frame`)
and selection (:func:`~clustercat.processing.pipeline.selection_input` then
:func:`~clustercat.processing.selection.select_candidates`, optionally with model regions).
They run on tiles around the injections only: a stamp of half-width
``ceil(match radius) + 1 + overlap`` px around each injection (the overlap being the
pipeline's own tile overlap: sky annulus + margin) is cut from the injected frame, the
stamps are laid side by side in one mosaic and each stage runs once on the mosaic. A stamp
owns the detections in its core (``ceil(match radius) + 1`` px around the injection), whose
detection kernel, apertures and sky annulus all lie inside the stamp: their measurement
equals the full-frame one. An injection is matched to the nearest owned detection within
``match_radius_px`` (3 px, Tang §3.2.3).

Per-trial stage flags (False when an earlier required stage failed):
``detected`` (matched), ``passes_photometric_cuts`` (Thilker §4.1 general criteria),
``passes_ci_cut`` (the MCI quality cut: V S/N > 10, sigma(MCI_in) <= 0.3,
sigma(MCI_out) <= 1.0), ``in_selection_region`` (semi-empirical region, or the model region
when the selection runs on it), ``passes_mag_cut`` (the super-H-D pathway's M_V <= -10) and
``recovered`` (the candidate flag of :func:`~clustercat.processing.selection.select_candidates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .images import HSTImage
from .pipeline import BANDS, PipelineSettings, Tile

#: Samplings of the generator.
GRIDS: tuple[str, ...] = ("thilker", "c4")

#: Thilker et al. 2022 injection grid (extract §2.18).
THILKER_LOG_AGES: tuple[float, ...] = (6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0)
THILKER_AVS: tuple[float, ...] = (0.0, 0.25, 0.5)
THILKER_ETAS: tuple[float, ...] = (0.75, 0.875, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
THILKER_FWHMS_PX: tuple[float, ...] = tuple(0.5 + 0.25 * i for i in range(27))
THILKER_MASS_STEP = 100.0
THILKER_OFFSETS_PX: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.25, 0.25), (0.5, 0.5), (0.25, 0.0), (0.5, 0.0),
)  # fmt: skip
#: Tang et al. 2026 C-4 priors (extract §3.4-3.8): EFF eta and the flat r_eff values (pc).
C4_ETA = 1.5
C4_R_EFF_PC: tuple[float, ...] = tuple(float(i) for i in range(1, 11))
#: Match radius of recovery (Tang et al. 2026 §3.2.3), px.
MATCH_RADIUS_PX = 3.0

#: Columns of a trial frame that the generator fills.
TRIAL_COLUMNS = (
    "trial", "frame_set", "x", "y", "log_mass", "log_age", "av_mag", "r_eff_pc", "fwhm_px",
    "profile_index",
)  # fmt: skip
#: Stage flags, in pipeline order.
STAGE_FLAGS = (
    "detected", "passes_photometric_cuts", "passes_ci_cut", "in_selection_region",
    "passes_mag_cut", "recovered",
)  # fmt: skip


class InjectionInputError(ValueError):
    """Generator settings that cannot be sampled (empty or inverted ranges, no room)."""


def _range(name: str, value: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InjectionInputError(f"{name} range {value!r} is not finite")
    if lo > hi:
        raise InjectionInputError(f"{name} range is inverted: {lo} > {hi}")
    return lo, hi


@dataclass(frozen=True)
class GeneratorSettings:
    """What a run injects: sampling, parameter ranges, batch size, placement, matching.

    Ranges are closed intervals (lo <= hi; lo == hi fixes a value). For ``"thilker"`` they
    select grid values (an empty selection is an error); for ``"c4"`` they bound the
    uniform priors, and ``r_eff_pc_range`` selects from the integers 1-10 pc.
    """

    grid: str = "c4"
    batch_size: int = 500
    log_mass_range: tuple[float, float] = (2.0, 8.0)
    log_age_range: tuple[float, float] = (6.0, 10.1)
    av_range: tuple[float, float] = (0.0, 3.0)
    r_eff_pc_range: tuple[float, float] = (1.0, 10.0)
    min_separation_reff: float = 3.0
    min_separation_px: float = 12.0
    match_radius_px: float = MATCH_RADIUS_PX
    shot_noise: bool = True
    r_v: float = 3.1

    def __post_init__(self) -> None:
        if self.grid not in GRIDS:
            raise InjectionInputError(f"grid must be one of {GRIDS}, not {self.grid!r}")
        if not 1 <= int(self.batch_size) <= 5000:
            raise InjectionInputError(f"batch_size must be 1-5000, got {self.batch_size}")
        for name in ("log_mass_range", "log_age_range", "av_range", "r_eff_pc_range"):
            object.__setattr__(self, name, _range(name[:-6], getattr(self, name)))
        if self.av_range[0] < 0:
            raise InjectionInputError("A_V must be >= 0")
        if self.r_eff_pc_range[0] <= 0:
            raise InjectionInputError("r_eff must be > 0 pc")
        if not self.match_radius_px > 0:
            raise InjectionInputError("match_radius_px must be positive")
        # the choices must not be empty
        self.choices()

    @classmethod
    def thilker(cls, **kwargs: Any) -> GeneratorSettings:
        """Thilker et al. 2022 defaults: batches of 200, masses 10^3-10^5 Msun, ages 1 Myr-1 Gyr,
        A_V 0-0.5 mag."""
        base = {"grid": "thilker", "batch_size": 200, "log_mass_range": (3.0, 5.0),
                "log_age_range": (6.0, 9.0), "av_range": (0.0, 0.5)}  # fmt: skip
        return cls(**{**base, **kwargs})

    def choices(self) -> dict[str, np.ndarray]:
        """Grid values inside the ranges (``thilker``: ages, A_V, masses; ``c4``: r_eff)."""
        out: dict[str, np.ndarray] = {}
        if self.grid == "thilker":
            lo, hi = self.log_mass_range
            m = np.arange(1e3, 1e5 + 1.0, THILKER_MASS_STEP)
            m = m[(np.log10(m) >= lo - 1e-12) & (np.log10(m) <= hi + 1e-12)]
            out["mass"] = m
            out["log_age"] = _inside(THILKER_LOG_AGES, self.log_age_range)
            out["av"] = _inside(THILKER_AVS, self.av_range)
        else:
            out["r_eff_pc"] = _inside(C4_R_EFF_PC, self.r_eff_pc_range)
        for name, values in out.items():
            if values.size == 0:
                raise InjectionInputError(f"no {self.grid} grid value of {name} in the range")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _inside(values: Sequence[float], bounds: tuple[float, float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[(v >= bounds[0] - 1e-12) & (v <= bounds[1] + 1e-12)]


def frame_set_sizes(n_trials: int, batch_size: int) -> list[int]:
    """Clusters per frame set: ``batch_size`` each, the last one the remainder."""
    if n_trials <= 0:
        raise InjectionInputError(f"the number of trials must be positive, got {n_trials}")
    full, rest = divmod(int(n_trials), int(batch_size))
    return [int(batch_size)] * full + ([rest] if rest else [])


def frame_rng(seed: int, frame_set: int) -> np.random.Generator:
    """The generator of one frame set (independent of the others and of run order)."""
    return np.random.default_rng([int(seed), int(frame_set)])


def place_clusters(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n: int,
    min_separation_px: float,
    edge_px: float,
    max_tries: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform positions (0-based, continuous) at least ``min_separation_px`` apart and
    ``edge_px`` from the image edges, by sequential rejection (Tang §3.2.2 step 3)."""
    ny, nx = shape
    if nx - 1 - 2 * edge_px <= 0 or ny - 1 - 2 * edge_px <= 0:
        raise InjectionInputError(f"image {shape} too small for a {edge_px} px edge")
    xs = np.empty(n)
    ys = np.empty(n)
    k = 0
    tries = 0
    sep2 = float(min_separation_px) ** 2
    while k < n:
        cand = rng.uniform([edge_px, edge_px], [nx - 1 - edge_px, ny - 1 - edge_px], (4 * n, 2))
        for cx, cy in cand:
            if k and np.min((xs[:k] - cx) ** 2 + (ys[:k] - cy) ** 2) < sep2:
                continue
            xs[k], ys[k] = cx, cy
            k += 1
            if k == n:
                break
        tries += 1
        if tries > max_tries:
            raise InjectionInputError(
                f"cannot place {n} clusters {min_separation_px:.1f} px apart in a {shape} "
                "frame; lower the batch size"
            )
    return xs, ys


def plan_frame_set(
    settings: GeneratorSettings,
    seed: int,
    frame_set: int,
    n: int,
    shape: tuple[int, int],
    px_per_pc: float,
    edge_px: float,
) -> pd.DataFrame:
    """The clusters of one frame set: :data:`TRIAL_COLUMNS` (no magnitudes yet).

    ``px_per_pc``: pixels per parsec at the galaxy's distance (r_eff in px = r_eff_pc x it).
    Trial numbers are ``frame_set x batch_size + i``.
    """
    from .profiles import moffat_reff_px
    from .synth import fwhm_from_reff

    rng = frame_rng(seed, frame_set)
    choices = settings.choices()
    if settings.grid == "thilker":
        log_age = float(rng.choice(choices["log_age"]))
        av = float(rng.choice(choices["av"]))
        eta = float(rng.choice(THILKER_ETAS))
        fwhm = float(rng.choice(THILKER_FWHMS_PX))
        offset = THILKER_OFFSETS_PX[int(rng.integers(len(THILKER_OFFSETS_PX)))]
        reff_px = float(moffat_reff_px(fwhm, eta))
        sep = max(
            settings.min_separation_px,
            settings.min_separation_reff * (reff_px if np.isfinite(reff_px) else fwhm),
        )
        x, y = place_clusters(rng, shape, n, sep, edge_px)
        x, y = np.floor(x) + offset[0], np.floor(y) + offset[1]
        frame = pd.DataFrame({
            "log_mass": np.log10(rng.choice(choices["mass"], n)), "log_age": log_age,
            "av_mag": av, "r_eff_pc": reff_px / px_per_pc if np.isfinite(reff_px) else np.nan,
            "fwhm_px": fwhm, "profile_index": eta,
        })  # fmt: skip
    else:
        r_eff_pc = float(rng.choice(choices["r_eff_pc"]))
        fwhm = float(fwhm_from_reff(r_eff_pc * px_per_pc, C4_ETA))
        sep = max(settings.min_separation_px, settings.min_separation_reff * r_eff_pc * px_per_pc)
        x, y = place_clusters(rng, shape, n, sep, edge_px)
        frame = pd.DataFrame({
            "log_mass": rng.uniform(*settings.log_mass_range, n),
            "log_age": rng.uniform(*settings.log_age_range, n),
            "av_mag": rng.uniform(*settings.av_range, n),
            "r_eff_pc": r_eff_pc, "fwhm_px": fwhm, "profile_index": C4_ETA,
        })  # fmt: skip
    frame.insert(0, "y", y)
    frame.insert(0, "x", x)
    frame.insert(0, "frame_set", int(frame_set))
    frame.insert(0, "trial", int(frame_set) * int(settings.batch_size) + np.arange(n))
    return frame


def cluster_magnitudes(
    grid: Any,
    log_mass: np.ndarray,
    log_age: np.ndarray,
    av_mag: np.ndarray,
    distance_mpc: float,
    r_v: float = 3.1,
) -> np.ndarray:
    """Apparent magnitudes (n, n_filter) in the grid's system and filter order.

    m = M_1Msun(age, A_V) - 2.5 log10(M) + mu: the grid's magnitude per Msun reddened by CCM89
    (:func:`~clustercat.processing.extinction.reddened_magnitudes`, E(B-V) = A_V / R_V) at
    the two age nodes around ``log_age``, interpolated linearly in log age, plus the
    distance modulus. Ages outside the grid raise :class:`InjectionInputError`.
    """
    from .extinction import reddened_magnitudes

    la = np.asarray(log_age, dtype=float)
    nodes = np.asarray(grid.log_age, dtype=float)
    if la.size and (la.min() < nodes[0] - 1e-9 or la.max() > nodes[-1] + 1e-9):
        raise InjectionInputError(
            f"log ages {la.min():.3f}-{la.max():.3f} outside the {grid.model} grid "
            f"({nodes[0]:.3f}-{nodes[-1]:.3f})"
        )
    i0 = np.clip(np.searchsorted(nodes, la, side="right") - 1, 0, len(nodes) - 2)
    w = np.clip((la - nodes[i0]) / (nodes[i0 + 1] - nodes[i0]), 0.0, 1.0)
    ebv = np.asarray(av_mag, dtype=float) / r_v
    both = reddened_magnitudes(grid, np.concatenate([i0, i0 + 1]), np.concatenate([ebv, ebv]),
                               r_v)  # fmt: skip
    m0, m1 = both[: len(i0)], both[len(i0) :]
    mag = (1 - w)[:, None] * m0 + w[:, None] * m1
    mu = 5.0 * np.log10(float(distance_mpc) * 1e5)
    return mag - 2.5 * np.asarray(log_mass, dtype=float)[:, None] + mu


# --- recovery -------------------------------------------------------------------------------


@dataclass
class FieldContext:
    """Everything a frame-set task needs about the field (built once per run).

    ``images``: band -> :class:`HSTImage` (e-/s, one grid); ``psfs``: band -> PSF model (or
    None for a bare profile); ``sky``: (level, rms) of the unmodified detection image;
    ``apcors`` and ``constants``: the field's aperture corrections and fiducial MCI
    constants, as :func:`~clustercat.processing.pipeline.run_field` computes them.
    """

    images: dict[str, HSTImage]
    psfs: dict[str, Any]
    sky: tuple[Any, Any]
    apcors: dict[str, Any]
    constants: Any
    settings: PipelineSettings
    distance_mpc: float
    model_region: Any = None
    stellar_exclusion: Any = None
    selection_region: str = "semi_empirical"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def pixel_scale_arcsec(self) -> float:
        return float(self.images[self.settings.detection_band].pixel_scale_arcsec)

    @property
    def px_per_pc(self) -> float:
        """Pixels per parsec at the galaxy's distance."""
        pc_arcsec = 206264.806 / (self.distance_mpc * 1e6)  # arcsec subtended by 1 pc
        return pc_arcsec / self.pixel_scale_arcsec

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.images[self.settings.detection_band].data.shape)  # type: ignore

    def core_half_px(self, match_radius_px: float) -> int:
        return int(math.ceil(match_radius_px)) + 1

    def stamp_half_px(self, match_radius_px: float) -> int:
        return self.core_half_px(match_radius_px) + self.settings.overlap_px

    def edge_px(self, match_radius_px: float) -> float:
        """Injections stay this far from the edges, so their stamps are never clipped."""
        return float(self.stamp_half_px(match_radius_px) + 1)


def field_context(
    images: Mapping[str, HSTImage],
    settings: PipelineSettings,
    distance_mpc: float,
    *,
    psfs: Mapping[str, Any] | None = None,
    model_region: Any = None,
    stellar_exclusion: Any = None,
    selection_region: str = "semi_empirical",
) -> FieldContext:
    """Sky, aperture corrections and fiducial constants of the unmodified field, by the
    pipeline's own functions (the same ones :func:`~clustercat.processing.pipeline.run_field`
    calls). ``psfs`` default: :func:`~clustercat.processing.pipeline.band_psf` per band."""
    from . import pipeline
    from .detection import estimate_background

    missing = [b for b in settings.bands if b not in images]
    if missing:
        raise InjectionInputError(f"no image for band(s) {', '.join(missing)}")
    ref = images[settings.detection_band]
    if psfs is None:
        psfs = {b: pipeline.band_psf(images[b].filter_name, images[b].instrument)
                for b in settings.bands}  # fmt: skip
    sky = estimate_background(ref.data, box_px=settings.background_box_px)
    apcors = pipeline.field_aperture_corrections(images, settings)
    constants = pipeline.field_constants(ref.data, ref.filter_name, ref.instrument,
                                         ref.exptime_s, ref.zeropoint_vega, settings)  # fmt: skip
    return FieldContext(
        images=dict(images), psfs=dict(psfs), sky=sky, apcors=apcors, constants=constants,
        settings=settings, distance_mpc=float(distance_mpc), model_region=model_region,
        stellar_exclusion=stellar_exclusion, selection_region=selection_region,
    )  # fmt: skip


def _mosaic_layout(n: int, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    ncol = max(1, int(math.ceil(math.sqrt(n))))
    k = np.arange(n)
    return ncol, (k % ncol) * size, (k // ncol) * size


def inject_band(
    data: np.ndarray,
    trials: pd.DataFrame,
    mag: np.ndarray,
    image: HSTImage,
    psf: Any,
    rng: np.random.Generator | None,
    stamp_radius_px: int = 20,
) -> np.ndarray:
    """The cluster model of one band (e-/s, same shape as ``data``), with shot noise.

    Fluxes f = 10^(-0.4 (m - zp_Vega)) e-/s within ``stamp_radius_px`` (the pipeline's
    "total" radius, ``apcor_total_radius_px``: the injected magnitude is the total the
    pipeline's aperture correction aims at); the model's electrons f t per pixel get a
    Poisson draw when ``rng`` is given (Thilker §3.3 step 5)."""
    from .profiles import add_profiles

    model = np.zeros(data.shape, dtype=np.float64)
    flux = 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - float(image.zeropoint_vega)))
    ok = np.isfinite(flux)
    add_profiles(model, trials["x"].to_numpy()[ok], trials["y"].to_numpy()[ok], flux[ok],
                 trials["fwhm_px"].to_numpy()[ok], trials["profile_index"].to_numpy()[ok],
                 psf=psf, stamp_radius_px=int(stamp_radius_px))  # fmt: skip
    if rng is not None:
        on = np.flatnonzero(model > 0)
        t = float(image.exptime_s)
        model.flat[on] = rng.poisson(model.flat[on] * t) / t
    return model


def recover_frame_set(
    context: FieldContext,
    trials: pd.DataFrame,
    models: Mapping[str, np.ndarray],
    match_radius_px: float = MATCH_RADIUS_PX,
) -> pd.DataFrame:
    """Run the pipeline stages on the stamps around ``trials`` of the frame (image + model)
    and return one row per trial: ``trial``, ``match_distance_px``, ``mag_out_<band>``,
    ``ci_out``, ``mci_in_out``, ``mci_out_out`` and the :data:`STAGE_FLAGS`."""
    from . import pipeline
    from .selection import select_candidates

    s = context.settings
    n = len(trials)
    core_h = context.core_half_px(match_radius_px)
    half = context.stamp_half_px(match_radius_px)
    size = 2 * half + 1
    ncol, mx, my = _mosaic_layout(n, size)
    nrow = int(math.ceil(n / ncol))
    ix = np.floor(trials["x"].to_numpy() + 0.5).astype(int)
    iy = np.floor(trials["y"].to_numpy() + 0.5).astype(int)
    ox, oy = ix - half, iy - half  # frame pixel of each stamp's corner
    ny, nx = context.shape
    if n and (ox.min() < 0 or oy.min() < 0 or (ox + size).max() > nx or (oy + size).max() > ny):
        raise InjectionInputError("injections too close to the frame edge for their stamps")

    def mosaic(frame: np.ndarray) -> np.ndarray:
        out = np.zeros((nrow * size, ncol * size))
        for k in range(n):
            out[my[k] : my[k] + size, mx[k] : mx[k] + size] = frame[
                oy[k] : oy[k] + size, ox[k] : ox[k] + size
            ]
        return out

    mosaics = {b: mosaic(context.images[b].data) + mosaic(models[b]) for b in s.bands}
    level, rms = (mosaic(v) if np.ndim(v) == 2 else v for v in context.sky)
    whole = Tile(0, (0, ncol * size, 0, nrow * size), (0, ncol * size, 0, nrow * size))
    found = pipeline.detect_tile(mosaics[s.detection_band], whole, (level, rms), s)
    # ownership: the detection's nearest pixel in a stamp's core
    dx_m, dy_m = found["x"].to_numpy(), found["y"].to_numpy()
    cell_x = np.floor((np.floor(dx_m + 0.5)) / size).astype(int)
    cell_y = np.floor((np.floor(dy_m + 0.5)) / size).astype(int)
    k_of = cell_y * ncol + cell_x
    valid = (cell_x >= 0) & (cell_x < ncol) & (k_of < n)
    k_safe = np.where(valid, k_of, 0)
    lx = np.floor(dx_m + 0.5) - mx[k_safe]
    ly = np.floor(dy_m + 0.5) - my[k_safe]
    owned = valid & (np.abs(lx - half) <= core_h) & (np.abs(ly - half) <= core_h)
    det = found[owned].reset_index(drop=True)
    k_det = k_of[owned]
    shift_x, shift_y = ox[k_det] - mx[k_det], oy[k_det] - my[k_det]
    gx, gy = det["x"].to_numpy() + shift_x, det["y"].to_numpy() + shift_y
    # nearest owned detection within the match radius
    dist = np.hypot(gx - trials["x"].to_numpy()[k_det], gy - trials["y"].to_numpy()[k_det])
    match = np.full(n, -1)
    best = np.full(n, np.inf)
    for j in np.argsort(dist, kind="stable"):
        if dist[j] <= match_radius_px and dist[j] < best[k_det[j]]:
            best[k_det[j]], match[k_det[j]] = dist[j], j

    out = pd.DataFrame({"trial": trials["trial"].to_numpy(),
                        "match_distance_px": np.where(match >= 0, best, np.nan)})  # fmt: skip
    for b in BANDS:
        out[f"mag_out_{b.lower()}"] = np.nan
    for c in ("ci_out", "mci_in_out", "mci_out_out"):
        out[c] = np.nan
    for c in STAGE_FLAGS:
        out[c] = False
    if len(det) == 0:
        return out
    sources = det.copy()
    sources["x"], sources["y"] = gx, gy
    sources.insert(0, "id", np.arange(1, len(det) + 1, dtype=np.int64))
    tables = {
        b: pipeline.photometry_tile(mosaics[b], whole, det["x"].to_numpy(), det["y"].to_numpy(),
                                    context.images[b].exptime_s, s)
        for b in s.bands
    }  # fmt: skip
    photometry = pipeline.photometry_frame(sources, tables, context.apcors, context.images, s)
    morphology = pipeline.morphology_frame(
        sources, tables[s.detection_band], context.images[s.detection_band], context.constants
    )
    table = pipeline.selection_input(sources, photometry, morphology, s)
    flags = select_candidates(
        table, context.distance_mpc, model_region=context.model_region,
        stellar_exclusion=context.stellar_exclusion, region=context.selection_region,
    )  # fmt: skip
    hit = np.flatnonzero(match >= 0)
    j = match[hit]
    out.loc[hit, "detected"] = True
    for b in s.bands:
        out.loc[hit, f"mag_out_{b.lower()}"] = table[f"mag_{b}"].to_numpy()[j]
    out.loc[hit, "ci_out"] = table["ci"].to_numpy()[j]
    out.loc[hit, "mci_in_out"] = table["mci_in"].to_numpy()[j]
    out.loc[hit, "mci_out_out"] = table["mci_out"].to_numpy()[j]
    region = "in_semi_empirical" if context.selection_region == "semi_empirical" else (
        "in_model_region")  # fmt: skip
    for name, col in (("passes_photometric_cuts", "passes_general"),
                      ("passes_ci_cut", "passes_morph_quality"), ("in_selection_region", region),
                      ("passes_mag_cut", "super_hd"), ("recovered", "candidate")):  # fmt: skip
        out.loc[hit, name] = np.asarray(flags[col], dtype=bool)[j]
    for c in STAGE_FLAGS:
        out[c] = out[c].astype(bool)
    return out


def run_frame_set(
    context: FieldContext,
    settings: GeneratorSettings,
    seed: int,
    frame_set: int,
    n: int,
    magnitudes: Callable[[pd.DataFrame], np.ndarray],
) -> pd.DataFrame:
    """Generate, inject and recover one frame set: the full trial rows (pure, seeded).

    ``magnitudes(trials)`` returns (n, n_band) Vega magnitudes in ``context.settings.bands``
    order (e.g. :func:`cluster_magnitudes` of a stored grid); they become ``mag_in_<band>``.
    """
    trials = plan_frame_set(settings, seed, frame_set, n, context.shape, context.px_per_pc,
                            context.edge_px(settings.match_radius_px))  # fmt: skip
    mags = np.asarray(magnitudes(trials), dtype=float)
    bands = context.settings.bands
    if mags.shape != (n, len(bands)):
        raise ValueError(f"magnitudes returned shape {mags.shape}, expected {(n, len(bands))}")
    for i, b in enumerate(bands):
        trials[f"mag_in_{b.lower()}"] = mags[:, i]
    return inject_and_recover(context, trials, seed, settings.shot_noise,
                              settings.match_radius_px)  # fmt: skip


def inject_and_recover(
    context: FieldContext,
    trials: pd.DataFrame,
    seed: int,
    shot_noise: bool = True,
    match_radius_px: float = MATCH_RADIUS_PX,
) -> pd.DataFrame:
    """Inject ``trials`` (positions, profile, ``mag_in_<band>``) into the field and recover
    them; returns the trials with the recovery columns and RA/Dec added."""
    bands = context.settings.bands
    frame_set = int(trials["frame_set"].iloc[0]) if len(trials) else 0
    models = {}
    radius = int(math.ceil(context.settings.apcor_total_radius_px))
    for i, b in enumerate(bands):
        rng = np.random.default_rng([int(seed), frame_set, 1000 + i]) if shot_noise else None
        models[b] = inject_band(context.images[b].data, trials,
                                trials[f"mag_in_{b.lower()}"].to_numpy(), context.images[b],
                                context.psfs.get(b), rng, radius)  # fmt: skip
    rec = recover_frame_set(context, trials, models, match_radius_px)
    out = trials.merge(rec, on="trial", how="left", validate="one_to_one")
    wcs = context.images[context.settings.detection_band].wcs
    try:
        ra, dec = wcs.celestial.pixel_to_world_values(out["x"].to_numpy(), out["y"].to_numpy())
        out["ra"], out["dec"] = np.mod(ra, 360.0), dec
    except Exception:  # noqa: BLE001 - an image without a celestial WCS
        out["ra"], out["dec"] = np.nan, np.nan
    return out


# --- analytic detection limit ---------------------------------------------------------------


def daofind_limiting_flux(
    profile: np.ndarray,
    sky_rms: float,
    *,
    fwhm_px: float = 2.5,
    threshold_sigma: float = 3.0,
) -> float:
    """Total flux at which a source of ``profile`` reaches DAOStarFinder's threshold.

    Derivation. DAOFIND (Stetson 1987) correlates the image with the zero-sum kernel
    K = (G - <G>) / D on its footprint (G a Gaussian of the kernel FWHM, peak 1; D =
    sum(G^2) - (sum G)^2 / n_pix); at each pixel the result is the least-squares amplitude
    of a G-shaped source there, and for white sky noise of rms sigma its standard deviation
    is sigma sqrt(sum K^2) = sigma / sqrt(D) = sigma * rel_err. photutils thresholds the
    convolved image at ``threshold_sigma x sigma x rel_err`` (``threshold_eff``), i.e. at
    ``threshold_sigma`` standard deviations of the amplitude. A source of total flux F and
    unit-flux shape P gives a noiseless convolved peak F max(K * P); it is found half the
    time when that peak equals the threshold (the noise on the peak is symmetric), so

        F_50 = threshold_sigma sigma rel_err / max(K * P),   m_50 = zp - 2.5 log10 F_50.

    ``profile``: the noiseless unit-flux source on the pixel grid (any sub-pixel centre);
    the kernel is photutils' own (``_StarFinderKernel``), so nothing is re-derived by hand.
    """
    from photutils.detection.core import _StarFinderKernel
    from scipy.ndimage import convolve

    kernel = _StarFinderKernel(fwhm_px)
    conv = convolve(np.asarray(profile, dtype=float), kernel.data, mode="constant")
    return float(threshold_sigma * sky_rms * kernel.rel_err / conv.max())
