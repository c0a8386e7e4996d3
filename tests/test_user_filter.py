"""User filters (``clustercat export --where``): parsed with sqlglot, bound, never pasted.

Hostile filters are refused before the database is touched, with a message saying what was
refused; valid filters give exactly the rows of the same condition written as SQL.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from clustercat.schema.cli_sql import export_cmd
from clustercat.schema.export import export_query, export_table
from clustercat.schema.user_filter import FilterError, parse_filter
from clustercat.schema.views import CURRENT_VIEW_COMMENTS
from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite

COLUMNS = list(CURRENT_VIEW_COMMENTS["cluster_catalogue"][1])

#: (filter, words the error must contain)
HOSTILE: list[tuple[str, str]] = [
    ("1=1) UNION ALL SELECT * FROM cluster_catalogue WHERE (1=1", "not a single SQL condition"),
    ("1=1 UNION ALL SELECT * FROM cluster_catalogue", "UNION is not allowed"),
    ("mag_v < (SELECT max(mag_v) FROM cluster_catalogue)", "subquery"),
    ("source_pk IN (SELECT id FROM source)", "IN (SELECT"),
    ("EXISTS (SELECT 1 FROM catalogue_release)", "not allowed"),
    ("mag_v < 22 -- the rest is ignored", "comments"),
    ("mag_v < 22 /* hidden */ OR 1=1", "comments"),
    ("1=1; DELETE FROM source", "';' is not allowed"),
    ("pg_sleep(10) IS NULL", "function pg_sleep() is not allowed"),
    ("sqlite_version() = '3'", "function sqlite_version() is not allowed"),
    ("catalogue_release.name = 'legus'", "qualified name"),
    ("status = 'loading'", "unknown column 'status'"),
    ("galaxy = 'x\\' OR 1=1 --'", "comments"),
    ("galaxy = 'NGC 628' OR '1'='1", "unbalanced quotes"),
    ("galaxy = E'\\x27 OR 1=1'", "single-quoted strings"),
    ("galaxy = $$x$$ OR 1=1", "single-quoted strings"),
    ("ra::text LIKE '%'", "type cast"),
    ("CAST(ra AS text) = '1'", "type cast"),
    ("current_user = 'postgres'", "not allowed"),
    ("ra = :release", "placeholder"),
    ("galaxy || 'x' = 'NGC 628x'", "'||'"),
    ("", "empty"),
]


@pytest.mark.parametrize(("where", "words"), HOSTILE)
def test_hostile_filter_is_refused(where: str, words: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(where, COLUMNS, relation="view cluster_catalogue")
    assert words in str(info.value), str(info.value)
    assert str(info.value).startswith("filter ") and "refused" in str(info.value)


def test_hostile_filters_are_refused_by_the_command(
    backend: str, legus_db_url: str, tmp_path: Path
) -> None:
    """Exit 1, the reason in the output, no file; the database is never queried."""
    for k, (where, words) in enumerate(HOSTILE[:-1]):
        out = tmp_path / f"x{k}.csv"
        result = CliRunner().invoke(
            export_cmd,
            ["--release", "legus", "--format", "csv", "-o", str(out), "--where", where],
            obj={"database": legus_db_url},
        )
        assert result.exit_code == 1, (where, result.output)
        assert "refused" in result.output and words in result.output, result.output
        assert not out.exists()


def test_error_gives_the_position() -> None:
    with pytest.raises(FilterError) as info:
        parse_filter("mag_v < 22 AND pg_sleep(1) IS NULL", COLUMNS)
    assert info.value.position == 16 and "at character 16" in str(info.value)
    with pytest.raises(FilterError) as info:
        parse_filter("mag_v < 22; SELECT 1", COLUMNS)
    assert info.value.position == 11


def test_literals_are_bound_parameters() -> None:
    where = "galaxy = 'NGC 628'' OR 1=1' AND mag_v < 22.5 AND \"class\" IN (1, 2)"
    clause = parse_filter(where, [*COLUMNS, "class"]).clause()
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = clause.compile(dialect=dialect)
        sql = str(compiled)
        assert "NGC" not in sql and "22.5" not in sql and "OR 1=1" not in sql, sql
        assert sorted(compiled.params.values(), key=str) == sorted(
            ["NGC 628' OR 1=1", 22.5, 1, 2], key=str
        )


def test_columns_are_checked_case_insensitively_unless_quoted() -> None:
    assert parse_filter("MAG_V < 1 AND Galaxy = 'x'", COLUMNS).columns == {"mag_v", "galaxy"}
    with pytest.raises(FilterError, match="unknown column 'MAG_V'"):
        parse_filter('"MAG_V" < 1', COLUMNS)
    with pytest.raises(FilterError, match="not a condition"):
        parse_filter("mag_v + 1", COLUMNS)
    parse_filter("coalesce(mag_v, 1) > abs(mag_i) AND upper(galaxy) = lower(galaxy)", COLUMNS)
    with pytest.raises(FilterError, match="arguments"):
        parse_filter("abs(mag_v, 2) > 1", COLUMNS)


#: Valid filters and the same condition in SQL (on the release's rows of cluster_catalogue).
VALID = [
    ("galaxy = 'NGC 628' AND mag_v < 22", "galaxy = 'NGC 628' AND mag_v < 22"),
    ("mag_v - mag_i > 1.0 OR ci >= 1.4", "mag_v - mag_i > 1.0 OR ci >= 1.4"),
    ("galaxy IN ('NGC 1705', 'UGC 695') AND NOT log_age IS NULL",
     "galaxy IN ('NGC 1705', 'UGC 695') AND log_age IS NOT NULL"),
    ("abs(dec) BETWEEN 10 AND 16 AND lower(field) LIKE 'ngc628%'",
     "abs(dec) BETWEEN 10 AND 16 AND field LIKE 'ngc628%'"),
    ("coalesce(mag_v, 99) * 2 < 44 AND source_id % 7 = 3 AND length(galaxy) = 7",
     "coalesce(mag_v, 99) * 2 < 44 AND source_id % 7 = 3 AND length(galaxy) = 7"),
    ("-mag_v > -19.5 AND upper(galaxy) ILIKE 'ngc 3%'",
     "mag_v < 19.5 AND galaxy LIKE 'NGC 3%'"),
]  # fmt: skip


def test_valid_filters_give_the_rows_of_the_same_sql(backend: str, legus_engine: Engine) -> None:
    for where, sql in VALID:
        table = export_table(legus_engine, "legus", where=where)
        with legus_engine.connect() as conn:
            want = pd.read_sql_query(
                text(
                    "SELECT source_pk FROM cluster_catalogue WHERE release = 'legus' AND "
                    f"({sql}) ORDER BY release_id, source_pk"
                ),
                conn,
            )
        assert 0 < len(want) < 36197, (where, len(want))
        assert list(table["source_pk"]) == want["source_pk"].tolist(), where


def test_export_query_keeps_the_release_bound() -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = export_query("cluster_catalogue", "mag_v < 20").compile(dialect=dialect)
        assert "release" in compiled.params and "legus" not in str(compiled)
