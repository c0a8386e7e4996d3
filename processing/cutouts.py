"""Five-band cutouts around sources, their normalisation and an on-disk HDF5 cache.

Pure: arrays, WCS and files in, arrays out; no database code (the database side is
:mod:`clustercat.processing.ml_db`).

* Cutouts: one square stamp per band per source, made with astropy's ``Cutout2D``
  (``mode="partial"``) from the registered drizzled images of a field, centred on the
  source's RA/Dec through the image WCS. Whitmore et al. 2021 §10.1 use 299x299 px, Viana et
  al. §II.2 112x112 px; the size is a parameter. Parts of a stamp outside the image are
  padded with :data:`PAD_VALUE` (0 e-/s, the sky-subtracted background) and the stamp is
  flagged (:attr:`CutoutStack.edge`; ``coverage`` is the fraction of pixels inside the image).
* Normalisation (:func:`normalise`): ``"minmax"`` is Viana et al. §II.2's per-instance,
  cross-filter min-max to [0, 1] (one min and max over all pixels of all five bands, which
  keeps the colours), ignoring masked pixels, which stay 0 (§IV.2); ``"asinh"`` is
  Bialopetravičius §3.1.4's per-band standardisation to mean 0, std 1 followed by arcsinh.
  Whitmore et al. 2021 do not state theirs (Wei et al. 2020); the classifiers default to
  ``"asinh"``.
* Cache (:class:`CutoutCache`): raw (unnormalised) stamps in one HDF5 file per set of images
  and size, named by the SHA-256 of the five images' SHA-256s, rows keyed by source id.
  A changed image is a new key, so stale stamps are never served. Pixels never go to the
  database (DESIGN.md §4).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy.nddata import Cutout2D, NoOverlapError
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BANDS",
    "NORMALISATIONS",
    "PAD_VALUE",
    "CutoutCache",
    "CutoutError",
    "CutoutStack",
    "cache_key",
    "central_mask",
    "cut_stamps",
    "default_cache_dir",
    "normalise",
]

#: Band order of every cutout cube (blue to red; Viana et al. §II.2 channel order).
BANDS = ("NUV", "U", "B", "V", "I")
#: Value of padded pixels outside the image (e-/s; images are sky-subtracted).
PAD_VALUE = 0.0
NORMALISATIONS = ("minmax", "asinh", "none")
#: Cache file format version (bump when the layout changes).
CACHE_FORMAT = 1


class CutoutError(ValueError):
    """Cutouts that cannot be made or used as asked (bad size, bands, shapes)."""


@dataclass(frozen=True, eq=False)
class CutoutStack:
    """Stamps of n sources: ``pixels`` (n, n_band, size, size) float32 in image units (e-/s),
    ``edge`` True where a stamp reaches outside the image (padded), ``coverage`` the
    fraction of each stamp's pixels inside the image (0: no overlap at all)."""

    source_id: NDArray[np.int64]
    pixels: NDArray[np.float32]
    edge: NDArray[np.bool_]
    coverage: NDArray[np.float32]
    bands: tuple[str, ...] = BANDS

    def __len__(self) -> int:
        return int(self.source_id.size)

    @property
    def size_px(self) -> int:
        return int(self.pixels.shape[-1])

    def take(self, index: ArrayLike) -> CutoutStack:
        """The stamps at positions ``index`` (in that order)."""
        i = np.asarray(index, dtype=np.int64)
        return CutoutStack(self.source_id[i], self.pixels[i], self.edge[i], self.coverage[i],
                           self.bands)  # fmt: skip


def _check_size(size_px: int) -> int:
    size = int(size_px)
    if size < 4 or size != size_px:
        raise CutoutError(f"cutout size must be an integer >= 4 px, got {size_px}")
    return size


def cut_stamps(
    images: Sequence[np.ndarray],
    x: ArrayLike,
    y: ArrayLike,
    source_id: ArrayLike,
    size_px: int,
    *,
    bands: Sequence[str] = BANDS,
) -> CutoutStack:
    """Cut a ``size_px`` square stamp of every image around each (x, y) (0-based pixels of the
    images' common grid) with ``Cutout2D(mode="partial")``; padding and flags as above."""
    size = _check_size(size_px)
    if len(images) != len(bands):
        raise CutoutError(f"{len(images)} images for {len(bands)} bands {tuple(bands)}")
    shapes = {np.shape(im) for im in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise CutoutError(f"images must be 2-D on one pixel grid, got shapes {sorted(shapes)}")
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    ids = np.asarray(source_id, dtype=np.int64).ravel()
    if not (xs.size == ys.size == ids.size):
        raise CutoutError("x, y and source_id must have the same length")
    n = ids.size
    pixels = np.full((n, len(bands), size, size), PAD_VALUE, dtype=np.float32)
    coverage = np.zeros(n, dtype=np.float32)
    for k in range(n):
        if not (np.isfinite(xs[k]) and np.isfinite(ys[k])):
            continue
        for b, image in enumerate(images):
            try:
                cut = Cutout2D(image, (xs[k], ys[k]), size, mode="partial",
                               fill_value=PAD_VALUE, copy=False)  # fmt: skip
            except NoOverlapError:
                break
            pixels[k, b] = cut.data
            if b == 0:
                sy, sx = cut.slices_cutout
                coverage[k] = (sy.stop - sy.start) * (sx.stop - sx.start) / size**2
    return CutoutStack(ids, pixels, coverage < 1.0, coverage, tuple(bands))


def central_mask(size_px: int, diameter_px: float, *, inner: bool = True) -> NDArray[np.bool_]:
    """Viana et al. §IV.2 circular occlusion mask (True = masked) centred on the stamp:
    ``inner`` masks the pixels within ``diameter_px``/2 of the centre ("inside-out"), else
    everything outside it ("outside-in"). Diameter 0 masks nothing (inner)."""
    size = _check_size(size_px)
    c = (size - 1) / 2.0
    yy, xx = np.ogrid[:size, :size]
    inside = (xx - c) ** 2 + (yy - c) ** 2 <= (diameter_px / 2.0) ** 2
    if diameter_px <= 0:
        inside = np.zeros((size, size), dtype=bool)
    return inside if inner else ~inside


def normalise(
    pixels: NDArray, method: str = "minmax", *, mask: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Normalise stamps (n, n_band, s, s) or one stamp (n_band, s, s), see the module docstring.

    ``mask`` (s, s) True marks occluded pixels: they are set to 0 and left out of the
    statistics (Viana et al. §IV.2). Non-finite pixels count as 0.
    """
    if method not in NORMALISATIONS:
        raise CutoutError(f"unknown normalisation {method!r}; known: {', '.join(NORMALISATIONS)}")
    arr = np.nan_to_num(np.asarray(pixels, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise CutoutError(f"stamps must be (n, bands, s, s), got shape {np.shape(pixels)}")
    keep = np.ones(arr.shape[-2:], dtype=bool) if mask is None else ~np.asarray(mask, bool)
    if keep.shape != arr.shape[-2:]:
        raise CutoutError(f"mask shape {keep.shape} does not match stamps {arr.shape[-2:]}")
    out = np.zeros_like(arr)
    if method == "none":
        out[..., keep] = arr[..., keep]
    elif method == "minmax":
        vis = arr[..., keep]  # (n, b, n_keep)
        lo = vis.min(axis=(1, 2), keepdims=True) if vis.size else 0.0
        hi = vis.max(axis=(1, 2), keepdims=True) if vis.size else 1.0
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        out[..., keep] = (vis - lo) / span
    else:  # asinh: per band mean 0, std 1, then arcsinh
        vis = arr[..., keep]
        mean = vis.mean(axis=2, keepdims=True)
        std = vis.std(axis=2, keepdims=True)
        out[..., keep] = np.arcsinh((vis - mean) / np.where(std > 0, std, 1.0))
    return out[0] if single else out


# --- the cache ---------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$CLUSTERCAT_CUTOUT_CACHE``, else ``~/.cache/clustercat/cutouts``."""
    env = os.environ.get("CLUSTERCAT_CUTOUT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "clustercat" / "cutouts"


def cache_key(image_sha256: Mapping[str, str], size_px: int) -> str:
    """Key of a cache file: SHA-256 over the band:sha256 pairs (band order) and the size."""
    parts = [f"{band}:{image_sha256[band]}" for band in sorted(image_sha256, key=_band_rank)]
    text = "|".join(parts) + f"|size={int(size_px)}|format={CACHE_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()


def _band_rank(band: str) -> int:
    return BANDS.index(band) if band in BANDS else len(BANDS)


class CutoutCache:
    """Raw stamps of one image set and size in ``<dir>/<key>.h5``, one row per source id.

    :meth:`get` returns the stamps of the requested ids, cutting (and appending) only those
    not stored yet. The file records the images' SHA-256s; a file whose record does not
    match is refused (:class:`CutoutError`).
    """

    def __init__(self, directory: Path | str, image_sha256: Mapping[str, str], size_px: int):
        self.size_px = _check_size(size_px)
        self.bands = tuple(sorted(image_sha256, key=_band_rank))
        self.image_sha256 = {b: str(image_sha256[b]) for b in self.bands}
        self.key = cache_key(self.image_sha256, self.size_px)
        self.directory = Path(directory)
        self.path = self.directory / f"{self.key}.h5"

    def _create(self, f: h5py.File) -> None:
        nb, s = len(self.bands), self.size_px
        f.create_dataset("source_id", (0,), maxshape=(None,), dtype="i8", chunks=(4096,))
        f.create_dataset("pixels", (0, nb, s, s), maxshape=(None, nb, s, s), dtype="f4",
                         chunks=(1, nb, s, s))  # fmt: skip
        f.create_dataset("coverage", (0,), maxshape=(None,), dtype="f4", chunks=(4096,))
        f.attrs["bands"] = ",".join(self.bands)
        f.attrs["size_px"] = s
        f.attrs["format"] = CACHE_FORMAT
        for b, sha in self.image_sha256.items():
            f.attrs[f"sha256_{b}"] = sha

    def _check(self, f: h5py.File) -> None:
        stored = {b: f.attrs.get(f"sha256_{b}") for b in self.bands}
        if stored != self.image_sha256 or int(f.attrs.get("size_px", -1)) != self.size_px:
            raise CutoutError(f"cache file {self.path} does not belong to these images/size")

    def stored_ids(self) -> NDArray[np.int64]:
        if not self.path.exists():
            return np.zeros(0, dtype=np.int64)
        with h5py.File(self.path, "r") as f:
            self._check(f)
            return f["source_id"][:]

    def get(
        self,
        source_id: ArrayLike,
        *,
        images: Sequence[np.ndarray] | None = None,
        x: ArrayLike | None = None,
        y: ArrayLike | None = None,
        loader: Callable[[], Sequence[np.ndarray]] | None = None,
    ) -> CutoutStack:
        """Stamps of ``source_id`` (in that order). Missing ones are cut from ``images`` at
        ``x``, ``y`` (same order as ``source_id``), or from ``loader()`` -> images when
        the images are needed only on a miss; raises :class:`CutoutError` when they are
        missing and no images are given."""
        ids = np.asarray(source_id, dtype=np.int64).ravel()
        if np.unique(ids).size != ids.size:
            raise CutoutError("source ids must be unique")
        self.directory.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.path, "a") as f:
            if "source_id" not in f:
                self._create(f)
            self._check(f)
            stored = f["source_id"][:]
            where = {int(s): k for k, s in enumerate(stored)}
            missing = np.array([i for i, s in enumerate(ids) if int(s) not in where], dtype=int)
            if missing.size:
                if images is None and loader is not None:
                    images = loader()
                if images is None or x is None or y is None:
                    raise CutoutError(
                        f"{missing.size} stamps not cached in {self.path} and no images given"
                    )
                new = cut_stamps(images, np.asarray(x, float)[missing],
                                 np.asarray(y, float)[missing], ids[missing], self.size_px,
                                 bands=self.bands)  # fmt: skip
                n0 = stored.size
                n1 = n0 + missing.size
                for name in ("source_id", "pixels", "coverage"):
                    f[name].resize(n1, axis=0)
                f["source_id"][n0:n1] = new.source_id
                f["pixels"][n0:n1] = new.pixels
                f["coverage"][n0:n1] = new.coverage
                for k, s in enumerate(new.source_id):
                    where[int(s)] = n0 + k
            rows = np.array([where[int(s)] for s in ids], dtype=np.int64)
            order = np.argsort(rows)
            pixels = np.empty((ids.size, len(self.bands), self.size_px, self.size_px), "f4")
            coverage = np.empty(ids.size, dtype=np.float32)
            if ids.size:
                sorted_rows = rows[order]
                pixels[order] = _read_rows(f["pixels"], sorted_rows)
                coverage[order] = f["coverage"][:][sorted_rows]
        return CutoutStack(ids, pixels, coverage < 1.0, coverage, self.bands)


def _read_rows(dataset: h5py.Dataset, rows: NDArray[np.int64]) -> np.ndarray:
    """Rows of a dataset (sorted), read as contiguous runs (fast h5py slicing)."""
    out = np.empty((rows.size, *dataset.shape[1:]), dtype=dataset.dtype)
    start = 0
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for stop in [*breaks.tolist(), rows.size]:
        out[start:stop] = dataset[int(rows[start]) : int(rows[stop - 1]) + 1]
        start = stop
    return out
