"""``clustercat synth field``: a synthetic five-band HST field rendered from a catalogue.

The thin database layer of :mod:`clustercat.processing.synth`: one field of a release is read
through the collaborator views (``cluster_catalogue`` for positions and magnitudes,
``source_classes`` for the class under the catalogue's primary classification method), the
field's real header facts come from ``read_header_info`` and everything else is pure.

Exit status: 0 written; 2 bad usage or names (unknown release or field, a field without
sources); 1 anything else.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
from clustercat.processing import catalogue_io as cio
from clustercat.processing import synth
from clustercat.processing.hst_metadata import UnknownTargetError, read_header_info
from clustercat.processing.psf import DRIZZLED_PIXEL_SCALE_ARCSEC
from clustercat.schema.cli import engine_from_context
from clustercat.schema.config import data_dir
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine

__all__ = ["FieldCatalogue", "field_bands", "read_field_catalogue", "synth_group"]

console = Console(stderr=True)
EXIT_USAGE = 2


class FieldCatalogue:
    """One field of a release as :func:`clustercat.processing.synth.render_field` takes it."""

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        release: str,
        field: str,
        galaxy: str,
        distance_mpc: float,
        pixel_scale_arcsec: float,
        method: str | None,
        filter_b: str | None,
        filter_v: str | None,
    ) -> None:
        self.frame, self.release, self.field, self.galaxy = frame, release, field, galaxy
        self.distance_mpc, self.pixel_scale_arcsec, self.method = (
            distance_mpc, pixel_scale_arcsec, method,
        )  # fmt: skip
        self.filter_b, self.filter_v = filter_b, filter_v


def read_field_catalogue(
    bind: Engine | Connection, release_name: str, field_name: str
) -> FieldCatalogue:
    """Sources of one field of a release: source_id, x, y, ra, dec, mag_* (NaN: not
    measured), ci, class (the primary method's, NaN where none), and the field's facts."""
    with cio.connect(bind) as conn:
        release = cio.resolve_release(conn, release_name)
        field = cio.resolve_field(conn, field_name)
        frame = cio.read_catalogue(conn, release, fields=[field.name])
        if frame.empty:
            raise cio.CatalogueLookupError(
                f"release {release.label} has no source in field {field.name}"
            )
        method = cio.primary_method(conn, cio.Side(release, field))
        if method is not None:
            classes = cio.read_classes(conn, cio.Side(release, field), method)
            frame = frame.merge(classes[["source_pk", "class"]], on="source_pk", how="left")
        else:
            frame["class"] = np.nan
    frame["class"] = frame["class"].astype(float)
    distance = frame["distance_mpc"].dropna()
    if distance.empty:
        raise cio.CatalogueLookupError(f"galaxy of field {field.name} has no distance")
    return FieldCatalogue(
        frame, release=release.label, field=field.name, galaxy=str(frame["galaxy"].iat[0]),
        distance_mpc=float(distance.iat[0]),
        pixel_scale_arcsec=field.pixel_scale_arcsec or DRIZZLED_PIXEL_SCALE_ARCSEC,
        method=None if method is None else method.name,
        filter_b=frame["filter_b"].dropna().iat[0] if frame["filter_b"].notna().any() else None,
        filter_v=frame["filter_v"].dropna().iat[0] if frame["filter_v"].notna().any() else None,
    )  # fmt: skip


def field_bands(cat: FieldCatalogue) -> tuple[list[synth.BandSetup], str]:
    """The field's real header facts, or the documented default target's."""
    filters = {"B": cat.filter_b or "", "V": cat.filter_v or ""}
    try:
        info = read_header_info(cat.field)
        note = f"header facts of {cat.field} (phangs-metadata/header_info_{cat.field}_prime.txt)"
    except UnknownTargetError:
        info = read_header_info(synth.DEFAULT_TARGET)
        note = (
            f"no header table for {cat.field}: default bands of {synth.DEFAULT_TARGET} "
            "(all WFC3/UVIS)"
        )
        filters = {}
    return synth.band_setups(info, filters), note


def _ryon_for(galaxy: str) -> pd.DataFrame | None:
    name = synth.RYON_TABLES.get(galaxy)
    if name is None:
        return None
    path = data_dir() / "tables" / name
    return synth.read_ryon_radii(path) if path.is_file() else None


def _pair(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected X,Y (two numbers), got {text!r}") from None
    return x, y


@click.group("synth")
def synth_group() -> None:
    """Synthetic HST images rendered from real catalogues (docs/synthetic_fields.md)."""


@synth_group.command("field")
@click.option("--from-release", "release", required=True, help="Release name (newest version).")
@click.option("--field", "field_name", required=True, help="Field, e.g. ngc628c.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the FITS files and truth tables (created).")  # fmt: skip
@click.option("--size", type=click.IntRange(16, 16384), default=4096, show_default=True,
              help="Side of the square images (px).")  # fmt: skip
@click.option("--center", "centre", default=None, metavar="X,Y",
              help="Image centre, catalogue 1-based x, y [default: densest region].")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed: the same seed gives the same bytes.")  # fmt: skip
@click.option("--stars", type=click.IntRange(0), default=None,
              help="Field stars [default: 300 per 4096^2 px].")  # fmt: skip
@click.option("--exptime-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Multiply every real exposure time by this.")  # fmt: skip
@click.option("--noiseless", is_flag=True, help="No sky and no noise: the pure e-/s model.")
@click.option("--magnitudes", type=click.Choice(synth.MAGNITUDE_DEFINITIONS),
              default=synth.SynthSettings.magnitudes, show_default=True,
              help="What a catalogue magnitude is: (LEGUS, PHANGS-HST, pipeline releases "
                   "with --apcor average-isolated) the 4 px aperture magnitude, sky 7-8 px, "
                   "plus the field's average aperture correction; or the source's total "
                   "flux (pipeline releases with --apcor growth-curve).")  # fmt: skip
@click.pass_context
def field_cmd(
    ctx: click.Context,
    release: str,
    field_name: str,
    out_dir: Path,
    size: int,
    centre: str | None,
    seed: int,
    stars: int | None,
    exptime_scale: float,
    noiseless: bool,
    magnitudes: str,
) -> None:
    """Render five noisy drizzled images and a truth table of one field of a release."""
    settings = synth.SynthSettings(
        size_px=size, centre=_pair(centre), seed=seed, n_stars=stars,
        exptime_scale=exptime_scale, noiseless=noiseless, magnitudes=magnitudes,
    )  # fmt: skip
    engine = engine_from_context(ctx)
    try:
        cat = read_field_catalogue(engine, release, field_name)
    except cio.CatalogueLookupError as exc:
        console.print(f"[red]error[/red]: {exc}")
        sys.exit(EXIT_USAGE)
    finally:
        engine.dispose()
    bands, note = field_bands(cat)
    console.print(f"{cat.release} {cat.field} ({cat.galaxy}, {cat.distance_mpc} Mpc): "
                  f"{len(cat.frame)} sources; {note}")  # fmt: skip
    start = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:  # fmt: skip
        task = progress.add_task("planning", total=None)
        field = synth.render_field(
            cat.frame, bands, field_name=cat.field, distance_mpc=cat.distance_mpc,
            ryon=_ryon_for(cat.galaxy),
            settings=settings,
            progress=lambda message: progress.update(task, description=message),
        )  # fmt: skip
        progress.update(task, description="writing FITS files and the truth table")
        paths = synth.write_synthetic_field(field, out_dir, source=f"{cat.release}:{cat.field}")
    truth = field.truth
    console.print(
        f"rendered {len(truth)} sources ({int(truth['is_field_star'].sum())} field stars) on "
        f"{size}x{size} px, seed {seed}, in {time.perf_counter() - start:.1f} s"
    )
    for path in paths:
        click.echo(str(path))
