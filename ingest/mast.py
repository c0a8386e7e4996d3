"""Download LEGUS and PHANGS-HST cluster catalogues from MAST (astroquery) into a cache.

``clustercat fetch legus GALAXY`` / ``fetch phangs GALAXY`` query the MAST high-level
science products (HLSP) of the survey around the galaxy, keep the cluster-catalogue files,
download them into the cache folder (``$CLUSTERCAT_CACHE`` or ``~/.cache/clustercat``) and
hand them to the usual ingest. Files already in the cache are not downloaded again.

The ingest applies the release definition of docs/ingest.md (``ReleaseRequest.extend``):
the release (``SURVEY-mast`` by default) is the survey's catalogue over the fields fetched
so far, so another galaxy's files add its fields to the newest version, and a re-issued
file of a galaxy already there makes a new version.

Network access happens only here, and only when a user asks for it; tests replace
``astroquery.mast.Observations`` with recorded responses.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from astropy import units as u

from .galaxies import canonical_galaxy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurveyProducts:
    """How to find one survey's cluster catalogues among MAST's HLSP products."""

    provenance: str  # MAST provenance_name of the HLSP collection
    product: re.Pattern  # productFilename of the wanted files
    members: re.Pattern | None = None  # files to keep from a downloaded tarball
    reader: str = "legus"


SURVEYS: dict[str, SurveyProducts] = {
    "legus": SurveyProducts(
        provenance="LEGUS",
        product=re.compile(r"^hlsp_legus_hst_.+_multiband_v\d_padagb-mwext-avgapcor\.tab(\.gz)?$"),
        reader="legus",
    ),
    "phangs": SurveyProducts(
        provenance="PHANGS-CAT",
        product=re.compile(r"^hlsp_phangs-cat_hst_.+_cats\.tar\.gz$"),
        # the human-classified class 1+2 and class 3 catalogues: disjoint sources
        members=re.compile(r"human.*class(12|3)\.fits$", re.IGNORECASE),
        reader="phangs",
    ),
}

SEARCH_RADIUS = 0.25 * u.deg


def cache_dir() -> Path:
    """Folder for downloaded catalogues (``$CLUSTERCAT_CACHE`` or ``~/.cache/clustercat``)."""
    env = os.environ.get("CLUSTERCAT_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "clustercat"
    return base / "mast"


def _galaxy_token(galaxy: str) -> str:
    """``NGC 628`` -> ``ngc628`` (folder name in the cache)."""
    return canonical_galaxy(galaxy)[1]


def names_galaxy(filename: str, galaxy: str) -> bool:
    """Whether an HLSP file name is about ``galaxy`` (``..._ngc628-c_...`` names NGC 628)."""
    wanted = canonical_galaxy(galaxy)[0]
    for segment in filename.split("_"):
        try:
            if canonical_galaxy(segment)[0] == wanted:
                return True
        except ValueError:
            continue
    return False


def hlsp_products(provenance: str, galaxy: str):  # noqa: ANN201 - (str, astropy Table)
    """The canonical galaxy name and every MAST HLSP product of ``provenance`` near it.

    One query for the catalogue fetch and the image fetch (:mod:`.mast_images`); raises
    ``LookupError`` when MAST has no such observation.
    """
    from astroquery.mast import Observations

    name = canonical_galaxy(galaxy)[0]
    observations = Observations.query_criteria(
        objectname=name, radius=SEARCH_RADIUS, provenance_name=provenance,
        obs_collection="HLSP",
    )  # fmt: skip
    if len(observations) == 0:
        raise LookupError(f"MAST has no {provenance} products near {name}")
    return name, Observations.get_product_list(observations)


def find_products(survey: str, galaxy: str):  # noqa: ANN201 - astropy Table
    """The MAST product rows of ``survey``'s cluster catalogues for ``galaxy``."""
    spec = SURVEYS[survey]
    name, products = hlsp_products(spec.provenance, galaxy)
    keep = [
        i for i, filename in enumerate(products["productFilename"])
        if spec.product.match(str(filename)) and names_galaxy(str(filename), galaxy)
    ]  # fmt: skip
    if not keep:
        raise LookupError(f"no {spec.provenance} cluster catalogue of {name} among the products")
    return products[keep]


def _unpack(archive: Path, members: re.Pattern, into: Path) -> list[Path]:
    out = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and members.search(name):
                target = into / name
                if not target.exists():
                    with tar.extractfile(member) as src:
                        target.write_bytes(src.read())
                out.append(target)
    return sorted(out)


def download(survey: str, galaxy: str, cache: Path | None = None) -> list[Path]:
    """Download (or reuse from the cache) the cluster catalogues of ``galaxy``; their paths."""
    from astroquery.mast import Observations

    spec = SURVEYS[survey]
    folder = (cache or cache_dir()) / survey / _galaxy_token(galaxy)
    folder.mkdir(parents=True, exist_ok=True)
    products = find_products(survey, galaxy)
    missing = [i for i, f in enumerate(products["productFilename"])
               if not (folder / str(f)).exists()]  # fmt: skip
    if missing:
        manifest = Observations.download_products(
            products[missing], download_dir=str(folder), flat=True
        )
        failed = [str(row["Local Path"]) for row in manifest if row["Status"] != "COMPLETE"]
        if failed:
            raise OSError(f"MAST download failed for {', '.join(failed)}")
    files = [folder / str(f) for f in products["productFilename"]]
    if spec.members is not None:
        files = [p for archive in files for p in _unpack(archive, spec.members, folder)]
    log.info("%s %s: %d catalogue file(s) in %s", survey, galaxy, len(files), folder)
    return files
