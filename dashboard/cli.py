"""``clustercat dashboard``: serve the Streamlit app on a database (SQLite default or PostgreSQL).

The app runs in a ``streamlit run`` subprocess; the database URL reaches it through
``CLUSTERCAT_DATABASE_URL``. Also runnable as ``python -m clustercat.dashboard.cli``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
from clustercat.schema.config import database_url
from sqlalchemy.engine import make_url

APP = Path(__file__).with_name("app.py")


def streamlit_command(
    port: int = 8501, address: str = "localhost", headless: bool = True
) -> list[str]:
    """The ``streamlit run`` command line serving the app (no telemetry, no file watcher)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true" if headless else "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--theme.base", "light",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (serving it would create it empty)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def serve(
    url: str | None = None, port: int = 8501, address: str = "localhost", headless: bool = True
) -> int:
    """Serve the dashboard on ``url`` until interrupted; returns the server's exit status."""
    url = database_url(url)
    env = dict(os.environ, CLUSTERCAT_DATABASE_URL=url)
    shown = make_url(url).render_as_string(hide_password=True)
    click.echo(f"ClusterCat dashboard on {shown}: http://{address}:{port}/  (Ctrl-C stops it)")
    process = subprocess.Popen(streamlit_command(port, address, headless), env=env)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # a SIGTERM to this process stops the server too (no orphaned streamlit)
        previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return _stop(process)
    finally:
        if process.poll() is None:
            _stop(process)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """Wait for the server to stop, terminating (then killing) it if it does not."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@click.command("dashboard")
@click.option(
    "--database",
    "-d",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL of the catalogue database [default: the clustercat --database "
    "option, $CLUSTERCAT_DATABASE_URL, or sqlite:///clustercat.db].",
)
@click.option("--port", "-p", default=8501, show_default=True, type=int, help="HTTP port.")
@click.option("--address", default="localhost", show_default=True, help="Interface to listen on.")
@click.option(
    "--headless/--open-browser",
    default=True,
    show_default=True,
    help="Do not (or do) open a browser window.",
)
@click.pass_context
def dashboard_cmd(
    ctx: click.Context, database: str | None, port: int, address: str, headless: bool
) -> None:
    """Serve the dashboard: releases, colour-colour boxes, quality ratios, agreement,
    mass and age functions, cross-matches and a source explorer."""
    parent = (ctx.obj or {}).get("database") if isinstance(ctx.obj, dict) else None
    url = database_url(database or parent)
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise click.ClickException(
            f"no database at {missing}: create it with `clustercat demo` (or pass --database URL)"
        )
    ctx.exit(serve(url, port, address, headless))


if __name__ == "__main__":
    dashboard_cmd()
