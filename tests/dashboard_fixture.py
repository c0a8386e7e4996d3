"""A small database for the real-browser dashboard test (``tests/test_dashboard_browser.py``).

Everything goes in through the command line a collaborator would use (click's CliRunner on the
root ``clustercat`` command), on real LEGUS files:

- release ``legus`` v1: NGC 1566, NGC 628-e (F435W, ACS) and NGC 4248 (232 sources);
- release ``legus`` v2, by ``clustercat ingest legus --new-version`` with a changed NGC 4248
  file (its last source removed): v1 becomes superseded, v2 is the newest complete version;
- StarcNet predictions of NGC 1566 attached to ``legus`` (``ingest starcnet --catalogue``);
- two SED methods on NGC 4248: the LEGUS catalogue's own fit, and a BC03 refit
  (``clustercat ssp build bc03``, then ``process sed --model bc03 --field ngc4248 --label``);
- ``phangs-test``: a synthetic PHANGS-HST DR4 table of NGC 1566 (``bench/dashboard.py``:
  90 % of the LEGUS sources re-observed, 3,000 rows), ingested with the real PHANGS reader;
- two stored cross-match runs of LEGUS NGC 1566 with it (``clustercat crossmatch``, 0.08″ and
  0.15″, the human classes of both sides).

Built in a few seconds on either backend.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from clustercat.schema import make_engine, migrate
from clustercat.schema.config import PROJECT_ROOT
from sqlalchemy import text

LEGUS_FILES = (
    "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs-wfc3_ngc4248_multiband_v2_padagb-mwext-avgapcor.tab",
)
#: The file changed in version 2 (its last source removed).
CHANGED_FILE = LEGUS_FILES[2]
RELEASE = "legus"
PHANGS_RELEASE = "phangs-test"
REFIT_FIELD = "ngc4248"
REFIT_LABEL = "browser-refit"
CROSSMATCH_RADII = ("0.08arcsec", "0.15arcsec")


@dataclass(frozen=True)
class BrowserDatabase:
    """The database and the facts the browser test checks against."""

    url: str
    #: a NGC 4248 source of ``legus`` v2 with both SED fits (opened on the source page)
    source_pk: int
    #: SED method names of ``legus`` v2 (the LEGUS fit and the refit)
    sed_methods: tuple[str, ...]
    #: stored cross-match run ids
    crossmatch_runs: tuple[int, ...]


def _bench_dashboard():  # noqa: ANN202 - the bench/dashboard.py module
    spec = importlib.util.spec_from_file_location(
        "clustercat_bench_dashboard", PROJECT_ROOT / "bench" / "dashboard.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up here
    spec.loader.exec_module(module)
    return module


def _cli(url: str, *args: str) -> str:
    """Run ``clustercat --database URL ARGS`` in-process; its output, or AssertionError."""
    from clustercat.__main__ import main

    result = CliRunner().invoke(main, ["--database", url, *args])
    assert result.exit_code == 0, f"clustercat {' '.join(args)}:\n{result.output}"
    return result.output


def build_browser_database(url: str, folder: Path, legus_dir: Path) -> BrowserDatabase:
    """Migrate ``url`` and load the releases, SED fits and cross-matches described above."""
    migrate.upgrade(url)
    files = [legus_dir / name for name in LEGUS_FILES]
    _cli(url, "ingest", "legus", *map(str, files), "--release", RELEASE)
    changed = folder / "legus_v2" / CHANGED_FILE
    changed.parent.mkdir(parents=True, exist_ok=True)
    lines = (legus_dir / CHANGED_FILE).read_text().splitlines(keepends=True)
    changed.write_text("".join(lines[:-1]))
    v2_files = [changed if f.name == CHANGED_FILE else f for f in files]
    _cli(url, "ingest", "legus", *map(str, v2_files), "--release", RELEASE, "--new-version")
    starcnet = legus_dir / "starcnet_ml_predictions_ngc1566.tab"
    _cli(url, "ingest", "starcnet", str(starcnet), "--release", "starcnet-ngc1566",
         "--catalogue", RELEASE)  # fmt: skip

    engine = make_engine(url)
    try:
        _bench_dashboard().ingest_phangs_synthetic(
            engine, folder, 3000, release=PHANGS_RELEASE, legus_release=RELEASE, seed=7
        )
        _cli(url, "ssp", "build", "bc03")
        _cli(url, "process", "sed", "--release", RELEASE, "--model", "bc03",
             "--field", REFIT_FIELD, "--label", REFIT_LABEL)  # fmt: skip
        for radius in CROSSMATCH_RADII:
            _cli(url, "crossmatch", f"{RELEASE}:ngc1566", f"{PHANGS_RELEASE}:ngc1566",
                 "--radius", radius, "--class-method-a", "LEGUS human mode",
                 "--class-method-b", "PHANGS-HST human")  # fmt: skip
        with engine.connect() as conn:
            versions = conn.execute(
                text("SELECT version, status FROM catalogue_release WHERE name = :n "
                     "ORDER BY version"), {"n": RELEASE},
            ).all()  # fmt: skip
            assert [tuple(v) for v in versions] == [(1, "superseded"), (2, "complete")]
            sed_methods = tuple(
                conn.execute(
                    text("SELECT DISTINCT method FROM sed_results WHERE release = :n "
                         "ORDER BY method"), {"n": RELEASE},
                ).scalars()
            )  # fmt: skip
            assert len(sed_methods) == 2, sed_methods
            source_pk = conn.execute(
                text("SELECT source_pk FROM sed_results WHERE release = :n AND field = :f "
                     "GROUP BY source_pk HAVING count(DISTINCT method) = 2 "
                     "ORDER BY source_pk LIMIT 1"), {"n": RELEASE, "f": REFIT_FIELD},
            ).scalar_one()  # fmt: skip
            runs = tuple(conn.execute(text("SELECT id FROM crossmatch_run ORDER BY id")).scalars())
            assert len(runs) == len(CROSSMATCH_RADII), runs
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(text("COMMIT"))
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return BrowserDatabase(url, int(source_pk), sed_methods, runs)
