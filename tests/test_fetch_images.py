"""``clustercat fetch images``: MAST answered by recorded product tables, never the network.

The "downloaded" files are FITS written with the real header values of the targets
(phangs-metadata) by :func:`write_hst_fits`, as MAST would deliver them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest.mast_images import select_images
from clustercat.processing.hst_metadata import read_header_info
from clustercat.processing.images import write_hst_fits
from clustercat.schema import make_engine, migrate
from sqlalchemy import text
from test_images import needs_metadata, tan_wcs

LEGUS_628 = {
    "ngc628-c": ("ngc628c", ["F275W", "F336W", "F435W", "F555W", "F814W"]),
    "ngc628-e": ("ngc628e", ["F275W", "F336W"]),
}
#: Products MAST lists beside the science images: weights, previews, catalogues, other galaxies.
LEGUS_OTHERS = [
    "hlsp_legus_hst_acs_ngc628-c_f555w_v1_wht.fits",
    "hlsp_legus_hst_acs_ngc628-c_f555w_v1_drc.jpg",
    "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs_ngc6280_f555w_v1_drc.fits",
]
PHANGS_OTHERS = [
    "hlsp_phangs-hst_hst_wfc3-uvis_ngc1566_f555w_v1_err-drc-wht.fits",
    "hlsp_phangs-hst_hst_wfc3-uvis_ngc1566_f555w_v1_exp-drc-sci.png",
    "hlsp_phangs-cat_hst_acs-uvis_ngc1566_multi_v1_cats.tar.gz",
]


def legus_name(target: str, filt: str, instrument: str) -> str:
    camera = "wfc3" if instrument.startswith("WFC3") else "acs"
    return f"hlsp_legus_hst_{camera}_{target}_{filt.lower()}_v1_drc.fits"


def phangs_name(filt: str) -> str:
    return f"hlsp_phangs-hst_hst_wfc3-uvis_ngc1566_{filt.lower()}_v1_exp-drc-sci.fits"


class RecordedMast:
    """Stands in for ``astroquery.mast.Observations``: MAST's answers, from a folder."""

    def __init__(self, products: list[str], source_dir: Path) -> None:
        self.products, self.source_dir = products, source_dir
        self.calls: list[tuple] = []

    def query_criteria(self, **criteria) -> Table:
        self.calls.append(("query_criteria", criteria))
        n = len(self.products) > 0
        return Table({"obsid": ["2003521", "2003522"][: 2 * n], "obs_collection": ["HLSP"] * 2 * n})

    def get_product_list(self, observations: Table) -> Table:
        self.calls.append(("get_product_list", len(observations)))
        names = [*self.products, *self.products[:2]]  # MAST repeats products across obsids
        return Table({
            "obsID": ["2003521"] * len(names), "productFilename": names,
            "productType": ["SCIENCE"] * len(names), "size": [23040] * len(names),
        })  # fmt: skip

    def download_products(self, products: Table, download_dir: str, flat: bool) -> Table:
        names = [str(n) for n in products["productFilename"]]
        self.calls.append(("download_products", names))
        paths = []
        for name in names:
            shutil.copy(self.source_dir / name, Path(download_dir) / name)
            paths.append(str(Path(download_dir) / name))
        return Table({"Local Path": paths, "Status": ["COMPLETE"] * len(paths)})


def stage(folder: Path, target: str, names: dict[str, str], n: int = 32) -> None:
    """Write the files MAST would deliver: real header values of ``target``, one grid."""
    needs_metadata()
    folder.mkdir(parents=True, exist_ok=True)
    rows = read_header_info(target).set_index("filter")
    rng = np.random.default_rng(len(target))
    for filt, name in names.items():
        row = rows.loc[filt]
        write_hst_fits(
            folder / name, rng.normal(0.0, 0.01, (n, n)), tan_wcs(n), filter_name=filt,
            instrument=row["instrument"], photflam=row["photflam"], photplam=row["photplam"],
            exptime_s=row["exptime_s"], extra_header={"TARGNAME": name},
        )  # fmt: skip


@pytest.fixture
def migrated_url(empty_db_url: str) -> str:
    migrate.upgrade(empty_db_url)
    return empty_db_url


def _images(url: str) -> list[tuple]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT field.name, filter.name, filter.instrument, image.zeropoint_ab FROM image "
            "JOIN field ON field.id = image.field_id JOIN filter ON filter.id = image.filter_id "
            "ORDER BY field.name, image.id"
        )).all()  # fmt: skip
    engine.dispose()
    return [tuple(r) for r in rows]


def test_fetch_legus_images_downloads_and_registers_every_field(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import astroquery.mast

    staging = tmp_path / "mast"
    science = []
    for target, (field, filters) in LEGUS_628.items():
        rows = read_header_info(field).set_index("filter") if field == "ngc628c" else None
        names = {}
        for f in filters:
            instrument = rows.loc[f, "instrument"] if rows is not None else "WFC3/UVIS"
            names[f] = legus_name(target, f, instrument)
        stage(staging, field, names)
        science += names.values()
    mast = RecordedMast([*science, *LEGUS_OTHERS], staging)
    monkeypatch.setattr(astroquery.mast, "Observations", mast)
    args = ["--database", migrated_url, "fetch", "images", "legus", "NGC 628",
            "--download-dir", str(tmp_path / "dl")]  # fmt: skip
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    query = next(c[1] for c in mast.calls if c[0] == "query_criteria")
    assert (query["provenance_name"], query["objectname"]) == ("LEGUS", "NGC 628")
    downloaded = next(c[1] for c in mast.calls if c[0] == "download_products")
    assert sorted(downloaded) == sorted(science)  # once each; no weights, previews, NGC 6280
    images = _images(migrated_url)
    assert [(f, flt) for f, flt, _, _ in images] == [
        ("ngc628c", "F275W"), ("ngc628c", "F336W"), ("ngc628c", "F435W"), ("ngc628c", "F555W"),
        ("ngc628c", "F814W"), ("ngc628e", "F275W"), ("ngc628e", "F336W"),
    ]  # fmt: skip
    assert [i for _, f, i, _ in images[:5]] == ["WFC3/UVIS"] * 2 + ["ACS/WFC"] * 3
    table = read_header_info("ngc628c")
    assert np.allclose([zp for *_, zp in images[:5]], table["zp_ab"], atol=0.01)
    assert first.output.count("registered") >= 7 and "field ngc628e" in first.output
    # again: the files are there, nothing is downloaded, nothing new is registered
    mast.calls.clear()
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert not [c for c in mast.calls if c[0] == "download_products"]
    assert second.output.count("already registered") == 7 and _images(migrated_url) == images


def test_fetch_phangs_images_of_one_field(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import astroquery.mast

    staging = tmp_path / "mast"
    names = {f: phangs_name(f) for f in ("F275W", "F336W", "F438W", "F555W", "F814W")}
    stage(staging, "ngc1566", names)
    mast = RecordedMast([*names.values(), *PHANGS_OTHERS], staging)
    monkeypatch.setattr(astroquery.mast, "Observations", mast)
    result = CliRunner().invoke(main, [
        "--database", migrated_url, "fetch", "images", "phangs", "ngc1566", "--field", "ngc1566",
        "--download-dir", str(tmp_path / "dl"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    query = next(c[1] for c in mast.calls if c[0] == "query_criteria")
    assert (query["provenance_name"], query["objectname"]) == ("PHANGS-HST", "NGC 1566")
    images = _images(migrated_url)
    assert [(f, flt, i) for f, flt, i, _ in images] == [("ngc1566", f, "WFC3/UVIS") for f in names]
    table = read_header_info("ngc1566")
    assert np.allclose([zp for *_, zp in images], table["zp_ab"], atol=0.01)


def test_fetch_images_nothing_on_mast(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import astroquery.mast

    monkeypatch.setattr(astroquery.mast, "Observations", RecordedMast([], tmp_path))
    result = CliRunner().invoke(main, [
        "--database", migrated_url, "fetch", "images", "legus", "NGC 1566",
        "--download-dir", str(tmp_path / "dl"),
    ])  # fmt: skip
    assert result.exit_code == 1 and "no LEGUS products near NGC 1566" in result.output
    assert _images(migrated_url) == []


def test_select_images_by_field_and_version() -> None:
    names = [
        legus_name("ngc628-c", "F555W", "ACS/WFC"),
        "hlsp_legus_hst_acs_ngc628-c_f555w_v2_drc.fits",
        legus_name("ngc628-e", "F275W", "WFC3/UVIS"),
        *LEGUS_OTHERS,
    ]
    assert select_images(names, "legus", "NGC 628") == {
        "ngc628c": {"F555W": "hlsp_legus_hst_acs_ngc628-c_f555w_v2_drc.fits"},
        "ngc628e": {"F275W": "hlsp_legus_hst_wfc3_ngc628-e_f275w_v1_drc.fits"},
    }
    assert list(select_images(names, "legus", "ngc628", field="ngc628-e")) == ["ngc628e"]
    assert select_images([*PHANGS_OTHERS, phangs_name("F814W")], "phangs", "NGC 1566") == {
        "ngc1566": {"F814W": phangs_name("F814W")}
    }
