"""``clustercat ingest``: external catalogues into versioned, immutable releases.

Exit status (for cron): 0 success or "already ingested"; 2 bad input (the message names
file, line and column) or bad usage; 3 a different release already has this name
(ask for --new-version); 1 anything else.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click
from clustercat.schema.cli import engine_from_context
from rich.console import Console
from rich.table import Table

from .errors import CatalogueFormatError
from .loader import IngestResult, ReleaseRequest, ingest_release
from .registry import reader_info
from .releases import LockTimeoutError, ReleaseConflictError, ReleaseNameError

console = Console(stderr=False)
log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3


def print_report(result: IngestResult) -> None:
    """The ingest report: release, rows per table, replaced values, time."""
    if result.status == "already ingested":
        console.print(
            f"[yellow]already ingested[/yellow]: release {result.release} v{result.version} "
            "has exactly these files; nothing changed"
        )
        return
    if result.status == "fields added":
        console.print(
            f"[green]added[/green] field(s) {', '.join(result.fields)} to release "
            f"[bold]{result.release}[/bold] v{result.version} in {result.seconds:.1f} s"
        )
    else:
        console.print(
            f"[green]ingested[/green] release [bold]{result.release}[/bold] v{result.version} "
            f"({len(result.files)} file(s)) in {result.seconds:.1f} s"
            + (f"; removed {result.removed_stale} stale record(s)" if result.removed_stale else "")
            + (f"; v{result.version - 1} and older superseded" if result.superseded else "")
        )
    if result.carried:
        console.print(
            f"carried {result.carried.get('source', 0)} source(s) of the unchanged fields "
            "forward from the previous version"
        )
    rows = Table("table", "rows", title="rows written")
    for name, n in result.rows.items():
        rows.add_row(name, str(n))
    console.print(rows)
    flags = Table("replaced or dropped value", "count", title="sentinels and flags")
    for key, n in sorted(result.report.items()):
        if ":" not in key and key != "rows" and n:
            flags.add_row(key, str(n))
    console.print(flags)


def _run(ctx: click.Context, request: ReleaseRequest, read) -> None:  # noqa: ANN001
    engine = engine_from_context(ctx)
    try:
        result = ingest_release(engine, request, read, show_progress=sys.stderr.isatty())
    except (CatalogueFormatError, ReleaseNameError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        sys.exit(EXIT_BAD_INPUT)
    except LockTimeoutError as exc:
        console.print(f"[red]ingest not started[/red]: {exc}")
        console.print("nothing was written")
        sys.exit(1)
    except ReleaseConflictError as exc:
        console.print(f"[red]refused[/red]: {exc}")
        sys.exit(EXIT_CONFLICT)
    except Exception as exc:
        if ctx.find_root().params.get("verbose"):
            raise
        console.print(f"[red]ingest failed[/red]: {type(exc).__name__}: {exc}")
        console.print("nothing was written (run with --verbose for the traceback)")
        sys.exit(1)
    finally:
        engine.dispose()
    print_report(result)


def _expand(paths: tuple[str, ...]) -> list[Path]:
    from .legus import find_legus_files

    out: list[Path] = []
    for p in map(Path, paths):
        out += find_legus_files(p) if p.is_dir() else [p]
    return out


release_option = click.option("--release", "-r", required=True, help="Release name.")
new_version_option = click.option(
    "--new-version", is_flag=True, help="Ingest as a new version when the name exists."
)
pipeline_option = click.option("--pipeline-version", help="Version string of the pipeline.")


@click.group("ingest")
def ingest_group() -> None:
    """Ingest catalogues as versioned, immutable releases (atomic, idempotent)."""


@ingest_group.command("legus")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@release_option
@click.option("--layout", help="Override the column layout (see LAYOUTS.md), e.g. L35-MODE-MEAN.")
@new_version_option
@pipeline_option
@click.pass_context
def legus_cmd(ctx, files, release, layout, new_version, pipeline_version) -> None:  # noqa: ANN001
    """LEGUS HLSP .tab catalogues (or .tab.gz; a folder means every LEGUS file in it)."""
    info = reader_info("legus")
    request = ReleaseRequest(
        name=release, reader=info.name, reader_version=info.version, files=_expand(files),
        layout=layout, new_version=new_version, pipeline_version=pipeline_version,
    )  # fmt: skip
    _run(ctx, request, info.reader(layout=layout))


def _simple_command(name: str, help_text: str, attaches: bool = False) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
    @release_option
    @new_version_option
    @pipeline_option
    @click.pass_context
    def command(ctx, files, release, new_version, pipeline_version, catalogue=None) -> None:  # noqa: ANN001
        info = reader_info(name)
        request = ReleaseRequest(
            name=release, reader=info.name, reader_version=info.version,
            files=[Path(f) for f in files], new_version=new_version,
            pipeline_version=pipeline_version, attach_to=catalogue,
        )  # fmt: skip
        _run(ctx, request, info.reader())

    if attaches:
        command = click.option(
            "--catalogue", required=True, help="Release whose sources the predictions belong to."
        )(command)
    return command


ingest_group.add_command(_simple_command("legus-csv", "CSV twin of LEGUS catalogues."))
ingest_group.add_command(
    _simple_command("starcnet", "StarcNet predictions for an existing LEGUS release.", True)
)
ingest_group.add_command(_simple_command("phangs", "PHANGS-HST DR4 cluster catalogues (FITS)."))
ingest_group.add_command(_simple_command("mrt", "Published machine-readable (MRT) tables."))


@ingest_group.command("sync")
@click.argument("drop_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--watch", type=float, metavar="SECONDS", help="Keep running, syncing this often.")
@click.pass_context
def sync_cmd(ctx: click.Context, drop_dir: Path, watch: float | None) -> None:
    """Ingest every pipeline version in DROP_DIR that is not yet in the database.

    One folder per version, each with a manifest.toml naming reader, release and files
    (see docs/ingest.md). Oldest first; overlapping runs wait for each other. Log lines
    and exit status suit cron.
    """
    from .sync import run_sync

    engine = engine_from_context(ctx)
    status = 0
    while True:
        try:
            results = run_sync(engine, drop_dir)
            new = [r for r in results if r.status != "already ingested"]
            log.info("sync: %d folder(s) seen, %d ingested", len(results), len(new))
            status = 0
        except CatalogueFormatError as exc:
            log.error("sync: bad input: %s", exc)
            status = EXIT_BAD_INPUT
        except ReleaseConflictError as exc:
            log.error("sync: refused: %s", exc)
            status = EXIT_CONFLICT
        except Exception as exc:  # noqa: BLE001 - cron wants a status, the log the reason
            log.exception("sync: failed: %s", exc)
            status = 1
        if watch is None:
            break
        time.sleep(watch)
    engine.dispose()
    sys.exit(status)


@click.group("fetch")
def fetch_group() -> None:
    """Download survey catalogues from MAST (astroquery) into the cache and ingest them."""


def _fetch(ctx: click.Context, survey: str, galaxy: str, release: str | None,
           cache: Path | None, ingest: bool) -> None:  # fmt: skip
    from .mast import SURVEYS, download

    try:
        files = download(survey, galaxy, cache)
    except (LookupError, OSError) as exc:
        console.print(f"[red]fetch failed[/red]: {exc}")
        sys.exit(1)
    for f in files:
        console.print(f"cached {f}")
    if not ingest:
        return
    info = reader_info(SURVEYS[survey].reader)
    request = ReleaseRequest(
        name=release or f"{survey}-mast", reader=info.name, reader_version=info.version,
        files=files, new_version=True, extend=True,
        options={"source": "MAST", "galaxy": galaxy},
    )  # fmt: skip
    _run(ctx, request, info.reader())


for _survey in ("legus", "phangs"):

    def _make(survey: str) -> click.Command:
        @click.command(survey, help=f"Fetch the {survey.upper()} cluster catalogues of GALAXY.")
        @click.argument("galaxy")
        @click.option("--release", "-r", help=f"Release name [default: {survey}-mast].")
        @click.option(
            "--cache",
            type=click.Path(file_okay=False, path_type=Path),
            help="Cache folder [default: $CLUSTERCAT_CACHE or ~/.cache/clustercat].",
        )
        @click.option("--no-ingest", is_flag=True, help="Only download.")
        @click.pass_context
        def command(ctx, galaxy, release, cache, no_ingest) -> None:  # noqa: ANN001
            _fetch(ctx, survey, galaxy, release, cache, not no_ingest)

        return command

    fetch_group.add_command(_make(_survey))


@fetch_group.command("images")
@click.argument("survey", type=click.Choice(["legus", "phangs"], case_sensitive=False))
@click.argument("galaxy")
@click.option("--field", "-f", help="Only this field (e.g. ngc628c) [default: every field].")
@click.option(
    "--download-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the FITS files [default: $CLUSTERCAT_CACHE/mast/images/SURVEY/GALAXY].",
)
@click.pass_context
def fetch_images_cmd(
    ctx: click.Context, survey: str, galaxy: str, field: str | None, download_dir: Path | None
) -> None:
    """Download SURVEY's drizzled HST images of GALAXY from MAST and register them."""
    from clustercat.processing.cli_images import print_records
    from clustercat.processing.images import ImageFormatError
    from clustercat.processing.images_db import ImageRegistryError

    from .mast_images import fetch_images

    engine = engine_from_context(ctx)
    try:
        by_field = fetch_images(
            engine, survey.lower(), galaxy, field=field, download_dir=download_dir,
            progress=sys.stderr.isatty(),
        )  # fmt: skip
    except (LookupError, OSError) as exc:
        console.print(f"[red]fetch failed[/red]: {exc}")
        sys.exit(1)
    except (ImageFormatError, ImageRegistryError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        console.print("nothing was written for that field")
        sys.exit(EXIT_BAD_INPUT)
    finally:
        engine.dispose()
    for fld, records in by_field.items():
        print_records(records, title=f"{survey} {galaxy}: field {fld}")
