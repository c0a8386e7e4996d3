"""``clustercat crossmatch`` and ``clustercat analyse``: catalogue science from the command line.

Two click objects for ``__main__`` to register: :data:`crossmatch_cmd` (a command) and
:data:`analyse_group` (``colour-boxes``, ``agreement``, ``functions``, ``ml-uncertainty``).
They print tidy tables with rich, or plain CSV on stdout with ``--csv``. The database is
the root command's ``--database`` / ``CLUSTERCAT_DATABASE_URL`` (``ctx.obj["database"]``).

Exit status: 0 success; 2 bad usage or a name that is not in the database; 1 otherwise.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import astropy.units as u
import click
import numpy as np
import pandas as pd
from clustercat.schema.cli import engine_from_context
from clustercat.schema.sky import parse_offset, parse_pixel_scale, parse_radius
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from . import analyses
from .catalogue_io import CatalogueLookupError
from .crossmatch_db import MATCH_METHODS, PRIMARY, Q3cUnavailableError, run_crossmatch

__all__ = ["analyse_group", "crossmatch_cmd"]

EXIT_USAGE = 2


def _console() -> Console:
    width = shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160
    return Console(width=max(width, 100), highlight=False)


def _format(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        v = float(value)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.0f}"
    return str(value)


def print_frame(frame: pd.DataFrame, title: str | None = None, as_csv: bool = False) -> None:
    """A frame as a rich table, or as plain CSV (no index) on stdout."""
    if as_csv:
        click.echo(frame.to_csv(index=False), nl=False)
        return
    table = Table(title=title, title_justify="left")
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name].dtype)
        table.add_column(str(name), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):  # printing: one line per row is the point
        table.add_row(*(_format(v) for v in row))
    _console().print(table)


def _run(ctx: click.Context, action: Callable[[Engine], None]) -> None:
    """Run ``action`` on an engine; turn known user errors into messages and exit 2."""
    engine = engine_from_context(ctx)
    try:
        action(engine)
    except (CatalogueLookupError, Q3cUnavailableError, ValueError, u.UnitsError) as exc:
        if ctx.find_root().params.get("verbose"):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        engine.dispose()


def _quantity(value: str | None, unit: u.UnitBase) -> u.Quantity | None:
    """``"200Myr"``, ``"5e3"`` (taken in ``unit``), ``"5e3 solMass"`` -> Quantity in ``unit``."""
    if value is None or not str(value).strip():
        return None
    try:
        q = u.Quantity(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {value!r} as a quantity") from exc
    if q.unit == u.dimensionless_unscaled:
        q = q.value * unit
    try:
        return q.to(unit)
    except u.UnitConversionError as exc:
        raise click.BadParameter(f"{value!r} is not convertible to {unit}") from exc


def _classes(value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(c) for c in value.replace("+", ",").split(",") if c.strip())
    except ValueError as exc:
        raise click.BadParameter(f"classes are integers like 1,2 or 1+2, not {value!r}") from exc
    if not out or any(c not in (1, 2, 3, 4) for c in out):
        raise click.BadParameter(f"classes are among 1, 2, 3, 4, not {value!r}")
    return out


# --- clustercat crossmatch ------------------------------------------------------------------


@click.command("crossmatch")
@click.argument("side_a", metavar="A")
@click.argument("side_b", metavar="B")
@click.option(
    "--radius",
    "-r",
    required=True,
    help="Match radius with a unit: 0.1arcsec, 1e-5deg, 0.01arcmin, or 2pix with --pixel-scale.",
)
@click.option(
    "--pixel-scale",
    metavar="SCALE",
    help="Pixel scale for a radius in pixels: arcsec/pix (0.0396) or with unit (0.0396arcsec/pix).",
)
@click.option(
    "--offset",
    metavar="DRA,DDEC",
    help="Astrometric offset added to A before matching, arcsec: dRA*cos(Dec),dDec.",
)
@click.option(
    "--method",
    type=click.Choice(MATCH_METHODS),
    default="kdtree",
    show_default=True,
    help="Candidate search: in Python (numpy cell grid), or q3c_join on PostgreSQL "
    "(identical pairs).",
)
@click.option(
    "--class-method-a",
    default=PRIMARY,
    show_default=True,
    help="Classification method whose class side A compares ('primary': the class column its "
    "files name as primary; 'none': no classes).",
)
@click.option("--class-method-b", default=PRIMARY, show_default=True, help="The same for B.")
@click.option("--classified-only", is_flag=True, help="Match only sources with a class.")
@click.option(
    "--rule",
    type=click.Choice(["greedy", "mutual"]),
    default="greedy",
    show_default=True,
    help="One-to-one rule (processing.crossmatch.one_to_one).",
)
@click.option(
    "--detection-lists",
    is_flag=True,
    help="The sides list every detection: unmatched inside the footprint = not detected.",
)
@click.option("--dry-run", is_flag=True, help="Match and print, but store nothing.")
@click.option("--csv", "as_csv", is_flag=True, help="Plain CSV on stdout.")
@click.pass_context
def crossmatch_cmd(
    ctx: click.Context,
    side_a: str,
    side_b: str,
    radius: str,
    pixel_scale: str | None,
    offset: str | None,
    method: str,
    class_method_a: str,
    class_method_b: str,
    classified_only: bool,
    rule: str,
    detection_lists: bool,
    dry_run: bool,
    as_csv: bool,
) -> None:  # fmt: skip
    """One-to-one positional cross-match of A with B, stored as a crossmatch run.

    A and B are release names, optionally RELEASE:FIELD, e.g.

        clustercat crossmatch legus:ngc628c legus:ngc628e --radius 0.1arcsec

    Prints the number of one-to-one pairs and the count of every outcome (same_class,
    other_class, matched, double, unmatched_outside_footprint, unmatched_not_candidate,
    unmatched_not_detected, unmatched); see processing/crossmatch_db.py for their meaning.
    """

    def action(engine: Engine) -> None:
        scale = None if pixel_scale is None else parse_pixel_scale(pixel_scale)
        radius_q = radius if scale is None else parse_radius(radius, scale)
        parse_offset(offset)  # fail early on a bad offset
        match = run_crossmatch(
            engine, side_a, side_b, radius_q, store=not dry_run, pixel_scale=scale,
            offset=offset, method=method, class_method_a=class_method_a,
            class_method_b=class_method_b, classified_only=classified_only, rule=rule,
            detection_lists=detection_lists,
        )  # fmt: skip
        counts = match.counts
        r_arcsec = float(match.radius.to_value(u.arcsec))
        if as_csv:
            frame = pd.DataFrame(
                {
                    "run_id": match.run_id,
                    "side_a": match.side_a.label,
                    "side_b": match.side_b.label,
                    "radius_arcsec": r_arcsec,
                    "method": match.method,
                    "n_pairs": match.n_pairs,
                    "outcome": counts.index,
                    "n": counts.to_numpy(),
                }
            )
            print_frame(frame, as_csv=True)
            return
        console = _console()
        ca = match.class_method_a.name if match.class_method_a else "none"
        cb = match.class_method_b.name if match.class_method_b else "none"
        console.print(
            f"{match.side_a.label} ({len(match.sources_a)} sources, class: {ca}) x "
            f"{match.side_b.label} ({len(match.sources_b)} sources, class: {cb}) within "
            f"{r_arcsec:g} arcsec, {match.method}, {rule}"
        )
        console.print(f"one-to-one pairs: {match.n_pairs}")
        print_frame(counts.rename_axis("outcome").reset_index(), title="outcomes (rows per source)")
        if match.run_id is not None:
            console.print(f"stored as crossmatch_run {match.run_id}")
        else:
            console.print("dry run: nothing stored")

    _run(ctx, action)


# --- clustercat analyse ---------------------------------------------------------------------

release_option = click.option(
    "--release", "-r", required=True, help="Release name (newest complete version)."
)
galaxy_option = click.option(
    "--galaxy", "-g", "galaxies", multiple=True, help="Galaxy, e.g. 'NGC 628' (repeatable)."
)
field_option = click.option(
    "--field", "-f", "fields", multiple=True, help="Field, e.g. ngc628c (repeatable)."
)
csv_option = click.option("--csv", "as_csv", is_flag=True, help="Plain CSV on stdout.")


@click.group("analyse")
def analyse_group() -> None:
    """Colour-colour boxes, classification agreement, mass and age functions of a release.

    Tables are tidy (one row per observation); --csv prints them as plain CSV.
    """


@analyse_group.command("colour-boxes")
@release_option
@galaxy_option
@field_option
@click.option(
    "--method",
    "-m",
    "methods",
    multiple=True,
    help="Classification method (repeatable; default: every method of the release).",
)
@click.option(
    "--colour",
    "y_colour",
    type=click.Choice(["U-B", "NUV-B"]),
    default="U-B",
    show_default=True,
    help="Vertical colour (W21 defines boxes in U-B only).",
)
@click.option(
    "--abs-mag-limit",
    type=float,
    default=-7.8,
    show_default=True,
    help="Keep M_V brighter than this (mag), from the galaxy distance.",
)
@click.option(
    "--table",
    "which",
    type=click.Choice(["counts", "quality", "merit", "points"]),
    default="counts",
    show_default=True,
    help="counts per box; QR per box (W21 Table 2); figure of merit (Fig. 18); the points.",
)
@csv_option
@click.pass_context
def colour_boxes_cmd(
    ctx: click.Context,
    release: str,
    galaxies: tuple[str, ...],
    fields: tuple[str, ...],
    methods: tuple[str, ...],
    y_colour: str,
    abs_mag_limit: float,
    which: str,
    as_csv: bool,
) -> None:
    """Counts in the U-B vs V-I age boxes of Whitmore et al. 2021 §5 per galaxy, method, class.

    Example: clustercat analyse colour-boxes -r legus -g 'NGC 1566' -m 'LEGUS human mode'
    -m StarcNet --table quality
    """

    def action(engine: Engine) -> None:
        opts = {"methods": list(methods) or None, "galaxies": list(galaxies) or None,
                "fields": list(fields) or None, "y_colour": y_colour}  # fmt: skip
        if which == "points":
            frame = analyses.colour_colour_points(
                engine, release, abs_mag_limit=abs_mag_limit, **opts
            )
            print_frame(frame, f"colour-colour points, M_V < {abs_mag_limit}", as_csv)
            return
        counts = analyses.colour_box_counts(engine, release, abs_mag_limit=abs_mag_limit, **opts)
        if which == "counts":
            print_frame(counts, f"colour-box counts, M_V < {abs_mag_limit}", as_csv)
        elif which == "quality":
            print_frame(analyses.colour_box_quality(counts), "Quality Ratio (W21 §5.5)", as_csv)
        else:
            merit = analyses.colour_box_figure_of_merit(counts)
            print_frame(merit, "figure of merit (W21 Fig. 18)", as_csv)

    _run(ctx, action)


@analyse_group.command("agreement")
@release_option
@click.option("--method-a", "-a", required=True, help="First classification method.")
@click.option("--method-b", "-b", required=True, help="Second classification method.")
@galaxy_option
@field_option
@click.option("--mag-v-max", type=float, help="Keep sources with apparent m_V < this (mag).")
@click.option("--abs-mag-limit", type=float, help="Keep M_V < this (mag).")
@click.option(
    "--table",
    "which",
    type=click.Choice(["agreement", "confusion"]),
    default="agreement",
    show_default=True,
    help="Agreement fractions (W21 Table 1) or confusion matrix (Fig. 21).",
)
@click.option(
    "--by",
    "covariate",
    type=click.Choice(["none", *analyses.COVARIATES]),
    default="none",
    show_default=True,
    help="Bin by magnitude, crowding or local background (W21 Figs. 6-8).",
)
@click.option("--bins", type=int, default=4, show_default=True, help="Equal-number bins.")
@click.option(
    "--crowding-radius",
    default="1arcsec",
    show_default=True,
    help="Radius of the neighbour count used as crowding.",
)
@click.option("--together", is_flag=True, help="All galaxies together instead of per galaxy.")
@csv_option
@click.pass_context
def agreement_cmd(
    ctx: click.Context,
    release: str,
    method_a: str,
    method_b: str,
    galaxies: tuple[str, ...],
    fields: tuple[str, ...],
    mag_v_max: float | None,
    abs_mag_limit: float | None,
    which: str,
    covariate: str,
    bins: int,
    crowding_radius: str,
    together: bool,
    as_csv: bool,
) -> None:
    """Agreement of two classification methods on the same sources (Whitmore et al. 2021 §4).

    Example: clustercat analyse agreement -r legus -a 'LEGUS human mode' -b StarcNet
    --table confusion
    """

    def action(engine: Engine) -> None:
        opts = {"galaxies": list(galaxies) or None, "fields": list(fields) or None,
                "mag_v_max": mag_v_max, "abs_mag_limit": abs_mag_limit,
                "by_galaxy": not together}  # fmt: skip
        if covariate == "none":
            fn = analyses.agreement if which == "agreement" else analyses.confusion
            frame = fn(engine, release, method_a, method_b, **opts)
        else:
            fn = (analyses.agreement_by_covariate if which == "agreement"
                  else analyses.confusion_by_covariate)  # fmt: skip
            radius = _quantity(crowding_radius, u.arcsec)
            frame = fn(engine, release, method_a, method_b, covariate=covariate, bins=bins,
                       crowding_radius=radius, **opts)  # fmt: skip
        title = f"{which}: {method_a} (A) vs {method_b} (B)"
        print_frame(frame, title + ("" if covariate == "none" else f" by {covariate}"), as_csv)

    _run(ctx, action)


def _read_completeness(path: Path) -> pd.Series:
    """Completeness per source from CSV: ``source_pk,completeness`` (or ``p``)."""
    frame = pd.read_csv(path)
    value = "completeness" if "completeness" in frame.columns else "p"
    if "source_pk" not in frame.columns or value not in frame.columns:
        raise click.BadParameter(f"{path} needs columns source_pk and completeness")
    return frame.set_index("source_pk")[value].astype(float)


def _completeness_option(engine: Engine, value: str | None):  # noqa: ANN202
    """``--completeness``: a CSV file, or a registered C-4 physical network (ml_model)."""
    if value is None:
        return None
    if Path(value).is_file():
        return _read_completeness(Path(value))
    from .completeness_db import CompletenessModelError, load_registered, source_completeness

    try:
        with engine.connect() as conn:
            return source_completeness(load_registered(conn, value))
    except (CompletenessModelError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--completeness") from None


@analyse_group.command("functions")
@release_option
@click.option(
    "--class-method", "-m", required=True, help="Method giving the class, e.g. 'LEGUS human mode'."
)
@click.option("--classes", default="1,2", show_default=True, help="Classes kept: 1,2 or 1+2 ...")
@click.option(
    "--kind",
    type=click.Choice(["mass", "age"]),
    default="mass",
    show_default=True,
    help="dN/dM (mass function) or dN/dtau (age function).",
)
@galaxy_option
@field_option
@click.option("--mass-min", help="Lower mass (Msun, or with unit), inclusive.")
@click.option("--mass-max", help="Upper mass (Msun), exclusive.")
@click.option("--age-min", help="Lower age (yr, or with unit: 1Myr), inclusive.")
@click.option("--age-max", help="Upper age (yr, or 200Myr), exclusive.")
@click.option("--fit-age-min", help="Age functions: fit bins with centre above this.")
@click.option("--fit-age-max", help="Age functions: fit bins with centre below this.")
@click.option(
    "--bins",
    "n_bins",
    type=int,
    help=f"Number of bins [mass: {analyses.MASS_FUNCTION_BINS}, "
    f"age: {analyses.AGE_FUNCTION_BINS}].",
)
@click.option(
    "--equal-number/--equal-width",
    default=None,
    help="Bins of equal numbers (W21 §7) or equal widths in log [mass: equal numbers, age: "
    "equal widths].",
)
@click.option(
    "--completeness",
    metavar="CSV|MODEL",
    help="CSV with source_pk,completeness (0-1), or a registered C-4 physical network "
    "(ml_model id or name: 1/p-hat weights, A_V marginalised): corrected counts and fits.",
)
@click.option(
    "--deduplicate",
    metavar="RADIUS",
    help="Drop later fields' sources matched to an earlier field within RADIUS (0.1arcsec).",
)
@click.option(
    "--table", "which", type=click.Choice(["fits", "bins"]), default="fits", show_default=True
)
@csv_option
@click.pass_context
def functions_cmd(
    ctx: click.Context,
    release: str,
    class_method: str,
    classes: str,
    kind: str,
    galaxies: tuple[str, ...],
    fields: tuple[str, ...],
    mass_min: str | None,
    mass_max: str | None,
    age_min: str | None,
    age_max: str | None,
    fit_age_min: str | None,
    fit_age_max: str | None,
    n_bins: int | None,
    equal_number: bool | None,
    completeness: str | None,
    deduplicate: str | None,
    which: str,
    as_csv: bool,
) -> None:
    """Mass or age function of a class set, with power-law slopes (Whitmore et al. 2021 §7).

    Example (NGC 628 clusters above 5000 Msun younger than 200 Myr):
    clustercat analyse functions -r legus -m 'LEGUS human mode' -g 'NGC 628'
    --mass-min 5e3 --age-max 200Myr
    """

    def action(engine: Engine) -> None:
        opts = {
            "classes": _classes(classes),
            "galaxies": list(galaxies) or None,
            "fields": list(fields) or None,
            "completeness": _completeness_option(engine, completeness),
            "deduplicate_radius": _quantity(deduplicate, u.arcsec),
        }
        # unset options keep the analyses' defaults (W21 §7), the dashboard's too
        if n_bins is not None:
            opts["n_bins"] = n_bins
        if equal_number is not None:
            opts["equal_number"] = equal_number
        masses = (_quantity(mass_min, u.Msun), _quantity(mass_max, u.Msun))
        ages = (_quantity(age_min, u.yr), _quantity(age_max, u.yr))
        if kind == "mass":
            tables = analyses.mass_function(
                engine, release, class_method, age_range=ages, mass_range=masses, **opts
            )
        else:
            if fit_age_min or fit_age_max:
                opts["fit_age_range"] = (_quantity(fit_age_min or "1", u.yr),
                                         _quantity(fit_age_max or "1e11", u.yr))  # fmt: skip
            if ages != (None, None):
                opts["age_range"] = ages
            tables = analyses.age_function(
                engine, release, class_method, mass_range=masses, **opts
            )  # fmt: skip
        frame = tables.fits if which == "fits" else tables.bins
        label = "dN/dM ∝ M^beta" if kind == "mass" else "dN/dtau ∝ tau^gamma"
        n_used = int(tables.sample["in_fit"].sum())
        print_frame(frame, f"{kind} function ({label}), {n_used} sources", as_csv)

    _run(ctx, action)


@analyse_group.command("ml-uncertainty")
@release_option
@click.option("--consensus", required=True, help="Mode-consensus method (lower limit).")
@click.option("--vgg", required=True, help="First network's method.")
@click.option("--resnet", required=True, help="Second network's method.")
@click.option("--classes", default="1,2", show_default=True, help="Classes counted.")
@galaxy_option
@click.option("--mag-v-max", type=float, help="Count only m_V < this (mag).")
@click.option("--by", type=click.Choice(["field", "galaxy"]), default="field", show_default=True)
@csv_option
@click.pass_context
def ml_uncertainty_cmd(
    ctx: click.Context,
    release: str,
    consensus: str,
    vgg: str,
    resnet: str,
    classes: str,
    galaxies: tuple[str, ...],
    mag_v_max: float | None,
    by: str,
    as_csv: bool,
) -> None:
    """Representative ML class 1+2 count and its uncertainty (Thilker et al. 2022 §6.3)."""

    def action(engine: Engine) -> None:
        frame = analyses.ml_count_uncertainty_table(
            engine, release, consensus, vgg, resnet, classes=_classes(classes),
            galaxies=list(galaxies) or None, mag_v_max=mag_v_max, by=by,
        )  # fmt: skip
        print_frame(frame, "ML count uncertainty (T22 §6.3)", as_csv)

    _run(ctx, action)
