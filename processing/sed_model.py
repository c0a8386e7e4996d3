"""Model magnitudes of a stored SED fit, to draw against a source's measured photometry.

Pure science, no database: the source page of the dashboard reads a fit (``sed_results``:
log age, log mass, E(B-V), SED method) and the method's SSP grid (``ssp_db.load_grid(...,
with_sed=True)`` in the source's own filters, with the stand-ins the method allowed), and
calls :func:`model_magnitudes`. The numbers are those the χ² fit compared with the data
(:mod:`clustercat.processing.sed_fit`, Whitmore et al. 2021 §7; Adamo et al. 2017 for LEGUS):

    m_X = M_X(age) + A_X(age, E(B-V)) - 2.5 log10(M / M☉) + μ,

with M_X the grid's absolute Vega magnitude of 1 M☉ (mass formed, or living for a ``living``
grid), A_X the effective CCM89 extinction integrated through filter X on the SSP's spectrum
(:func:`clustercat.processing.extinction.reddened_magnitudes`, the same integral as
:func:`clustercat.processing.sed_fit.build_fit_grid`) and μ = 5 log10(d / 10 pc).

At an age node of the grid (every fit stored by ``clustercat sed`` is a node: best value =
minimum-χ² node) the result is exactly the fitting grid's magnitude, so the squared residuals
(m - model)/max(σ, floor) sum to the stored χ². Between nodes (fits imported from a catalogue,
e.g. LEGUS) the magnitudes are interpolated linearly in log age between the two reddened
neighbour nodes, as :func:`clustercat.processing.injection.cluster_magnitudes` does.

Only CCM89 extinction is modelled. A method fitted with another law (e.g. a starburst law,
Calzetti et al. 2000) gets CCM89 model magnitudes, which are then an approximation:
:func:`extinction_law_is_modelled` tells which is which, for a caption. LEGUS's ``mwext``
fits are Milky-Way (CCM89) fits and are modelled exactly.
"""

from __future__ import annotations

import re

import astropy.units as u
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .extinction import R_V_DEFAULT, reddened_magnitudes
from .sed_fit import distance_modulus
from .ssp import SSPGrid, pyphot_filter

__all__ = [
    "AGE_TOLERANCE_DEX",
    "extinction_law_is_modelled",
    "model_magnitude_array",
    "model_magnitudes",
]

#: Log ages this close (dex) outside the grid's ends are taken at the end node: LEGUS's
#: youngest fits are log age 6.000, the first Yggdrasil age of the shared file is 6.004.
AGE_TOLERANCE_DEX = 0.01


def extinction_law_is_modelled(extinction_law: str | None) -> bool:
    """True when a method's ``extinction_law`` text names CCM89 (Cardelli et al. 1989).

    ``clustercat`` fits store ``"CCM89 R_V=3.1"``, PHANGS-HST ``"Milky-Way type (Cardelli et
    al. 1989), R_V = 3.1"``, LEGUS ``"Milky Way (Cardelli et al. 1989), R_V = 3.1"``; a
    starburst (Calzetti et al. 2000) law and an unknown law (None) are not modelled exactly by
    :func:`model_magnitudes`.
    """
    if not extinction_law:
        return False
    return bool(re.search(r"ccm\s*89|cardelli", extinction_law, flags=re.IGNORECASE))


def _vega_with_sed(grid: SSPGrid) -> SSPGrid:
    g = grid.to_system("Vega")
    if g.sed_wavelength is None or g.sed_flux is None:
        raise ValueError(
            f"the {g.model} grid carries no SED: load it with ssp_db.load_grid(..., "
            "with_sed=True) (the effective extinction needs the SSP spectrum)"
        )
    return g


def model_magnitude_array(
    grid: SSPGrid,
    log_age: ArrayLike,
    log_mass: ArrayLike,
    ebv: ArrayLike,
    distance_modulus_mag: ArrayLike,
    r_v: float = R_V_DEFAULT,
) -> NDArray[np.float64]:
    """Apparent Vega magnitudes (n_fit, n_filter) of fits, in the grid's filter order.

    ``log_age`` log10(yr), ``log_mass`` log10(M☉), ``ebv`` E(B-V) in mag and
    ``distance_modulus_mag`` μ in mag, broadcast to one value per fit. Exact at the grid's
    age nodes, linear in log age between them; NaN inputs give NaN rows; an age up to
    :data:`AGE_TOLERANCE_DEX` outside the grid is taken at the end node, one farther out
    raises ``ValueError``. See the module docstring for the formula.
    """
    g = _vega_with_sed(grid)
    la, lm, e, mu = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (log_age, log_mass, ebv, distance_modulus_mag)
        )
    )
    out = np.full((la.size, len(g.filters)), np.nan)
    ok = np.isfinite(la) & np.isfinite(lm) & np.isfinite(e) & np.isfinite(mu)
    if not ok.any():
        return out
    nodes = g.log_age
    if np.any(la[ok] < nodes[0] - AGE_TOLERANCE_DEX) or np.any(
        la[ok] > nodes[-1] + AGE_TOLERANCE_DEX
    ):
        raise ValueError(
            f"log age outside the {g.model} grid ({nodes[0]:.3f}-{nodes[-1]:.3f} log yr)"
        )
    if np.any(e[ok] < 0):
        raise ValueError("E(B-V) must be >= 0")
    a = np.clip(la[ok], nodes[0], nodes[-1])
    if nodes.size < 2:
        raise ValueError("the grid needs at least two ages")
    i0 = np.clip(np.searchsorted(nodes, a, side="right") - 1, 0, nodes.size - 2)
    w = (a - nodes[i0]) / (nodes[i0 + 1] - nodes[i0])  # exactly 0 or 1 at a node
    both = reddened_magnitudes(g, np.concatenate([i0, i0 + 1]), np.concatenate([e[ok], e[ok]]), r_v)
    m0, m1 = both[: a.size], both[a.size :]
    m = (1.0 - w)[:, None] * m0 + w[:, None] * m1  # exact at a node: 1 x m0 + 0 x m1
    out[ok] = m - 2.5 * lm[ok][:, None] + mu[ok][:, None]
    return out


def model_magnitudes(
    grid: SSPGrid,
    log_age: float,
    log_mass: float,
    ebv: float,
    *,
    distance: u.Quantity | None = None,
    distance_modulus_mag: float | None = None,
    r_v: float = R_V_DEFAULT,
) -> pd.DataFrame:
    """Model magnitudes per filter of one stored best fit, for the source page's SED plot.

    Parameters
    ----------
    grid : the method's SSP grid with its SED (``ssp_db.load_grid(conn, config["ssp_grid"],
        filters, stand_ins=config["f435w_for_f438w"], with_sed=True)`` for a ``clustercat``
        method), any magnitude system (converted to Vega), filters in the order to plot.
    log_age, log_mass, ebv : the fit: log10(age/yr), log10(M/M☉) in the grid's mass
        definition, E(B-V) in mag (``sed_results``: ``log_age``, ``log_mass``, ``ebv``).
    distance : a length Quantity (``galaxy.distance_mpc * u.Mpc``), or
    distance_modulus_mag : μ in mag. Give exactly one.
    r_v : R_V of the CCM89 law (the method's ``r_v``, 3.1).

    Returns
    -------
    DataFrame, one row per filter: ``filter``, ``instrument``, ``pivot_wavelength_aa`` (Å,
    pyphot), ``mag_model`` (apparent Vega mag), ``abs_mag_model`` (absolute Vega mag, μ = 0).
    Units in ``attrs["units"]``.
    """
    if (distance is None) == (distance_modulus_mag is None):
        raise ValueError("give exactly one of distance and distance_modulus_mag")
    mu = float(distance_modulus(distance)) if distance is not None else float(distance_modulus_mag)
    g = _vega_with_sed(grid)
    mag = model_magnitude_array(g, log_age, log_mass, ebv, mu, r_v)[0]
    pivots = [u.Quantity(pyphot_filter(fid).lpivot, u.AA).to_value(u.AA) for fid in g.filter_ids]
    frame = pd.DataFrame(
        {
            "filter": list(g.filters),
            "instrument": list(g.instruments),
            "pivot_wavelength_aa": pivots,
            "mag_model": mag,
            "abs_mag_model": mag - mu,
        }
    )
    frame.attrs["units"] = {
        "pivot_wavelength_aa": "Angstrom",
        "mag_model": "mag (Vega)",
        "abs_mag_model": "mag (Vega)",
    }
    frame.attrs["ssp_model"] = g.model
    frame.attrs["mass_definition"] = g.mass_definition
    return frame
