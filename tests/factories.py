"""Small synthetic catalogues with known values: ORM rows for schema tests, PHANGS FITS tables."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from clustercat.schema import (
    CatalogueRelease,
    Classification,
    ClassificationMethod,
    Field,
    Filter,
    Galaxy,
    Morphology,
    Photometry,
    SedFit,
    SedMethod,
    Source,
    Survey,
)
from clustercat.schema.catalogue_entry import write_catalogue_entries
from sqlalchemy import select
from sqlalchemy.orm import Session

#: band -> (filter name, instrument) used by the synthetic release
FILTERS = {
    "NUV": ("F275W", "WFC3/UVIS"),
    "U": ("F336W", "WFC3/UVIS"),
    "B": ("F435W", "ACS/WFC"),
    "V": ("F555W", "ACS/WFC"),
    "I": ("F814W", "ACS/WFC"),
}


def filter_id(session: Session, band: str) -> int:
    name, instrument = FILTERS[band]
    return session.scalar(
        select(Filter.id).where(Filter.name == name, Filter.instrument == instrument)
    )


def make_release(
    session: Session,
    name: str = "synthetic-v1",
    status: str = "complete",
    n_sources: int = 3,
    galaxy: str = "NGC 628",
    field: str = "ngc628c",
) -> CatalogueRelease:
    """A release with ``n_sources`` sources whose values follow from their index ``k``:

    ra = 24.17 + 0.001 k, dec = 15.78 + 0.001 k, mag in band j = 20 + k + 0.1 j (V missing
    for k = 0, status not_detected), CI = 1.0 + 0.1 k, log_age = 6 + k under the default
    SED method and 9.9 under a second one, class = k % 4 + 1 under a human method.
    """
    survey = session.scalar(select(Survey).where(Survey.name == "LEGUS"))
    gal = session.scalar(select(Galaxy).where(Galaxy.name == galaxy))
    if gal is None:
        gal = Galaxy(name=galaxy, ra_deg=24.174, dec_deg=15.784, distance_mpc=9.9)
        session.add(gal)
        session.flush()
    fld = session.scalar(select(Field).where(Field.name == field))
    if fld is None:
        fld = Field(name=field, galaxy_id=gal.id, pixel_scale_arcsec=0.04)
        session.add(fld)
        session.flush()
    default_sed = SedMethod(name=f"{name} default SED", ssp_model="Yggdrasil")
    other_sed = SedMethod(name=f"{name} other SED", ssp_model="BC03")
    human = ClassificationMethod(name=f"{name} human", kind="human")
    session.add_all([default_sed, other_sed, human])
    session.flush()
    release = CatalogueRelease(
        name=name, survey_id=survey.id, status=status, default_sed_method_id=default_sed.id
    )
    session.add(release)
    session.flush()
    for k in range(n_sources):
        src = Source(
            release_id=release.id,
            field_id=fld.id,
            id_in_release=k + 1,
            ra=24.17 + 0.001 * k,
            dec=15.78 + 0.001 * k,
            x=100.0 + k,
            y=200.0 + k,
        )
        session.add(src)
        session.flush()
        for j, band in enumerate(FILTERS):
            missing = band == "V" and k == 0
            session.add(
                Photometry(
                    source_id=src.id,
                    filter_id=filter_id(session, band),
                    kind="total",
                    status="not_detected" if missing else "measured",
                    mag_vega=None if missing else 20.0 + k + 0.1 * j,
                    mag_err=None if missing else 0.05,
                )
            )
        session.add(Morphology(source_id=src.id, constants_version="catalogue", ci=1.0 + 0.1 * k))
        session.add(
            SedFit(
                source_id=src.id, method_id=default_sed.id, log_age=6.0 + k, log_mass=4.0, ebv=0.1
            )
        )
        session.add(
            SedFit(source_id=src.id, method_id=other_sed.id, log_age=9.9, log_mass=5.0, ebv=0.2)
        )
        session.add(
            Classification(source_id=src.id, method_id=human.id, cluster_class=k % 4 + 1, score=1.5)
        )
    session.flush()
    if status in ("complete", "superseded"):  # as the loader does when a release completes
        write_catalogue_entries(session.connection(), release.id)
    return release


def phangs_table(n: int = 8, *, b_filter: str = "F438W", seed: int = 1) -> Table:
    """A table in the PHANGS-HST DR4 format of data/README.md with random but valid values."""
    rng = np.random.default_rng(seed)
    t = Table()
    t["INDEX"] = np.arange(1, n + 1)
    t["ID_PHANGS_CLUSTER"] = np.arange(1, n + 1)
    t["ID_PHANGS_CANDIDATE"] = rng.choice(np.arange(100, 100 + 10 * n), n, replace=False)
    t["ID_PHANGS_ALLSOURCES"] = t["ID_PHANGS_CANDIDATE"] * 3
    t["PHANGS_X"] = rng.uniform(1, 8000, n)
    t["PHANGS_Y"] = rng.uniform(1, 8000, n)
    t["PHANGS_RA"] = 65.0 + rng.uniform(-0.02, 0.02, n)
    t["PHANGS_DEC"] = -54.94 + rng.uniform(-0.02, 0.02, n)
    t["PHANGS_CLUSTER_CLASS_HUMAN"] = rng.integers(1, 3, n)
    t["PHANGS_CLUSTER_CLASS_ML_VGG"] = rng.integers(1, 5, n)
    t["PHANGS_CLUSTER_CLASS_ML_VGG_QUAL"] = rng.uniform(0.3, 1.0, n).round(1)
    for f in ("F275W", "F336W", b_filter, "F555W", "F814W"):
        t[f"PHANGS_{f}_VEGA"] = rng.uniform(19, 25, n)
        t[f"PHANGS_{f}_VEGA_ERR"] = rng.uniform(0.01, 0.2, n)
        t[f"PHANGS_{f}_mJy"] = rng.uniform(1e-4, 1e-2, n)
        err = "_mJy_TOT_ERR" if f in ("F555W", "F814W") else "_mJy_ERR"
        t[f"PHANGS_{f}{err}"] = rng.uniform(1e-5, 1e-3, n)
    t["PHANGS_NON_DETECTION_FLAG"] = np.zeros(n, dtype=int)
    t["PHANGS_NO_COVERAGE_FLAG"] = np.zeros(n, dtype=int)
    t["PHANGS_CI"] = rng.uniform(1.2, 2.5, n)
    t["CC_CLASS"] = rng.choice(["ycl", "map", "ogcc", "outside"], n)
    return t
