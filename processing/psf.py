"""HST point-spread functions for synthetic fields, as effective PSFs on the drizzled grid.

Every model here is an *effective* PSF (ePSF, Anderson & King 2000): the optical PSF already
convolved with the pixel response, so its value at offset (dx, dy) px from a point source is
the fraction of the source's light in the pixel centred there. :meth:`PSFModel.stamp` samples
it on a grid ``oversample`` times finer than the image pixels (offsets ``m/oversample`` px),
normalised to unit sum, which is what :func:`clustercat.processing.profiles.add_profiles`
convolves cluster profiles with. The image grid is the drizzled 0.03962"/px of LEGUS and
PHANGS-HST (Thilker et al. 2022 §3.3), for both cameras.

Which model (:func:`load_psf`; the choice is in ``description`` and goes into the FITS
header of synthetic images as PSFMODEL/PSFNOTE):

* WFC3/UVIS F814W — the STScI empirical ePSF grid ``psf/wfc3uvis_f814w_empirical_psf_grid.fits``
  (STDPSF: 7x4 positions per chip, 101x101 samples, 4x supersampled; read with photutils
  ``GriddedPSFModel``; the -0.1 "off the detector" flags are set to 0). Position dependent:
  the detector position is the image position clipped to the 4096x4096 UVIS frame (UVIS2 for
  y < 2048, UVIS1 above, as the STDPSF layout); the grid is interpolated bilinearly (photutils)
  at the centre of the ``tile_px`` (default 1024 px) tile holding the source.
* ACS/WFC F814W — TinyTim ``psf/tinytim_acswfc_f814w_psf_tt_1.fits`` (optical PSF sampled at
  PIXSCALE = 0.0247"/subpixel, charge diffusion not applied): centred on its light centroid
  within 0.25", resampled onto the fine grid (cubic spline), convolved with the native ACS
  pixel (0.05" box), the charge-diffusion kernel from its header (taps 0.05" apart) and the
  drizzled output pixel.
* Every other filter — an approximation (``is_approximation=True``): a circular Moffat
  ``(1 + r^2/alpha^2)^-beta`` blurred by a Gaussian (sigma) and seen through the UVIS pixel
  and the UVIS charge-diffusion kernel of ``psf/tinytim_wfc3uvis_f814w_sub2.fits``; FWHM, beta
  and sigma are least-squares fitted to the STScI WFC3/UVIS encircled-energy curve of that
  filter (the mean of the UVIS1 and UVIS2 tables) at r <= 0.4", EE measured in exact circular
  apertures (photutils) on the pixelated model. A single Moffat misses the F275W curve by
  0.034; with the Gaussian every fitted curve is within 0.015. ACS/WFC filters: the optics
  fitted to the WFC3/UVIS curve of the same filter (or of the nearest pivot wavelength, e.g.
  F435W -> F438W), rendered through the ACS/WFC pixel (0.05" box, ACS charge diffusion of the
  TinyTim ACS header, drizzled output pixel): broader, as the ACS/WFC drizzled PSF is.

The ePSF stamps are 25 px (0.99") square; light outside them (the halo beyond ~0.5" that the
6"-normalised EE tables count, ~8-10 %) is not rendered: stamps are normalised to unit sum.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.nddata import NDData
from clustercat.processing.profiles import moffat_a_from_fwhm
from clustercat.schema.config import data_dir
from scipy import interpolate, optimize, signal

__all__ = [
    "DRIZZLED_PIXEL_SCALE_ARCSEC",
    "EE_FIT_MAX_RADIUS_ARCSEC",
    "PSFModel",
    "encircled_energy_table",
    "load_psf",
    "point_source_encircled_energy",
]

#: Pixel scale of the drizzled LEGUS / PHANGS-HST images (arcsec/px; Thilker et al. §3.3).
DRIZZLED_PIXEL_SCALE_ARCSEC = 0.03962
#: Native WFC3/UVIS pixel (the empirical ePSF's sampling unit, arcsec).
UVIS_PIXEL_ARCSEC = 0.03962
#: Native ACS/WFC pixel (arcsec).
ACS_PIXEL_ARCSEC = 0.05
#: Largest radius of the EE curve the radial models are fitted to (arcsec).
EE_FIT_MAX_RADIUS_ARCSEC = 0.4
#: Oversampling of the stored fine ePSF of the TinyTim and radial models.
BASE_OVERSAMPLE = 4
#: Side of the ePSF stamps (px): 25 px = the 101 samples of the STScI grid at 4x.
DEFAULT_SIZE_PX = 25

EMPIRICAL_UVIS_F814W = "wfc3uvis_f814w_empirical_psf_grid.fits"
TINYTIM_ACS_F814W = "tinytim_acswfc_f814w_psf_tt_1.fits"
TINYTIM_UVIS_F814W = "tinytim_wfc3uvis_f814w_sub2.fits"
UVIS_FRAME_PX = 4096

#: (filter, instrument) -> PSF file in ``$CLUSTERCAT_DATA/psf``.
REAL_PSFS = {
    ("F814W", "WFC3/UVIS"): EMPIRICAL_UVIS_F814W,
    ("F814W", "ACS/WFC"): TINYTIM_ACS_F814W,
}

Evaluator = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]


@dataclass(frozen=True)
class PSFModel:
    """An effective PSF on the image grid of one filter and camera.

    ``fwhm_px`` is the FWHM of the ePSF (px, from the area above half maximum at the centre
    of the detector); ``ee_fit`` holds, for the radial models, the EE table values they were
    fitted to beside the model's (``radius_arcsec, table, model``; both normalised to the
    total flux, the table's at 6").
    """

    filter_name: str
    instrument: str
    fwhm_px: float
    is_approximation: bool
    description: str
    pixel_scale_arcsec: float
    size_px: int
    evaluate: Evaluator = field(repr=False)
    position_dependent: bool = False
    tile_px: int = 1024
    fixed_position: tuple[float, float] = (UVIS_FRAME_PX / 2, UVIS_FRAME_PX / 2)
    ee_fit: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def short_name(self) -> str:
        """A FITS-keyword-sized name of the model (PSFMODEL)."""
        return self.description.split(":", 1)[0][:68]

    def stamp(
        self,
        x_frac: float = 0.0,
        y_frac: float = 0.0,
        size_px: int | None = None,
        oversample: int = 4,
        *,
        x: float | None = None,
        y: float | None = None,
    ) -> np.ndarray:
        """The ePSF of a source at sub-pixel offset (x_frac, y_frac), unit sum.

        Sample ``[j, i]`` is at offset ``((i - h)/oversample - x_frac, (j - h)/oversample -
        y_frac)`` px from the source, ``h = (size_px // 2) * oversample + oversample // 2``
        (shape ``2h+1``; the centre sample is the source position). ``x, y``: detector
        position for position-dependent models (default the model's fixed position).
        """
        size = int(size_px or self.size_px)
        s = int(oversample)
        if s < 1 or size < 1:
            raise ValueError("size_px and oversample must be positive")
        h = (size // 2) * s + s // 2
        offsets = np.arange(-h, h + 1) / s
        dx = offsets[None, :] - x_frac
        dy = offsets[:, None] - y_frac
        dx, dy = np.broadcast_arrays(dx, dy)
        px = self.fixed_position[0] if x is None else float(x)
        py = self.fixed_position[1] if y is None else float(y)
        values = np.clip(self.evaluate(dx, dy, px, py), 0.0, None)
        total = values.sum()
        if not total > 0:
            raise ValueError(f"{self.short_name}: empty PSF stamp")
        return values / total

    __call__ = stamp

    def tile_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Tile index of detector positions (0 for position-independent models)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if not self.position_dependent:
            return np.zeros(np.broadcast(x, y).shape, dtype=int)
        n = UVIS_FRAME_PX // self.tile_px
        tx = np.clip(np.floor(x / self.tile_px), 0, n - 1).astype(int)
        ty = np.clip(np.floor(y / self.tile_px), 0, n - 1).astype(int)
        return ty * n + tx

    def tile_centre(self, tile: int) -> tuple[float, float]:
        """Detector position at which the PSF of a tile is evaluated."""
        if not self.position_dependent:
            return self.fixed_position
        n = UVIS_FRAME_PX // self.tile_px
        ty, tx = divmod(int(tile), n)
        return ((tx + 0.5) * self.tile_px, (ty + 0.5) * self.tile_px)

    def pixel_image(self, *, x: float | None = None, y: float | None = None) -> np.ndarray:
        """A point source of unit flux at the centre of a ``size_px`` square (pixel values)."""
        s = BASE_OVERSAMPLE
        fine = self.stamp(0.0, 0.0, self.size_px, s, x=x, y=y)
        return fine[s // 2 :: s, s // 2 :: s] / fine[s // 2 :: s, s // 2 :: s].sum()

    def encircled_energy(
        self, radii_arcsec: np.ndarray, *, x: float | None = None, y: float | None = None
    ) -> np.ndarray:
        """EE of a centred point source in circular apertures, normalised to the stamp."""
        return point_source_encircled_energy(
            self.pixel_image(x=x, y=y), np.asarray(radii_arcsec) / self.pixel_scale_arcsec
        )


def point_source_encircled_energy(image: np.ndarray, radii_px: np.ndarray) -> np.ndarray:
    """Sum of ``image`` in exact circular apertures centred on the central pixel (photutils)."""
    from photutils.aperture import CircularAperture, aperture_photometry

    centre = ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    apertures = [CircularAperture(centre, r=float(r)) for r in np.atleast_1d(radii_px)]
    table = aperture_photometry(image, apertures, method="exact")
    return np.array([table[f"aperture_sum_{i}"][0] for i in range(len(apertures))])


# --- building blocks ---------------------------------------------------------------------------


def _psf_dir(data: Path | None) -> Path:
    return (Path(data) if data is not None else data_dir()) / "psf"


def _box_1d(width_cells: float) -> np.ndarray:
    """Weights of fine cells (unit width, centred on integers) under a centred box."""
    half = width_cells / 2
    m = np.arange(-int(np.ceil(half)) - 1, int(np.ceil(half)) + 2)
    w = np.clip(np.minimum(m + 0.5, half) - np.maximum(m - 0.5, -half), 0, None)
    return w[w > 0] / w[w > 0].sum() if w.sum() > 0 else np.ones(1)


def _box_kernel(width_cells: float) -> np.ndarray:
    w = _box_1d(width_cells)
    return np.outer(w, w)


def _tap_kernel(taps: np.ndarray, spacing_cells: float) -> np.ndarray:
    """A 3x3 kernel (e.g. charge diffusion) whose taps are ``spacing_cells`` fine cells apart,
    placed by linear interpolation between cells."""
    k = int(np.ceil(spacing_cells)) + 1
    out = np.zeros((2 * k + 1, 2 * k + 1))
    for j in range(3):
        for i in range(3):
            px, py = (i - 1) * spacing_cells + k, (j - 1) * spacing_cells + k
            x0, y0 = int(np.floor(px)), int(np.floor(py))
            fx, fy = px - x0, py - y0
            for yy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
                for xx, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                    if 0 <= yy < out.shape[0] and 0 <= xx < out.shape[1]:
                        out[yy, xx] += taps[j, i] * wx * wy
    return out / out.sum()


def _image_evaluator(fine: np.ndarray, oversample: int) -> Evaluator:
    """An evaluator of a position-independent fine ePSF (photutils ``ImagePSF`` splines)."""
    from photutils.psf import ImagePSF

    model = ImagePSF(fine / fine.sum() * oversample**2, oversampling=oversample)

    def evaluate(dx: np.ndarray, dy: np.ndarray, x: float, y: float) -> np.ndarray:
        return model.evaluate(dx, dy, 1.0, 0.0, 0.0)

    return evaluate


def _half_max_fwhm(evaluate: Evaluator, position: tuple[float, float]) -> float:
    """FWHM (px) of an ePSF from the area of its samples above half the peak."""
    s = 8
    offsets = np.arange(-6 * s, 6 * s + 1) / s
    dx, dy = np.meshgrid(offsets, offsets)
    v = evaluate(dx, dy, *position)
    area = (v >= v.max() / 2).sum() / s**2
    return float(2.0 * np.sqrt(area / np.pi))


# --- the real PSF files ------------------------------------------------------------------------


def _empirical_grid(path: Path) -> tuple[object, object]:
    """The two chips of an STDPSF grid as photutils models (flags -0.1 -> 0)."""
    import warnings

    from photutils.psf import GriddedPSFModel

    models = []
    for detector_id in (1, 2):  # 1 = UVIS2 (lower, y < 2048), 2 = UVIS1 (upper)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw = GriddedPSFModel.read(str(path), format="stdpsf", detector_id=detector_id)
            except (OSError, ValueError, KeyError) as exc:
                raise ValueError(f"{path}: not a readable STDPSF ePSF grid ({exc})") from exc
        data = np.where(raw.data <= -0.05, 0.0, raw.data)
        models.append(GriddedPSFModel(NDData(data, meta=dict(raw.meta))))
    return models[0], models[1]


def _empirical_evaluator(path: Path, pixel_scale: float) -> Evaluator:
    lower, upper = _empirical_grid(path)
    ratio = pixel_scale / UVIS_PIXEL_ARCSEC  # image px -> native UVIS px

    def evaluate(dx: np.ndarray, dy: np.ndarray, x: float, y: float) -> np.ndarray:
        x = float(np.clip(x, 0, UVIS_FRAME_PX - 1))
        y = float(np.clip(y, 0, UVIS_FRAME_PX - 1))
        model, y_chip = (lower, y) if y < 2048 else (upper, y - 2048)
        return model.evaluate(x + dx * ratio, y_chip + dy * ratio, 1.0, x, y_chip)

    return evaluate


def _charge_diffusion_kernel(header: fits.Header, path: Path) -> np.ndarray:
    """The 3x3 charge-diffusion kernel TinyTim writes in COMMENT cards of subsampled PSFs."""
    rows = []
    for card in header.get("COMMENT", []):
        numbers = re.findall(r"[-+]?\d*\.\d+", str(card))
        if len(numbers) == 3:
            rows.append([float(v) for v in numbers])
    if len(rows) != 3:
        raise ValueError(f"{path}: no 3x3 charge-diffusion kernel in the COMMENT cards")
    return np.array(rows)


def _tinytim_fine(path: Path, pixel_scale: float, native_pixel: float) -> np.ndarray:
    """TinyTim subsampled PSF -> fine ePSF on the image grid (BASE_OVERSAMPLE, 25 px)."""
    try:
        with fits.open(path) as hdus:
            header = hdus[0].header
            psf = np.asarray(hdus[0].data, dtype=float)
    except OSError as exc:
        raise ValueError(f"{path}: not a FITS file ({exc})") from exc
    if "PIXSCALE" not in header:
        raise ValueError(f"{path}: header keyword PIXSCALE missing (subsampling unknown)")
    tt_scale = float(header["PIXSCALE"])
    s = BASE_OVERSAMPLE
    cell = pixel_scale / s  # arcsec per fine cell
    h = (DEFAULT_SIZE_PX // 2) * s + s // 2
    margin = int(np.ceil(2 * native_pixel / cell)) + 2
    offsets = np.arange(-(h + margin), h + margin + 1) * cell  # arcsec
    ny, nx = psf.shape
    # centre on the light centroid within 0.25" of the peak (the optical PSF is asymmetric:
    # 0.2 subpixel off its peak in x), so rendered sources are centred where they are measured
    jy, jx = np.unravel_index(np.argmax(psf), psf.shape)
    yy, xx = np.mgrid[:ny, :nx]
    core = np.hypot(yy - jy, xx - jx) * tt_scale <= 0.25
    cy = (psf * yy)[core].sum() / psf[core].sum()
    cx = (psf * xx)[core].sum() / psf[core].sum()
    ty = (np.arange(ny) - cy) * tt_scale
    tx = (np.arange(nx) - cx) * tt_scale
    spline = interpolate.RectBivariateSpline(ty, tx, psf / tt_scale**2, kx=3, ky=3)
    optical = np.clip(spline(offsets, offsets), 0.0, None) * cell**2
    optical[(offsets < ty.min()) | (offsets > ty.max()), :] = 0.0
    optical[:, (offsets < tx.min()) | (offsets > tx.max())] = 0.0
    fine = signal.fftconvolve(
        optical, _pixel_response(path, native_pixel, pixel_scale), mode="same"
    )
    return np.clip(fine[margin:-margin, margin:-margin], 0.0, None)


@lru_cache(maxsize=8)
def _pixel_response(tinytim: Path, native_pixel: float, pixel_scale: float) -> np.ndarray:
    """A detector's pixel response on the fine grid: its native pixel (box), the
    charge-diffusion kernel of the TinyTim file (taps one native pixel apart) and the
    drizzled output pixel; normalised."""
    if not tinytim.is_file():
        raise FileNotFoundError(f"{tinytim} (charge-diffusion kernel) does not exist")
    with fits.open(tinytim) as hdus:
        cd = _charge_diffusion_kernel(hdus[0].header, tinytim)
    cell = pixel_scale / BASE_OVERSAMPLE
    kernel = signal.fftconvolve(
        _box_kernel(native_pixel / cell), _tap_kernel(cd, native_pixel / cell)
    )
    if abs(native_pixel - pixel_scale) > 1e-6:
        kernel = signal.fftconvolve(kernel, _box_kernel(pixel_scale / cell))
    return kernel / kernel.sum()


# --- radial (Moffat) approximations fitted to the EE tables ------------------------------------


def encircled_energy_table(filter_name: str, data: Path | None = None) -> pd.Series:
    """EE fraction vs radius (arcsec) of a WFC3/UVIS filter: mean of the UVIS1/UVIS2 tables.

    Falls back to the filter of nearest pivot wavelength when the filter is not tabulated
    (e.g. ACS F435W -> F438W), the chosen name in ``Series.name``.
    """
    from clustercat.processing.hst_metadata import read_encircled_energy

    folder = Path(data) / "phangs-metadata" if data is not None else None
    frames = [read_encircled_energy(chip, folder) for chip in ("uvis1", "uvis2")]
    both = pd.concat(frames)
    name = filter_name.upper()
    if name not in set(both["filter"]):
        pivots = {"F435W": 4330.0, "F555W": 5360.0, "F606W": 5920.0, "F475W": 4750.0}
        wave = pivots.get(name)
        match = re.fullmatch(r"F(\d{3,4})[WMNX]", name)
        if wave is None and match:
            wave = float(match.group(1)) * 10.0
        if wave is None:
            raise KeyError(f"no encircled-energy curve for filter {filter_name!r}")
        waves = both.groupby("filter")["wavelength_aa"].mean()
        name = str((waves - wave).abs().idxmin())
    curve = both[both["filter"] == name].groupby("radius_arcsec")["fraction"].mean()
    curve.name = name
    return curve


def _gaussian_kernel(sigma_px: float) -> np.ndarray:
    """A normalised circular Gaussian (sigma in px) on the fine grid (a delta for sigma ~ 0)."""
    s = BASE_OVERSAMPLE
    if sigma_px * s < 0.05:
        return np.ones((1, 1))
    n = int(np.ceil(4 * sigma_px * s))
    g = np.exp(-0.5 * (np.arange(-n, n + 1) / (s * sigma_px)) ** 2)
    return np.outer(g, g) / g.sum() ** 2


def _moffat_fine(
    fwhm_px: float, beta: float, sigma_px: float, size_px: int, pixel_kernel: np.ndarray
) -> np.ndarray:
    """Moffat (unit total to infinity) blurred by a Gaussian and the pixel response, fine grid.

    Cells hold flux/oversample^2 of a pixel there (the pixel kernel is normalised).
    """
    s = BASE_OVERSAMPLE
    h = (size_px // 2) * s + s // 2
    sub = 4
    u = (np.arange(-h * sub, (h + 1) * sub) + 0.5) / (s * sub) - 0.5 / s
    alpha = float(moffat_a_from_fwhm(fwhm_px, beta))
    xx, yy = np.meshgrid(u, u)
    density = (beta - 1) / (np.pi * alpha**2) * (1 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    n = 2 * h + 1
    cells = density.reshape(n, sub, n, sub).sum(axis=(1, 3)) / (s * sub) ** 2
    kernel = signal.fftconvolve(pixel_kernel, _gaussian_kernel(sigma_px))
    return signal.fftconvolve(cells, kernel, mode="same")


def _moffat_ee(params: np.ndarray, radii_px: np.ndarray, pixel_kernel: np.ndarray) -> np.ndarray:
    size = int(2 * np.ceil(radii_px.max()) + 7) | 1
    fine = _moffat_fine(*params, size, pixel_kernel)
    s = BASE_OVERSAMPLE
    # a normalised pixel kernel averages the cells of a pixel: times s^2 gives its flux
    return point_source_encircled_energy(fine[s // 2 :: s, s // 2 :: s] * s**2, radii_px)


def _fit_moffat_to_ee(
    curve: pd.Series, pixel_scale: float, pixel_kernel: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Least-squares (FWHM px, beta, Gaussian sigma px) of the radial model to an EE curve
    at r <= 0.4"; returns the parameters and the table beside the model."""
    sel = curve[curve.index <= EE_FIT_MAX_RADIUS_ARCSEC + 1e-9]
    radii_px = sel.index.to_numpy() / pixel_scale
    target = sel.to_numpy()

    def residuals(p: np.ndarray) -> np.ndarray:
        return _moffat_ee(p, radii_px, pixel_kernel) - target

    fit = optimize.least_squares(
        residuals, x0=[1.5, 1.6, 0.3], bounds=([0.3, 1.05, 0.0], [6.0, 10.0, 3.0])
    )
    model = _moffat_ee(fit.x, radii_px, pixel_kernel)
    table = pd.DataFrame({"radius_arcsec": sel.index.to_numpy(), "table": target, "model": model})
    return fit.x, table


# --- the public loader -------------------------------------------------------------------------


def _normalise_instrument(instrument: str) -> str:
    key = re.sub(r"[\s_\-/]+", "", instrument.upper())
    if key in ("WFC3UVIS", "UVIS", "WFC3"):
        return "WFC3/UVIS"
    if key in ("ACSWFC", "WFC", "ACS"):
        return "ACS/WFC"
    raise ValueError(f"unknown HST camera {instrument!r}; use 'WFC3/UVIS' or 'ACS/WFC'")


@lru_cache(maxsize=32)
def _load(filter_name: str, instrument: str, data: Path | None, pixel_scale: float) -> PSFModel:
    folder = _psf_dir(data)
    real = REAL_PSFS.get((filter_name, instrument))
    if real is not None and (folder / real).is_file():
        path = folder / real
        if real == EMPIRICAL_UVIS_F814W:
            evaluate = _empirical_evaluator(path, pixel_scale)
            centre = (UVIS_FRAME_PX / 2, UVIS_FRAME_PX / 2 + 1024)
            return PSFModel(
                filter_name, instrument, _half_max_fwhm(evaluate, centre), False,
                "STScI empirical ePSF grid WFC3/UVIS F814W: " + real
                + " (position dependent, bilinear in the 7x8 grid at tile centres)",
                pixel_scale, DEFAULT_SIZE_PX, evaluate, position_dependent=True,
                fixed_position=centre,
            )  # fmt: skip
        fine = _tinytim_fine(path, pixel_scale, ACS_PIXEL_ARCSEC)
        evaluate = _image_evaluator(fine, BASE_OVERSAMPLE)
        return PSFModel(
            filter_name, instrument, _half_max_fwhm(evaluate, (0.0, 0.0)), False,
            "TinyTim ACS/WFC F814W: " + real
            + " resampled to the drizzled grid, 0.05in pixel and charge diffusion applied",
            pixel_scale, DEFAULT_SIZE_PX, evaluate,
        )  # fmt: skip
    curve = encircled_energy_table(filter_name, data)
    uvis_pixel = _pixel_response(folder / TINYTIM_UVIS_F814W, UVIS_PIXEL_ARCSEC, pixel_scale)
    params, table = _fit_moffat_to_ee(curve, pixel_scale, uvis_pixel)
    if instrument == "ACS/WFC":  # the fitted optics seen through the ACS/WFC pixels
        pixel_kernel = _pixel_response(folder / TINYTIM_ACS_F814W, ACS_PIXEL_ARCSEC, pixel_scale)
        pixel_note = "optics fitted with the UVIS pixel, rendered with the ACS 0.05in pixel"
    else:
        pixel_kernel = uvis_pixel
        pixel_note = "UVIS pixel"
    pixel_note += " and TinyTim charge diffusion"
    fine = _moffat_fine(*params, DEFAULT_SIZE_PX, pixel_kernel)
    evaluate = _image_evaluator(fine, BASE_OVERSAMPLE)
    fwhm, beta, sigma = (float(v) for v in params)
    description = (
        f"Moffat approximation {instrument} {filter_name}: FWHM {fwhm:.2f} px, beta {beta:.2f},"
        f" Gaussian sigma {sigma:.2f} px, fitted to the WFC3/UVIS EE curve of {curve.name}"
        f" at r<=0.4in ({pixel_note})"
    )
    return PSFModel(
        filter_name, instrument, _half_max_fwhm(evaluate, (0.0, 0.0)), True, description,
        pixel_scale, DEFAULT_SIZE_PX, evaluate, ee_fit=table,
    )  # fmt: skip


def load_psf(
    filter_name: str,
    instrument: str,
    *,
    x: float | None = None,
    y: float | None = None,
    data: Path | str | None = None,
    pixel_scale_arcsec: float = DRIZZLED_PIXEL_SCALE_ARCSEC,
) -> PSFModel:
    """The ePSF of ``filter_name`` on ``instrument`` ('WFC3/UVIS' or 'ACS/WFC').

    ``x, y``: a detector position at which to fix a position-dependent model (the result is
    then position independent). ``data``: the shared data folder (default
    ``$CLUSTERCAT_DATA``). Models are cached per filter, camera, folder and pixel scale.
    """
    camera = _normalise_instrument(instrument)
    folder = Path(data).resolve() if data is not None else None
    model = _load(filter_name.strip().upper(), camera, folder, float(pixel_scale_arcsec))
    if (x is None) != (y is None):
        raise ValueError("give both x and y, or neither")
    if x is not None and model.position_dependent:
        from dataclasses import replace

        return replace(model, position_dependent=False, fixed_position=(float(x), float(y)))
    return model
