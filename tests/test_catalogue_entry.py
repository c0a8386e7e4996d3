"""``catalogue_entry``: each release's catalogue rows written once at completion (issue 13).

* on all of LEGUS, ``cluster_catalogue`` (reading the table) equals the version-3 view body
  (joining photometry live) row for row, with one row per source;
* the one band rule: a field with F555W and F606W gets F555W as V everywhere (catalogue,
  cone search, cross-match pairs, wide photometry);
* the rows are frozen with their release and leave with ``db drop-release``;
* revision 0010 back-fills releases completed before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from clustercat.schema import Photometry, make_engine, migrate, session_scope
from clustercat.schema.catalogue_entry import write_catalogue_entries
from clustercat.schema.cone import cone_search
from clustercat.schema.immutability import drop_release
from clustercat.schema.views import VIEWS_V3
from conftest import LEGUS_RELEASE
from factories import filter_id, make_release
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session


def _frame(conn: Connection | Engine, sql: str, **params: object) -> pd.DataFrame:
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return pd.read_sql_query(text(sql), c, params=params)
    return pd.read_sql_query(text(sql), conn, params=params)


def test_legus_catalogue_equals_the_live_join_row_for_row(legus_engine: Engine) -> None:
    columns = (
        "source_pk, galaxy, field, source_id, ra, dec, mag_nuv, mag_u, mag_b, mag_v, mag_v_err, "
        "mag_i, mag_i_err, ci, log_age, log_mass, ebv, filter_b, filter_v"
    )
    live_body = VIEWS_V3["cluster_catalogue"]
    live = _frame(
        legus_engine,
        f"SELECT {columns} FROM ({live_body}) c WHERE c.release = :r ORDER BY source_pk",
        r=LEGUS_RELEASE,
    )
    stored = _frame(
        legus_engine,
        f"SELECT {columns} FROM cluster_catalogue WHERE release = :r ORDER BY source_pk",
        r=LEGUS_RELEASE,
    )
    n_sources = _frame(
        legus_engine,
        "SELECT count(*) AS n FROM source s JOIN catalogue_release r ON r.id = s.release_id "
        "WHERE r.name = :r AND r.status = 'complete'",
        r=LEGUS_RELEASE,
    )["n"][0]
    assert len(stored) == stored["source_pk"].nunique() == n_sources > 30_000
    # LEGUS gives one filter per band per field, so the live join had one row per source too
    assert len(live) == len(stored)
    pd.testing.assert_frame_equal(stored, live, check_dtype=False)
    ngc628 = stored[stored["galaxy"] == "NGC 628"]
    assert set(ngc628["filter_v"].dropna()) == {"F555W"}
    assert set(ngc628["filter_b"].dropna()) == {"F435W"}


def _two_v_release(session: Session, name: str) -> int:
    """A release whose sources have F555W (from the factory) and a brighter F606W total."""
    release = make_release(session, name=name, status="loading", n_sources=4)
    f606w = session.execute(
        text("SELECT id FROM filter WHERE name = 'F606W' ORDER BY id LIMIT 1")
    ).scalar_one()
    assert f606w != filter_id(session, "V")
    pks = session.execute(
        text("SELECT id FROM source WHERE release_id = :r ORDER BY id_in_release"),
        {"r": release.id},
    ).scalars()
    for k, pk in enumerate(pks):
        session.add(
            Photometry(source_id=pk, filter_id=f606w, kind="total", status="measured",
                       mag_vega=15.0 + k, mag_err=0.01)
        )  # fmt: skip
        for radius in (1.0, 2.0):
            for fid, mag in ((f606w, 16.0 + k), (filter_id(session, "V"), 21.0 + k)):
                session.add(
                    Photometry(source_id=pk, filter_id=fid, kind="aperture", radius_px=radius,
                               status="measured", mag_vega=mag + radius, mag_err=0.02)
                )  # fmt: skip
    session.flush()
    conn = session.connection()
    written = write_catalogue_entries(conn, release.id)
    conn.execute(text("UPDATE catalogue_release SET status = 'complete' WHERE id = :r"),
                 {"r": release.id})  # fmt: skip
    assert written == 4
    return release.id


def test_one_v_rule_everywhere(session: Session, connection: Connection) -> None:
    rid = _two_v_release(session, "two-v")
    cat = _frame(
        connection,
        "SELECT source_id, mag_v, filter_v, mag_b, filter_b, mag_i, filter_i, filter_nuv "
        "FROM cluster_catalogue WHERE release = 'two-v' ORDER BY source_id",
    )
    # F555W wins over the brighter F606W; k = 0 has F555W not detected: NULL, not F606W
    assert cat["source_id"].tolist() == [1, 2, 3, 4]
    assert np.isnan(cat["mag_v"][0])
    assert cat["mag_v"][1:].tolist() == pytest.approx([20.0 + k + 0.3 for k in (1, 2, 3)])
    assert set(cat["filter_v"]) == {"F555W"}
    assert cat["filter_b"].tolist() == ["F435W"] * 4
    assert cat["filter_i"].tolist() == ["F814W"] * 4
    assert cat["filter_nuv"].tolist() == ["F275W"] * 4
    # the wide view's V apertures are in the same filter: F555W (21 + k + r)
    wide = _frame(
        connection,
        "SELECT source_id, mag_v_r1, mag_v_r2, mag_f606w FROM source_photometry_wide "
        "WHERE release = 'two-v' ORDER BY source_id",
    )
    assert len(wide) == 4
    assert wide["mag_v_r1"].tolist() == pytest.approx([22.0, 23.0, 24.0, 25.0])
    assert wide["mag_v_r2"].tolist() == pytest.approx([23.0, 24.0, 25.0, 26.0])
    assert wide["mag_f606w"].tolist() == pytest.approx([15.0, 16.0, 17.0, 18.0])
    # the cone search reads the same V
    found = cone_search(connection, 24.17, 15.78, "20arcsec", release="two-v")
    by_id = dict(zip(found["source_id"], found["mag_v"], strict=True))
    assert len(by_id) == 4 and np.isnan(by_id[1])
    assert by_id[2] == pytest.approx(21.3)
    assert rid > 0


def test_entries_are_frozen_and_leave_with_drop_release(
    session: Session, connection: Connection
) -> None:
    release = make_release(session, name="frozen-entries", n_sources=3)
    session.flush()
    rid = release.id
    for sql in (
        "UPDATE catalogue_entry SET mag_v = 1.0 WHERE release_id = :r",
        "DELETE FROM catalogue_entry WHERE release_id = :r",
    ):
        with pytest.raises((DBAPIError, IntegrityError)) as refused, connection.begin_nested():
            connection.execute(text(sql), {"r": rid})
        assert "immutable" in str(refused.value)
    count = "SELECT count(*) FROM catalogue_entry WHERE release_id = :r"
    assert connection.execute(text(count), {"r": rid}).scalar() == 3
    # writing again adds nothing: the rows are written once
    assert write_catalogue_entries(connection, rid) == 0
    drop_release(connection, "frozen-entries", 1)
    assert connection.execute(text(count), {"r": rid}).scalar() == 0


def test_revision_0010_backfills_releases_completed_before_it(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0009")
    engine = make_engine(empty_db_url)
    try:
        with session_scope(engine) as session:
            release = make_release(session, name="before-0010", status="loading", n_sources=5)
            session.execute(
                text("UPDATE catalogue_release SET status = 'complete' WHERE id = :r"),
                {"r": release.id},
            )
        migrate.upgrade(empty_db_url)
        cat = _frame(
            engine,
            "SELECT source_id, mag_v, mag_i, ci, log_age FROM cluster_catalogue "
            "WHERE release = 'before-0010' ORDER BY source_id",
        )
    finally:
        engine.dispose()
    assert cat["source_id"].tolist() == [1, 2, 3, 4, 5]
    assert cat["mag_i"].tolist() == pytest.approx([20.4 + k for k in range(5)])
    assert cat["ci"].tolist() == pytest.approx([1.0 + 0.1 * k for k in range(5)])
    assert cat["log_age"].tolist() == pytest.approx([6.0 + k for k in range(5)])
    assert np.isnan(cat["mag_v"][0]) and cat["mag_v"][1] == pytest.approx(21.3)
