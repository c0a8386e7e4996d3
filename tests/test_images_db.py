"""The image registry on both backends: register, idempotence, atomicity, bad input, CLI."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.processing.hst_metadata import read_header_info
from clustercat.processing.images import ImageFormatError, write_hst_fits
from clustercat.processing.images_db import (
    ImageChangedError,
    ImageRegistryError,
    MissingBandsError,
    field_images,
    list_images,
    open_image,
    register_images,
)
from clustercat.schema import make_engine, migrate
from conftest import _new_database
from sqlalchemy import Engine, text
from test_images import BAD_CASES, _broken, needs_metadata, tan_wcs

TABLES = ("galaxy", "galaxy_alias", "field", "field_filter", "image")
N = 48  # image side (pix)
_names = itertools.count()


@pytest.fixture(scope="module")
def registry_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database of its own for this module: registering commits, tests must not leak rows."""
    url = _new_database(backend, request, tmp_path_factory.mktemp("images"))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="module")
def registry(registry_url: str) -> Iterator[Engine]:
    engine = make_engine(registry_url)
    yield engine
    engine.dispose()


@pytest.fixture
def field_name() -> str:
    """A fresh field name per test (``ngc628t0``, ``ngc628t1``, ...)."""
    return f"imgfield{next(_names)}"


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def write_ngc628c(folder: Path, tag: str, *, n: int = N, crval=(24.17396, 15.78367)) -> list[Path]:  # noqa: ANN001, E501
    """The five NGC 628-c bands with their real header values, on one pixel grid.

    ``tag`` goes into TARGNAME, so that each test's files have their own sha256.
    """
    needs_metadata()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(628)
    paths = []
    for row in read_header_info("ngc628c").itertuples():
        paths.append(write_hst_fits(
            folder / f"hlsp_legus_hst_{row.filter.lower()}_drc.fits",
            rng.normal(0.0, 0.01, (n, n)), tan_wcs(n, crval=crval), filter_name=row.filter,
            instrument=row.instrument, photflam=row.photflam, photplam=row.photplam,
            exptime_s=row.exptime_s,
            extra_header={"DATE-OBS": str(row.date.date()), "TARGNAME": tag},
        ))  # fmt: skip
    return paths


def test_register_five_bands_then_again(registry: Engine, tmp_path: Path, field_name: str) -> None:
    paths = write_ngc628c(tmp_path, field_name)
    before = counts(registry)
    records = register_images(registry, paths, field=field_name, galaxy="NGC_628")
    assert [r.status for r in records] == ["registered"] * 5
    assert [(r.band, r.filter_name, r.instrument) for r in records] == [
        ("NUV", "F275W", "WFC3/UVIS"), ("U", "F336W", "WFC3/UVIS"), ("B", "F435W", "ACS/WFC"),
        ("V", "F555W", "ACS/WFC"), ("I", "F814W", "ACS/WFC"),
    ]  # fmt: skip
    assert {r.galaxy for r in records} == {"NGC 628"} and {r.field for r in records} == {field_name}
    table = read_header_info("ngc628c")
    assert np.allclose([r.zeropoint_ab for r in records], table["zp_ab"], atol=0.01)
    assert np.allclose([r.zeropoint_vega for r in records], table["zp_vega"], atol=0.045)
    assert [r.exposure_time_s for r in records] == list(table["exptime_s"])
    first = records[0]
    assert (first.naxis1, first.naxis2, first.hdu) == (N, N, 1)
    assert first.pixel_scale_arcsec == pytest.approx(0.04)
    assert first.file_size_bytes == paths[0].stat().st_size and first.bunit == "ELECTRONS/S"
    assert str(first.date_obs) == "2013-10-15" and first.registered_at is not None
    assert first.wcs.wcs.crval.tolist() == pytest.approx([24.17396, 15.78367])
    after = counts(registry)
    assert after["image"] - before["image"] == 5 and after["field"] - before["field"] == 1
    assert after["field_filter"] - before["field_filter"] == 5
    with registry.connect() as conn:
        zps = conn.execute(text(
            "SELECT f.name, ff.zeropoint_ab, ff.zeropoint_vega, ff.exposure_time_s "
            "FROM field_filter ff JOIN filter f ON f.id = ff.filter_id "
            "JOIN field ON field.id = ff.field_id WHERE field.name = :n ORDER BY ff.id"
        ), {"n": field_name}).all()  # fmt: skip
    assert [z[0] for z in zps] == list(table["filter"])
    assert [z[1] for z in zps] == pytest.approx([r.zeropoint_ab for r in records])
    assert [z[3] for z in zps] == list(table["exptime_s"])

    # idempotent: the same files again (also under another spelling of the galaxy)
    again = register_images(registry, paths[::-1], field=field_name, galaxy="ngc0628")
    assert [r.status for r in again] == ["already registered"] * 5
    assert [r.id for r in again] == [r.id for r in records[::-1]]
    assert counts(registry) == after

    # look-ups
    bands = field_images(registry, field_name)
    assert list(bands) == ["NUV", "U", "B", "V", "I"]
    assert bands["V"].filter_name == "F555W"
    assert [r.id for r in list_images(registry, field_name)] == [r.id for r in records]
    image = open_image(bands["B"])
    assert image.filter_name == "F435W" and image.data.shape == (N, N)
    expected = fits.getdata(paths[2], 1).astype(np.float64)
    assert np.array_equal(image.data, expected)


def test_field_images_names_missing_bands(
    registry: Engine, tmp_path: Path, field_name: str
) -> None:
    paths = write_ngc628c(tmp_path, field_name)
    register_images(registry, [paths[0], paths[3]], field=field_name, galaxy="NGC 628")
    assert list(field_images(registry, field_name, bands=("V", "NUV"))) == ["V", "NUV"]
    with pytest.raises(MissingBandsError) as err:
        field_images(registry, field_name)
    assert err.value.present == ("NUV", "V") and err.value.missing == ("U", "B", "I")
    assert field_name in str(err.value) and "U, B, I" in str(err.value)
    # the rest of the field later: one grid, new filters
    more = register_images(registry, paths, field=field_name, galaxy="NGC 628")
    assert [r.status for r in more] == ["already registered", "registered", "registered",
                                        "already registered", "registered"]  # fmt: skip
    assert len(field_images(registry, field_name)) == 5


def test_changed_file_is_refused(registry: Engine, tmp_path: Path, field_name: str) -> None:
    paths = write_ngc628c(tmp_path, field_name)
    (record,) = register_images(registry, paths[:1], field=field_name, galaxy="NGC 628")
    with fits.open(paths[0], mode="update") as hdus:
        hdus[1].data[0, 0] += 1.0
    with pytest.raises(ImageChangedError, match="changed since it was registered"):
        open_image(record)


def _assert_refused(registry: Engine, call, *words: str) -> None:  # noqa: ANN001
    before = counts(registry)
    with pytest.raises((ImageFormatError, ImageRegistryError)) as err:
        call()
    for w in words:
        assert w in str(err.value)
    assert counts(registry) == before


@pytest.mark.parametrize("case", BAD_CASES)
def test_one_bad_file_registers_nothing(
    registry: Engine, tmp_path: Path, field_name: str, case: str
) -> None:
    good = write_ngc628c(tmp_path / "good", field_name)
    bad, words = _broken(tmp_path, case)
    _assert_refused(
        registry,
        lambda: register_images(registry, [*good, bad], field=field_name, galaxy="NGC 628"),
        str(bad), words,
    )  # fmt: skip


def test_filters_on_different_grids_are_refused(
    registry: Engine, tmp_path: Path, field_name: str
) -> None:
    paths = write_ngc628c(tmp_path / "a", field_name)
    shifted = write_ngc628c(tmp_path / "b", field_name, crval=(24.17396 + 0.05 / 3600, 15.78367))
    mixed = [*paths[:4], shifted[4]]
    # 0.05" in RA is 0.05 cos(Dec) / 0.04 = 1.203 pix
    _assert_refused(
        registry, lambda: register_images(registry, mixed, field=field_name, galaxy="NGC 628"),
        str(shifted[4]), str(paths[0]), "one pixel grid", "1.203 pix apart",
    )  # fmt: skip
    bigger = write_ngc628c(tmp_path / "c", field_name, n=N + 2)
    _assert_refused(
        registry,
        lambda: register_images(registry, [paths[0], bigger[1]], field=field_name,
                                galaxy="NGC 628"),
        str(bigger[1]), "shapes differ",
    )  # fmt: skip
    # against images registered earlier for the field
    register_images(registry, paths[:2], field=field_name, galaxy="NGC 628")
    _assert_refused(
        registry,
        lambda: register_images(registry, shifted[2:], field=field_name, galaxy="NGC 628"),
        str(shifted[2]), str(paths[0]), "registered for field",
    )  # fmt: skip


def test_conflicts_are_refused(registry: Engine, tmp_path: Path, field_name: str) -> None:
    paths = write_ngc628c(tmp_path / "a", field_name)
    register_images(registry, paths[:1], field=field_name, galaxy="NGC 628")
    # a second F275W image of the field (other bytes, same grid)
    other = write_ngc628c(tmp_path / "b", field_name)
    with fits.open(other[0], mode="update") as hdus:
        hdus[1].data[:] = 1.0
    _assert_refused(
        registry,
        lambda: register_images(registry, other[:1], field=field_name, galaxy="NGC 628"),
        "already has a F275W WFC3/UVIS image", "one image per field and filter",
    )  # fmt: skip
    # the field belongs to NGC 628, not NGC 1566
    _assert_refused(
        registry,
        lambda: register_images(registry, paths[1:2], field=field_name, galaxy="NGC 1566"),
        f"field '{field_name}' belongs to galaxy 'NGC 628'",
    )  # fmt: skip
    # a registered file cannot move to another field
    _assert_refused(
        registry,
        lambda: register_images(registry, paths[:1], field=field_name + "x", galaxy="NGC 628"),
        f"already registered for field '{field_name}'",
    )  # fmt: skip
    # a filter the filter table does not know (F658N on ACS/WFC)
    odd = write_hst_fits(
        tmp_path / "f658n.fits", np.ones((N, N)), tan_wcs(N), filter_name="F658N",
        instrument="ACS/WFC", photflam=1.2e-18, photplam=6584.0, exptime_s=700.0,
    )  # fmt: skip
    _assert_refused(
        registry, lambda: register_images(registry, [odd], field=field_name, galaxy="NGC 628"),
        str(odd), "filter F658N on ACS/WFC is not in the filter table",
    )  # fmt: skip


def test_cli_add_and_list(registry_url: str, registry: Engine, tmp_path: Path) -> None:
    paths = [str(p) for p in write_ngc628c(tmp_path, "clifield")]
    runner = CliRunner()
    base = ["--database", registry_url, "images"]
    add = runner.invoke(main, [*base, "add", *paths, "--field", "clifield", "--galaxy", "M74"])
    assert add.exit_code == 0, add.output
    assert add.output.count("registered") >= 5 and "24.1314" in add.output
    again = runner.invoke(main, [*base, "add", *paths, "--field", "clifield", "--galaxy", "M74"])
    assert again.exit_code == 0 and again.output.count("already") == 5
    listed = runner.invoke(main, [*base, "list", "--field", "clifield", "--csv"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("id,field,galaxy,band,filter_name")
    assert [line.split(",")[3] for line in lines[1:]] == ["NUV", "U", "B", "V", "I"]
    bad = runner.invoke(main, [*base, "add", str(tmp_path), "--field", "clifield", "-g", "M74"])
    assert bad.exit_code == 2 and "nothing was written" in bad.output
