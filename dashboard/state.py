"""The sidebar selection and its mirror in the URL query string.

Every selection widget is bound to a query parameter (Streamlit's ``bind="query-params"``),
so a view is shared by copying its URL: ``/colours?rel=legus+v1&gal=NGC+1566&meth=...``.
The sidebar lives in the entry script, so its parameters survive page switches; a page's
own widgets (method pair, radius, ...) are bound too and last while the page is shown.
Values that are no longer offered (a release label of a link shared before a new version was
ingested, a galaxy of a release just deselected, a method that classified nothing there) are
dropped before the widget is drawn, with a warning naming each dropped value and what is shown
instead, so a stale URL never raises and never changes the view silently.

Defaults: the newest complete version of ONE release, every galaxy, and the methods that cover
the selection best (:meth:`~clustercat.dashboard.data.Context.default_methods`: the methods
that classified sources in the most of its galaxies, most sources first). While the methods
are left at their default they follow the galaxy: choosing NGC 1566 offers StarcNet there.

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


def _url_values(key: str) -> list[str]:
    """The raw values of query parameter ``key`` (a shared link's, before any widget)."""
    try:
        return [str(v) for v in st.query_params.get_all(key)]
    except Exception:  # noqa: BLE001 - no URL outside a browser session
        return []


def _warn_dropped(what: str, dropped: Sequence[Any], instead: str, hint: str = "") -> None:
    """Say which values of a (shared) selection no longer exist, and what is shown instead."""
    if not dropped:
        return
    names = ", ".join(f"'{v}'" for v in dict.fromkeys(map(str, dropped)))
    st.warning(
        f"{what}: {names} is not available here (no longer in the database, or not offered "
        f"with this selection), so it was dropped; showing {instead} instead.{hint}",
        icon=":material/link_off:",
    )


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
    hint: Callable[[list[str]], str] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """A multiselect bound to the query string, robust to options that changed: values no
    longer offered are dropped with a warning (:func:`_warn_dropped`; ``hint`` adds a word on
    the dropped values)."""
    options = list(options)
    offered = {str(o) for o in options}
    dropped = [v for v in _url_values(key) if v not in offered]
    held = st.session_state.get(key) or []
    dropped += [v for v in held if v not in options]
    if _sanitised(key, lambda v: [x for x in (v or []) if x in options]):
        kept = st.session_state[key]
        _warn_dropped(label, dropped, ", ".join(map(str, kept)) or "nothing",
                      hint(dropped) if hint and dropped else "")  # fmt: skip
        return container.multiselect(label, options, key=key, bind="query-params", **kwargs)
    default = [d for d in default if d in options]
    kept = [v for v in options if v in set(_url_values(key))] or default
    _warn_dropped(label, dropped, ", ".join(map(str, kept)) or "nothing",
                  hint(dropped) if hint and dropped else "")  # fmt: skip
    return container.multiselect(
        label, options, default=default, key=key, bind="query-params", **kwargs,
    )  # fmt: skip


def selectbox(
    container: Any,
    label: str,
    options: Sequence[Any],
    default: Any,
    key: str,
    **kwargs: Any,
) -> Any:
    """A selectbox bound to the query string, robust to options that changed: a value no
    longer offered is replaced by the default with a warning (:func:`_warn_dropped`)."""
    options = list(options)
    if not options:
        return None
    fallback = default if default in options else options[0]
    offered = {str(o) for o in options}
    dropped = [v for v in _url_values(key) if v not in offered]
    if key in st.session_state and st.session_state[key] not in options:
        dropped.append(st.session_state[key])
    _warn_dropped(label, dropped, str(fallback))
    if _sanitised(key, lambda v: v if v in options else fallback):
        return container.selectbox(label, options, key=key, bind="query-params", **kwargs)
    return container.selectbox(
        label, options, index=options.index(fallback), key=key, bind="query-params", **kwargs
    )


def _follow_default(key: str, default: list[Any]) -> None:
    """Keep a widget left at its default on the new default (the methods follow the galaxy);
    a value the user chose is kept."""
    memo = f"_default_{key}"
    previous = st.session_state.get(memo)
    if previous is not None and key in st.session_state and st.session_state[key] == previous:
        st.session_state[key] = list(default)
    st.session_state[memo] = list(default)


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
    superseded_labels = set(ctx.visible["label"]) - set(labels)

    def _superseded_hint(dropped: list[str]) -> str:
        old = sorted(set(dropped) & superseded_labels)
        if not old:
            return ""
        return (f" {', '.join(old)}: a superseded version, offered when 'Offer superseded "
                "versions' is ticked.")  # fmt: skip

    releases = multiselect(
        side,
        "Release(s)",
        labels,
        newest[:DEFAULT_RELEASES],
        "rel",
        hint=_superseded_hint,
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
    default_methods = ctx.default_methods(release_ids, galaxy, DEFAULT_METHODS)
    _follow_default("meth", default_methods)
    methods = multiselect(
        side,
        "Classification method(s)",
        table["method"].tolist(),
        default_methods,
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
