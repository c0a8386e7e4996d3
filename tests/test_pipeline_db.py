"""``pipeline run`` on both backends: a release from registered images, atomic and idempotent.

The images are a synthetic 256^2 five-band field of fiducial clusters
(:func:`test_pipeline.synthetic_field`); the database is real SQLite / PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest.releases import ReleaseConflictError
from clustercat.processing.images_db import register_images
from clustercat.processing.pipeline import MODULE, PipelineSettings
from clustercat.processing.pipeline_db import growth_curve, run_pipeline, source_images
from clustercat.schema import make_engine, migrate
from conftest import _new_database
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from test_pipeline import synthetic_field

FIELD = "ngc628c"
SETTINGS = PipelineSettings(n_fiducial=60)
COUNTED = ("catalogue_release", "source", "photometry", "morphology", "source_selection",
           "processing_run", "release_file")  # fmt: skip


@pytest.fixture(scope="module")
def images_db(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database of this module (per backend) at head with the field's five images
    registered; each test writes releases of its own names."""
    url = _new_database(backend, request, tmp_path_factory.mktemp("pipeline_db"))
    migrate.upgrade(url)
    paths, _ = synthetic_field(tmp_path_factory.mktemp("images"))
    engine = make_engine(url)
    register_images(engine, list(paths.values()), field=FIELD, galaxy="NGC 628")
    engine.dispose()
    return url


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}


def test_pipeline_run_writes_one_linked_release(images_db: str) -> None:
    engine = make_engine(images_db)
    run = run_pipeline(engine, "NGC 628C", "pipe", settings=SETTINGS, workers=2)
    assert run.status == "ingested" and run.version == 1 and run.field == FIELD
    n = run.n_sources
    print(f"\npipeline release: {n} sources, {run.n_candidates} candidates, median CI "
          f"{run.median_ci:.3f}, {run.seconds:.1f} s, stages {run.timings_s}")  # fmt: skip
    assert n > 40 and 35 <= run.n_candidates <= n
    with engine.connect() as conn:
        rel = conn.execute(text(
            "SELECT id, status, reader, morphology_version, config FROM catalogue_release "
            "WHERE name = 'pipe'")).one()  # fmt: skip
        runs = conn.execute(text(
            "SELECT id, module, status, config FROM processing_run WHERE release_id = :r"),
            {"r": rel.id}).all()  # fmt: skip
        assert len(runs) == 1 and runs[0].module == MODULE and runs[0].status == "complete"
        run_id, config = runs[0].id, runs[0].config
        config = config if isinstance(config, dict) else json.loads(config)
        assert run_id == run.run_id
        assert rel.status == "complete" and rel.reader == MODULE
        assert rel.morphology_version == config["constants_version"]
        rel_config = rel.config if isinstance(rel.config, dict) else json.loads(rel.config)
        assert rel_config["processing_run_id"] == run_id
        assert rel_config["processing_run_module"] == MODULE
        assert config["settings"]["n_fiducial"] == 60
        assert set(config["images"]) == {"NUV", "U", "B", "V", "I"}
        assert all(len(im["sha256"]) == 64 for im in config["images"].values())
        assert len(config["fiducial_constants"]["values"]) == 6
        assert config["aperture_corrections"]["V"]["method"] == PipelineSettings().apcor_method
        assert PipelineSettings().apcor_method == "average-isolated"
        # every measured row points at the run
        for table, per_source in (("photometry", 5 * 8), ("morphology", 1),
                                  ("source_selection", 1)):  # fmt: skip
            total, linked = conn.execute(text(
                f"SELECT count(*), count(run_id) FROM {table} t JOIN source s "
                f"ON s.id = t.source_id WHERE s.release_id = :r"), {"r": rel.id}).one()  # fmt: skip
            assert linked == total, table
            if table != "morphology":  # sources without a CI get no morphology row
                assert total == n * per_source, table
        files = conn.execute(text(
            "SELECT path FROM release_file WHERE release_id = :r ORDER BY path"),
            {"r": rel.id}).scalars().all()  # fmt: skip
        assert len(files) == 6 and f"{MODULE}_{FIELD}_parameters.json" in files
        view = conn.execute(text(
            "SELECT count(*), count(ci), count(mag_v) FROM cluster_catalogue "
            "WHERE release = 'pipe'")).one()  # fmt: skip
        assert view[0] == n and view[1] > 40 and view[2] > 40
        # the dashboard's growth curve: seven apertures and the total in each band
        pk = conn.execute(text("SELECT min(id) FROM source WHERE release_id = :r"),
                          {"r": rel.id}).scalar()  # fmt: skip
        curve = growth_curve(conn, pk)
        assert len(curve) == 5 * 8 and curve["radius_px"].isna().sum() == 5
        found = source_images(conn, pk)
        assert found is not None and set(found[1]) == {"NUV", "U", "B", "V", "I"}

    # the selection rows are frozen with the complete release (revision 0007's triggers)
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(text("UPDATE source_selection SET candidate = NOT candidate"))
    before = _counts(engine)
    again = run_pipeline(engine, FIELD, "pipe", settings=SETTINGS, workers=2)
    assert again.status == "already ingested" and again.version == 1
    assert again.timings_s == {}  # nothing was computed
    assert _counts(engine) == before
    with pytest.raises(ReleaseConflictError, match="--new-version"):
        run_pipeline(engine, FIELD, "pipe", settings=PipelineSettings(n_fiducial=50))
    assert _counts(engine) == before
    v2 = run_pipeline(engine, FIELD, "pipe", settings=PipelineSettings(n_fiducial=50),
                      new_version=True)  # fmt: skip
    assert v2.status == "ingested" and v2.version == 2 and v2.n_sources == n
    engine.dispose()


def _clustercat(url: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "clustercat", "--database", url, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_killed_pipeline_run_leaves_no_release(images_db: str) -> None:
    engine = make_engine(images_db)
    before = _counts(engine)
    args = ("pipeline", "run", "--field", FIELD, "--release", "killed", "--n-fiducial", "60")
    proc = _clustercat(images_db, *args, env={"CLUSTERCAT_INGEST_PAUSE_AT": "photometry"})
    deadline, seen = time.monotonic() + 180, ""
    while "pausing after photometry" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
    assert "pausing after photometry" in seen, seen
    proc.send_signal(signal.SIGKILL)  # sources and photometry written, not committed
    proc.wait(timeout=30)
    assert _counts(engine) == before
    rerun = _clustercat(images_db, *args)
    out = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, out
    assert "ingested release killed v1" in out and "candidates" in out
    again = _clustercat(images_db, *args)
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0 and "already ingested" in out, out
    engine.dispose()


def test_cli_errors_name_the_problem(images_db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--database", images_db, "pipeline", "run", "--release", "x", "--n-fiducial", "20"]
    unknown = runner.invoke(main, [*base, "--field", "ngc9999"])
    assert unknown.exit_code == 2 and "unknown field 'ngc9999'" in unknown.output
    assert "ngc628c" in unknown.output
    engine = make_engine(images_db)
    few = tmp_path / "few"
    few.mkdir()
    paths, _ = synthetic_field(few, n_px=64, n_sources=2, target="ngc1566")
    register_images(engine, [paths["V"], paths["I"]], field="ngc1566", galaxy="NGC 1566")
    before = _counts(engine)
    missing = runner.invoke(main, [*base, "--field", "ngc1566"])
    assert missing.exit_code == 2, missing.output
    assert "no registered image in band(s) NUV, U, B" in missing.output
    assert _counts(engine) == before
    other = tmp_path / "changed"
    paths, _ = synthetic_field(other, n_px=64, n_sources=2, target="ngc3351")
    register_images(engine, list(paths.values()), field="ngc3351", galaxy="NGC 3351")
    before = _counts(engine)
    with open(paths["V"], "r+b") as handle:  # change one byte of the data
        handle.seek(-10, os.SEEK_END)
        handle.write(b"\x01")
    changed = runner.invoke(main, [*base, "--field", "ngc3351"])
    assert changed.exit_code == 3, changed.output
    assert "changed since it was registered" in changed.output
    assert _counts(engine) == before
    engine.dispose()


def test_pipeline_on_a_running_dask_scheduler(images_db: str, dask_scheduler_address: str) -> None:
    """``--scheduler tcp://...``: a real scheduler with a worker process on 127.0.0.1."""
    address = dask_scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    result = CliRunner().invoke(main, [
        "--database", images_db, "pipeline", "run", "--field", FIELD, "--release", "remote",
        "--n-fiducial", "60", "--scheduler", address, "--tile-px", "128",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ingested release remote v1" in result.output
    engine = make_engine(images_db)
    with engine.connect() as conn:
        config = conn.execute(text(
            "SELECT p.config FROM processing_run p JOIN catalogue_release r "
            "ON r.id = p.release_id WHERE r.name = 'remote'")).scalar()  # fmt: skip
    config = config if isinstance(config, dict) else json.loads(config)
    assert config["dask"] == address and config["n_tiles"] == 4
    engine.dispose()
