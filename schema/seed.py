"""Reference rows seeded by the migrations (frozen per revision: never edit a released list).

Pivot wavelengths are the STScI photometric keywords PHOTPLAM: WFC3/UVIS (UVIS2 chip,
2021 calibration, WFC3 Instrument Handbook §6.5) and ACS/WFC (ACS zeropoint tables).
"""

from __future__ import annotations

#: (name, instrument, band label, pivot wavelength in Angstrom, pyphot curve name)
FILTERS_V1: tuple[tuple[str, str, str, float, str], ...] = (
    ("F275W", "WFC3/UVIS", "NUV", 2709.7, "HST_WFC3_F275W"),
    ("F336W", "WFC3/UVIS", "U", 3354.7, "HST_WFC3_F336W"),
    ("F435W", "ACS/WFC", "B", 4329.2, "HST_ACS_WFC_F435W"),
    ("F438W", "WFC3/UVIS", "B", 4326.2, "HST_WFC3_F438W"),
    ("F555W", "WFC3/UVIS", "V", 5308.2, "HST_WFC3_F555W"),
    ("F555W", "ACS/WFC", "V", 5360.9, "HST_ACS_WFC_F555W"),
    ("F606W", "ACS/WFC", "V", 5921.9, "HST_ACS_WFC_F606W"),
    ("F606W", "WFC3/UVIS", "V", 5889.0, "HST_WFC3_F606W"),
    ("F814W", "WFC3/UVIS", "I", 8039.0, "HST_WFC3_F814W"),
    ("F814W", "ACS/WFC", "I", 8045.0, "HST_ACS_WFC_F814W"),
)

#: (name, description, reference, url)
SURVEYS_V1: tuple[tuple[str, str, str, str], ...] = (
    (
        "PHANGS-HST",
        "Physics at High Angular resolution in Nearby GalaxieS: HST NUV-U-B-V-I imaging "
        "of 38 nearby spiral galaxies and their star-cluster catalogues",
        "Lee et al. 2022, ApJS 258, 10",
        "https://archive.stsci.edu/hlsp/phangs-hst",
    ),
    (
        "LEGUS",
        "Legacy ExtraGalactic UV Survey: HST NUV-U-B-V-I imaging of 50 nearby galaxies "
        "and their star-cluster catalogues",
        "Calzetti et al. 2015, AJ 149, 51; Adamo et al. 2017, ApJ 841, 131",
        "https://archive.stsci.edu/prepds/legus/",
    ),
)
