"""The sidebar selection and its mirror in the URL query string.

Every selection widget is bound to a query parameter (Streamlit's ``bind="query-params"``),
so a view is shared by copying its URL: ``/colours?rel=legus+v1&gal=NGC+1566&meth=...``.
The sidebar lives in the entry script, so its parameters survive page switches; a page's
own widgets (method pair, radius, ...) are bound too and last while the page is shown.
Values that are no longer offered (a galaxy of a release just deselected) are dropped
before the widget is drawn, so a stale URL never raises.

Query parameters: ``old`` (offer superseded versions too), ``rel`` (releases, repeated),
``gal`` (galaxy), ``meth`` (methods, repeated), ``cls`` (class set), ``mvcut`` (apply the M_V
cut), ``mv`` (M_V limit, mag). The release picker offers the newest complete version of each
release name and selects one of them by default; superseded versions (still readable through
the ``_all`` views) are offered only when ``old`` is ticked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st
from clustercat.processing.colour_boxes import CLASS_SETS
from sqlalchemy.engine import make_url

from .data import Context, Scope

ALL_GALAXIES = "All galaxies"
DEFAULT_MV_LIMIT = -7.8  # W21 Table 2 sample
DEFAULT_METHODS = 4  # W21 compares four methods
DEFAULT_RELEASES = 1  # the newest complete version of one release
_SESSION_KEY = "_clustercat_selection"


@dataclass(frozen=True)
class Selection:
    """What a page needs: the database URL and token, the context and the sidebar scope."""

    url: str
    token: tuple
    context: Context
    scope: Scope

    @property
    def release_labels(self) -> list[str]:
        return [self.context.label(r) for r in self.scope.release_ids]


def _sanitised(key: str, valid: Callable[[Any], Any]) -> bool:
    """Fix the widget value in session state; True when it already exists there."""
    if key not in st.session_state:
        return False
    st.session_state[key] = valid(st.session_state[key])
    return True


def multiselect(
    container: Any,
    label: str,
    options: Sequence[Any],
    default: Sequence[Any],
    key: str,
    **kwargs: Any,
) -> list[Any]:
    """A multiselect bound to the query string, robust to options that changed."""
    options = list(options)
    if _sanitised(key, lambda v: [x for x in (v or []) if x in options]):
        return container.multiselect(label, options, key=key, bind="query-params", **kwargs)
    return container.multiselect(
        label, options, default=[d for d in default if d in options], key=key,
        bind="query-params", **kwargs,
    )  # fmt: skip


def selectbox(
    container: Any,
    label: str,
    options: Sequence[Any],
    default: Any,
    key: str,
    **kwargs: Any,
) -> Any:
    """A selectbox bound to the query string, robust to options that changed."""
    options = list(options)
    if not options:
        return None
    fallback = default if default in options else options[0]
    if _sanitised(key, lambda v: v if v in options else fallback):
        return container.selectbox(label, options, key=key, bind="query-params", **kwargs)
    return container.selectbox(
        label, options, index=options.index(fallback), key=key, bind="query-params", **kwargs
    )


def sidebar(url: str, token: tuple, ctx: Context) -> Selection:
    """Draw the sidebar (releases, galaxy, methods, class set, M_V limit); keep the result."""
    side = st.sidebar
    superseded = side.checkbox(
        "Offer superseded versions", value=False, key="old", bind="query-params",
        help="Older versions of a release, replaced by a newer complete one (still readable "
        "through the _all views). Off: only the newest complete version of each release.",
    )  # fmt: skip
    shown = ctx.offered(superseded)
    labels = shown["label"].tolist()
    newest = ctx.shown["label"].tolist()
    releases = multiselect(
        side,
        "Release(s)",
        labels,
        newest[:DEFAULT_RELEASES],
        "rel",
        help="Catalogue releases to show. Several releases are compared side by side "
        "(PHANGS-HST vs LEGUS, or two versions of one survey).",
    )
    release_ids = tuple(
        int(shown.loc[shown["label"] == lbl, "release_id"].iloc[0]) for lbl in releases
    )
    galaxy = selectbox(
        side,
        "Galaxy",
        [ALL_GALAXIES, *ctx.galaxies(release_ids)],
        ALL_GALAXIES,
        "gal",
    )
    galaxy = None if galaxy in (None, ALL_GALAXIES) else galaxy
    table = ctx.method_table(release_ids, galaxy)
    counts = dict(zip(table["method"], table["n"], strict=True))
    kinds = dict(zip(table["method"], table["kind"], strict=True))
    methods = multiselect(
        side,
        "Classification method(s)",
        table["method"].tolist(),
        table["method"].tolist()[:DEFAULT_METHODS],
        "meth",
        help="Each method gets its own panel. Classified sources: "
        + "; ".join(f"{m} ({kinds[m]}) {counts[m]:,}" for m in table["method"]),
    )
    class_set = selectbox(
        side,
        "Class set (1, 2, 1+2, 3, 4)",
        list(CLASS_SETS),
        "1+2",
        "cls",
        help="Classes 1 symmetric and 2 asymmetric clusters, 3 compact associations, 4 not "
        "clusters. Whitmore et al. 2021: Class 1+2 is the standard cluster sample.",
    )
    cut = side.checkbox("Absolute-magnitude limit", value=True, key="mvcut", bind="query-params")
    mv = side.number_input(
        "M_V brighter than (mag)",
        min_value=-20.0,
        max_value=0.0,
        value=DEFAULT_MV_LIMIT,
        step=0.1,
        format="%.1f",
        key="mv",
        bind="query-params",
        disabled=not cut,
        help="M_V = m_V − distance modulus, no extinction (W21 Table 2 uses M_V < −7.8).",
    )
    scope = Scope(
        release_ids=release_ids,
        galaxy=galaxy,
        methods=tuple(methods),
        class_set=class_set or "1+2",
        mv_limit=float(mv) if cut else None,
    )
    side.divider()
    side.caption(f"Database: `{make_url(url).render_as_string(hide_password=True)}`")
    selection = Selection(url=url, token=token, context=ctx, scope=scope)
    st.session_state[_SESSION_KEY] = selection
    return selection


def current() -> Selection:
    """The selection the entry script stored for this run."""
    return st.session_state[_SESSION_KEY]
