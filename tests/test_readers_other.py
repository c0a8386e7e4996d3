"""StarcNet, PHANGS-HST FITS and MRT readers, and the galaxy reference module.

PHANGS tests write small FITS tables in the DR4 format of data/README.md with astropy (no real
PHANGS file is available offline). StarcNet and MRT tests use the real shared files and check
them against the LEGUS catalogues and the facts of data/legus/LAYOUTS.md §3.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from clustercat.ingest.contract import BANDS, CatalogueTables, SourceFlag
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.galaxies import (
    LEGUS_GALAXIES,
    UnknownGalaxyError,
    canonical_galaxy,
    galaxy_aliases,
    galaxy_table,
)
from clustercat.ingest.legus import read_legus_tab
from clustercat.ingest.legus_layouts import FILES
from clustercat.ingest.mrt import read_mrt
from clustercat.ingest.phangs import R_V, read_phangs_fits
from clustercat.ingest.starcnet import check_alignment, read_starcnet
from clustercat.schema.config import data_dir
from conftest import shared_path as shared
from factories import phangs_table


def legus(target: str) -> CatalogueTables:
    name = next(n for n, f in FILES.items() if f.target == target)
    return read_legus_tab(shared("legus", name))


@cache
def starcnet() -> CatalogueTables:
    return read_starcnet(shared("legus", "starcnet_ml_predictions_ngc1566.tab"))


# --- StarcNet --------------------------------------------------------------------------------


def test_starcnet_predictions_line_up_with_legus_ngc1566() -> None:
    pred = starcnet()
    pred.check()
    release = legus("ngc1566")
    assert (pred.galaxy, pred.field, pred.survey) == ("NGC 1566", "ngc1566", "LEGUS")
    assert len(pred.sources) == len(release.sources)
    joined = check_alignment(pred, release)
    # StarcNet stores the LEGUS x, y truncated to integers
    assert joined["dx"].between(0, 1, inclusive="left").all()
    assert joined["dy"].between(0, 1, inclusive="left").all()
    cl = pred.classifications
    assert [m.name for m in pred.classification_methods] == ["StarcNet"]
    assert pred.classification_methods[0].kind == "ml"
    probs = cl[["p_class1", "p_class2", "p_class3", "p_class4"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=0.021)  # four values rounded to 0.01
    chosen = probs[np.arange(len(cl)), cl["cluster_class"].to_numpy(int) - 1]
    np.testing.assert_array_equal(cl["score"].to_numpy(), chosen)
    not_argmax = int((probs.argmax(axis=1) + 1 != cl["cluster_class"].to_numpy(int)).sum())
    assert pred.report["starcnet_pred_not_argmax"] == not_argmax < len(cl) // 100


def test_starcnet_alignment_against_the_wrong_release_fails() -> None:
    with pytest.raises(CatalogueFormatError) as err:
        check_alignment(starcnet(), legus("ngc628-c"))
    assert err.value.path.name == "starcnet_ml_predictions_ngc1566.tab"
    assert err.value.line is not None and err.value.column in (1, 2, 3)


# --- PHANGS-HST ------------------------------------------------------------------------------

PHANGS_NAME = "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits"


def test_phangs_columns_map_to_the_contract(tmp_path: Path) -> None:
    t = phangs_table()
    t["PHANGS_F275W_VEGA"][[0, 1]] = -9999.0  # no coverage
    t["PHANGS_F275W_VEGA_ERR"][[0, 1]] = -9999.0
    t["PHANGS_F275W_mJy"][0] = -9999.0
    t["PHANGS_F336W_VEGA"][2] = np.nan  # not detected
    t["PHANGS_CI"][3] = -9999.0
    path = tmp_path / PHANGS_NAME
    t.write(path)
    r = read_phangs_fits(path)
    r.check()
    assert (r.survey, r.galaxy, r.field, r.version) == ("PHANGS-HST", "NGC 1566", "ngc1566", "v1")
    assert r.filters == {"NUV": "F275W", "U": "F336W", "B": "F438W", "V": "F555W", "I": "F814W"}
    assert set(r.instruments.values()) == {"WFC3/UVIS"}
    np.testing.assert_array_equal(r.sources["id_in_release"], t["ID_PHANGS_CANDIDATE"])
    np.testing.assert_array_equal(r.sources["id_phangs_cluster"], t["ID_PHANGS_CLUSTER"])
    assert r.sources["cc_class"].tolist() == list(t["CC_CLASS"])
    ph = r.photometry.set_index(["id_in_release", "band"])
    ids = np.asarray(t["ID_PHANGS_CANDIDATE"])
    assert (ph.loc[[(i, "NUV") for i in ids[:2]], "status"] == "no_coverage").all()
    assert ph.loc[(ids[2], "U"), "status"] == "not_detected"
    assert np.isnan(ph.loc[(ids[2], "U"), "flux_mjy"])
    assert r.report["sentinel_9999"] == 2 + 2 + 1 + 1  # mags, errors, flux, CI
    measured = ph.loc[[(i, "V") for i in ids]]
    np.testing.assert_allclose(measured["mag_vega"], t["PHANGS_F555W_VEGA"])
    np.testing.assert_allclose(measured["flux_err_mjy"], t["PHANGS_F555W_mJy_TOT_ERR"])
    flags = r.sources.set_index("id_in_release")["flags"]
    assert flags.loc[ids[0]] & int(SourceFlag.PHOT_NO_COVERAGE)
    assert flags.loc[ids[3]] & int(SourceFlag.CI_INVALID)
    assert np.isnan(r.morphology.set_index("id_in_release").loc[ids[3], "ci"])
    human = r.classifications[r.classifications["method"] == "PHANGS-HST human"]
    vgg = r.classifications[r.classifications["method"] == "PHANGS-HST ML VGG"]
    np.testing.assert_array_equal(human["cluster_class"], t["PHANGS_CLUSTER_CLASS_HUMAN"])
    np.testing.assert_allclose(vgg["score"], t["PHANGS_CLUSTER_CLASS_ML_VGG_QUAL"])
    assert human["score"].isna().all()
    assert {m.kind for m in r.classification_methods} == {"human", "ml"}
    assert r.sed_method is None and r.sed_fits.empty


def test_phangs_class_4_subclasses(tmp_path: Path) -> None:
    """4.10 is class 4 subclass 10, never the float 4.1 (Whitmore et al. 2021 Table 3)."""
    codes = ["1", "2", "3", "4", "4.1", "4.10", "4.12", "0", "", "7"]
    t = phangs_table(len(codes))
    t["PHANGS_CLUSTER_CLASS_HUMAN"] = codes
    path = tmp_path / PHANGS_NAME
    t.write(path)
    r = read_phangs_fits(path)
    r.check()
    human = r.classifications[r.classifications["method"] == "PHANGS-HST human"]
    got = list(zip(human["cluster_class"].tolist(), human["subclass"].tolist(), strict=True))
    assert got == [(1, pd.NA), (2, pd.NA), (3, pd.NA), (4, pd.NA), (4, 1), (4, 10), (4, 12)]
    assert r.report["class_zero:PHANGS-HST human"] == 1
    assert r.report["class_missing:PHANGS-HST human"] == 1
    assert r.report["class_out_of_scheme:PHANGS-HST human"] == 1

    t["PHANGS_CLUSTER_CLASS_HUMAN"] = np.array([1, 2, 3, 4, 4.1, 4.2, 4.11, 0, 4, 4])
    t.write(path, overwrite=True)
    r = read_phangs_fits(path)
    human = r.classifications[r.classifications["method"] == "PHANGS-HST human"]
    assert human["subclass"].dropna().tolist() == [1, 2, 11]
    assert r.report["class_subclass_ambiguous"] == 1  # a float 4.1 may have been 4.10


def test_phangs_sed_and_acs_variant(tmp_path: Path) -> None:
    t = phangs_table(5, b_filter="F435W")
    t["PHANGS_SED_AGE"] = [1.0, 10.0, 300.0, -9999.0, 5.0]  # Myr
    t["PHANGS_SED_MASS"] = [1e3, 2e4, 5e5, -9999.0, 3e3]  # Msun
    t["PHANGS_SED_AV"] = [0.31, 0.62, 0.0, -9999.0, 1.55]  # mag
    t["PHANGS_REDUCED_MINCHISQ"] = [0.5, 1.0, 2.0, -9999.0, 3.0]
    path = tmp_path / "hlsp_phangs-cat_hst_acs-uvis_ngc628c_multi_v1_obs-ml-cluster-class3.fits"
    t.write(path)
    r = read_phangs_fits(path)
    r.check()
    assert (r.galaxy, r.field) == ("NGC 628", "ngc628c")
    assert r.filters["B"] == "F435W" and r.instruments["B"] == "ACS/WFC"
    sed = r.sed_fits.set_index("id_in_release")
    fitted = np.asarray(t["PHANGS_SED_AGE"]) > 0
    ids = np.asarray(t["ID_PHANGS_CANDIDATE"])[fitted]
    assert list(sed.index) == list(ids)
    np.testing.assert_allclose(sed["log_age"], np.log10(t["PHANGS_SED_AGE"][fitted] * 1e6))
    np.testing.assert_allclose(sed["log_mass"], np.log10(t["PHANGS_SED_MASS"][fitted]))
    np.testing.assert_allclose(sed["ebv"], t["PHANGS_SED_AV"][fitted] / R_V)
    assert r.report["sed_unfitted"] == 1 and r.sed_method is not None


# --- MRT -------------------------------------------------------------------------------------


def test_whitmore2020_mrt_matches_legus_ngc4449() -> None:
    """LAYOUTS.md §3: all 594 match within 0.015"; H-alpha 594/594; category 540/594; 107/108."""
    w = read_mrt(shared("tables", "whitmore2020_ngc4449_clusters_mrt.txt"))
    w.check()
    assert (w.galaxy, w.field, len(w.sources)) == ("NGC 4449", "ngc4449", 594)
    assert (w.photometry["aperture_px"] == 5).all() and not w.photometry["mw_ext_corrected"].any()
    assert {m.name for m in w.sed_methods} == {s for s in w.sed_fits["method"].unique()}
    assert len(w.sed_methods) == 2
    release = legus("ngc4449")
    cw = SkyCoord(w.sources["ra"].to_numpy() * u.deg, w.sources["dec"].to_numpy() * u.deg)
    cl = SkyCoord(
        release.sources["ra"].to_numpy() * u.deg, release.sources["dec"].to_numpy() * u.deg
    )
    idx, sep, _ = cw.match_to_catalog_sky(cl)
    assert sep.arcsec.max() < 0.015 and len(np.unique(idx)) == 594
    partner = release.sources.iloc[idx].reset_index(drop=True)
    ha = w.sources["halpha_morph"].fillna(-1).to_numpy() == partner["halpha_morph"].fillna(-1)
    assert ha.sum() == 594
    visual = release.classifications[release.classifications["method"] == "Whitmore visual"]
    legus_class = visual.set_index("id_in_release")["cluster_class"]
    category = w.classifications.set_index("id_in_release")["cluster_class"]
    same = category.reindex(w.sources["id_in_release"]).to_numpy() == legus_class.reindex(
        partner["id_in_release"]
    ).to_numpy(dtype=float, na_value=np.nan)
    assert same.sum() == 540
    added = (w.sources["selection_flag"] == 1).to_numpy()
    assert added.sum() == 108 and (partner["selection_flag"][added] == 2).sum() == 107
    nulls = sum(
        int(np.ma.count_masked(c)) for c in Table.read(w.source_path, format="ascii.mrt").itercols()
    )
    assert w.report["sentinel_99999"] == nulls


def test_chandar2016_mrt() -> None:
    c = read_mrt(shared("tables", "chandar2016_m51_clusters_mrt.txt"))
    c.check()
    raw = Table.read(c.source_path, format="ascii.mrt")
    null = (np.asarray(raw["logA"]) == -999) | (np.asarray(raw["logM"]) == -999)
    assert (c.galaxy, c.field) == ("NGC 5194", "ngc5194")
    assert len(c.sources) == len(raw) and len(c.sed_fits) == int((~null).sum())
    assert c.report["sentinel_999"] == int((np.asarray(raw["logA"]) == -999).sum() * 2)
    np.testing.assert_allclose(c.sed_fits["log_age"], np.asarray(raw["logA"])[~null])
    assert c.sources["line"].iloc[0] > 20  # after the byte-by-byte header
    first = shared("tables", "chandar2016_m51_clusters_mrt.txt").read_text().splitlines()
    assert first[c.sources["line"].iloc[0] - 1].split()[0] == str(
        c.sources["id_in_release"].iloc[0]
    )
    assert c.photometry.empty and c.classifications.empty


# --- galaxies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("ngc628c", ("NGC 628", "ngc628c")),
        ("NGC_628C", ("NGC 628", "ngc628c")),
        ("ngc628-c", ("NGC 628", "ngc628c")),
        ("ngc0628", ("NGC 628", "ngc628")),
        ("NGC628", ("NGC 628", "ngc628")),
        ("NGC 628", ("NGC 628", "ngc628")),
        ("M74", ("NGC 628", "ngc628")),
        ("ngc1313-e", ("NGC 1313", "ngc1313e")),
        ("ngc4395-s", ("NGC 4395", "ngc4395s")),
        ("UGC7408", ("UGC 7408", "ugc7408")),
        ("ugca281", ("UGCA 281", "ugca281")),
        ("IC0559", ("IC 559", "ic559")),
        ("eso486-g021", ("ESO 486-G021", "eso486-g021")),
        ("ESO 486-G21", ("ESO 486-G021", "eso486-g021")),
    ],
)
def test_canonical_galaxy(alias: str, expected: tuple[str, str]) -> None:
    assert canonical_galaxy(alias) == expected


def test_unknown_galaxy() -> None:
    with pytest.raises(UnknownGalaxyError):
        canonical_galaxy("Andromeda XYZ")
    with pytest.raises(UnknownGalaxyError):
        canonical_galaxy("NGC 9999", strict=True)
    aliases = galaxy_aliases(["NGC 628"], fields=["ngc628-c"])
    assert {"NGC_628C", "ngc628c", "ngc0628", "NGC628"} <= set(aliases["alias"])


def test_galaxy_table_from_calzetti_and_phangs_distances() -> None:
    path = shared("tables", "calzetti2015_table1_legus_galaxies.txt")
    table = galaxy_table(path).set_index("name")
    rows = [ln.split() for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    assert sorted(table.index) == sorted(canonical_galaxy(r[0])[0] for r in rows)
    assert set(table.index) == set(LEGUS_GALAXIES)
    for r in rows:
        assert table.loc[canonical_galaxy(r[0])[0], "distance_mpc"] == float(r[6])
    readme = shared("README.md").read_text()
    line = readme.split("## Distances used by the papers (Mpc)")[1].strip().splitlines()[0]
    quoted = {f"NGC {g}": float(d) for g, d in re.findall(r"NGC (\d+) (\d+(?:\.\d+)?)", line)}
    assert quoted == table.loc[table["phangs"], "phangs_distance_mpc"].to_dict()


# The registry's files that the shared folder holds (28 of 39); a placeholder when it is absent,
# so that the test skips or fails (CLUSTERCAT_REQUIRE_DATA=1) through ``shared``.
PRESENT = sorted(n for n in FILES if (data_dir() / "legus" / n).exists()) or ["(no shared data)"]


@pytest.mark.parametrize("name", PRESENT)
def test_galaxy_centres_near_the_catalogue(name: str) -> None:
    """LAYOUTS.md §3: every median source position lies 0.01-2.3 arcmin from the centre."""
    t = read_legus_tab(shared("legus", name))
    centre = galaxy_table().set_index("name").loc[t.galaxy]
    c0 = SkyCoord(centre["ra_deg"] * u.deg, centre["dec_deg"] * u.deg)
    med = SkyCoord(t.sources["ra"].median() * u.deg, t.sources["dec"].median() * u.deg)
    assert c0.separation(med).arcmin < 3.0
    assert set(t.filters) == set(BANDS)
