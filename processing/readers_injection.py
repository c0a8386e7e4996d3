"""Reading injection runs and their trials (issue 11), for the command line and the dashboard.

Completeness in one quantity is the ``injection_completeness`` view
(:func:`clustercat.processing.injection_db.completeness_table`). Completeness per age *and*
quantity bin, and the measured concentration indices of the recovered trials, need the
trials themselves, which no view shows: they are read from the tables ``injection_run`` and
``injection_trial``, binned exactly as the view bins (floor(x / width) * width, binomial
errors sqrt(p (1 - p) / n)). Only complete runs are read.
"""

from __future__ import annotations

import pandas as pd
from clustercat.schema.injection import COMPLETENESS_BINS
from sqlalchemy import Connection, Engine

from .catalogue_io import read_frame

__all__ = ["completeness_by_age", "injection_fingerprint", "read_injection_runs", "recovered_mci"]


def injection_fingerprint(bind: Engine | Connection) -> tuple:
    """Fingerprint of the complete injection runs and completeness models (cache keys)."""
    row = read_frame(
        bind,
        "SELECT (SELECT count(*) FROM injection_run WHERE status = 'complete') AS n, "
        "(SELECT max(id) FROM injection_run WHERE status = 'complete') AS r, "
        "(SELECT count(*) FROM ml_model WHERE task = 'completeness') AS m, "
        "(SELECT max(id) FROM ml_model WHERE task = 'completeness') AS mm",
    )
    return tuple(str(v) for v in row.iloc[0])


def read_injection_runs(bind: Engine | Connection, galaxy: str | None = None) -> pd.DataFrame:
    """Complete injection runs (of ``galaxy``'s fields): ``run_id, field, galaxy, grid,
    n_trials, n_frame_sets, completed_at``, newest first."""
    where = "" if galaxy is None else "AND g.name = :galaxy"
    return read_frame(
        bind,
        f"""
        SELECT r.id AS run_id, f.name AS field, g.name AS galaxy, r.grid,
               (SELECT count(*) FROM injection_trial t WHERE t.run_id = r.id) AS n_trials,
               (SELECT count(DISTINCT t.frame_set) FROM injection_trial t
                 WHERE t.run_id = r.id) AS n_frame_sets,
               r.completed_at
        FROM injection_run r
        JOIN field f ON f.id = r.field_id
        JOIN galaxy g ON g.id = f.galaxy_id
        WHERE r.status = 'complete' {where}
        ORDER BY r.id DESC
        """,
        {} if galaxy is None else {"galaxy": galaxy},
    )


def completeness_by_age(
    bind: Engine | Connection, run_id: int, quantity: str, age_width: float
) -> pd.DataFrame:
    """Recovered / injected of a complete run per (log-age bin, ``quantity`` bin).

    ``quantity`` is one of the view's (``mag_v``, ``log_mass``, ...), binned with the view's
    width (:data:`clustercat.schema.injection.COMPLETENESS_BINS`); log age in bins of
    ``age_width`` dex. Columns: ``age_low, bin_low, n_injected, n_recovered, completeness,
    completeness_err``.
    """
    if quantity not in COMPLETENESS_BINS or quantity == "log_age":
        raise ValueError(f"no completeness curves against {quantity!r}")
    column, width, _ = COMPLETENESS_BINS[quantity]
    age_width = float(age_width)
    n = "CAST(count(*) AS DOUBLE PRECISION)"
    k = "CAST(sum(CASE WHEN t.recovered THEN 1 ELSE 0 END) AS DOUBLE PRECISION)"
    return read_frame(
        bind,
        f"""
        SELECT floor(t.log_age / {age_width}) * {age_width} AS age_low,
               floor(t.{column} / {width}) * {width} AS bin_low,
               count(*) AS n_injected,
               sum(CASE WHEN t.recovered THEN 1 ELSE 0 END) AS n_recovered,
               {k} / {n} AS completeness,
               sqrt({k} * ({n} - {k}) / {n}) / {n} AS completeness_err
        FROM injection_trial t JOIN injection_run r ON r.id = t.run_id AND r.status = 'complete'
        WHERE t.run_id = :r AND t.{column} IS NOT NULL AND t.log_age IS NOT NULL
        GROUP BY floor(t.log_age / {age_width}) * {age_width},
                 floor(t.{column} / {width}) * {width}
        ORDER BY age_low, bin_low
        """,
        {"r": int(run_id)},
        floats=("age_low", "bin_low", "completeness", "completeness_err"),
    )  # fmt: skip


def recovered_mci(bind: Engine | Connection, run_id: int) -> pd.DataFrame:
    """Measured MCI_in, MCI_out of a run's recovered trials (table ``injection_trial``)."""
    return read_frame(
        bind,
        "SELECT mci_in_out AS mci_in, mci_out_out AS mci_out FROM injection_trial "
        "WHERE run_id = :r AND recovered AND mci_in_out IS NOT NULL AND mci_out_out IS NOT NULL",
        {"r": int(run_id)},
        floats=("mci_in", "mci_out"),
    )
