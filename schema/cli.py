"""``clustercat db``: create, migrate and inspect the catalogue database."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from . import migrate
from .config import database_url
from .engine import make_engine

console = Console()


def engine_from_context(ctx: click.Context, *, at_head: bool = True) -> Engine:
    """An engine on the database the command line names (``--database`` or the environment).

    With ``at_head`` (the default for every command that reads or writes catalogue rows)
    a database that is not at the newest schema revision ends the command with exit
    status 1 and the hint to run ``clustercat db upgrade``.
    """
    engine = make_engine(database_url((ctx.find_root().obj or {}).get("database")))
    if at_head:
        try:
            migrate.require_head(engine)
        except migrate.DatabaseNotReadyError as exc:
            engine.dispose()
            Console(stderr=True).print(f"[red]error[/red]: {exc}")
            sys.exit(1)
    return engine


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
@click.option(
    "--yes",
    is_flag=True,
    help="Confirm a downgrade that deletes data (dropped tables or columns with rows, "
    "deleted rows) or reaches 'base' (drops every table).",
)
@click.pass_context
def downgrade_cmd(ctx: click.Context, revision: str, yes: bool) -> None:
    """Migrate the database down to REVISION (default: one step, -1).

    REVISION may be relative (-2) or absolute (0005, base). The downgrade is first tried in
    a transaction that is rolled back: the revision it reaches and the rows it would delete
    are shown, and any loss of data (and 'base') needs --yes.
    """
    url = database_url(ctx.obj.get("database"))
    try:
        plan = migrate.plan_downgrade(url, revision)
    except migrate.DowngradeRefusedError as exc:
        raise click.ClickException(str(exc)) from exc
    target = plan.target or "base"
    if not yes:
        if plan.target is None:
            raise click.UsageError(
                f"downgrading {plan.current} -> base drops every table"
                + (f" ({plan.describe_loss()})" if plan.deletes_data else "")
                + "; add --yes to confirm"
            )
        if plan.deletes_data:
            raise click.UsageError(
                f"downgrading {plan.current} -> {target} deletes data: {plan.describe_loss()}; "
                "add --yes to confirm"
            )
    migrate.downgrade(url, target)
    engine = make_engine(url)
    console.print(f"database at revision {migrate.current_revision(engine) or 'base (empty)'}")
    engine.dispose()


@db_group.command("drop-release")
@click.argument("name")
@click.option("--version", "version", type=int, required=True, help="Version to drop.")
@click.option("--yes", is_flag=True, help="Confirm: the release's rows are deleted for good.")
@click.pass_context
def drop_release_cmd(ctx: click.Context, name: str, version: int, yes: bool) -> None:
    """Delete release NAME version N and every row of it (the owner's only way).

    Complete releases are immutable: triggers refuse UPDATE and DELETE of their rows. This
    command lists the release in release_drop_guard inside its transaction, which the
    triggers accept only then (and, on PostgreSQL, only from the owner of the tables; a
    writer is refused). Dropping the newest complete version makes the previous version
    complete again. Refused while another release's classifications use its sources.
    """
    from .engine import write_transaction
    from .immutability import ReleaseInUseError, drop_release

    if not yes:
        raise click.UsageError(
            f"dropping release {name} v{version} deletes its rows for good; add --yes"
        )
    engine = engine_from_context(ctx)
    try:
        with write_transaction(engine) as conn:
            dropped = drop_release(conn, name, version)
    except (LookupError, PermissionError, ReleaseInUseError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    console.print(
        f"[green]dropped[/green] release {dropped.name} v{dropped.version} ({dropped.status}): "
        + ", ".join(f"{n} {table}" for table, n in dropped.rows.items())
    )
    if dropped.promoted_version is not None:
        console.print(f"release {dropped.name} v{dropped.promoted_version} is complete again")


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


# --- roles (PostgreSQL) -------------------------------------------------------------------


def _grant(ctx: click.Context, name: str, kind: str, password: str | None, **kwargs) -> None:
    from .roles import RolesNotSupportedError, grant_role

    engine = make_engine(database_url(ctx.obj.get("database")))
    try:
        result = grant_role(engine, name, kind, password, **kwargs)  # type: ignore[arg-type]
    except RolesNotSupportedError as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, RuntimeError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    verb = "created login role" if result.created else "updated existing role"
    console.print(f"[green]{verb} {result.role}[/green]: member of {result.group}")
    if result.password_set:
        console.print("  password set (log in over TCP, e.g. host=127.0.0.1)")
    limit = "none" if result.connection_limit < 0 else str(result.connection_limit)
    console.print(f"  CONNECTION LIMIT {limit}")
    for key, value in result.settings.items():
        console.print(f"  ALTER ROLE {result.role} SET {key} = {value}")
    for key in result.reset:
        console.print(f"  ALTER ROLE {result.role} RESET {key} (it was a reader)")


def _refuse_password_argument(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        raise click.UsageError(
            "--password is not accepted: a password on the command line is visible to every "
            "user of the machine (ps, /proc) and stays in the shell history. Use "
            "--password-env VAR (the password in environment variable VAR) or "
            "--password-prompt (typed, hidden, asked twice).",
            ctx,
        )


def _password_options(f):  # noqa: ANN001, ANN202
    f = click.option(
        "--password",
        hidden=True,
        expose_value=False,
        is_eager=True,
        callback=_refuse_password_argument,
        help="Refused: see --password-env and --password-prompt.",
    )(f)
    f = click.option(
        "--password-prompt",
        is_flag=True,
        help="Ask for the login password (hidden input, typed twice).",
    )(f)
    return click.option(
        "--password-env",
        metavar="VAR",
        default=None,
        help="Take the login password from environment variable VAR. Without this or "
        "--password-prompt an existing password is kept; a new role without one can only "
        "log in where pg_hba.conf allows peer/trust.",
    )(f)


def _password(password_env: str | None, password_prompt: bool) -> str | None:
    """The password from an environment variable or a hidden prompt, never from argv."""
    import os

    if password_env is not None and password_prompt:
        raise click.UsageError("give either --password-env or --password-prompt, not both")
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise click.UsageError(f"--password-env {password_env}: that variable is not set")
        if not value:
            raise click.UsageError(f"--password-env {password_env}: that variable is empty")
        return value
    if password_prompt:
        value = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, err=True, type=str
        )
        if not value:
            raise click.UsageError("empty password")
        return value
    return None


@db_group.command("grant-reader")
@click.argument("name")
@_password_options
@click.option(
    "--statement-timeout",
    default="60s",
    show_default=True,
    help="statement_timeout set on the role (a default the reader can change: docs/roles.md).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(min=-1),
    default=8,
    show_default=True,
    help="Concurrent sessions of this role (-1: no limit). A real limit: the reader cannot "
    "change it.",
)
@click.pass_context
def grant_reader_cmd(
    ctx: click.Context,
    name: str,
    password_env: str | None,
    password_prompt: bool,
    statement_timeout: str,
    connection_limit: int,
) -> None:
    """Create login role NAME if missing and make it a read-only collaborator (PostgreSQL).

    GRANT clustercat_reader TO NAME, CONNECTION LIMIT, then ALTER ROLE NAME SET
    statement_timeout, idle_in_transaction_session_timeout and default_transaction_read_only
    (after RESET ALL). SQLite has no roles: the command refuses it.
    """
    _grant(
        ctx,
        name,
        "reader",
        _password(password_env, password_prompt),
        statement_timeout=statement_timeout,
        connection_limit=connection_limit,
    )


@db_group.command("grant-writer")
@click.argument("name")
@_password_options
@click.pass_context
def grant_writer_cmd(
    ctx: click.Context, name: str, password_env: str | None, password_prompt: bool
) -> None:
    """Create login role NAME if missing and let it read and write data (PostgreSQL).

    GRANT clustercat_writer TO NAME (INSERT/UPDATE/DELETE on every table, no DDL).
    SQLite has no roles: the command refuses it.
    """
    _grant(ctx, name, "writer", _password(password_env, password_prompt))


# --- data dictionary ------------------------------------------------------------------------


@db_group.command("describe")
@click.argument("relation", required=False)
@click.option(
    "--markdown",
    is_flag=True,
    help="Print the whole data dictionary as Markdown, from the code (no database needed); "
    "this is how docs/schema.md is made.",
)
@click.pass_context
def describe_cmd(ctx: click.Context, relation: str | None, markdown: bool) -> None:
    """Describe the tables and views, or the columns of RELATION (a table or view).

    Without RELATION: every table and view with its comment. With RELATION: its columns,
    types, nullability, unit and meaning.
    """
    from .dictionary import database_relations, find_relation, schema_markdown

    if markdown:
        if relation:
            raise click.UsageError("--markdown prints the whole dictionary; drop RELATION")
        click.echo(schema_markdown(), nl=False)
        return
    engine = make_engine(database_url(ctx.obj.get("database")))
    try:
        relations = database_relations(engine)
    finally:
        engine.dispose()
    if not relations:
        raise click.ClickException("no tables: run 'clustercat db upgrade' first")
    if relation is None:
        table = Table("name", "kind", "columns", "comment", title="tables and views")
        for rel in relations:
            table.add_row(rel.name, rel.kind, str(len(rel.columns)), rel.comment or "")
        console.print(table)
        return
    found = find_relation(relations, relation)
    if found is None:
        raise click.ClickException(f"no table or view named {relation!r}")
    table = Table("column", "type", "null", "unit", "meaning", title=f"{found.kind} {found.name}")
    for col in found.columns:
        null = "" if col.nullable is None else ("yes" if col.nullable else "no")
        table.add_row(col.name, col.type or "", null, col.unit or "", col.meaning)
    if found.comment:
        console.print(found.comment)
    console.print(table)
