"""``clustercat ssp`` (build, list, track) and ``clustercat process sed``: grids and SED fits.

Two click groups, wired into the root command by ``__main__.py``:

* :data:`ssp_group`: store SSP grids as ``ssp_model`` rows (``build``), list them
  (``list``), and print colour tracks read from them (``track``; Whitmore et al. 2021 §5);
* :data:`process_group`: ``sed`` fits a release (or some of its fields) with a stored grid
  and writes ``sed_fit`` rows (Whitmore et al. 2021 §7); ``sed-default`` picks the SED method
  the ``cluster_catalogue`` view shows.

Fits are never replaced or deleted (complete releases are immutable): a refit of the same
settings is a new method beside the old one, ``process sed ... --label TEXT`` (method name
``<method> [TEXT]``), and ``--set-default`` / ``sed-default`` chooses which one the
catalogue shows.

Exit status: 0 success (also "already stored"); 2 bad usage or names (unknown release,
field, grid, filter the model lacks, a bad label, the former ``--replace``); 3 refused (a
grid of other content under that name, or a method that already fitted these sources: refit
with ``--label``); 1 anything else.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NoReturn

import click
from clustercat.processing import sed_db, ssp_db
from clustercat.schema import write_transaction
from clustercat.schema.cli import engine_from_context
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import text

__all__ = ["process_group", "ssp_group"]

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_REFUSED = 3

model_argument = click.argument(
    "model", type=click.Choice(sorted(ssp_db.MODELS), case_sensitive=False)
)
metallicity_option = click.option(
    "--metallicity", "-Z", type=float, default=0.02, show_default=True,
    help="Metal mass fraction Z (BC03: 0.0001 0.0004 0.004 0.008 0.02 0.05 0.1; Yggdrasil 0.02).",
)  # fmt: skip


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(message)
    sys.exit(code)


# --- clustercat ssp ---------------------------------------------------------------------------


@click.group("ssp")
def ssp_group() -> None:
    """SSP model grids (BC03, Yggdrasil) stored in the database, and their colour tracks."""


@ssp_group.command("build")
@model_argument
@metallicity_option
@click.option("--name", help="Grid name [default: e.g. bc03-miles-z0.02-kroupa].")
@click.option(
    "--mass-definition", type=click.Choice(["formed", "living"]), default="formed",
    show_default=True, help="Normalise to the stellar mass formed or still in stars.",
)  # fmt: skip
@click.pass_context
def build_cmd(
    ctx: click.Context, model: str, metallicity: float, name: str | None, mass_definition: str
) -> None:
    """Synthesise MODEL in every filter of the filter table and store it (Vega and AB).

    Idempotent: the same grid again changes nothing; other content under an existing name
    is refused (exit 3).
    """
    engine = engine_from_context(ctx)
    started = time.perf_counter()
    try:
        with write_transaction(engine) as conn:
            built = ssp_db.build_grid(
                conn, model, metallicity, mass_definition=mass_definition, name=name
            )
    except ssp_db.SspGridConflictError as exc:
        _fail(f"[red]refused[/red]: {exc}", EXIT_REFUSED)
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"[red]error[/red]: {exc}", EXIT_USAGE)
    finally:
        engine.dispose()
    stored, n_rows, skipped = built.grid, built.n_rows, built.skipped
    n_age = stored.provenance.get("n_age")
    shape = (
        f"{n_age} ages x {len(stored.filters)} filters x "
        f"{len(stored.provenance.get('mag_systems', []))} systems = {n_rows} ssp_model rows"
    )
    if not built.created:
        console.print(
            f"[yellow]already stored[/yellow]: SSP grid {stored.name} (id {stored.id}) has "
            f"exactly this content ({shape}); nothing changed"
        )
    else:
        console.print(
            f"[green]stored[/green] SSP grid [bold]{stored.name}[/bold] (id {stored.id}): "
            f"{stored.model_name} Z={stored.metallicity:g}, {stored.imf}, mass "
            f"{stored.mass_definition}; {shape} in {time.perf_counter() - started:.1f} s"
        )
    console.print("filters: " + ", ".join(f"{f} {i}" for f, i in stored.filters))
    if skipped:
        console.print(
            "not in the model (fits may use a documented stand-in with --stand-ins): "
            + ", ".join(f"{f} {i}" for f, i in skipped)
        )


@ssp_group.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """The SSP grids stored in the database."""
    engine = engine_from_context(ctx)
    try:
        with engine.connect() as conn:
            frame = ssp_db.list_grids(conn)
    finally:
        engine.dispose()
    if frame.empty:
        console.print("no SSP grid stored yet: run `clustercat ssp build bc03|yggdrasil`")
        return
    table = Table(
        title="SSP grids (Kroupa 2001 IMF, per M_sun formed, unless said)", box=None, padding=(0, 1)
    )
    for col in ("id", "name", "model", "Z", "ages", "log age", "rows"):
        table.add_column(col, no_wrap=True)
    for r in frame.itertuples(index=False):
        extra = "" if str(r.imf).startswith("Kroupa") else f" {r.imf}"
        extra += "" if r.mass_definition == "formed" else f" ({r.mass_definition})"
        table.add_row(
            str(r.id), r.name, r.model + extra, f"{r.metallicity:g}", str(r.n_age),
            f"{r.log_age_min:.2f}-{r.log_age_max:.2f}", str(r.n_rows),
        )  # fmt: skip
    console.print(table)
    for r in frame.itertuples(index=False):
        console.print(f"{r.name}: {r.filters} (Vega and AB)")


@ssp_group.command("track")
@model_argument
@click.option("--x", "x_colour", default="V-I", show_default=True, help="Horizontal colour.")
@click.option("--y", "y_colour", default="U-B", show_default=True, help="Vertical colour.")
@metallicity_option
@click.option("--grid", "grid_name", help="Stored grid name (default: the MODEL/Z grid).")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV: log_age, x, y.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")  # fmt: skip
@click.pass_context
def track_cmd(
    ctx: click.Context,
    model: str,
    x_colour: str,
    y_colour: str,
    metallicity: float,
    grid_name: str | None,
    as_csv: bool,
    output: Path | None,
) -> None:
    """Colour track of MODEL read from the database (Vega; Whitmore et al. 2021 §5).

    Colours are BAND-BAND with band letters NUV, U, B, V, I (B: F438W, else F435W; V:
    F555W, else F606W) or filter names (F336W-F438W, ACS_WFC_F555W-ACS_WFC_F814W).
    Columns: log_age (log10 yr), x and y (mag). The grid must be stored first
    (`clustercat ssp build MODEL`).
    """
    engine = engine_from_context(ctx)
    try:
        with engine.connect() as conn:
            grid = grid_name or (model, metallicity)
            x, y = ssp_db.parse_colour(x_colour), ssp_db.parse_colour(y_colour)
            track = ssp_db.colour_track_db(conn, grid, x, y)
            stored = ssp_db.find_grid(conn, grid)
    except (ssp_db.SspGridNotFoundError, KeyError, ValueError) as exc:
        _fail(f"[red]error[/red]: {exc.args[0] if exc.args else exc}", EXIT_USAGE)
    finally:
        engine.dispose()
    frame = track.to_frame().rename(columns={"log_age_yr": "log_age", "x_colour": "x",
                                             "y_colour": "y"})  # fmt: skip
    note = f"{stored.name}: x = {track.x_label}, y = {track.y_label} (Vega mag), {len(frame)} ages"
    if as_csv:
        csv_text = frame.to_csv(index=False)
        if output is None:
            click.echo(csv_text, nl=False)
        else:
            output.write_text(csv_text)
        err_console.print(note + (f" -> {output}" if output else ""))
        return
    table = Table("log_age", track.x_label, track.y_label, title=note)
    for r in frame.itertuples(index=False):
        table.add_row(f"{r.log_age:.3f}", f"{r.x:.4f}", f"{r.y:.4f}")
    if output is None:
        console.print(table)
    else:
        with output.open("w") as fh:
            Console(file=fh, width=100).print(table)


# --- clustercat process -----------------------------------------------------------------------


@click.group("process")
def process_group() -> None:
    """Processing modules that read rows, compute, and write rows with provenance."""


def print_summary(summary: sed_db.SedRunSummary) -> None:
    """The report of a ``process sed`` run."""
    console.print(
        f"[green]fitted[/green] {summary.n_fitted} of {summary.n_sources} sources of release "
        f"[bold]{summary.release}[/bold] v{summary.release_version} with "
        f"'{escape(summary.method)}' (method id {summary.method_id}, run id {summary.run_id})"
    )
    table = Table("field", "galaxy", "D (Mpc)", "filters", "stand-ins", "sources", "fitted",
                  title="per field (sources with >= min-bands valid bands are fitted)")  # fmt: skip
    for f in summary.fields:
        table.add_row(
            f.field, f.galaxy, f"{f.distance_mpc:g}",
            " ".join(x.replace("WFC3/UVIS", "WFC3").replace("ACS/WFC", "ACS") for x in f.filters),
            ", ".join(f"{k} <- {v.split(' AB')[0]}" for k, v in f.stand_ins.items()) or "-",
            str(f.n_sources), str(f.n_fitted),
        )  # fmt: skip
    console.print(table)
    s = summary.seconds
    console.print(
        f"read {s.get('read', 0):.2f} s, grids {s.get('grid', 0):.2f} s, fit "
        f"{s.get('fit', 0):.2f} s ({summary.fit_rate:,.0f} sources/s), write "
        f"{s.get('write', 0):.2f} s"
    )
    if summary.default_set:
        console.print(
            f"default SED method of {summary.release} v{summary.release_version} is now this "
            "method: cluster_catalogue shows these ages, masses and E(B-V)"
        )


@process_group.command("sed")
@click.option("--release", "-r", required=True, help="Release name.")
@click.option("--release-version", type=int, help="Release version [default: newest].")
@click.option(
    "--model",
    "-m",
    required=True,
    type=click.Choice(sorted(ssp_db.MODELS), case_sensitive=False),
    help="SSP model.",
)
@click.option(
    "--field",
    "-f",
    "fields",
    multiple=True,
    help="Fit only this field (repeatable), e.g. ngc628c [default: every field].",
)
@metallicity_option
@click.option("--grid", "grid_name", help="Stored grid name (default: the model/Z grid).")
@click.option(
    "--error-floor",
    type=float,
    default=sed_db.DEFAULT_ERROR_FLOOR,
    show_default=True,
    help="Minimum magnitude error (mag).",
)
@click.option(
    "--ebv-max",
    type=float,
    default=sed_db.DEFAULT_EBV_MAX,
    show_default=True,
    help="Largest E(B-V) of the grid (mag).",
)
@click.option(
    "--ebv-step",
    type=float,
    default=sed_db.DEFAULT_EBV_STEP,
    show_default=True,
    help="E(B-V) step (mag).",
)
@click.option(
    "--max-error",
    type=float,
    help="Ignore bands with larger errors (mag; LEGUS used 0.35) [default: none].",
)
@click.option(
    "--min-bands",
    type=int,
    default=3,
    show_default=True,
    help="Fewest valid bands a source needs to be fitted.",
)
@click.option(
    "--stand-ins",
    is_flag=True,
    help="Let ACS F435W stand in for F438W and ACS V/I for WFC3/UVIS V/I where the "
    "model lacks them (Yggdrasil); recorded in the method.",
)
@click.option(
    "--set-default",
    is_flag=True,
    help="Make this the release's default SED method (shown by cluster_catalogue).",
)
@click.option(
    "--label",
    help="Refit: run these settings as a NEW method '<method> [LABEL]' beside the existing "
    "fits (e.g. --label fix-2025-06); fits are never replaced.",
)
@click.option("--replace", is_flag=True, hidden=True, help="Gone: refused (use --label).")
@click.pass_context
def sed_cmd(ctx: click.Context, release: str, release_version: int | None, model: str,
            fields: tuple[str, ...], metallicity: float, grid_name: str | None,
            error_floor: float, ebv_max: float, ebv_step: float, max_error: float | None,
            min_bands: int, stand_ins: bool, set_default: bool, label: str | None,
            replace: bool) -> None:  # fmt: skip
    """Fit ages, masses and E(B-V) of a release's sources and store them as sed_fit rows.

    Reads each field's total Vega magnitudes with its own filters and its galaxy distance,
    fits the stored SSP grid reddened by CCM89 (R_V = 3.1) with the vectorised chi2 fitter,
    and writes a processing run, the SED method and the fits in one transaction.

    A method that already fitted these sources is refused (exit 3): fits are never
    replaced. To refit (e.g. after a code fix), give --label: the same settings become a
    new method beside the old one, and --set-default (or `process sed-default`) makes it
    the one cluster_catalogue shows.
    """
    if replace:
        _fail(f"[red]error[/red]: {sed_db.REPLACE_REFUSED}", EXIT_USAGE)
    engine = engine_from_context(ctx)
    try:
        summary = sed_db.fit_release(
            engine, release, model, field=list(fields) or None, metallicity=metallicity,
            grid=grid_name, error_floor=error_floor, ebv_max=ebv_max, ebv_step=ebv_step,
            max_error=max_error, min_bands=min_bands, stand_ins=stand_ins,
            set_default=set_default, label=label, version=release_version,
        )  # fmt: skip
    except sed_db.SedRunConflictError as exc:
        _fail(f"[red]refused[/red]: {escape(str(exc))}", EXIT_REFUSED)
    except (sed_db.SedConfigError, ssp_db.SspGridNotFoundError, ValueError) as exc:
        _fail(f"[red]error[/red]: {escape(str(exc.args[0] if exc.args else exc))}", EXIT_USAGE)
    except Exception as exc:
        if ctx.find_root().params.get("verbose"):
            raise
        _fail(
            f"[red]SED run failed[/red]: {type(exc).__name__}: {escape(str(exc))}\nno fit was "
            "written (a failed processing_run records the error)",
            1,
        )
    finally:
        engine.dispose()
    print_summary(summary)


@process_group.command("sed-default")
@click.option("--release", "-r", required=True, help="Release name.")
@click.option("--release-version", type=int, help="Release version [default: newest].")
@click.option("--method", required=True, help="SED method name (or id).")
@click.pass_context
def sed_default_cmd(
    ctx: click.Context, release: str, release_version: int | None, method: str
) -> None:
    """Choose the SED method whose fits cluster_catalogue shows for a release.

    The one change allowed to a complete release's metadata: no data row changes, and
    choosing the previous method again restores the view exactly.
    """
    engine = engine_from_context(ctx)
    try:
        key: str | int = int(method) if method.isdigit() else method
        old, new = sed_db.set_default_sed_method(engine, release, key, version=release_version)
        with engine.connect() as conn:
            names = dict(
                conn.execute(
                    text("SELECT id, name FROM sed_method WHERE id IN (:a, :b)"),
                    {"a": old or new, "b": new},
                ).all()
            )
    except sed_db.SedConfigError as exc:
        _fail(f"[red]error[/red]: {escape(str(exc))}", EXIT_USAGE)
    finally:
        engine.dispose()
    console.print(
        escape(
            f"default SED method of {release}: {names.get(old, 'none')!r} (id {old}) -> "
            f"{names[new]!r} (id {new}); cluster_catalogue now shows its fits, no data row "
            "changed"
        )
    )
