"""Benchmark: the dashboard's queries and figures per page, on SQLite and PostgreSQL.

The database holds every LEGUS catalogue (release ``legus``), the StarcNet predictions of
NGC 1566 (``starcnet-ngc1566``) and a synthetic PHANGS-HST-format release of NGC 1566
(``phangs-synthetic``) with ``--n-extra`` sources (default 100,000), written as a DR4 FITS
table and ingested with the real PHANGS reader: 90 % of the LEGUS NGC 1566 sources re-observed
(0.02" scatter, 0.03 mag photometric noise, some classes flipped) plus random field sources.
So the NGC 1566 pages see ~100k sources, two releases, four classification methods and a
PHANGS-vs-LEGUS cross-match, as in Whitmore et al. (2021).

For each page, the time to build everything it shows (the shared readers over the
collaborator views, the ``processing.analyses`` calls and the plotly figures) is measured cold
(no cache, as on the first visit) and warm (served by ``st.cache_data``, as on every later
visit with the same selection). For reference, the same run times what the command line does
for the W21 box counts (``clustercat analyse colour-boxes``, i.e.
``processing.analyses.colour_box_counts``) on the synthetic release. Aim (issues 6 and 13):
< 1 s per page cold.

    python bench/dashboard.py                       # SQLite in a temporary folder
    python bench/dashboard.py --postgres            # also PostgreSQL (server of
                                                    # $CLUSTERCAT_TEST_POSTGRES_URL)
    python bench/dashboard.py --n-extra 20000       # quicker
"""

from __future__ import annotations

import argparse
import logging
import os
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


# --- the pages: what each one computes and draws ------------------------------------------------


def _json(*figs: object) -> int:
    """Serialise figures as Streamlit does (plotly JSON); returns the bytes produced."""
    return sum(len(f.to_json()) for f in figs)  # type: ignore[attr-defined]


def page_builders(url: str, scope: object) -> dict[str, Callable[[], object]]:
    """One callable per page doing its queries, processing calls and figure building."""
    from clustercat.dashboard import data, plots
    from clustercat.processing.analyses import (
        AGE_FUNCTION_FIT_LOG_RANGE,
        W21_AGE_RANGES,
        W21_MASS_RANGES,
    )
    from clustercat.schema import make_engine

    engine = make_engine(url)
    state: dict = {}

    def ctx() -> data.Context:
        if "ctx" not in state:
            state["ctx"] = data.load_context(engine)
        return state["ctx"]

    def overview() -> object:
        ov = data.overview(engine, ctx(), scope.release_ids)
        method = ov.class_counts.groupby("method")["n"].sum().idxmax()
        return _json(plots.class_counts_figure(ov.class_counts, method))

    def colours() -> object:
        cd = data.colour_colour(engine, ctx(), scope)
        tracks, _ = state.setdefault("tracks", data.colour_tracks(engine, cd.filter_b, cd.filter_v))
        tl = [(t.name, t.frame) for t in tracks]
        plots.box_counts_table(cd.counts, cd.boxes)
        return _json(
            plots.colour_colour_figure(cd.points, cd.keys, y="u_minus_b", boxes=cd.boxes,
                                       counts=cd.counts, tracks=tl),
            plots.colour_colour_figure(cd.points, cd.keys, y="nuv_minus_b", tracks=tl),
        )  # fmt: skip

    def quality() -> object:
        qd = data.quality(engine, ctx(), scope)
        text, qr = plots.table2(qd.quality, qd.keys)
        plots.qr_colours(qr)
        return _json(plots.figure_of_merit_figure(qd.merit)) if qd.merit is not None else 0

    def agreement() -> object:
        keys = ctx().keys(scope)["key"].tolist()
        ad = data.agreement(engine, ctx(), scope, keys[0], keys[1])
        return _json(
            plots.agreement_bars(ad.fractions, "A vs B"),
            plots.confusion_figure(ad.confusion, ad.symmetric, keys[0], keys[1]),
            plots.agreement_vs_magnitude(ad.binned),
        )

    def functions() -> object:
        fd = data.functions(engine, ctx(), scope)
        return _json(
            plots.mass_function_figure(fd.mass_bins, fd.mass_fits, fd.keys),
            plots.age_function_figure(
                fd.age_bins, fd.age_fits, fd.keys, AGE_FUNCTION_FIT_LOG_RANGE
            ),
            plots.mass_age_figure(fd.sample, fd.keys, W21_AGE_RANGES, W21_MASS_RANGES),
        )

    def crossmatch() -> object:
        from clustercat.processing.catalogue_io import read_crossmatch_runs
        from clustercat.schema.crossmatch import OUTCOMES

        a, b = scope.release_ids[0], scope.release_ids[-1]
        runs = read_crossmatch_runs(engine, [a, b])
        run_id = int(runs["run_id"].iloc[0]) if len(runs) else None
        methods = ctx().methods.drop_duplicates("method").set_index("method")["method_id"]
        xd = data.crossmatch(
            engine, ctx(), a, b, scope.galaxy,
            int(methods["LEGUS human mode"]), int(methods["PHANGS-HST human"]), 0.08, run_id,
        )  # fmt: skip
        m = xd.matched
        gal = scope.galaxy or "NGC 1566"
        pa, pb = xd.sources_a, xd.sources_b
        only_a = pa[(pa["galaxy"] == gal) & ~pa["source_pk"].isin(m["source_a_pk"])]
        only_b = pb[(pb["galaxy"] == gal) & ~pb["source_pk"].isin(m["source_b_pk"])]
        return _json(
            plots.outcome_bars(xd.per_galaxy, OUTCOMES),
            plots.confusion_figure(xd.confusion, xd.symmetric, "A", "B"),
            plots.sky_figure(m[m["galaxy"] == gal], only_a, only_b, "A", "B", gal),
            plots.separation_histogram(m, xd.radius_arcsec),
        )

    def explorer() -> object:
        ed = data.explorer(engine, ctx(), scope, v_range=(14.0, 30.0))
        return len(ed.rows.to_csv(index=False))

    return {
        "sidebar context": ctx,
        "Overview": overview,
        "Colour-colour": colours,
        "Quality ratios": quality,
        "Agreement": agreement,
        "Mass & age functions": functions,
        "Cross-match": crossmatch,
        "Source explorer": explorer,
    }


def baseline_colour_boxes(url: str, release: str, galaxy: str | None) -> float:
    """The command line's W21 box counts (processing.analyses.colour_box_counts)."""
    from clustercat.processing.analyses import colour_box_counts
    from clustercat.schema import make_engine

    start = time.perf_counter()
    colour_box_counts(make_engine(url), release, galaxies=[galaxy] if galaxy else None)
    return time.perf_counter() - start


def time_pages(url: str, scope: object, repeat: int) -> dict[str, float]:
    """Best cold time per page: a fresh engine and no cache (the first visit of a selection).

    The sidebar context (releases, fields, methods) is built first and timed on its own; the
    pages then reuse it, as they do in the app.
    """
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, build in page_builders(url, scope).items():
            start = time.perf_counter()
            build()
            best[name] = min(best.get(name, np.inf), time.perf_counter() - start)
    return best


def time_cached(url: str, scope: object) -> dict[str, float]:
    """Time of a repeated visit: the page's ``st.cache_data`` entry served (bare mode)."""
    from clustercat.dashboard import cache
    from clustercat.processing import analyses as an

    token = cache.token(url)
    keys = cache.context(url, token).keys(scope)["key"].tolist()
    calls = {
        "Overview": lambda: cache.overview(url, token, scope.release_ids),
        "Colour-colour": lambda: cache.colour_colour(url, token, scope, _boxes()),
        "Quality ratios": lambda: cache.quality(url, token, scope, _boxes()),
        "Agreement": lambda: cache.agreement(url, token, scope, keys[0], keys[1], 4, 0.08),
        "Mass & age functions": lambda: cache.functions(
            url, token, scope, an.W21_AGE_RANGES, an.W21_MASS_RANGES, an.LOG_MASS_MIN,
            an.MASS_FUNCTION_BINS, an.MASS_FUNCTION_EQUAL_NUMBER, an.AGE_FUNCTION_BINS,
            an.AGE_FUNCTION_FIT_LOG_RANGE,
        ),
        "Source explorer": lambda: cache.explorer(
            url, token, scope, (14.0, 30.0), True, None, 5000
        ),
        "Cross-match": lambda: cache.crossmatch(
            url, token, scope.release_ids[0], scope.release_ids[-1], scope.galaxy, None, None,
            0.08, None,
        ),
    }  # fmt: skip
    out = {}
    for name, call in calls.items():
        call()
        start = time.perf_counter()
        call()
        out[name] = time.perf_counter() - start
    return out


def _boxes() -> str:
    from clustercat.dashboard.data import DEFAULT_BOXES

    return DEFAULT_BOXES


def build(url: str, data_dir: Path, n_extra: int, folder: Path) -> None:
    """Migrate, ingest LEGUS + StarcNet + the synthetic PHANGS release, store a cross-match."""
    import astropy.units as u
    from clustercat.processing.crossmatch_db import run_crossmatch
    from clustercat.schema import make_engine, migrate

    migrate.upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    ingest_legus(engine, data_dir)
    ingest_phangs_synthetic(engine, folder, n_extra)
    run_crossmatch(
        engine, "legus:ngc1566", f"{SYNTHETIC_RELEASE}:ngc1566", 0.08 * u.arcsec,
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


def run(url: str, label: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from clustercat.dashboard.data import Scope, colour_tracks, load_context
    from clustercat.schema import make_engine

    engine = make_engine(url)
    ctx = load_context(engine)
    ids = tuple(ctx.shown["release_id"])
    start = time.perf_counter()
    colour_tracks(engine)
    print(f"  SSP colour tracks, once per server process: {time.perf_counter() - start:.2f} s")
    methods = ("LEGUS human mode", "PHANGS-HST human", "PHANGS-HST ML VGG", "StarcNet")
    results = {}
    for galaxy in ("NGC 1566", None):
        scope = Scope(release_ids=ids, galaxy=galaxy, methods=methods)
        where = galaxy or "all galaxies"
        cold = time_pages(url, scope, args.repeat)
        warm = time_cached(url, scope)
        from clustercat.dashboard.data import crossmatch as computed_crossmatch

        start = time.perf_counter()
        computed_crossmatch(engine, ctx, ids[0], ids[-1], galaxy, None, None, 0.08, run_id=None)
        on_the_fly = time.perf_counter() - start
        base = None
        if not args.no_baseline:
            base = baseline_colour_boxes(url, SYNTHETIC_RELEASE, galaxy)
        print(f"\n{label}, {where} ({len(ids)} releases, methods: {', '.join(methods)})")
        print(f"  {'page':24s} {'cold (s)':>9s} {'cached (s)':>11s}")
        for name, t in cold.items():
            w = warm.get(name)
            flag = "" if t < 1.0 else "  > 1 s"
            print(f"  {name:24s} {t:9.3f} {'' if w is None else f'{w:11.4f}'}{flag}")
        print(
            f"  cross-match computed on the fly (no stored run; crossmatch_db.match_sides): "
            f"{on_the_fly:.3f} s"
        )
        if base is not None:
            print(
                f"  command line: the W21 box counts (clustercat analyse colour-boxes, "
                f"{SYNTHETIC_RELEASE} only): {base:.3f} s"
            )
        results[where] = cold
    return results


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
    parser.add_argument("--no-baseline", action="store_true", help="skip the view-based baseline")
    parser.add_argument(
        "--database-url", action="append", default=[],
        help="time an existing database built by this script instead (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # st.cache_data outside a server ("bare mode") warns on every call: quiet it
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").disabled = True
    logging.getLogger("streamlit.runtime.caching.cache_data_api").disabled = True
    if args.database_url:
        for url in args.database_url:
            run(url, make_url(url).get_backend_name(), args)
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
        f"sources of NGC 1566, {os.cpu_count()} cores; cold = best of {args.repeat}"
    )
    try:
        for label, url, _ in targets:
            print(f"\nbuilding the {label} database")
            build(url, data_dir(), args.n_extra, folder)
            run(url, label, args)
    finally:
        for _, _, drop in targets:
            if drop is not None:
                drop()


if __name__ == "__main__":
    main()
