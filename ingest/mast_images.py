"""Download the drizzled HLSP images of LEGUS and PHANGS-HST from MAST and register them.

``clustercat fetch images legus|phangs GALAXY [--field F] [--download-dir DIR]`` queries the
survey's high-level science products around the galaxy (``astroquery.mast.Observations``),
keeps the drizzled science images of that galaxy (LEGUS
``hlsp_legus_hst_<camera>_<target>_<filter>_v<n>_drc.fits``; PHANGS-HST
``hlsp_phangs-hst_hst_<camera>_<target>_<filter>_v<n>_exp-drc-sci.fits`` or ``..._drc.fits``),
downloads those not yet in the folder and registers them per field with
:func:`clustercat.processing.images_db.register_images` (one field per HLSP target, e.g.
``ngc628-c`` → ``ngc628c``). Network access happens only here; tests replace
``Observations`` with recorded responses.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from .galaxies import canonical_galaxy
from .mast import cache_dir, hlsp_products

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageProducts:
    """How to find one survey's drizzled science images among MAST's HLSP products."""

    provenance: str  # MAST provenance_name of the HLSP collection
    product: re.Pattern  # productFilename of a science image; groups 'target', 'filter'


_TAIL = r"_(?P<filter>f\d{3,4}(?:w|m|n|lp|x))_v[0-9.]+[a-z0-9.-]*?_(?:exp-)?dr[cz](?:-sci)?\.fits$"

IMAGE_SURVEYS: dict[str, ImageProducts] = {
    "legus": ImageProducts(
        provenance="LEGUS",
        product=re.compile(r"^hlsp_legus_hst_[a-z0-9-]+_(?P<target>[a-z0-9-]+)" + _TAIL, re.I),
    ),
    "phangs": ImageProducts(
        provenance="PHANGS-HST",
        product=re.compile(r"^hlsp_phangs-hst_hst_[a-z0-9-]+_(?P<target>[a-z0-9-]+)" + _TAIL, re.I),
    ),
}


def image_dir() -> Path:
    """Default download folder: ``$CLUSTERCAT_CACHE/mast/images`` (or ``~/.cache/...``)."""
    return cache_dir() / "images"


def _field_of(target: str, galaxy: str) -> str | None:
    """The field an HLSP target names, if it is ``galaxy`` (``ngc628-c`` → ``ngc628c``)."""
    try:
        name, field = canonical_galaxy(target.removesuffix("-mosaic").removesuffix("mosaic"))
    except ValueError:
        return None
    return field if name == canonical_galaxy(galaxy)[0] else None


def select_images(filenames: list[str], survey: str, galaxy: str, field: str | None = None):
    """``{field: {filter: filename}}`` of the survey's science images of ``galaxy``.

    Where MAST lists several versions of one field and filter, the last name in sort order
    (the highest version) is kept. Weight, error and preview files do not match. Fields and
    filters come sorted by name (F275W, F336W, ... is blue to red).
    """
    spec = IMAGE_SURVEYS[survey]
    wanted = None if field is None else canonical_galaxy(field)[1]
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for name in sorted(filenames):
        m = spec.product.match(name)
        if not m:
            continue
        fld = _field_of(m.group("target"), galaxy)
        if fld is None or (wanted is not None and fld != wanted):
            continue
        out[fld][m.group("filter").upper()] = name
    return {fld: dict(sorted(files.items())) for fld, files in sorted(out.items())}


def find_image_products(survey: str, galaxy: str, field: str | None = None):  # noqa: ANN201
    """MAST product rows of the survey's drizzled images of ``galaxy`` (astropy Table)."""
    spec = IMAGE_SURVEYS[survey]
    name, products = hlsp_products(spec.provenance, galaxy)
    names = [str(f) for f in products["productFilename"]]
    chosen = {f for files in select_images(names, survey, galaxy, field).values()
              for f in files.values()}  # fmt: skip
    if not chosen:
        where = f"field {field}" if field else name
        raise LookupError(f"no {spec.provenance} drizzled science image of {where} on MAST")
    keep, seen = [], set()
    for i, f in enumerate(names):  # a product can be listed under several observations
        if f in chosen and f not in seen:
            keep.append(i)
            seen.add(f)
    return products[keep]


def download_images(
    survey: str, galaxy: str, field: str | None = None, download_dir: Path | None = None
) -> dict[str, list[Path]]:
    """Download (or reuse) the images; ``{field: [paths]}``."""
    from astroquery.mast import Observations

    folder = (download_dir or image_dir() / survey / canonical_galaxy(galaxy)[1]).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    products = find_image_products(survey, galaxy, field)
    names = [str(f) for f in products["productFilename"]]
    missing = [i for i, f in enumerate(names) if not (folder / f).exists()]
    if missing:
        manifest = Observations.download_products(
            products[missing], download_dir=str(folder), flat=True
        )
        failed = [str(row["Local Path"]) for row in manifest if row["Status"] != "COMPLETE"]
        if failed:
            raise OSError(f"MAST download failed for {', '.join(failed)}")
    groups = select_images(names, survey, galaxy, field)
    return {fld: [folder / f for f in files.values()] for fld, files in sorted(groups.items())}


def fetch_images(
    engine: Engine,
    survey: str,
    galaxy: str,
    *,
    field: str | None = None,
    download_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, list]:
    """Download the survey's images of ``galaxy`` and register them; records per field.

    Each field is registered in its own transaction (all its files or none).
    """
    from clustercat.processing.images_db import register_images

    out = {}
    for fld, paths in download_images(survey, galaxy, field, download_dir).items():
        log.info("%s %s: registering %d image(s) of field %s", survey, galaxy, len(paths), fld)
        out[fld] = register_images(engine, paths, field=fld, galaxy=galaxy, progress=progress)
    return out
