"""Ingest benchmark: the bulk path against per-row ORM, pandas ``to_sql`` and raw ``COPY``.

All 28 LEGUS catalogues are read once (reading is timed separately and is the same for
every path); then the same rows are written into fresh PostgreSQL databases by

* **bulk**: ``clustercat.ingest.loader.ingest_release`` (staging tables filled by COPY,
  one INSERT ... SELECT per table, all constraints checked, one transaction);
* **ORM add_all**: a fair ORM baseline: per file, all objects built with their
  relationships, ``session.add_all`` and one ``flush`` (SQLAlchemy 2 batches the INSERTs),
  one commit; on every file (or the first ``--orm-files``), reported as rows/s;
* **pandas to_sql**: ``DataFrame.to_sql`` of the same frames into plain tables (no id
  resolution, no constraints: an optimistic baseline);
* **raw COPY**: ``COPY`` of the same rows straight into the real tables with ids computed
  in Python (no staging, no checks): the speed of light for this data.

Prints rows/s for each and the ratios (bulk against the ORM, pandas and raw COPY).

    python bench/ingest.py [--database-url postgresql://root@/postgres?host=/var/run/postgresql]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from pathlib import Path

import pandas as pd
from clustercat.ingest import bulk, loader
from clustercat.ingest.legus import find_legus_files
from clustercat.ingest.registry import reader_info
from clustercat.schema import (
    Classification,
    Morphology,
    Photometry,
    SedFit,
    Source,
    Survey,
    make_engine,
    migrate,
)
from clustercat.schema.config import data_dir
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

TABLES = ("source", "photometry", "morphology", "classification", "sed_fit")


class Databases:
    def __init__(self, admin_url: str) -> None:
        url = make_url(admin_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        self.admin_url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def fresh(self) -> str:
        name = f"clustercat_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        url = self.admin_url.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        return url

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def read_tables(files: list[Path]) -> tuple[dict, float]:
    info = reader_info("legus")
    read = info.reader()
    started = time.perf_counter()
    tables = {f: read(f) for f in files}
    return tables, time.perf_counter() - started


def bulk_path(url: str, files: list[Path], tables: dict) -> tuple[float, int]:
    engine = make_engine(url)
    info = reader_info("legus")
    request = loader.ReleaseRequest("bench-bulk", info.name, info.version, files)
    started = time.perf_counter()
    result = loader.ingest_release(engine, request, lambda p: tables[Path(p)])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, sum(result.rows.values())


def _reference(conn, tables) -> tuple[int, dict]:  # noqa: ANN001
    """Release row and field/filter/method ids, created as the loader does."""
    survey_id = conn.execute(select(Survey.id).where(Survey.name == "LEGUS")).scalar_one()
    release_id = conn.execute(
        text(
            "INSERT INTO catalogue_release (name, version, survey_id, status) "
            "VALUES (:n, 1, :s, 'complete') RETURNING id"
        ),
        {"n": f"bench-{uuid.uuid4().hex[:6]}", "s": survey_id},
    ).scalar_one()
    per_file = {}
    for f, t in tables.items():
        galaxy_id = loader.ensure_galaxy(conn, t.galaxy, [t.field])
        field_id = loader.ensure_field(conn, t.field, galaxy_id)
        fids = loader.filter_ids(conn, t)
        cm = {
            m.name: loader.ensure_classification_method(conn, m) for m in t.classification_methods
        }
        sm = {m.name: loader.ensure_sed_method(conn, m) for m in t.sed_methods}
        per_file[f] = (field_id, fids, cm, sm)
    return release_id, per_file


def staged_rows(tables: dict, per_file: dict) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {k: [] for k in TABLES}
    for f, t in tables.items():
        field_id, fids, cm, sm = per_file[f]
        rows["source"] += loader.source_rows(t, field_id)
        rows["photometry"] += loader.photometry_rows(t, field_id, fids)
        rows["morphology"] += loader.morphology_rows(t, field_id, fids)
        rows["classification"] += loader.classification_rows(t, field_id, cm)
        rows["sed_fit"] += loader.sed_rows(t, field_id, sm)
    return rows


def raw_copy_path(url: str, tables: dict) -> tuple[float, int]:
    """COPY straight into the real tables with ids assigned here (no staging, no join)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        release_id, per_file = _reference(conn, tables)
        rows = staged_rows(tables, per_file)
        first_id = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM source")).scalar()
        ids = {(r[0], r[1]): first_id + i for i, r in enumerate(rows["source"])}
        specs = {
            "source": bulk.SOURCE_STAGE, "photometry": bulk.PHOTOMETRY_STAGE,
            "morphology": bulk.MORPHOLOGY_STAGE, "classification": bulk.CLASSIFICATION_STAGE,
            "sed_fit": bulk.SED_STAGE,
        }  # fmt: skip
        prepared = {}
        for name, spec in specs.items():
            value_cols = [c for c, _ in spec.columns]
            if name == "source":
                cols = ["id", "release_id", "field_id", "id_in_release", *value_cols]
                prepared[name] = (cols, [(ids[(r[0], r[1])], release_id, *r) for r in rows[name]])
            else:
                extra = ["release_id"] if name == "classification" else []
                cols = ["source_id", *extra, *value_cols]
                pad = (None,) if extra else ()
                prepared[name] = (cols, [(ids[(r[0], r[1])], *pad, *r[2:]) for r in rows[name]])
        cursor = conn.connection.driver_connection.cursor()
        started = time.perf_counter()
        n = 0
        for name, (cols, data) in prepared.items():
            quoted = ", ".join(f'"{c}"' for c in cols)
            with cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
            n += len(data)
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, n


def to_sql_path(url: str, tables: dict) -> tuple[float, int]:
    """pandas to_sql of the same frames into plain tables (no ids, no constraints)."""
    engine = make_engine(url)
    frames = {k: [] for k in TABLES}
    for t in tables.values():
        frames["source"].append(t.sources.drop(columns=["line"], errors="ignore"))
        frames["photometry"].append(t.photometry)
        frames["morphology"].append(t.morphology)
        frames["classification"].append(t.classifications)
        sed = t.sed_fits.copy()
        sed["chi2_residuals"] = sed["chi2_residuals"].astype(str)
        frames["sed_fit"].append(sed)
    merged = {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}
    started = time.perf_counter()
    n = 0
    with engine.begin() as conn:
        for name, frame in merged.items():
            frame.to_sql(f"tosql_{name}", conn, index=False, if_exists="replace",
                         method="multi", chunksize=2000)  # fmt: skip
            n += len(frame)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, n


def orm_add_all_path(url: str, tables: dict, max_files: int | None) -> tuple[float, int]:
    """A fair ORM baseline: per file, every object built with its relationships
    (``Photometry(source=s)``), ``session.add_all`` and ONE ``flush`` (SQLAlchemy batches the
    INSERTs, "insertmanyvalues" with RETURNING on PostgreSQL); one commit at the end."""
    engine = make_engine(url)
    with engine.begin() as conn:
        release_id, per_file = _reference(conn, tables)
    n = 0
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        for f, t in list(tables.items())[:max_files]:
            field_id, fids, cm, sm = per_file[f]
            sources = {
                int(r.id_in_release): Source(
                    release_id=release_id, field_id=field_id, id_in_release=int(r.id_in_release),
                    ra=float(r.ra), dec=float(r.dec), x=float(r.x), y=float(r.y),
                )
                for r in t.sources.itertuples(index=False)
            }  # fmt: skip
            objects: list = list(sources.values())
            for p in t.photometry.itertuples(index=False):
                ok = p.status == "measured"
                objects.append(Photometry(
                    source=sources[int(p.id_in_release)], filter_id=fids[p.band], kind="total",
                    status=p.status, mag_vega=float(p.mag_vega) if ok else None,
                    mag_err=None if pd.isna(p.mag_err) else float(p.mag_err),
                ))  # fmt: skip
            for m in t.morphology.itertuples(index=False):
                objects.append(Morphology(source=sources[int(m.id_in_release)],
                                          constants_version="catalogue",
                                          ci=None if pd.isna(m.ci) else float(m.ci)))  # fmt: skip
            for c in t.classifications.itertuples(index=False):
                objects.append(Classification(source=sources[int(c.id_in_release)],
                                              method_id=cm[c.method],
                                              cluster_class=int(c.cluster_class)))  # fmt: skip
            for e in t.sed_fits.itertuples(index=False):
                objects.append(SedFit(source=sources[int(e.id_in_release)],
                                      method_id=sm[e.method], log_age=float(e.log_age),
                                      log_mass=float(e.log_mass), ebv=float(e.ebv)))  # fmt: skip
            session.add_all(objects)
            session.flush()  # one flush per file
            n += len(objects)
            session.expunge_all()  # keep the identity map to one file, as a loader would
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CLUSTERCAT_TEST_POSTGRES_URL"),
        help="superuser URL of a PostgreSQL server (throwaway databases are created there)",
    )
    parser.add_argument("--orm-files", type=int, default=None,
                        help="files written by the ORM baseline (default: all)")  # fmt: skip
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url or set CLUSTERCAT_TEST_POSTGRES_URL")
    files = find_legus_files(data_dir() / "legus")
    tables, read_s = read_tables(files)
    print(f"read {len(files)} LEGUS files in {read_s:.2f} s (same for every path)")
    dbs = Databases(args.database_url)
    try:
        bulk_s, bulk_n = bulk_path(dbs.fresh(), files, tables)
        copy_s, copy_n = raw_copy_path(dbs.fresh(), tables)
        tosql_s, tosql_n = to_sql_path(dbs.fresh(), tables)
        orm_s, orm_n = orm_add_all_path(dbs.fresh(), tables, args.orm_files)
    finally:
        dbs.drop_all()
    rates = {
        "bulk (ClusterCat)": bulk_n / bulk_s,
        "raw COPY": copy_n / copy_s,
        "pandas to_sql": tosql_n / tosql_s,
        "ORM add_all": orm_n / orm_s,
    }
    print(f"{'path':<20}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    for (name, rate), (n, s) in zip(
        rates.items(),
        [(bulk_n, bulk_s), (copy_n, copy_s), (tosql_n, tosql_s), (orm_n, orm_s)],
        strict=True,
    ):
        print(f"{name:<20}{n:>10}{s:>10.2f}{rate:>12,.0f}")
    print(f"bulk / ORM add_all   = {rates['bulk (ClusterCat)'] / rates['ORM add_all']:.1f}x")
    print(f"bulk / pandas to_sql = {rates['bulk (ClusterCat)'] / rates['pandas to_sql']:.1f}x")
    print(f"raw COPY / bulk      = {rates['raw COPY'] / rates['bulk (ClusterCat)']:.2f}x")


if __name__ == "__main__":
    main()
