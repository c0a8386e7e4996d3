"""Registry of the LEGUS HLSP cluster-catalogue layouts (data/legus/LAYOUTS.md).

The 39 public ``hlsp_legus_hst_*_multiband_*_padagb-mwext-avgapcor.tab`` files share the
standard block of columns 1-33 (LAYOUTS.md §2.1; NGC 1313 inserts mosaic x, y as columns 4-5
and shifts every later column by +2) and differ in their trailing class / flag columns: nine
layouts (LAYOUTS.md §2.2). :data:`FILES` maps every public file name to its layout, galaxy,
field, filters and instruments; :data:`LAYOUTS` describes each layout; :data:`METHODS` holds one
:class:`ClassificationMethodSpec` per class column kind so that the same method has the same
spec in every file.

Filters and instruments (LAYOUTS.md §2.3). F275W and F336W exist only on WFC3/UVIS and F438W
only on WFC3/UVIS, F435W only on ACS/WFC, so those camera assignments follow from the filter
name. The B/V names and the V/I camera come from the galaxy lists in gperezs/StarcNet
``src/utils/data_utils.py`` ("targets with ACS filters") and the instrument token of the file
name; each band carries a confidence (high / medium / low), see :func:`optics_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clustercat.ingest.contract import ClassificationMethodSpec, SedMethodSpec
from clustercat.ingest.galaxies import canonical_galaxy

FILE_PATTERN = re.compile(
    r"^hlsp_legus_hst_(?P<inst>acs-wfc3|wfc3|acs)_(?P<target>[a-z0-9-]+?)_multiband_"
    r"(?P<version>v\d+)_padagb-mwext-avgapcor\.tab(?:\.gz)?$"
)

# --- classification methods ------------------------------------------------------------------
_ADAMO17 = "Adamo et al. 2017, ApJ 841, 131; LEGUS HLSP readme"
METHODS: dict[str, ClassificationMethodSpec] = {
    m.name: m
    for m in (
        ClassificationMethodSpec(
            "LEGUS human mode",
            "human",
            "LEGUS visual class (1 compact symmetric, 2 asymmetric, 3 multi-peak association, "
            "4 spurious), mode of the team's classifiers (usually 3). Score = mean of the human "
            "votes where the file has a class-mean column. Class 0 (not inspected: fails "
            "Nflt>=4, CI cut or M_V<=-6) gives no row.",
            _ADAMO17,
        ),
        ClassificationMethodSpec(
            "LEGUS visual",
            "human",
            "Visual LEGUS class 1-4 of NGC 4248 / NGC 4485 (layout L34-CLASS). Whether it is the "
            "mode of several classifiers or a single classification cannot be established from "
            "the file (LAYOUTS.md §3, medium confidence). Class 0 gives no row.",
            "LAYOUTS.md §2.2, §3",
        ),
        ClassificationMethodSpec(
            "LEGUS ML",
            "ml",
            "LEGUS machine-learning class 1-4 as released in the HLSP catalogue (NGC 1566, "
            "NGC 4449). Class 0 (not classified) gives no row.",
            _ADAMO17,
        ),
        ClassificationMethodSpec(
            "LEGUS hybrid",
            "hybrid",
            "NGC 1566 class to use: ML only (method_flag 0), ML verified by one human (1), three "
            "humans (3, 4), re-inspection of former class-4 sources (6). method_flag is the "
            "file's hybrid-method column.",
            "LEGUS NGC 1566 readme (quoted in gillenbrown/LEGUS-sizes format_catalogs.py)",
        ),
        ClassificationMethodSpec(
            "LEGUS human verify ML",
            "human",
            "NGC 1566: class assigned by one human who verified the ML classification.",
            "LEGUS NGC 1566 readme",
        ),
        ClassificationMethodSpec(
            "LEGUS human reclassify class 4",
            "human",
            "NGC 1566: re-classification by one human of sources originally class 4 with "
            "CI <= 1.8, V-I <= 1.8 mag and V > 18 mag.",
            "LEGUS NGC 1566 readme",
        ),
        ClassificationMethodSpec(
            "Whitmore visual",
            "human",
            "Visual class by B. Whitmore (NGC 4449) or S. Linden & B. Whitmore from a grid search "
            "of the whole image; quality = 1 certain, 2 likely, 3 possible. Class 0 (NGC 4449: "
            "class 5) = not inspected gives no row.",
            "Whitmore et al. 2020; LEGUS readme text quoted in gillenbrown/LEGUS-sizes",
        ),
    )
}

#: The SED method of every ``padagb-mwext-avgapcor`` catalogue.
#:
#: Sources. The NGC 628 readme (data/ngc628/LEGUS_description.txt, the '#' notes before "Order
#: of the columns") gives the code (Adamo et al. 2010, errors 2012), the models ("Yggdrasil
#: models (Kroupa IMF, nebular continuum+emission line with covering factor =0.5, metallicity
#: Z=0.02, PadAGB isocrones)"), the distance and the 68 % bounds (columns 18-25: "max ... / min
#: ... (within 68 % confidence level)", max before min). The HLSP file name names the fit's
#: variant token by token: ``padagb`` (tracks) - ``mwext`` (extinction law) - ``avgapcor``
#: (aperture correction): the readme itself contrasts the "avgapcor catalog" with the
#: "CI-based catalog", so the tokens name choices of the fit, not properties shared by all
#: files (the Galactic foreground correction, "Galactic ext from NED", is one of those).
#:
#: Extinction law: **Milky Way (Cardelli et al. 1989)**, as ``mwext`` says. The readme's note
#: "Starburst extinction law applied to derive cluster properties" does not describe these
#: files: at the catalogued age, mass and E(B-V) the Yggdrasil grid reddened with CCM89
#: (R_V = 3.1) reproduces the measured NGC 628-c magnitudes equally well at every E(B-V)
#: (median model - measured +0.02 to +0.03 mag over all bands for E(B-V) = 0, 0.05-0.15,
#: 0.15-0.3 and > 0.3), while the Calzetti et al. (2000) law leaves the models too faint by
#: +0.11, +0.22 and +0.43 mag in the reddened bins (tests/test_provenance.py,
#: test_extinction_law_is_the_file_names_milky_way). An earlier version of this registry
#: recorded the readme's starburst law; ``ingest.loader.ensure_sed_method`` keeps an existing
#: ``sed_method`` row by name, so databases ingested before keep that text until a migration
#: updates the row.
#:
#: Mass: neither the readme ("best mass in solar masses") nor the column list says whether it
#: is the mass formed or the mass still in stars. The numbers say the latter: for NGC 628-c
#: fits with E(B-V) = 0 the Yggdrasil ``Mstars`` ("living") normalisation reproduces the
#: magnitudes within 0.06 mag in every band, the ``Mconverted`` ("formed") one is 0.12-0.23
#: mag too faint (tests/test_provenance.py, test_masses_are_masses_in_living_stars).
SED_METHOD = SedMethodSpec(
    name="LEGUS padagb-mwext-avgapcor",
    code="LEGUS deterministic chi2 SED fit (Adamo et al. 2010 MNRAS 407, 870; errors 2012)",
    ssp_model="Yggdrasil (Zackrisson et al. 2011), Padova-AGB tracks, nebular emission with "
    "covering factor 0.5",
    imf="Kroupa",
    metallicity=None,
    extinction_law="Milky Way (Cardelli et al. 1989), R_V = 3.1",
    description="Fit to the average-aperture-corrected magnitudes, corrected for Galactic "
    "foreground extinction from NED, of sources with Nflt >= 4 (>= 3 in the extended files); "
    "age, mass, E(B-V) with 68 % bounds (the files give max before min). Internal extinction: "
    "Milky-Way law ('mwext' in the file name); the NGC 628 readme's "
    "'Starburst extinction law applied to derive cluster properties' is contradicted by the "
    "fits, which CCM89 reproduces at every E(B-V) and a Calzetti law does not. Mass: the mass "
    "in living stars (present-day stellar mass, Yggdrasil Mstars), not the mass formed; "
    "measured (E(B-V) = 0 fits), not stated by the readme. Metallicity Z = 0.02 for NGC 628 "
    "(its readme); the value used for other galaxies is not stated in the .tab files.",
)


@dataclass(frozen=True)
class ClassColumn:
    """One class-like column: its 1-based position and what goes with it."""

    column: int
    method: str  # key of METHODS
    score_column: int | None = None  # e.g. class_mean_human
    quality_column: int | None = None  # Whitmore quality 1-3
    method_flag_column: int | None = None  # NGC 1566 hybrid method flag
    not_inspected: tuple[int, ...] = ()  # values meaning "not inspected" (NGC 4449: 5)


@dataclass(frozen=True)
class Layout:
    """One of the nine layouts of LAYOUTS.md §2.2."""

    name: str
    ncols: int
    mosaic: bool  # NGC 1313: x, y mosaic at columns 4-5 and +2 shift of the standard block
    class_columns: tuple[ClassColumn, ...]
    primary_class_column: int  # LAYOUTS.md §2.2 "Primary class column"
    selection_column: int | None
    halpha_column: int | None
    confidence: str
    evidence: str

    def col(self, std: int) -> int:
        """1-based file column of standard-block column ``std`` (LAYOUTS.md §2.1)."""
        return std + 2 if self.mosaic and std >= 4 else std

    @property
    def primary_method(self) -> str:
        """Name of the classification method in the primary class column."""
        return next(c.method for c in self.class_columns if c.column == self.primary_class_column)


def _cc(column: int, method: str, **kw: object) -> ClassColumn:
    return ClassColumn(column, method, **kw)  # type: ignore[arg-type]


LAYOUTS: dict[str, Layout] = {
    lay.name: lay
    for lay in (
        Layout(
            "L35-MODE-MEAN", 35, False,
            (_cc(34, "LEGUS human mode", score_column=35),), 34, None, None, "high",
            "NGC 628 readme (data/ngc628/LEGUS_description.txt); verified against Ryon+2017.",
        ),
        Layout(
            "L37-1313-MOSAIC", 37, True,
            (_cc(36, "LEGUS human mode", score_column=37),), 36, None, None, "high",
            "Readme text quoted in gillenbrown/LEGUS-sizes; verified against Ryon+2017.",
        ),
        Layout(
            "L39-1566-HYBRID", 39, False,
            (
                _cc(34, "LEGUS hybrid", method_flag_column=35),
                _cc(36, "LEGUS human mode"),
                _cc(37, "LEGUS ML"),
                _cc(38, "LEGUS human verify ML"),
                _cc(39, "LEGUS human reclassify class 4"),
            ),
            34, None, None, "high",
            "Readme quoted in gillenbrown/LEGUS-sizes; hybrid = column chosen by the flag, 100 %.",
        ),
        Layout(
            "L36-MODE-MEAN-SEL", 36, False,
            (_cc(34, "LEGUS human mode", score_column=35),), 34, 36, None, "high",
            "No readme; class mode/mean checks pass; column 36 binary, flags IDs 1..k.",
        ),
        Layout(
            "L35-CLASS-SEL", 35, False,
            (_cc(34, "LEGUS human mode"),), 34, 35, None, "medium",
            "No readme; column 34 integer 0-4, presumed human mode (no mean column).",
        ),
        Layout(
            "L34-CLASS", 34, False,
            (_cc(34, "LEGUS visual"),), 34, None, None, "medium",
            "No readme; column 34 integer 0-4, exact definition unknown.",
        ),
        Layout(
            "L37-SEL-WHITMORE", 37, False,
            (_cc(35, "Whitmore visual", quality_column=36),), 35, 34, 37, "medium-high",
            "No readme; selection flag flags the last k IDs; H-alpha column shows the age trend.",
        ),
        Layout(
            "L37-WHITMORE-SEL", 37, False,
            (_cc(34, "Whitmore visual", quality_column=35),), 34, 37, 36, "medium-high",
            "No readme; same pattern as NGC 4449 without the ML column.",
        ),
        Layout(
            "L38-4449-WHITMORE-ML", 38, False,
            (
                _cc(34, "Whitmore visual", quality_column=35, not_inspected=(5,)),
                _cc(37, "LEGUS ML"),
            ),
            34, 38, 36, "high",
            "Verified against Whitmore+2020 (tables/whitmore2020_ngc4449_clusters_mrt.txt).",
        ),
    )
}  # fmt: skip

# --- the 39 public files (LAYOUTS.md, last table) --------------------------------------------
_FILE_LAYOUTS: tuple[tuple[str, str, str, str], ...] = (
    # (instrument token, target, version, layout)
    ("acs-wfc3", "ic4247", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc3274", "v2", "L35-CLASS-SEL"),
    ("acs-wfc3", "ngc3351", "v1", "L37-SEL-WHITMORE"),
    ("acs-wfc3", "ngc3738", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc4248", "v2", "L34-CLASS"),
    ("acs-wfc3", "ngc4395-s", "v1", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc4449", "v2", "L38-4449-WHITMORE-ML"),
    ("acs-wfc3", "ngc4485", "v2", "L34-CLASS"),
    ("acs-wfc3", "ngc5238", "v1", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc5253", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc5474", "v1", "L37-WHITMORE-SEL"),
    ("acs-wfc3", "ngc5477", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ngc628-c", "v1", "L35-MODE-MEAN"),
    ("acs-wfc3", "ngc628-e", "v1", "L35-MODE-MEAN"),
    ("acs-wfc3", "ngc7793-w", "v1", "L35-MODE-MEAN"),
    ("acs-wfc3", "ugc1249", "v1", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc4305", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc4459", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc5139", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc5340", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc685", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc695", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugc7408", "v2", "L36-MODE-MEAN-SEL"),
    ("acs-wfc3", "ugca281", "v2", "L36-MODE-MEAN-SEL"),
    ("wfc3", "eso486-g021", "v2", "L37-WHITMORE-SEL"),
    ("wfc3", "ic559", "v2", "L36-MODE-MEAN-SEL"),
    ("wfc3", "ngc1313-e", "v1", "L37-1313-MOSAIC"),
    ("wfc3", "ngc1313-w", "v1", "L37-1313-MOSAIC"),
    ("wfc3", "ngc1433", "v1", "L35-MODE-MEAN"),
    ("wfc3", "ngc1566", "v1", "L39-1566-HYBRID"),
    ("wfc3", "ngc1705", "v2", "L36-MODE-MEAN-SEL"),
    ("wfc3", "ngc3344", "v1", "L35-MODE-MEAN"),
    ("wfc3", "ngc4242", "v1", "L37-SEL-WHITMORE"),
    ("wfc3", "ngc4395-n", "v1", "L36-MODE-MEAN-SEL"),
    ("wfc3", "ngc45", "v1", "L37-SEL-WHITMORE"),
    ("wfc3", "ngc4656", "v2", "L36-MODE-MEAN-SEL"),
    ("wfc3", "ngc6503", "v1", "L35-MODE-MEAN"),
    ("wfc3", "ngc7793-e", "v1", "L35-MODE-MEAN"),
    ("wfc3", "ugc7242", "v2", "L36-MODE-MEAN-SEL"),
)

# LAYOUTS.md §2.3: B / V filter names per target, and the stated confidence.
_BV_GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("F438W", "F606W", "medium", (
        "ic4247", "ngc3738", "ngc5238", "ngc5474", "ngc5477", "ugc1249", "ugc685", "ugc7408",
        "ugca281",
    )),
    ("F438W", "F555W", "medium", (
        "ngc4395-s", "ngc7793-w", "ugc4305", "ugc4459", "ugc5139", "eso486-g021", "ic559",
        "ngc1433", "ngc1566", "ngc1705", "ngc3344", "ngc4242", "ngc4395-n", "ngc45", "ngc4656",
        "ngc6503", "ngc7793-e", "ugc7242",
    )),
    ("F435W", "F555W", "medium", ("ngc4449", "ngc5253", "ngc628-c", "ngc628-e")),
    ("F435W", "F555W", "low", ("ngc1313-e", "ngc1313-w")),
    # Unknown in LAYOUTS.md §2.3 ("F435W or F438W / F555W or F606W"). Judgement call: B = F438W,
    # the WFC3 B filter of 14 of the 17 other acs-wfc3 targets; V from the weak colour hint of
    # §2.3 ((V-I)/(B-I)), which LAYOUTS.md itself does not trust -> "low".
    ("F438W", "F555W", "low", ("ngc3274", "ngc3351", "ngc4248", "ngc4485")),
    ("F438W", "F606W", "low", ("ugc5340", "ugc695")),
)  # fmt: skip

# gperezs/StarcNet src/utils/data_utils.py, "targets with ACS filters".
_STARCNET_ACS: dict[str, tuple[str, ...]] = {
    "acs435814": ("ngc628-e",),
    "acs555814": ("ngc4395-s", "ngc7793-w", "ugc4305", "ugc4459", "ugc5139"),
    "acs606814": (
        "ic4247", "ngc3738", "ngc5238", "ngc5474", "ngc5477", "ugc1249", "ugc685", "ugc7408",
        "ugca281",
    ),
    "acs435555814": ("ngc1313-e", "ngc1313-w", "ngc4449", "ngc5253", "ngc628-c"),
}  # fmt: skip


@dataclass(frozen=True)
class LegusFile:
    """Everything the registry knows about one public LEGUS catalogue file."""

    file_name: str
    instrument_token: str  # "acs-wfc3" | "wfc3" (from the file name)
    target: str  # file-name galaxy token, e.g. "ngc628-c"
    version: str  # "v1" | "v2"
    layout: str  # key of LAYOUTS
    galaxy: str  # canonical, e.g. "NGC 628"
    field: str  # e.g. "ngc628c"
    filters: dict[str, str] = field(default_factory=dict)
    filter_confidence: dict[str, str] = field(default_factory=dict)
    instruments: dict[str, str] = field(default_factory=dict)
    instrument_confidence: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# Targets whose B/V filter names are stated by a readme or a published table: NGC 628
# (data/ngc628/LEGUS_description.txt: ACS F435W, F555W) and NGC 4449 (Whitmore+2020 MRT).
_FILTERS_CONFIRMED: tuple[str, ...] = ("ngc628-c", "ngc628-e", "ngc4449")


# Targets whose V and I cameras are stated by a readme or by the headers of the real images:
# NGC 628-c by its readme (data/ngc628/LEGUS_description.txt, columns 12-15: "final total mag
# in ACS/F555W", "... ACS/F814W"; test_provenance.py parses it), NGC 628-e by the drizzled
# images' headers (data/phangs-metadata/header_info_ngc628e_prime.txt: F555W UVIS, F814W WFC).
_CAMERAS_CONFIRMED: dict[str, tuple[str, str, str]] = {
    "ngc628-c": ("ACS/WFC", "ACS/WFC", "the NGC 628 readme (LEGUS_description.txt)"),
    "ngc628-e": ("WFC3/UVIS", "ACS/WFC", "phangs-metadata/header_info_ngc628e_prime.txt"),
}


def optics_for(target: str, token: str) -> tuple[dict, dict, dict, dict, tuple[str, ...]]:
    """Filters, instruments and their confidences for one target (LAYOUTS.md §2.3)."""
    b, v, conf = next((b, v, c) for b, v, c, ts in _BV_GROUPS if target in ts)
    if target in _FILTERS_CONFIRMED:
        conf = "high"
    filters = {"NUV": "F275W", "U": "F336W", "B": b, "V": v, "I": "F814W"}
    fconf = {"NUV": "high", "U": "high", "B": conf, "V": conf, "I": "high"}
    wfc3, acs = "WFC3/UVIS", "ACS/WFC"
    inst = {"NUV": wfc3, "U": wfc3, "B": wfc3 if b == "F438W" else acs}
    iconf = {"NUV": "high", "U": "high", "B": "high"}
    starcnet = next((k for k, ts in _STARCNET_ACS.items() if target in ts), None)
    notes: list[str] = []
    if token == "wfc3" and starcnet is None:
        # Only WFC3 in the file name: every band is WFC3/UVIS (B = F438W is then certain).
        inst |= {"V": wfc3, "I": wfc3}
        iconf |= {"V": "high", "I": "high"}
        fconf["B"] = "high"  # F435W does not exist on WFC3
    elif starcnet is not None:
        acs_bands = {"B": "435" in starcnet, "V": "555" in starcnet or "606" in starcnet, "I": True}
        for band, is_acs in acs_bands.items():
            if band != "B":
                inst[band] = acs if is_acs else wfc3
        c = "low" if token == "wfc3" else "medium"
        iconf |= {"V": c, "I": c}
        notes.append(f"V/I camera from StarcNet list {starcnet}")
        if target == "ngc4449":  # Whitmore+2020 MRT: ACS/F435W, ACS/F555W, ACS/F814W
            iconf |= {"V": "high", "I": "high"}
        if token == "wfc3":
            notes.append("file name says wfc3 only but StarcNet lists ACS F435W/F555W/F814W")
            iconf["B"] = "low"
    else:
        # acs-wfc3 target absent from the StarcNet lists: archival ACS V and I assumed.
        inst |= {"V": acs, "I": acs}
        iconf |= {"V": "low", "I": "low"}
        notes.append("B/V filters and V/I camera unknown (LAYOUTS.md §2.3); best guess")
    if target in _CAMERAS_CONFIRMED:
        v_camera, i_camera, evidence = _CAMERAS_CONFIRMED[target]
        inst |= {"V": v_camera, "I": i_camera}
        iconf |= {"V": "high", "I": "high"}
        notes.append(f"V/I camera confirmed by {evidence}")
    return filters, fconf, inst, iconf, tuple(notes)


def _build_files() -> dict[str, LegusFile]:
    files: dict[str, LegusFile] = {}
    for token, target, version, layout in _FILE_LAYOUTS:
        name = f"hlsp_legus_hst_{token}_{target}_multiband_{version}_padagb-mwext-avgapcor.tab"
        galaxy, fld = canonical_galaxy(target)
        filters, fconf, inst, iconf, notes = optics_for(target, token)
        files[name] = LegusFile(
            name, token, target, version, layout, galaxy, fld, filters, fconf, inst, iconf, notes
        )
    return files


#: Every public LEGUS cluster catalogue file name -> its registry entry (39 files).
FILES: dict[str, LegusFile] = _build_files()


def lookup(file_name: str) -> LegusFile | None:
    """Registry entry for a file name (``.gz`` suffix ignored), or None if unknown."""
    name = file_name[:-3] if file_name.endswith(".gz") else file_name
    return FILES.get(name)
