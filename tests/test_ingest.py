"""Ingest into the database: real LEGUS files, idempotency, versions, atomicity, sync."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.ingest.releases import ReleaseConflictError
from clustercat.schema import make_engine, migrate
from conftest import LEGUS_RELEASE, STARCNET_RELEASE
from legus_golden import LEGUS_GOLDEN, LegusGolden
from sqlalchemy import Engine, text

NGC628C = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
NGC628E = "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab"
TABLES = ("catalogue_release", "release_file", "source", "photometry", "morphology",
          "classification", "sed_fit", "galaxy", "field")  # fmt: skip


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def _legus_request(name: str, files: list[Path], **kwargs) -> tuple[ReleaseRequest, object]:
    info = reader_info("legus")
    return ReleaseRequest(name, info.name, info.version, files, **kwargs), info.reader()


@pytest.fixture
def migrated_url(empty_db_url: str) -> str:
    migrate.upgrade(empty_db_url)
    return empty_db_url


# --- the 28 real catalogues ---------------------------------------------------------------


@pytest.mark.parametrize("golden", LEGUS_GOLDEN, ids=lambda g: g.key.split()[1])
def test_legus_file_matches_layouts_md(legus_engine: Engine, golden: LegusGolden) -> None:
    with legus_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ra, dec, log_age FROM cluster_catalogue WHERE release = :r AND field = :f"
            ),
            {"r": LEGUS_RELEASE, "f": golden.field},
        ).all()
        primary = conn.execute(
            text(
                "SELECT cm.name FROM release_file rf JOIN classification_method cm "
                "ON cm.id = rf.primary_classification_method_id WHERE rf.path = :file"
            ),
            {"file": golden.file},
        ).scalar_one()
        classes = dict(
            conn.execute(
                text(
                    'SELECT "class", count(*) FROM source_classes WHERE release = :r '
                    "AND field = :f AND method = :m GROUP BY 1"
                ),
                {"r": LEGUS_RELEASE, "f": golden.field, "m": primary},
            ).all()
        )
    assert len(rows) == golden.rows
    assert tuple(classes.get(k, 0) for k in (1, 2, 3, 4)) == golden.classes_1234
    # class 0 and values outside the scheme (NGC 4449's 5, NGC 4242's 50) get no row
    assert golden.rows - sum(classes.values()) == golden.class_0 + sum(golden.other_values.values())
    assert sum(r.log_age is not None for r in rows) == golden.sed_fitted
    ra = np.array([r.ra for r in rows])
    dec = np.array([r.dec for r in rows])
    assert np.median(ra) == pytest.approx(golden.median_ra, abs=1e-5)
    assert np.median(dec) == pytest.approx(golden.median_dec, abs=1e-5)


def test_no_sentinel_reaches_a_measurement_column(legus_engine: Engine) -> None:
    """66.666, 99.999, 44.444 and -9999 are statuses, never values (LAYOUTS.md §2.1).

    Large but real errors stay (e.g. NGC 628-c id 2480: F275W 30.167 +- 98.783).
    """
    sentinel_hits = " OR ".join(
        f"abs({col} - {value}) < 0.0005"
        for col in ("mag_vega", "mag_err")
        for value in (66.666, 99.999, 44.444, -9999)
    )
    with legus_engine.connect() as conn:
        hits = conn.execute(text(f"SELECT count(*) FROM photometry WHERE {sentinel_hits}")).scalar()
        max_mag = conn.execute(text("SELECT max(mag_vega) FROM photometry")).scalar()
        max_ci = conn.execute(text("SELECT max(ci) FROM cluster_catalogue")).scalar()
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM photometry GROUP BY 1")).all()
        )
        err_2480 = conn.execute(
            text(
                "SELECT mag_nuv, mag_nuv_err FROM cluster_catalogue WHERE field = 'ngc628c' "
                "AND source_id = 2480"
            )
        ).one()
    assert hits == 0
    assert max_mag < 40 and max_ci < 40
    assert statuses["outside_footprint"] > 0 and statuses["not_detected"] > 0
    assert tuple(err_2480) == pytest.approx((30.167, 98.783))


def test_starcnet_agrees_with_three_person_human_class(legus_engine: Engine) -> None:
    """Issue 3: StarcNet agrees with the LEGUS human class for 64.8 % of 1061 sources."""
    with legus_engine.connect() as conn:
        n, same = conn.execute(
            text(
                'SELECT count(*), sum(CASE WHEN h."class" = m."class" THEN 1 ELSE 0 END) '
                "FROM source_classes h JOIN source_classes m ON m.source_pk = h.source_pk "
                "WHERE h.galaxy = 'NGC 1566' AND h.method = 'LEGUS human mode' "
                "AND m.method = 'StarcNet' AND m.delivered_by = :s"
            ),
            {"s": STARCNET_RELEASE},
        ).one()
    assert n == 1061
    assert round(100 * same / n, 1) == 64.8


def test_starcnet_leaves_the_legus_release_untouched(legus_engine: Engine) -> None:
    with legus_engine.connect() as conn:
        legus_id, n_sources = conn.execute(
            text(
                "SELECT r.id, count(s.id) FROM catalogue_release r JOIN source s "
                "ON s.release_id = r.id WHERE r.name = :r GROUP BY r.id"
            ),
            {"r": LEGUS_RELEASE},
        ).one()
        starcnet_sources = conn.execute(
            text(
                "SELECT count(*) FROM source s JOIN catalogue_release r ON r.id = s.release_id "
                "WHERE r.name = :s"
            ),
            {"s": STARCNET_RELEASE},
        ).scalar()
        probs = conn.execute(
            text(
                "SELECT min(p_class1 + p_class2 + p_class3 + p_class4), "
                "max(p_class1 + p_class2 + p_class3 + p_class4), count(*) "
                "FROM source_classes WHERE method = 'StarcNet'"
            )
        ).one()
    assert n_sources == sum(g.rows for g in LEGUS_GOLDEN)
    assert starcnet_sources == 0  # predictions point at the LEGUS sources
    assert probs[2] == 2752 and probs[0] > 0.95 and probs[1] < 1.05


# --- idempotency, versions, bad input -----------------------------------------------------


def test_reingesting_the_same_files_changes_nothing(migrated_url: str, shared_data: Path) -> None:
    engine = make_engine(migrated_url)
    files = [shared_data / "legus" / NGC628C, shared_data / "legus" / NGC628E]
    first = ingest_release(engine, *_legus_request("ngc628", files))
    before = _counts(engine)
    again = ingest_release(engine, *_legus_request("ngc628", list(reversed(files))))
    assert first.status == "ingested" and again.status == "already ingested"
    assert again.release_id == first.release_id and again.version == 1
    assert _counts(engine) == before
    assert before["source"] == 3080 + 593
    engine.dispose()


def test_other_content_under_a_name_needs_a_new_version(
    migrated_url: str, shared_data: Path
) -> None:
    engine = make_engine(migrated_url)
    v1 = ingest_release(engine, *_legus_request("cat", [shared_data / "legus" / NGC628C]))
    before = _counts(engine)
    with pytest.raises(ReleaseConflictError):
        ingest_release(engine, *_legus_request("cat", [shared_data / "legus" / NGC628E]))
    assert _counts(engine) == before
    v2 = ingest_release(
        engine, *_legus_request("cat", [shared_data / "legus" / NGC628E], new_version=True)
    )
    assert (v1.version, v2.version) == (1, 2)
    with engine.connect() as conn:
        per_version = dict(
            conn.execute(
                text(
                    "SELECT release_version, count(*) FROM cluster_catalogue_all "
                    "WHERE release = 'cat' GROUP BY 1"
                )
            ).all()
        )
        newest = dict(
            conn.execute(
                text(
                    "SELECT release_version, count(*) FROM cluster_catalogue "
                    "WHERE release = 'cat' GROUP BY 1"
                )
            ).all()
        )
        supersedes, statuses = (
            conn.execute(
                text("SELECT supersedes_id FROM catalogue_release WHERE id = :id"),
                {"id": v2.release_id},
            ).scalar(),
            dict(
                conn.execute(
                    text("SELECT version, status FROM catalogue_release WHERE name = 'cat'")
                ).all()
            ),
        )
    assert per_version == {1: 3080, 2: 593}  # both versions side by side, v1 untouched
    assert newest == {2: 593}  # the plain view shows the newest complete version
    assert statuses == {1: "superseded", 2: "complete"}
    assert supersedes == v1.release_id
    engine.dispose()


def _truncated_copy(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) - 40])  # cut the last line in the middle
    return dst


def test_bad_file_gives_file_line_column_and_writes_nothing(
    migrated_url: str, shared_data: Path, tmp_path: Path
) -> None:
    bad = _truncated_copy(shared_data / "legus" / NGC628E, tmp_path / NGC628E)
    engine = make_engine(migrated_url)
    before = _counts(engine)
    result = CliRunner().invoke(
        main, ["--database", migrated_url, "ingest", "legus", str(bad), "--release", "bad"]
    )
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert NGC628E in flat and "line 593" in flat and "column" in flat
    assert _counts(engine) == before
    with pytest.raises(CatalogueFormatError) as excinfo:
        ingest_release(engine, *_legus_request("bad", [bad]))
    assert excinfo.value.line == 593 and excinfo.value.column is not None
    assert _counts(engine) == before
    engine.dispose()


def test_cli_reports_and_is_idempotent(migrated_url: str, shared_data: Path) -> None:
    args = ["--database", migrated_url, "ingest", "legus", str(shared_data / "legus" / NGC628E),
            "--release", "cli"]  # fmt: skip
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "ingested release cli v1" in first.output and "sentinel_66666" in first.output
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and "already ingested" in second.output


# --- a killed ingest and concurrent syncs (real processes) --------------------------------


def _clustercat(url: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "clustercat", "--database", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_killed_ingest_leaves_no_partial_release(migrated_url: str, shared_data: Path) -> None:
    engine = make_engine(migrated_url)
    before = _counts(engine)
    proc = _clustercat(
        migrated_url, "ingest", "legus", str(shared_data / "legus" / NGC628C), "--release", "k",
        env={"CLUSTERCAT_INGEST_PAUSE_AT": "photometry"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    seen = ""
    while "pausing after photometry" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
    assert "pausing after photometry" in seen, seen
    # sources and photometry are written (inside the open transaction): kill it now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cluster_catalogue")).scalar() == 0
    result = ingest_release(engine, *_legus_request("k", [shared_data / "legus" / NGC628C]))
    assert result.status == "ingested" and result.rows["source"] == 3080
    engine.dispose()


def _drop_dir(root: Path, shared_data: Path) -> Path:
    drop = root / "drop"
    for folder, files, created in (
        ("v1", [NGC628C], "2026-10-01"),
        ("v2", [NGC628C, NGC628E], "2026-11-01"),
    ):
        (drop / folder).mkdir(parents=True)
        for name in files:
            shutil.copy(shared_data / "legus" / name, drop / folder / name)
        listed = ", ".join(f'"{n}"' for n in files)
        (drop / folder / "manifest.toml").write_text(
            textwrap.dedent(
                f"""\
                reader = "legus"
                release = "ngc628-pipeline"
                pipeline_version = "{folder}"
                created = {created}
                files = [{listed}]
                """
            )
        )
    return drop


def test_two_concurrent_syncs_ingest_each_version_once(
    migrated_url: str, shared_data: Path, tmp_path: Path
) -> None:
    drop = _drop_dir(tmp_path, shared_data)
    procs = [_clustercat(migrated_url, "ingest", "sync", str(drop)) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        versions = conn.execute(
            text(
                "SELECT version, pipeline_version, status FROM catalogue_release "
                "WHERE name = 'ngc628-pipeline' ORDER BY version"
            )
        ).all()
        n = conn.execute(
            text(
                "SELECT release_version, count(*) FROM cluster_catalogue_all GROUP BY 1 ORDER BY 1"
            )
        ).all()
        shown = conn.execute(
            text("SELECT release_version, count(*) FROM cluster_catalogue GROUP BY 1")
        ).all()
    assert [tuple(v) for v in versions] == [(1, "v1", "superseded"), (2, "v2", "complete")]
    assert [tuple(r) for r in n] == [(1, 3080), (2, 3673)]
    assert [tuple(r) for r in shown] == [(2, 3673)]
    before = _counts(engine)
    again = _clustercat(migrated_url, "ingest", "sync", str(drop))
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0, out
    assert _counts(engine) == before
    engine.dispose()


# --- the other readers through the same loader --------------------------------------------


def test_csv_twin_gives_the_same_objects_as_the_tab_files(
    migrated_url: str, shared_data: Path
) -> None:
    engine = make_engine(migrated_url)
    tab = ingest_release(engine, *_legus_request(
        "tab", [shared_data / "legus" / NGC628C, shared_data / "legus" / NGC628E]
    ))  # fmt: skip
    info = reader_info("legus-csv")
    csv = ingest_release(
        engine,
        ReleaseRequest("csv", info.name, info.version, [shared_data / "ngc628" / "Catalog.csv"]),
        info.reader(),
    )
    with engine.connect() as conn:
        pairs = conn.execute(
            text(
                "SELECT a.ra, a.dec, b.ra, b.dec, a.mag_v, b.mag_v FROM cluster_catalogue a "
                "JOIN cluster_catalogue b ON b.field = a.field AND b.source_id = a.source_id "
                "WHERE a.release = 'tab' AND b.release = 'csv'"
            )
        ).all()
    engine.dispose()
    assert tab.rows["source"] == csv.rows["source"] == len(pairs) == 3673
    a = np.array([(p[0], p[1]) for p in pairs])
    b = np.array([(p[2], p[3]) for p in pairs])
    separation_arcsec = 3600 * np.hypot((a[:, 0] - b[:, 0]) * np.cos(np.radians(a[:, 1])),
                                        a[:, 1] - b[:, 1])  # fmt: skip
    assert separation_arcsec.max() < 0.05
    assert all(p[4] == p[5] for p in pairs)


def test_published_mrt_table_becomes_its_own_survey(migrated_url: str, shared_data: Path) -> None:
    result = CliRunner().invoke(main, [
        "--database", migrated_url, "ingest", "mrt",
        str(shared_data / "tables" / "whitmore2020_ngc4449_clusters_mrt.txt"), "--release", "w20",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        survey, galaxy, n, n_aged = conn.execute(
            text(
                "SELECT survey, galaxy, count(*), count(log_age) FROM cluster_catalogue "
                "WHERE release = 'w20' GROUP BY 1, 2"
            )
        ).one()
    engine.dispose()
    assert (survey, galaxy, n) == ("Whitmore et al. 2020", "NGC 4449", 594)
    assert n_aged == 594


def test_phangs_fits_release(migrated_url: str, tmp_path: Path) -> None:
    from factories import phangs_table

    table = phangs_table(12, seed=7)
    table["PHANGS_CLUSTER_CLASS_HUMAN"][0] = 4  # PHANGS 4.x codes keep their subclass
    table["PHANGS_F275W_VEGA"][1] = -9999.0  # no coverage
    table["PHANGS_F275W_VEGA_ERR"][1] = -9999.0
    path = tmp_path / "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits"
    table.write(path)
    result = CliRunner().invoke(
        main, ["--database", migrated_url, "ingest", "phangs", str(path), "--release", "phangs"]
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_id, ra, mag_nuv, mag_v, survey FROM cluster_catalogue "
                "WHERE release = 'phangs' ORDER BY source_id"
            )
        ).all()
        statuses = dict(conn.execute(text(
            "SELECT status, count(*) FROM photometry p JOIN filter f ON f.id = p.filter_id "
            "WHERE f.name = 'F275W' GROUP BY 1"
        )).all())  # fmt: skip
    engine.dispose()
    by_id = {int(r.source_id): r for r in rows}
    assert len(rows) == 12 and rows[0].survey == "PHANGS-HST"
    for k, source_id in enumerate(table["ID_PHANGS_CANDIDATE"]):
        row = by_id[int(source_id)]
        assert row.ra == pytest.approx(float(table["PHANGS_RA"][k]), abs=1e-12)
        assert row.mag_v == pytest.approx(float(table["PHANGS_F555W_VEGA"][k]))
    assert by_id[int(table["ID_PHANGS_CANDIDATE"][1])].mag_nuv is None
    assert statuses == {"measured": 11, "no_coverage": 1}


def test_duplicate_ids_across_files_of_a_release(
    migrated_url: str, shared_data: Path, tmp_path: Path
) -> None:
    """The same field's ids in two files of one release: named by file and line, no rows."""
    src = shared_data / "legus" / NGC628E
    twin = tmp_path / "ngc628e_again.tab"
    twin.write_bytes(src.read_bytes() + b"\n")  # same rows, other content hash
    engine = make_engine(migrated_url)
    before = _counts(engine)
    info = reader_info("legus")
    with pytest.raises(CatalogueFormatError) as excinfo:
        ingest_release(
            engine,
            ReleaseRequest("twice", info.name, info.version, [src, twin]),
            info.reader(layout="L35-MODE-MEAN", galaxy="ngc628-e"),
        )
    assert excinfo.value.path == twin and excinfo.value.line == 1
    assert NGC628E in str(excinfo.value)
    assert _counts(engine) == before
    engine.dispose()
