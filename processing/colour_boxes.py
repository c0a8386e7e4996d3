"""Colour-colour age boxes, box counts, Quality Ratio and figure of merit (Whitmore et al. 2021).

Pure functions: numpy arrays / pandas frames in, numbers out. No database code.

References (Whitmore et al. 2021, arXiv:2107.13049; "W21" below):

* §5, text: the four U-B vs V-I age boxes (Box 1 old > 1 Gyr ... Box 4 very young < 10 Myr).
  All inequalities are strict, so a point exactly on an edge belongs to no box.
* Table 2 notes: the same boxes, except Box 3 starts at V-I > 0.1 instead of 0.2. Both
  versions are provided (:data:`WHITMORE2021_BOXES` follows the text, the default;
  :data:`WHITMORE2021_BOXES_TABLE2_NOTES` follows the table notes).
* §5.5 and Table 2 note c: Quality Ratio QR = std(counts of the four methods) / sqrt(mean count),
  only for box rows where every method has at least 12 objects. The std is the sample standard
  deviation (ddof = 1): that is the only choice that reproduces every printed QR.
* §5.5 and Fig. 18: figure of merit = each method's count divided by the row mean over methods,
  summarised per method as mean +/- standard deviation over the eligible rows (Class 4 excluded).
* Table 2: sample limited to M_V < -7.8 mag, with M_V = m_V - mu and mu the pure distance modulus
  (no foreground-extinction term: W21 quotes m_V = 23.44 for M_V = -7.8 at 17.7 Mpc).

Not provided as data, because W21 gives no numbers for them: boxes in NUV-B vs V-I, and the
"box appropriate for old globular clusters" drawn in Fig. 10 (NUV-B vs V-I; the caption names it,
the paper never states its limits). :class:`ColourBox` takes any polygon, so that box can be added
once its vertices come from a source; nothing here invents them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import Distance
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CLASS_SETS",
    "QR_CLASS_SETS",
    "QR_MIN_COUNT",
    "WHITMORE2021_BOXES",
    "WHITMORE2021_BOXES_TABLE2_NOTES",
    "ColourBox",
    "absolute_magnitude",
    "apparent_magnitude_limit",
    "assign_box",
    "box_counts",
    "figure_of_merit",
    "quality_ratio",
    "quality_ratio_is_good",
]

#: Class sets of W21 Table 2 (label -> classes). "1+2" is the "standard sample" (§4.1).
CLASS_SETS: dict[str, tuple[int, ...]] = {
    "1": (1,),
    "2": (2,),
    "1+2": (1, 2),
    "3": (3,),
    "4": (4,),
}

#: Class sets entering the QR tally and the figure of merit (W21 §5.5: Class 4 is excluded).
QR_CLASS_SETS: tuple[str, ...] = ("1", "2", "3", "1+2")

#: Minimum count per method for a QR to be defined (W21 §5.5 "12 or more"; Table 2 bears this out).
QR_MIN_COUNT: int = 12


@dataclass(frozen=True)
class ColourBox:
    """A region of a colour-colour diagram, as a closed polygon.

    ``vertices`` are ``(x, y)`` pairs in magnitudes, x being the horizontal colour (e.g. V-I)
    and y the vertical one (e.g. U-B); the polygon closes itself. Membership is strict: points
    on an edge are outside (W21 §5 uses strict inequalities throughout).
    """

    number: int
    label: str
    x_colour: str
    y_colour: str
    vertices: tuple[tuple[float, float], ...]
    reference: str

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Boolean mask of points strictly inside the polygon (NaN -> False)."""
        return _strictly_inside_polygon(
            np.asarray(x, dtype=float), np.asarray(y, dtype=float), self.vertices
        )


def _rectangle(
    x_lo: float, x_hi: float, y_lo: float, y_hi: float
) -> tuple[tuple[float, float], ...]:
    return ((x_lo, y_lo), (x_hi, y_lo), (x_hi, y_hi), (x_lo, y_hi))


_W21_TEXT = "Whitmore et al. 2021, §5 (box definitions) and Figs. 9, 11-14"
_W21_NOTES = "Whitmore et al. 2021, Table 2 notes"

#: The four U-B vs V-I age boxes exactly as defined in the text of W21 §5 (Box 3: 0.2 < V-I).
WHITMORE2021_BOXES: tuple[ColourBox, ...] = (
    ColourBox(1, "old (> 1 Gyr)", "V-I", "U-B", _rectangle(0.95, 1.5, -0.4, 1.0), _W21_TEXT),
    ColourBox(
        2, "intermediate (0.1-1 Gyr)", "V-I", "U-B", _rectangle(0.2, 0.95, -0.4, 1.0), _W21_TEXT
    ),
    ColourBox(3, "young (10-100 Myr)", "V-I", "U-B", _rectangle(0.2, 0.95, -1.1, -0.4), _W21_TEXT),
    ColourBox(
        4, "very young (< 10 Myr)", "V-I", "U-B", _rectangle(-0.6, 0.95, -1.8, -1.1), _W21_TEXT
    ),
)

#: The same boxes as printed in the W21 Table 2 notes, where Box 3 starts at V-I = 0.1.
WHITMORE2021_BOXES_TABLE2_NOTES: tuple[ColourBox, ...] = (
    *(
        ColourBox(b.number, b.label, b.x_colour, b.y_colour, b.vertices, _W21_NOTES)
        for b in WHITMORE2021_BOXES[:2]
    ),
    ColourBox(3, "young (10-100 Myr)", "V-I", "U-B", _rectangle(0.1, 0.95, -1.1, -0.4), _W21_NOTES),
    ColourBox(4, "very young (< 10 Myr)", "V-I", "U-B", WHITMORE2021_BOXES[3].vertices, _W21_NOTES),
)


def _strictly_inside_polygon(
    x: NDArray[np.float64], y: NDArray[np.float64], vertices: Sequence[tuple[float, float]]
) -> NDArray[np.bool_]:
    """Even-odd ray casting, vectorised over points, with points on any edge excluded."""
    x, y = np.broadcast_arrays(x, y)
    inside = np.zeros(x.shape, dtype=bool)
    on_edge = np.zeros(x.shape, dtype=bool)
    n = len(vertices)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(n):  # loop over the few polygon edges, never over sources
            xi, yi = vertices[k]
            xj, yj = vertices[(k + 1) % n]
            crosses = (yi > y) != (yj > y)
            x_at_y = (xj - xi) * (y - yi) / (yj - yi) + xi
            inside ^= crosses & (x < x_at_y)
            cross = (xj - xi) * (y - yi) - (yj - yi) * (x - xi)
            on_edge |= (
                (cross == 0)
                & (x >= min(xi, xj))
                & (x <= max(xi, xj))
                & (y >= min(yi, yj))
                & (y <= max(yi, yj))
            )
    return inside & ~on_edge


def assign_box(
    v_minus_i: ArrayLike,
    u_minus_b: ArrayLike,
    boxes: Sequence[ColourBox] = WHITMORE2021_BOXES,
) -> NDArray[np.int64]:
    """Box number of every point (0 = in no box), W21 §5.

    ``v_minus_i`` is the horizontal colour and ``u_minus_b`` the vertical one; any colour pair
    works if ``boxes`` are defined in it. NaN colours give 0. If boxes overlapped, the first
    box in ``boxes`` would win (the W21 boxes only share edges, which belong to none).
    """
    x = np.asarray(v_minus_i, dtype=float)
    y = np.asarray(u_minus_b, dtype=float)
    x, y = np.broadcast_arrays(x, y)
    out = np.zeros(x.shape, dtype=np.int64)
    for box in boxes:
        out = np.where((out == 0) & box.contains(x, y), box.number, out)
    return out


def _distance_quantity(distance: u.Quantity | float | ArrayLike) -> Distance:
    if isinstance(distance, u.Quantity):
        return Distance(distance)
    return Distance(np.asarray(distance, dtype=float), unit=u.Mpc)


def absolute_magnitude(
    apparent_mag: ArrayLike | u.Quantity, distance: u.Quantity | float | ArrayLike
) -> NDArray[np.float64]:
    """M = m - mu with mu = 5 log10(d / 10 pc) (astropy ``Distance.distmod``), in mag.

    ``distance`` is a length Quantity, or plain numbers taken as Mpc; scalar or one per source.
    No extinction term, as in W21 (M_V = -7.8 <-> m_V = 23.44 at 17.7 Mpc).
    """
    m = u.Quantity(apparent_mag, u.mag).to_value(u.mag)
    mu = _distance_quantity(distance).distmod.to_value(u.mag)
    return np.asarray(m - mu, dtype=float)


def apparent_magnitude_limit(
    absolute_limit: float | u.Quantity, distance: u.Quantity | float | ArrayLike
) -> NDArray[np.float64] | float:
    """Apparent magnitude equivalent to an absolute-magnitude limit: m = M + mu (mag)."""
    big_m = u.Quantity(absolute_limit, u.mag).to_value(u.mag)
    mu = _distance_quantity(distance).distmod.to_value(u.mag)
    out = big_m + mu
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)


def box_counts(
    frame: pd.DataFrame,
    *,
    x_colour: tuple[str, str],
    y_colour: tuple[str, str],
    mag_column: str,
    distance: u.Quantity | float | ArrayLike,
    abs_mag_limit: float = -7.8,
    method_column: str = "method",
    class_column: str = "class",
    methods: Sequence[str] | None = None,
    class_sets: Mapping[str, Sequence[int]] = CLASS_SETS,
    boxes: Sequence[ColourBox] = WHITMORE2021_BOXES,
    include_outside: bool = False,
) -> pd.DataFrame:
    """Counts per class set x box (rows) and method (columns), as in W21 Table 2.

    ``frame`` is long: one row per (source, method) with the method's class and the source's
    magnitudes (W21 uses the same photometry for every method). Colours are differences of
    magnitude columns: ``x_colour=(blue, red)`` gives ``frame[blue] - frame[red]``; for the W21
    diagram that is V-I = (F555W, F814W) and U-B = (F336W, F438W). Sources are kept when
    M < ``abs_mag_limit`` (strict), M computed from ``frame[mag_column]`` and ``distance``
    (Quantity or Mpc; scalar or per row). Rows with NaN colours fall in box 0 and are
    only counted when ``include_outside`` is true.
    """
    mags = frame[mag_column].to_numpy(dtype=float)
    bright = absolute_magnitude(mags, distance) < abs_mag_limit
    xc = frame[x_colour[0]].to_numpy(dtype=float) - frame[x_colour[1]].to_numpy(dtype=float)
    yc = frame[y_colour[0]].to_numpy(dtype=float) - frame[y_colour[1]].to_numpy(dtype=float)
    box = assign_box(xc, yc, boxes)

    method_values = frame[method_column].to_numpy()
    if methods is None:
        methods = list(pd.unique(method_values))
    box_numbers = [b.number for b in boxes]
    if include_outside:
        box_numbers = [0, *box_numbers]

    box_pos = pd.Index(box_numbers).get_indexer(box)
    known_box = box_pos >= 0
    method_pos = pd.Index(list(methods)).get_indexer(method_values)
    known_method = method_pos >= 0
    n_box, n_method = len(box_numbers), len(methods)

    classes = frame[class_column].to_numpy()
    blocks = []
    for members in class_sets.values():  # loop over the few class sets, not over sources
        keep = bright & known_box & known_method & np.isin(classes, list(members))
        flat = box_pos[keep] * n_method + method_pos[keep]
        blocks.append(np.bincount(flat, minlength=n_box * n_method).reshape(n_box, n_method))
    out = pd.DataFrame(
        np.vstack(blocks),
        index=pd.MultiIndex.from_product(
            [list(class_sets), box_numbers], names=["class_set", "box"]
        ),
        columns=pd.Index(list(methods), name="method"),
    )
    return out.astype(np.int64)


def quality_ratio(
    counts: ArrayLike | pd.DataFrame, min_count: int = QR_MIN_COUNT
) -> float | NDArray[np.float64] | pd.Series:
    """Quality Ratio QR = std(ddof=1) / sqrt(mean) over methods (W21 §5.5, Table 2 note c).

    ``counts``: 1-D (one box row, one value per method) or 2-D (rows x methods; a DataFrame
    gives a Series). QR is NaN unless every method has at least ``min_count`` objects.
    """
    if isinstance(counts, pd.DataFrame):
        values = quality_ratio(counts.to_numpy(dtype=float), min_count)
        return pd.Series(values, index=counts.index, name="qr")
    c = np.asarray(counts, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        qr = np.std(c, axis=-1, ddof=1) / np.sqrt(np.mean(c, axis=-1))
    eligible = np.all(c >= min_count, axis=-1)
    qr = np.where(eligible, qr, np.nan)
    return float(qr) if qr.ndim == 0 else qr


def quality_ratio_is_good(
    qr: ArrayLike, threshold: float = 1.0, decimals: int | None = 1
) -> NDArray[np.bool_]:
    """True where QR is "good" (W21 §5.5: "1.0 or lower"); NaN -> False.

    W21 compares the QR as printed, i.e. rounded to one decimal (NGC 3627 Class 3/Box 3 has
    raw QR 1.03, printed 1.0 and counted good); ``decimals=None`` compares the raw value.
    """
    q = np.asarray(qr, dtype=float)
    if decimals is not None:
        q = np.round(q, decimals)
    with np.errstate(invalid="ignore"):
        return np.asarray(q <= threshold)


def figure_of_merit(counts: pd.DataFrame, min_count: int = QR_MIN_COUNT) -> pd.DataFrame:
    """Normalised figure of merit per method (W21 §5.5, Fig. 18).

    ``counts`` has one row per (galaxy, class set, box) and one column per method; pass only the
    class sets the paper uses (:data:`QR_CLASS_SETS`, i.e. no Class 4). Rows where any method has
    fewer than ``min_count`` objects are dropped; each remaining count is divided by its row's
    mean over methods. Returns per method: ``mean`` and ``std`` (sample std, ddof = 1, over rows:
    W21 quotes "mean values and standard deviation values"; ddof = 0 would give RESNET 0.13
    instead of the printed 0.14) and ``n_rows``.
    """
    c = counts.to_numpy(dtype=float)
    eligible = np.all(c >= min_count, axis=1)
    normalised = c[eligible] / c[eligible].mean(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "mean": normalised.mean(axis=0),
            "std": normalised.std(axis=0, ddof=1),
            "n_rows": np.full(c.shape[1], int(eligible.sum())),
        },
        index=pd.Index(counts.columns, name="method"),
    )
