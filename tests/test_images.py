"""Drizzled HST images, pure: header tables, MAST-style FITS writing/reading, zeropoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from clustercat.processing.hst_metadata import (
    UnknownTargetError,
    available_targets,
    read_encircled_energy,
    read_header_info,
)
from clustercat.processing.images import (
    ImageFormatError,
    file_sha256,
    pixel_grid_offset,
    pyphot_name,
    read_hst_header,
    read_hst_image,
    write_hst_fits,
    zeropoint_ab,
    zeropoint_vega,
)
from clustercat.schema.config import data_dir

METADATA = data_dir() / "phangs-metadata"
TARGETS = available_targets(METADATA) if METADATA.is_dir() else []

#: The spec's tolerances (mag). AB is met by construction (worst 5e-5 over all targets).
AB_TOLERANCE = 0.01
#: Vega: the tables give one zpVEGA per filter and camera, whatever the image's PHOTFLAM
#: (test_table_vega_zeropoint_is_one_constant_per_filter), while PHOTFLAM moved by up to
#: 0.043 mag between the calibrations of the 2003-2021 images; so no PHOTFLAM-based Vega
#: zeropoint can be within 0.03 of every row. 0.06 is the smallest round bound that holds
#: over all targets with pyphot's curves and the CALSPEC mod_003 Vega (worst measured 0.055;
#: docs/images.md); the issue's NGC 628-c acceptance holds at 0.03 (worst 0.021).
VEGA_TOLERANCE = 0.06
NGC628C_VEGA_TOLERANCE = 0.03
#: The five bands of the papers and the other broad/medium filters of the tables. F657N is
#: left out of the Vega check (its zpVEGA is the F547M value, a copy error in the table) and
#: F350LP (long-pass: pyphot's curve differs from the real UVIS response, 0.058 mag).
VEGA_CHECKED = {"F275W", "F336W", "F435W", "F438W", "F555W", "F606W", "F814W", "F547M",
                "F550M", "F658N"}  # fmt: skip


def needs_metadata() -> None:
    if not METADATA.is_dir():
        from conftest import skip_or_fail

        skip_or_fail(f"shared data not found at {METADATA} (set CLUSTERCAT_DATA)")


def tan_wcs(n: int = 32, crval=(24.17396, 15.78367), scale_arcsec: float = 0.04) -> WCS:  # noqa: ANN001
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    wcs.wcs.cd = np.array([[-1.0, 0.0], [0.0, 1.0]]) * scale_arcsec / 3600.0
    return wcs


def write_band(path: Path, row, *, n: int = 16, layout: str = "sci", **kw) -> Path:  # noqa: ANN001
    data = kw.pop("data", np.full((n, n), 2.0))
    return write_hst_fits(
        path, data, kw.pop("wcs", tan_wcs(n)), filter_name=row.filter,
        instrument=row.instrument, photflam=row.photflam, photplam=row.photplam,
        exptime_s=row.exptime_s, layout=layout, **kw,
    )  # fmt: skip


# --- header tables ----------------------------------------------------------------------------


def test_header_info_of_ngc628c() -> None:
    needs_metadata()
    t = read_header_info("ngc628c")
    assert list(t["filter"]) == ["F275W", "F336W", "F435W", "F555W", "F814W"]
    assert list(t["instrument"]) == ["WFC3/UVIS"] * 2 + ["ACS/WFC"] * 3
    assert list(t["band"]) == ["NUV", "U", "B", "V", "I"]
    assert list(t["exptime_s"]) == [2481.0, 2361.0, 1358.0, 858.0, 922.0]
    assert list(t["n_exposures"]) == [3, 3, 2, 2, 2]
    assert t.loc[2, "photflam"] == pytest.approx(3.10116e-19, rel=1e-9)
    assert t.loc[0, "zp_vega"] == pytest.approx(22.6405)
    assert np.isnan(t.loc[3, "photfnu"])  # 0 in the file: ACS headers carry no PHOTFNU
    assert str(t.loc[0, "date"].date()) == "2013-10-15"
    # spellings of the target; the data folder or the metadata folder
    assert read_header_info("NGC 628C", data_dir()).equals(t)
    assert read_header_info("ngc_628c", METADATA).equals(t)


def test_header_info_unknown_target_lists_the_available_ones() -> None:
    needs_metadata()
    with pytest.raises(UnknownTargetError, match=r"ngc9999.*ngc1566.*ngc628c"):
        read_header_info("ngc9999")
    assert len(TARGETS) == 39


def test_header_info_without_photfnu_column() -> None:
    needs_metadata()
    t = read_header_info("ngc1317")  # the one real table without a PHOTFNU column
    assert t["photfnu"].isna().all() and list(t["band"]) == ["NUV", "U", "B", "V", "I"]
    assert t.loc[4, "photflam"] == pytest.approx(1.47727e-19)


def test_encircled_energy_tables() -> None:
    needs_metadata()
    ee = read_encircled_energy("uvis1")
    assert list(ee.columns) == ["filter", "wavelength_aa", "radius_arcsec", "fraction"]
    assert ee["filter"].nunique() == 42 and "FFFFF" not in set(ee["filter"])
    f275 = ee[ee["filter"] == "F275W"].set_index("radius_arcsec")["fraction"]
    assert f275[0.04] == pytest.approx(0.173) and f275[6.0] == 1.0
    assert f275.is_monotonic_increasing
    uvis2 = read_encircled_energy("UVIS2")
    assert not uvis2["fraction"].equals(ee["fraction"])
    with pytest.raises(ValueError, match="uvis3"):
        read_encircled_energy("uvis3")


# --- writing and reading ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["sci", "primary"])
def test_written_files_are_laid_out_as_mast_delivers_them(tmp_path: Path, layout: str) -> None:
    data = np.arange(12 * 10, dtype=float).reshape(12, 10)
    acs = write_hst_fits(
        tmp_path / "acs.fits", data, tan_wcs(), filter_name="F435W", instrument="ACS/WFC",
        photflam=3.10116e-19, photplam=4327.25, exptime_s=1358.0, layout=layout,
    )  # fmt: skip
    wfc3 = write_hst_fits(
        tmp_path / "wfc3.fits", data, tan_wcs(), filter_name="F275W", instrument="WFC3/UVIS",
        photflam=3.30597e-18, photplam=2706.95, exptime_s=2481.0, layout=layout,
    )  # fmt: skip
    with fits.open(acs) as hdus:
        primary = hdus[0].header
        science = hdus[1].header if layout == "sci" else primary
        assert (primary["TELESCOP"], primary["INSTRUME"], primary["DETECTOR"]) == (
            "HST", "ACS", "WFC"
        )  # fmt: skip
        assert (primary["FILTER1"], primary["FILTER2"]) == ("CLEAR1L", "F435W")
        assert primary["EXPTIME"] == 1358.0
        assert (science["BUNIT"], science["PHOTZPT"], science["PHOTPLAM"]) == (
            "ELECTRONS/S", -21.1, 4327.25
        )  # fmt: skip
        assert "CD1_1" in science and "PC1_1" not in science and "DATE" not in science
        if layout == "sci":
            assert len(hdus) == 2 and hdus[0].data is None and hdus[1].name == "SCI"
            assert "PHOTFLAM" not in primary
        assert hdus[-1].data.dtype == np.dtype(">f4")
    assert fits.getheader(wfc3, 0)["FILTER"] == "F275W"
    # deterministic: the same inputs give the same bytes
    sha = file_sha256(acs)
    write_hst_fits(
        tmp_path / "acs.fits", data, tan_wcs(), filter_name="F435W", instrument="ACS/WFC",
        photflam=3.10116e-19, photplam=4327.25, exptime_s=1358.0, layout=layout,
    )  # fmt: skip
    assert file_sha256(acs) == sha
    image = read_hst_image(acs)
    assert image.hdu == (1 if layout == "sci" else 0)
    assert image.data.dtype == np.float64 and np.array_equal(image.data, data)
    assert image.shape == (12, 10) and image.sha256 == sha
    assert image.pixel_scale_arcsec == pytest.approx(0.04, rel=1e-9)


def test_acs_filter_on_wheel_one(tmp_path: Path) -> None:
    path = write_hst_fits(
        tmp_path / "f555w.fits", np.ones((8, 8)), tan_wcs(8), filter_name="F555W",
        instrument="ACS/WFC", photflam=1.94305e-19, photplam=5360.17, exptime_s=858.0,
    )  # fmt: skip
    header = fits.getheader(path, 0)
    assert (header["FILTER1"], header["FILTER2"]) == ("F555W", "CLEAR2L")
    assert read_hst_header(path).filter_name == "F555W"


def test_ngc628c_five_bands_register_with_the_table_zeropoints(tmp_path: Path) -> None:
    """Acceptance (issue 10): the five NGC 628-c bands, real header values, both layouts."""
    needs_metadata()
    table = read_header_info("ngc628c")
    for layout in ("sci", "primary"):
        for row in table.itertuples():
            image = read_hst_image(write_band(tmp_path / f"{layout}_{row.filter}.fits", row,
                                              layout=layout))  # fmt: skip
            assert (image.filter_name, image.instrument) == (row.filter, row.instrument)
            assert image.exptime_s == row.exptime_s
            assert abs(image.zeropoint_ab - row.zp_ab) < AB_TOLERANCE
            assert abs(image.zeropoint_vega - row.zp_vega) < NGC628C_VEGA_TOLERANCE
    # the measured differences (mag), pinned: a change of curve or Vega spectrum shows here
    vega = [zeropoint_vega(r.photflam, r.photplam, pyphot_name(r.filter, r.instrument))
            for r in table.itertuples()]  # fmt: skip
    assert np.allclose(
        np.array(vega) - table["zp_vega"], [-0.0200, -0.0167, 0.0210, 0.0107, -0.0059], atol=5e-4
    )


@pytest.mark.parametrize("target", TARGETS or ["(no shared data)"])
def test_zeropoints_of_every_phangs_target(tmp_path: Path, target: str) -> None:
    needs_metadata()
    for row in read_header_info(target).itertuples():
        info = read_hst_header(write_band(tmp_path / f"{row.filter}.fits", row))
        assert (info.filter_name, info.instrument) == (row.filter, row.instrument)
        assert abs(info.zeropoint_ab - row.zp_ab) < AB_TOLERANCE, row.filter
        if row.filter in VEGA_CHECKED:
            assert abs(info.zeropoint_vega - row.zp_vega) < VEGA_TOLERANCE, row.filter


def test_table_vega_zeropoint_is_one_constant_per_filter() -> None:
    """Why the Vega tolerance over all targets is 0.06: zpVEGA ignores the per-image PHOTFLAM."""
    needs_metadata()
    import pandas as pd

    rows = pd.concat([read_header_info(t) for t in TARGETS])
    per_filter = rows.groupby(["filter", "instrument"])
    assert (per_filter["zp_vega"].nunique() == 1).all()
    spread = per_filter["photflam"].agg(lambda f: 2.5 * np.log10(f.max() / f.min()))
    assert spread[("F438W", "WFC3/UVIS")] == pytest.approx(0.0438, abs=5e-4)
    # ... while zpAB follows PHOTFLAM row by row
    ab = -2.5 * np.log10(rows["photflam"]) - 5 * np.log10(rows["photplam"]) - 2.408
    assert np.abs(ab - rows["zp_ab"]).max() < 1e-4


def test_zeropoint_formulae() -> None:
    # ZP_AB = ST zeropoint - 5 log10(pivot) + 18.692; a flat f_lambda at 5000 A
    assert zeropoint_ab(1e-19, 5000.0) == pytest.approx(47.5 - 5 * np.log10(5000) - 2.408)
    # twice the inverse sensitivity, 0.753 mag brighter zeropoint in both systems
    curve = "HST_WFC3_F555W"
    assert zeropoint_vega(1e-19, 5308.0, curve) - zeropoint_vega(2e-19, 5308.0, curve) == (
        pytest.approx(2.5 * np.log10(2))
    )
    with pytest.raises(ValueError, match="positive"):
        zeropoint_ab(0.0, 5000.0)
    with pytest.raises(KeyError, match="HST_WFC3_F999W"):
        zeropoint_vega(1e-19, 5000.0, "HST_WFC3_F999W")


# --- units and bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("bunit", ["ELECTRONS/S", "electron/s", "e-/s", "electrons s-1"])
def test_count_rate_spellings(tmp_path: Path, bunit: str) -> None:
    path = write_hst_fits(
        tmp_path / "rate.fits", np.full((8, 8), 3.0), tan_wcs(8), filter_name="F336W",
        instrument="WFC3/UVIS", photflam=1.31683e-18, photplam=3354.87, exptime_s=100.0,
        bunit=bunit,
    )  # fmt: skip
    image = read_hst_image(path)
    assert image.bunit == bunit and np.all(image.data == 3.0)


def test_counts_are_divided_by_the_exposure_time(tmp_path: Path) -> None:
    path = write_hst_fits(
        tmp_path / "counts.fits", np.full((8, 8), 500.0), tan_wcs(8), filter_name="F336W",
        instrument="WFC3/UVIS", photflam=1.31683e-18, photplam=3354.87, exptime_s=250.0,
        bunit="ELECTRONS",
    )  # fmt: skip
    assert np.allclose(read_hst_image(path).data, 2.0)


def test_photometric_keywords_from_the_primary_of_old_drz_files(tmp_path: Path) -> None:
    path = write_hst_fits(
        tmp_path / "drz.fits", np.ones((8, 8)), tan_wcs(8), filter_name="F814W",
        instrument="ACS/WFC", photflam=6.95905e-20, photplam=8061.10, exptime_s=922.0,
        extra_header={"PHOTFLAM": None, "PHOTPLAM": None},
    )  # fmt: skip
    with fits.open(path, mode="update") as hdus:
        hdus[0].header["PHOTFLAM"], hdus[0].header["PHOTPLAM"] = 6.95905e-20, 8061.10
    info = read_hst_header(path)
    assert info.zeropoint_ab == pytest.approx(25.9537, abs=1e-3)


def _broken(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A bad file and the words its error message must contain."""
    kw = dict(filter_name="F555W", instrument="ACS/WFC", photflam=1.94305e-19,
              photplam=5360.17, exptime_s=858.0)  # fmt: skip
    path = tmp_path / f"{case}.fits"
    data = np.ones((8, 8))
    if case == "not-fits":
        path.write_text("SIMPLE = this is a text file\n")
        return path, "not a FITS file"
    if case == "missing-photflam":
        write_hst_fits(path, data, tan_wcs(8), extra_header={"PHOTFLAM": None}, **kw)
        return path, "[HDU 1] keyword PHOTFLAM: missing"
    if case == "all-nan":
        write_hst_fits(path, np.full((8, 8), np.nan), tan_wcs(8), **kw)
        return path, "no finite pixel"
    if case == "unknown-bunit":
        write_hst_fits(path, data, tan_wcs(8), bunit="MJy/sr", **kw)
        return path, "keyword BUNIT: unit 'MJy/sr'"
    if case == "not-hst":
        write_hst_fits(path, data, tan_wcs(8), extra_header={"INSTRUME": None}, **kw)
        return path, "keyword INSTRUME: missing: not an HST image"
    if case == "no-filter":
        write_hst_fits(path, data, tan_wcs(8),
                       extra_header={"FILTER1": None, "FILTER2": None}, **kw)  # fmt: skip
        return path, "keyword FILTER: no filter"
    raise AssertionError(case)


BAD_CASES = ["not-fits", "missing-photflam", "all-nan", "unknown-bunit", "not-hst", "no-filter"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_files_are_refused_with_file_and_keyword(tmp_path: Path, case: str) -> None:
    path, words = _broken(tmp_path, case)
    for read in (read_hst_header, read_hst_image):
        with pytest.raises(ImageFormatError) as err:
            read(path)
        assert str(path) in str(err.value) and words in str(err.value)


def test_pixel_grid_offset() -> None:
    a = tan_wcs(64)
    assert pixel_grid_offset(a, (64, 64), tan_wcs(64), (64, 64)) < 1e-6
    b = tan_wcs(64)
    b.wcs.crpix = [b.wcs.crpix[0] + 0.02, b.wcs.crpix[1]]
    assert pixel_grid_offset(a, (64, 64), b, (64, 64)) == pytest.approx(0.02, rel=1e-3)
    c = tan_wcs(64, scale_arcsec=0.04 * 1.001)  # 0.1 % scale: 0.03 pix at the corners
    assert pixel_grid_offset(a, (64, 64), c, (64, 64)) == pytest.approx(
        np.hypot(31.5, 31.5) * (1 - 1 / 1.001), rel=1e-3
    )
    assert pixel_grid_offset(a, (64, 64), a, (64, 65)) == float("inf")


def test_mod003_vega_fits_the_tables_better_than_pyphots_default() -> None:
    """The choice of Vega spectrum (processing.images.VEGA_FLAVOR), measured on all tables."""
    needs_metadata()
    import pandas as pd
    from clustercat.processing.images import VEGA_FLAVOR, vega_ab_magnitude, zeropoint_ab

    rows = pd.concat([read_header_info(t) for t in TARGETS])
    rows = rows[rows["filter"].isin(VEGA_CHECKED)]

    def beyond_003(flavor: str) -> int:
        zp = [zeropoint_ab(r.photflam, r.photplam)
              - vega_ab_magnitude(pyphot_name(r.filter, r.instrument), flavor)
              for r in rows.itertuples()]  # fmt: skip
        return int(np.sum(np.abs(np.array(zp) - rows["zp_vega"].to_numpy()) > 0.03))

    assert VEGA_FLAVOR == "mod_003"
    assert len(rows) == 202
    assert beyond_003("mod_003") == 13
    assert beyond_003("legacy") == 42
