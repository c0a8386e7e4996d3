"""Small Streamlit helpers shared by the pages: guards with clear messages, notices, figures."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from clustercat.schema.export import frame_table, table_text

from .state import Selection

#: A figure as the pages build it, or as the figure caches return it (``Figure.to_dict()``).
FigureLike = go.Figure | dict[str, object]

#: Plotly options: no logo, PNG export at print resolution.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def require_releases(sel: Selection) -> None:
    """Stop the page with a message when the database or the selection has no release."""
    ctx = sel.context
    if ctx.releases.empty:
        st.info(
            "The database holds no catalogue release yet. Load one with "
            "`clustercat ingest legus DIR --release NAME`, or run `clustercat demo`."
        )
        st.stop()
    if ctx.shown.empty:
        st.info(
            "No complete release with sources: every release is still loading, failed, or "
            "only attaches classifications to another release. See the Overview page."
        )
        st.stop()
    if not sel.scope.release_ids:
        st.info("Choose at least one release in the sidebar.")
        st.stop()


def require_methods(sel: Selection, minimum: int = 1) -> None:
    """Stop with a message unless the selection has ``minimum`` method panels."""
    keys = sel.context.keys(sel.scope)
    if sel.context.method_table(sel.scope.release_ids, sel.scope.galaxy).empty:
        where = sel.scope.galaxy or "these releases"
        st.info(f"No source of {where} is classified: this page needs classifications.")
        st.stop()
    if len(keys) < minimum:
        st.info(
            f"This page compares at least {minimum} classification method(s): choose them "
            "in the sidebar."
        )
        st.stop()


def notices(messages: Sequence[str]) -> None:
    for m in messages:
        st.info(m)


def chart(fig: FigureLike, key: str | None = None) -> None:
    st.plotly_chart(fig, theme=None, config=PLOTLY_CONFIG, key=key)


#: The source page (``app_pages/source.py``), opened with ``?src=<source_pk>``.
SOURCE_PAGE = "app_pages/source.py"


def clicked_source(event: object) -> int | None:
    """The ``source_pk`` of the point clicked in a plotly selection event, or None.

    Points carry :data:`clustercat.dashboard.plots.SOURCE_POINT_COLUMNS` as ``customdata``
    (the key first); traces without them (tracks, boxes) are ignored.
    """
    selection = getattr(event, "selection", None) or (
        event.get("selection") if isinstance(event, dict) else None
    )
    points = (selection or {}).get("points") or []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, list | tuple) and custom:
            custom = custom[0]
        try:
            return int(custom)
        except (TypeError, ValueError):
            continue
    return None


def source_chart(fig: FigureLike, key: str) -> None:
    """A chart whose source points open the source page when clicked (plotly selection).

    A click on the source already shown (``?src=`` of the source page) does nothing: its
    selection outlives the page switch there, and would switch again on every rerun.
    """
    event = st.plotly_chart(fig, theme=None, config=PLOTLY_CONFIG, key=key, on_select="rerun",
                            selection_mode=("points",))  # fmt: skip
    source_pk = clicked_source(event)
    if source_pk is not None and st.query_params.get("src") != str(source_pk):
        st.switch_page(SOURCE_PAGE, query_params={"src": str(source_pk)})


def downloads(
    rows: pd.DataFrame,
    name: str,
    *,
    view: str | None = None,
    units: dict[str, str] | None = None,
    key: str | None = None,
    sql: str | None = None,
    params: dict[str, object] | None = None,
) -> None:
    """CSV and ECSV (with units) downloads of exactly ``rows``: the data behind a figure.

    Columns keep the names of the documented views (``view``: their units and meanings come
    from its column comments, :func:`clustercat.schema.export.frame_table`); ``units`` names
    the unit of derived columns (``{"v_minus_i": "colour V - I (mag)"}``). ``sql`` (with
    bound ``params``) is a query over the views that returns the same rows: shown under the
    buttons for collaborators to rerun, and kept in the ECSV header (``SQL``, ``SQL_PARAMS``),
    where ``tests/test_dashboard_browser.py`` runs it and compares. The files are built only
    when a button is pressed (Streamlit's deferred ``data`` callable).
    """
    key = key or name
    meta: dict[str, object] = {"FIGURE": name}
    if sql is not None:
        meta["SQL"] = " ".join(sql.split())
        meta["SQL_PARAMS"] = json.dumps(params or {}, sort_keys=True, default=str)

    def _text(fmt: str) -> Callable[[], str]:
        return lambda: table_text(frame_table(rows, view, units=units, meta=meta), fmt)

    left, right, third, _ = st.columns([1, 1, 1, 3])
    for column, fmt, mime in ((left, "csv", "text/csv"), (right, "ecsv", "text/plain")):
        column.download_button(
            f"{fmt.upper()} ({len(rows):,} rows)", _text(fmt), file_name=f"{name}.{fmt}",
            mime=mime, key=f"download-{key}-{fmt}", on_click="ignore",
            help="the rows this figure draws" + (" (ECSV: with units)" if fmt == "ecsv" else ""),
        )  # fmt: skip
    if sql is not None:
        with third.popover("SQL", help="the same rows from the views, for psql or Python"):
            st.code(sql.strip(), language="sql")
            if params:
                st.caption("Parameters: " + ", ".join(f":{k} = {v!r}" for k, v in params.items()))


def figure(
    fig: FigureLike,
    rows: pd.DataFrame,
    name: str,
    *,
    view: str | None = None,
    units: dict[str, str] | None = None,
    key: str | None = None,
    sql: str | None = None,
    params: dict[str, object] | None = None,
    clickable: bool = False,
) -> None:
    """A chart followed by the downloads of the rows it draws (:func:`downloads`);
    ``clickable``: its source points open the source page (:func:`source_chart`)."""
    if clickable:
        source_chart(fig, key=key or name)
    else:
        chart(fig, key=key)
    downloads(rows, name, view=view, units=units, key=key, sql=sql, params=params)


def scope_caption(sel: Selection) -> str:
    s = sel.scope
    mv = "no magnitude cut" if s.mv_limit is None else f"M_V < {s.mv_limit:.1f} mag"
    where = s.galaxy or "all galaxies"
    return f"{', '.join(sel.release_labels)} · {where} · Class {s.class_set} · {mv}"
