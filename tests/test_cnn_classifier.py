"""Acceptance of the CNN classifiers on both backends (issue 12).

Two synthetic fields are rendered from real LEGUS catalogues (``processing/synth.py``: the
class of each source drives its morphology): NGC 628-C (2048 px, the training galaxy) and
NGC 1566 (1024 px, the unseen galaxy), with exposures x100 the real ones. Their five images
are registered, a small ResNet18 ensemble (3 members, 16 px cutouts, width 0.25, at most 25
epochs, one CPU thread) is trained on NGC 628-C's "LEGUS human mode" classes through the
registry, then applied to the whole release (both fields). The rendered
classes of NGC 1566 are the truth: accuracy >= 0.8. Then: the ml method in the agreement
command, reloading gives identical predictions, a tampered weights file is refused, and bad
input (no images, < 2 classes, unknown architecture, band mismatch) writes nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.processing import cli_synth, cnn_train, ml_db, synth
from clustercat.processing.cutouts import CutoutStack, normalise
from clustercat.processing.images_db import register_images
from clustercat.schema import make_engine, migrate
from conftest import _new_database, shared_path
from sqlalchemy import Engine, text

LEGUS = "legus"
TRAIN_FIELD, TEST_FIELD = "ngc628c", "ngc1566"
FILES = {
    TRAIN_FIELD: "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
    TEST_FIELD: "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab",
}
GALAXY = {TRAIN_FIELD: "NGC 628", TEST_FIELD: "NGC 1566"}
SIZE = {TRAIN_FIELD: 2048, TEST_FIELD: 1024}
#: Deep exposures (x100 the real ones): the test is about morphology, not the noise floor.
EXPTIME_SCALE = 100.0
CUTOUT_PX = 16
SETTINGS = cnn_train.TrainSettings(epochs=25, patience=8, batch_size=32, learning_rate=2e-3,
                                   width=0.25, small_input=True, threads=1, seed=0)  # fmt: skip
N_MEMBERS = 3
ML_TABLES = ("ml_model", "ml_prediction", "classification_method", "classification",
             "processing_run")  # fmt: skip


def _ingest(engine: Engine) -> None:
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    legus = reader_info("legus")
    files = [shared_path("legus", name) for name in FILES.values()]
    ingest_release(engine, ReleaseRequest(LEGUS, legus.name, legus.version, files),
                   legus.reader())  # fmt: skip


@pytest.fixture(scope="session")
def rendered(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[list[Path], pd.DataFrame]]:
    """The two synthetic fields (FITS paths and truth), rendered once for both backends."""
    tmp = tmp_path_factory.mktemp("cnn_fields")
    url = f"sqlite:///{tmp / 'render.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    _ingest(engine)
    out = {}
    for field, size in SIZE.items():
        cat = cli_synth.read_field_catalogue(engine, LEGUS, field)
        bands, _ = cli_synth.field_bands(cat)
        field_synth = synth.render_field(
            cat.frame, bands, field_name=cat.field, distance_mpc=cat.distance_mpc,
            settings=synth.SynthSettings(size_px=size, seed=1, n_stars=0,
                                         exptime_scale=EXPTIME_SCALE),
        )  # fmt: skip
        paths = synth.write_synthetic_field(field_synth, tmp / field)
        out[field] = ([p for p in paths if p.suffix == ".fits"], field_synth.truth.to_pandas())
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def cnn_db(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    rendered: dict,
) -> Iterator[tuple[Engine, str, Path]]:  # fmt: skip
    """LEGUS NGC 628-C + NGC 1566 with the rendered images registered; model + cache dirs."""
    tmp = tmp_path_factory.mktemp(f"cnn_{backend}")
    url = _new_database(backend, request, tmp)
    migrate.upgrade(url)
    engine = make_engine(url)
    _ingest(engine)
    for field, (paths, _) in rendered.items():
        register_images(engine, paths, field=field, galaxy=GALAXY[field])
    yield engine, url, tmp
    engine.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ML_TABLES}  # fmt: skip


@pytest.fixture(scope="module")
def trained(cnn_db: tuple[Engine, str, Path]) -> ml_db.EnsembleResult:
    engine, _, tmp = cnn_db
    torch.set_num_threads(1)
    return ml_db.train_classifier_models(
        engine, LEGUS, "LEGUS human mode", "resnet18", fields=[TRAIN_FIELD],
        n_members=N_MEMBERS, size_px=CUTOUT_PX,
        settings=SETTINGS, cache_dir=tmp / "cache", model_dir=tmp / "models",
    )  # fmt: skip


def test_ensemble_classifies_an_unseen_galaxy(
    cnn_db: tuple[Engine, str, Path], trained: ml_db.EnsembleResult, rendered: dict
) -> None:
    engine, url, tmp = cnn_db
    assert len(trained.member_ids) == N_MEMBERS and trained.model_id not in trained.member_ids
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT task, architecture, training_query, training_query_sha256, "
                 "weights_sha256, hyperparameters, metrics FROM ml_model WHERE id = :i"),
            {"i": trained.model_id},
        ).one()  # fmt: skip
    assert row.task == "classification" and row.architecture == "ensemble of 3 ResNet18"
    assert "classification" in row.training_query and len(row.training_query_sha256) == 64
    # the training query: NGC 628-C's sources LEGUS human mode classified (the ones off the
    # 2048 px image dropped); NGC 1566 stays unseen
    assert "ngc628c" in row.training_query and trained.n_dropped > 0
    assert 500 < trained.n_train < 700
    summary = ml_db.predict_release(engine, trained.model_id, LEGUS, cache_dir=tmp / "cache")
    assert summary.n_outside > 0 and summary.n_predicted > 500
    truth = rendered[TEST_FIELD][1]
    truth = truth[truth["class"].isin([1, 2, 3, 4]) & ~truth["is_field_star"]]
    with engine.connect() as conn:
        cnn = pd.DataFrame(conn.execute(
            text("SELECT k.source_id, k.\"class\", k.score, k.method_kind FROM source_classes k "
                 "WHERE k.method = :m AND k.field = :f"),
            {"m": summary.method_name, "f": TEST_FIELD},
        ).mappings().all())  # fmt: skip
    assert set(cnn["method_kind"]) == {"ml"}
    merged = truth.merge(cnn, left_on="id", right_on="source_id")
    assert len(merged) >= 500
    accuracy = float((merged["class_x"].astype(int) == merged["class_y"].astype(int)).mean())
    print(f"accuracy on the unseen galaxy: {accuracy:.3f} over {len(merged)} sources")
    assert accuracy >= 0.8
    assert merged["score"].between(1 / N_MEMBERS - 1e-9, 1.0).all()
    # the registry's metrics: per class precision / recall, the confusion matrix, agreement
    metrics = row.metrics if isinstance(row.metrics, dict) else json.loads(row.metrics)
    assert set(metrics["training_set"]["per_class"]) == {"1", "2", "3", "4"}
    assert np.array(metrics["training_set"]["confusion_matrix"]).shape == (4, 4)
    # the ml method through the agreement command, against the classes that drove the render
    args = ["--database", url, "analyse", "agreement", "-r", LEGUS, "-a", summary.method_name,
            "-b", "LEGUS hybrid", "-g", "NGC 1566", "--table", "confusion", "--csv"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert len(table) == 16 and table["n"].sum() >= 500
    diagonal = table[table["class_a"] == table["class_b"]]
    assert diagonal["n"].sum() / table["n"].sum() >= 0.75


def test_reload_gives_identical_predictions_and_tampering_is_refused(
    cnn_db: tuple[Engine, str, Path], trained: ml_db.EnsembleResult
) -> None:
    engine, _, tmp = cnn_db
    model = ml_db.load_model(engine, trained.model_id)
    assert model.is_ensemble and len(model.members) == N_MEMBERS
    member = trained.member_ids[0]
    with engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(
            text("SELECT source_id, p_class1, p_class2, p_class3, p_class4 FROM ml_prediction "
                 "WHERE model_id = :m ORDER BY source_id"), {"m": member},
        ).all()).set_index("source_id")  # fmt: skip
    assert len(stored) > 500
    _, sources = ml_db.release_sources(engine, LEGUS)
    sources = sources[sources["source_pk"].isin(stored.index[::10])]
    stack = ml_db.release_cutouts(engine, sources, CUTOUT_PX, cache_dir=tmp / "cache")
    x = normalise(stack.pixels, SETTINGS.normalisation)
    again = cnn_train.predict_proba(model.members[0], x)
    np.testing.assert_allclose(stored.loc[sources["source_pk"]].to_numpy(), again, atol=1e-12)
    # a weights file that no longer matches its row is refused
    path = trained.weights_paths[0]
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        with pytest.raises(ml_db.WeightsHashError, match="sha256"):
            ml_db.load_model(engine, member)
        with pytest.raises(ml_db.WeightsHashError):
            ml_db.load_model(engine, trained.model_id)
        url = engine.url.render_as_string(hide_password=False)
        args = ["--database", url, "ml", "predict", "--model", str(member), "-r", LEGUS]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "sha256" in result.output
    finally:
        path.write_bytes(original)
    assert ml_db.load_model(engine, member).member_ids == [member]


def test_bad_input_writes_nothing(
    cnn_db: tuple[Engine, str, Path], trained: ml_db.EnsembleResult
) -> None:
    engine, url, tmp = cnn_db
    before = _counts(engine)
    tiny = cnn_train.TrainSettings(epochs=1, width=0.125, small_input=True, threads=1)
    kw = {"size_px": CUTOUT_PX, "settings": tiny, "cache_dir": tmp / "cache",
          "model_dir": tmp / "bad_models"}  # fmt: skip
    with pytest.raises(ml_db.MlConfigError, match="at least two"):
        ml_db.train_classifier_models(engine, LEGUS, "LEGUS human mode", "resnet18",
                                      classes=[1], **kw)  # fmt: skip
    with pytest.raises(ml_db.MlConfigError, match="unknown architecture"):
        ml_db.train_classifier_models(engine, LEGUS, "LEGUS human mode", "alexnet", **kw)
    # a release whose field has no images: a second release of a LEGUS file without images
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    legus = reader_info("legus")
    other = shared_path(
        "legus", "hlsp_legus_hst_wfc3_ngc1705_multiband_v2_padagb-mwext-avgapcor.tab"
    )
    ingest_release(engine, ReleaseRequest("legus-1705", legus.name, legus.version, [other]),
                   legus.reader())  # fmt: skip
    before = _counts(engine)
    with pytest.raises(ml_db.MlConfigError, match="no registered image"):
        ml_db.train_classifier_models(engine, "legus-1705", "LEGUS human mode", "resnet18", **kw)
    with pytest.raises(ml_db.MlConfigError, match="no registered image"):
        ml_db.predict_release(engine, trained.model_id, "legus-1705", cache_dir=tmp / "cache")
    # cutouts with four bands for a five-band model
    _, sources = ml_db.release_sources(engine, LEGUS)
    four = CutoutStack(sources["source_pk"].to_numpy(), np.zeros((len(sources), 4, CUTOUT_PX,
                       CUTOUT_PX), np.float32), np.zeros(len(sources), bool),
                       np.ones(len(sources), np.float32), ("NUV", "U", "B", "V"))  # fmt: skip
    with pytest.raises(ml_db.MlConfigError, match="4 bands but model"):
        ml_db.predict_release(engine, trained.model_id, LEGUS, stamps=four)
    # CLI: the same errors exit 2
    runner = CliRunner()
    result = runner.invoke(main, ["--database", url, "ml", "train", "classifier", "-r",
                                  "legus-1705", "-m", "LEGUS human mode", "--arch", "resnet18",
                                  "--cutout-px", "16", "--epochs", "1",
                                  "--cache-dir", str(tmp / "cache"),
                                  "--model-dir", str(tmp / "bad_models")])  # fmt: skip
    assert result.exit_code == 2 and "no registered image" in result.output
    assert _counts(engine) == before
    assert not (tmp / "bad_models").exists() or not any((tmp / "bad_models").iterdir())
    listing = runner.invoke(main, ["--database", url, "ml", "list", "--csv"])
    assert listing.exit_code == 0
    registry = pd.read_csv(io.StringIO(listing.output))
    assert (registry["architecture"] == "ensemble of 3 ResNet18").sum() == 1
    assert (registry["architecture"] == "ResNet18").sum() == N_MEMBERS


def test_age_model_through_the_registry_and_occlusion_cli(
    cnn_db: tuple[Engine, str, Path],
) -> None:
    """The age path end to end (plumbing, not skill): the release's default SED ages train a
    tiny Viana network, predictions land in ml_prediction, ``ml occlusion`` prints the masks."""
    engine, url, tmp = cnn_db
    settings = cnn_train.TrainSettings(epochs=2, patience=2, width=0.0625, threads=1,
                                       normalisation="minmax", flips=False)  # fmt: skip
    result = ml_db.train_age_model(engine, LEGUS, size_px=24, settings=settings,
                                   cache_dir=tmp / "cache", model_dir=tmp / "models")  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(text("SELECT task, architecture, metrics FROM ml_model WHERE id = :i"),
                           {"i": result.model_id}).one()  # fmt: skip
    metrics = row.metrics if isinstance(row.metrics, dict) else json.loads(row.metrics)
    assert row.task == "age_regression" and row.architecture == "Viana age CNN"
    assert metrics["training_set"]["null_scatter_dex"] > 0 and result.n_train > 500
    summary = ml_db.predict_release(engine, result.model_id, LEGUS, cache_dir=tmp / "cache")
    assert summary.method_id is None and summary.n_prediction_rows == summary.n_predicted
    with engine.connect() as conn:
        values = conn.execute(
            text("SELECT predicted_value FROM ml_prediction WHERE model_id = :m"),
            {"m": result.model_id},
        ).scalars().all()  # fmt: skip
    assert len(values) == summary.n_predicted and np.isfinite(values).all()
    args = ["--database", url, "ml", "occlusion", "--model", str(result.model_id),
            "--diameters", "0,4,8", "--cache-dir", str(tmp / "cache")]  # fmt: skip
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "diameter_px" in out.output and "white light (band mean)" in out.output
    assert "mean_abs_attribution" in out.output
    # the curve is kept on the model for the dashboard's ML page
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT metrics FROM ml_model WHERE id = :m"),
                              {"m": result.model_id}).scalar_one()  # fmt: skip
    stored = json.loads(stored) if isinstance(stored, str) else stored
    curve = pd.DataFrame(stored["occlusion"]["curve"])
    assert list(curve["diameter_px"]) == [0, 4, 8] and stored["occlusion"]["inner"] is True
    assert len(stored["occlusion"]["filter_collapse"]) >= 1
    # a classifier is not an age model
    args[5] = str(ml_db.list_models(engine).query("task == 'classification'")["id"].iloc[0])
    assert CliRunner().invoke(main, args).exit_code == 2


def test_cli_train_and_predict(cnn_db: tuple[Engine, str, Path]) -> None:
    """``ml train classifier`` and ``ml predict`` from the command line (1 epoch, tiny)."""
    _, url, tmp = cnn_db
    runner = CliRunner()
    args = ["--database", url, "ml", "train", "classifier", "-r", LEGUS, "-m", "LEGUS human mode",
            "--arch", "resnet18", "--ensemble", "2", "--cutout-px", str(CUTOUT_PX), "--epochs",
            "1", "--width", "0.0625", "--small-input", "--field", TRAIN_FIELD, "--threads", "1",
            "--name", "cli test", "--cache-dir", str(tmp / "cache"),
            "--model-dir", str(tmp / "models")]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    model_id = int(result.output.strip().splitlines()[-1])
    args = ["--database", url, "ml", "predict", "--model", str(model_id), "-r", LEGUS,
            "--method-name", "CNN cli test", "--cache-dir", str(tmp / "cache")]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "CNN cli test" in result.output
    again = runner.invoke(main, args)  # the same model on the same release: refused
    assert again.exit_code == 2 and "already predicted" in again.output
