"""Source detection on a (V-band or white-light) image (Thilker et al. 2022 §2.1).

Pure functions: an image array in, a pandas frame of detections out. No database.

Coordinates are **0-based pixel centres** (numpy/photutils: the centre of ``image[j, i]`` is
``(x, y) = (i, j)``); catalogues in the database are 1-based and the runner converts.

Thilker et al. 2022 §2.1 augment DOLPHOT with photutils ``DAOStarFinder`` using a Gaussian
kernel of FWHM 2.5 px (slightly broader than the 2 px PSF, to favour extended objects). The
paper gives no threshold, sharpness or roundness limits (extract §8 item 12). Ours:

* background: the sigma-clipped (3 sigma) median of the whole image, or a ``Background2D``
  map (median estimator, sigma-clipped) when ``background_box_px`` is given (galaxy images);
* noise: the sigma-clipped standard deviation of the image (or the ``Background2D`` rms map),
  unless ``sky_rms`` is given;
* threshold: ``threshold_sigma = 3`` times that rms, the ``SigFind = 3.0`` of the paper's own
  DOLPHOT detection (Table B1); DAOStarFinder scales it by the kernel's relative error as
  DAOFIND does, so it is a threshold on the fitted peak amplitude;
* sharpness in [0.2, 1.0] and roundness in [-1, 1]: the DAOFIND defaults (a FWHM 5 px Moffat
  cluster has sharpness ~0.5, a cosmic ray or hot pixel > 1); the pipeline lifts the
  roundness limits (``PipelineSettings.detection_roundness_range``, Thilker §4.1: shape
  parameters of the core are not used to select clusters);
* centroids: DAOStarFinder's (1-D Gaussian fits to the marginal x and y distributions)
  refined by a Gaussian-windowed centroid (:func:`windowed_centroids`, SExtractor's
  XWIN_IMAGE, window sigma = kernel FWHM / 2.355 = 1.06 px), vectorised over all sources:
  on 10-200 sigma Gaussian and Moffat sources the median error drops from 0.030 px
  (DAOFIND) to 0.011 px, and the worst cases on under-sampled sigma = 0.7 px stars from
  0.14 px to < 0.02 px, which matters for the r = 1 px aperture. A knot or a neighbour
  2-5 px away pulls that wide window (and DAOFIND's fits) off the source's peak (LEGUS
  positions are peaks; two stars 2.3 px apart end up at their midpoint), so a narrow window
  (sigma 0.6 px, 2 px) is also started at the detection's own peak pixel and replaces the
  wide one where they differ by more than max(``asymmetry_px``, ``asymmetry_sigma`` x its
  error, :func:`windowed_centroid_errors`): symmetric sources keep the wide window; a
  narrow window that slides toward a brighter neighbour gives way to the parabolic peak
  (:func:`parabolic_peaks`). ``centroid="daofind"``
  keeps DAOStarFinder's; ``centroid="2dg"`` fits a 2-D Gaussian with photutils
  ``centroid_sources`` in a 5 px box (~0.014 px, but ~10 ms per source);
* duplicates: DAOStarFinder runs with ``min_separation=0`` (the DAOFIND behaviour) and
  detections whose centroids lie within ``dedup_radius_px`` of a brighter (higher-flux)
  kept detection are dropped (:func:`clustercat.processing.selection.suppress_fainter_neighbours`).

Tang et al. 2026 (App. A) detect on a LEGUS white-light image instead;
:func:`white_light` and :func:`legus_white_light` build it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from astropy.stats import SigmaClip, sigma_clipped_stats
from clustercat.processing.selection import suppress_fainter_neighbours
from numpy.typing import ArrayLike, NDArray
from photutils.background import Background2D, MedianBackground, StdBackgroundRMS
from photutils.centroids import centroid_2dg, centroid_sources
from photutils.detection import DAOStarFinder
from photutils.utils import NoDetectionsWarning

__all__ = [
    "DETECTION_COLUMNS",
    "LEGUS_WHITE_LIGHT_SCALES",
    "THILKER_KERNEL_FWHM_PX",
    "detect_sources",
    "estimate_background",
    "legus_white_light",
    "parabolic_peaks",
    "white_light",
    "windowed_centroid_errors",
    "windowed_centroids",
]

#: DAOStarFinder kernel FWHM of Thilker et al. 2022 §2.1, px.
THILKER_KERNEL_FWHM_PX = 2.5
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Window of the narrow windowed centroid (sigma and half-width, px) used where the wide one
#: is pulled off the peak by a knot or a neighbour (``detect_sources``' ``asymmetry_px``).
NARROW_WINDOW_SIGMA_PX = 0.6
NARROW_WINDOW_HALF_WIDTH_PX = 2
#: Columns of :func:`detect_sources`' frame.
DETECTION_COLUMNS = (
    "x", "y", "peak", "flux", "sharpness", "roundness1", "roundness2", "n_pixels",
)  # fmt: skip
#: White-light scale factors s_lambda of Tang et al. 2026 Table 1 ("21 Myr" and "RGB" sets).
LEGUS_WHITE_LIGHT_SCALES: dict[str, dict[str, float]] = {
    "21Myr": {"F275W": 55.8, "F336W": 45.3, "F435W": 44.2, "F555W": 65.7, "F814W": 29.3},
    "RGB": {"F275W": 0.5, "F336W": 0.8, "F435W": 3.1, "F555W": 11.2, "F814W": 13.7},
}


def estimate_background(
    image: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    box_px: int | None = None,
    sigma: float = 3.0,
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Background level and rms per pixel (same units as ``image``).

    Global (``box_px=None``): astropy ``sigma_clipped_stats`` median and standard deviation
    of all unmasked finite pixels. Local: photutils ``Background2D`` with ``box_px`` boxes,
    a median estimator and sigma clipping, returning the background and rms maps.
    """
    data = np.asarray(image, dtype=np.float64)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    if box_px is None:
        _, median, std = sigma_clipped_stats(data, mask=bad, sigma=sigma, maxiters=10)
        return float(median), float(std)
    clip = SigmaClip(sigma=sigma, maxiters=10)
    bkg = Background2D(
        data,
        box_px,
        mask=bad,
        sigma_clip=clip,
        bkg_estimator=MedianBackground(),
        bkg_rms_estimator=StdBackgroundRMS(),
    )
    return bkg.background, bkg.background_rms


def detect_sources(
    image: ArrayLike,
    *,
    fwhm_px: float = THILKER_KERNEL_FWHM_PX,
    threshold_sigma: float = 3.0,
    sky_rms: float | ArrayLike | None = None,
    sky_level: float | ArrayLike | None = None,
    mask: ArrayLike | None = None,
    dedup_radius_px: float = 1.0,
    sharpness_range: tuple[float, float] | None = (0.2, 1.0),
    roundness_range: tuple[float, float] | None = (-1.0, 1.0),
    background_box_px: int | None = None,
    peak_max: float | None = None,
    centroid: str = "window",
    centroid_box_px: int = 5,
    asymmetry_px: float = 0.15,
    asymmetry_sigma: float = 3.0,
) -> pd.DataFrame:
    """DAOStarFinder detections with centroids, de-duplicated (Thilker et al. 2022 §2.1).

    ``image`` in any linear unit (e-/s for HST drizzled images); ``sky_level`` and
    ``sky_rms`` (scalars or maps in the same unit) default to
    :func:`estimate_background`. Returns a frame with columns :data:`DETECTION_COLUMNS`:
    ``x``, ``y`` (0-based pixel centres), ``peak`` (background-subtracted peak pixel),
    ``flux`` (DAOStarFinder's background-subtracted sum over the kernel footprint),
    ``sharpness``, ``roundness1``, ``roundness2``, ``n_pixels``; sorted by flux, decreasing.
    The settings used are in ``frame.attrs`` (background, rms, threshold, centroid method;
    with ``centroid="window"`` also ``n_centroid_narrow``, the detections given the narrow
    window's centroid, see the module docstring).
    """
    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {data.shape}")
    if centroid not in ("window", "daofind", "2dg"):
        raise ValueError(f"centroid must be 'window', 'daofind' or '2dg', got {centroid!r}")
    bad = ~np.isfinite(data)
    if mask is not None:
        mask_arr = np.asarray(mask, dtype=bool)
        if mask_arr.shape != data.shape:
            raise ValueError(f"mask shape {mask_arr.shape} differs from image {data.shape}")
        bad |= mask_arr
    if sky_level is None or sky_rms is None:
        level, rms = estimate_background(data, mask=bad, box_px=background_box_px)
        sky_level = level if sky_level is None else sky_level
        sky_rms = rms if sky_rms is None else sky_rms
    sub = np.where(bad, 0.0, data - sky_level)
    threshold = threshold_sigma * np.asarray(sky_rms, dtype=np.float64)
    finder = DAOStarFinder(
        threshold if threshold.ndim else float(threshold),
        fwhm_px,
        min_separation=0,
        sharpness_range=sharpness_range,
        roundness_range=roundness_range,
        peak_max=peak_max,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found, peaks = _find(finder, sub, bad)
    attrs = {
        "detector": "photutils.DAOStarFinder",
        "fwhm_px": fwhm_px,
        "threshold_sigma": threshold_sigma,
        "sky_level": float(np.median(sky_level)),
        "sky_rms": float(np.median(sky_rms)),
        "background_box_px": background_box_px,
        "sharpness_range": sharpness_range,
        "roundness_range": roundness_range,
        "centroid": centroid,
        "asymmetry_px": asymmetry_px,
        "asymmetry_sigma": asymmetry_sigma,
        "dedup_radius_px": dedup_radius_px,
        "coordinates": "0-based pixel centres",
    }
    if found is None or len(found) == 0:
        frame = pd.DataFrame({c: pd.Series(dtype=float) for c in DETECTION_COLUMNS})
        frame.attrs.update(attrs)
        return frame
    frame = pd.DataFrame(
        {
            "x": np.asarray(found["x_centroid"], dtype=np.float64),
            "y": np.asarray(found["y_centroid"], dtype=np.float64),
            "peak": np.asarray(found["peak"], dtype=np.float64),
            "flux": np.asarray(found["flux"], dtype=np.float64),
            "sharpness": np.asarray(found["sharpness"], dtype=np.float64),
            "roundness1": np.asarray(found["roundness1"], dtype=np.float64),
            "roundness2": np.asarray(found["roundness2"], dtype=np.float64),
            "n_pixels": np.asarray(found["n_pixels"], dtype=np.int64),
        }
    )
    if centroid == "window":
        x0, y0 = frame["x"].to_numpy(), frame["y"].to_numpy()
        wx, wy, good = windowed_centroids(
            sub, x0, y0, sigma_px=fwhm_px / _FWHM_PER_SIGMA, mask=bad,
        )  # fmt: skip
        # A knot or a neighbour 2-5 px away pulls the wide window (and DAOFIND's marginal
        # fits) off the peak. The narrow window, started at the peak pixel, stays on it;
        # it is used where the two differ by more than the narrow one's noise allows.
        px, py = (x0, y0) if peaks is None else peaks
        nx_, ny_, good_n = windowed_centroids(
            sub, px, py, sigma_px=NARROW_WINDOW_SIGMA_PX,
            half_width_px=NARROW_WINDOW_HALF_WIDTH_PX, mask=bad, max_shift_px=0.75,
        )  # fmt: skip
        if peaks is not None:  # a window that slid to a brighter neighbour: the peak itself
            qx, qy, good_q = parabolic_peaks(sub, px, py, mask=bad)
            nx_, ny_ = np.where(good_n, nx_, qx), np.where(good_n, ny_, qy)
            good_n = good_n | good_q
        noise = windowed_centroid_errors(
            sub, nx_, ny_, sky_rms, sigma_px=NARROW_WINDOW_SIGMA_PX,
            half_width_px=NARROW_WINDOW_HALF_WIDTH_PX, mask=bad,
        )  # fmt: skip
        shift = np.hypot(wx - nx_, wy - ny_)
        lopsided = good & good_n & (shift > np.maximum(asymmetry_px, asymmetry_sigma * noise))
        frame["x"] = np.where(lopsided, nx_, wx)
        frame["y"] = np.where(lopsided, ny_, wy)
        frame.attrs["n_centroid_fallback"] = int((~good).sum())
        frame.attrs["n_centroid_narrow"] = int(lopsided.sum())
    if centroid == "2dg":
        x0, y0 = frame["x"].to_numpy(), frame["y"].to_numpy()
        ny, nx = data.shape
        inside = (x0 >= 0) & (x0 <= nx - 1) & (y0 >= 0) & (y0 <= ny - 1)
        cx, cy = np.full_like(x0, np.nan), np.full_like(y0, np.nan)
        if inside.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cx[inside], cy[inside] = centroid_sources(
                    sub,
                    x0[inside],
                    y0[inside],
                    box_size=centroid_box_px,
                    mask=bad,
                    centroid_func=centroid_2dg,
                )
        moved = np.hypot(cx - x0, cy - y0)
        # keep DAOFIND's centroid where the fit failed or wandered off the source
        good = np.isfinite(moved) & (moved < 0.5 * centroid_box_px)
        frame.loc[good, "x"] = cx[good]
        frame.loc[good, "y"] = cy[good]
    if dedup_radius_px and dedup_radius_px > 0:
        dup = suppress_fainter_neighbours(frame["x"], frame["y"], frame["flux"], dedup_radius_px)
        frame = frame.loc[~dup]
    frame = frame.sort_values("flux", ascending=False, kind="stable").reset_index(drop=True)
    frame.attrs.update(attrs)
    return frame


def _find(
    finder: DAOStarFinder, data: NDArray[np.float64], mask: NDArray[np.bool_]
) -> tuple[object, tuple[NDArray[np.float64], NDArray[np.float64]] | None]:
    """DAOStarFinder's table and the integer peak pixels (x, y) of its rows.

    The peaks (local maxima of the kernel-convolved image) come from photutils' catalogue
    object (``xypos``), which the public call does not return; with a photutils that lacks
    it, the peaks are None and the table is the public call's.
    """
    try:
        cat = finder._get_raw_catalog(data, mask=mask)
        cat = None if cat is None else cat.apply_all_filters()
        if cat is None:
            return None, None
        xy = np.asarray(cat.xypos, dtype=np.float64)
        return cat.to_table(), (xy[:, 0], xy[:, 1])
    except AttributeError:  # pragma: no cover - photutils without the private catalogue
        return finder(data, mask=mask), None


def parabolic_peaks(
    image: ArrayLike, x: ArrayLike, y: ArrayLike, *, mask: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Sub-pixel peaks: a parabola through each integer peak pixel and its two neighbours,
    in x and in y (offset 0.5 (l - r) / (l - 2c + r), within +-0.5 px). ``x``, ``y`` integer
    pixel positions (0-based). Flag False (position unchanged) where a neighbour is off
    the image or masked, or the pixel is not a maximum along that axis."""
    data = np.asarray(image, dtype=np.float64)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    ix = np.asarray(np.round(x), dtype=np.int64)
    iy = np.asarray(np.round(y), dtype=np.int64)
    ny, nx = data.shape
    ok = (ix >= 1) & (ix <= nx - 2) & (iy >= 1) & (iy <= ny - 2)
    jx, jy = np.clip(ix, 1, nx - 2), np.clip(iy, 1, ny - 2)
    out = []
    for l_, c_, r_ in (
        ((jy, jx - 1), (jy, jx), (jy, jx + 1)),
        ((jy - 1, jx), (jy, jx), (jy + 1, jx)),
    ):
        left, centre, right = data[l_], data[c_], data[r_]
        ok &= ~(bad[l_] | bad[c_] | bad[r_])
        curve = left - 2.0 * centre + right
        ok &= curve < 0
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))
    fx = np.where(ok, ix + out[0], np.asarray(x, dtype=np.float64))
    fy = np.where(ok, iy + out[1], np.asarray(y, dtype=np.float64))
    return fx, fy, ok


def windowed_centroid_errors(
    image: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    rms: float | ArrayLike,
    *,
    sigma_px: float,
    mask: ArrayLike | None = None,
    half_width_px: int = 4,
) -> NDArray[np.float64]:
    """1-sigma error (px, radial: sqrt(var_x + var_y)) of windowed centroids at ``x``, ``y``.

    Linear propagation of pixel noise through the fixed point of :func:`windowed_centroids`,
    F(x) = sum(w I dx) = 0 with w = exp(-r^2 / 2 sigma^2): a noise dI moves it by
    dx = sum(w dx dI) / D_x, D_x = -dF/dx = sum(w I (1 - dx^2 / sigma^2)), so
    var_x = sum(w^2 dx^2 rms^2) / D_x^2 (likewise y). D_x -> 0 for a source much broader than
    the window (its light is flat there and the window finds no peak): the error is then
    large, infinite where D is not positive. ``rms`` is the background noise per pixel
    (scalar or map); the sources' own Poisson noise is left out (it matters only where the
    centroid is precise anyway). NaN where the position is not finite.
    """
    data = np.asarray(image, dtype=np.float64)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    values = np.where(bad, 0.0, data)
    var_map = np.broadcast_to(np.asarray(rms, dtype=np.float64) ** 2, data.shape)
    cx, cy = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = np.full(cx.shape, np.nan)
    ok = np.isfinite(cx) & np.isfinite(cy)
    if not ok.any():
        return out
    ny, nx = data.shape
    offs = np.arange(-half_width_px, half_width_px + 1)
    idx = np.flatnonzero(ok)
    ix = np.floor(cx[idx] + 0.5).astype(np.int64)
    iy = np.floor(cy[idx] + 0.5).astype(np.int64)
    px, py = ix[:, None] + offs[None, :], iy[:, None] + offs[None, :]
    sl = (np.clip(py, 0, ny - 1)[:, :, None], np.clip(px, 0, nx - 1)[:, None, :])
    inside = ((px >= 0) & (px < nx))[:, None, :] & ((py >= 0) & (py < ny))[:, :, None]
    inside &= ~bad[sl]
    pix = np.where(inside, values[sl], 0.0)
    var = np.where(inside, var_map[sl], 0.0)
    dx = (px - cx[idx, None])[:, None, :]
    dy = (py - cy[idx, None])[:, :, None]
    r2 = dx * dx + dy * dy
    w = np.exp(-r2 / (2.0 * sigma_px**2)) * (r2 <= half_width_px**2)
    total = np.zeros(idx.size)
    for d in (dx, dy):
        denom = (w * pix * (1.0 - d * d / sigma_px**2)).sum(axis=(1, 2))
        num = ((w**2) * (d * d) * var).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            total += np.where(denom > 0, num / denom**2, np.inf)
    out[idx] = np.sqrt(total)
    return out


def windowed_centroids(
    image: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    *,
    sigma_px: float,
    mask: ArrayLike | None = None,
    half_width_px: int = 4,
    max_iter: int = 20,
    tol_px: float = 1e-4,
    max_shift_px: float = 1.0,
    chunk_size: int = 65536,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Gaussian-windowed centroids (the XWIN_IMAGE of SExtractor), for many sources at once.

    ``image`` background subtracted; ``x``, ``y`` starting positions (0-based pixel
    centres). Iterates x <- x + 2 sum(w I (x_i - x)) / sum(w I) (and likewise y) with
    w = exp(-r^2 / (2 sigma^2)) over the pixels within ``half_width_px`` (Bertin,
    SExtractor manual, "Windowed positional parameters"); the fixed point is the centre of
    any symmetric source. Masked, NaN and off-image pixels get no weight. Returns the new
    x, y and a flag: False (and the start position kept) where the window sum is not
    positive or the position moved more than ``max_shift_px``. photutils has this only for
    segmentation catalogues (``SourceCatalog.centroid_win``), one source at a time.
    """
    data = np.asarray(image, dtype=np.float64)
    x0 = np.asarray(x, dtype=np.float64).copy()
    y0 = np.asarray(y, dtype=np.float64).copy()
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    values = np.where(bad, 0.0, data)
    ny, nx = data.shape
    offs = np.arange(-half_width_px, half_width_px + 1)
    xs, ys = x0.copy(), y0.copy()
    ok = np.isfinite(xs) & np.isfinite(ys)
    for start in range(0, xs.size, chunk_size):
        sl = slice(start, min(start + chunk_size, xs.size))
        cx, cy = np.where(ok[sl], xs[sl], 0.0), np.where(ok[sl], ys[sl], 0.0)
        good = ok[sl].copy()
        active = good.copy()
        for _ in range(max_iter):
            if not active.any():
                break
            idx = np.flatnonzero(active)
            ix = np.floor(cx[idx] + 0.5).astype(np.int64)
            iy = np.floor(cy[idx] + 0.5).astype(np.int64)
            px = ix[:, None] + offs[None, :]
            py = iy[:, None] + offs[None, :]
            inside = ((px >= 0) & (px < nx))[:, None, :] & ((py >= 0) & (py < ny))[:, :, None]
            pix = values[np.clip(py, 0, ny - 1)[:, :, None], np.clip(px, 0, nx - 1)[:, None, :]]
            pix = np.where(inside, pix, 0.0)
            dx = (px - cx[idx, None])[:, None, :]
            dy = (py - cy[idx, None])[:, :, None]
            r2 = dx * dx + dy * dy
            wi = np.exp(-r2 / (2.0 * sigma_px**2)) * (r2 <= half_width_px**2) * pix
            total = wi.sum(axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                step_x = np.clip(2.0 * (wi * dx).sum(axis=(1, 2)) / total, -0.5, 0.5)
                step_y = np.clip(2.0 * (wi * dy).sum(axis=(1, 2)) / total, -0.5, 0.5)
            failed = ~(total > 0) | ~np.isfinite(step_x) | ~np.isfinite(step_y)
            cx[idx] += np.where(failed, 0.0, step_x)
            cy[idx] += np.where(failed, 0.0, step_y)
            good[idx[failed]] = False
            done = failed | (np.hypot(step_x, step_y) < tol_px)
            active[idx[done]] = False
        moved = np.hypot(cx - x0[sl], cy - y0[sl])
        good &= moved <= max_shift_px
        xs[sl] = np.where(good, cx, x0[sl])
        ys[sl] = np.where(good, cy, y0[sl])
        ok[sl] = good
    return xs, ys, ok


def white_light(
    images: Sequence[ArrayLike], scales: Sequence[float], *, subtract_median: bool = True
) -> NDArray[np.float64]:
    """White-light image I = sqrt(sum (f'/s)^2) / sqrt(sum (1/s)^2) (Tang et al. 2026 Eq. 19).

    f' = max(f - median(f), 0) per filter (App. A: the median of each image's pixel values,
    negative pixels clipped to zero); ``scales`` are the s_lambda of one set (Table 1). All
    images must be on the same pixel grid and in the same unit; NaN pixels stay NaN.
    """
    if len(images) != len(scales) or not images:
        raise ValueError(f"need one scale per image ({len(images)} images, {len(scales)} scales)")
    shape = np.shape(images[0])
    num = np.zeros(shape)
    for img, s in zip(images, scales, strict=True):
        f = np.asarray(img, dtype=np.float64)
        if f.shape != shape:
            raise ValueError(f"white_light: image shapes differ ({f.shape} vs {shape})")
        if subtract_median:
            f = np.maximum(f - np.nanmedian(f), 0.0)
        num += (f / float(s)) ** 2
    den = float(np.sum(1.0 / np.asarray(scales, dtype=np.float64) ** 2))
    return np.sqrt(num) / np.sqrt(den)


def legus_white_light(images_by_filter: Mapping[str, ArrayLike]) -> NDArray[np.float64]:
    """Mean of the "21 Myr" and "RGB" white-light images (Tang et al. 2026 App. A, Table 1).

    ``images_by_filter`` maps F275W, F336W, F435W, F555W, F814W (F438W is accepted for
    F435W) to images on one grid.
    """
    images = {k.upper(): v for k, v in images_by_filter.items()}
    if "F435W" not in images and "F438W" in images:
        images["F435W"] = images["F438W"]
    sets = []
    for name, scales in LEGUS_WHITE_LIGHT_SCALES.items():
        missing = [f for f in scales if f not in images]
        if missing:
            raise KeyError(f"legus_white_light: missing filters {missing} for set {name}")
        sets.append(white_light([images[f] for f in scales], list(scales.values())))
    return 0.5 * (sets[0] + sets[1])
