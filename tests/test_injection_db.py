"""``inject run`` on both backends: trials bulk-loaded per frame set, resumable runs, the
``injection_completeness`` view, and bad input that writes nothing.

The field is the synthetic 256^2 five-band field of :func:`test_pipeline.synthetic_field`
(40 real fiducial clusters), registered in a real SQLite / PostgreSQL database with a
stored BC03 grid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.processing import ssp_db
from clustercat.processing.images_db import register_images
from clustercat.processing.injection import GeneratorSettings, InjectionInputError
from clustercat.processing.injection_db import (
    InjectionError,
    completeness_table,
    run_injection,
    run_trials,
)
from clustercat.processing.pipeline import PipelineSettings
from clustercat.schema import make_engine, migrate, write_transaction
from conftest import _new_database
from sqlalchemy import Engine, text
from test_pipeline import synthetic_field

FIELD = "ngc628c"
DISTANCE = 9.84
SETTINGS = PipelineSettings(n_fiducial=40)
GEN = GeneratorSettings(batch_size=50, log_mass_range=(3.0, 5.5), log_age_range=(6.0, 8.5),
                        av_range=(0.0, 1.0), r_eff_pc_range=(1.0, 4.0))  # fmt: skip
N = 120  # three frame sets: 50, 50, 20 (four of 30 with a batch of 30)


@pytest.fixture(scope="module")
def inject_db(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    url = _new_database(backend, request, tmp_path_factory.mktemp("inject_db"))
    migrate.upgrade(url)
    paths, _ = synthetic_field(tmp_path_factory.mktemp("images"))
    engine = make_engine(url)
    register_images(engine, list(paths.values()), field=FIELD, galaxy="NGC 628")
    # a second field with two bands only: "a field without (all) images"
    other, _ = synthetic_field(tmp_path_factory.mktemp("partial"), n_px=64, n_sources=3, seed=8)
    register_images(engine, [other["V"], other["I"]], field="ngc628e", galaxy="NGC 628")
    with engine.connect() as conn:
        filters = [(f, i) for (f, i) in conn.execute(text(
            "SELECT DISTINCT fl.name, im.instrument FROM image im JOIN filter fl "
            "ON fl.id = im.filter_id")).all()]  # fmt: skip
    parts, _ = ssp_db.synthesize_grid("bc03", filters)
    with write_transaction(engine) as conn:
        ssp_db.store_grid(conn, parts)
    engine.dispose()
    return url


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM injection_run")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM injection_trial")).scalar_one(),
        )


def _run(engine: Engine, **kwargs):  # noqa: ANN202
    base = {"generator": GEN, "settings": SETTINGS, "distance_mpc": DISTANCE, "seed": 4,
            "workers": 1}  # fmt: skip
    return run_injection(engine, FIELD, N, **{**base, **kwargs})


def _table(engine: Engine, run_id: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return run_trials(conn, run_id).drop(columns=["run_id"])


def test_killed_run_is_hidden_resumes_and_equals_the_uninterrupted_run(inject_db: str) -> None:
    engine = make_engine(inject_db)
    started = time.perf_counter()
    part = _run(engine, max_frame_sets=1)
    assert part.status == "incomplete" and part.frame_sets_run == 1
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM injection_run WHERE id = :r"),
                              {"r": part.run_id}).scalar_one()  # fmt: skip
        assert status == "running"
        assert conn.execute(text("SELECT count(*) FROM injection_trial WHERE run_id = :r"),
                            {"r": part.run_id}).scalar_one() == 50  # fmt: skip
        # trials of an unfinished run are invisible to the view
        assert (
            conn.execute(
                text("SELECT count(*) FROM injection_completeness WHERE run_id = :r"),
                {"r": part.run_id},
            ).scalar_one()
            == 0
        )
    resumed = _run(engine)
    assert resumed.run_id == part.run_id and resumed.status == "complete"
    assert resumed.frame_sets_before == 1 and resumed.frame_sets_run == 2
    again = _run(engine)
    assert again.status == "already complete" and again.frame_sets_run == 0
    resumed_table = _table(engine, part.run_id)
    # the same run uninterrupted (same identity, so delete the first one)
    with write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM injection_trial WHERE run_id = :r"), {"r": part.run_id})
        conn.execute(text("DELETE FROM injection_run WHERE id = :r"), {"r": part.run_id})
    whole = _run(engine, workers=2)
    assert whole.status == "complete" and whole.frame_sets_run == 3
    whole_table = _table(engine, whole.run_id)
    print(f"\n{N} trials: {whole_table['detected'].sum()} detected, "
          f"{whole_table['recovered'].sum()} recovered; {time.perf_counter() - started:.1f} s "
          f"for 2 runs; timings {whole.timings_s}")  # fmt: skip
    # exact counts, per frame set
    assert len(whole_table) == N and whole_table["trial"].tolist() == list(range(N))
    assert whole_table.groupby("frame_set").size().tolist() == [50, 50, 20]
    pd.testing.assert_frame_equal(resumed_table, whole_table)
    # monotone flags, read back from the database
    det = whole_table["detected"].astype(bool)
    for flag in ("passes_photometric_cuts", "passes_ci_cut", "in_selection_region",
                 "recovered"):  # fmt: skip
        assert not (whole_table[flag].astype(bool) & ~det).any()
    assert 0 < whole_table["recovered"].sum() < det.sum() <= N

    # the view: recovered / injected per bin with binomial errors
    with engine.connect() as conn:
        view = completeness_table(conn, whole.run_id, "log_mass")
        all_q = pd.read_sql_query(text(
            "SELECT quantity, sum(n_injected) AS n FROM injection_completeness "
            "WHERE run_id = :r GROUP BY quantity ORDER BY quantity"), conn,
            params={"r": whole.run_id})  # fmt: skip
    assert dict(zip(all_q["quantity"], all_q["n"], strict=True)) == {
        "av": N,
        "log_age": N,
        "log_mass": N,
        "mag_v": N,
        "r_eff": N,
    }
    t = whole_table
    low = np.floor(t["log_mass"] / 0.25) * 0.25
    expect = t.groupby(low)["recovered"].agg(["size", "sum"])
    np.testing.assert_allclose(view["bin_low"], expect.index.to_numpy())
    assert view["n_injected"].tolist() == expect["size"].tolist()
    assert view["n_recovered"].tolist() == expect["sum"].astype(int).tolist()
    p = expect["sum"].to_numpy() / expect["size"].to_numpy()
    np.testing.assert_allclose(view["completeness"], p)
    np.testing.assert_allclose(view["completeness_err"], np.sqrt(p * (1 - p) / expect["size"]))
    engine.dispose()


def test_bad_input_writes_nothing(inject_db: str) -> None:
    engine = make_engine(inject_db)
    before = _counts(engine)
    with pytest.raises(InjectionError, match="unknown field"):
        run_injection(engine, "ngc9999", 10, generator=GEN, settings=SETTINGS,
                      distance_mpc=DISTANCE)  # fmt: skip
    with pytest.raises(InjectionError, match="no registered image in band"):
        run_injection(engine, "ngc628e", 10, generator=GEN, settings=SETTINGS,
                      distance_mpc=DISTANCE)  # fmt: skip
    with pytest.raises(InjectionInputError, match="outside the bc03 grid"):
        run_injection(engine, FIELD, 10, settings=SETTINGS, distance_mpc=DISTANCE,
                      generator=GeneratorSettings(log_age_range=(5.0, 7.0)))  # fmt: skip
    with pytest.raises(InjectionError, match="yggdrasil"):
        run_injection(engine, FIELD, 10, generator=GEN, settings=SETTINGS,
                      distance_mpc=DISTANCE, ssp_model="yggdrasil")  # fmt: skip
    runner = CliRunner()
    for args, message in (
        (["--field", FIELD, "--n", "10", "--log-mass", "5,3"], "inverted"),
        (["--field", FIELD, "--n", "10", "--av", "0.2,0.1", "--grid", "thilker"], "inverted"),
        (["--field", FIELD, "--n", "10", "--grid", "thilker", "--log-age", "9.2,9.4"],
         "no thilker grid value"),
        (["--field", "ngc9999", "--n", "10"], "unknown field"),
    ):  # fmt: skip
        out = runner.invoke(main, ["--database", inject_db, "inject", "run", *args])
        assert out.exit_code == 2, out.output
        assert message in out.output
    assert _counts(engine) == before
    engine.dispose()


def test_cli_killed_and_resumed(inject_db: str) -> None:
    """A real ``inject run`` process, SIGKILLed after its first frame set, then the same
    command again: the run completes with every trial once."""
    engine = make_engine(inject_db)
    args = [sys.executable, "-m", "clustercat", "--database", inject_db, "inject", "run",
            "--field", FIELD, "--n", "240", "--batch-size", "40", "--seed", "9",
            "--log-mass", "3,5.5", "--log-age", "6,8.5", "--r-eff", "1,4", "--av", "0,1",
            "--workers", "1", "--n-fiducial", "40", "--distance-mpc", str(DISTANCE)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        with engine.connect() as conn:
            n = conn.execute(text(
                "SELECT count(*) FROM injection_trial t JOIN injection_run r ON r.id = t.run_id "
                "WHERE r.seed = 9")).scalar_one()  # fmt: skip
        if n >= 40:
            proc.send_signal(signal.SIGKILL)
            killed_at = n
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None and killed_at < 240, "the run finished before it was killed"
    with engine.connect() as conn:
        run = conn.execute(text("SELECT id, status FROM injection_run WHERE seed = 9")).one()
        assert run.status == "running"
        assert conn.execute(text("SELECT count(*) FROM injection_trial WHERE run_id = :r"),
                            {"r": run.id}).scalar_one() % 40 == 0  # fmt: skip
    # the same command again (in this process: the CLI's code, without a second start-up)
    done = CliRunner().invoke(main, args[3:])
    assert done.exit_code == 0, done.output
    assert "complete" in done.stdout and "resumed after" in done.stdout, done.stdout
    with engine.connect() as conn:
        run = conn.execute(text("SELECT id, status, n_trials FROM injection_run "
                                "WHERE seed = 9")).one()  # fmt: skip
        trials = run_trials(conn, run.id)
    assert run.status == "complete" and len(trials) == 240
    assert trials["trial"].tolist() == list(range(240))
    engine.dispose()


def test_completeness_train_predict_registry(inject_db: str, tmp_path) -> None:  # noqa: ANN001
    """``completeness train`` registers an ml_model row whose weights hash matches the file;
    ``predict`` writes p_hat (marginalising a missing A_V); a changed weights file or an
    unfinished run is refused with nothing written."""
    engine = make_engine(inject_db)
    run = _run(engine, seed=21)
    unfinished = _run(engine, seed=22, max_frame_sets=1)
    runner = CliRunner()
    models = tmp_path / "models"

    def cli(*args: str):  # noqa: ANN202
        return runner.invoke(main, ["--database", inject_db, "completeness", *args])

    out = cli("train", "--run", str(unfinished.run_id), "--kind", "physical",
              "--output-dir", str(models))  # fmt: skip
    assert out.exit_code == 2 and "is running" in out.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ml_model")).scalar_one() == 0
    out = cli("train", "--run", str(run.run_id), "--kind", "physical", "--epochs", "4",
              "--batch-size", "64", "--output-dir", str(models))  # fmt: skip
    assert out.exit_code == 0, out.output
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM ml_model WHERE task = 'completeness'")).one()
    hyper = row.hyperparameters if isinstance(row.hyperparameters, dict) else __import__(
        "json").loads(row.hyperparameters)  # fmt: skip
    assert row.architecture == "C-4 MLP 3-512-512-1 GELU"
    assert hyper["learning_rate"] == 1e-2 and hyper["weight_decay"] == 5e-2
    assert hyper["features"] == ["log_mass", "log_age", "av_mag"] and hyper["epochs"] == 4
    assert f"run_id = {run.run_id}" in row.training_query and len(row.training_query_sha256) == 64
    import hashlib

    assert hashlib.sha256(Path(row.weights_path).read_bytes()).hexdigest() == row.weights_sha256
    src = tmp_path / "in.csv"
    pd.DataFrame({"log_mass": [5.5, 2.0, 4.0], "log_age": [6.5, 9.9, 7.0],
                  "av_mag": [0.0, 3.0, np.nan]}).to_csv(src, index=False)  # fmt: skip
    dst = tmp_path / "out.csv"
    out = cli("predict", "--model", str(row.id), "--input", str(src), "--output", str(dst))
    assert out.exit_code == 0, out.output
    pred = pd.read_csv(dst)
    assert len(pred) == 3 and pred["p_hat"].between(0, 1).all()
    assert pred["p_hat"].iloc[0] > pred["p_hat"].iloc[1]  # massive young vs light old
    # the per-source completeness of `analyse functions --completeness MODEL`: p-hat at the
    # source's mass and age with A_V marginalised over U(0, 3), floored at 1e-3
    from clustercat.processing.completeness_db import load_registered, source_completeness

    with engine.connect() as conn:
        registered = load_registered(conn, row.id)
    sample = pd.DataFrame({"log_mass": [5.5, 4.0], "log_age": [6.5, 7.0]})
    p = source_completeness(registered)(sample)
    av = np.linspace(0.0, 3.0, 25)
    explicit = registered.network.predict(np.column_stack([np.full(25, 4.0), np.full(25, 7.0),
                                                           av])).mean()  # fmt: skip
    assert p[1] == pytest.approx(max(explicit, 1e-3), abs=1e-6) and 1e-3 <= p[0] <= 1.0
    # Thilker model regions from the run's hit maps: three layers over the detected trials
    # that exist and are detectable; an unfinished run is refused
    from clustercat.processing.injection_db import model_regions_from_run

    with engine.connect() as conn:
        regions = model_regions_from_run(conn, run.run_id)
        with pytest.raises(InjectionError, match="complete injection run"):
            model_regions_from_run(conn, unfinished.run_id)
        kept = conn.execute(
            text(
                "SELECT count(*) FROM injection_trial WHERE run_id = :r AND "
                "detected AND r_eff_pc <= 10"
            ),
            {"r": run.run_id},
        ).scalar_one()
    assert [layer.bin_size for layer in regions.layers] == [0.01, 0.02, 0.04]
    assert 9 <= regions.layers[0].counts.sum() <= kept
    assert len({int(layer.counts.sum()) for layer in regions.layers}) == 1
    # a weights file that changed: refused, no output
    Path(row.weights_path).write_bytes(Path(row.weights_path).read_bytes() + b"x")
    dst2 = tmp_path / "out2.csv"
    out = cli("predict", "--model", row.name, "--input", str(src), "--output", str(dst2))
    assert out.exit_code == 2 and "does not match" in out.output and not dst2.exists()
    engine.dispose()


def test_run_on_a_real_scheduler(inject_db: str, dask_scheduler_address: str) -> None:
    """``--scheduler ADDR``: the frame sets run in a separate worker process (the context
    and magnitudes travel pickled) and give the same trials as the in-process cluster."""
    engine = make_engine(inject_db)
    gen = GeneratorSettings(batch_size=30, log_mass_range=(3.0, 5.5), log_age_range=(6.0, 8.5),
                            r_eff_pc_range=(1.0, 4.0))  # fmt: skip
    remote = _run(engine, seed=31, generator=gen, scheduler=dask_scheduler_address)
    assert remote.status == "complete" and remote.frame_sets_run == 4
    remote_table = _table(engine, remote.run_id)
    with write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM injection_trial WHERE run_id = :r"), {"r": remote.run_id})
        conn.execute(text("DELETE FROM injection_run WHERE id = :r"), {"r": remote.run_id})
    local = _run(engine, seed=31, generator=gen)
    assert local.status == "complete"
    pd.testing.assert_frame_equal(remote_table, _table(engine, local.run_id))
    engine.dispose()
