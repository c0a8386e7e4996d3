"""LEGUS readers against the real files and the golden facts of data/legus/LAYOUTS.md.

One test per file (``test_golden_facts``) checks the facts typed from LAYOUTS.md §4; the other
tests check the traps of data/README.md (NGC 1313 columns, sentinels, both SED conventions,
class codes 5 and 50), the registry against LAYOUTS.md itself, and the CSV twin of NGC 628.
Independent expectations are computed with ``numpy.loadtxt``, not with the reader's code.
"""

from __future__ import annotations

import gzip
import re
import shutil
import time
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from clustercat.ingest.contract import BANDS, CatalogueTables, SourceFlag
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.galaxies import galaxy_table
from clustercat.ingest.legus import find_legus_files, read_legus_csv, read_legus_tab
from clustercat.ingest.legus_layouts import FILES, LAYOUTS, SED_METHOD
from conftest import shared_path as shared


def legus_name(token: str) -> str:
    return f"hlsp_legus_hst_{token}_padagb-mwext-avgapcor.tab"


# Typed from LAYOUTS.md §4 "Summary table": galaxy token, version, rows, columns,
# layout, primary class column, primary class counts 0/1/2/3/4, other values (value:count),
# SED-fitted rows, median RA, median Dec (deg).
GOLDEN_TABLE = """
ic4247      v2  762 36 L36-MODE-MEAN-SEL    34 717/1/4/3/37         -       718 201.68520 -30.36260
ngc3274     v2 1776 35 L35-CLASS-SEL        34 1624/29/29/18/76     -      1742 158.07127 +27.66843
ngc3351     v1 1389 37 L37-SEL-WHITMORE     35 771/118/80/94/326    -      1241 160.98747 +11.69456
ngc3738     v2 1528 36 L36-MODE-MEAN-SEL    34 1086/49/93/86/214    -      1090 173.95158 +54.52427
ngc4248     v2  235 34 L34-CLASS            34 183/14/3/8/27        -       232 184.45836 +47.40954
ngc4395-s   v1  837 36 L36-MODE-MEAN-SEL    34 669/31/64/42/31      -       717 186.49084 +33.52326
ngc4449     v2 2853 38 L38-4449-WHITMORE-ML 34 1/143/282/182/874    5:1371 2852 187.04938 +44.09635
ngc5238     v1  618 36 L36-MODE-MEAN-SEL    34 600/4/4/1/9          -       568 203.67896 +51.61250
ngc5474     v1 4275 37 L37-WHITMORE-SEL     34 3954/48/95/34/144    -      2612 211.25517 +53.65703
ngc5477     v2  534 36 L36-MODE-MEAN-SEL    34 462/5/9/9/49         -       486 211.38443 +54.46086
ngc628-c    v1 3080 35 L35-MODE-MEAN        34 1521/334/357/326/542 -      1901  24.17017 +15.78174
ngc628-e    v1  593 35 L35-MODE-MEAN        34 212/92/80/87/122     -       426  24.20131 +15.76928
ugc1249     v1 1000 36 L36-MODE-MEAN-SEL    34 779/13/35/40/133     -       927  26.87102 +27.33205
ugc4459     v2  994 36 L36-MODE-MEAN-SEL    34 964/2/5/3/20         -       913 128.53110 +66.17713
ugc5139     v2  917 36 L36-MODE-MEAN-SEL    34 878/2/7/7/23         -       803 145.12392 +71.18417
ugc5340     v2  440 36 L36-MODE-MEAN-SEL    34 245/18/15/18/144     -       389 149.19019 +28.82618
ugc685      v2  464 36 L36-MODE-MEAN-SEL    34 444/7/4/3/6          -       429  16.84447 +16.68417
ugc695      v2  184 36 L36-MODE-MEAN-SEL    34 73/4/7/6/94          -       140  16.94384  +1.06391
ugc7408     v2  305 36 L36-MODE-MEAN-SEL    34 227/19/16/11/32      -       241 185.31081 +45.81225
ic559       v2  269 36 L36-MODE-MEAN-SEL    34 226/9/12/4/18        -       269 146.18373  +9.61514
ngc1313-e   v1 5284 37 L37-1313-MOSAIC      36 4639/42/95/122/386   -      1629  49.57269 -66.49446
ngc1433     v1 1099 35 L35-MODE-MEAN        34 793/51/61/56/138     -       803  55.50801 -47.22311
ngc1566     v1 2752 39 L39-1566-HYBRID      34 301/477/404/692/878  -      2452  65.00282 -54.93752
ngc1705     v2  365 36 L36-MODE-MEAN-SEL    34 269/16/13/13/54      -       363  73.55711 -53.36158
ngc3344     v1 1527 35 L35-MODE-MEAN        34 970/119/118/159/161  -      1306 160.87971 +24.91850
ngc4242     v1 1080 37 L37-SEL-WHITMORE     35 846/117/60/14/42     50:1    971 184.37765 +45.61926
ngc4395-n   v1  291 36 L36-MODE-MEAN-SEL    34 233/8/12/19/19       -       291 186.44714 +33.56069
ugc7242     v2  746 36 L36-MODE-MEAN-SEL    34 711/3/3/3/26         -       643 183.53566 +66.09444
"""


def _golden() -> list[tuple]:
    out = []
    for line in GOLDEN_TABLE.strip().splitlines():
        target, ver, rows, ncols, layout, col, counts, other, fitted, ra, dec = line.split()
        inst = next(f.instrument_token for f in FILES.values() if f.target == target)
        others = dict(map(int, kv.split(":")) for kv in other.split(",")) if other != "-" else {}
        out.append(
            (f"{inst}_{target}_multiband_{ver}", int(rows), int(ncols), layout, int(col),
             tuple(int(c) for c in counts.split("/")), others, int(fitted), float(ra), float(dec))
        )  # fmt: skip
    return out


GOLDEN = _golden()

MEDIAN_TOLERANCE_DEG = 1e-5  # LAYOUTS.md gives 5 decimals


@cache
def read(token: str) -> CatalogueTables:
    return read_legus_tab(shared("legus", legus_name(token)))


@cache
def raw(token: str) -> np.ndarray:
    """The file parsed independently of the reader (numpy.loadtxt)."""
    return np.loadtxt(shared("legus", legus_name(token)))


@pytest.mark.parametrize("row", GOLDEN, ids=[g[0].split("_")[1] for g in GOLDEN])
def test_golden_facts(row: tuple) -> None:
    token, rows, ncols, layout, primary_col, counts, others, fitted, ra, dec = row
    t = read(token)
    t.check()
    assert t.layout == layout and LAYOUTS[layout].ncols == ncols == raw(token).shape[1]
    assert LAYOUTS[layout].primary_class_column == primary_col
    assert len(t.sources) == rows
    primary = t.primary_method
    got = t.classifications.loc[t.classifications["method"] == primary, "cluster_class"]
    got_counts = got.value_counts().reindex([1, 2, 3, 4], fill_value=0).tolist()
    assert [t.report[f"class_zero:{primary}"], *got_counts] == list(counts)
    other = t.report[f"class_not_inspected:{primary}"] + t.report[f"class_out_of_scheme:{primary}"]
    assert other == sum(others.values())
    assert len(t.sed_fits) == fitted
    assert t.report["sed_unfitted"] == rows - fitted
    assert t.sources["ra"].median() == pytest.approx(ra, abs=MEDIAN_TOLERANCE_DEG)
    assert t.sources["dec"].median() == pytest.approx(dec, abs=MEDIAN_TOLERANCE_DEG)


@pytest.mark.parametrize("row", GOLDEN, ids=[g[0].split("_")[1] for g in GOLDEN])
def test_sentinels_counted_and_replaced(row: tuple) -> None:
    """Every 66.666 / 99.999 cell and every CI >= 40 is counted, and none reaches a value."""
    token = row[0]
    t, a = read(token), raw(token)
    shift = 2 if LAYOUTS[t.layout].mosaic else 0
    phot = a[:, 5 + shift : 15 + shift]
    for value, key in ((66.666, "sentinel_66666"), (99.999, "sentinel_99999")):
        assert t.report[key] == int(np.isclose(phot, value, atol=1e-4).sum())
    assert t.report["sentinel_44444"] == int(np.isclose(phot, 44.444, atol=1e-4).sum()) == 0
    assert t.report["ci_invalid"] == int((a[:, 15 + shift] >= 40).sum())
    mags = phot[:, 0::2].ravel()
    expected_status = np.select(
        [np.isclose(mags, 66.666, atol=1e-4), np.isclose(mags, 99.999, atol=1e-4)],
        ["outside_footprint", "not_detected"],
        "measured",
    )
    np.testing.assert_array_equal(t.photometry["status"].to_numpy(dtype=str), expected_status)
    measured = expected_status == "measured"
    np.testing.assert_array_equal(t.photometry["mag_vega"].to_numpy()[measured], mags[measured])
    assert t.photometry["mag_vega"].max() < 40 and t.morphology["ci"].max() < 40
    np.testing.assert_array_equal(t.sources["ra"].to_numpy(), a[:, 3 + shift])
    np.testing.assert_array_equal(t.sources["id_in_release"].to_numpy(), a[:, 0].astype(int))


def test_registry_matches_layouts_md() -> None:
    """The registry holds exactly the 39 files, columns and layouts of LAYOUTS.md's last table."""
    text = shared("legus", "LAYOUTS.md").read_text()
    section = text.split("## Layout of every LEGUS cluster catalogue")[1]
    rows = re.findall(r"^\| (hlsp_\S+\.tab) \| (\d+) \| (L[\w-]+) \|$", section, re.M)
    assert len(rows) == 39
    documented = {name: (int(n), lay) for name, n, lay in rows}
    registered = {name: (LAYOUTS[f.layout].ncols, f.layout) for name, f in FILES.items()}
    assert registered == documented
    assert len(LAYOUTS) == 9 == len({lay for _, lay in documented.values()})


def test_registry_filters_match_layouts_md() -> None:
    """B/V filter names of the registry agree with every definite row of LAYOUTS.md §2.3."""
    text = shared("legus", "LAYOUTS.md").read_text()
    table = text.split("### 2.3 Filter names")[1].split("For NGC 1313")[0]
    checked = 0
    for b, v, galaxies in re.findall(r"^\| (F4\d\dW) / (F\d{3}W)[^|]*\| ([^|]+) \|$", table, re.M):
        for target in (g.strip() for g in galaxies.split(",")):
            entry = next(f for f in FILES.values() if f.target == target)
            assert (entry.filters["B"], entry.filters["V"]) == (b, v), target
            checked += 1
    assert checked == 33  # 39 files minus the six of the "unknown" row
    unknown = [f for f in FILES.values() if f.filter_confidence["V"] == "low"]
    assert {f.target for f in unknown} >= {"ngc3274", "ngc3351", "ngc4248", "ngc4485"}


def test_ngc1313_radec_from_columns_6_7() -> None:
    """NGC 1313 has mosaic x, y in columns 4-5: positions must still land on the galaxy."""
    t, a = read("wfc3_ngc1313-e_multiband_v1"), raw("wfc3_ngc1313-e_multiband_v1")
    np.testing.assert_array_equal(t.sources["x_mosaic"].to_numpy(), a[:, 3])
    np.testing.assert_array_equal(t.sources["dec"].to_numpy(), a[:, 6])
    centre = galaxy_table().set_index("name").loc["NGC 1313"]
    c0 = SkyCoord(centre["ra_deg"] * u.deg, centre["dec_deg"] * u.deg)
    sep = SkyCoord(t.sources["ra"].to_numpy() * u.deg, t.sources["dec"].to_numpy() * u.deg)
    assert np.median(c0.separation(sep).arcmin) < 5
    other = read("acs-wfc3_ngc628-c_multiband_v1")
    assert other.sources["x_mosaic"].isna().all() and t.sources["x_mosaic"].notna().all()


@pytest.mark.parametrize(
    "token", ["acs-wfc3_ngc628-c_multiband_v1", "acs-wfc3_ic4247_multiband_v2"]
)  # classic and extended SED conventions (LAYOUTS.md §1)
def test_unfitted_sources_have_no_sed_row(token: str) -> None:
    t, a = read(token), raw(token)
    age, mass, ebv, nflt = a[:, 16], a[:, 19], a[:, 22], a[:, 32]
    classic = (age == 0) & (mass == 0) & (ebv == 0)
    extended = (nflt == 200) & (age == 2e8) & (mass == 200) & (ebv == 200)
    assert (classic | extended).sum() > 0
    fitted_ids = set(t.sed_fits["id_in_release"])
    assert fitted_ids.isdisjoint(a[classic | extended, 0].astype(int))
    assert len(fitted_ids) == int((~(classic | extended)).sum())
    sed = t.sed_fits.set_index("id_in_release")
    ids = a[:, 0].astype(int)
    fit = ~(classic | extended)
    np.testing.assert_allclose(sed.loc[ids[fit], "log_age"], np.log10(age[fit]))
    np.testing.assert_allclose(sed.loc[ids[fit], "log_mass"], np.log10(mass[fit]))
    assert set(sed["n_bands"].astype(int)) <= {3, 4, 5}
    assert all(200.0 not in r.values() and set(r) <= set(BANDS) for r in sed["chi2_residuals"])
    assert sed["ebv"].max() < 5 and sed["method"].eq(SED_METHOD.name).all()
    no_bounds = fit & (a[:, 17] == 0) & (a[:, 18] == 0)
    assert sed.loc[ids[no_bounds], "log_age_min"].isna().all()
    flags = t.sources.set_index("id_in_release")["flags"]
    assert (flags.loc[ids[no_bounds]] & int(SourceFlag.SED_BOUNDS_MISSING)).all()
    assert (flags.loc[ids[~fit]] & int(SourceFlag.SED_UNFITTED)).all()


def test_ngc1566_hybrid_matches_the_column_its_flag_names() -> None:
    """LAYOUTS.md §3: hybrid = ML (flag 0), verify (1), 3 humans (3, 4), reclassify (6)."""
    t = read("wfc3_ngc1566_multiband_v1")
    assert {m.name for m in t.classification_methods} == {
        "LEGUS hybrid", "LEGUS human mode", "LEGUS ML", "LEGUS human verify ML",
        "LEGUS human reclassify class 4",
    }  # fmt: skip
    wide = t.classifications.pivot(index="id_in_release", columns="method", values="cluster_class")
    hybrid = t.classifications[t.classifications["method"] == "LEGUS hybrid"]
    source_of = {0: "LEGUS ML", 1: "LEGUS human verify ML", 3: "LEGUS human mode",
                 4: "LEGUS human mode", 6: "LEGUS human reclassify class 4"}  # fmt: skip
    assert set(hybrid["method_flag"].astype(int)) == set(source_of)
    for flag, method in source_of.items():
        ids = hybrid.loc[hybrid["method_flag"] == flag, "id_in_release"]
        np.testing.assert_array_equal(wide.loc[ids, "LEGUS hybrid"], wide.loc[ids, method])


def test_ngc4449_class_5_is_not_inspected_and_ml_column_read() -> None:
    t, a = read("acs-wfc3_ngc4449_multiband_v2"), raw("acs-wfc3_ngc4449_multiband_v2")
    visual = t.classifications[t.classifications["method"] == "Whitmore visual"]
    assert not visual["cluster_class"].isin([0, 5]).any()
    not_inspected = a[a[:, 33] == 5, 0].astype(int)
    flags = t.sources.set_index("id_in_release")["flags"]
    assert (flags.loc[not_inspected] & int(SourceFlag.CLASS_NOT_INSPECTED)).all()
    ml = t.classifications[t.classifications["method"] == "LEGUS ML"]
    assert len(ml) == 2758  # LAYOUTS.md §3: column 37 set for 2758 sources
    assert set(visual["quality"].dropna().astype(int)) <= {1, 2, 3}
    assert set(t.sources["selection_flag"].astype(int)) == {0, 1, 2}
    assert set(t.sources["halpha_morph"].dropna().astype(int)) == {1, 2, 3, 4}


def test_ngc4242_class_50_is_out_of_scheme() -> None:
    t = read("wfc3_ngc4242_multiband_v1")
    visual = t.classifications[t.classifications["method"] == "Whitmore visual"]
    assert 386 not in set(visual["id_in_release"])
    assert t.report["class_out_of_scheme"] == 1
    flags = t.sources.set_index("id_in_release")["flags"]
    assert flags.loc[386] & int(SourceFlag.CLASS_OUT_OF_SCHEME)
    assert (flags.drop(386) & int(SourceFlag.CLASS_OUT_OF_SCHEME)).sum() == 0


def test_ngc5474_id_gaps_are_kept() -> None:
    t, a = read("acs-wfc3_ngc5474_multiband_v1"), raw("acs-wfc3_ngc5474_multiband_v1")
    ids = t.sources["id_in_release"]
    assert ids.is_unique and ids.max() > len(ids)  # gaps
    np.testing.assert_array_equal(ids.to_numpy(), a[:, 0].astype(int))
    assert t.sources["line"].tolist() == list(range(1, len(a) + 1))


def test_gzip_and_layout_override_read_the_same(tmp_path: Path) -> None:
    token = "wfc3_ngc1705_multiband_v2"
    src = shared("legus", legus_name(token))
    gz = tmp_path / (src.name + ".gz")
    gz.write_bytes(gzip.compress(src.read_bytes()))
    renamed = tmp_path / "my_copy.tab"
    shutil.copy(src, renamed)
    plain = read(token)
    for other in (
        read_legus_tab(gz),
        read_legus_tab(renamed, layout="L36-MODE-MEAN-SEL", galaxy="NGC_1705"),
    ):
        assert (other.galaxy, other.field, other.layout) == ("NGC 1705", "ngc1705", plain.layout)
        for name in ("sources", "photometry", "classifications", "sed_fits"):
            pd.testing.assert_frame_equal(getattr(other, name), getattr(plain, name))
    with pytest.raises(CatalogueFormatError, match="my_copy.tab.*unknown LEGUS file name"):
        read_legus_tab(renamed)


def test_csv_twin_has_the_same_objects() -> None:
    """data/ngc628/Catalog.csv = the 628-c and 628-e catalogues: same 3673 objects (< 0.05")."""
    blocks = read_legus_csv(shared("ngc628", "Catalog.csv"))
    tabs = [read("acs-wfc3_ngc628-c_multiband_v1"), read("acs-wfc3_ngc628-e_multiband_v1")]
    assert [b.field for b in blocks] == ["ngc628c", "ngc628e"]
    assert sum(len(b.sources) for b in blocks) == 3673
    for block, tab in zip(blocks, tabs, strict=True):
        c_csv = SkyCoord(
            block.sources["ra"].to_numpy() * u.deg, block.sources["dec"].to_numpy() * u.deg
        )
        c_tab = SkyCoord(
            tab.sources["ra"].to_numpy() * u.deg, tab.sources["dec"].to_numpy() * u.deg
        )
        _, nearest, _ = c_csv.match_to_catalog_sky(c_tab)
        assert np.all(nearest.arcsec < 0.05)
        # Positions are rounded to 1e-5 deg, so a few pairs of sources in 628-c lie < 0.05"
        # apart: check that every object's partner within 0.05" includes its own row.
        i_csv, i_tab, _, _ = c_tab.search_around_sky(c_csv, 0.05 * u.arcsec)
        assert set(zip(range(len(c_csv)), range(len(c_tab)), strict=True)) <= set(
            zip(i_csv.tolist(), i_tab.tolist(), strict=True)
        )
    for block, tab in zip(blocks, tabs, strict=True):
        block.check()
        np.testing.assert_array_equal(block.sources["id_in_release"], tab.sources["id_in_release"])
        for name in ("photometry", "morphology", "classifications"):
            pd.testing.assert_frame_equal(getattr(block, name), getattr(tab, name))
        # the SED columns come from another fit and are filed under their own method
        assert block.sed_method.name != tab.sed_method.name
        assert len(block.sed_fits) == len(tab.sed_fits)
    assert blocks[1].report["csv_marked_rows"] > 0 == blocks[0].report["csv_marked_rows"]


def test_all_files_parse_in_a_few_seconds() -> None:
    files = find_legus_files(shared("legus"))
    assert len(files) == len(GOLDEN) == 28
    start = time.perf_counter()
    total = sum(len(read_legus_tab(f).sources) for f in files)
    elapsed = time.perf_counter() - start
    assert total == sum(g[1] for g in GOLDEN)
    assert elapsed < 10, f"28 LEGUS files took {elapsed:.1f} s"
