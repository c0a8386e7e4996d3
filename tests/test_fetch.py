"""``clustercat fetch``: MAST queries answered by recorded responses, never the network."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from astropy.table import Table
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.schema import make_engine, migrate
from factories import phangs_table
from sqlalchemy import text

LEGUS_628 = [
    "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab",
]


class RecordedMast:
    """Stands in for ``astroquery.mast.Observations``: the answers MAST gives, from disk."""

    def __init__(self, products: list[str], source_dir: Path) -> None:
        self.products = products
        self.source_dir = source_dir
        self.calls: list[tuple] = []

    def query_criteria(self, **criteria) -> Table:
        self.calls.append(("query_criteria", criteria))
        return Table({"obsid": ["1"], "obs_collection": ["HLSP"]})

    def get_product_list(self, observations: Table) -> Table:
        self.calls.append(("get_product_list", len(observations)))
        # a real product list also holds previews and other catalogues
        names = [
            *self.products,
            "hlsp_legus_hst_acs-wfc3_ngc628-c_f555w_v1_drc.fits",
            "hlsp_legus_hst_acs-wfc3_ngc6280_multiband_v1_padagb-mwext-avgapcor.tab",
        ]
        return Table({"productFilename": names, "obsID": ["1"] * len(names)})

    def download_products(self, products: Table, download_dir: str, flat: bool) -> Table:
        self.calls.append(("download_products", list(products["productFilename"])))
        paths, status = [], []
        for name in products["productFilename"]:
            shutil.copy(self.source_dir / str(name), Path(download_dir) / str(name))
            paths.append(str(Path(download_dir) / str(name)))
            status.append("COMPLETE")
        return Table({"Local Path": paths, "Status": status})


@pytest.fixture
def migrated_url(empty_db_url: str) -> str:
    migrate.upgrade(empty_db_url)
    return empty_db_url


def test_fetch_legus_downloads_caches_and_ingests(
    migrated_url: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import astroquery.mast

    mast = RecordedMast(LEGUS_628, shared_data / "legus")
    monkeypatch.setattr(astroquery.mast, "Observations", mast)
    args = ["--database", migrated_url, "fetch", "legus", "NGC 628", "--cache", str(tmp_path)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    downloaded = [c for c in mast.calls if c[0] == "download_products"]
    assert downloaded == [("download_products", LEGUS_628)]  # not the image, not NGC 6280
    query = next(c[1] for c in mast.calls if c[0] == "query_criteria")
    assert query["provenance_name"] == "LEGUS" and query["objectname"] == "NGC 628"
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM cluster_catalogue WHERE release = 'legus-mast'")
        ).scalar()
    assert n == 3080 + 593
    # Second run: the cache answers, nothing is downloaded, the release is already in.
    mast.calls.clear()
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and "already ingested" in second.output
    assert not [c for c in mast.calls if c[0] == "download_products"]
    engine.dispose()


def test_fetch_phangs_unpacks_the_bundle(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import astroquery.mast

    staging = tmp_path / "mast"
    staging.mkdir()
    members = {
        "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits": 1,
        "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class3.fits": 2,
        "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-machine-cluster-class12.fits": 3,
    }
    for name, seed in members.items():
        table = phangs_table(6, seed=seed)
        table["ID_PHANGS_CANDIDATE"] += 1000 * seed  # class 1+2 and class 3 are disjoint
        table.write(staging / name)
    bundle = "hlsp_phangs-cat_hst_acs-uvis_ngc1566_multi_v1_cats.tar.gz"
    with tarfile.open(staging / bundle, "w:gz") as tar:
        for name in members:
            tar.add(staging / name, arcname=f"ngc1566/{name}")
    mast = RecordedMast([bundle], staging)
    monkeypatch.setattr(astroquery.mast, "Observations", mast)
    result = CliRunner().invoke(main, [
        "--database", migrated_url, "fetch", "phangs", "ngc1566", "--cache",
        str(tmp_path / "cache"), "--release", "phangs-1566",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        n, survey = conn.execute(
            text(
                "SELECT count(*), min(survey) FROM cluster_catalogue WHERE release = 'phangs-1566'"
            )
        ).one()
    engine.dispose()
    assert (n, survey) == (12, "PHANGS-HST")  # the two human catalogues, not the ML one
