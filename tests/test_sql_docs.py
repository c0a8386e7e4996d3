"""Every example query of docs/sql.md runs, on SQLite and PostgreSQL, and returns what it says.

Each query in docs/sql.md is a fenced ```sql block that starts with ``-- query: NAME``, has an
``-- expect: ...`` line and optionally ``-- postgresql only``. The expectations are checked
against the query's result on the LEGUS test database (``legus_engine``: 28 LEGUS catalogues +
StarcNet NGC 1566), with one cross-match run between the overlapping NGC 628-c and -e
pointings added inside the test's transaction (rolled back afterwards).

Independently, :data:`INDEPENDENT` recomputes every expected number from the raw ``.tab``
files with pandas/numpy (columns from data/legus/LAYOUTS.md, distances from the Calzetti et
al. 2015 table, colour boxes from :mod:`clustercat.processing.colour_boxes`, matches from
:mod:`clustercat.processing.crossmatch`), never from the database, and the docs must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.processing.colour_boxes import assign_box
from clustercat.processing.crossmatch import crossmatch_sky
from sqlalchemy import Connection, Engine, text

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sql.md"
OVERLAP_RADIUS = 0.2 * u.arcsec

_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
_CHECK = re.compile(r"^\s*(?:(?P<agg>rows|sum|min|max|count)(?:\((?P<acol>\w+)\))?|(?P<col>\w+))"
                    r"\s*=\s*(?P<value>-?[0-9.]+)\s*$")  # fmt: skip


@dataclass(frozen=True)
class Check:
    text: str
    agg: str | None  # rows | sum | min | max | count | None (value of the single row)
    column: str | None
    value: float
    decimals: int

    @property
    def key(self) -> str:
        """``rows``, ``sum(col)`` ... or ``col``: the check without its value."""
        if self.agg == "rows":
            return "rows"
        return f"{self.agg}({self.column})" if self.agg else str(self.column)

    def tolerance(self) -> float:
        return 0.0 if self.decimals == 0 else 0.5 * 10.0 ** (-self.decimals) + 1e-12


@dataclass(frozen=True)
class DocQuery:
    name: str
    sql: str
    postgresql_only: bool
    checks: tuple[Check, ...]


def parse_docs(path: Path = DOCS) -> list[DocQuery]:
    """Every ```sql block of docs/sql.md with its name, marker lines and checks."""
    queries = []
    for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
        lines = block.strip("\n").splitlines()
        name = re.match(r"-- query: (\S+)$", lines[0])
        assert name, f"sql block without '-- query: NAME' first line: {lines[0]!r}"
        expect = [ln for ln in lines if ln.startswith("-- expect:")]
        assert len(expect) == 1, f"{name.group(1)}: needs exactly one '-- expect:' line"
        checks = []
        for part in expect[0].removeprefix("-- expect:").split(","):
            m = _CHECK.match(part)
            assert m, f"{name.group(1)}: cannot read check {part!r}"
            value = m.group("value")
            decimals = len(value.split(".")[1]) if "." in value else 0
            checks.append(
                Check(
                    part.strip(),
                    m.group("agg"),
                    m.group("acol") or m.group("col"),
                    float(value),
                    decimals,
                )  # fmt: skip
            )
        sql = "\n".join(ln for ln in lines if not ln.startswith("-- ")).strip().rstrip(";")
        pg_only = any(ln.strip() == "-- postgresql only" for ln in lines)
        queries.append(DocQuery(name.group(1), sql, pg_only, tuple(checks)))
    return queries


def evaluate(check: Check, frame: pd.DataFrame) -> float:
    """The number a check refers to, computed from a query result."""
    if check.agg == "rows":
        return float(len(frame))
    column = pd.to_numeric(frame[check.column], errors="coerce")
    if check.agg is None:
        assert len(frame) == 1, f"{check.text}: a bare column check needs exactly one row"
        return float(column.iloc[0])
    if check.agg == "count":
        return float(column.notna().sum())
    return float(getattr(column, check.agg)())


# --- independent numbers from the raw LEGUS files ------------------------------------------

_SENTINELS = (66.666, 99.999)
#: absolute 1-based column of the LEGUS human-mode class (LAYOUTS.md §2.2); None: no such column
_HUMAN_MODE_COLUMN = {"ngc1313-e": 36, "ngc1566": 36, "ngc3351": None, "ngc4242": None,
                      "ngc4449": None, "ngc5474": None, "ngc4248": None}  # fmt: skip
NGC628_CENTRE = (24.17396, 15.78367)


def _galaxy(token: str) -> str:
    """'ngc628-c' -> 'NGC 628', 'ugc1249' -> 'UGC 1249'."""
    m = re.match(r"([a-z]+)(\d+)$", token.split("-")[0])
    assert m, token
    return f"{m.group(1).upper()} {int(m.group(2))}"


def load_raw(shared_data: Path) -> pd.DataFrame:
    """All 28 LEGUS catalogues parsed with pandas straight from the .tab files."""
    frames = []
    for path in sorted((shared_data / "legus").glob("hlsp_legus_hst_*_padagb-mwext-avgapcor.tab")):
        token = path.name.split("_")[4]
        table = pd.read_csv(path, sep=r"\s+", header=None)
        shift = 2 if token.startswith("ngc1313") else 0  # x, y of the mosaic at columns 4-5

        def col(k: int, table=table, shift=shift) -> np.ndarray:  # noqa: ANN001
            return table[k - 1 + (shift if k >= 4 else 0)].to_numpy(float)

        frame = pd.DataFrame(
            {"field": token.replace("-", ""), "galaxy": _galaxy(token),
             "id": table[0].astype(int), "ra": col(4), "dec": col(5)}
        )  # fmt: skip
        for band, k in (("nuv", 6), ("u", 8), ("b", 10), ("v", 12), ("i", 14)):
            mag = col(k)
            sentinel = np.zeros(mag.size, dtype=bool)
            for value in _SENTINELS:
                sentinel |= np.isclose(mag, value, atol=5e-4)
            frame[f"mag_{band}"] = np.where(sentinel, np.nan, mag)
            frame[f"outside_{band}"] = np.isclose(mag, 66.666, atol=5e-4)
            frame[f"nodet_{band}"] = np.isclose(mag, 99.999, atol=5e-4)
        age, mass, nflt = col(17), col(20), col(33)
        fitted = (age > 0) & (nflt != 200)
        frame["log_age"] = np.where(fitted, np.log10(np.where(fitted, age, 1.0)), np.nan)
        frame["log_mass"] = np.where(fitted, np.log10(np.where(fitted, mass, 1.0)), np.nan)

        def classes(k: int | None, table=table) -> np.ndarray:  # noqa: ANN001
            if k is None:
                return np.zeros(len(table), dtype=int)
            values = table[k - 1].to_numpy(float)
            return np.where(np.isin(values, [1, 2, 3, 4]), values, 0).astype(int)

        frame["human"] = classes(_HUMAN_MODE_COLUMN.get(token, 34))
        frame["hybrid"] = classes(34 if token == "ngc1566" else None)
        frame["ml"] = classes(37 if token in ("ngc1566", "ngc4449") else None)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    starcnet = pd.read_csv(
        shared_data / "legus" / "starcnet_ml_predictions_ngc1566.tab", sep="\t", header=None
    )
    by_id = dict(zip(starcnet[0].astype(int), starcnet[3].astype(int), strict=True))
    in_1566 = out["field"] == "ngc1566"
    out["starcnet"] = 0
    out.loc[in_1566, "starcnet"] = out.loc[in_1566, "id"].map(by_id).astype(int)
    calzetti = pd.read_csv(
        shared_data / "tables" / "calzetti2015_table1_legus_galaxies.txt",
        sep=r"\s+", comment="#", header=None,
    )  # fmt: skip
    distance = {_galaxy(n.lower()): float(d) for n, d in zip(calzetti[0], calzetti[6], strict=True)}
    out["distance_mpc"] = out["galaxy"].map(distance)
    out["abs_mag_v"] = out["mag_v"] - 5 * np.log10(out["distance_mpc"] * 1e5)
    return out


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> pd.DataFrame:
    return load_raw(shared_data)


def _separation_arcsec(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    from astropy.coordinates import SkyCoord

    centre = SkyCoord(ra0 * u.deg, dec0 * u.deg)
    return centre.separation(SkyCoord(ra * u.deg, dec * u.deg)).arcsec


def _bright_1566(raw: pd.DataFrame, method: str) -> pd.DataFrame:
    sel = raw[(raw["galaxy"] == "NGC 1566") & raw[method].isin([1, 2])]
    return sel[sel["abs_mag_v"] < -7.8]


def _independent_numbers(raw: pd.DataFrame) -> dict[str, dict[str, float]]:
    """check text -> value, per query, from the raw files only."""
    out: dict[str, dict[str, float]] = {}
    sed = raw["log_age"].notna()
    out["releases"] = {"rows": 2, "sum(n_sources)": len(raw)}
    out["release-versions"] = {"rows": 1, "sum(n_sources)": len(raw)}  # one version of legus
    out["release-summary"] = {
        "rows": raw["galaxy"].nunique(),
        "sum(n_sources)": len(raw),
        "sum(n_fields)": raw["field"].nunique(),
        "sum(n_sed_fitted)": int(sed.sum()),
    }
    human = raw[raw["human"] > 0]
    out["class-counts-human-mode"] = {"rows": human["galaxy"].nunique()} | {
        f"sum(n_class{k})": int((human["human"] == k).sum()) for k in (1, 2, 3, 4)
    }
    bright = _bright_1566(raw, "hybrid")
    out["bright-clusters-ngc1566"] = {
        "rows": len(bright),
        "count(log_age)": int(bright["log_age"].notna().sum()),
        "sum(log_age)": float(bright["log_age"].sum()),
        "min(abs_mag_v)": float(bright["abs_mag_v"].min()),
    }
    boxes = {k: 0 for k in range(5)}
    for method in ("hybrid", "human", "ml", "starcnet"):
        sel = _bright_1566(raw, method)
        numbers = assign_box(sel["mag_v"] - sel["mag_i"], sel["mag_u"] - sel["mag_b"])
        for k in range(5):
            boxes[k] += int((numbers == k).sum())
    out["colour-boxes-ngc1566"] = {"rows": 4, "sum(n_outside)": boxes[0]} | {
        f"sum(n_box{k})": boxes[k] for k in (1, 2, 3, 4)
    }
    both = raw[(raw["hybrid"] > 0) & (raw["starcnet"] > 0)]
    confusion = both.groupby(["hybrid", "starcnet"]).size()
    out["legus-vs-starcnet"] = {
        "rows": len(confusion),
        "sum(n)": int(confusion.sum()),
        "max(n)": int(confusion.max()),
    }
    changed = both[both["hybrid"] != both["starcnet"]]
    out["class-changed-between-releases"] = {
        "rows": len(changed),
        "sum(class_b)": int(changed["starcnet"].sum()),
    }
    distance = _separation_arcsec(raw["ra"].to_numpy(), raw["dec"].to_numpy(), *NGC628_CENTRE)
    in_cone = distance <= 60.0
    cone = {"rows": int(in_cone.sum()), "max(distance_arcsec)": float(distance[in_cone].max())}
    out["cone-q3c"] = cone
    out["cone-portable"] = cone
    young = raw[
        (raw["galaxy"] == "NGC 628") & raw["human"].isin([1, 2]) & (raw["log_age"] < 8)
        & raw["log_mass"].notna()
    ]  # fmt: skip
    bins = np.floor(young["log_mass"] / 0.5) * 0.5
    out["mass-function-input"] = {
        "rows": bins.nunique(),
        "sum(n)": len(young),
        "min(log_mass_bin)": float(bins.min()),
        "max(log_mass_bin)": float(bins.max()),
    }
    fitted = raw[sed]
    out["sed-ages-per-method"] = {
        "rows": fitted["galaxy"].nunique(),
        "sum(n_fitted)": len(fitted),
        "sum(n_young)": int((fitted["log_age"] < 7).sum()),
        "sum(n_old)": int((fitted["log_age"] >= 9).sum()),
    }
    bands = ("nuv", "u", "b", "v", "i")
    out["per-filter-photometry"] = {
        "sum(n_measured)": int(sum(raw[f"mag_{b}"].notna().sum() for b in bands)),
        "sum(n_not_detected)": int(sum(raw[f"nodet_{b}"].sum() for b in bands)),
        "sum(n_outside_footprint)": int(sum(raw[f"outside_{b}"].sum() for b in bands)),
    }
    c628 = raw[raw["field"] == "ngc628c"].dropna(subset=["mag_u", "mag_b", "mag_v", "mag_i"])
    out["colours-wide"] = {
        "rows": len(c628),
        "sum(u_b)": float((c628["mag_u"] - c628["mag_b"]).sum()),
        "sum(v_i)": float((c628["mag_v"] - c628["mag_i"]).sum()),
    }
    a = raw[raw["field"] == "ngc628c"].reset_index(drop=True)
    b = raw[raw["field"] == "ngc628e"].reset_index(drop=True)
    match = crossmatch_sky(a["ra"], a["dec"], b["ra"], b["dec"], OVERLAP_RADIUS)
    class_a = a["human"].to_numpy()[match.idx_a]
    class_b = b["human"].to_numpy()[match.idx_b]
    classified = (class_a > 0) & (class_b > 0)
    out["crossmatch-overlap"] = {
        "rows": 1,
        "n_pairs": len(match),
        "n_both_classified": int(classified.sum()),
        "n_same_class": int((classified & (class_a == class_b)).sum()),
    }
    return out


# --- the NGC 628 overlap cross-match, written inside the test transaction -------------------


def seed_overlap_crossmatch(conn: Connection) -> int:
    """One cross-match run NGC 628-c x NGC 628-e (release legus, 0.2"), as the cross-match
    module would write it: one-to-one pairs with the LEGUS human-mode classes compared."""
    rows = conn.execute(
        text(
            "SELECT s.id, f.name, s.ra, s.dec, c.cluster_class FROM source s "
            "JOIN field f ON f.id = s.field_id "
            "JOIN catalogue_release r ON r.id = s.release_id AND r.name = 'legus' "
            "LEFT JOIN classification c ON c.source_id = s.id AND c.method_id = "
            "(SELECT id FROM classification_method WHERE name = 'LEGUS human mode') "
            "WHERE f.name IN ('ngc628c', 'ngc628e') ORDER BY s.id"
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["id", "field", "ra", "dec", "cls"])
    a = frame[frame["field"] == "ngc628c"].reset_index(drop=True)
    b = frame[frame["field"] == "ngc628e"].reset_index(drop=True)
    match = crossmatch_sky(a["ra"], a["dec"], b["ra"], b["dec"], OVERLAP_RADIUS)
    ids = conn.execute(
        text(
            "SELECT (SELECT id FROM catalogue_release WHERE name = 'legus'), "
            "(SELECT id FROM field WHERE name = 'ngc628c'), "
            "(SELECT id FROM field WHERE name = 'ngc628e'), "
            "(SELECT id FROM classification_method WHERE name = 'LEGUS human mode')"
        )
    ).one()
    run_id = conn.execute(
        text(
            "INSERT INTO crossmatch_run (release_a_id, release_b_id, field_a_id, field_b_id, "
            "radius_arcsec, method, offset_ra_arcsec, offset_dec_arcsec, "
            "classification_method_a_id, classification_method_b_id, n_pairs) VALUES "
            "(:rel, :rel, :fa, :fb, :radius, 'kdtree', 0, 0, :cm, :cm, :n) RETURNING id"
        ),
        {"rel": ids[0], "fa": ids[1], "fb": ids[2], "cm": ids[3],
         "radius": OVERLAP_RADIUS.to_value(u.arcsec), "n": len(match)},
    ).scalar_one()  # fmt: skip
    pairs = []
    for ia, ib, sep in zip(match.idx_a, match.idx_b, match.separation.to_value(u.arcsec),
                           strict=True):  # fmt: skip
        ca, cb = a["cls"].iloc[ia], b["cls"].iloc[ib]
        if pd.isna(ca) or pd.isna(cb):
            outcome = "matched"
        else:
            outcome = "same_class" if ca == cb else "other_class"
        pairs.append({"run": run_id, "a": int(a["id"].iloc[ia]), "b": int(b["id"].iloc[ib]),
                      "sep": float(sep), "outcome": outcome})  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO crossmatch_pair (run_id, source_a_id, source_b_id, separation_arcsec, "
            "is_best, outcome) VALUES (:run, :a, :b, :sep, TRUE, :outcome)"
        ),
        pairs,
    )
    return int(run_id)


# --- the tests ----------------------------------------------------------------------------

QUERIES = parse_docs()


def test_docs_have_at_least_twelve_named_queries_with_checks() -> None:
    names = [q.name for q in QUERIES]
    assert len(names) >= 12 and len(set(names)) == len(names)
    assert all(q.checks for q in QUERIES)
    assert [q.name for q in QUERIES if q.postgresql_only] == ["cone-q3c"]


@pytest.fixture(scope="module")
def independent(raw: pd.DataFrame) -> dict[str, dict[str, float]]:
    return _independent_numbers(raw)


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_docs_expectations_match_the_raw_files(
    query: DocQuery, independent: dict[str, dict[str, float]]
) -> None:
    """The numbers printed in docs/sql.md are what pandas computes from the .tab files."""
    truth = independent[query.name]
    assert {c.key for c in query.checks} <= set(truth), "every documented check is verified"
    for check in query.checks:
        assert truth[check.key] == pytest.approx(check.value, abs=check.tolerance()), (
            check,
            truth[check.key],
        )


@pytest.fixture(scope="module")
def docs_engine(legus_engine: Engine) -> Engine:
    """The LEGUS database with planner statistics, as autovacuum leaves it a minute after a
    load: without them PostgreSQL plans the view joins of a freshly loaded database as if
    the tables were empty (minutes instead of tenths of a second)."""
    if legus_engine.dialect.name == "postgresql":
        with legus_engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return legus_engine


def _run(engine: Engine, query: DocQuery) -> pd.DataFrame:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            seed_overlap_crossmatch(conn)
            result = conn.execute(text(query.sql))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        finally:
            trans.rollback()
    return frame


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_docs_query_returns_what_it_says(
    query: DocQuery, backend: str, docs_engine: Engine
) -> None:
    if query.postgresql_only and backend != "postgresql":
        pytest.skip("PostgreSQL-only query (q3c)")
    frame = _run(docs_engine, query)
    for check in query.checks:
        got = evaluate(check, frame)
        assert got == pytest.approx(check.value, abs=check.tolerance()), (check, got)


def test_colour_box_counts_per_method_match_assign_box(
    backend: str, docs_engine: Engine, raw: pd.DataFrame
) -> None:
    """Beyond the sums: every method's box counts equal the processing module's boxes."""
    query = next(q for q in QUERIES if q.name == "colour-boxes-ngc1566")
    frame = _run(docs_engine, query).set_index("method")
    columns = {"hybrid": "LEGUS hybrid", "human": "LEGUS human mode", "ml": "LEGUS ML",
               "starcnet": "StarcNet"}  # fmt: skip
    for raw_column, method in columns.items():
        sel = _bright_1566(raw, raw_column)
        numbers = assign_box(sel["mag_v"] - sel["mag_i"], sel["mag_u"] - sel["mag_b"])
        got = frame.loc[method]
        assert int(got["n_clusters"]) == len(sel)
        assert int(got["n_outside"]) == int((numbers == 0).sum())
        for k in (1, 2, 3, 4):
            assert int(got[f"n_box{k}"]) == int((numbers == k).sum()), (method, k)
