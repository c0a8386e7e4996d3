"""A real browser loads every dashboard page: headless Debian ``chromium`` driven by playwright.

``clustercat dashboard`` is started on a free localhost port (as a subprocess, on a SQLite
copy of the LEGUS test database plus a synthetic PHANGS-HST release and a stored
cross-match, so every page has something to draw); each page is loaded, the test waits for
that page's own elements (tables, plotly charts, the WebGL canvas of the scatter plots),
counts ``[data-testid="stException"]`` (must be 0) and saves a full-height PNG under the
test's temporary directory (``<basetemp>/.../dashboard_screenshots``: CI keeps them).

Chromium runs with ``--headless --no-sandbox --disable-gpu --disable-background-networking
--disable-component-update --no-first-run --user-data-dir=<fresh dir>``; the test checks the
running browser's command line for each of them. Without ``/usr/bin/chromium`` or the
``playwright`` package the test is skipped, unless ``CLUSTERCAT_REQUIRE_BROWSER=1`` (CI).
``playwright install`` is never needed: the Debian browser is used.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import astropy.units as u
import pytest
from clustercat.schema import make_engine
from clustercat.schema.config import PROJECT_ROOT
from sqlalchemy.engine import make_url

REQUIRED_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
#: page -> (URL path, CSS selector and how many of it the page must show once rendered)
PAGES: dict[str, tuple[str, str, int]] = {
    "overview": ("", '[data-testid="stDataFrame"]', 3),
    "colours": ("colours", ".js-plotly-plot", 2),
    "quality": ("quality", ".js-plotly-plot", 1),
    "agreement": ("agreement", ".js-plotly-plot", 3),
    "functions": ("functions", ".js-plotly-plot", 3),
    "crossmatch": ("crossmatch", ".js-plotly-plot", 4),
    "explorer": ("explorer", '[data-testid="stDataFrame"]', 1),
    # no release made from images in this database: the page says so (AppTest covers the plots)
    "mci": ("mci", '[data-testid="stAlert"]', 1),
    # no injection run either: the page names the command that makes one
    "completeness": ("completeness", '[data-testid="stAlert"]', 1),
    "ml": ("ml", '[data-testid="stAlert"]', 1),
}
QUERY = "?gal=NGC+1566"
WIDTH = 1500


def _require(reason: str) -> None:
    if os.environ.get("CLUSTERCAT_REQUIRE_BROWSER", "") not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CLUSTERCAT_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _require("no chromium browser: apt-get install -y chromium")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dashboard_command(url: str, port: int) -> list[str]:
    """``clustercat dashboard`` when the root command has it, else the same click command."""
    from clustercat.__main__ import main

    args = ["dashboard", "--database", url, "--port", str(port), "--address", "127.0.0.1"]
    if "dashboard" in main.commands:
        return [sys.executable, "-m", "clustercat", *args]
    return [sys.executable, "-m", "clustercat.dashboard.cli", *args[1:]]


@pytest.fixture
def browser_db_url(legus_db_url: str, tmp_path: Path) -> str:
    """A SQLite copy of the LEGUS database, with a synthetic PHANGS-HST release of NGC 1566
    and a stored cross-match run between the two (the shared database is not touched)."""
    source = make_url(legus_db_url).database
    copy = tmp_path / "dashboard.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # consistent with the WAL, unlike a file copy
    url = f"sqlite:///{copy}"
    spec = importlib.util.spec_from_file_location(
        "clustercat_bench_dashboard", PROJECT_ROOT / "bench" / "dashboard.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    engine = make_engine(url)
    bench.ingest_phangs_synthetic(engine, tmp_path, 3000, release="phangs-test", seed=7)
    from clustercat.processing.crossmatch_db import run_crossmatch

    run_crossmatch(
        engine, "legus:ngc1566", "phangs-test:ngc1566", 0.08 * u.arcsec,
        class_method_a="LEGUS human mode", class_method_b="PHANGS-HST human",
    )  # fmt: skip
    engine.dispose()
    return url


@pytest.fixture
def server(browser_db_url: str, tmp_path: Path) -> Iterator[str]:
    """``clustercat dashboard`` on a free localhost port; yields its base URL."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        _dashboard_command(browser_db_url, port), stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"dashboard did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()  # the command forwards SIGTERM to its streamlit server
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _browser_command_line(user_data_dir: Path) -> list[str]:
    """Arguments of the running browser process that uses ``user_data_dir``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        decoded = [a.decode(errors="replace") for a in args if a]
        if f"--user-data-dir={user_data_dir}" in decoded and "--type=" not in " ".join(decoded):
            return decoded
    return []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_page_in_a_real_browser(server: str, tmp_path: Path) -> None:
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright package is not installed: pip install playwright")
    shots = tmp_path / "dashboard_screenshots"
    shots.mkdir()
    profile = tmp_path / "chromium-profile"  # a fresh user data dir
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),  # playwright passes it as --user-data-dir
            executable_path=chromium,
            headless=True,
            args=list(REQUIRED_FLAGS),
            viewport={"width": WIDTH, "height": 1000},
        )
        try:
            flags = _browser_command_line(profile)
            missing = [f for f in (*REQUIRED_FLAGS, f"--user-data-dir={profile}") if f not in flags]
            assert not missing, f"chromium started without {missing}: {flags}"
            page = browser.new_page()
            for name, (path, selector, count) in PAGES.items():
                page.set_viewport_size({"width": WIDTH, "height": 1000})
                page.goto(f"{server}/{path}{QUERY}", wait_until="domcontentloaded")
                page.wait_for_function(
                    f"() => document.querySelectorAll('{selector}').length >= {count}",
                    timeout=60_000,
                )
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                    timeout=60_000,
                )
                if selector == ".js-plotly-plot":  # plotly has drawn its axes
                    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
                page.wait_for_timeout(800)
                assert page.locator('[data-testid="stException"]').count() == 0, name
                assert page.get_by_text("Page not found").count() == 0, name
                if name == "colours":  # the scatter plots are WebGL
                    assert page.locator(".js-plotly-plot canvas.gl-canvas-context").count() >= 2
                height = page.evaluate(
                    "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
                )
                page.set_viewport_size({"width": WIDTH, "height": min(int(height) + 40, 12000)})
                page.wait_for_timeout(700)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    saved = sorted(p.name for p in shots.glob("*.png"))
    assert saved == sorted(f"{n}.png" for n in PAGES)
    assert all((shots / n).stat().st_size > 20_000 for n in saved)  # not blank pages
    print(f"\ndashboard screenshots: {shots}")
