"""``clustercat demo``: the main job. Builds the database and shows everything that works.

Each step is added as its feature lands, so the demo is always the quickest tour:

1. create (or migrate) the database, SQLite by default, and check it against the models;
2. show the reference data the migrations seeded (surveys, HST filters);
3. ingest every LEGUS catalogue and the StarcNet predictions found under
   ``$CLUSTERCAT_DATA`` (or fetch a few galaxies from MAST when that folder is absent),
   idempotently: a second demo finds them already ingested;
4. show what the collaborator views hold: sources, classes and ages per galaxy, and the
   agreement of StarcNet with the LEGUS human classes;
5. with ``--serve``, serve the dashboard on the demo database.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.schema import Filter, Survey, make_engine, metadata, migrate, session_scope
from clustercat.schema.config import data_dir, database_url
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text

console = Console()

LEGUS_RELEASE = "legus"
STARCNET_RELEASE = "starcnet-ngc1566"
#: Galaxies fetched from MAST when the shared data folder is absent.
MAST_GALAXIES = ("NGC 628", "NGC 1566")


def _show_reference(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        surveys = session.scalars(select(Survey).order_by(Survey.name)).all()
        filters = session.scalars(select(Filter).order_by(Filter.pivot_wavelength_aa)).all()
        table = Table("filter", "instrument", "band", "pivot (Å)", title="HST filters")
        for f in filters:
            table.add_row(f.name, f.instrument, f.band, f"{f.pivot_wavelength_aa:.1f}")
        console.print(table)
        console.print("surveys: " + ", ".join(s.name for s in surveys))
        return {
            "surveys": len(surveys),
            "filters": session.scalar(select(func.count()).select_from(Filter)) or 0,
        }


def _ingest(engine: Engine, name: str, reader: str, files: list[Path], **kwargs) -> None:
    info = reader_info(reader)
    result = ingest_release(
        engine, ReleaseRequest(name, info.name, info.version, files, **kwargs), info.reader(),
        show_progress=True,
    )  # fmt: skip
    rows = sum(result.rows.values())
    console.print(f"release [bold]{name}[/bold] v{result.version}: {result.status}"
                  + (f" ({rows} rows in {result.seconds:.1f} s)" if rows else ""))  # fmt: skip


def _load_catalogues(engine: Engine) -> None:
    from clustercat.ingest.legus import find_legus_files

    folder = data_dir()
    legus_files = find_legus_files(folder / "legus") if (folder / "legus").is_dir() else []
    if legus_files:
        console.print(f"LEGUS catalogues from {folder / 'legus'}: {len(legus_files)} files")
        _ingest(engine, LEGUS_RELEASE, "legus", legus_files)
        starcnet = folder / "legus" / "starcnet_ml_predictions_ngc1566.tab"
        if starcnet.is_file():
            _ingest(engine, STARCNET_RELEASE, "starcnet", [starcnet], attach_to=LEGUS_RELEASE)
        return
    console.print(f"[yellow]no shared data at {folder}[/yellow]: fetching from MAST")
    from clustercat.ingest.mast import download

    files = []
    for galaxy in MAST_GALAXIES:
        try:
            files += download("legus", galaxy)
        except Exception as exc:  # noqa: BLE001 - offline machines end the demo here
            console.print(f"[yellow]MAST fetch of {galaxy} failed[/yellow]: {exc}")
    if files:
        _ingest(engine, LEGUS_RELEASE, "legus", files)


def _show_catalogue(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        per_galaxy = conn.execute(
            text(
                "SELECT galaxy, count(*) AS n, count(log_age) AS n_aged, "
                "count(mag_v) AS n_v FROM cluster_catalogue WHERE release = :r "
                "GROUP BY galaxy ORDER BY n DESC"
            ),
            {"r": LEGUS_RELEASE},
        ).all()
        classes = dict(
            conn.execute(
                text(
                    'SELECT "class", count(*) FROM source_classes WHERE release = :r '
                    "AND method = 'LEGUS human mode' GROUP BY 1"
                ),
                {"r": LEGUS_RELEASE},
            ).all()
        )
        agreement = conn.execute(
            text(
                'SELECT count(*), sum(CASE WHEN h."class" = m."class" THEN 1 ELSE 0 END) '
                "FROM source_classes h JOIN source_classes m ON m.source_pk = h.source_pk "
                "WHERE h.method = 'LEGUS human mode' AND m.method = 'StarcNet'"
            )
        ).one()
    if not per_galaxy:
        console.print("[yellow]no catalogue loaded[/yellow]")
        return {"sources": 0}
    table = Table("galaxy", "sources", "with SED age", "with V", title="release legus")
    for row in per_galaxy[:10]:
        table.add_row(row.galaxy, str(row.n), str(row.n_aged), str(row.n_v))
    if len(per_galaxy) > 10:
        table.add_row(f"... {len(per_galaxy) - 10} more", "", "", "")
    console.print(table)
    console.print("LEGUS human-mode classes: " + ", ".join(
        f"class {k}: {v}" for k, v in sorted(classes.items())
    ))  # fmt: skip
    if agreement[0]:
        console.print(f"StarcNet agrees with the LEGUS human class for "
                      f"{100 * agreement[1] / agreement[0]:.1f} % of {agreement[0]} "
                      "NGC 1566 sources")  # fmt: skip
    return {"sources": sum(r.n for r in per_galaxy), "galaxies": len(per_galaxy)}


def run_demo(url: str | None = None) -> dict[str, int]:
    """Run every demo step against ``url``; returns a few counts for callers and tests."""
    url = database_url(url)
    started = time.perf_counter()
    console.rule("[bold]ClusterCat demo")
    console.print(f"database: [cyan]{url}[/cyan]")

    migrate.upgrade(url)
    engine = make_engine(url)
    diff = migrate.pending_model_changes(engine)
    if diff:
        raise click.ClickException(f"schema differs from the models: {diff}")
    console.print(f"schema at revision [green]{migrate.current_revision(engine)}[/green], "
                  f"{len(metadata.tables)} tables, in sync with the models")  # fmt: skip

    counts = _show_reference(engine)
    console.rule("catalogues")
    _load_catalogues(engine)
    counts |= _show_catalogue(engine)
    engine.dispose()
    elapsed = time.perf_counter() - started
    console.print(f"[bold green]demo finished[/bold green] in {elapsed:.1f} s")
    return counts


@click.command("demo")
@click.option("--serve", is_flag=True, help="End by serving the dashboard on the demo database.")
@click.option("--port", type=int, default=8501, show_default=True, help="Dashboard port.")
@click.pass_context
def demo_cmd(ctx: click.Context, serve: bool, port: int) -> None:
    """Create and migrate the database (SQLite default), load the catalogues, show them."""
    url = database_url(ctx.obj.get("database"))
    run_demo(url)
    if serve:
        from clustercat.dashboard.cli import serve as serve_dashboard

        ctx.exit(serve_dashboard(url, port=port))
