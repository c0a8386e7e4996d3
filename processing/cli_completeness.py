"""``clustercat completeness train|predict``: C-4 networks from injection runs (Tang et al. 2026).

Exit status: 0 success; 2 bad usage (no such run or model, incomplete run, bad CSV, a
weights file that does not match its registered sha256); 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from clustercat.schema.cli import engine_from_context
from rich.console import Console

from .completeness import KINDS, TrainSettings
from .completeness_db import CompletenessModelError, predict_csv, train_and_register

__all__ = ["completeness_group"]

console = Console()
err_console = Console(stderr=True)
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


@click.group("completeness")
def completeness_group() -> None:
    """C-4 completeness networks trained on injection trials (Tang et al. 2026 §3.3)."""


@completeness_group.command("train")
@click.option("--run", "run_id", type=int, required=True, help="Complete injection run id.")
@click.option("--kind", type=click.Choice(KINDS), required=True,
              help="physical (log M, log T, A_V) or photometric (five magnitudes).")  # fmt: skip
@click.option("--epochs", type=click.IntRange(1, None), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, None), default=4096, show_default=True)
@click.option("--lr", type=float, default=None, help="Peak learning rate [paper's best].")
@click.option("--weight-decay", type=float, default=None, help="AdamW weight decay [paper's].")
@click.option(
    "--grid-search",
    is_flag=True,
    help="Train the paper's 4 x 6 learning-rate x weight-decay grid, keep the best.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models"),
    show_default=True,
    help="Where the weights go.",
)
@click.pass_context
def train_cmd(
    ctx: click.Context, run_id: int, kind: str, epochs: int, batch_size: int, lr: float | None,
    weight_decay: float | None, grid_search: bool, seed: int, output_dir: Path,
) -> None:  # fmt: skip
    """Train a completeness network on a run's trials and register it in ml_model."""
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    try:
        settings = TrainSettings(kind=kind, learning_rate=lr, weight_decay=weight_decay,
                                 epochs=epochs, batch_size=batch_size, seed=seed)  # fmt: skip
    except ValueError as exc:
        _fail(str(exc))
    engine = engine_from_context(ctx)
    try:
        model = train_and_register(engine, run_id, kind, settings=settings,
                                   search_grid=grid_search, output_dir=output_dir)  # fmt: skip
    except (CompletenessModelError, ValueError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    m = model.network.metrics
    console.print(
        f"ml_model {model.id}: {model.name} v{model.version} ({kind}); "
        f"validation loss {m['validation_loss']:.4f}, accuracy {m['validation_accuracy']:.3f} "
        f"on {m['n_validation']} trials", highlight=False,
    )  # fmt: skip


@completeness_group.command("predict")
@click.option("--model", "model", required=True, help="ml_model id or name (newest version).")
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with the network's input columns.",
)
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="CSV written: the input plus p_hat.")  # fmt: skip
@click.pass_context
def predict_cmd(ctx: click.Context, model: str, input_path: Path, output_path: Path) -> None:
    """Completeness p-hat for each row of a CSV (physical: log_mass, log_age, av_mag, any
    missing ones marginalised over their priors; photometric: mag_in_nuv ... mag_in_i)."""
    engine = engine_from_context(ctx)
    try:
        n = predict_csv(engine, model, input_path, output_path)
    except (CompletenessModelError, ValueError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    console.print(f"{n} rows -> {output_path}", highlight=False)
