"""``clustercat ssp`` and ``clustercat process sed`` through click's CliRunner, both backends.

The groups are invoked directly with ``obj={"database": url}`` (the root command wires them),
on a database of this module's own with the two real NGC 628 LEGUS catalogues as release
``legus`` (see ``tests/test_sed_db.py``).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from clustercat.processing import ssp
from clustercat.processing.cli_sed import process_group, ssp_group
from clustercat.processing.colour_boxes import assign_box
from clustercat.schema import make_engine
from sqlalchemy import Engine, create_engine, text
from test_sed_db import LEGUS_METHOD, N_VALID_SQL, YGG_METHOD, make_ngc628_db


@pytest.fixture(scope="module")
def cli_url(backend, request, tmp_path_factory, shared_data) -> str:  # noqa: ANN001
    return make_ngc628_db(backend, request, tmp_path_factory.mktemp("sed_cli"), shared_data)


@pytest.fixture(scope="module")
def cli_engine(cli_url: str):  # noqa: ANN201
    engine = make_engine(cli_url)
    yield engine
    engine.dispose()


def _run(group, url: str, *args: str):  # noqa: ANN001, ANN202
    return CliRunner().invoke(group, list(args), obj={"database": url})


def _flat(text_: str) -> str:
    return " ".join(text_.split())


def _scalar(engine: Engine, sql: str, **params) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_ssp_build_list_and_track(cli_url: str, cli_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    missing = _run(ssp_group, cli_url, "track", "bc03", "--csv")
    assert missing.exit_code == 2 and "clustercat ssp build bc03" in _flat(missing.output)

    first = _run(ssp_group, cli_url, "build", "yggdrasil")
    assert first.exit_code == 0, first.output
    out = _flat(first.output)
    assert "stored SSP grid yggdrasil-z0.02-kroupa-fcov1" in out
    assert "46 ages x 6 filters x 2 systems = 552 ssp_model rows" in out
    assert "not in the model" in out and "F438W WFC3/UVIS" in out
    again = _run(ssp_group, cli_url, "build", "yggdrasil")
    assert again.exit_code == 0 and "already stored" in again.output
    assert _scalar(cli_engine, "SELECT count(*) FROM ssp_model") == 552
    assert _run(ssp_group, cli_url, "build", "yggdrasil", "-Z", "0.008").exit_code == 2

    bc03 = _run(ssp_group, cli_url, "build", "bc03")
    assert bc03.exit_code == 0, bc03.output
    assert "178 ages x 10 filters x 2 systems = 3560 ssp_model rows" in _flat(bc03.output)
    listed = _run(ssp_group, cli_url, "list")
    assert listed.exit_code == 0
    assert "bc03-miles-z0.02-kroupa" in listed.output and "3560" in listed.output

    track = _run(ssp_group, cli_url, "track", "bc03", "--x", "V-I", "--y", "U-B", "--csv")
    assert track.exit_code == 0, track.output
    frame = pd.read_csv(io.StringIO(track.stdout))
    assert list(frame.columns) == ["log_age", "x", "y"] and len(frame) == 178
    ref = ssp.colour_track(ssp.bc03_grid(("F275W", "F336W", "F438W", "F555W", "F814W")))
    np.testing.assert_allclose(frame["x"], ref.x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["y"], ref.y, rtol=0, atol=1e-12)
    old = frame["log_age"] > 9.05  # older than 1.1 Gyr: box 1 of Whitmore et al. 2021 §5
    assert (assign_box(frame["x"], frame["y"])[old.to_numpy()] == 1).all()
    assert "F555W-F814W" in track.stderr and "F336W-F438W" in track.stderr

    path = tmp_path / "ygg_uv.csv"
    uv = _run(ssp_group, cli_url, "track", "yggdrasil", "--y", "NUV-B", "--csv", "-o", str(path))
    assert uv.exit_code == 0, uv.output
    ygg = pd.read_csv(path)
    assert len(ygg) == 46 and ygg["log_age"].is_monotonic_increasing
    table = _run(ssp_group, cli_url, "track", "bc03")
    assert table.exit_code == 0 and "F336W-F438W" in table.output
    assert _run(ssp_group, cli_url, "track", "bc03", "--x", "VI").exit_code == 2


def test_process_sed_field_rerun_label_and_default(cli_url: str, cli_engine: Engine) -> None:
    args = ("sed", "--release", "legus", "--field", "ngc628c", "--model", "yggdrasil")
    first = _run(process_group, cli_url, *args)
    assert first.exit_code == 0, first.output
    out = _flat(first.output)
    assert "fitted 3074 of 3080 sources of release legus v1" in out
    count = (
        "SELECT count(*) FROM sed_fit sf JOIN sed_method m ON m.id = sf.method_id WHERE m.name = :m"
    )
    n_valid = _scalar(cli_engine, N_VALID_SQL, field="ngc628c")
    assert _scalar(cli_engine, count, m=YGG_METHOD) == n_valid == 3074
    total = "SELECT count(*) FROM sed_fit"
    n_total = _scalar(cli_engine, total)

    refused = _run(process_group, cli_url, *args)
    assert refused.exit_code == 3, refused.output
    assert "never replaced" in _flat(refused.output) and "--label" in _flat(refused.output)
    assert _scalar(cli_engine, count, m=YGG_METHOD) == 3074
    gone = _run(process_group, cli_url, *args, "--replace", "--set-default")
    assert gone.exit_code == 2, gone.output
    assert "--replace" in _flat(gone.output) and "--label" in _flat(gone.output)
    assert "--replace" not in _run(process_group, cli_url, "sed", "--help").output
    assert _scalar(cli_engine, total) == n_total

    labelled = f"{YGG_METHOD} [after-fix]"
    refit = _run(process_group, cli_url, *args, "--label", "after-fix", "--set-default")
    assert refit.exit_code == 0, refit.output
    assert f"'{labelled}'" in _flat(refit.output)
    assert "cluster_catalogue shows" in _flat(refit.output)
    assert _scalar(cli_engine, count, m=labelled) == 3074
    assert _scalar(cli_engine, count, m=YGG_METHOD) == 3074  # the first fits stay
    assert _scalar(cli_engine, total) == n_total + 3074
    shown = (
        "SELECT count(*) FROM cluster_catalogue c JOIN sed_fit sf ON sf.source_id = c.source_pk "
        "JOIN sed_method m ON m.id = sf.method_id AND m.name = :m WHERE c.field = 'ngc628c' "
        "AND c.log_age = sf.log_age AND c.log_mass = sf.log_mass AND c.ebv = sf.ebv"
    )
    assert _scalar(cli_engine, shown, m=labelled) == 3074
    assert _scalar(
        cli_engine,
        "SELECT count(*) FROM cluster_catalogue c JOIN catalogue_release r "
        "ON r.id = c.release_id JOIN sed_method m ON m.id = r.default_sed_method_id "
        "WHERE m.name = :m",
        m=labelled,
    ) == _scalar(cli_engine, "SELECT count(*) FROM cluster_catalogue")  # fmt: skip
    assert _scalar(cli_engine, count, m=LEGUS_METHOD) == 2327  # the catalogue's rows stay
    again = _run(process_group, cli_url, *args, "--label", "after-fix")
    assert again.exit_code == 3 and "already has 3074 fits" in _flat(again.output)
    bad = _run(process_group, cli_url, *args, "--label", "")
    assert bad.exit_code == 2 and "label" in _flat(bad.output)
    assert _scalar(cli_engine, total) == n_total + 3074
    first_fits = _run(process_group, cli_url, "sed-default", "--release", "legus", "--method",
                      YGG_METHOD)  # fmt: skip
    assert first_fits.exit_code == 0, first_fits.output
    assert f"'{labelled}'" in _flat(first_fits.output)  # the previous default, named
    assert _scalar(cli_engine, shown, m=YGG_METHOD) == 3074

    back = _run(process_group, cli_url, "sed-default", "--release", "legus", "--method",
                LEGUS_METHOD)  # fmt: skip
    assert back.exit_code == 0, back.output
    assert _scalar(cli_engine, shown, m=LEGUS_METHOD) == 1901

    for bad, code in (
        (("--field", "ngc9999"), 2),
        (("--field", "ngc628e"), 2),  # WFC3/UVIS F555W: Yggdrasil needs --stand-ins
    ):
        result = _run(process_group, cli_url, "sed", "--release", "legus", "--model",
                      "yggdrasil", *bad)  # fmt: skip
        assert result.exit_code == code, result.output
    wrong = _run(process_group, cli_url, "sed", "--release", "nope", "--model", "bc03")
    assert wrong.exit_code == 2 and "no complete release 'nope'" in _flat(wrong.output)


def test_cli_needs_a_migrated_database(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    result = _run(ssp_group, url, "list")
    assert result.exit_code == 1
