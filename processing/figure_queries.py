"""SQL over the collaborator views that returns the rows behind a dashboard figure.

Each function returns ``(sql, params)``: one SELECT over the documented views
(``source_classes_all``, ``cluster_catalogue_all``, ``sed_results_all``,
``crossmatch_pairs_all``) with named scalar parameters (``:name``; lists are spelled out as
``:release_id_0, :release_id_1``), that gives the same rows, with the views' column names, as
the figure's download. The dashboard shows it beside the download, for collaborators to rerun
in psql or Python, and the browser test runs it and compares row for row. The dashboard itself
reads its rows through :mod:`.catalogue_io` and :mod:`.readers_sed` (single-view statements
joined in pandas, which PostgreSQL plans well even without statistics); these joins are the
plain statement of the same selection.

Rules repeated here, as the Python code applies them: the absolute-magnitude cut M_V < limit
is m_V - 5 log10(d / 10 pc) < limit with d = ``distance_mpc`` x 10^6 pc, no extinction
(Whitmore et al. 2021 §5; strict, sources without V or distance left out); SED ages and
masses come from one SED method of ``sed_results`` (``is_default`` for each release's
default, the one ``cluster_catalogue`` shows).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ABS_MAG_SQL",
    "class_pairs_query",
    "crossmatch_class_pairs_query",
    "crossmatch_pairs_query",
    "function_sample_query",
]

#: M_V of a ``cluster_catalogue`` row ``c`` (no extinction): m_V - 5 log10(d / 10 pc).
ABS_MAG_SQL = "c.mag_v - 5 * log10(c.distance_mpc * 100000.0)"


def _in_list(column: str, name: str, values: Sequence[object], params: dict) -> str:
    """``column IN (:name_0, :name_1, ...)`` with the values added to ``params``."""
    names = []
    for i, value in enumerate(values):
        params[f"{name}_{i}"] = value
        names.append(f":{name}_{i}")
    return f"{column} IN ({', '.join(names) or 'NULL'})"


def _methods(alias: str, methods: Sequence[tuple[str, str]], params: dict) -> str:
    parts = []
    for i, (name, version) in enumerate(methods):
        params[f"method_{i}"], params[f"method_version_{i}"] = name, str(version)
        parts.append(
            f"({alias}.method = :method_{i} AND {alias}.method_version = :method_version_{i})"
        )
    return "(" + (" OR ".join(parts) or "1 = 0") + ")"


def _mv_cut(mv_limit: float | None, params: dict) -> str:
    if mv_limit is None:
        return ""
    params["mv_limit"] = float(mv_limit)
    return f"\n  AND {ABS_MAG_SQL} < :mv_limit"


def function_sample_query(
    release_ids: Sequence[int],
    methods: Sequence[tuple[str, str]],
    classes: Sequence[int],
    *,
    galaxy: str | None = None,
    sed_method: str | None = None,
    mv_limit: float | None = None,
) -> tuple[str, dict[str, object]]:
    """The sample of the mass and age functions (W21 §7): sources of the releases that a
    classification method (``(name, version)``) puts in ``classes``, with the age and mass of
    SED method ``sed_method`` (None: each release's default) and M_V < ``mv_limit``.

    Columns: ``galaxy, field, source_id, source_pk, log_age, log_mass, class, method``.
    """
    params: dict[str, object] = {}
    sed = "s.method = :sed_method" if sed_method is not None else "s.is_default"
    if sed_method is not None:
        params["sed_method"] = sed_method
    where = [
        _in_list("k.release_id", "release_id", [int(r) for r in release_ids], params),
        _methods("k", methods, params),
        f'k."class" IN ({", ".join(str(int(c)) for c in classes)})',
        "s.log_age IS NOT NULL AND s.log_mass IS NOT NULL",
    ]
    if galaxy is not None:
        where.append("k.galaxy = :galaxy")
        params["galaxy"] = galaxy
    sql = (
        'SELECT k.galaxy, k.field, k.source_id, k.source_pk, s.log_age, s.log_mass, k."class",\n'
        "       k.method\n"
        "FROM source_classes_all k\n"
        f"JOIN sed_results_all s ON s.source_pk = k.source_pk AND {sed}\n"
        "JOIN cluster_catalogue_all c ON c.source_pk = k.source_pk\n"
        "WHERE " + "\n  AND ".join(where) + _mv_cut(mv_limit, params) + "\n"
        "ORDER BY k.method, k.source_pk"
    )
    return sql, params


def class_pairs_query(
    release_id: int,
    method_a: tuple[str, str],
    method_b: tuple[str, str],
    *,
    galaxy: str | None = None,
    mv_limit: float | None = None,
) -> tuple[str, dict[str, object]]:
    """Sources of one release classified by both methods (W21 §4 "intersection"), with
    M_V < ``mv_limit``. Columns: ``galaxy, field, source_id, source_pk, class_a, class_b,
    mag_v``."""
    params: dict[str, object] = {
        "release_id": int(release_id),
        "method_a": method_a[0], "method_a_version": str(method_a[1]),
        "method_b": method_b[0], "method_b_version": str(method_b[1]),
    }  # fmt: skip
    where = ["a.release_id = :release_id", "a.method = :method_a",
             "a.method_version = :method_a_version"]  # fmt: skip
    if galaxy is not None:
        where.append("a.galaxy = :galaxy")
        params["galaxy"] = galaxy
    sql = (
        'SELECT a.galaxy, a.field, a.source_id, a.source_pk, a."class" AS class_a,\n'
        '       b."class" AS class_b, c.mag_v\n'
        "FROM source_classes_all a\n"
        "JOIN source_classes_all b ON b.source_pk = a.source_pk AND b.method = :method_b\n"
        "  AND b.method_version = :method_b_version\n"
        "JOIN cluster_catalogue_all c ON c.source_pk = a.source_pk\n"
        "WHERE " + "\n  AND ".join(where) + _mv_cut(mv_limit, params) + "\n"
        "ORDER BY a.source_pk"
    )
    return sql, params


def _sides(swapped: bool) -> tuple[str, str]:
    """The view's side letters that play A and B (a run stored the other way round: b, a)."""
    return ("b", "a") if swapped else ("a", "b")


def crossmatch_class_pairs_query(
    run_id: int,
    method_a: tuple[str, str],
    method_b: tuple[str, str],
    *,
    swapped: bool = False,
    galaxy: str | None = None,
    mv_limit: float | None = None,
) -> tuple[str, dict[str, object]]:
    """One-to-one pairs of a stored cross-match run classified by ``method_a`` on side A and
    ``method_b`` on side B (``swapped``: the run stored A as its side b), with M_V of A's
    source < ``mv_limit``. Columns: ``galaxy, source_pk_a, source_pk_b, source_id_a,
    source_id_b, class_a, class_b, mag_v`` (V of A)."""
    a, b = _sides(swapped)
    params: dict[str, object] = {
        "run_id": int(run_id),
        "method_a": method_a[0], "method_a_version": str(method_a[1]),
        "method_b": method_b[0], "method_b_version": str(method_b[1]),
    }  # fmt: skip
    where = ["p.run_id = :run_id", "p.is_best"]
    if galaxy is not None:
        where.append("p.galaxy = :galaxy")
        params["galaxy"] = galaxy
    sql = (
        f"SELECT p.galaxy, p.source_pk_{a} AS source_pk_a, p.source_pk_{b} AS source_pk_b,\n"
        f"       p.source_id_{a} AS source_id_a, p.source_id_{b} AS source_id_b,\n"
        '       ka."class" AS class_a, kb."class" AS class_b, c.mag_v\n'
        "FROM crossmatch_pairs_all p\n"
        f"JOIN source_classes_all ka ON ka.source_pk = p.source_pk_{a} "
        "AND ka.method = :method_a\n  AND ka.method_version = :method_a_version\n"
        f"JOIN source_classes_all kb ON kb.source_pk = p.source_pk_{b} "
        "AND kb.method = :method_b\n  AND kb.method_version = :method_b_version\n"
        f"JOIN cluster_catalogue_all c ON c.source_pk = p.source_pk_{a}\n"
        "WHERE " + "\n  AND ".join(where) + _mv_cut(mv_limit, params) + "\n"
        "ORDER BY source_pk_a"
    )
    return sql, params


#: Columns of :func:`crossmatch_pairs_query` (the ``crossmatch_pairs`` view's names).
CROSSMATCH_PAIR_COLUMNS: tuple[str, ...] = (
    "galaxy", "outcome", "is_best", "separation_arcsec", "source_pk_a", "source_pk_b",
    "source_id_a", "source_id_b", "field_a", "field_b", "ra_a", "dec_a", "ra_b", "dec_b",
    "mag_v_a", "mag_v_b",
)  # fmt: skip


def crossmatch_pairs_query(
    run_id: int,
    *,
    swapped: bool = False,
    galaxy: str | None = None,
    best_only: bool = True,
    classes: bool = False,
) -> tuple[str, dict[str, object]]:
    """Rows of a stored cross-match run (``crossmatch_pairs_all``) as seen from A and B
    (``swapped``: the run stored A as its side b, so the view's ``_b`` columns are A's):
    the one-to-one pairs (``best_only``) or every row, of ``galaxy`` (the view's galaxy: of
    side A, else B). Columns :data:`CROSSMATCH_PAIR_COLUMNS`, and with ``classes`` the run's
    own ``class_a``, ``class_b``."""
    a, b = _sides(swapped)
    swap = {"a": a, "b": b}
    columns = []
    for name in CROSSMATCH_PAIR_COLUMNS + (("class_a", "class_b") if classes else ()):
        side = name[-1] if name[-2:] in ("_a", "_b") else None
        if side is None:
            columns.append(f"p.{name}")
        else:
            columns.append(f"p.{name[:-1]}{swap[side]} AS {name}")
    params: dict[str, object] = {"run_id": int(run_id)}
    where = ["p.run_id = :run_id"]
    if best_only:
        where.append("p.is_best")
    if galaxy is not None:
        where.append("p.galaxy = :galaxy")
        params["galaxy"] = galaxy
    sql = (
        "SELECT " + ",\n       ".join(columns) + "\n"
        "FROM crossmatch_pairs_all p\n"
        "WHERE " + "\n  AND ".join(where) + "\n"
        "ORDER BY source_pk_a, source_pk_b"
    )
    return sql, params


# --- the Overview chart and the colour-colour / quality figures (W21 §5, Table 2) ---------


def class_counts_query(
    release_ids: Sequence[int], method: tuple[str, str], *, galaxy: str | None = None
) -> tuple[str, dict[str, object]]:
    """Sources per release, galaxy and class under one classification method
    (``(name, version)``): the Overview chart, one bar per release and galaxy. Columns:
    ``release, release_version, galaxy, method, method_version, class, n_sources``."""
    params: dict[str, object] = {"method": method[0], "method_version": str(method[1])}
    where = [
        _in_list("s.release_id", "release_id", [int(r) for r in release_ids], params),
        "s.method = :method",
        "s.method_version = :method_version",
        's."class" IS NOT NULL',
    ]
    if galaxy is not None:
        where.append("s.galaxy = :galaxy")
        params["galaxy"] = galaxy
    sql = (
        "SELECT s.release, s.release_version, s.galaxy, s.method, s.method_version,\n"
        '       s."class", s.n_sources\n'
        "FROM release_summary_all s\n"
        "WHERE " + "\n  AND ".join(where) + "\n"
        'ORDER BY s.galaxy, s.release, s.release_version, s."class"'
    )
    return sql, params


#: The colours of the colour-colour planes: name -> (blue band, red band) of ``cluster_catalogue``.
COLOUR_BANDS: dict[str, tuple[str, str]] = {
    "v_minus_i": ("v", "i"),
    "u_minus_b": ("u", "b"),
    "nuv_minus_b": ("nuv", "b"),
}


def colour_points_columns(y: str, errors: bool = True) -> tuple[str, ...]:
    """Columns of :func:`colour_points_query` for the plane ``y`` vs V-I (``errors``: with
    the magnitudes' errors)."""
    bands = dict.fromkeys((COLOUR_BANDS[y][0], "b", "v", "i"))
    suffixes = ("", "_err") if errors else ("",)
    mags = tuple(f"mag_{b}{e}" for b in bands for e in suffixes)
    return ("release", "release_version", "galaxy", "field", "source_id", "source_pk",
            "method", "method_version", "class", "filter_b", "filter_v", *mags,
            "v_minus_i", y)  # fmt: skip


def colour_points_query(
    panels: Sequence[tuple[int, str, str]],
    y: str = "u_minus_b",
    *,
    classes: Sequence[int] | None = None,
    galaxy: str | None = None,
    mv_limit: float | None = None,
    errors: bool = True,
) -> tuple[str, dict[str, object]]:
    """Points of a colour-colour diagram (W21 §5, Figs. 9-14): one row per source and panel
    (``(release_id, method name, method version)``) whose method puts it in ``classes`` (all
    when None), with M_V < ``mv_limit`` and both colours measured: V-I and ``y``
    (``u_minus_b`` or ``nuv_minus_b``, mag). Columns :func:`colour_points_columns`."""
    params: dict[str, object] = {}
    parts = []
    for i, (release_id, name, version) in enumerate(panels):
        params[f"release_id_{i}"] = int(release_id)
        params[f"method_{i}"], params[f"method_version_{i}"] = name, str(version)
        parts.append(f"(k.release_id = :release_id_{i} AND k.method = :method_{i} "
                     f"AND k.method_version = :method_version_{i})")  # fmt: skip
    blue, red = COLOUR_BANDS[y]
    where = ["(" + ("\n       OR ".join(parts) or "1 = 0") + ")"]
    if classes is not None:
        where.append(f'k."class" IN ({", ".join(str(int(c)) for c in classes)})')
    where += [f"c.mag_{b} IS NOT NULL" for b in dict.fromkeys(("v", "i", blue, red))]
    if galaxy is not None:
        where.append("c.galaxy = :galaxy")
        params["galaxy"] = galaxy
    columns = [
        f"c.{c}" if c not in ("method", "method_version", "class") else f'k."{c}"'
        for c in colour_points_columns(y, errors)[:-2]
    ]
    sql = (
        "SELECT " + ", ".join(columns) + ",\n"
        f"       c.mag_v - c.mag_i AS v_minus_i, c.mag_{blue} - c.mag_{red} AS {y}\n"
        "FROM source_classes_all k\n"
        "JOIN cluster_catalogue_all c ON c.source_pk = k.source_pk\n"
        "WHERE " + "\n  AND ".join(where) + _mv_cut(mv_limit, params) + "\n"
        "ORDER BY c.source_pk, k.method, k.method_version"
    )
    return sql, params


__all__ += ["class_counts_query", "colour_points_columns", "colour_points_query"]
