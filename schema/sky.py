"""Pure sky rules shared by the cone search (schema) and the cross-match (processing).

Arrays in, arrays out; no database code. Each rule lives here once:

* **reading angles from user input**: :func:`read_quantity` (strings such as ``0.1arcsec``,
  ``1e-5deg``, ``0.1"``, ``2px``), :func:`parse_radius` (a search or match radius: an angle,
  or pixels with a pixel scale; a bare number is refused), :func:`parse_pixel_scale` and
  :func:`parse_offset`;
* **positions as unit vectors**: :func:`unit_vectors`;
* **the angular separation**: :func:`separation_rad`, ``atan2(|a x b|, a . b)`` of unit
  vectors. This is Vincenty's formula (:func:`astropy.coordinates.angular_separation`)
  written in Cartesian form: accurate at every separation, with no loss of precision near
  0 deg (unlike ``arccos(a . b)``) or near 180 deg (unlike the haversine).
  :func:`angular_distance_deg` (the cone search) and
  :func:`clustercat.processing.crossmatch.pair_separation` (the cross-match) are both
  defined by it.

``clustercat.schema`` must not import ``clustercat.processing``; processing imports these.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "angular_distance_deg",
    "as_degrees",
    "parse_offset",
    "parse_pixel_scale",
    "parse_radius",
    "read_quantity",
    "separation_rad",
    "unit_vectors",
]


# --- reading user input (the command-line boundary) ------------------------------------------


def read_quantity(value: str | float | u.Quantity, default_unit: u.UnitBase | None = None):
    """A Quantity from user input: ``"0.1arcsec"``, ``'0.1"'``, ``"0.1″"``, ``"2px"``, ``5``.

    ``"``/``″`` are arcsec; ``px``/``pixel``/``pixels`` are ``pix``. A bare number (or a
    string without a unit) takes ``default_unit``; with no default it stays dimensionless,
    for the caller to refuse. Raises ``ValueError`` when the text is not a quantity.
    """
    if isinstance(value, u.Quantity):
        return value
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        q = u.Quantity(float(value))
    elif isinstance(value, str):
        s = value.strip().replace('"', "arcsec").replace("″", "arcsec")
        s = s.replace("pixels", "pix").replace("pixel", "pix").replace("px", "pix")
        try:
            q = u.Quantity(s)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot read {value!r} as a quantity with a unit") from exc
    else:
        raise TypeError(f"cannot read {value!r} as a quantity: give a string or a Quantity")
    if q.unit == u.dimensionless_unscaled and default_unit is not None:
        q = q.value * default_unit
    return q


def parse_pixel_scale(value: str | float | u.Quantity) -> u.Quantity:
    """A pixel scale in arcsec/pix: ``0.0396`` (taken as arcsec/pix), ``"0.0396arcsec/pix"``,
    ``0.0396 * u.arcsec`` (an angle is taken per pixel)."""
    q = read_quantity(value, u.arcsec / u.pix)
    if q.unit.is_equivalent(u.arcsec):
        q = q / u.pix
    if not q.unit.is_equivalent(u.arcsec / u.pix):
        raise ValueError(f"a pixel scale is an angle per pixel, not {q.unit}")
    if not q.isscalar or not np.isfinite(q.value) or q.value <= 0:
        raise ValueError("the pixel scale must be one finite, positive angle per pixel")
    return q.to(u.arcsec / u.pix)


def parse_radius(
    radius: str | u.Quantity, pixel_scale: str | float | u.Quantity | None = None
) -> u.Quantity:
    """A radius as an angle in arcsec: the one radius rule of the cone search and cross-match.

    ``radius``: a string with a unit (``"1arcmin"``, ``"30 arcsec"``, ``'0.1"'``,
    ``"1e-5deg"``, ``"2px"``) or a Quantity. A bare number is refused: the unit must be
    explicit (DESIGN.md §6). A radius in pixels (``pix``/``px``) needs ``pixel_scale``
    (angle per pixel; see :func:`parse_pixel_scale`). The radius must be one finite angle in
    [0, 180] deg; callers that need it positive (the cross-match) say so themselves.

    Errors: ``TypeError`` for a number or other non-string; ``ValueError`` otherwise
    (``astropy.units.UnitConversionError``, a ``ValueError``, for a unit that is neither an
    angle nor pixels).
    """
    if not isinstance(radius, str | u.Quantity):
        raise TypeError(f"radius must be a string with a unit or a Quantity, not {radius!r}")
    try:
        quantity = read_quantity(radius)
    except ValueError as exc:
        raise ValueError(f"cannot read radius {radius!r}: {exc}") from exc
    if quantity.unit == u.dimensionless_unscaled:
        raise ValueError(f"radius {radius!r} has no unit: write e.g. '1arcmin' or '30arcsec'")
    if not quantity.isscalar or not np.isfinite(quantity.value):
        raise ValueError(f"radius {radius!r} must be one finite, non-negative angle")
    if quantity.unit.is_equivalent(u.pix):
        if pixel_scale is None:
            raise ValueError(f"radius {radius!r} is in pixels: it needs a pixel scale")
        quantity = quantity * parse_pixel_scale(pixel_scale)
    if quantity.unit.physical_type != "angle":
        raise u.UnitConversionError(
            f"radius {radius!r} is not an angle or pixels (unit {quantity.unit})"
        )
    if quantity.value < 0:
        raise ValueError(f"radius {radius!r} must be one finite, non-negative angle")
    if quantity > 180 * u.deg:
        raise ValueError(f"radius {radius!r} exceeds 180 deg")
    return quantity.to(u.arcsec)


def parse_offset(value: str | None) -> tuple[u.Quantity, u.Quantity]:
    """``"DRA,DDEC"`` -> (dRA cos(Dec), dDec) in arcsec; bare numbers are arcsec."""
    if value is None or not str(value).strip():
        return 0.0 * u.arcsec, 0.0 * u.arcsec
    parts = [p for p in str(value).split(",") if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"an offset is DRA,DDEC (arcsec), not {value!r}")
    d_ra, d_dec = (read_quantity(p, u.arcsec) for p in parts)
    return d_ra.to(u.arcsec), d_dec.to(u.arcsec)


# --- geometry -----------------------------------------------------------------------------


def as_degrees(value: ArrayLike | u.Quantity) -> NDArray[np.float64]:
    """Angles as a 1-D float array in degrees (Quantity angles, or floats taken as degrees)."""
    if isinstance(value, u.Quantity):
        return np.atleast_1d(value.to_value(u.deg)).astype(float, copy=False)
    return np.atleast_1d(np.asarray(value, dtype=float))


def unit_vectors(ra: ArrayLike | u.Quantity, dec: ArrayLike | u.Quantity) -> NDArray[np.float64]:
    """(n, 3) Cartesian unit vectors of RA/Dec (Quantity angles, or floats in degrees)."""
    ra_rad = np.deg2rad(as_degrees(ra))
    dec_rad = np.deg2rad(as_degrees(dec))
    cos_dec = np.cos(dec_rad)
    ra_rad, cos_dec = np.broadcast_arrays(ra_rad, cos_dec)
    out = np.empty((cos_dec.size, 3))  # written in place: no column_stack copy
    np.multiply(cos_dec, np.cos(ra_rad), out=out[:, 0])
    np.multiply(cos_dec, np.sin(ra_rad), out=out[:, 1])
    np.sin(np.broadcast_to(dec_rad, cos_dec.shape), out=out[:, 2])
    return out


def separation_rad(vec_a: NDArray[np.float64], vec_b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Angular separation (radians) of paired 3-D vectors: ``atan2(|a x b|, a . b)``.

    THE separation formula of ClusterCat. ``vec_a`` and ``vec_b`` are (n, 3) (or one of
    them (3,), broadcast); they need not be normalised. Accurate at all separations: the
    rounding of the unit vectors (~1e-16) gives ~2e-11 arcsec absolute.
    """
    a = np.asarray(vec_a, dtype=float)
    b = np.asarray(vec_b, dtype=float)
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    # |a x b| component by component: np.cross on (n, 3) arrays is ten times slower
    sin_t = np.sqrt((ay * bz - az * by) ** 2 + (az * bx - ax * bz) ** 2 + (ax * by - ay * bx) ** 2)
    cos_t = ax * bx + ay * by + az * bz
    return np.arctan2(sin_t, cos_t)


def angular_distance_deg(
    ra: ArrayLike, dec: ArrayLike, ra0: float, dec0: float
) -> NDArray[np.float64]:
    """Great-circle distance (deg) from (ra0, dec0) to each (ra, dec), all in degrees.

    :func:`separation_rad` of the unit vectors (the cone search's distance and cut).
    """
    centre = unit_vectors(ra0, dec0)[0]
    return np.rad2deg(separation_rad(unit_vectors(ra, dec), centre))
