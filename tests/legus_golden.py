"""Golden facts of the 28 LEGUS catalogues here, typed from data/legus/LAYOUTS.md §4.

Per file ("instrument galaxy version" as in the table): rows, primary class column
(1-based), counts of classes 1-4 in it, count of 0 (not inspected), other values, SED-fitted
sources, median RA and Dec (deg).
"""

from __future__ import annotations

from typing import NamedTuple


class LegusGolden(NamedTuple):
    key: str
    rows: int
    primary_class_column: int
    classes_1234: tuple[int, int, int, int]
    class_0: int
    other_values: dict[int, int]
    sed_fitted: int
    median_ra: float
    median_dec: float

    @property
    def file(self) -> str:
        instrument, galaxy, version = self.key.split()
        suffix = "padagb-mwext-avgapcor.tab"
        return f"hlsp_legus_hst_{instrument}_{galaxy}_multiband_{version}_{suffix}"

    @property
    def field(self) -> str:
        return self.key.split()[1].replace("-", "")


G = LegusGolden
LEGUS_GOLDEN: tuple[LegusGolden, ...] = (
    G("acs-wfc3 ic4247 v2", 762, 34, (1, 4, 3, 37), 717, {}, 718, 201.6852, -30.3626),
    G("acs-wfc3 ngc3274 v2", 1776, 34, (29, 29, 18, 76), 1624, {}, 1742, 158.07127, 27.66843),
    G("acs-wfc3 ngc3351 v1", 1389, 35, (118, 80, 94, 326), 771, {}, 1241, 160.98747, 11.69456),
    G("acs-wfc3 ngc3738 v2", 1528, 34, (49, 93, 86, 214), 1086, {}, 1090, 173.95158, 54.52427),
    G("acs-wfc3 ngc4248 v2", 235, 34, (14, 3, 8, 27), 183, {}, 232, 184.45836, 47.40954),
    G("acs-wfc3 ngc4395-s v1", 837, 34, (31, 64, 42, 31), 669, {}, 717, 186.49084, 33.52326),
    G("acs-wfc3 ngc4449 v2", 2853, 34, (143, 282, 182, 874), 1, {5: 1371}, 2852, 187.04938, 44.09635),  # noqa: E501
    G("acs-wfc3 ngc5238 v1", 618, 34, (4, 4, 1, 9), 600, {}, 568, 203.67896, 51.6125),
    G("acs-wfc3 ngc5474 v1", 4275, 34, (48, 95, 34, 144), 3954, {}, 2612, 211.25517, 53.65703),
    G("acs-wfc3 ngc5477 v2", 534, 34, (5, 9, 9, 49), 462, {}, 486, 211.38443, 54.46086),
    G("acs-wfc3 ngc628-c v1", 3080, 34, (334, 357, 326, 542), 1521, {}, 1901, 24.17017, 15.78174),
    G("acs-wfc3 ngc628-e v1", 593, 34, (92, 80, 87, 122), 212, {}, 426, 24.20131, 15.76928),
    G("acs-wfc3 ugc1249 v1", 1000, 34, (13, 35, 40, 133), 779, {}, 927, 26.87102, 27.33205),
    G("acs-wfc3 ugc4459 v2", 994, 34, (2, 5, 3, 20), 964, {}, 913, 128.5311, 66.17713),
    G("acs-wfc3 ugc5139 v2", 917, 34, (2, 7, 7, 23), 878, {}, 803, 145.12392, 71.18417),
    G("acs-wfc3 ugc5340 v2", 440, 34, (18, 15, 18, 144), 245, {}, 389, 149.19019, 28.82618),
    G("acs-wfc3 ugc685 v2", 464, 34, (7, 4, 3, 6), 444, {}, 429, 16.84447, 16.68417),
    G("acs-wfc3 ugc695 v2", 184, 34, (4, 7, 6, 94), 73, {}, 140, 16.94384, 1.06391),
    G("acs-wfc3 ugc7408 v2", 305, 34, (19, 16, 11, 32), 227, {}, 241, 185.31081, 45.81225),
    G("wfc3 ic559 v2", 269, 34, (9, 12, 4, 18), 226, {}, 269, 146.18373, 9.61514),
    G("wfc3 ngc1313-e v1", 5284, 36, (42, 95, 122, 386), 4639, {}, 1629, 49.57269, -66.49446),
    G("wfc3 ngc1433 v1", 1099, 34, (51, 61, 56, 138), 793, {}, 803, 55.50801, -47.22311),
    G("wfc3 ngc1566 v1", 2752, 34, (477, 404, 692, 878), 301, {}, 2452, 65.00282, -54.93752),
    G("wfc3 ngc1705 v2", 365, 34, (16, 13, 13, 54), 269, {}, 363, 73.55711, -53.36158),
    G("wfc3 ngc3344 v1", 1527, 34, (119, 118, 159, 161), 970, {}, 1306, 160.87971, 24.9185),
    G("wfc3 ngc4242 v1", 1080, 35, (117, 60, 14, 42), 846, {50: 1}, 971, 184.37765, 45.61926),
    G("wfc3 ngc4395-n v1", 291, 34, (8, 12, 19, 19), 233, {}, 291, 186.44714, 33.56069),
    G("wfc3 ugc7242 v2", 746, 34, (3, 3, 3, 26), 711, {}, 643, 183.53566, 66.09444),
)  # fmt: skip
