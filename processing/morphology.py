"""Concentration indices and the Multiple Concentration Index (Thilker et al. 2022 §4.2.1).

Pure functions: aperture magnitudes in, a data frame of CI / NCI / MCI out; no database.
Positions (for :func:`fiducial_constants`) are 0-based pixel centres, as in
:mod:`clustercat.processing.photometry`.

Definitions (extract §2.9, §2.10, §3.7, §3.8), all in the V band:

* CI(i, j) = m(r_i) - m(r_j) for the six adjacent radius pairs :data:`CI_PAIRS`; the
  traditional CI is CI(1, 3);
* NCI(i, j) = 1 - CI(i, j) / CI(i, j)_fiducial, the fiducial being a Moffat cluster of pre-PSF
  FWHM 2 px and eta = 3 (Table 1 gives representative constants, :data:`THILKER_TABLE1`);
* MCI_in = mean NCI over (1, 1.5), (1.5, 2), (2, 2.5); MCI_out = mean over (2.5, 3), (3, 4),
  (4, 5). Positive = more concentrated (star-like) than the fiducial, which sits at (0, 0).

Errors (the paper does not give the propagation, extract §8 item 16). The apertures are
nested: the flux in r_j contains the flux in r_i and all radii share one sky level, so the
magnitudes are correlated. Every CI, NCI and MCI is a linear combination c of the
magnitudes, and its error is sqrt(c^T Cov(m) c) (linearised), with Cov(m) from:

* :func:`morphology_from_apertures` (the pipeline path): the photometry's own flux
  covariance (:meth:`clustercat.processing.photometry.ApertureTable.flux_covariance`),
  Cov(m_k, m_l) = 1.0857^2 Cov(F_k, F_l) / (F_k F_l); its pulls on noise realisations have
  unit width (tests/test_photometry_known_image.py);
* ``error_model="nested"`` (magnitudes and errors only, e.g. from a stored catalogue):
  Cov(F_k, F_l) = sigma_F(p)^2 with p the smaller aperture, i.e.
  Cov(m_k, m_l) = sigma_m(p)^2 (F_p / F_k) (F_p / F_l). Exact for the Poisson and pixel
  terms; the shared sky level is more strongly correlated than this, so the errors are
  over-estimated (conservative). For CI(i, j) alone: sigma_CI^2 = sigma_m(j)^2 +
  sigma_m(i)^2 (1 - 2 F_i / F_j);
* ``error_model="independent"``: sigma_CI^2 = sigma_m(i)^2 + sigma_m(j)^2,
  sigma_NCI = sigma_CI / CI_fid, sigma_MCI = sqrt(sum sigma_NCI^2) / 3 (the most
  conservative).

Adjacent CIs share a radius and are anti-correlated; the first two models include that in
the MCI errors. NCI errors are sigma_CI / CI_fid in all three.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from clustercat.processing.photometry import (
    APERTURE_RADII_PX,
    SKY_ANNULUS_PX,
    ApertureTable,
    flux_to_vega_mag,
    measure_apertures,
    psf_label,
)
from clustercat.processing.selection import suppress_fainter_neighbours
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CI_PAIRS",
    "MCI_IN_PAIRS",
    "MCI_OUT_PAIRS",
    "THILKER_TABLE1",
    "FiducialConstants",
    "ci_column",
    "concentration_indices",
    "fiducial_constants",
    "morphology_from_apertures",
]

#: The six adjacent aperture-radius pairs (px) of Thilker et al. 2022 Table 1.
CI_PAIRS: tuple[tuple[float, float], ...] = (
    (1.0, 1.5),
    (1.5, 2.0),
    (2.0, 2.5),
    (2.5, 3.0),
    (3.0, 4.0),
    (4.0, 5.0),
)
#: The pairs averaged into MCI_in and MCI_out (Thilker §4.2.1).
MCI_IN_PAIRS = CI_PAIRS[:3]
MCI_OUT_PAIRS = CI_PAIRS[3:]

_MAG_PER_LN = 2.5 / math.log(10.0)


def ci_column(pair: tuple[float, float], prefix: str = "ci") -> str:
    """Column name of a pair, e.g. (1.0, 1.5) -> ``ci_1p0_1p5`` (no dots, SQL-friendly)."""
    return f"{prefix}_" + "_".join(f"{r:.1f}".replace(".", "p") for r in pair)


@dataclass(frozen=True)
class FiducialConstants:
    """NCI normalisation constants CI(i, j)_fiducial for :data:`CI_PAIRS` (Thilker Tab. 1).

    ``values`` follow :data:`CI_PAIRS`; ``n_clusters`` is how many fiducial clusters the
    medians were taken over and ``seed`` the random seed of their placement (None for
    published constants); ``method`` says how they were made and ``settings`` holds the
    rest (magnitude range, PSF, exposure time ...). ``version`` is a short stable hash of
    all of it, to record with every MCI computed from these constants.
    """

    values: tuple[float, ...]
    n_clusters: int | None = None
    seed: int | None = None
    fwhm_px: float = 2.0
    eta: float = 3.0
    method: str = "fiducial-cluster-median"
    settings: dict = field(default_factory=dict)
    pairs: tuple[tuple[float, float], ...] = CI_PAIRS

    def __post_init__(self) -> None:
        values = tuple(float(v) for v in self.values)
        pairs = tuple((float(a), float(b)) for a, b in self.pairs)
        if len(values) != len(pairs):
            raise ValueError(f"{len(values)} constants for {len(pairs)} CI pairs")
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"fiducial CI constants must be finite and positive: {values}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "pairs", pairs)

    def __getitem__(self, pair: tuple[float, float]) -> float:
        for p, v in zip(self.pairs, self.values, strict=True):
            if math.isclose(p[0], pair[0]) and math.isclose(p[1], pair[1]):
                return v
        raise KeyError(f"no constant for pair {pair}")

    @property
    def ci_1_3(self) -> float:
        """The fiducial traditional CI(1, 3): the sum of the four pairs from 1 to 3 px."""
        return float(sum(v for p, v in zip(self.pairs, self.values, strict=True) if p[1] <= 3.0))

    def to_dict(self) -> dict:
        """Plain JSON-able form (``version`` included)."""
        d = asdict(self)
        d["values"] = list(self.values)
        d["pairs"] = [list(p) for p in self.pairs]
        d["version"] = self.version
        return d

    @classmethod
    def from_dict(cls, data: dict) -> FiducialConstants:
        """Inverse of :meth:`to_dict`; a stored ``version`` must match the recomputed one."""
        d = dict(data)
        stored = d.pop("version", None)
        d["values"] = tuple(d["values"])
        d["pairs"] = tuple(tuple(p) for p in d.get("pairs", CI_PAIRS))
        made = cls(**d)
        if stored is not None and stored != made.version:
            raise ValueError(f"fiducial constants version {stored} does not match {made.version}")
        return made

    @property
    def version(self) -> str:
        """12 hex digits of SHA-256 over the values and settings (stable across runs)."""
        d = asdict(self)
        d["values"] = [round(v, 10) for v in self.values]
        d["pairs"] = [list(p) for p in self.pairs]
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


#: Representative constants of Thilker et al. 2022 Table 1 (median over their galaxies).
THILKER_TABLE1 = FiducialConstants(
    values=(0.746, 0.447, 0.288, 0.186, 0.201, 0.0858),
    n_clusters=21000,
    seed=None,
    method="thilker2022-table1",
    settings={"source": "Thilker et al. 2022 Table 1, median over the sample's galaxies"},
)


def _radius_index(radii: Sequence[float], r: float) -> int:
    for k, rk in enumerate(radii):
        if math.isclose(rk, r):
            return k
    raise KeyError(f"radius {r} px not among the measured radii {tuple(radii)}")


def _nested_covariance(mag: NDArray, mag_err: NDArray) -> NDArray:
    """(n, R, R) magnitude covariance of nested apertures (module docstring)."""
    n_r = mag.shape[1]
    k = np.arange(n_r)
    p = np.minimum(k[:, None], k[None, :])  # (R, R) index of the inner aperture
    # ratio F_p / F_k = 10^(-0.4 (m_p - m_k))
    ratio_pk = 10.0 ** (-0.4 * (mag[:, p] - mag[:, k[:, None]]))  # (n, R, R)
    ratio_pl = 10.0 ** (-0.4 * (mag[:, p] - mag[:, k[None, :]]))
    return mag_err[:, p] ** 2 * ratio_pk * ratio_pl


def concentration_indices(
    mag: ArrayLike,
    mag_err: ArrayLike,
    constants: FiducialConstants = THILKER_TABLE1,
    radii_px: Sequence[float] = APERTURE_RADII_PX,
    *,
    error_model: str = "nested",
    mag_cov: ArrayLike | None = None,
    chunk_size: int = 65536,
) -> pd.DataFrame:
    """CI, NCI and MCI with errors from aperture magnitudes (Thilker et al. 2022 §4.2.1).

    ``mag`` and ``mag_err`` are (n, n_radii) V-band magnitudes at ``radii_px`` (NaN where
    undefined; the zeropoint cancels). Returns one row per source with ``ci`` (= CI(1, 3)),
    ``ci_err``, for each pair ``ci_<i>_<j>``, ``ci_<i>_<j>_err``, ``nci_<i>_<j>``,
    ``nci_<i>_<j>_err`` (names from :func:`ci_column`), then ``mci_in``, ``mci_in_err``,
    ``mci_out``, ``mci_out_err``. Errors per ``error_model`` (module docstring), or from
    ``mag_cov``, a full (n, n_radii, n_radii) magnitude covariance, when given
    (:func:`morphology_from_apertures` passes the photometry's own). Computed in chunks of
    ``chunk_size`` sources (the covariances are n x n_radii^2).
    """
    m = np.atleast_2d(np.asarray(mag, dtype=np.float64))
    e = np.atleast_2d(np.asarray(mag_err, dtype=np.float64))
    radii = tuple(float(r) for r in radii_px)
    if m.shape != e.shape or m.shape[1] != len(radii):
        raise ValueError(f"mag {m.shape} and mag_err {e.shape} must be (n, {len(radii)})")
    if error_model not in ("nested", "independent"):
        raise ValueError(f"error_model must be 'nested' or 'independent', got {error_model!r}")
    n, n_r = m.shape
    if n > chunk_size:
        cov_all = None if mag_cov is None else np.asarray(mag_cov, dtype=np.float64)
        parts = [
            concentration_indices(
                m[i : i + chunk_size],
                e[i : i + chunk_size],
                constants,
                radii,
                error_model=error_model,
                chunk_size=chunk_size,
                mag_cov=None if cov_all is None else cov_all[i : i + chunk_size],
            )  # fmt: skip
            for i in range(0, n, chunk_size)
        ]
        frame = pd.concat(parts, ignore_index=True)
        frame.attrs.update(parts[0].attrs)
        return frame
    if mag_cov is not None:
        cov = np.asarray(mag_cov, dtype=np.float64)
        if cov.shape != (n, n_r, n_r):
            raise ValueError(f"mag_cov has shape {cov.shape}, expected {(n, n_r, n_r)}")
        error_model = "covariance"
    else:
        cov = _nested_covariance(m, e) if error_model == "nested" else None

    missing = ~np.isfinite(m) | ~np.isfinite(e)
    m0, e0 = np.where(missing, 0.0, m), np.where(missing, 0.0, e)
    cov0 = None if cov is None else np.where(np.isfinite(cov), cov, 0.0)

    def combo(coeff: NDArray) -> tuple[NDArray, NDArray]:
        """Value and error of sum_k coeff_k m_k; NaN where a magnitude it uses is NaN."""
        used = missing[:, coeff != 0].any(axis=1)
        value = m0 @ coeff
        var = np.einsum("i,nij,j->n", coeff, cov0, coeff) if cov0 is not None else e0**2 @ coeff**2
        err = np.sqrt(np.clip(var, 0.0, None))
        return np.where(used, np.nan, value), np.where(used, np.nan, err)

    out: dict[str, NDArray] = {}
    i1, i3 = _radius_index(radii, 1.0), _radius_index(radii, 3.0)
    c = np.zeros(n_r)
    c[i1], c[i3] = 1.0, -1.0
    out["ci"], out["ci_err"] = combo(c)

    pair_coeffs = []
    for pair in constants.pairs:
        c = np.zeros(n_r)
        c[_radius_index(radii, pair[0])] = 1.0
        c[_radius_index(radii, pair[1])] = -1.0
        pair_coeffs.append(c)
        ci, ci_err = combo(c)
        fid = constants[pair]
        out[ci_column(pair)] = ci
        out[ci_column(pair) + "_err"] = ci_err
        out[ci_column(pair, "nci")] = 1.0 - ci / fid
        out[ci_column(pair, "nci") + "_err"] = ci_err / fid

    for name, group in (("mci_in", MCI_IN_PAIRS), ("mci_out", MCI_OUT_PAIRS)):
        # MCI = 1 - (1/3) sum CI_k / C_k: a linear combination of the magnitudes
        coeff = np.zeros(n_r)
        for pair in group:
            k = [i for i, p in enumerate(constants.pairs) if p == pair][0]
            coeff += pair_coeffs[k] / constants.values[k]
        value, _ = combo(coeff)
        out[name] = 1.0 - value / len(group)
        if cov is not None:
            _, err = combo(coeff / len(group))
        else:
            nci_errs = np.stack([out[ci_column(p, "nci") + "_err"] for p in group])
            err = np.sqrt(np.sum(nci_errs**2, axis=0)) / len(group)
        out[name + "_err"] = err
    frame = pd.DataFrame(out)
    frame.attrs["constants_version"] = constants.version
    frame.attrs["error_model"] = error_model
    return frame


def morphology_from_apertures(
    apertures: ApertureTable, constants: FiducialConstants = THILKER_TABLE1, **kwargs
) -> pd.DataFrame:
    """:func:`concentration_indices` of a V-band :class:`ApertureTable` (zeropoint cancels).

    The errors use the table's full flux covariance (:meth:`ApertureTable.flux_covariance`:
    nested apertures and one shared sky level), linearised to magnitudes,
    Cov(m_k, m_l) = 1.0857^2 Cov(F_k, F_l) / (F_k F_l); with ``error_model`` given, the
    magnitude-only models of :func:`concentration_indices` are used instead.
    """
    mag, mag_err = flux_to_vega_mag(apertures.flux, apertures.flux_err, 0.0)
    if "error_model" in kwargs or apertures.flux_cov is None:
        return concentration_indices(mag, mag_err, constants, apertures.radii_px, **kwargs)
    chunk = int(kwargs.pop("chunk_size", 65536))
    parts = []
    for i in range(0, len(mag), chunk):
        sl = slice(i, i + chunk)
        flux = np.where(apertures.flux[sl] > 0, apertures.flux[sl], np.nan)
        cov = apertures.flux_cov[sl] / (flux[:, :, None] * flux[:, None, :])
        parts.append(
            concentration_indices(
                mag[sl],
                mag_err[sl],
                constants,
                apertures.radii_px,
                mag_cov=_MAG_PER_LN**2 * cov,
                chunk_size=chunk,
                **kwargs,
            )  # fmt: skip
        )
    if not parts:
        return concentration_indices(mag, mag_err, constants, apertures.radii_px, **kwargs)
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs.update(parts[0].attrs)
    return frame


def _spread_positions(
    rng: np.random.Generator, shape: tuple[int, int], n: int, min_sep: float, edge: float
) -> tuple[NDArray, NDArray]:
    """Up to n uniform random positions >= min_sep apart and >= edge from the borders."""
    ny, nx = shape
    if nx - 1 - 2 * edge <= 0 or ny - 1 - 2 * edge <= 0:
        raise ValueError(f"image {shape} too small for an edge margin of {edge} px")
    capacity = (nx - 2 * edge) * (ny - 2 * edge) / (min_sep * min_sep)
    n_draw = int(min(max(4 * n, 64), 4 * capacity + 64))
    x = rng.uniform(edge, nx - 1 - edge, n_draw)
    y = rng.uniform(edge, ny - 1 - edge, n_draw)
    removed = suppress_fainter_neighbours(x, y, rng.random(n_draw), min_sep)
    keep = np.flatnonzero(~removed)[:n]
    return x[keep], y[keep]


def fiducial_constants(
    image: ArrayLike,
    psf=None,
    *,
    exptime_s: float,
    zeropoint_vega: float,
    n_clusters: int = 1000,
    seed: int = 0,
    fwhm_px: float = 2.0,
    eta: float = 3.0,
    mag_range: tuple[float, float] = (19.0, 21.0),
    min_separation_px: float = 20.0,
    edge_px: float = 12.0,
    poisson: bool = True,
    oversample: int = 4,
    radii_px: Sequence[float] = APERTURE_RADII_PX,
    annulus_px: tuple[float, float] = SKY_ANNULUS_PX,
    mask: ArrayLike | None = None,
) -> FiducialConstants:
    """Median CIs of fiducial clusters inserted into the field's V image (Thilker §4.2.1).

    ``n_clusters`` Moffat clusters (pre-PSF ``fwhm_px`` = 2, ``eta`` = 3, convolved with
    ``psf``, a :class:`clustercat.processing.psf.PSFModel`, or only pixel-integrated when
    None) are rendered by :func:`clustercat.processing.profiles.add_profiles` at uniform
    random positions (sub-pixel offsets uniform), at least ``min_separation_px`` apart (so
    one cluster's light stays out of another's 7-8 px sky annulus) and ``edge_px`` from the
    borders, in batches, each batch into a fresh copy of ``image`` (e-/s). Magnitudes are
    uniform in ``mag_range`` (Vega, with ``zeropoint_vega``); the default 19-21 mag keeps
    the noise of each CI well below the constants' precision (S/N of a few hundred in 1000
    s), where the paper's 21,000 clusters span its whole mass grid. With ``poisson`` the
    inserted counts get Poisson noise (exposure ``exptime_s``), as in the paper's §3.3.
    Each cluster is measured at its true position with :func:`measure_apertures` and the
    constant of each pair is the median of its finite CIs.
    """
    from clustercat.processing.profiles import add_profiles

    data = np.asarray(image, dtype=np.float64)
    if n_clusters < 1:
        raise ValueError("n_clusters must be >= 1")
    rng = np.random.default_rng(seed)
    radii = tuple(float(r) for r in radii_px)
    idx = [(_radius_index(radii, a), _radius_index(radii, b)) for a, b in CI_PAIRS]
    cis: list[NDArray] = []
    n_done = 0
    while n_done < n_clusters:
        x, y = _spread_positions(rng, data.shape, n_clusters - n_done, min_separation_px, edge_px)
        if x.size == 0:
            raise ValueError(f"fiducial_constants: no room for clusters in an image {data.shape}")
        mags = rng.uniform(mag_range[0], mag_range[1], x.size)
        flux = 10.0 ** (-0.4 * (mags - zeropoint_vega))
        model = np.zeros_like(data)
        add_profiles(
            model, x, y, flux, np.full(x.size, fwhm_px), np.full(x.size, eta),
            psf=psf, oversample=oversample,
        )  # fmt: skip
        if poisson:
            model = rng.poisson(np.clip(model, 0.0, None) * exptime_s) / exptime_s
        phot = measure_apertures(
            data + model, x, y, exptime_s=exptime_s, radii_px=radii, annulus_px=annulus_px,
            mask=mask,
        )  # fmt: skip
        mag, _ = flux_to_vega_mag(phot.flux, phot.flux_err, zeropoint_vega)
        batch = np.stack([mag[:, i] - mag[:, j] for i, j in idx], axis=1)
        cis.append(batch)
        n_done += x.size
    all_ci = np.concatenate(cis)
    good = np.all(np.isfinite(all_ci), axis=1)
    if good.sum() == 0:
        raise ValueError("fiducial_constants: no inserted cluster could be measured")
    values = tuple(float(v) for v in np.median(all_ci[good], axis=0))
    return FiducialConstants(
        values=values,
        n_clusters=int(good.sum()),
        seed=seed,
        fwhm_px=fwhm_px,
        eta=eta,
        method="fiducial-cluster-median",
        settings={
            "n_requested": n_clusters,
            "mag_range": list(mag_range),
            "zeropoint_vega": zeropoint_vega,
            "exptime_s": exptime_s,
            "poisson": poisson,
            "oversample": oversample,
            "min_separation_px": min_separation_px,
            "edge_px": edge_px,
            "psf": psf_label(psf),
            "image_shape": list(data.shape),
            "sky_annulus_px": list(annulus_px),
        },
    )
