"""SSP grids in the database (``ssp_grid`` + ``ssp_model``): both backends, rolled back per test.

What is checked: ``store_grid`` row counts, provenance and idempotency (same grid again is a
no-op, other content under the name is refused); the round trip (magnitudes read back equal
the synthesised ones to 1e-12 mag in Vega and AB, BC03 and Yggdrasil, both instruments); the
stand-ins (F435W for F438W equals ``yggdrasil_grid(..., f435w_for_f438w=True)``; ACS for
WFC3/UVIS V and I measured against true WFC3 BC03 magnitudes); the spectra attached for the
extinction; and the colour tracks read from the database (equal to the in-memory track; the
W21 §5 box-1 property: every BC03 solar node older than 1.1 Gyr lies in box 1).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from clustercat.processing import sed_fit, ssp, ssp_db
from clustercat.processing.colour_boxes import assign_box
from clustercat.schema.config import data_dir
from clustercat.schema.seed import FILTERS_V1
from conftest import PHANGS_FILTERS as PHANGS
from conftest import YGGDRASIL_FILTERS as FIVE_ACS
from conftest import skip_or_fail as _skip_or_fail
from sqlalchemy import text

ACS = ("ACS_WFC_F435W", "ACS_WFC_F555W", "ACS_WFC_F606W", "ACS_WFC_F814W")
EXACT = dict(rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def bc03_parts() -> list[ssp.SSPGrid]:
    try:
        ssp.bc03_grid_path()
    except FileNotFoundError as exc:
        _skip_or_fail(f"BC03 grids unavailable: {exc}")
    parts, skipped = ssp_db.synthesize_grid("bc03", [(n, i) for n, i, *_ in FILTERS_V1])
    assert skipped == []  # BC03 gives every seeded filter on its own instrument
    return parts


@pytest.fixture(scope="module")
def ygg_parts() -> list[ssp.SSPGrid]:
    path = data_dir() / "ssp" / ssp.YGGDRASIL_FILE
    if not path.is_file():
        _skip_or_fail(f"Yggdrasil table not found at {path} (set CLUSTERCAT_DATA)")
    parts, skipped = ssp_db.synthesize_grid("yggdrasil", [(n, i) for n, i, *_ in FILTERS_V1])
    assert sorted(skipped) == [
        ("F438W", "WFC3/UVIS"), ("F555W", "WFC3/UVIS"), ("F606W", "WFC3/UVIS"),
        ("F814W", "WFC3/UVIS"),
    ]  # fmt: skip
    return parts


def _count(conn, sql: str, **params) -> int:  # noqa: ANN001
    return int(conn.execute(text(sql), params).scalar_one())


def test_store_bc03_rows_provenance_and_idempotency(connection, bc03_parts) -> None:  # noqa: ANN001
    assert [(n, i) for n, i in ssp_db.db_filters(connection)] != []
    grid_id = ssp_db.store_grid(connection, bc03_parts)
    # 178 BC03 ages x 10 seeded filters x (Vega, AB)
    assert _count(connection, "SELECT count(*) FROM ssp_model WHERE grid_id = :g", g=grid_id) == (
        178 * 10 * 2
    )
    per = connection.execute(
        text(
            "SELECT f.name, f.instrument, m.mag_system, count(*) FROM ssp_model m "
            "JOIN filter f ON f.id = m.filter_id WHERE m.grid_id = :g "
            "GROUP BY f.name, f.instrument, m.mag_system"
        ),
        {"g": grid_id},
    ).all()
    assert len(per) == 20 and {r[3] for r in per} == {178}
    assert {r[2] for r in per} == {"vega", "ab"}
    stored = ssp_db.find_grid(connection, ("bc03", 0.02))
    assert stored.id == grid_id and stored.name == "bc03-miles-z0.02-kroupa"
    assert (stored.model, stored.metallicity, stored.imf) == ("bc03", 0.02, "Kroupa (2001)")
    prov = stored.provenance
    assert prov["source_sha256"] == ssp.file_sha256(ssp.bc03_grid_path())
    assert len(prov["content_sha256"]) == 64 and prov["mag_systems"] == ["ab", "vega"]
    assert prov["n_age"] == 178 and len(prov["filters"]) == 10 and prov["pyphot_version"]
    assert prov["content_sha256"] == ssp_db.grid_content_sha256(bc03_parts)

    # the same grid again: the same id, nothing written
    assert ssp_db.store_grid(connection, bc03_parts) == grid_id
    assert _count(connection, "SELECT count(*) FROM ssp_model") == 3560
    assert _count(connection, "SELECT count(*) FROM ssp_grid") == 1
    # the Vega parts alone convert to the same AB numbers: still the same grid
    vega_only = [g for g in bc03_parts if g.mag_system == "Vega"]
    assert ssp_db.store_grid(connection, vega_only) == grid_id
    # other content under that name is refused, and writes nothing
    other = ssp.bc03_grid(PHANGS, metallicity=0.008)
    with pytest.raises(ssp_db.SspGridConflictError, match="other content"):
        ssp_db.store_grid(connection, other, name="bc03-miles-z0.02-kroupa")
    assert _count(connection, "SELECT count(*) FROM ssp_grid") == 1
    # under its own (default) name it is a new grid
    low_z = ssp_db.store_grid(connection, other)
    assert ssp_db.find_grid(connection, low_z).name == "bc03-miles-z0.008-kroupa"
    # 3e-11 mag of round-off changes the hash but not the grid (rows compared to 1e-9 mag);
    # 1e-6 mag is another grid
    nudged = dataclasses.replace(other, mag=other.mag + 3e-11)
    assert ssp_db.grid_content_sha256(nudged) != ssp_db.grid_content_sha256(other)
    assert ssp_db.store_grid(connection, nudged) == low_z
    with pytest.raises(ssp_db.SspGridConflictError):
        ssp_db.store_grid(connection, dataclasses.replace(other, mag=other.mag + 1e-6))
    with pytest.raises(ssp_db.SspGridNotFoundError, match="clustercat ssp build bc03"):
        ssp_db.find_grid(connection, ("bc03", 0.05))
    frame = ssp_db.list_grids(connection)
    assert frame["n_rows"].tolist() == [178 * 5 * 2, 3560]  # by name: z0.008, z0.02


def test_store_yggdrasil_rows(connection, ygg_parts) -> None:  # noqa: ANN001
    grid_id = ssp_db.store_grid(connection, ygg_parts)
    stored = ssp_db.find_grid(connection, grid_id)
    assert stored.name == "yggdrasil-z0.02-kroupa-fcov1" and stored.model_name == "Yggdrasil"
    # 46 ages (1 Myr-14 Gyr) x 6 native filters x 2 systems
    assert _count(connection, "SELECT count(*) FROM ssp_model WHERE grid_id = :g", g=grid_id) == (
        46 * 6 * 2
    )
    assert stored.filters == (
        ("F275W", "WFC3/UVIS"), ("F336W", "WFC3/UVIS"), ("F435W", "ACS/WFC"),
        ("F555W", "ACS/WFC"), ("F606W", "ACS/WFC"), ("F814W", "ACS/WFC"),
    )  # fmt: skip
    assert ssp_db.store_grid(connection, ygg_parts) == grid_id


def test_round_trip_equals_synthesis(connection, bc03_parts, ygg_parts) -> None:  # noqa: ANN001
    """Magnitudes read from ssp_model are the synthesised ones (1e-12 mag), both systems."""
    ssp_db.store_grid(connection, bc03_parts)
    ssp_db.store_grid(connection, ygg_parts)
    for system in ("Vega", "AB"):
        db = ssp_db.load_grid(connection, ("bc03", 0.02), PHANGS, mag_system=system)
        mem = ssp.bc03_grid(PHANGS, mag_system=system)
        np.testing.assert_array_equal(db.log_age, mem.log_age)
        np.testing.assert_allclose(db.mag, mem.mag, **EXACT)
        assert db.instruments == mem.instruments == ("WFC3/UVIS",) * 5
        acs = ssp_db.load_grid(connection, "bc03-miles-z0.02-kroupa", ACS, mag_system=system)
        np.testing.assert_allclose(acs.mag, ssp.bc03_grid(ACS, mag_system=system).mag, **EXACT)
        ygg = ssp_db.load_grid(connection, ("yggdrasil", 0.02), FIVE_ACS, mag_system=system)
        ref = ssp.yggdrasil_grid(FIVE_ACS, mag_system=system)
        np.testing.assert_array_equal(ygg.log_age, ref.log_age)
        np.testing.assert_allclose(ygg.mag, ref.mag, **EXACT)
        assert ygg.instruments == ref.instruments
    # a bare name takes the default instrument when the grid has two
    bare = ssp_db.load_grid(connection, ("bc03", 0.02), ["F555W", ("F814W", "ACS/WFC")])
    assert bare.instruments == ("WFC3/UVIS", "ACS/WFC")
    # F438W: Yggdrasil has none; F435W stands in only when asked, exactly as in ssp.py
    with pytest.raises(KeyError, match="only when asked"):
        ssp_db.load_grid(connection, ("yggdrasil", 0.02), PHANGS)
    sub = ssp_db.load_grid(connection, ("yggdrasil", 0.02), PHANGS, stand_ins=True)
    ref = ssp.yggdrasil_grid(PHANGS, f435w_for_f438w=True)
    np.testing.assert_allclose(sub.mag, ref.mag, **EXACT)
    assert sub.instruments == ref.instruments
    assert list(sub.provenance["stand_ins"]) == ["F438W WFC3/UVIS"]
    # spectra for the extinction are the ones the pure grids carry, so the reddened fitting
    # grids agree too
    for db, mem in (
        (ssp_db.load_grid(connection, ("bc03", 0.02), PHANGS, with_sed=True),
         ssp.bc03_grid(PHANGS)),
        (ssp_db.load_grid(connection, ("yggdrasil", 0.02), FIVE_ACS, with_sed=True),
         ssp.yggdrasil_grid(FIVE_ACS)),
    ):  # fmt: skip
        np.testing.assert_array_equal(db.sed_flux, mem.sed_flux)
        fit_db = sed_fit.build_fit_grid(db, ebv_max=0.5, ebv_step=0.05)
        fit_mem = sed_fit.build_fit_grid(mem, ebv_max=0.5, ebv_step=0.05)
        np.testing.assert_allclose(fit_db.mag, fit_mem.mag, **EXACT)


def test_wfc3_stand_ins_measured_on_bc03(connection) -> None:  # noqa: ANN001
    """ACS V/I AB magnitudes standing in for WFC3/UVIS V/I, against true WFC3 (BC03 solar).

    Measured, 1 Myr-14 Gyr (Vega): F555W -0.030..+0.032 mag, F606W -0.004..+0.002,
    F814W -0.056..+0.056, F438W (from ACS F435W) 0.000..+0.043. Taking the ACS filter's
    own Vega magnitude instead would be worse for V and I (F555W up to 0.048 mag off,
    F814W 0.078).
    """
    try:
        parts = [ssp.bc03_grid(ACS, mag_system=s) for s in ("Vega", "AB")]
    except FileNotFoundError as exc:
        _skip_or_fail(f"BC03 grids unavailable: {exc}")
    ssp_db.store_grid(connection, parts, name="bc03-acs-only")
    wanted = [("F438W", "WFC3/UVIS"), ("F555W", "WFC3/UVIS"), ("F606W", "WFC3/UVIS"),
              ("F814W", "WFC3/UVIS")]  # fmt: skip
    with pytest.raises(KeyError, match="only when asked"):
        ssp_db.load_grid(connection, "bc03-acs-only", wanted)
    sub = ssp_db.load_grid(connection, "bc03-acs-only", wanted, stand_ins=True)
    assert len(sub.provenance["stand_ins"]) == 4
    true = ssp.bc03_grid(["WFC3_F438W", "WFC3_F555W", "WFC3_F606W", "WFC3_F814W"])
    diff = sub.mag - true.mag
    assert diff[:, 0].min() > -0.001 and diff[:, 0].max() < 0.045  # F438W: 0.000..0.043
    assert np.abs(diff[:, 1]).max() < 0.035  # F555W: 0.032
    assert np.abs(diff[:, 2]).max() < 0.006  # F606W: 0.004
    assert np.abs(diff[:, 3]).max() < 0.060  # F814W: 0.056
    own_vega = ssp.bc03_grid(ACS).mag  # the ACS filters' own Vega magnitudes
    for j, k in ((1, 1), (3, 3)):  # V, I
        assert np.abs(diff[:, j]).max() < np.abs(own_vega[:, k] - true.mag[:, j]).max()


def test_tracks_from_the_database(connection, bc03_parts, ygg_parts) -> None:  # noqa: ANN001
    """Tracks read from ssp_model equal the in-memory ones; W21 §5 boxes along BC03 solar."""
    ssp_db.store_grid(connection, bc03_parts)
    ssp_db.store_grid(connection, ygg_parts)
    db = ssp_db.colour_track_db(connection, ("bc03", 0.02))
    mem = ssp.colour_track(ssp.bc03_grid(PHANGS))
    assert (db.x_label, db.y_label) == (mem.x_label, mem.y_label) == ("F555W-F814W", "F336W-F438W")
    np.testing.assert_array_equal(db.log_age, mem.log_age)
    np.testing.assert_allclose(db.x, mem.x, **EXACT)
    np.testing.assert_allclose(db.y, mem.y, **EXACT)
    box = assign_box(db.x, db.y)
    assert (box[db.log_age > 9.05] == 1).all()  # box 1: older than 1 Gyr (W21 §5)
    assert (box[db.log_age < 6.9] == 4).all()  # box 4: younger than 10 Myr
    uv = ssp_db.colour_track_db(connection, "bc03-miles-z0.02-kroupa", ("V", "I"), ("NUV", "B"))
    assert uv.y_label == "F275W-F438W"
    ygg = ssp_db.colour_track_db(connection, ("yggdrasil", 0.02))
    ref = ssp.colour_track(ssp.yggdrasil_grid(FIVE_ACS))
    assert (ygg.x_label, ygg.y_label) == ("F555W-F814W", "F336W-F435W")
    np.testing.assert_allclose(ygg.y, ref.y, **EXACT)
    np.testing.assert_allclose(ygg.x, ref.x, **EXACT)
    explicit = ssp_db.colour_track_db(
        connection, ("bc03", 0.02), ssp_db.parse_colour("ACS_WFC_F555W-ACS_WFC_F814W"),
        ssp_db.parse_colour("F336W-F435W"),
    )  # fmt: skip
    assert (explicit.x_label, explicit.y_label) == ("F555W-F814W", "F336W-F435W")
    with pytest.raises(ValueError, match="BAND-BAND"):
        ssp_db.parse_colour("VI")
