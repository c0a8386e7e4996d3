"""Reading SED fits through the ``sed_results_all`` view, for the command line and the dashboard.

A release can hold several SED methods (its catalogue's own fits, and refits such as
``clustercat process sed --label ...``); ``cluster_catalogue`` shows only the release's default
one. These readers list the methods with fits and read one method's ages and masses, so that
a mass or age function (Whitmore et al. 2021 §7) can be drawn with any of them. Units are the
view's: ``log_age`` log10(yr), ``log_mass`` log10(Msun).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from .catalogue_io import id_list, read_frame

__all__ = ["read_sed_coverage", "read_sed_methods", "read_sed_values", "sed_methods_of"]


def read_sed_coverage(bind: Engine | Connection, release_ids: Sequence[int]) -> pd.DataFrame:
    """SED methods with fits of the releases, per galaxy: what a method selector offers.

    Columns: ``release_id``, ``galaxy``, ``method_id``, ``method`` (name), ``is_default``
    (the method ``cluster_catalogue`` shows) and ``n`` (sources with both an age and a
    mass). One pass over ``sed_results_all``; :func:`read_sed_methods` sums it.
    """
    frame = read_frame(
        bind,
        "SELECT s.release_id, s.galaxy, s.method_id, s.method, s.is_default, count(*) AS n "
        "FROM sed_results_all s WHERE s.release_id IN :rels AND s.log_age IS NOT NULL "
        "AND s.log_mass IS NOT NULL "
        "GROUP BY s.release_id, s.galaxy, s.method_id, s.method, s.is_default",
        {"rels": id_list(release_ids)},
    )
    if frame.empty:
        return pd.DataFrame(
            {"release_id": pd.Series(dtype=np.int64), "galaxy": pd.Series(dtype=object),
             "method_id": pd.Series(dtype=np.int64), "method": pd.Series(dtype=object),
             "is_default": pd.Series(dtype=bool), "n": pd.Series(dtype=np.int64)}
        )  # fmt: skip
    frame = frame.astype({"release_id": np.int64, "method_id": np.int64, "n": np.int64})
    frame["is_default"] = frame["is_default"].fillna(False).astype(bool)
    return frame


def sed_methods_of(coverage: pd.DataFrame, galaxy: str | None = None) -> pd.DataFrame:
    """:func:`read_sed_coverage` rows summed over galaxies (only ``galaxy``'s when given):
    ``release_id, method_id, method, is_default, n``, by release, defaults first, then by
    ``n`` (largest first)."""
    rows = coverage if galaxy is None else coverage[coverage["galaxy"] == galaxy]
    keys = ["release_id", "method_id", "method", "is_default"]
    frame = rows.groupby(keys, as_index=False)["n"].sum()
    frame["n"] = frame["n"].astype(np.int64)
    order = frame.assign(_ord=~frame["is_default"]).sort_values(
        ["release_id", "_ord", "n", "method"], ascending=[True, True, False, True]
    )
    return order.drop(columns="_ord").reset_index(drop=True)


def read_sed_methods(
    bind: Engine | Connection, release_ids: Sequence[int], galaxy: str | None = None
) -> pd.DataFrame:
    """SED methods with fits of the releases (in ``galaxy``), the releases' defaults first.

    Columns: ``release_id``, ``method_id``, ``method`` (name), ``is_default`` (the method
    ``cluster_catalogue`` shows) and ``n`` (sources with both an age and a mass); ordered by
    release, defaults first, then by ``n`` (largest first).
    """
    return sed_methods_of(read_sed_coverage(bind, release_ids), galaxy)


def read_sed_values(
    bind: Engine | Connection,
    release_id: int,
    method: str,
    galaxies: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Age and mass of one SED method (by name) for the sources of a release it fitted.

    Columns: ``source_pk``, ``log_age`` (log yr), ``log_mass`` (log Msun); one row per
    source, NULL fits left out.
    """
    params: dict = {"r": int(release_id), "m": str(method)}
    where = ""
    if galaxies:
        where = " AND s.galaxy IN :galaxies"
        params["galaxies"] = list(galaxies)
    frame = read_frame(
        bind,
        "SELECT s.source_pk, s.log_age, s.log_mass FROM sed_results_all s "
        "WHERE s.release_id = :r AND s.method = :m AND s.log_age IS NOT NULL "
        f"AND s.log_mass IS NOT NULL{where}",
        params,
        floats=("log_age", "log_mass"),
    )
    frame["source_pk"] = frame["source_pk"].astype(np.int64)
    return frame.drop_duplicates("source_pk").reset_index(drop=True)
