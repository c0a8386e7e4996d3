"""Provenance of the LEGUS rows, checked against the LEGUS readme itself.

``data/ngc628/LEGUS_description.txt`` is the readme of the NGC 628 35-column catalogues (CR line
endings; its column list is run together, "1. source id2. x coordinates ..."). Each test parses
the statements it relies on from the readme text, so the expectation is the readme's, not ours,
and compares them with the reader's registry and with what the reader makes of the real files.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from clustercat.ingest.contract import BANDS
from clustercat.ingest.galaxies import galaxy_table
from clustercat.ingest.legus import read_legus_tab
from clustercat.ingest.legus_layouts import FILES, LAYOUTS, METHODS, SED_METHOD
from conftest import shared_path

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


def test_extinction_law_of_the_sed_fits_is_the_readmes(readme: str) -> None:
    """The readme: 'Starburst extinction law applied to derive cluster properties', and the
    photometry is corrected for Galactic foreground extinction from NED. 'mwext' in the file
    name is that foreground correction, not the law of the fit."""
    law = statement(readme, r"^(\w+) extinction law applied to derive cluster properties")[1]
    assert law == "Starburst"
    assert SED_METHOD.extinction_law is not None
    assert SED_METHOD.extinction_law.lower().startswith(law.lower())
    assert "milky" not in SED_METHOD.extinction_law.lower()
    statement(readme, r"^Galactic ext from NED and aperture correction is included")
    tables = read_legus_tab(shared_path("legus", NGC628C))
    assert tables.sed_method is SED_METHOD and set(tables.sed_fits["method"]) == {SED_METHOD.name}
    assert tables.photometry["mw_ext_corrected"].all()
    assert tables.photometry["aperture_px"].isna().all()  # total, aperture-corrected


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
