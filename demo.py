"""``clustercat demo``: the main job. Builds the database and shows everything that works.

Each step is added as its feature lands, so the demo is always the quickest tour:

1. create (or migrate) the database, SQLite by default, and check it against the models;
2. show the reference data the migrations seeded (surveys, HST filters).
"""

from __future__ import annotations

import time

import click
from clustercat.schema import Filter, Survey, make_engine, metadata, migrate, session_scope
from clustercat.schema.config import database_url
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

console = Console()


def run_demo(url: str | None = None) -> dict[str, int]:
    """Run every demo step against ``url``; returns a few counts for callers and tests."""
    url = database_url(url)
    started = time.perf_counter()
    console.rule("[bold]ClusterCat demo")
    console.print(f"database: [cyan]{url}[/cyan]")

    migrate.upgrade(url)
    engine = make_engine(url)
    head = migrate.current_revision(engine)
    diff = migrate.pending_model_changes(engine)
    if diff:
        raise click.ClickException(f"schema differs from the models: {diff}")
    console.print(
        f"schema at revision [green]{head}[/green], {len(metadata.tables)} tables, "
        "in sync with the models"
    )

    with session_scope(engine) as session:
        surveys = session.scalars(select(Survey).order_by(Survey.name)).all()
        filters = session.scalars(select(Filter).order_by(Filter.pivot_wavelength_aa)).all()
        table = Table("filter", "instrument", "band", "pivot (Å)", title="HST filters")
        for f in filters:
            table.add_row(f.name, f.instrument, f.band, f"{f.pivot_wavelength_aa:.1f}")
        console.print(table)
        console.print("surveys: " + ", ".join(f"{s.name} ({s.reference})" for s in surveys))
        counts = {
            "surveys": len(surveys),
            "filters": session.scalar(select(func.count()).select_from(Filter)) or 0,
        }
    engine.dispose()
    console.print(
        f"[bold green]demo finished[/bold green] in {time.perf_counter() - started:.1f} s"
    )
    return counts


@click.command("demo")
@click.pass_context
def demo_cmd(ctx: click.Context) -> None:
    """Create and migrate the database (SQLite default) and show everything that works."""
    run_demo(ctx.obj.get("database"))
