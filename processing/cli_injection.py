"""``clustercat inject run``: artificial clusters into a field's images, trials into the database.

Exit status: 0 success (also "already complete"); 2 bad usage or names (unknown field,
field without images, no SSP grid, empty or inverted parameter ranges); 1 anything else.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from clustercat.schema.cli import engine_from_context
from rich.console import Console

from .injection import GRIDS, GeneratorSettings, InjectionInputError
from .injection_db import DEFAULT_SSP_MODEL, InjectionError, run_injection
from .pipeline import PipelineSettings

__all__ = ["inject_group"]

console = Console()
err_console = Console(stderr=True)
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


def _pair(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected LO,HI, got {value!r}") from None
    return lo, hi


@click.group("inject")
def inject_group() -> None:
    """Injection-recovery tests (Thilker et al. 2022 §4.2; Tang et al. 2026 C-4 §3)."""


@inject_group.command("run")
@click.option("--field", "field_name", required=True, help="Field whose registered images to use.")
@click.option("--n", "n_trials", type=click.IntRange(1, None), required=True,
              help="Number of clusters to inject (trials).")  # fmt: skip
@click.option("--grid", type=click.Choice(GRIDS), default="c4", show_default=True,
              help="Parameter sampling: Thilker et al. grid or the C-4 priors.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Dask scheduler address [default: a local cluster].")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Workers of the local Dask cluster (ignored with --scheduler).")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(1, 5000), default=None,
              help="Clusters per frame set [default: 200 thilker, 500 c4].")  # fmt: skip
@click.option("--log-mass", default=None, metavar="LO,HI", help="log10 mass range (Msun).")
@click.option("--log-age", default=None, metavar="LO,HI", help="log10 age range (yr).")
@click.option("--av", default=None, metavar="LO,HI", help="A_V range (mag).")
@click.option("--r-eff", default=None, metavar="LO,HI", help="r_eff range (pc; c4 grid).")
@click.option("--ssp-model", type=click.Choice(["bc03", "yggdrasil"]), default=DEFAULT_SSP_MODEL,
              show_default=True, help="Stored SSP grid giving the magnitudes.")  # fmt: skip
@click.option("--distance-mpc", type=float, default=None,
              help="Distance (Mpc) [default: the galaxy's adopted distance].")  # fmt: skip
@click.option("--n-fiducial", type=click.IntRange(10, None), default=300, show_default=True,
              help="Synthetic fiducial clusters that set the field's NCI constants.")  # fmt: skip
@click.option(
    "--model-regions-from",
    "model_regions_run",
    type=int,
    default=None,
    metavar="RUN",
    help="Complete run whose hit maps give the model regions.",
)
@click.option(
    "--selection-region",
    type=click.Choice(["semi_empirical", "model"]),
    default="semi_empirical",
    show_default=True,
    help="MCI region of the selection (model: needs --model-regions-from).",
)
@click.pass_context
def run_cmd(
    ctx: click.Context, field_name: str, n_trials: int, grid: str, seed: int,
    scheduler: str | None, workers: int, batch_size: int | None, log_mass: str | None,
    log_age: str | None, av: str | None, r_eff: str | None, ssp_model: str,
    distance_mpc: float | None, n_fiducial: int, model_regions_run: int | None,
    selection_region: str,
) -> None:  # fmt: skip
    """Inject N synthetic clusters into FIELD, re-run the pipeline's stages, store the trials.

    One Dask task per frame set; each frame set's trials are written in one transaction,
    and the run is marked complete at the end. Killed, the same command resumes it and
    keeps the finished frame sets.
    """
    ranges = {"log_mass_range": _pair(log_mass), "log_age_range": _pair(log_age),
              "av_range": _pair(av), "r_eff_pc_range": _pair(r_eff)}  # fmt: skip
    kwargs = {k: v for k, v in ranges.items() if v is not None}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    try:
        generator = (GeneratorSettings.thilker(**kwargs) if grid == "thilker"
                     else GeneratorSettings(grid=grid, **kwargs))  # fmt: skip
        settings = PipelineSettings(n_fiducial=n_fiducial)
    except (InjectionInputError, ValueError) as exc:
        _fail(str(exc))
    engine = engine_from_context(ctx)
    try:
        result = run_injection(
            engine, field_name, n_trials, grid=grid, seed=seed, generator=generator,
            settings=settings, ssp_model=ssp_model, distance_mpc=distance_mpc,
            scheduler=scheduler, workers=workers, show_progress=True,
            model_regions_run=model_regions_run, selection_region=selection_region,
        )  # fmt: skip
    except (InjectionError, InjectionInputError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    if result.status == "already complete":
        console.print(f"injection run {result.run_id} ({result.field}): already complete; "
                      "nothing computed", highlight=False)  # fmt: skip
        return
    resumed = f", resumed after {result.frame_sets_before}" if result.frame_sets_before else ""
    console.print(
        f"injection run {result.run_id} ({result.field}, {grid}): {result.status}; "
        f"{result.frame_sets_run} frame sets run{resumed} of {result.n_frame_sets}, "
        f"{result.n_trials} trials, {result.seconds:.1f} s", highlight=False,
    )  # fmt: skip
