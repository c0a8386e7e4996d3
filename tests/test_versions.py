"""Release versions: the views show the newest complete version, older ones stay readable.

Synthetic PHANGS-HST FITS tables (tests/factories.py) whose rows we generated, so every
count below is known; each test gets its own empty database on both backends.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.ingest.releases import ReleaseConflictError
from clustercat.ingest.sync import run_sync
from clustercat.schema import make_engine, migrate
from factories import phangs_table
from sqlalchemy import Engine, text

PHANGS_NAME = "hlsp_phangs-cat_hst_uvis_{galaxy}_multi_v1_obs-human-cluster-class12.fits"


@pytest.fixture
def engine(empty_db_url: str):  # noqa: ANN201 - an Engine on a fresh database at head
    migrate.upgrade(empty_db_url)
    eng = make_engine(empty_db_url)
    yield eng
    eng.dispose()


def _fits(folder: Path, n: int, seed: int, galaxy: str = "ngc1566") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PHANGS_NAME.format(galaxy=galaxy)
    phangs_table(n, seed=seed).write(path, overwrite=True)
    return path


def _ingest(engine: Engine, name: str, files: list[Path], **kwargs):  # noqa: ANN003, ANN202
    info = reader_info("phangs")
    request = ReleaseRequest(name, info.name, info.version, files, **kwargs)
    return ingest_release(engine, request, info.reader())


def _scalar(engine: Engine, sql: str, **params) -> object:  # noqa: ANN003
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _rows(engine: Engine, sql: str, **params) -> list[tuple]:  # noqa: ANN003
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def test_new_version_replaces_the_old_one_in_the_views(engine: Engine, tmp_path: Path) -> None:
    """Acceptance: v1, then a changed file with --new-version."""
    v1 = _ingest(engine, "dr4", [_fits(tmp_path / "v1", 8, seed=1)])
    with pytest.raises(ReleaseConflictError):
        _ingest(engine, "dr4", [_fits(tmp_path / "v2", 12, seed=2)])
    v2 = _ingest(engine, "dr4", [tmp_path / "v2" / PHANGS_NAME.format(galaxy="ngc1566")],
                 new_version=True)  # fmt: skip
    assert (v1.version, v2.version, v2.superseded) == (1, 2, 1)

    statuses = _rows(engine, "SELECT version, status FROM catalogue_release ORDER BY version")
    assert statuses == [(1, "superseded"), (2, "complete")]
    # the plain views: only v2, and counts over them do not double
    assert _rows(engine, "SELECT release_version, count(*) FROM cluster_catalogue GROUP BY 1") == [
        (2, 12)
    ]
    assert _scalar(engine, "SELECT count(*) FROM source_classes") == 2 * 12  # human + VGG
    assert _scalar(engine, "SELECT count(*) FROM source_photometry_wide") == 12
    assert _scalar(engine, "SELECT count(DISTINCT release_id) FROM source_photometry") == 1
    assert _rows(engine, "SELECT DISTINCT n_galaxy_sources FROM release_summary") == [(12,)]
    # v1 stays readable by version, through the _all views
    by_version = _rows(
        engine,
        "SELECT release_version, release_status, count(*) FROM cluster_catalogue_all "
        "GROUP BY 1, 2 ORDER BY 1",
    )
    assert by_version == [(1, "superseded", 8), (2, "complete", 12)]
    assert _scalar(engine, "SELECT count(*) FROM source_classes_all WHERE release_version = 1") == (
        2 * 8
    )
    assert _rows(
        engine,
        "SELECT release_version, n_galaxy_sources FROM release_summary_all "
        "GROUP BY 1, 2 ORDER BY 1",
    ) == [(1, 8), (2, 12)]


def test_content_reverting_to_an_older_version_is_a_new_version(
    engine: Engine, tmp_path: Path
) -> None:
    """v1, v2 changed, v3 equal to v1: v3 is ingested, so withdrawn v2 data is not newest."""
    first = _fits(tmp_path / "a", 5, seed=3)
    second = _fits(tmp_path / "b", 7, seed=4)
    assert _ingest(engine, "rev", [first]).version == 1
    assert _ingest(engine, "rev", [second], new_version=True).version == 2
    third = _ingest(engine, "rev", [first], new_version=True)
    assert (third.status, third.version) == ("ingested", 3)
    assert _rows(engine, "SELECT release_version, count(*) FROM cluster_catalogue GROUP BY 1") == [
        (3, 5)
    ]
    again = _ingest(engine, "rev", [first], new_version=True)  # equal to the newest: no-op
    assert (again.status, again.version) == ("already ingested", 3)


def test_a_new_version_label_with_old_content_is_a_new_version(
    engine: Engine, tmp_path: Path
) -> None:
    path = _fits(tmp_path, 4, seed=5)
    assert _ingest(engine, "lab", [path], pipeline_version="v1").version == 1
    same = _ingest(engine, "lab", [path], pipeline_version="v1")
    assert same.status == "already ingested"
    relabelled = _ingest(engine, "lab", [path], pipeline_version="v2", new_version=True)
    assert (relabelled.status, relabelled.version) == ("ingested", 2)
    assert _rows(engine, "SELECT pipeline_version, status FROM catalogue_release "
                 "ORDER BY version") == [("v1", "superseded"), ("v2", "complete")]  # fmt: skip


def _manifest(folder: Path, files: list[Path], pipeline_version: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder / f.name)
    listed = ", ".join(f'"{f.name}"' for f in files)
    (folder / "manifest.toml").write_text(
        textwrap.dedent(
            f"""\
            reader = "phangs"
            release = "pipe"
            pipeline_version = "{pipeline_version}"
            files = [{listed}]
            """
        )
    )


def test_sync_adds_a_field_or_makes_a_new_version_by_the_release_definition(
    engine: Engine, tmp_path: Path
) -> None:
    """A release is a survey's pipeline version over a set of fields (docs/ingest.md)."""
    ngc1566 = _fits(tmp_path / "src1", 6, seed=6, galaxy="ngc1566")
    ngc628 = _fits(tmp_path / "src2", 9, seed=7, galaxy="ngc628")
    ngc628_fixed = _fits(tmp_path / "src3", 10, seed=8, galaxy="ngc628")
    drop = tmp_path / "drop"
    _manifest(drop / "01_ngc1566", [ngc1566], "v1")
    first = run_sync(engine, drop)
    assert [(r.status, r.version) for r in first] == [("ingested", 1)]

    # another galaxy at the same pipeline version: a field added to v1, not a new version
    _manifest(drop / "02_ngc628", [ngc628], "v1")
    second = run_sync(engine, drop)
    assert [(r.status, r.version) for r in second] == [
        ("already ingested", 1),
        ("fields added", 1),
    ]
    assert _rows(engine, "SELECT version, status FROM catalogue_release") == [(1, "complete")]
    assert _rows(
        engine, "SELECT galaxy, count(*) FROM cluster_catalogue GROUP BY 1 ORDER BY 1"
    ) == [("NGC 1566", 6), ("NGC 628", 9)]
    assert run_sync(engine, drop)[-1].status == "already ingested"

    # a new pipeline version: a new version with what it delivers
    _manifest(drop / "03_v2", [ngc1566, ngc628_fixed], "v2")
    third = run_sync(engine, drop)[-1]
    assert (third.status, third.version) == ("ingested", 2)
    assert _rows(
        engine, "SELECT galaxy, count(*) FROM cluster_catalogue GROUP BY 1 ORDER BY 1"
    ) == [("NGC 1566", 6), ("NGC 628", 10)]
    assert _rows(
        engine,
        "SELECT release_version, count(*) FROM cluster_catalogue_all GROUP BY 1 ORDER BY 1",
    ) == [(1, 15), (2, 16)]


def test_extend_with_a_changed_field_makes_a_new_version(engine: Engine, tmp_path: Path) -> None:
    """fetch of a galaxy the release has, with other content: a new version, not an add."""
    _ingest(engine, "mast", [_fits(tmp_path / "a", 6, seed=9)], extend=True)
    changed = _ingest(engine, "mast", [_fits(tmp_path / "b", 3, seed=10)], extend=True)
    assert (changed.status, changed.version) == ("ingested", 2)
    assert _scalar(engine, "SELECT count(*) FROM cluster_catalogue") == 3


def test_fetching_another_galaxy_adds_its_fields_to_the_release(
    engine: Engine, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: ``fetch`` of a second galaxy made a new version of the whole release
    (hiding the first galaxy). LEGUS file versions (_v1_, _v2_) are per field."""
    import astroquery.mast
    from click.testing import CliRunner
    from clustercat.__main__ import main
    from test_fetch import RecordedMast

    url = engine.url.render_as_string(hide_password=False)
    files = {
        "NGC 5238": "hlsp_legus_hst_acs-wfc3_ngc5238_multiband_v1_padagb-mwext-avgapcor.tab",
        "UGC 685": "hlsp_legus_hst_acs-wfc3_ugc685_multiband_v2_padagb-mwext-avgapcor.tab",
    }
    outputs = []
    for galaxy, name in files.items():
        monkeypatch.setattr(
            astroquery.mast, "Observations", RecordedMast([name], shared_data / "legus")
        )
        out = CliRunner().invoke(
            main, ["--database", url, "fetch", "legus", galaxy, "--cache", str(tmp_path)]
        )
        assert out.exit_code == 0, out.output
        outputs.append(" ".join(out.output.split()))
    assert "ingested release legus-mast v1" in outputs[0]
    assert "added field(s) ugc685 to release legus-mast v1" in outputs[1]
    assert _rows(engine, "SELECT name, version, status FROM catalogue_release") == [
        ("legus-mast", 1, "complete")
    ]
    counts = _rows(engine, "SELECT galaxy, count(*) FROM cluster_catalogue GROUP BY 1 ORDER BY 1")
    assert counts == [("NGC 5238", 618), ("UGC 685", 464)]


def test_a_reissued_field_makes_a_new_version_that_keeps_the_other_fields(
    engine: Engine, tmp_path: Path
) -> None:
    """Same pipeline version, one field re-issued: v2 = the new file + the other fields of v1
    copied forward (rows, classes, photometry, files); v1 is untouched."""
    _ingest(engine, "cat", [_fits(tmp_path / "a", 6, seed=11, galaxy="ngc1566")], extend=True)
    _ingest(engine, "cat", [_fits(tmp_path / "b", 9, seed=12, galaxy="ngc628")], extend=True)
    v1 = {
        "phot": _scalar(engine, "SELECT count(*) FROM source_photometry WHERE galaxy = 'NGC 1566'"),
        "classes": _scalar(engine, "SELECT count(*) FROM source_classes WHERE galaxy = 'NGC 1566'"),
        "ra": _scalar(engine, "SELECT sum(ra) FROM cluster_catalogue WHERE galaxy = 'NGC 1566'"),
    }
    reissued = _ingest(
        engine, "cat", [_fits(tmp_path / "c", 10, seed=13, galaxy="ngc628")], extend=True
    )
    assert (reissued.status, reissued.version) == ("ingested", 2)
    assert reissued.carried["source"] == 6 and reissued.carried["release_file"] == 1
    assert _rows(
        engine, "SELECT galaxy, count(*) FROM cluster_catalogue GROUP BY 1 ORDER BY 1"
    ) == [("NGC 1566", 6), ("NGC 628", 10)]
    assert _rows(
        engine, "SELECT release_version, count(*) FROM cluster_catalogue_all GROUP BY 1 ORDER BY 1"
    ) == [(1, 15), (2, 16)]
    assert (
        _scalar(engine, "SELECT count(*) FROM source_photometry WHERE galaxy = 'NGC 1566'")
        == v1["phot"]
    )
    assert (
        _scalar(engine, "SELECT count(*) FROM source_classes WHERE galaxy = 'NGC 1566'")
        == v1["classes"]
    )
    assert _scalar(
        engine, "SELECT sum(ra) FROM cluster_catalogue WHERE galaxy = 'NGC 1566'"
    ) == pytest.approx(v1["ra"])
    assert _scalar(engine, "SELECT count(*) FROM release_file WHERE release_id = :r",
                   r=reissued.release_id) == 2  # fmt: skip


def test_sync_folders_are_delivered_once_and_a_relabelled_revert_is_new(
    engine: Engine, tmp_path: Path
) -> None:
    """v1, v2 changed, then a folder v3 with v1's files: v3 is the newest; later runs of
    sync bring none of the old folders back."""
    old = _fits(tmp_path / "s1", 5, seed=14, galaxy="ngc1566")
    new = _fits(tmp_path / "s2", 8, seed=15, galaxy="ngc1566")
    drop = tmp_path / "drop"
    _manifest(drop / "01", [old], "v1")
    _manifest(drop / "02", [new], "v2")
    assert [r.version for r in run_sync(engine, drop)] == [1, 2]
    assert [r.status for r in run_sync(engine, drop)] == ["already ingested"] * 2
    _manifest(drop / "03", [old], "v3")  # the v2 change withdrawn
    runs = run_sync(engine, drop)
    assert [(r.status, r.version) for r in runs] == [
        ("already ingested", 1),
        ("already ingested", 2),
        ("ingested", 3),
    ]
    assert _rows(engine, "SELECT release_version, count(*) FROM cluster_catalogue GROUP BY 1") == [
        (3, 5)
    ]
    assert [r.status for r in run_sync(engine, drop)] == ["already ingested"] * 3


def test_upgrade_supersedes_older_complete_versions_of_existing_databases(
    empty_db_url: str,
) -> None:
    """Before revision 0007 every version stayed 'complete'; the upgrade keeps the newest."""
    migrate.upgrade(empty_db_url, "0006")
    eng = make_engine(empty_db_url)
    with eng.begin() as conn:
        for version in (1, 2, 3):
            conn.execute(
                text("INSERT INTO catalogue_release (name, version, survey_id, status) "
                     "SELECT 'old', :v, id, 'complete' FROM survey WHERE name = 'LEGUS'"),
                {"v": version},
            )  # fmt: skip
        conn.execute(
            text("INSERT INTO catalogue_release (name, version, survey_id, status) "
                 "SELECT 'single', 1, id, 'complete' FROM survey WHERE name = 'LEGUS'")
        )  # fmt: skip
    eng.dispose()
    migrate.upgrade(empty_db_url)
    eng = make_engine(empty_db_url)
    assert _rows(
        eng, "SELECT name, version, status FROM catalogue_release ORDER BY name, version"
    ) == [  # fmt: skip
        ("old", 1, "superseded"),
        ("old", 2, "superseded"),
        ("old", 3, "complete"),
        ("single", 1, "complete"),
    ]
    eng.dispose()


def test_predictions_are_attached_again_to_a_new_catalogue_version(
    engine: Engine, shared_data: Path
) -> None:
    """StarcNet classes belong to the catalogue version they were attached to; after a new
    version of the catalogue the same file attaches again (a new StarcNet version)."""
    legus = reader_info("legus")
    starcnet = reader_info("starcnet")
    folder = shared_data / "legus"
    ngc1566 = folder / "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
    ngc5238 = folder / "hlsp_legus_hst_acs-wfc3_ngc5238_multiband_v1_padagb-mwext-avgapcor.tab"
    predictions = folder / "starcnet_ml_predictions_ngc1566.tab"

    def attach(**kwargs):  # noqa: ANN003, ANN202
        request = ReleaseRequest("sn", starcnet.name, starcnet.version, [predictions],
                                 attach_to="cat", **kwargs)  # fmt: skip
        return ingest_release(engine, request, starcnet.reader())

    def n_starcnet(view: str = "source_classes") -> int:
        return _scalar(engine, f"SELECT count(*) FROM {view} WHERE method = 'StarcNet'")

    ingest_release(engine, ReleaseRequest("cat", legus.name, legus.version, [ngc1566]),
                   legus.reader())  # fmt: skip
    assert attach().version == 1 and n_starcnet() == 2752
    assert attach().status == "already ingested"
    ingest_release(
        engine,
        ReleaseRequest("cat", legus.name, legus.version, [ngc1566, ngc5238], new_version=True),
        legus.reader(),
    )
    assert n_starcnet() == 0  # attached to v1's sources, now superseded
    assert n_starcnet("source_classes_all") == 2752
    again = attach(new_version=True)
    assert (again.status, again.version) == ("ingested", 2)
    assert n_starcnet() == 2752 and n_starcnet("source_classes_all") == 2 * 2752
