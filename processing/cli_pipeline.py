"""``clustercat pipeline run``: a field's registered images -> a new release.

Exit status: 0 success (also "already ingested"); 2 bad usage or names (unknown field,
missing bands, no distance, bad settings); 3 refused (other content under an existing
release name without ``--new-version``, an image whose file changed since it was
registered); 1 anything else.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from clustercat.ingest.releases import ReleaseConflictError
from clustercat.schema.cli import engine_from_context
from rich.console import Console

from . import images_db
from .pipeline import APCOR_METHODS, PipelineSettings
from .pipeline_db import PipelineError, run_pipeline

__all__ = ["pipeline_group"]

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_REFUSED = 3


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


@click.group("pipeline")
def pipeline_group() -> None:
    """The image pipeline (Thilker et al. 2022): detection, photometry, MCI, selection."""


@pipeline_group.command("run")
@click.option("--field", "field_name", required=True, help="Field whose registered images to use.")
@click.option("--release", required=True, help="Name of the release to write.")
@click.option(
    "--distance-mpc",
    type=float,
    default=None,
    help="Distance (Mpc) [default: the galaxy's adopted distance].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDR",
    help="Dask scheduler address, e.g. tcp://host:8786 [default: a local cluster].",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Workers of the local Dask cluster (ignored with --scheduler).",
)
@click.option(
    "--tile-px",
    type=click.IntRange(64, None),
    default=None,
    help="Process in tiles of this size (px) [default: the image whole].",
)
@click.option(
    "--n-fiducial",
    type=click.IntRange(10, None),
    default=300,
    show_default=True,
    help="Synthetic fiducial clusters that set the field's NCI constants.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed of the fiducial clusters."
)
@click.option(
    "--apcor",
    "apcor_method",
    type=click.Choice(APCOR_METHODS),
    default=PipelineSettings.apcor_method,
    show_default=True,
    help="4 px -> total aperture correction: per source from its growth curve, or the "
    "field's average over isolated clusters as in the LEGUS and PHANGS-HST catalogues "
    "(average-isolated), or the others of docs/pipeline.md.",
)
@click.option(
    "--survey", default="PHANGS-HST", show_default=True, help="Survey recorded for the release."
)
@click.option(
    "--new-version",
    is_flag=True,
    help="Write a new version when the name exists with other images or settings.",
)
@click.pass_context
def run_cmd(
    ctx: click.Context, field_name: str, release: str, distance_mpc: float | None,
    scheduler: str | None, workers: int, tile_px: int | None, n_fiducial: int, seed: int,
    apcor_method: str, survey: str, new_version: bool,
) -> None:  # fmt: skip
    """Detect, measure and select the sources of a field's registered images as a release.

    Atomic like ingest: a run that fails or is killed leaves no release; the same images
    and settings under the same name are "already ingested" (nothing is recomputed).
    """
    try:
        settings = PipelineSettings(tile_px=tile_px, n_fiducial=n_fiducial, seed=seed,
                                    apcor_method=apcor_method)  # fmt: skip
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    engine = engine_from_context(ctx)
    try:
        run = run_pipeline(
            engine, field_name, release, settings=settings, distance_mpc=distance_mpc,
            scheduler=scheduler, workers=workers, new_version=new_version, survey=survey,
            show_progress=True,
        )  # fmt: skip
    except (PipelineError, images_db.MissingBandsError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except (ReleaseConflictError, images_db.ImageChangedError) as exc:
        _fail(str(exc), EXIT_REFUSED)
    finally:
        engine.dispose()
    if run.status == "already ingested":
        console.print(f"release {run.release} v{run.version}: already ingested "
                      f"(same images and settings); nothing computed", highlight=False)  # fmt: skip
        return
    ci = "n/a" if run.median_ci is None else f"{run.median_ci:.3f} mag"
    console.print(
        f"ingested release {run.release} v{run.version} from the images of {run.field} "
        f"(distance {run.distance_mpc:g} Mpc; processing run {run.run_id}): "
        f"{run.n_sources} sources, {run.n_candidates} candidates, median CI {ci}; "
        f"{run.seconds:.1f} s",
        highlight=False,
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings_s.items())
    if stages:
        console.print(f"stages: {stages}", highlight=False)
