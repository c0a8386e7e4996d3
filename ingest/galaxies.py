"""Canonical galaxy names, aliases and a small reference table of the LEGUS / PHANGS galaxies.

* :func:`canonical_galaxy` turns any spelling used by the surveys (``ngc628c``, ``NGC_628C``,
  ``ngc0628``, ``NGC628``, ``ngc628-c``, ``eso486-g021``, ``M74`` ...) into the canonical galaxy
  name (``NGC 628``) and a lower-case field name (``ngc628c``; ``ngc628`` when no pointing).
* :func:`galaxy_table` is the reference table for the ``galaxy`` entity (DESIGN.md §4): the 50
  LEGUS galaxies of Calzetti et al. (2015, AJ 149, 51) Table 1 (read with astropy from
  ``data/tables/calzetti2015_table1_legus_galaxies.txt``), their distances and distance method,
  the PHANGS-HST distances quoted in ``data/README.md`` and a centre position.

Centre positions (``ra_deg``, ``dec_deg``) are not in Calzetti's table. They are NED positions
as compiled in the OpenNGC database (CC-BY-SA-4.0; read from the ``pyongc`` 1.2.2 wheel and
typed in here, rounded to 1e-5 deg). For UGC/ESO galaxies that OpenNGC does not list, the centre
is the median position of the LEGUS sources from LAYOUTS.md §4 and says so in ``centre_ref``
(good to about 2 arcmin); it is NaN where neither is available.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table
from clustercat.schema.config import data_dir

CALZETTI_TABLE = "tables/calzetti2015_table1_legus_galaxies.txt"
CALZETTI_REF = "Calzetti et al. 2015, AJ 149, 51, Table 1"
PHANGS_DISTANCE_REF = "distance used by the PHANGS-HST papers (data/README.md)"
_OPENNGC = "NED position via OpenNGC (pyongc 1.2.2)"
_MEDIAN = "approximate: median LEGUS source position (LAYOUTS.md section 4), not the nucleus"


class UnknownGalaxyError(ValueError):
    """A galaxy name that cannot be parsed (or, with ``strict=True``, is not a known galaxy)."""


#: The 50 LEGUS galaxies (Calzetti et al. 2015 Table 1), canonical names.
LEGUS_GALAXIES: tuple[str, ...] = (
    "NGC 1291", "NGC 1433", "NGC 1510", "NGC 1512", "ESO 486-G021", "NGC 3368", "NGC 4594",
    "NGC 1566", "NGC 3351", "NGC 3627", "NGC 4248", "NGC 4258", "IC 4247", "NGC 5195",
    "UGC 695", "NGC 628", "IC 559", "NGC 3344", "NGC 4605", "NGC 5194", "NGC 5457", "NGC 5949",
    "NGC 6503", "NGC 6744", "NGC 45", "NGC 1313", "NGC 2500", "NGC 3274", "UGC 7242",
    "NGC 4242", "NGC 4490", "NGC 5238", "NGC 5474", "NGC 7793", "UGC 685", "UGC 1249",
    "UGC 7408", "NGC 4395", "NGC 4485", "NGC 4656", "NGC 5477", "NGC 1705", "UGC 4305",
    "UGC 4459", "UGC 5139", "UGC 5340", "NGC 3738", "UGCA 281", "NGC 4449", "NGC 5253",
)  # fmt: skip

#: PHANGS-HST galaxies with a distance in data/README.md (Mpc).
PHANGS_DISTANCES_MPC: dict[str, float] = {
    "NGC 628": 9.8,
    "NGC 1433": 18.6,  # 8.3 Mpc in Thilker et al. 2022 (the Calzetti value)
    "NGC 1566": 17.7,
    "NGC 3351": 10.0,
    "NGC 3627": 11.3,
}

#: Centre positions (deg) and where they come from; see the module docstring.
CENTRES: dict[str, tuple[float, float, str]] = {
    "NGC 1291": (49.32746, -41.10806, _OPENNGC),
    "NGC 1433": (55.50646, -47.22208, _OPENNGC),
    "NGC 1510": (60.88600, -43.40011, _OPENNGC),
    "NGC 1512": (60.97617, -43.34886, _OPENNGC),
    "NGC 3368": (161.69058, 11.81994, _OPENNGC),
    "NGC 4594": (189.99762, -11.62306, _OPENNGC),
    "NGC 1566": (65.00175, -54.93781, _OPENNGC),
    "NGC 3351": (160.99042, 11.70381, _OPENNGC),
    "NGC 3627": (170.06233, 12.99153, _OPENNGC),
    "NGC 4248": (184.45771, 47.40919, _OPENNGC),
    "NGC 4258": (184.73958, 47.30397, _OPENNGC),
    "IC 4247": (201.68512, -30.36242, _OPENNGC),
    "NGC 5195": (202.49829, 47.26614, _OPENNGC),
    "NGC 628": (24.17396, 15.78367, _OPENNGC),
    "IC 559": (146.18288, 9.61500, _OPENNGC),
    "NGC 3344": (160.87979, 24.92222, _OPENNGC),
    "NGC 4605": (189.99742, 61.60919, _OPENNGC),
    "NGC 5194": (202.46963, 47.19517, _OPENNGC),
    "NGC 5457": (210.80225, 54.34894, _OPENNGC),
    "NGC 5949": (232.00279, 64.76319, _OPENNGC),
    "NGC 6503": (267.36012, 70.14436, _OPENNGC),
    "NGC 6744": (287.44208, -63.85753, _OPENNGC),
    "NGC 45": (3.51662, -23.18208, _OPENNGC),
    "NGC 1313": (49.56688, -66.49825, _OPENNGC),
    "NGC 2500": (120.47171, 50.73711, _OPENNGC),
    "NGC 3274": (158.07196, 27.66878, _OPENNGC),
    "NGC 4242": (184.37575, 45.61931, _OPENNGC),
    "NGC 4490": (187.65100, 41.64389, _OPENNGC),
    "NGC 5238": (203.67712, 51.61367, _OPENNGC),
    "NGC 5474": (211.25671, 53.66222, _OPENNGC),
    "NGC 7793": (359.45763, -32.59103, _OPENNGC),
    "UGC 1249": (26.87454, 27.33336, _OPENNGC + "; listed there as IC 1727 = UGC 1249"),
    "NGC 4395": (186.45358, 33.54692, _OPENNGC),
    "NGC 4485": (187.62971, 41.70117, _OPENNGC),
    "NGC 4656": (190.99054, 32.16814, _OPENNGC),
    "NGC 5477": (211.38875, 54.46114, _OPENNGC),
    "NGC 1705": (73.55625, -53.36106, _OPENNGC),
    "UGC 4305": (124.77075, 70.72003, _OPENNGC + " addendum"),
    "NGC 3738": (173.95329, 54.52389, _OPENNGC),
    "NGC 4449": (187.04625, 44.09364, _OPENNGC),
    "NGC 5253": (204.98317, -31.64011, _OPENNGC),
    "UGC 685": (16.84447, 16.68417, _MEDIAN),
    "UGC 695": (16.94384, 1.06391, _MEDIAN),
    "UGC 4459": (128.53110, 66.17713, _MEDIAN),
    "UGC 5139": (145.12392, 71.18417, _MEDIAN),
    "UGC 5340": (149.19019, 28.82618, _MEDIAN),
    "UGC 7242": (183.53566, 66.09444, _MEDIAN),
    "UGC 7408": (185.31081, 45.81225, _MEDIAN),
}

#: Common names that are not catalogue numbers.
_NAMED_ALIASES: dict[str, tuple[str, str]] = {
    "m51": ("NGC 5194", "ngc5194"),
    "m51a": ("NGC 5194", "ngc5194"),
    "m51b": ("NGC 5195", "ngc5195"),
    "ngc5194-ngc5195-mosaic": ("NGC 5194", "ngc5194-ngc5195-mosaic"),
    "m66": ("NGC 3627", "ngc3627"),
    "m74": ("NGC 628", "ngc628"),
    "m95": ("NGC 3351", "ngc3351"),
    "m96": ("NGC 3368", "ngc3368"),
    "m101": ("NGC 5457", "ngc5457"),
    "m104": ("NGC 4594", "ngc4594"),
    "m106": ("NGC 4258", "ngc4258"),
    "holmbergii": ("UGC 4305", "ugc4305"),
}

_NUMBERED = re.compile(r"^(ngc|ic|ugca|ugc|pgc)0*(\d+)(?:-?([a-z]))?$")
_ESO = re.compile(r"^eso0*(\d+)-?g?0*(\d+)(?:-?([a-z]))?$")
_CATALOGUE_LABEL = {"ngc": "NGC", "ic": "IC", "ugca": "UGCA", "ugc": "UGC", "pgc": "PGC"}


def canonical_galaxy(name: str, *, strict: bool = False) -> tuple[str, str]:
    """``(canonical galaxy name, lower-case field name)`` for any survey spelling of a galaxy.

    ``canonical_galaxy("ngc628c") == ("NGC 628", "ngc628c")``; ``"NGC_628C"``, ``"ngc628-c"``
    give the same; ``"ngc0628"``, ``"NGC628"`` and ``"NGC 628"`` give ``("NGC 628", "ngc628")``.
    A trailing single letter is a pointing (LEGUS ``-c``, ``-e``, ``-n``, ``-s``, ``-w``).
    With ``strict=True`` the galaxy must be a LEGUS or PHANGS galaxy of :func:`galaxy_table`.
    Raises :class:`UnknownGalaxyError` otherwise.
    """
    key = re.sub(r"[\s_]+", "", str(name).strip().lower())
    if key in _NAMED_ALIASES:
        galaxy, fld = _NAMED_ALIASES[key]
    elif m := _NUMBERED.match(key):
        cat, num, pointing = m.groups()
        galaxy = f"{_CATALOGUE_LABEL[cat]} {int(num)}"
        fld = f"{cat}{int(num)}{pointing or ''}"
    elif m := _ESO.match(key):
        field_no, gal_no, pointing = m.groups()
        galaxy = f"ESO {int(field_no)}-G{int(gal_no):03d}"
        fld = f"eso{int(field_no)}-g{int(gal_no):03d}{pointing or ''}"
    else:
        raise UnknownGalaxyError(f"cannot parse galaxy name {name!r}")
    if strict and galaxy not in known_galaxies():
        raise UnknownGalaxyError(f"{name!r} ({galaxy}) is not a LEGUS or PHANGS-HST galaxy")
    return galaxy, fld


def known_galaxies() -> frozenset[str]:
    """Canonical names of the LEGUS and PHANGS-HST galaxies this module knows."""
    return frozenset(LEGUS_GALAXIES) | frozenset(PHANGS_DISTANCES_MPC)


def galaxy_aliases(
    galaxies: Iterable[str] | None = None, fields: Iterable[str] = ()
) -> pd.DataFrame:
    """Alias rows for the ``galaxy_alias`` table: columns ``alias``, ``galaxy``.

    For each canonical name: the name itself, without blank, with underscore, lower case and the
    zero-padded NED/HyperLEDA form (``NGC0628``), plus the Messier/common names above. Each
    field token in ``fields`` (e.g. LEGUS ``ngc628-c``) adds ``ngc628-c``, ``ngc628c`` and
    ``NGC_628C`` for its galaxy.
    """
    if galaxies is None:
        names = sorted(known_galaxies())
    else:
        names = sorted({canonical_galaxy(g)[0] for g in galaxies})
    rows: set[tuple[str, str]] = set()
    for token in fields:
        gal, fld = canonical_galaxy(token)
        suffix = fld[len(canonical_galaxy(gal)[1]) :]  # the pointing letter, if any
        rows |= {(token, gal), (fld, gal), (f"{gal.replace(' ', '_')}{suffix.upper()}", gal)}
        names = sorted(set(names) | {gal})
    for gal in names:
        cat, _, rest = gal.partition(" ")
        variants = {gal, gal.replace(" ", ""), gal.replace(" ", "_")}
        if cat in ("NGC", "IC", "UGC", "UGCA") and rest.isdigit():
            variants.add(
                f"{cat}{int(rest):04d}" if cat in ("NGC", "IC") else f"{cat}{int(rest):05d}"
            )
        variants |= {v.lower() for v in variants}
        rows |= {(v, gal) for v in variants}
    for alias, (gal, _fld) in _NAMED_ALIASES.items():
        if gal in names:
            rows.add((alias.upper() if alias.startswith("m") else alias, gal))
    out = pd.DataFrame(sorted(rows), columns=["alias", "galaxy"])
    return out.astype({"alias": "string", "galaxy": "string"})


def galaxy_table(path: str | Path | None = None) -> pd.DataFrame:
    """Reference table of the LEGUS (+ PHANGS) galaxies, one row per canonical name.

    Columns: ``name``, ``ra_deg``, ``dec_deg``, ``centre_ref``, ``distance_mpc`` (Calzetti+2015),
    ``distance_method`` (TRGB, Ceph, TF, SNII, ...), ``distance_ref``, ``phangs_distance_mpc``,
    ``phangs_distance_ref``, ``morphology``, ``t_type``, ``inclination_deg``, ``legus``,
    ``phangs``. ``path`` defaults to ``data_dir() / CALZETTI_TABLE``.
    """
    src = Path(path) if path is not None else data_dir() / CALZETTI_TABLE
    return _galaxy_table(src.resolve()).copy()


@lru_cache(maxsize=4)
def _galaxy_table(src: Path) -> pd.DataFrame:
    if not src.exists():
        raise FileNotFoundError(f"Calzetti et al. 2015 Table 1 not found at {src}")
    # The file documents its own reading recipe (its third comment line).
    tab = Table.read(src, format="ascii.commented_header", header_start=3)
    names = [canonical_galaxy(n)[0] for n in tab["name"]]
    df = pd.DataFrame(
        {
            "name": names,
            "distance_mpc": np.asarray(tab["distance_mpc"], dtype=float),
            "distance_method": [str(v) for v in tab["distance_method"]],
            "distance_ref": CALZETTI_REF,
            "morphology": [str(v) for v in tab["morphology"]],
            "t_type": np.asarray(tab["morphology_t_type"], dtype=float),
            "inclination_deg": np.asarray(tab["inclination"], dtype=float),
            "legus": True,
        }
    )
    extra = sorted(set(PHANGS_DISTANCES_MPC) - set(names))
    if extra:
        df = pd.concat([df, pd.DataFrame({"name": extra, "legus": False})], ignore_index=True)
    df["phangs"] = df["name"].isin(PHANGS_DISTANCES_MPC)
    df["phangs_distance_mpc"] = df["name"].map(PHANGS_DISTANCES_MPC).astype(float)
    df["phangs_distance_ref"] = np.where(df["phangs"], PHANGS_DISTANCE_REF, None)
    centre = df["name"].map(CENTRES)
    df["ra_deg"] = [c[0] if isinstance(c, tuple) else math.nan for c in centre]
    df["dec_deg"] = [c[1] if isinstance(c, tuple) else math.nan for c in centre]
    df["centre_ref"] = [c[2] if isinstance(c, tuple) else None for c in centre]
    cols = [
        "name", "ra_deg", "dec_deg", "centre_ref", "distance_mpc", "distance_method",
        "distance_ref", "phangs_distance_mpc", "phangs_distance_ref", "morphology", "t_type",
        "inclination_deg", "legus", "phangs",
    ]  # fmt: skip
    out = df[cols].copy()
    for c in ("name", "centre_ref", "distance_method", "distance_ref", "phangs_distance_ref",
              "morphology"):  # fmt: skip
        out[c] = out[c].astype("string")
    return out.sort_values("name", ignore_index=True)
