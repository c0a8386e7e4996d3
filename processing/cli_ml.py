"""``clustercat ml``: train, register, apply and probe the cutout CNNs (docs/ml.md).

Exit status: 0 done; 2 bad input (unknown release, method, model or architecture; a release
without images; fewer than two classes; band-count mismatch; weights whose SHA-256 does not
match the registry), nothing written; 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from clustercat.processing import cnn_train, ml_db
from clustercat.processing.occlusion import (
    VIANA_DIAMETERS_PX,
    filter_collapse,
    occlusion_attribution,
    occlusion_curve,
)
from clustercat.schema.cli import engine_from_context
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["ml_group"]

console = Console(stderr=True)
EXIT_USAGE = 2


def _fail(exc: Exception) -> None:
    console.print(f"[red]error[/red]: {exc}")
    sys.exit(EXIT_USAGE)


def _settings(**kw: object) -> cnn_train.TrainSettings:
    return ml_db.with_settings(cnn_train.TrainSettings(), **kw)


def _training_options(func):  # noqa: ANN001, ANN202 - click decorator
    opts = [
        click.option("--release", "-r", required=True, help="Release with registered images."),
        click.option("--epochs", type=click.IntRange(1), default=30, show_default=True),
        click.option("--batch-size", type=click.IntRange(2), default=32, show_default=True),
        click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True),
        click.option("--patience", type=click.IntRange(1), default=8, show_default=True,
                     help="Early stopping: epochs without a better validation loss."),
        click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.2,
                     show_default=True),
        click.option("--width", type=click.FloatRange(0.01), default=1.0, show_default=True,
                     help="Channel multiplier (1 = the papers' networks)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--threads", type=click.IntRange(1), default=None,
                     help="torch CPU threads."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Cutout cache [env CLUSTERCAT_CUTOUT_CACHE]."),
        click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Weights files [env CLUSTERCAT_MODEL_DIR]."),
        click.option("--name", default=None, help="Model name [default: from the settings]."),
    ]  # fmt: skip
    for opt in reversed(opts):
        func = opt(func)
    return func


class _Bar:
    """rich progress over epochs."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("epoch {task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
        self.tasks: dict[str, int] = {}

    def __call__(self, label: str, epoch: int, total: int) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.tasks[label], completed=epoch)


def _print_result(result: ml_db.EnsembleResult) -> None:
    console.print(f"registered model {result.model_id} ({result.name} v{result.version}); "
                  f"members {result.member_ids}; {result.n_train} training sources "
                  f"({result.n_dropped} off the images); training rows sha256 "
                  f"{result.training_sha256[:16]}...")  # fmt: skip
    click.echo(str(result.model_id))


@click.group("ml")
def ml_group() -> None:
    """CNN classifiers and age regression from five-band cutouts (docs/ml.md)."""


@ml_group.group("train")
def train_group() -> None:
    """Train and register a model."""


@train_group.command("classifier")
@_training_options
@click.option("--method", "-m", required=True, help="Classification method of the labels.")
@click.option("--arch", required=True, type=click.Choice(["resnet18", "vgg19bn"]))
@click.option("--ensemble", "n_members", type=click.IntRange(1), default=1, show_default=True)
@click.option("--cutout-px", type=click.IntRange(8), default=299, show_default=True)
@click.option("--classes", default="1,2,3,4", show_default=True)
@click.option("--field", "fields", multiple=True, help="Train on this field only (repeat).")
@click.option("--small-input", is_flag=True, help="ResNet18 3x3/1 stem for small cutouts.")
@click.option("--normalisation", type=click.Choice(["asinh", "minmax"]), default="asinh",
              show_default=True)  # fmt: skip
@click.pass_context
def train_classifier_cmd(ctx: click.Context, release: str, method: str, arch: str,
                         n_members: int, cutout_px: int, classes: str, fields: tuple[str, ...],
                         small_input: bool,
                         normalisation: str, cache_dir: Path | None, model_dir: Path | None,
                         name: str | None, **kw: object) -> None:  # fmt: skip
    """Train an ensemble of classifiers on a release's classes (Whitmore et al. 2021 §3)."""
    try:
        wanted = [int(c) for c in classes.split(",") if c.strip()]
    except ValueError:
        raise click.BadParameter(f"expected classes like 1,2,3,4, got {classes!r}") from None
    settings = _settings(small_input=small_input, normalisation=normalisation, **kw)
    engine = engine_from_context(ctx)
    bar = _Bar()
    try:
        with bar.progress:
            result = ml_db.train_classifier_models(
                engine, release, method, arch, classes=wanted, fields=list(fields) or None,
                n_members=n_members,
                size_px=cutout_px, settings=settings, name=name, cache_dir=cache_dir,
                model_dir=model_dir, progress=bar,
            )  # fmt: skip
    except ml_db.MlConfigError as exc:
        _fail(exc)
    finally:
        engine.dispose()
    _print_result(result)


@train_group.command("age")
@_training_options
@click.option("--sed-method", default=None, help="SED method [default: the release's default].")
@click.option("--cutout-px", type=click.IntRange(22), default=112, show_default=True)
@click.pass_context
def train_age_cmd(ctx: click.Context, release: str, sed_method: str | None, cutout_px: int,
                  cache_dir: Path | None, model_dir: Path | None, name: str | None,
                  **kw: object) -> None:  # fmt: skip
    """Train the Viana et al. age CNN on a release's SED ages."""
    settings = _settings(normalisation="minmax", flips=False, **kw)
    engine = engine_from_context(ctx)
    bar = _Bar()
    try:
        with bar.progress:
            result = ml_db.train_age_model(engine, release, sed_method=sed_method,
                                           size_px=cutout_px, settings=settings, name=name,
                                           cache_dir=cache_dir, model_dir=model_dir,
                                           progress=bar)  # fmt: skip
    except ml_db.MlConfigError as exc:
        _fail(exc)
    finally:
        engine.dispose()
    _print_result(result)


@ml_group.command("predict")
@click.option("--model", "model_id", required=True, type=int, help="ml_model id.")
@click.option("--release", "-r", required=True)
@click.option("--method-name", default=None, help="Name of the ml classification method.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_context
def predict_cmd(ctx: click.Context, model_id: int, release: str, method_name: str | None,
                cache_dir: Path | None) -> None:  # fmt: skip
    """Apply a registered model to every source of a release and store the predictions."""
    engine = engine_from_context(ctx)
    try:
        with console.status(f"predicting {release} with model {model_id}"):
            s = ml_db.predict_release(engine, model_id, release, cache_dir=cache_dir,
                                      method_name=method_name)  # fmt: skip
    except (ml_db.MlConfigError, ml_db.WeightsHashError) as exc:
        _fail(exc)
    finally:
        engine.dispose()
    console.print(f"run {s.run_id}: {s.n_predicted} of {s.n_sources} sources predicted "
                  f"({s.n_outside} off the images, {s.n_edge} padded at an edge), "
                  f"{s.n_prediction_rows} ml_prediction rows")  # fmt: skip
    if s.method_name:
        console.print(f"classification method {s.method_name!r} (id {s.method_id}): "
                      f"classes {s.class_counts}")  # fmt: skip


@ml_group.command("list")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_csv: bool) -> None:
    """The model registry."""
    engine = engine_from_context(ctx)
    try:
        frame = ml_db.list_models(engine)
    finally:
        engine.dispose()
    if as_csv:
        click.echo(frame.to_csv(index=False), nl=False)
        return
    table = Table("id", "name", "version", "task", "architecture", "training sha256", "created")
    for r in frame.itertuples():
        table.add_row(str(r.id), r.name, r.version, r.task, str(r.architecture),
                      str(r.training_sha256 or "")[:12], str(r.created_at)[:19])  # fmt: skip
    Console().print(table)


@ml_group.command("occlusion")
@click.option("--model", "model_id", required=True, type=int, help="An age_regression model.")
@click.option("--release", "-r", default=None, help="Release to probe [default: training's].")
@click.option("--sed-method", default=None)
@click.option("--diameters", default=",".join(str(d) for d in VIANA_DIAMETERS_PX),
              show_default=True, help="Central mask diameters (px).")  # fmt: skip
@click.option("--outer", is_flag=True, help="Keep the central disk, mask the rest (Fig. 8).")
@click.option("--attribution/--no-attribution", default=True, help="captum Occlusion profile.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_context
def occlusion_cmd(ctx: click.Context, model_id: int, release: str | None, sed_method: str | None,
                  diameters: str, outer: bool, attribution: bool,
                  cache_dir: Path | None) -> None:  # fmt: skip
    """Central masks and filter collapse of an age CNN (Viana §IV): scatter per mask."""
    engine = engine_from_context(ctx)
    try:
        model = ml_db.load_model(engine, model_id)
        if model.task != "age_regression":
            raise ml_db.MlConfigError(f"model {model_id} is a {model.task} model, not an age CNN")
        if release is None:
            release = _training_release(engine, model_id)
        tset = ml_db.age_training_set(engine, release, sed_method)
        stack = ml_db.release_cutouts(engine, tset.frame, model.size_px, cache_dir=cache_dir)
    except (ml_db.MlConfigError, ml_db.WeightsHashError) as exc:
        _fail(exc)
    finally:
        engine.dispose()
    inside = stack.coverage >= ml_db.MIN_COVERAGE
    raw, truth = stack.pixels[inside], tset.frame["label"].to_numpy(float)[inside]
    trained = model.members[0]
    ds = [float(d) for d in diameters.split(",") if d.strip()]
    curve = occlusion_curve(trained, raw, truth, ds, inner=not outer)
    collapse = filter_collapse(trained, raw, truth)
    click.echo(curve.to_string(index=False))
    click.echo()
    click.echo(collapse.to_string(index=False))
    ml_db.store_occlusion(engine, model_id, curve, collapse, inner=not outer)
    engine.dispose()
    click.echo(f"\nstored in the metrics of model {model_id} (the dashboard's ML page draws it)")
    if attribution:
        click.echo()
        prof = occlusion_attribution(trained, raw[: min(len(raw), 64)])
        click.echo(prof.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _training_release(engine, model_id: int) -> str:  # noqa: ANN001
    from clustercat.schema import MlModel
    from sqlalchemy import select

    with engine.connect() as conn:
        query = conn.execute(select(MlModel.training_query).where(MlModel.id == model_id)).scalar()
        rid = int(str(query).split("release_id=")[1].split(" ")[0])
        return str(conn.exec_driver_sql(
            f"SELECT name FROM catalogue_release WHERE id = {rid}").scalar_one())  # fmt: skip
