"""``clustercat db``: create, migrate and inspect the catalogue database."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from . import migrate
from .config import database_url
from .engine import make_engine

console = Console()


@click.group("db")
def db_group() -> None:
    """Create, migrate and inspect the catalogue database.

    The database is CLUSTERCAT_DATABASE_URL (or --database before the subcommand);
    default: a SQLite file clustercat.db in the working directory.
    """


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Migrate the database up to REVISION (default: head). Creates a new SQLite file."""
    url = database_url(ctx.obj.get("database"))
    migrate.upgrade(url, revision)
    engine = make_engine(url)
    console.print(f"[green]database at revision {migrate.current_revision(engine)}[/green]")
    engine.dispose()


@db_group.command("downgrade")
@click.argument("revision", default="-1")
@click.option("--yes", is_flag=True, help="Confirm a downgrade to 'base' (drops every table).")
@click.pass_context
def downgrade_cmd(ctx: click.Context, revision: str, yes: bool) -> None:
    """Migrate the database down to REVISION (default: one step, -1)."""
    if revision == "base" and not yes:
        raise click.UsageError("downgrading to 'base' drops every table; add --yes to confirm")
    url = database_url(ctx.obj.get("database"))
    migrate.downgrade(url, revision)
    engine = make_engine(url)
    console.print(f"database at revision {migrate.current_revision(engine) or 'base (empty)'}")
    engine.dispose()


@db_group.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Print the revision the database is at."""
    engine = make_engine(database_url(ctx.obj.get("database")))
    click.echo(migrate.current_revision(engine) or "base (not migrated)")
    engine.dispose()


@db_group.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Check that the database is at head and matches the models; exit 1 if not."""
    url = database_url(ctx.obj.get("database"))
    engine = make_engine(url)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        console.print(
            f"[red]database at {current or 'base'}, head is {head}[/red]: run "
            "'clustercat db upgrade'"
        )
        engine.dispose()
        sys.exit(1)
    diff = migrate.pending_model_changes(engine)
    engine.dispose()
    if diff:
        console.print(f"[red]at head {head} but the schema differs from the models:[/red]")
        for item in diff:
            console.print(f"  {item}")
        sys.exit(1)
    console.print(f"[green]OK: database at head ({head}) and in sync with the models[/green]")


@db_group.command("history")
def history_cmd() -> None:
    """List the migration revisions, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    table = Table("revision", "down", "description")
    for rev in reversed(list(script.walk_revisions())):
        table.add_row(rev.revision, str(rev.down_revision or ""), (rev.doc or "").splitlines()[0])
    console.print(table)
