"""Colour-colour boxes, Quality Ratio and figure of merit against Whitmore et al. 2021 (W21).

Pure tests: no database. The Table 2 counts below are the paper's published inputs, typed in
from the table (PH/LG/RS/VG per galaxy, then the printed QR or "-" where none is printed).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.processing.colour_boxes import (
    QR_CLASS_SETS,
    WHITMORE2021_BOXES,
    WHITMORE2021_BOXES_TABLE2_NOTES,
    ColourBox,
    absolute_magnitude,
    apparent_magnitude_limit,
    assign_box,
    box_counts,
    figure_of_merit,
    quality_ratio,
    quality_ratio_is_good,
)

METHODS = ["PH", "LG", "RS", "VG"]
GALAXIES = ["NGC 628", "NGC 1433", "NGC 1566", "NGC 3351", "NGC 3627"]

# W21 Table 2 (M_V < -7.8). One line per class/box; five cells (galaxies) separated by "|";
# each cell "PH/LG/RS/VG QR" with QR "-" where the paper prints none.
TABLE2 = """
1 1  |28/27/26/28 0.2 |24/21/24/22 0.3 |52/34/46/45 1.1 |16/14/17/18 0.4 |38/37/46/46 0.8
1 2  |15/13/18/18 0.6 |5/3/5/4 - |132/135/157/148 1.0 |0/0/1/0 - |98/104/113/114 0.7
1 3  |29/32/30/30 0.2 |7/11/11/8 - |84/84/82/76 0.4 |2/2/10/8 - |86/80/99/80 1.0
1 4  |12/8/10/8 - |7/13/4/3 - |23/25/18/16 0.9 |2/6/5/3 - |9/3/4/4 -
2 1  |0/0/0/0 - |2/1/0/0 - |11/11/0/4 - |1/0/0/0 - |12/7/3/6 -
2 2  |4/3/0/0 - |1/2/0/0 - |25/26/6/9 - |0/0/0/0 - |24/16/11/11 -
2 3  |15/13/6/10 - |10/9/2/4 - |73/85/34/45 3.1 |12/5/6/9 - |66/51/42/55 1.4
2 4  |34/35/20/21 1.5 |40/34/39/41 0.5 |110/127/89/101 1.5 |21/12/22/17 1.1 |16/19/18/13 0.7
3 1  |0/0/0/0 - |0/0/0/1 - |0/6/1/1 - |2/1/3/2 - |2/0/1/1 -
3 2  |1/0/0/1 - |1/1/1/3 - |6/8/6/9 - |0/1/2/1 - |3/1/1/3 -
3 3  |6/3/2/8 - |5/1/6/4 - |30/69/73/89 3.1 |4/2/7/8 - |27/26/36/37 1.0
3 4  |30/23/41/54 2.2 |36/37/58/62 2.0 |78/239/257/327 7.0 |7/5/9/19 - |19/17/24/28 1.1
4 1  |1/1/3/2 - |7/7/26/28 - |10/5/37/34 - |6/2/12/12 - |10/22/16/13 -
4 2  |15/2/25/24 - |11/25/61/60 - |35/20/94/95 - |7/1/9/11 - |21/36/32/30 -
4 3  |18/3/53/49 - |29/24/58/61 - |122/79/274/266 - |18/6/33/31 - |55/105/85/91 -
4 4  |44/17/100/97 - |53/30/93/98 - |145/116/400/363 - |15/6/18/21 - |30/54/47/51 -
1+2 1|28/27/26/28 0.2 |26/23/24/22 0.4 |63/45/46/50 1.2 |17/14/17/18 0.4 |50/44/49/52 0.5
1+2 2|19/16/18/18 0.3 |6/5/5/4 - |157/161/163/157 0.2 |0/1/0/0 - |122/120/124/125 0.2
1+2 3|44/40/36/40 0.5 |17/18/13/12 0.8 |157/138/116/121 1.6 |14/12/16/17 0.6 |152/131/141/136 0.8
1+2 4|46/43/30/29 1.4 |47/47/43/44 0.3 |133/152/107/117 1.7 |23/18/27/20 0.8 |25/22/22/17 0.7
"""


def table2() -> pd.DataFrame:
    """Table 2 as rows (galaxy, class set, box) x PH/LG/RS/VG, plus the printed QR."""
    records = []
    for line in TABLE2.strip().splitlines():
        head, *cells = line.split("|")
        class_set, box = head.split()
        for galaxy, cell in zip(GALAXIES, cells, strict=True):
            counts, qr = cell.split()
            records.append(
                {
                    "galaxy": galaxy,
                    "class_set": class_set,
                    "box": int(box),
                    **dict(zip(METHODS, map(int, counts.split("/")), strict=True)),
                    "printed_qr": np.nan if qr == "-" else float(qr),
                }
            )
    return pd.DataFrame.from_records(records).set_index(["galaxy", "class_set", "box"])


@pytest.fixture(scope="module")
def qr_rows() -> pd.DataFrame:
    t = table2()
    return t[t.index.get_level_values("class_set").isin(QR_CLASS_SETS)]


def test_table2_is_complete():
    t = table2()
    assert t.shape == (5 * 5 * 4, 5)
    assert t["printed_qr"].notna().sum() == 43


def test_every_printed_qr_is_reproduced(qr_rows):
    qr = quality_ratio(qr_rows[METHODS])
    printed = qr_rows["printed_qr"]
    # defined exactly where the paper prints a value (every method >= 12 objects) ...
    assert (qr.notna() == printed.notna()).all()
    # ... and equal to it at the printed precision (one decimal)
    has = printed.notna()
    np.testing.assert_allclose(np.round(qr[has], 1), printed[has], atol=1e-9)


def test_single_qr_values():
    # NGC 1566 Class 1/Box 1, printed 1.1: sample std 7.50 / sqrt(44.25) = 1.127 (ddof=0: 0.98)
    assert round(quality_ratio([52, 34, 46, 45]), 3) == 1.127
    assert round(quality_ratio([78, 239, 257, 327]), 2) == 7.01
    assert round(quality_ratio([17, 18, 13, 12]), 2) == 0.76  # a count of exactly 12 is eligible
    assert np.isnan(quality_ratio([12, 8, 10, 8]))
    assert np.isnan(quality_ratio([13, 40, 50, 11]))


def test_good_poor_split_28_15(qr_rows):
    qr = quality_ratio(qr_rows[METHODS]).to_numpy()
    defined = np.isfinite(qr)
    good = quality_ratio_is_good(qr)
    assert defined.sum() == 43
    assert good.sum() == 28
    assert (defined & ~good).sum() == 15
    # the paper compares the printed (rounded) QR: NGC 3627 Class 3/Box 3 is 1.03 -> 1.0 -> good
    assert (defined & ~quality_ratio_is_good(qr, decimals=None)).sum() == 16


def test_figure_of_merit_per_method(qr_rows):
    fom = figure_of_merit(qr_rows[METHODS])
    assert (fom["n_rows"] == 43).all()
    paper = {"PH": (1.01, 0.18), "LG": (0.97, 0.16), "RS": (1.00, 0.14), "VG": (1.02, 0.17)}
    for method, (mean, std) in paper.items():
        assert round(fom.loc[method, "mean"], 2) == mean
        assert round(fom.loc[method, "std"], 2) == std


def test_distance_modulus_conversion():
    # W21 §5.6: M_V < -7.8 is m_V = 23.44 for NGC 1566 (17.7 Mpc); 22.47 for NGC 3627 (11.3 Mpc)
    assert round(apparent_magnitude_limit(-7.8, 17.7 * u.Mpc), 2) == 23.44
    assert round(apparent_magnitude_limit(-7.8, 11.3), 2) == 22.47
    assert absolute_magnitude(23.5, 10.0 * u.Mpc) == pytest.approx(23.5 - 30.0)
    np.testing.assert_allclose(
        absolute_magnitude([20.0, 25.0], [10.0, 100.0] * u.Mpc), [-10.0, -10.0]
    )


# Points just inside / outside / on every edge of every box. x = V-I, y = U-B.
EDGE_CASES = [
    # Box 1: 0.95 < V-I < 1.5, -0.4 < U-B < 1.0
    (1.2, 0.0, 1),
    (0.96, 0.0, 1),
    (0.94, 0.0, 2),
    (0.95, 0.0, 0),
    (1.49, 0.0, 1),
    (1.51, 0.0, 0),
    (1.5, 0.0, 0),
    (1.2, 0.99, 1),
    (1.2, 1.01, 0),
    (1.2, 1.0, 0),
    (1.2, -0.39, 1),
    (1.2, -0.41, 0),
    (1.2, -0.4, 0),
    # Box 2: 0.2 < V-I < 0.95, -0.4 < U-B < 1.0
    (0.5, 0.0, 2),
    (0.21, 0.0, 2),
    (0.19, 0.0, 0),
    (0.2, 0.0, 0),
    (0.5, 0.99, 2),
    (0.5, 1.01, 0),
    (0.5, -0.39, 2),
    (0.5, -0.41, 3),
    (0.5, -0.4, 0),
    # Box 3: 0.2 < V-I < 0.95, -1.1 < U-B < -0.4
    (0.5, -0.7, 3),
    (0.21, -0.7, 3),
    (0.19, -0.7, 0),
    (0.2, -0.7, 0),
    (0.94, -0.7, 3),
    (0.96, -0.7, 0),
    (0.95, -0.7, 0),
    (0.5, -1.09, 3),
    (0.5, -1.11, 4),
    (0.5, -1.1, 0),
    # Box 4: -0.6 < V-I < 0.95, -1.8 < U-B < -1.1
    (0.0, -1.5, 4),
    (-0.59, -1.5, 4),
    (-0.61, -1.5, 0),
    (-0.6, -1.5, 0),
    (0.94, -1.5, 4),
    (0.96, -1.5, 0),
    (0.95, -1.5, 0),
    (0.0, -1.79, 4),
    (0.0, -1.81, 0),
    (0.0, -1.8, 0),
    (0.0, -1.09, 0),
    # missing colours
    (np.nan, 0.0, 0),
    (1.2, np.nan, 0),
]


@pytest.mark.parametrize(("v_minus_i", "u_minus_b", "expected"), EDGE_CASES)
def test_box_edges_text_definition(v_minus_i, u_minus_b, expected):
    assert assign_box(v_minus_i, u_minus_b) == expected


def test_box_assignment_vectorised_and_box3_variants():
    x = np.array([c[0] for c in EDGE_CASES])
    y = np.array([c[1] for c in EDGE_CASES])
    np.testing.assert_array_equal(assign_box(x, y), [c[2] for c in EDGE_CASES])
    # Box 3 lower V-I limit: 0.2 in the text (§5), 0.1 in the Table 2 notes
    assert assign_box(0.15, -0.7, WHITMORE2021_BOXES) == 0
    assert assign_box(0.15, -0.7, WHITMORE2021_BOXES_TABLE2_NOTES) == 3
    assert assign_box(0.1, -0.7, WHITMORE2021_BOXES_TABLE2_NOTES) == 0
    assert assign_box(0.15, 0.0, WHITMORE2021_BOXES_TABLE2_NOTES) == 0  # Box 2 unchanged


def test_general_polygon_box():
    triangle = ColourBox(7, "test", "x", "y", ((0.0, 0.0), (2.0, 0.0), (0.0, 2.0)), "test")
    x = np.array([0.5, 1.5, 1.0, 0.0, 1.0, -0.1])
    y = np.array([0.5, 1.5, 0.0, 1.0, 1.0, 0.5])
    # inside, outside, on bottom edge, on left edge, on hypotenuse, outside
    np.testing.assert_array_equal(assign_box(x, y, [triangle]), [7, 0, 0, 0, 0, 0])


def test_box_counts_by_hand():
    # Two methods classify the same five sources; magnitudes in generic columns.
    # Distance 10 Mpc -> mu = 30, so M_V < -7.8 means m_V < 22.2.
    sources = pd.DataFrame(
        {
            "src": [1, 2, 3, 4, 5],
            "mag_v": [21.0, 22.19, 22.0, 22.21, 23.0],  # limit 22.2: 22.19 in, 22.21 out
            "mag_u": [22.0, 21.0, 21.1, 22.0, 22.0],
            "mag_b": [22.0, 21.5, 22.0, 22.0, 22.0],
            "mag_i": [19.8, 21.69, 23.0, 21.01, 21.0],
        }
    )
    # V-I: 1.2, 0.5, -1.0, 1.2, 2.0 ; U-B: 0.0, -0.5, -0.9, 0.0, 0.0
    # boxes: 1, 3, 0 (V-I < 0.2), 1 (but too faint), 0 (and too faint)
    classes = {"PH": [1, 2, 1, 1, 1], "LG": [1, 1, 3, 1, 2]}
    frame = pd.concat(
        [sources.assign(method=m, cls=c) for m, c in classes.items()], ignore_index=True
    )
    counts = box_counts(
        frame,
        x_colour=("mag_v", "mag_i"),
        y_colour=("mag_u", "mag_b"),
        mag_column="mag_v",
        distance=10 * u.Mpc,
        class_column="cls",
        methods=["PH", "LG"],
    )
    assert list(counts.columns) == ["PH", "LG"]
    expected = {
        ("1", 1): (1, 1),
        ("1", 3): (0, 1),
        ("2", 3): (1, 0),
        ("1+2", 1): (1, 1),
        ("1+2", 3): (1, 1),
    }
    for (class_set, box), value in counts.iterrows():
        assert tuple(value) == expected.get((class_set, box), (0, 0)), (class_set, box)
    assert counts.to_numpy().sum() == 8

    with_outside = box_counts(
        frame,
        x_colour=("mag_v", "mag_i"),
        y_colour=("mag_u", "mag_b"),
        mag_column="mag_v",
        distance=10.0,
        abs_mag_limit=-6.9,  # m_V < 23.1: all five sources
        class_column="cls",
        include_outside=True,
    )
    assert with_outside.loc[("1", 0), "PH"] == 2  # sources 3 and 5
    assert with_outside.loc[("3", 0), "LG"] == 1  # source 3
    assert with_outside.loc[("1+2", 1), "PH"] == 2  # sources 1 and 4
