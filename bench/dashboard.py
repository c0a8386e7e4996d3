"""Benchmark: every dashboard page, cold and on rerun, on SQLite and PostgreSQL.

The database holds every LEGUS catalogue (release ``legus``), the StarcNet predictions of
NGC 1566 (``starcnet-ngc1566``) and a synthetic PHANGS-HST-format release of NGC 1566
(``phangs-synthetic``) with ``--n-extra`` sources (default 100,000), written as a DR4 FITS
table and ingested with the real PHANGS reader: 90 % of the LEGUS NGC 1566 sources re-observed
(0.02" scatter, 0.03 mag photometric noise, some classes flipped) plus random field sources.
LEGUS NGC 1566 is refitted with BC03 as a second SED method (``clustercat process sed
--label``), and two cross-match runs of it with the synthetic release are stored (0.08" and
0.15"). So the NGC 1566 pages see ~100k sources, two releases, several classification and SED
methods and stored cross-matches, as in Whitmore et al. (2021).

Every page of ``dashboard/app.py`` (and the source page, ``?src=`` a LEGUS NGC 1566 source)
is run as the server runs it, by ``streamlit.testing``: the entry script (sidebar) and the
page script, every element serialised, under three sidebar selections (the default one; both
releases for NGC 1566; both releases for all galaxies). Cold: no page result cached (the
database fingerprint and the sidebar context, shared by every selection, are), the first
visit of a selection, best of ``--repeat``. Rerun: the same page again at once, as after any
click. Aim (issue 14): < 1 s per page, cold and on rerun. Baseline: what the command line
takes for the W21 box counts (``clustercat analyse colour-boxes``, i.e.
``processing.analyses.colour_box_counts``) of the synthetic release, with the colour-colour
page's ratio to it. ``--profile N`` prints a cProfile of the slowest page's cold run.

    python bench/dashboard.py                       # SQLite in a temporary folder
    python bench/dashboard.py --postgres            # also PostgreSQL (server of
                                                    # $CLUSTERCAT_TEST_POSTGRES_URL)
    python bench/dashboard.py --n-extra 20000       # quicker
    python bench/dashboard.py --keep ...            # keep the databases, then time them again:
    python bench/dashboard.py --database-url URL --page colours --profile 30
    python bench/dashboard.py --database-url URL --no-baseline \
        --query 'one galaxy:rel=synthetic-01 v1;gal=SYNTH 01'   # any database, e.g. the
                                                    # 10^6-source one of bench/views.py --keep
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

#: Pixel scale of the PHANGS-HST frame (data/README.md), arcsec per pixel.
PHANGS_PIXEL_SCALE = 0.03962
#: File name the PHANGS reader identifies as NGC 1566 (data/README.md format section).
PHANGS_FILE = "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits"
SYNTHETIC_RELEASE = "phangs-synthetic"


def legus_ngc1566(engine: Engine, release: str = "legus") -> pd.DataFrame:
    """Positions, magnitudes, CI, SED values and human class of the LEGUS NGC 1566 sources."""
    sql = text(
        "SELECT c.source_pk, c.ra, c.dec, c.mag_nuv, c.mag_u, c.mag_b, c.mag_v, c.mag_i, c.ci, "
        'c.log_age, c.log_mass, c.ebv, k."class" AS human_class '
        "FROM cluster_catalogue c LEFT JOIN source_classes k ON k.source_pk = c.source_pk "
        "AND k.method = 'LEGUS human mode' "
        "WHERE c.release = :r AND c.galaxy = 'NGC 1566' ORDER BY c.source_pk"
    )
    with engine.connect() as conn:
        return pd.read_sql_query(sql, conn, params={"r": release})


def phangs_like_table(legus: pd.DataFrame, n_total: int, seed: int = 2021) -> Table:
    """A PHANGS-HST DR4 cluster table of NGC 1566 (data/README.md format), synthetic.

    90 % of the LEGUS sources reappear (0.02" scatter plus a 0.01" offset in RA; magnitudes
    with 0.03 mag noise; the human class flipped to a random class for 20 % and the VGG class
    for 30 %); the rest of the ``n_total`` rows are field sources drawn uniformly over the
    LEGUS footprint with magnitudes, CI and SED values resampled from LEGUS (0.1 mag noise),
    a human class for 10 % of them and a VGG class for all. Unclassified rows have NaN.
    """
    rng = np.random.default_rng(seed)
    keep = rng.random(len(legus)) < 0.9
    twins = legus[keep].reset_index(drop=True)
    n_twin = len(twins)
    n_field = max(n_total - n_twin, 0)
    field = legus.iloc[rng.integers(0, len(legus), n_field)].reset_index(drop=True)
    dec0 = float(np.deg2rad(legus["dec"].median()))
    arcsec = 1.0 / 3600.0

    ra = np.concatenate(
        [
            twins["ra"] + (rng.normal(0, 0.02, n_twin) + 0.01) * arcsec / np.cos(dec0),
            rng.uniform(legus["ra"].min(), legus["ra"].max(), n_field),
        ]
    )
    dec = np.concatenate(
        [
            twins["dec"] + rng.normal(0, 0.02, n_twin) * arcsec,
            rng.uniform(legus["dec"].min(), legus["dec"].max(), n_field),
        ]
    )
    n = n_twin + n_field
    both = pd.concat([twins, field], ignore_index=True)
    noise = np.concatenate([np.full(n_twin, 0.03), np.full(n_field, 0.1)])

    def flipped(classes: np.ndarray, fraction: float) -> np.ndarray:
        out = classes.astype(float).copy()
        flip = np.isfinite(out) & (rng.random(out.size) < fraction)
        out[flip] = rng.integers(1, 5, int(flip.sum()))
        return out

    human_twin = flipped(twins["human_class"].to_numpy(dtype=float), 0.2)
    human_field = np.where(rng.random(n_field) < 0.1, rng.integers(1, 5, n_field), np.nan)
    vgg_twin = flipped(twins["human_class"].to_numpy(dtype=float), 0.3)
    vgg_twin = np.where(
        np.isfinite(vgg_twin), vgg_twin, rng.choice([1, 2, 3, 4], n_twin, p=[0.1, 0.1, 0.2, 0.6])
    )
    vgg_field = rng.choice([1, 2, 3, 4], n_field, p=[0.1, 0.1, 0.2, 0.6])

    t = Table()
    ids = np.arange(1, n + 1)
    t["INDEX"] = ids
    t["ID_PHANGS_CLUSTER"] = ids
    t["ID_PHANGS_CANDIDATE"] = ids + 100_000
    t["ID_PHANGS_ALLSOURCES"] = ids + 500_000
    t["PHANGS_X"] = 4000.0 + (ra - np.median(ra)) * np.cos(dec0) * 3600.0 / PHANGS_PIXEL_SCALE
    t["PHANGS_Y"] = 4000.0 + (dec - np.median(dec)) * 3600.0 / PHANGS_PIXEL_SCALE
    t["PHANGS_RA"] = ra
    t["PHANGS_DEC"] = dec
    t["PHANGS_CLUSTER_CLASS_HUMAN"] = np.concatenate([human_twin, human_field])
    t["PHANGS_CLUSTER_CLASS_ML_VGG"] = np.concatenate([vgg_twin, vgg_field])
    t["PHANGS_CLUSTER_CLASS_ML_VGG_QUAL"] = rng.uniform(0.3, 1.0, n).round(1)
    bands = (("nuv", "F275W"), ("u", "F336W"), ("b", "F438W"), ("v", "F555W"), ("i", "F814W"))
    for band, f in bands:
        mag = both[f"mag_{band}"].to_numpy(dtype=float) + rng.normal(0, 1, n) * noise
        t[f"PHANGS_{f}_VEGA"] = mag
        t[f"PHANGS_{f}_VEGA_ERR"] = np.where(np.isfinite(mag), 0.02 + 0.05 * rng.random(n), np.nan)
    t["PHANGS_NON_DETECTION_FLAG"] = np.zeros(n, dtype=int)
    t["PHANGS_NO_COVERAGE_FLAG"] = np.zeros(n, dtype=int)
    t["PHANGS_CI"] = np.clip(both["ci"].to_numpy(dtype=float), 0.5, 4.0)
    t["PHANGS_CI"] = np.where(np.isfinite(t["PHANGS_CI"]), t["PHANGS_CI"], 1.5)
    t["CC_CLASS"] = rng.choice(["ycl", "map", "ogcc", "outside"], n)
    log_age = both["log_age"].to_numpy(dtype=float)
    log_mass = both["log_mass"].to_numpy(dtype=float)
    t["PHANGS_SED_AGE"] = 10 ** (log_age - 6.0)  # Myr; NaN = not fitted
    t["PHANGS_SED_MASS"] = 10**log_mass
    t["PHANGS_SED_AV"] = 3.1 * both["ebv"].to_numpy(dtype=float)
    t["PHANGS_REDUCED_MINCHISQ"] = rng.uniform(0.1, 5.0, n)
    return t


def ingest_phangs_synthetic(
    engine: Engine,
    folder: Path,
    n_total: int,
    *,
    release: str = SYNTHETIC_RELEASE,
    legus_release: str = "legus",
    seed: int = 2021,
) -> int:
    """Write :func:`phangs_like_table` of the LEGUS NGC 1566 sources of ``legus_release`` as a
    DR4 FITS file in ``folder`` and ingest it as ``release``; returns its rows."""
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    table = phangs_like_table(legus_ngc1566(engine, legus_release), n_total, seed)
    path = folder / PHANGS_FILE
    table.write(path, overwrite=True)
    info = reader_info("phangs")
    request = ReleaseRequest(release, info.name, info.version, [path], pipeline_version="synthetic")
    ingest_release(engine, request, info.reader())
    return len(table)


def ingest_legus(engine: Engine, data: Path) -> None:
    """All LEGUS catalogues as release ``legus`` and StarcNet NGC 1566 as ``starcnet-ngc1566``."""
    from clustercat.ingest.legus import find_legus_files
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    legus = reader_info("legus")
    files = find_legus_files(data / "legus")
    ingest_release(
        engine, ReleaseRequest("legus", legus.name, legus.version, files), legus.reader()
    )
    starcnet = reader_info("starcnet")
    predictions = [data / "legus" / "starcnet_ml_predictions_ngc1566.tab"]
    request = ReleaseRequest(
        "starcnet-ngc1566", starcnet.name, starcnet.version, predictions, attach_to="legus"
    )
    ingest_release(engine, request, starcnet.reader())


# --- the pages, run as the server runs them ---------------------------------------------------

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
#: The source page, opened with ``?src=<source_pk>`` (hidden from the navigation).
SOURCE_PAGE = "source.py"
AIM_S = 1.0


def app_pages() -> list[tuple[str, str]]:
    """(page file, title) of every page of ``dashboard/app.py`` (``PAGES``), then the source
    page when it exists."""
    tree = ast.parse(APP.read_text())
    pages = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and getattr(node.target if isinstance(node, ast.AnnAssign) else node.targets[0], "id", "")
        == "PAGES"
    )
    out = [(p[0], p[1]) for p in pages]
    if (APP.parent / "app_pages" / SOURCE_PAGE).exists() and SOURCE_PAGE not in dict(out):
        out.append((SOURCE_PAGE, "Source"))
    return out


class PageTime:
    """Cold (best of the repeats) and rerun time of one page, and what went wrong.

    (A plain class: tests load this file with ``spec_from_file_location`` without entering it
    in ``sys.modules``, which ``dataclasses`` would need.)
    """

    def __init__(self) -> None:
        self.cold = float("inf")
        self.rerun = float("inf")
        self.errors: list[str] = []


def _warm_shared(url: str) -> None:
    """What every selection shares once the server has run: the fingerprint and the context
    (``cache.problem``, ``cache.token``, ``cache.context``)."""
    from clustercat.dashboard import cache

    cache.problem(url)
    cache.context(url, cache.token(url))


def _app(url: str, query: dict[str, object]):  # noqa: ANN202 - a streamlit AppTest
    from streamlit.testing.v1 import AppTest

    os.environ["CLUSTERCAT_DATABASE_URL"] = url
    at = AppTest.from_file(str(APP), default_timeout=600)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def time_page(url: str, page: str, query: dict[str, object], repeat: int) -> PageTime:
    """Run ``page`` of the app with the sidebar selection ``query`` (URL query parameters).

    Cold: page results not cached (``st.cache_data`` cleared, then the fingerprint and the
    context warmed: they are shared by every selection), the first visit of a selection; the
    best of ``repeat``. Rerun: the same page run again at once, as after any click (the
    caches serve the data and, where cached, the figures). Times are the whole script run
    (sidebar and page, every element serialised) as ``streamlit.testing`` runs it.
    """
    import streamlit as st

    out = PageTime()
    for _ in range(repeat):
        at = _app(url, query)
        at.run()  # AppTest needs one run before it can switch pages
        if page != "overview.py":
            at.switch_page(f"app_pages/{page}")
        st.cache_data.clear()
        _warm_shared(url)
        start = time.perf_counter()
        at.run()
        out.cold = min(out.cold, time.perf_counter() - start)
        start = time.perf_counter()
        at.run()
        out.rerun = min(out.rerun, time.perf_counter() - start)
        out.errors = [str(e.value)[:300] for e in at.exception]
    return out


def profile_page(
    url: str, page: str, query: dict[str, object], top: int, sort: str = "cumulative"
) -> str:
    """cProfile of one cold run of ``page`` (the script thread), by ``sort`` (a pstats key:
    ``cumulative``, ``tottime``)."""
    import cProfile
    import io
    import pstats
    import threading

    import streamlit as st

    at = _app(url, query)
    at.run()
    if page != "overview.py":
        at.switch_page(f"app_pages/{page}")
    st.cache_data.clear()
    _warm_shared(url)
    profiler = cProfile.Profile()
    original = threading.Thread.run

    def profiled(self: threading.Thread) -> None:  # the script runs in its own thread
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled  # type: ignore[method-assign]
    try:
        at.run()
    finally:
        threading.Thread.run = original  # type: ignore[method-assign]
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(sort)
    stats.print_stats(top)
    return buffer.getvalue()


def baseline_colour_boxes(url: str, release: str, galaxy: str | None) -> float:
    """The command line's W21 box counts (processing.analyses.colour_box_counts)."""
    from clustercat.processing.analyses import colour_box_counts
    from clustercat.schema import make_engine

    start = time.perf_counter()
    colour_box_counts(make_engine(url), release, galaxies=[galaxy] if galaxy else None)
    return time.perf_counter() - start


def selections(url: str) -> dict[str, dict[str, object]]:
    """The sidebar selections timed, as URL query parameters: the default one (the newest
    version of the first release, all galaxies), and both releases for NGC 1566 (where the
    synthetic sources are) and for all galaxies."""
    from clustercat.dashboard.data import load_context
    from clustercat.schema import make_engine

    engine = make_engine(url)
    labels = load_context(engine).shown["label"].tolist()
    engine.dispose()
    return {
        "default selection": {},
        "both releases, NGC 1566": {"rel": labels, "gal": "NGC 1566"},
        "both releases, all galaxies": {"rel": labels},
    }


def parse_queries(specs: list[str]) -> dict[str, dict[str, object]]:
    """``--query`` values as selections: ``"NAME:rel=a v1;rel=b v1;gal=NGC 1566"`` ->
    ``{"NAME": {"rel": ["a v1", "b v1"], "gal": "NGC 1566"}}``."""
    out: dict[str, dict[str, object]] = {}
    for spec in specs:
        name, _, body = spec.partition(":")
        query: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in body.split(";"))):
            key, sep, value = part.partition("=")
            if not sep:
                raise SystemExit(f"--query {spec!r}: expected KEY=VALUE, not {part!r}")
            if key == "rel":
                query.setdefault("rel", []).append(value)  # type: ignore[union-attr]
            else:
                query[key] = value
        out[name.strip() or body] = query
    return out


def source_with_fits(url: str) -> int | None:
    """A LEGUS NGC 1566 source with two SED fits (the source page's ``src``)."""
    from clustercat.schema import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        pk = conn.execute(
            text("SELECT source_pk FROM sed_results WHERE release = 'legus' AND field = "
                 "'ngc1566' GROUP BY source_pk HAVING count(DISTINCT method) > 1 "
                 "ORDER BY source_pk LIMIT 1")
        ).scalar()  # fmt: skip
    engine.dispose()
    return None if pk is None else int(pk)


def build(url: str, data_dir: Path, n_extra: int, folder: Path) -> None:
    """Migrate, ingest LEGUS + StarcNet + the synthetic PHANGS release, refit NGC 1566 with
    BC03 as a second SED method, store two cross-match runs (0.08" and 0.15")."""
    import astropy.units as u
    from click.testing import CliRunner
    from clustercat.processing.cli_sed import process_group, ssp_group
    from clustercat.processing.crossmatch_db import run_crossmatch
    from clustercat.schema import make_engine, migrate

    migrate.upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    ingest_legus(engine, data_dir)
    ingest_phangs_synthetic(engine, folder, n_extra)
    for group, args in (
        (ssp_group, ["build", "bc03"]),
        (process_group, ["sed", "--release", "legus", "--model", "bc03", "--field", "ngc1566",
                         "--label", "bench-refit"]),
    ):  # fmt: skip
        result = CliRunner().invoke(group, args, obj={"database": url})
        if result.exit_code != 0:
            raise RuntimeError(f"{' '.join(args)}: {result.output}")
    for radius in (0.08, 0.15):
        run_crossmatch(
            engine, "legus:ngc1566", f"{SYNTHETIC_RELEASE}:ngc1566", radius * u.arcsec,
            class_method_a="LEGUS human mode", class_method_b="PHANGS-HST human",
        )  # fmt: skip
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # what autovacuum does after a bulk load
            conn.execute(text("COMMIT"))
            conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"  built in {time.perf_counter() - started:.1f} s")


def _postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"clustercat_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def _flag(t: float) -> str:
    return "" if t < AIM_S else "  > 1 s"


def run(url: str, label: str, args: argparse.Namespace) -> dict[tuple[str, str], PageTime]:
    """Time every page under each selection on one database; print a table per selection."""
    import streamlit as st

    pages = app_pages()
    if args.pages:
        pages = [p for p in pages if p[0].removesuffix(".py") in args.pages]
    src = source_with_fits(url)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = _app(url, {})
    start = time.perf_counter()
    at.run()
    print(f"  first page after a server start (every cache empty): "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip
    results: dict[tuple[str, str], PageTime] = {}
    chosen = parse_queries(args.query) if args.query else selections(url)
    if args.selection:
        chosen = {k: v for k, v in chosen.items() if any(s in k for s in args.selection)}
    for where, query in chosen.items():
        print(f"\n{label}, {where} ({', '.join(f'{k}={v}' for k, v in query.items()) or '-'})")
        print(f"  {'page':22s} {'cold (s)':>9s} {'rerun (s)':>10s} {'cold/rerun':>11s}")
        for page, title in pages:
            q = dict(query)
            if page == SOURCE_PAGE:
                if src is None:
                    continue
                q["src"] = str(src)
            t = time_page(url, page, q, args.repeat)
            results[(where, title)] = t
            ratio = t.cold / t.rerun if t.rerun > 0 else float("nan")
            note = _flag(max(t.cold, t.rerun)) + (f"  ERROR {t.errors}" if t.errors else "")
            print(f"  {title:22s} {t.cold:9.3f} {t.rerun:10.3f} {ratio:10.1f}x{note}")
        if not args.no_baseline:
            galaxy = query.get("gal")
            base = baseline_colour_boxes(url, SYNTHETIC_RELEASE, galaxy)  # type: ignore[arg-type]
            colours = results.get((where, "Colour–colour"))
            line = (f"  baseline, the command line's W21 box counts (clustercat analyse "
                    f"colour-boxes, {SYNTHETIC_RELEASE}, {galaxy or 'all galaxies'}): "
                    f"{base:.3f} s")  # fmt: skip
            if colours is not None and base > 0:
                line += (f"; colour–colour page cold = {colours.cold / base:.1f}x, "
                         f"rerun = {colours.rerun / base:.2f}x that")  # fmt: skip
            print(line)
    if args.profile:
        worst = max(results.items(), key=lambda kv: max(kv[1].cold, kv[1].rerun))
        (where, title), t = worst
        page = next(p for p, tt in pages if tt == title)
        q = dict(chosen[where])
        if page == SOURCE_PAGE and src is not None:
            q["src"] = str(src)
        print(f"\n  cProfile of the slowest page, {title} ({where}), one cold run:")
        print(profile_page(url, page, q, args.profile, args.profile_sort))
    return results


def summary(all_results: dict[str, dict[tuple[str, str], PageTime]]) -> None:
    """page x backend x (cold, rerun), per selection, with the pages that miss 1 s."""
    backends = list(all_results)
    keys = list(dict.fromkeys(k for r in all_results.values() for k in r))
    head = "".join(f" {b + ' cold':>16s} {b + ' rerun':>17s}" for b in backends)
    print(f"\nsummary (s; aim < {AIM_S:.0f} s cold and on rerun)\n  {'selection / page':50s}{head}")
    missed = []
    for where, title in keys:
        cells = ""
        for b in backends:
            t = all_results[b].get((where, title))
            if t is None:
                cells += f" {'-':>16s} {'-':>17s}"
                continue
            cells += f" {t.cold:16.3f} {t.rerun:17.3f}"
            if max(t.cold, t.rerun) >= AIM_S or t.errors:
                missed.append(f"{b} {where} {title}: cold {t.cold:.2f} s, rerun {t.rerun:.2f} s"
                              + (" (errors)" if t.errors else ""))  # fmt: skip
        print(f"  {(where + ' / ' + title)[:50]:50s}{cells}")
    print("\nmiss the 1 s aim:" if missed else "\nevery page under 1 s, cold and on rerun")
    for m in missed:
        print(f"  {m}")
    errors = {e for r in all_results.values() for t in r.values() for e in t.errors}
    for e in sorted(errors):
        print(f"  error: {e.splitlines()[0] if e else e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-extra", type=int, default=100_000, help="synthetic sources (1e5)")
    parser.add_argument("--repeat", type=int, default=2, help="cold runs per page (best kept)")
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CLUSTERCAT_TEST_POSTGRES_URL"),
        help="superuser URL of a PostgreSQL server [$CLUSTERCAT_TEST_POSTGRES_URL]",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the CLI baseline")
    parser.add_argument("--page", dest="pages", action="append", default=[],
                        help="only this page (file name without .py; repeatable)")  # fmt: skip
    parser.add_argument("--selection", action="append", default=[],
                        help="only selections whose name contains this (repeatable)")  # fmt: skip
    parser.add_argument("--query", action="append", default=[], metavar="NAME:K=V;K=V",
                        help="time this selection (sidebar URL parameters; rel may repeat) "
                        "instead of the three built-in ones, on any database; e.g. the "
                        "10^6-source one of bench/views.py: "
                        "'one galaxy:rel=synthetic-01 v1;gal=SYNTH 01'")  # fmt: skip
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile the slowest page; print its N top functions")  # fmt: skip
    parser.add_argument("--profile-sort", default="cumulative", choices=("cumulative", "tottime"),
                        help="order of the profile (default: cumulative)")  # fmt: skip
    parser.add_argument(
        "--database-url", action="append", default=[],
        help="time an existing database built by this script instead (repeatable)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases built (their URLs are printed) for "
                        "--database-url; else they are deleted")  # fmt: skip
    args = parser.parse_args(argv)
    # st.cache_data outside a server ("bare mode") warns on every call: quiet it
    for name in ("streamlit.runtime.scriptrunner_utils.script_run_context",
                 "streamlit.runtime.caching.cache_data_api"):  # fmt: skip
        logging.getLogger(name).disabled = True
    # a page that fails is reported in the table: no rich traceback on the console
    logging.getLogger("streamlit.error_util").disabled = True
    from streamlit import config

    config.set_option("logger.enableRich", False)
    results: dict[str, dict[tuple[str, str], PageTime]] = {}
    if args.database_url:
        for url in args.database_url:
            name = make_url(url).get_backend_name()
            results[name] = run(url, name, args)
        summary(results)
        return

    from clustercat.schema.config import data_dir

    folder = Path(tempfile.mkdtemp(prefix="clustercat_bench_"))
    targets: list[tuple[str, str, Callable[[], None] | None]] = [
        ("SQLite", f"sqlite:///{folder / 'bench.db'}", None)
    ]
    if args.postgres:
        if not args.postgres_url:
            parser.error("--postgres needs --postgres-url or $CLUSTERCAT_TEST_POSTGRES_URL")
        url, drop = _postgres_database(args.postgres_url)
        targets.append(("PostgreSQL", url, drop))
    print(
        f"dashboard bench: all LEGUS releases + StarcNet + {args.n_extra:,} synthetic PHANGS-HST "
        f"sources of NGC 1566, {os.cpu_count()} cores; every page of dashboard/app.py run by "
        f"streamlit.testing; cold = best of {args.repeat}"
    )
    try:
        for label, url, _ in targets:
            print(f"\nbuilding the {label} database")
            build(url, data_dir(), args.n_extra, folder)
            if args.keep:
                print(f"  kept: --database-url '{url}'")
            results[label] = run(url, label, args)
        summary(results)
    finally:
        for _, _, drop in targets:
            if drop is not None and not args.keep:
                drop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
