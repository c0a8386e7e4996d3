"""``clustercat cone`` and ``clustercat export``: SQL-side commands for collaborators.

Both are plain click commands (``cone_cmd``, ``export_cmd``) that read the database URL from
``ctx.obj["database"]`` (the root ``--database`` option) or ``CLUSTERCAT_DATABASE_URL``.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from .config import database_url
from .engine import make_engine

console = Console()


def _url(ctx: click.Context) -> str:
    return database_url((ctx.obj or {}).get("database"))


@click.command("cone", context_settings={"ignore_unknown_options": True})
@click.argument("ra")
@click.argument("dec")
@click.argument("radius")
@click.option("--release", default=None, metavar="NAME", help="Only this release.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: a header, one row per source.")
@click.pass_context
def cone_cmd(
    ctx: click.Context, ra: str, dec: str, radius: str, release: str | None, as_csv: bool
) -> None:
    """Sources within RADIUS of (RA, DEC), nearest first.

    \b
    RA, DEC  degrees (65.0 -54.94) or sexagesimal (04:20:00.4 -54:56:15, 4h20m0.4s -54d56m15s)
    RADIUS   an angle with its unit: 1arcmin, 30arcsec, 0.01deg

    q3c on PostgreSQL, an exact bounding-box search on SQLite; same rows and distances.
    """
    from .cone import CONE_COLUMNS, cone_search

    engine = make_engine(_url(ctx))
    try:
        frame = cone_search(engine, ra, dec, radius, release=release)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from exc
    finally:
        engine.dispose()
    if as_csv:
        frame.to_csv(sys.stdout, index=False, columns=list(CONE_COLUMNS), float_format="%.10g")
        return
    table = Table(*CONE_COLUMNS[:8], title=f"{len(frame)} sources within {radius}")
    for row in frame.itertuples(index=False):
        table.add_row(
            row.release,
            row.galaxy,
            row.field,
            str(row.source_id),
            f"{row.ra:.6f}",
            f"{row.dec:.6f}",
            f"{row.distance_arcsec:.3f}",
            "" if row.mag_v != row.mag_v else f"{row.mag_v:.3f}",
        )
    console.print(table)


@click.command("export")
@click.option("--release", required=True, metavar="NAME", help="Release to export.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["fits", "votable", "ecsv", "parquet", "csv"]),
    required=True,
    help="Output format.",
)
@click.option(
    "--output", "-o", required=True, type=click.Path(dir_okay=False), help="File to write."
)
@click.option(
    "--where",
    default=None,
    metavar="SQL_CONDITION",
    help="Condition on the view's columns, e.g. \"galaxy = 'NGC 628' AND mag_v < 22\": "
    "columns, literals, comparisons, AND/OR/NOT, + - * / %, LIKE, IN, BETWEEN, IS NULL, "
    "abs/lower/upper/length/coalesce; nothing else (docs/sql.md).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.001),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Statement timeout of the export query.",
)
@click.option(
    "--view",
    default="cluster_catalogue",
    show_default=True,
    type=click.Choice(
        [
            "cluster_catalogue",
            "source_classes",
            "source_photometry",
            "source_photometry_wide",
            "sed_results",
            "crossmatch_pairs",
            "release_summary",
        ]
    ),
    help="Collaborator view to export.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_context
def export_cmd(
    ctx: click.Context,
    release: str,
    fmt: str,
    output: str,
    where: str | None,
    view: str,
    overwrite: bool,
    timeout_s: float,
) -> None:
    """Write one release of a view to FITS, VOTable, ECSV, Parquet or CSV, with units.

    Units come from the column comments, descriptions are the comments, VOTable columns get
    UCDs (pos.eq.ra;meta.main, phot.mag;em.opt.V, ...). An unknown release, a refused
    --where or a timeout exits 1 and writes nothing.
    """
    from sqlalchemy.exc import DBAPIError

    from .export import export_release

    engine = make_engine(_url(ctx))
    try:
        table = export_release(
            engine,
            release,
            fmt,
            output,
            view=view,
            where=where,
            overwrite=overwrite,
            statement_timeout_s=timeout_s,
        )
    except (ValueError, FileExistsError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    except DBAPIError as exc:
        raise click.ClickException(f"the database refused the query: {exc.orig}") from exc
    finally:
        engine.dispose()
    if len(table) == 0:
        console.print(f"[yellow]no rows of {view} for release {release!r}[/yellow]")
    console.print(
        f"wrote {len(table)} rows x {len(table.colnames)} columns of {view} "
        f"(release {release}) to {output} ({fmt})"
    )
