"""``clustercat demo``: the main job. Builds the database and shows everything that works.

Each step is added as its feature lands, so the demo is always the quickest tour:

1. create (or migrate) the database, SQLite by default, and check it against the models;
2. show the reference data the migrations seeded (surveys, HST filters);
3. ingest every LEGUS catalogue and the StarcNet predictions found under
   ``$CLUSTERCAT_DATA`` (or fetch a few galaxies from MAST when that folder is absent),
   idempotently: a second demo finds them already ingested;
4. show what the collaborator views hold: sources, classes and ages per galaxy, and the
   agreement of StarcNet with the LEGUS human classes;
5. make a release from images: render a 1024^2 crop of the LEGUS NGC 628-C catalogue as
   five MAST-like FITS images (``clustercat synth field``), register them, run the image
   pipeline on them (``clustercat pipeline run``: detection, photometry, MCI, selection)
   and cross-match the new release with LEGUS (about 10 s here); a second demo finds the
   images registered and the release already ingested;
6. print where to look in the dashboard (page links, a source page of the image-made
   release), and with ``--serve`` serve it on the demo database.
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


#: The field rendered and re-measured by the image-pipeline step, its crop and release.
PIPELINE_FIELD = "ngc628c"
PIPELINE_CROP_PX = 1024
PIPELINE_RELEASE = "pipeline-ngc628c"


def _images_folder(url: str) -> Path:
    """Where the demo keeps its synthetic images: beside an SQLite database, else here."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    base = Path(parsed.database).resolve().parent if on_disk else Path.cwd()
    return base / "clustercat_demo_images" / PIPELINE_FIELD


def _image_pipeline(engine: Engine, url: str) -> dict[str, int]:
    """Render a crop of a LEGUS field, register its images, run the pipeline on them."""
    import astropy.units as u
    import numpy as np
    from clustercat.processing.catalogue_io import read_catalogue
    from clustercat.processing.cli_synth import field_cmd
    from clustercat.processing.crossmatch_db import match_sides
    from clustercat.processing.images_db import register_images
    from clustercat.processing.pipeline import PipelineSettings
    from clustercat.processing.pipeline_db import run_pipeline

    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM cluster_catalogue WHERE release = :r AND field = :f"),
            {"r": LEGUS_RELEASE, "f": PIPELINE_FIELD},
        ).scalar()
    if not n:
        console.print(f"[yellow]no LEGUS {PIPELINE_FIELD} catalogue[/yellow]: no image step")
        return {}
    started = time.perf_counter()
    folder = _images_folder(url)
    images = sorted(folder.glob("*_drc.fits"))
    if len(images) < 5:
        console.print(f"rendering a {PIPELINE_CROP_PX}^2 crop of LEGUS {PIPELINE_FIELD} "
                      f"into {folder}")  # fmt: skip
        field_cmd.main(
            ["--from-release", LEGUS_RELEASE, "--field", PIPELINE_FIELD, "--out", str(folder),
             "--size", str(PIPELINE_CROP_PX), "--magnitudes", "aperture-corrected"],
            obj={"database": url}, standalone_mode=False,
        )  # fmt: skip
        images = sorted(folder.glob("*_drc.fits"))
    records = register_images(engine, images, field=PIPELINE_FIELD, galaxy="NGC 628")
    listing = ", ".join(f"{r.band} {r.filter_name} ({r.status})" for r in records)
    console.print(f"images of {PIPELINE_FIELD}: {listing}")
    # LEGUS magnitudes are 4 px apertures plus the field's average correction over isolated
    # clusters: rendered so, and measured so, the new release compares with LEGUS
    run = run_pipeline(engine, PIPELINE_FIELD, PIPELINE_RELEASE, workers=2, show_progress=True,
                       settings=PipelineSettings(apcor_method="average-isolated"))  # fmt: skip
    with engine.connect() as conn:
        match = match_sides(conn, f"{PIPELINE_RELEASE}:{PIPELINE_FIELD}",
                            f"{LEGUS_RELEASE}:{PIPELINE_FIELD}", 1 * u.pix)  # fmt: skip
        mag_v_a, mag_v_b = (
            read_catalogue(conn, side.release, fields=[PIPELINE_FIELD], columns=["mag_v"])
            .set_index("source_pk")["mag_v"]
            for side in (match.side_a, match.side_b)
        )
    pairs = match.matched_pairs()
    dm_v = (mag_v_a.reindex(pairs["source_a_pk"]).to_numpy()
            - mag_v_b.reindex(pairs["source_b_pk"]).to_numpy())  # fmt: skip
    dm_v = dm_v[np.isfinite(dm_v)]
    dm = f"{float(np.median(np.abs(dm_v))):.3f} mag" if dm_v.size else "n/a"
    ci = "n/a" if run.median_ci is None else f"{run.median_ci:.3f} mag"
    console.print(
        f"release [bold]{run.release}[/bold] v{run.version} from images: {run.status}; "
        f"{run.n_sources} sources, {run.n_candidates} cluster candidates (Thilker et al. "
        f"2022 §4), median CI {ci}; {match.n_pairs} matched one-to-one to LEGUS within 1 px, "
        f"median |V - V_LEGUS| {dm} (both 4 px plus the field's average aperture "
        f"correction); step {time.perf_counter() - started:.1f} s"
    )
    return {"pipeline_sources": run.n_sources or 0, "pipeline_candidates": run.n_candidates or 0}


#: The galaxy and fields of the science chain (Whitmore et al. 2021's NGC 628 c+e).
CHAIN_GALAXY = "NGC 628"
CHAIN_FIELDS = ("ngc628c", "ngc628e")


def _step(summary: list[tuple[str, str, float]], name: str, started: float, result: str) -> None:
    summary.append((name, result, time.perf_counter() - started))
    console.print(f"[bold]{name}[/bold]: {result}")


def _science_chain(engine: Engine, folder: Path) -> list[tuple[str, str, float]]:
    """SSP grids, an SED refit, a cross-match, the analyses and an export: the whole chain.

    Each step calls the same function as its command (``ssp build``, ``process sed``,
    ``crossmatch``, ``analyse ...``, ``export``) and is idempotent, so a second demo reports
    what is already stored instead of writing it again.
    """
    import astropy.units as u
    from clustercat.processing import analyses, crossmatch_db, sed_db, ssp_db
    from clustercat.schema import write_transaction
    from clustercat.schema.export import export_release

    summary: list[tuple[str, str, float]] = []
    for model in ("yggdrasil", "bc03"):
        started = time.perf_counter()
        with write_transaction(engine) as conn:
            built = ssp_db.build_grid(conn, model)
        state = "stored" if built.created else "already stored"
        _step(summary, f"SSP grid {model}", started,
              f"{state}: {built.grid.name}, {built.n_rows:,} ssp_model rows")  # fmt: skip

    started = time.perf_counter()
    try:
        # Yggdrasil has no F555W on WFC3/UVIS (ngc628e's V): the ACS field only, no stand-ins
        fit = sed_db.fit_release(engine, LEGUS_RELEASE, "yggdrasil", field=CHAIN_FIELDS[0])
        result = (f"Yggdrasil refit of {fit.n_fitted:,} of {fit.n_sources:,} sources of "
                  f"{CHAIN_FIELDS[0]} ({fit.fit_rate:,.0f} sources/s)")  # fmt: skip
    except sed_db.SedRunConflictError:
        result = (f"Yggdrasil refit of {CHAIN_FIELDS[0]} already stored (fits are never "
                  "replaced; --label TEXT refits as a new method)")  # fmt: skip
    _step(summary, "SED refit", started, result)

    started = time.perf_counter()
    sides = tuple(f"{LEGUS_RELEASE}:{f}" for f in CHAIN_FIELDS)
    with engine.connect() as conn:
        stored_runs = conn.execute(
            text("SELECT count(*) FROM crossmatch_run r JOIN catalogue_release a "
                 "ON a.id = r.release_a_id JOIN field fa ON fa.id = r.field_a_id "
                 "JOIN field fb ON fb.id = r.field_b_id WHERE a.name = :r "
                 "AND fa.name = :fa AND fb.name = :fb AND r.radius_arcsec = 0.1"),
            {"r": LEGUS_RELEASE, "fa": CHAIN_FIELDS[0], "fb": CHAIN_FIELDS[1]},
        ).scalar_one()  # fmt: skip
    match = crossmatch_db.run_crossmatch(engine, *sides, 0.1 * u.arcsec, store=not stored_runs)
    _step(summary, "cross-match", started,
          f"{match.n_pairs} one-to-one pairs of {' x '.join(CHAIN_FIELDS)} within 0.1\" "
          + ("(run stored)" if not stored_runs else "(same run already stored)"))  # fmt: skip

    started = time.perf_counter()
    boxes = analyses.colour_box_counts(
        engine, LEGUS_RELEASE, methods=["LEGUS human mode"], galaxies=[CHAIN_GALAXY]
    )
    agree = analyses.agreement(engine, LEGUS_RELEASE, "LEGUS human mode", "StarcNet",
                               by_galaxy=False)  # fmt: skip
    f12 = agree.loc[agree["class_set"] == "1+2", "agreement"]
    per_set = ", ".join(
        f"class {k}: {int(n)}" for k, n in boxes.groupby("class_set", sort=True)["n"].sum().items()
    )
    masses = analyses.mass_function(
        engine, LEGUS_RELEASE, "LEGUS human mode", galaxies=[CHAIN_GALAXY],
        mass_range=(5e3 * u.Msun, None), age_range=(None, 200 * u.Myr),
    )  # fmt: skip
    mle = masses.fits[masses.fits["fit"] == "mle"]
    slope = (f"beta = {mle['slope'].iloc[0]:.2f} +/- {mle['slope_err'].iloc[0]:.2f} "
             f"(N = {int(mle['n'].iloc[0])})" if len(mle) else "no MLE fit")  # fmt: skip
    _step(summary, "analyses", started,
          f"{per_set} in the colour boxes of {CHAIN_GALAXY}; "
          + (f"StarcNet vs human agreement f(1+2) = {float(f12.iloc[0]):.3f}; " if len(f12)
             else "") + f"mass function {slope}")  # fmt: skip

    started = time.perf_counter()
    output = folder / "legus_ngc628.fits"
    table = export_release(engine, LEGUS_RELEASE, "fits", output,
                           where=f"galaxy = '{CHAIN_GALAXY}'", overwrite=True)  # fmt: skip
    _step(summary, "export", started, f"{len(table):,} rows with units to {output}")
    return summary


#: Demo-size settings: the paper-size ones are the commands' defaults and flags.
DEMO_INJECTIONS = 200
DEMO_CNN_NAME = "demo-resnet18-ngc628c"


def _injection_and_cnn(engine: Engine, folder: Path) -> list[tuple[str, str, float]]:
    """A small injection run and a small CNN on the demo's images (``inject run``,
    ``ml train classifier``, ``ml predict``), each idempotent."""
    from clustercat.processing import cnn_train, ml_db
    from clustercat.processing.injection_db import run_injection

    summary: list[tuple[str, str, float]] = []
    started = time.perf_counter()
    run = run_injection(engine, PIPELINE_FIELD, DEMO_INJECTIONS, grid="c4", seed=0)
    with engine.connect() as conn:
        injected, recovered = conn.execute(
            text("SELECT count(*), sum(CASE WHEN recovered THEN 1 ELSE 0 END) "
                 "FROM injection_trial WHERE run_id = :r"), {"r": run.run_id},
        ).one()  # fmt: skip
    _step(summary, "injection-recovery", started,
          f"run {run.run_id} ({run.status}): {recovered} of {injected} C-4 clusters recovered "
          f"in {PIPELINE_FIELD} ({run.n_frame_sets} frame sets)")  # fmt: skip

    started = time.perf_counter()
    models = ml_db.list_models(engine)
    known = models[models["name"] == DEMO_CNN_NAME]
    cache = folder / "cutouts"
    if known.empty:
        settings = cnn_train.TrainSettings(epochs=4, width=0.25, small_input=True, threads=1)
        trained = ml_db.train_classifier_models(
            engine, LEGUS_RELEASE, "LEGUS human mode", "resnet18", fields=[PIPELINE_FIELD],
            size_px=16, settings=settings, name=DEMO_CNN_NAME, cache_dir=cache,
            model_dir=folder / "models",
        )  # fmt: skip
        model_id, state = trained.model_id, f"trained on {trained.n_train} LEGUS sources"
    else:
        model_id, state = int(known["id"].iloc[-1]), "already registered"
    try:
        predicted = ml_db.predict_release(engine, model_id, PIPELINE_RELEASE, cache_dir=cache)
        where = (f"classified {predicted.n_predicted} sources of {PIPELINE_RELEASE} as method "
                 f"'{predicted.method_name}'")  # fmt: skip
    except ml_db.MlConfigError:
        where = f"its classes of {PIPELINE_RELEASE} are already stored"
    _step(
        summary,
        "CNN classifier",
        started,
        f"model {model_id} (ResNet18, 16 px stamps, demo size) {state}; {where}",
    )
    return summary


def _dashboard_tour(engine: Engine, port: int = 8501) -> None:
    """Where to look in the dashboard (``clustercat demo --serve``) at what the demo made."""
    from urllib.parse import urlencode

    base = f"http://localhost:{port}"
    with engine.connect() as conn:
        candidate = conn.execute(
            text("SELECT source_pk FROM cluster_catalogue WHERE release = :r AND mag_v IS NOT NULL "
                 "ORDER BY mag_v LIMIT 1"),
            {"r": PIPELINE_RELEASE},
        ).scalar()  # fmt: skip
        legus = conn.execute(
            text("SELECT version FROM catalogue_release WHERE name = :r AND status = 'complete' "
                 "ORDER BY version DESC"),
            {"r": LEGUS_RELEASE},
        ).scalar()  # fmt: skip
    stops: list[tuple[str, str, str]] = []
    if legus is not None:
        ngc628 = urlencode({"rel": f"{LEGUS_RELEASE} v{legus}", "gal": "NGC 628"})
        stops += [
            ("Colour–colour", "NGC 628 per method: age boxes, tracks, reddening vector; click a "
             "point to open its source", f"{base}/colours?{ngc628}"),
            ("Mass & age functions", "binned and maximum-likelihood slopes per SED method",
             f"{base}/functions?{ngc628}"),
        ]  # fmt: skip
    stops += [
        ("Cross-match", "the image-made release against LEGUS: footprints, fractions inside "
         "the overlap, offsets", f"{base}/crossmatch"),
        ("MCI plane", "the candidates of the release made from images", f"{base}/mci"),
    ]  # fmt: skip
    if candidate is not None:
        stops.append(("Source", "its brightest candidate: photometry per aperture, classes, "
                      "SED fits, stamps", f"{base}/source?src={int(candidate)}"))  # fmt: skip
    console.rule("the dashboard (clustercat demo --serve)")
    for page, what, link in stops:
        console.print(f"[bold]{page}[/bold]: {what}")
        console.print(f"  {link}", soft_wrap=True, highlight=False)
    console.print("Every figure offers CSV and ECSV downloads of the rows it draws.")


def _print_summary(summary: list[tuple[str, str, float]]) -> None:
    table = Table("step", "result", "s", title="what the demo ran")
    for name, result, seconds in summary:
        table.add_row(name, result, f"{seconds:.1f}")
    console.print(table)


def run_demo(url: str | None = None, port: int = 8501) -> dict[str, int]:
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
    console.rule("a release made from images")
    counts |= _image_pipeline(engine, url)
    if counts.get("sources"):
        console.rule("the science chain")
        folder = _images_folder(url).parent
        folder.mkdir(parents=True, exist_ok=True)
        summary = _science_chain(engine, folder)
        if counts.get("pipeline_sources"):
            summary += _injection_and_cnn(engine, folder)
        _print_summary(summary)
        counts["chain_steps"] = len(summary)
    _dashboard_tour(engine, port)
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
    run_demo(url, port)
    if serve:
        from clustercat.dashboard.cli import serve as serve_dashboard

        ctx.exit(serve_dashboard(url, port=port))
