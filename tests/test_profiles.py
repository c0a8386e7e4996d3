"""EFF/Moffat cluster profiles: Thilker et al. 2022 formulae and the renderer's accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from clustercat.processing import profiles as P
from photutils.aperture import CircularAperture, aperture_photometry


def _brute_force(shape, x0, y0, fwhm, eta, radius, sub=40):  # noqa: ANN001, ANN202
    """Pixel-integrated truncated Moffat by direct sub-sampling (sub x sub per pixel)."""
    a = P.moffat_a_from_fwhm(fwhm, eta)
    u = (np.arange(sub) + 0.5) / sub - 0.5
    ix, iy = int(np.floor(x0 + 0.5)), int(np.floor(y0 + 0.5))
    out = np.zeros(shape)
    for j in range(iy - radius, iy + radius + 1):
        yy = j + u[:, None] - y0
        for i in range(ix - radius, ix + radius + 1):
            xx = i + u[None, :] - x0
            r2 = xx**2 + yy**2
            v = (1 + r2 / a**2) ** (-eta)
            v[r2 > (radius + 0.5) ** 2] = 0
            out[j, i] = v.sum()
    return out / out.sum()


def test_thilker_fiducial_numbers() -> None:
    # Thilker et al. 2022 extract §3.7: fiducial FWHM 2 px, eta 3 -> a = 1.961, r_eff = 1.262 px
    assert P.moffat_a_from_fwhm(2.0, 3.0) == pytest.approx(1.961, abs=5e-4)
    assert P.moffat_reff_px(2.0, 3.0) == pytest.approx(1.262, abs=5e-4)
    # eta -> large: Gaussian limit, r_eff -> FWHM/2 (sigma*sqrt(2 ln 2) = FWHM/2)
    assert P.moffat_reff_px(2.0, 1e4) == pytest.approx(1.0, rel=1e-3)
    # eta <= 1: r_eff undefined (infinite total flux)
    reff = P.moffat_reff_px([2.0, 2.0, 2.0], [0.75, 1.0, 1.25])
    assert np.isnan(reff[:2]).all() and reff[2] > 0
    with pytest.raises(ValueError):
        P.moffat_a_from_fwhm(2.0, 0.0)


def test_half_light_radius_of_a_rendered_profile_is_reff() -> None:
    # FWHM 8 px: pixelisation (box integration, partial-pixel apertures) shifts r_half +0.6 %
    fwhm, eta = 8.0, 3.0
    image = P.render_profile((101, 101), 50.0, 50.0, 1.0, fwhm, eta, stamp_radius_px=40)
    radii = np.linspace(4.0, 6.0, 201)
    ee = np.array(
        [aperture_photometry(image, CircularAperture((50, 50), r))["aperture_sum"][0]
         for r in radii]
    )  # fmt: skip
    r_half = np.interp(0.5, ee, radii)
    assert r_half == pytest.approx(P.moffat_reff_px(fwhm, eta), rel=0.01)  # 5.049 px


@pytest.mark.parametrize(
    ("fwhm", "eta", "tolerance"), [(0.5, 3.0, 0.005), (1.0, 1.5, 0.005), (2.0, 3.0, 0.005)]
)
def test_pixel_integration_matches_brute_force(fwhm: float, eta: float, tolerance: float) -> None:
    radius = 12
    shape = (35, 35)
    x0, y0 = 17.3, 16.85
    reference = _brute_force(shape, x0, y0, fwhm, eta, radius)
    image = P.render_profile(shape, x0, y0, 1.0, fwhm, eta)
    assert np.abs(image - reference).max() / reference.max() < tolerance


@pytest.mark.parametrize("eta", [0.75, 1.0, 3.0])
def test_stamp_holds_the_stated_flux_and_centroid(eta: float) -> None:
    image = P.render_profile((80, 80), 40.37, 38.81, 1234.5, 3.0, eta)
    assert image.sum() == pytest.approx(1234.5, rel=1e-9)
    yy, xx = np.mgrid[:80, :80]
    assert (image * xx).sum() / image.sum() == pytest.approx(40.37, abs=0.005)
    assert (image * yy).sum() / image.sum() == pytest.approx(38.81, abs=0.005)
    # eta <= 1 is truncated inside the default stamp radius R = max(12, 4 FWHM) = 12 px
    rows, cols = np.nonzero(image)
    assert np.abs(rows - 39).max() <= 12 and np.abs(cols - 40).max() <= 12
    assert image[39, 40 - 12] == 0.0  # that pixel starts 11.87 px away; the cut is at 11.5


def test_point_source_without_psf_is_one_pixel() -> None:
    image = P.render_profile((9, 9), 4.3, 3.8, 10.0, 0.0, 3.0)
    assert image[4, 4] == pytest.approx(10.0) and image.sum() == pytest.approx(10.0)


def test_elliptical_profile_is_elongated_along_theta() -> None:
    image = P.render_profile((61, 61), 30.0, 30.0, 1.0, 6.0, 2.0, axis_ratio=0.5, theta_deg=90)
    yy, xx = np.mgrid[:61, :61]
    var_x = (image * (xx - 30) ** 2).sum()
    var_y = (image * (yy - 30) ** 2).sum()
    assert var_y / var_x > 2.5  # major axis along +y


def test_many_sources_at_once_equal_one_by_one() -> None:
    rng = np.random.default_rng(7)
    n = 60
    x, y = rng.uniform(-5, 133, n), rng.uniform(-5, 133, n)  # some off the edges
    flux = rng.uniform(1, 50, n)
    fwhm = rng.choice([0.0, 1.0, 2.5], n)
    eta = rng.choice([1.5, 3.0], n)
    together = np.zeros((128, 128))
    P.add_profiles(together, x, y, flux, fwhm, eta)
    separate = np.zeros((128, 128))
    for k in range(n):
        P.add_profiles(separate, x[k : k + 1], y[k : k + 1], flux[k : k + 1], fwhm[k], eta[k])
    np.testing.assert_allclose(together, separate, rtol=1e-10, atol=1e-12)
    inside = (np.floor(x + 0.5) >= 12) & (np.floor(x + 0.5) < 116)
    inside &= (np.floor(y + 0.5) >= 12) & (np.floor(y + 0.5) < 116)
    assert together.sum() < flux.sum()  # sources near the edges lose light off the image
    assert together.sum() >= flux[inside].sum()


def test_bad_input_is_refused() -> None:
    image = np.zeros((10, 10))
    with pytest.raises(ValueError, match="fwhm_px"):
        P.add_profiles(image, [1.0], [1.0], [1.0], [-1.0], [3.0])
    with pytest.raises(ValueError, match="non-finite"):
        P.add_profiles(image, [np.nan], [1.0], [1.0], [1.0], [3.0])
    with pytest.raises(ValueError, match="shape"):
        P.add_profiles(image, [1.0, 2.0], [1.0], [1.0], [1.0], [3.0])
    assert not image.any()
