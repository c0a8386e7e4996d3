"""Small synthetic catalogues written through the ORM, with known values, for schema tests."""

from __future__ import annotations

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
    return release
