"""The ``clustercat`` command: one entry point for database, ingest, processing and demo.

Subcommand groups live beside the code they drive (``schema/cli.py`` for ``db``, ...);
this module only assembles them.
"""

from __future__ import annotations

import logging

import click
from clustercat import __version__
from clustercat.dashboard.cli import dashboard_cmd
from clustercat.demo import demo_cmd
from clustercat.ingest.cli import fetch_group, ingest_group
from clustercat.processing.cli import analyse_group, crossmatch_cmd
from clustercat.processing.cli_completeness import completeness_group
from clustercat.processing.cli_images import images_group
from clustercat.processing.cli_injection import inject_group
from clustercat.processing.cli_ml import ml_group
from clustercat.processing.cli_pipeline import pipeline_group
from clustercat.processing.cli_sed import process_group, ssp_group
from clustercat.processing.cli_synth import synth_group
from clustercat.schema.cli import db_group
from clustercat.schema.cli_sql import cone_cmd, export_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database",
    "-d",
    envvar="CLUSTERCAT_DATABASE_URL",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL of the catalogue database [env CLUSTERCAT_DATABASE_URL; "
    "default sqlite:///clustercat.db in the working directory].",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug messages.")
@click.version_option(__version__, prog_name="clustercat")
@click.pass_context
def main(ctx: click.Context, database: str | None, verbose: bool) -> None:
    """ClusterCat: the star-cluster catalogue database of PHANGS-HST and LEGUS.

    \b
    Start with:
      clustercat demo          create the SQLite database and load everything available
      clustercat db --help     migrations and schema checks
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Alembic reports every plugin and migration context at INFO.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.ensure_object(dict)
    ctx.obj["database"] = database


main.add_command(db_group)
main.add_command(ingest_group)
main.add_command(fetch_group)
main.add_command(ssp_group)
main.add_command(process_group)
main.add_command(cone_cmd)
main.add_command(export_cmd)
main.add_command(synth_group)
main.add_command(crossmatch_cmd)
main.add_command(analyse_group)
main.add_command(dashboard_cmd)
main.add_command(demo_cmd)
main.add_command(images_group)
main.add_command(pipeline_group)
main.add_command(ml_group)
main.add_command(inject_group)
main.add_command(completeness_group)


if __name__ == "__main__":
    main()
