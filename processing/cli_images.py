"""``clustercat images``: register drizzled HST images and list the registry.

* ``images add FILE... --field NAME --galaxy NAME`` reads, checks and registers the files
  (all or none) and prints one line per file: filter, instrument, zeropoints, exposure time
  and whether it was new or already registered;
* ``images list [--field NAME] [--csv]`` shows what is registered.

Exit status: 0 success (also "already registered"); 2 bad input (the message names the
file and the HDU/keyword) or a refused registration (grid mismatch, unknown filter, a
second image of one filter); 1 anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click
from clustercat.schema.cli import engine_from_context
from rich.console import Console
from rich.table import Table

from .images import ImageFormatError
from .images_db import ImageRecord, ImageRegistryError, images_frame, list_images, register_images

__all__ = ["images_group", "print_records"]

err_console = Console(stderr=True)


def _console() -> Console:
    """Standard output; 160 columns wide when it is not a terminal (logs, pipes, tests)."""
    return Console() if sys.stdout.isatty() else Console(width=160)


EXIT_BAD_INPUT = 2


def _mag(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_records(records: Sequence[ImageRecord], title: str = "images") -> None:
    """One row per image: file, filter, instrument, ZP_AB and ZP_Vega (mag), exptime, status."""
    table = Table(title=title)
    table.add_column("file", overflow="fold")
    for name in ("band", "filter", "instrument", "ZP_AB (mag)", "ZP_Vega (mag)", "exptime (s)"):
        table.add_column(name)
    table.add_column("status", min_width=10)
    for r in records:
        colour = "green" if r.status == "registered" else "yellow"
        table.add_row(
            r.path.name, r.band, r.filter_name, r.instrument, _mag(r.zeropoint_ab),
            _mag(r.zeropoint_vega),
            "-" if r.exposure_time_s is None else f"{r.exposure_time_s:g}",
            f"[{colour}]{r.status}[/{colour}]",
        )  # fmt: skip
    _console().print(table)


@click.group("images")
def images_group() -> None:
    """The registry of drizzled HST images (pixels stay in the FITS files)."""


@images_group.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--field", "-f", required=True, help="Field the images cover, e.g. ngc628c.")
@click.option("--galaxy", "-g", required=True, help="Galaxy, any alias (NGC 628, ngc0628, M74).")
@click.pass_context
def add_cmd(ctx: click.Context, files: tuple[Path, ...], field: str, galaxy: str) -> None:
    """Register drizzled HST FITS files (*_drc, *_drz, HLSP) as the images of one field."""
    engine = engine_from_context(ctx)
    try:
        records = register_images(
            engine, files, field=field, galaxy=galaxy, progress=sys.stderr.isatty()
        )
    except (ImageFormatError, ImageRegistryError) as exc:
        err_console.print(f"[red]error[/red]: {exc}")
        err_console.print("nothing was written")
        sys.exit(EXIT_BAD_INPUT)
    finally:
        engine.dispose()
    new = sum(r.status == "registered" for r in records)
    print_records(records, title=f"field {records[0].field}: {new} registered")


@images_group.command("list")
@click.option("--field", "-f", help="Only this field.")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to standard output.")
@click.pass_context
def list_cmd(ctx: click.Context, field: str | None, as_csv: bool) -> None:
    """List registered images with their filters, zeropoints and files."""
    engine = engine_from_context(ctx)
    try:
        records = list_images(engine, field)
    finally:
        engine.dispose()
    if as_csv:
        click.echo(images_frame(records).to_csv(index=False), nl=False)
        return
    if not records:
        _console().print("no images registered" + (f" for field {field}" if field else ""))
        return
    table = Table(title="registered images")
    for name in ("field", "band", "filter", "instrument", "size (pix)", "scale (arcsec/pix)",
                 "ZP_AB (mag)", "ZP_Vega (mag)", "exptime (s)"):  # fmt: skip
        table.add_column(name)
    table.add_column("file", overflow="fold")
    for r in records:
        table.add_row(
            r.field, r.band, r.filter_name, r.instrument, f"{r.naxis1}x{r.naxis2}",
            "-" if r.pixel_scale_arcsec is None else f"{r.pixel_scale_arcsec:.5f}",
            _mag(r.zeropoint_ab), _mag(r.zeropoint_vega),
            "-" if r.exposure_time_s is None else f"{r.exposure_time_s:g}", str(r.path),
        )  # fmt: skip
    _console().print(table)
