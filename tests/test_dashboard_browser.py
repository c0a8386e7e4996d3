"""A real browser uses the dashboard: headless Debian ``chromium`` driven by playwright.

``clustercat dashboard`` is started on a free localhost port (a subprocess whose stdout and
stderr are kept apart) on the small database of :mod:`dashboard_fixture`: two versions of the
``legus`` release, StarcNet, two SED methods (the LEGUS fit and a BC03 refit), a synthetic
PHANGS-HST release and two stored cross-match runs; on SQLite and on PostgreSQL. Checks:

- every page of the app (``dashboard/app.py`` ``PAGES``) and the source page
  (``/source?src=<source_pk>``), under the default selection (no query string): no "nan"
  text, no ``[data-testid="stException"]``, no "Traceback" in the server's log while it is
  shown, and its own elements drawn (tables, plotly charts, messages);
- every ECSV download of a page (``ui.downloads``: ``[data-testid="stDownloadButton"]``
  labelled "ECSV …") is fetched as a collaborator would; its header's ``SQL`` with
  ``SQL_PARAMS`` is run over the views of the same database and must return the same rows
  (columns present in both, floats to 1e-9 relative, order aside); downloads without SQL
  must be non-empty, every numeric column with a unit or a description ("… (dimensionless)",
  "… (count)"). A page that draws figures has at least one download;
- a click on a point of the colour–colour page opens that source's page;
- a full-height PNG of every page is saved under the test's temporary directory
  (``<basetemp>/…/screenshots/<backend>``), and copied to ``$CLUSTERCAT_SCREENSHOTS/<backend>``
  when that variable names a folder.

Chromium runs with ``--headless --no-sandbox --disable-gpu --disable-background-networking
--disable-component-update --no-first-run --user-data-dir=<fresh dir>``; the test checks the
running browser's command line for each of them. Without ``/usr/bin/chromium`` or the
``playwright`` package the tests are skipped, unless ``CLUSTERCAT_REQUIRE_BROWSER=1`` (CI).
``playwright install`` is never needed: the Debian browser is used.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clustercat.schema import make_engine
from clustercat.schema.config import PROJECT_ROOT
from dashboard_fixture import BrowserDatabase, build_browser_database
from sqlalchemy import Engine, bindparam, text

REQUIRED_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
DASHBOARD = PROJECT_ROOT / "dashboard"
WIDTH = 1500
#: What a page must show once rendered, by URL path: (CSS selector, at least how many).
#: Pages not listed must show their title. mci / completeness / ml: this database has no
#: release made from images, no injection run and no model, so they say so.
EXPECTED: dict[str, tuple[str, int]] = {
    "overview": ('[data-testid="stDataFrame"]', 1),
    "colours": (".js-plotly-plot", 2),
    "quality": (".js-plotly-plot", 1),
    "agreement": (".js-plotly-plot", 2),
    "functions": (".js-plotly-plot", 3),
    "crossmatch": (".js-plotly-plot", 4),
    "explorer": ('[data-testid="stDataFrame"]', 1),
    "mci": ('[data-testid="stAlert"]', 1),
    "completeness": ('[data-testid="stAlert"]', 1),
    "ml": ('[data-testid="stAlert"]', 1),
    "source": (".js-plotly-plot", 1),
}
#: "nan" as a word (not "Nanjing", not "financial"), any case
NAN_WORD = re.compile(r"(?<![A-Za-z0-9_])nan(?![A-Za-z0-9_])", re.IGNORECASE)
#: Columns that identify a row: sorted first when rows are compared.
KEY_COLUMNS = ("source_pk", "source_a_pk", "source_b_pk", "run_id", "release", "release_id",
               "galaxy", "field", "source_id", "method", "method_id", "class", "key")  # fmt: skip
FLOAT_RTOL = 1e-9


def app_pages() -> dict[str, str]:
    """URL path -> page file of the app (``PAGES`` of dashboard/app.py) and the source page.

    The first page is served at "/", so its path is "".
    """
    tree = ast.parse((DASHBOARD / "app.py").read_text())
    pages = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and getattr(node.targets[0] if isinstance(node, ast.Assign) else node.target, "id", "")
        == "PAGES"
    )
    out = {("" if k == 0 else p[2]): p[0] for k, p in enumerate(pages)}
    out.setdefault("source", "source.py")
    return out


PAGES = app_pages()


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


# --- fixtures: database, server, browser ------------------------------------------------------


@pytest.fixture(scope="module")
def browser_db(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> BrowserDatabase:
    """The database of :mod:`dashboard_fixture` on this backend (dropped afterwards)."""
    folder = tmp_path_factory.mktemp(f"browser_db_{backend}")
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'dashboard.db'}"
    else:
        dbs = request.getfixturevalue("postgres_databases")
        url = dbs.create("clustercat_browser")
        request.addfinalizer(lambda: dbs.drop(url))
    return build_browser_database(url, folder, shared_data / "legus")


@pytest.fixture(scope="module")
def sql_engine(browser_db: BrowserDatabase) -> Iterator[Engine]:
    engine = make_engine(browser_db.url)
    yield engine
    engine.dispose()


@dataclass
class Server:
    """A running ``clustercat dashboard``: its base URL and its two logs."""

    base: str
    stdout: Path
    stderr: Path

    def log_size(self) -> tuple[int, int]:
        return self.stdout.stat().st_size, self.stderr.stat().st_size

    def log_since(self, mark: tuple[int, int]) -> str:
        """What the server wrote (stderr, then stdout) since ``mark``."""
        out = []
        for path, start in ((self.stderr, mark[1]), (self.stdout, mark[0])):
            with path.open("rb") as f:
                f.seek(start)
                out.append(f.read().decode(errors="replace"))
        return "\n".join(out)


@pytest.fixture(scope="module")
def server(browser_db: BrowserDatabase, backend: str, tmp_path_factory) -> Iterator[Server]:  # noqa: ANN001
    """``clustercat dashboard`` on a free localhost port."""
    folder = tmp_path_factory.mktemp(f"server_{backend}")
    port = _free_port()
    out, err = folder / "server.stdout.log", folder / "server.stderr.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            _dashboard_command(browser_db.url, port), stdout=stdout, stderr=stderr
        )
    srv = Server(f"http://127.0.0.1:{port}", out, err)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{srv.base}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dashboard did not start:\n{srv.log_since((0, 0))}")
            time.sleep(0.3)
        yield srv
    finally:
        process.terminate()  # the command forwards SIGTERM to its streamlit server
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A persistent chromium context (a fresh profile) with the required flags."""
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright package is not installed: pip install playwright")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user data dir
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile),  # playwright passes it as --user-data-dir
            executable_path=chromium,
            headless=True,
            args=list(REQUIRED_FLAGS),
            viewport={"width": WIDTH, "height": 1000},
            accept_downloads=True,
        )
        context.profile = profile  # type: ignore[attr-defined]
        yield context
        context.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def shots(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots") / backend


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


# --- page helpers -----------------------------------------------------------------------------


def _settle(page, selector: str | None, count: int, timeout: float = 60.0) -> None:  # noqa: ANN001
    """Wait until the page shows its title (and ``count`` of ``selector``), no script runs,
    every plotly chart has drawn and the number of elements stopped changing."""
    page.wait_for_function(  # the title, or an exception (e.g. raised in the sidebar)
        """() => document.querySelector('[data-testid="stMain"] h1')
            || document.querySelector('[data-testid="stException"]')""",
        timeout=timeout * 1000,
    )
    if page.locator('[data-testid="stException"]').count():
        return
    if selector:
        page.wait_for_function(
            f"() => document.querySelectorAll('{selector}').length >= {count}",
            timeout=timeout * 1000,
        )
    signature = """() => {
        const running = !!document.querySelector('[data-testid="stStatusWidget"]');
        const plots = [...document.querySelectorAll('.js-plotly-plot')];
        const drawn = plots.filter(p => p.querySelector('.main-svg')).length;
        const n = document.querySelectorAll('[data-testid="stElementContainer"]').length;
        const stale = document.querySelectorAll('[data-stale="true"]').length;
        return [running, plots.length, drawn, n, stale].join('/');
    }"""
    deadline = time.monotonic() + timeout
    last, stable = None, 0
    while time.monotonic() < deadline:
        now = page.evaluate(signature)
        running, n_plots, drawn, _, stale = now.split("/")
        idle = running == "false" and n_plots == drawn and stale == "0"
        stable = stable + 1 if (now == last and idle) else 0
        if stable >= 3:
            return
        last = now
        page.wait_for_timeout(250)
    raise AssertionError(f"page did not settle in {timeout} s (last state {last})")


def _page_text(page) -> str:  # noqa: ANN001
    """The main area's text, with the text of the charts' SVG (axes, labels, annotations)."""
    return page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            const parts = [main.innerText];
            main.querySelectorAll('svg text').forEach(t => parts.push(t.textContent));
            return parts.join('\\n');
        }"""
    )


def _nan_lines(text_: str) -> list[str]:
    return [line.strip() for line in text_.splitlines() if NAN_WORD.search(line)]


def _exceptions(page) -> list[str]:  # noqa: ANN001
    box = page.locator('[data-testid="stException"]')
    return [box.nth(i).inner_text()[:800] for i in range(box.count())]


def _screenshot(page, path: Path) -> None:  # noqa: ANN001
    """A full-height PNG of the page (the main area scrolls inside the viewport)."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(600)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    target = os.environ.get("CLUSTERCAT_SCREENSHOTS")
    if target:
        copy = Path(target) / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)


def _open_hidden_containers(page) -> None:  # noqa: ANN001
    """Open every closed expander (their download buttons become clickable)."""
    closed = page.locator('[data-testid="stMain"] details:not([open]) > summary')
    for _ in range(closed.count()):
        closed.first.click()
        page.wait_for_timeout(150)


# --- downloads and their SQL ------------------------------------------------------------------


@dataclass
class DownloadCheck:
    """One ECSV download of a page and what was found."""

    label: str
    figure: str = ""
    rows: int = 0
    sql: bool = False
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        kind = "SQL" if self.sql else "no SQL"
        state = "ok" if not self.problems else "; ".join(self.problems)
        return f"{self.figure or self.label} ({self.rows} rows, {kind}): {state}"


def _click_download(page, button):  # noqa: ANN001, ANN202 - playwright Page, Locator, Download
    """Click an ECSV button and return its download. A click that lands while Streamlit
    re-renders the page (seen once in 60 runs, on a loaded machine) starts none: then wait
    for the app to settle and click once more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    target = button.get_by_role("button", name=re.compile(r"^ECSV")).first
    try:
        with page.expect_download(timeout=30_000) as info:
            target.click()
        return info.value
    except PlaywrightTimeout:
        _settle(page, None, 0)
        with page.expect_download(timeout=60_000) as info:
            target.click()
        return info.value


def _download_ecsv(page, folder: Path, stem: str) -> list[tuple[str, Path]]:  # noqa: ANN001
    """Click every ECSV download button of the page (each tab shown in turn); the files."""
    files: list[tuple[str, Path]] = []
    seen: set[int] = set()
    tabs = page.locator('[data-testid="stMain"] [data-baseweb="tab"]')
    for t in range(max(tabs.count(), 1)):
        if tabs.count():
            tabs.nth(t).click()
            page.wait_for_timeout(300)
        _open_hidden_containers(page)
        buttons = page.locator('[data-testid="stDownloadButton"]')
        for i in range(buttons.count()):
            button = buttons.nth(i)
            label = " ".join(button.inner_text().split())
            if i in seen or not label.startswith("ECSV") or not button.is_visible():
                continue
            seen.add(i)
            button.scroll_into_view_if_needed()
            download = _click_download(page, button)
            path = folder / f"{stem}-{len(files):02d}.ecsv"
            download.save_as(path)
            files.append((label, path))
    return files


def _run_sql(engine: Engine, sql: str, params: dict) -> pd.DataFrame:
    """Rows of ``sql`` with bound ``params`` (lists bound as expanding IN parameters)."""
    statement = text(sql)
    lists = [k for k, v in params.items() if isinstance(v, list | tuple)]
    if lists:
        statement = statement.bindparams(*(bindparam(k, expanding=True) for k in lists))
    with engine.connect() as conn:
        result = conn.execute(statement, params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _comparable(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both columns as floats (numbers, booleans, Decimals; missing = NaN) when every value of
    both is a number, else as strings (missing = None). Returns (a, b, numeric)."""

    def numbers(s: pd.Series) -> np.ndarray | None:
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        values = s.astype(object).where(s.notna(), None)
        if any(isinstance(v, str | bytes) for v in values):
            return None
        try:
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        except (TypeError, ValueError):
            return None

    na, nb = numbers(a), numbers(b)
    if na is not None and nb is not None:
        return na, nb, True

    def strings(s: pd.Series) -> np.ndarray:
        out = []
        for v in s.astype(object):
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                out.append(None)
            elif isinstance(v, pd.Timestamp | np.datetime64) or hasattr(v, "isoformat"):
                out.append(pd.Timestamp(v).tz_localize(None).isoformat())
            else:
                out.append(str(v))
        return np.array(out, dtype=object)

    return strings(a), strings(b), False


def _sorted(columns: dict[str, np.ndarray], numeric: dict[str, bool]) -> np.ndarray:
    """Row order sorting by the key columns first, then the others (floats to 9 digits)."""
    names = sorted(columns, key=lambda c: (c not in KEY_COLUMNS, c))
    keys = []
    for name in reversed(names):  # np.lexsort: the last key is the primary one
        v = columns[name]
        if numeric[name]:
            rounded = np.array([float(f"{x:.9g}") if np.isfinite(x) else np.inf for x in v])
            keys.append(rounded)
        else:
            keys.append(np.array(["" if x is None else x for x in v], dtype=object).astype(str))
    return np.lexsort(keys) if keys else np.arange(0)


def compare_with_sql(download: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Problems found comparing a download with the rows its SQL returns (empty: the same)."""
    common = [c for c in download.columns if c in expected.columns]
    if not common:
        return [f"no column in common: download {list(download.columns)}, "
                f"SQL {list(expected.columns)}"]  # fmt: skip
    problems = []
    ids = [c for c in ("source_pk", "source_a_pk", "source_b_pk") if c in download.columns]
    missing_ids = [c for c in ids if c not in expected.columns]
    if missing_ids:
        problems.append(f"the SQL does not return the identifying column(s) {missing_ids}")
    if len(download) != len(expected):
        msg = f"{len(download)} rows downloaded, the SQL returns {len(expected)}"
        key = next((c for c in ids if c in expected.columns), None)
        if key is not None:
            only_d = sorted(set(download[key].dropna()) - set(expected[key].dropna()))[:5]
            only_s = sorted(set(expected[key].dropna()) - set(download[key].dropna()))[:5]
            msg += f" ({key} only in the download: {only_d}; only from SQL: {only_s})"
        return [*problems, msg]
    left, right, numeric = {}, {}, {}
    for c in common:
        left[c], right[c], numeric[c] = _comparable(download[c], expected[c])
    order_l, order_r = _sorted(left, numeric), _sorted(right, numeric)
    for c in common:
        a, b = left[c][order_l], right[c][order_r]
        if numeric[c]:
            same = np.isclose(a, b, rtol=FLOAT_RTOL, atol=1e-12, equal_nan=True)
        else:
            same = np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)
        if not same.all():
            bad = np.flatnonzero(~same)[:3]
            pairs = ", ".join(f"{a[i]!r} vs {b[i]!r}" for i in bad)
            problems.append(f"column {c}: {int((~same).sum())} rows differ (download vs SQL: "
                            f"{pairs})")  # fmt: skip
    return problems


def check_download(path: Path, label: str, engine: Engine) -> DownloadCheck:
    """Read an ECSV download; run its SQL over the views and compare, or check units."""
    from astropy.table import Table

    table = Table.read(path, format="ascii.ecsv")
    check = DownloadCheck(label, str(table.meta.get("FIGURE", "")), len(table))
    sql = table.meta.get("SQL")
    m = re.search(r"\(([\d,]+) rows\)", label)
    if m and int(m.group(1).replace(",", "")) != len(table):
        check.problems.append(f"the button says {m.group(1)} rows, the file holds {len(table)}")
    if not sql:
        if len(table) == 0:
            check.problems.append("empty")
        bare = [c.name for c in table.columns.values()
                if c.dtype.kind in "iuf" and c.unit is None and not c.description]  # fmt: skip
        if bare:
            check.problems.append(f"numeric columns without unit or description: {bare}")
        return check
    check.sql = True
    params = json.loads(table.meta.get("SQL_PARAMS") or "{}")
    try:
        expected = _run_sql(engine, sql, params)
    except Exception as exc:  # noqa: BLE001 - reported with the page and figure
        check.problems.append(f"the SQL fails: {type(exc).__name__}: {str(exc)[:300]}")
        return check
    check.problems += compare_with_sql(table.to_pandas(), expected)
    return check


# --- the tests --------------------------------------------------------------------------------


def test_the_download_comparison_finds_differences(sql_engine: Engine) -> None:
    """The row-for-row comparison the page test relies on: equal rows in another order and
    another column order pass; a changed value, a missing row or another class do not."""
    sql = ("SELECT source_pk, galaxy, field, mag_v, ci FROM cluster_catalogue "
           "WHERE field = :f ORDER BY source_pk")  # fmt: skip
    rows = _run_sql(sql_engine, sql, {"f": "ngc4248"})
    v1 = _run_sql(sql_engine, sql.replace("cluster_catalogue", "cluster_catalogue_all")
                  .replace("WHERE", "WHERE release_version = 1 AND"), {"f": "ngc4248"})  # fmt: skip
    assert len(rows) == len(v1) - 1 == 234  # the last source of the file is gone in v2
    shuffled = rows.sample(frac=1.0, random_state=1)[["ci", "mag_v", "field", "source_pk"]]
    assert compare_with_sql(shuffled, rows) == []
    assert compare_with_sql(rows.assign(mag_v=rows["mag_v"] * (1 + 1e-12)), rows) == []
    moved = rows.assign(mag_v=rows["mag_v"].where(rows.index != 5, rows["mag_v"] + 1e-6))
    assert "column mag_v: 1 rows differ" in " ".join(compare_with_sql(moved, rows))
    missing = " ".join(compare_with_sql(rows.iloc[1:], rows))
    assert "233 rows downloaded, the SQL returns 234" in missing
    assert f"only from SQL: [{rows['source_pk'].iloc[0]}]" in missing
    renamed = rows.assign(galaxy=np.where(rows.index == 3, "NGC 1566", rows["galaxy"]))
    assert "column galaxy: 1 rows differ" in " ".join(compare_with_sql(renamed, rows))
    assert compare_with_sql(rows, rows.drop(columns="source_pk")) == [
        "the SQL does not return the identifying column(s) ['source_pk']"
    ]


def test_chromium_runs_with_the_required_flags(browser) -> None:  # noqa: ANN001
    flags = _browser_command_line(browser.profile)
    missing = [f for f in (*REQUIRED_FLAGS, f"--user-data-dir={browser.profile}") if f not in flags]
    assert not missing, f"chromium started without {missing}: {flags}"


@pytest.mark.parametrize("path", list(PAGES), ids=[p or "overview" for p in PAGES])
def test_page_under_the_default_selection(
    path: str,
    server: Server,
    browser_db: BrowserDatabase,
    sql_engine: Engine,
    browser,  # noqa: ANN001
    shots: Path,
    tmp_path: Path,
) -> None:
    """The page renders (no NaN, no exception, no server traceback), its ECSV downloads hold
    the rows of their SQL, and a screenshot is saved."""
    name = path or "overview"
    if name == "source":
        url = f"{server.base}/source?src={browser_db.source_pk}"
    else:
        url = f"{server.base}/{path}"
    selector, count = EXPECTED.get(name, (None, 0))
    mark = server.log_size()
    page = browser.new_page()
    problems: list[str] = []
    try:
        page.goto(url, wait_until="domcontentloaded")
        _settle(page, selector, count)
        if page.get_by_text("Page not found").count():
            problems.append(f"{url}: Page not found")
        problems += [f"exception shown: {e}" for e in _exceptions(page)]
        problems += [f'"nan" shown: {line!r}' for line in _nan_lines(_page_text(page))]
        shot = shots / f"{name}.png"
        _screenshot(page, shot)
        assert shot.stat().st_size > 20_000, f"{shot} looks blank"

        n_figures = page.locator(".js-plotly-plot").count()
        files = _download_ecsv(page, tmp_path, name)
        checks = [check_download(p, label, sql_engine) for label, p in files]
        report = [f"{name}: {n_figures} figure(s), {len(checks)} ECSV download(s), "
                  f"{sum(c.sql for c in checks)} with SQL"]  # fmt: skip
        report += [f"  {c.line()}" for c in checks]
        print("\n" + "\n".join(report))
        if n_figures and not checks:
            problems.append(f"{n_figures} figure(s) but no ECSV download")
        problems += [f"download {c.figure or c.label}: {p}" for c in checks for p in c.problems]
        page.wait_for_timeout(300)
        problems += [f"exception shown after the downloads: {e}" for e in _exceptions(page)]
    finally:
        page.close()
    log = server.log_since(mark)
    if "Traceback" in log:
        problems.append(f"server log while {url} was shown:\n{log[-3000:]}")
    assert not problems, f"{url}:\n" + "\n".join(problems)


#: In-page script: the viewport pixel of the most isolated source point of the first chart
#: whose traces carry customdata (their first column: source_pk), from plotly's own axes.
ISOLATED_POINT_JS = """(gd) => {
    const rect = gd.getBoundingClientRect();
    const fl = gd._fullLayout;
    const all = [], candidates = [];
    gd._fullData.forEach((tr) => {
        if (tr.visible !== true || !tr.x || !tr.y) return;
        const xa = fl['xaxis' + (tr.xaxis || 'x').slice(1)];
        const ya = fl['yaxis' + (tr.yaxis || 'y').slice(1)];
        if (!xa || !ya) return;
        for (let j = 0; j < tr.x.length; j++) {
            const x = Number(tr.x[j]), y = Number(tr.y[j]);
            if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
            const px = xa._offset + xa.l2p(xa.d2l(x)), py = ya._offset + ya.l2p(ya.d2l(y));
            const inside = px > xa._offset + 8 && px < xa._offset + xa._length - 8
                && py > ya._offset + 8 && py < ya._offset + ya._length - 8;
            const p = {px, py, sub: tr.xaxis + tr.yaxis};
            all.push(p);
            const cd = tr.customdata && tr.customdata[j];
            const pk = Array.isArray(cd) || ArrayBuffer.isView(cd) ? cd[0] : cd;
            if (inside && pk !== undefined && pk !== null && tr.mode.includes('markers')) {
                candidates.push(Object.assign({pk: Number(pk)}, p));
            }
        }
    });
    let best = null, bestDist = -1;
    for (const c of candidates.slice(0, 2000)) {
        let near = Infinity;
        for (const p of all) {
            if (p === c || p.sub !== c.sub) continue;
            const d = Math.hypot(p.px - c.px, p.py - c.py);
            if (d > 0 && d < near) near = d;
        }
        if (near > bestDist) { bestDist = near; best = c; }
    }
    if (!best) return null;
    return {x: rect.left + best.px, y: rect.top + best.py, pk: best.pk, gap: bestDist,
            n: candidates.length};
}"""


def test_clicking_a_colour_point_opens_its_source_page(
    server: Server,
    browser,  # noqa: ANN001
    shots: Path,
) -> None:
    mark = server.log_size()
    page = browser.new_page()
    try:
        page.goto(f"{server.base}/colours", wait_until="domcontentloaded")
        _settle(page, ".js-plotly-plot", 2)
        target = None
        plots = page.locator(".js-plotly-plot")
        for i in range(plots.count()):
            plots.nth(i).scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            target = plots.nth(i).evaluate(ISOLATED_POINT_JS)
            if target:
                break
        assert target, "no chart of the colour-colour page has source points (customdata)"
        page.mouse.move(target["x"], target["y"])
        page.wait_for_timeout(300)
        page.mouse.click(target["x"], target["y"])
        page.wait_for_url(re.compile(r"source\?(.*&)?src=\d+"), timeout=30_000)
        src = int(re.search(r"src=(\d+)", page.url).group(1))
        assert src == target["pk"], f"clicked source {target['pk']}, opened {src}"
        _settle(page, None, 0)
        assert not _exceptions(page)
        assert str(src) in _page_text(page) or page.locator("h1").count()
        _screenshot(page, shots / "source-from-click.png")
    finally:
        page.close()
    log = server.log_since(mark)
    assert "Traceback" not in log, log[-3000:]


def test_server_log_has_no_traceback(server: Server) -> None:
    """Nothing the pages, downloads and clicks above did logged a traceback on the server."""
    log = server.log_since((0, 0))
    assert "Traceback" not in log, log[-5000:]
