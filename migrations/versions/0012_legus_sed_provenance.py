"""LEGUS SED method provenance: a Milky-Way law and masses in living stars (issue 13).

Databases that ingested LEGUS before this revision record the readme's "starburst
(Calzetti et al. 2000)" law for the method ``LEGUS padagb-mwext-avgapcor``; the loader keeps
an existing ``sed_method`` row by name, so new ingests would not correct it. The fits are
Milky-Way (CCM89) fits with masses in living stars (``ingest/legus_layouts.py``, measured in
tests/test_provenance.py), so this revision rewrites the method's ``extinction_law`` and
``description``; the downgrade restores the old text. No fit value changes.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHOD = "LEGUS padagb-mwext-avgapcor"
LAW = 'Milky Way (Cardelli et al. 1989), R_V = 3.1'
DESCRIPTION = (
    'Fit to the average-aperture-corrected magnitudes, corrected for Galactic '
    'foreground extinction from NED, of sources with Nflt >= 4 (>= 3 in the extended '
    'files); age, mass, E(B-V) with 68 % bounds (the files give max before min). '
    "Internal extinction: Milky-Way law ('mwext' in the file name); the NGC 628 "
    "readme's 'Starburst extinction law applied to derive cluster properties' is "
    'contradicted by the fits, which CCM89 reproduces at every E(B-V) and a Calzetti '
    'law does not. Mass: the mass in living stars (present-day stellar mass, '
    'Yggdrasil Mstars), not the mass formed; measured (E(B-V) = 0 fits), not stated '
    'by the readme. Metallicity Z = 0.02 for NGC 628 (its readme); the value used for '
    'other galaxies is not stated in the .tab files.'
)
OLD_LAW = 'starburst (Calzetti et al. 2000)'
OLD_DESCRIPTION = (
    'Fit to the average-aperture-corrected magnitudes, corrected for Galactic '
    'foreground extinction from NED, of sources with Nflt >= 4 (>= 3 in the extended '
    "files); age, mass, E(B-V) with 68 % bounds. The readme: 'Starburst extinction "
    "law applied to derive cluster properties' (the internal reddening of the fit); "
    "'mwext' in the file name is the Milky-Way foreground correction of the "
    "photometry ('Galactic ext from NED ... is included'), not the law of the fit. "
    'Metallicity Z = 0.02 for NGC 628 (its readme); the value used for other galaxies '
    'is not stated in the .tab files.'
)


def _set(law: str, description: str) -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE sed_method SET extinction_law = :law, description = :description "
            "WHERE name = :name"
        ),
        {"law": law, "description": description, "name": METHOD},
    )


def upgrade() -> None:
    _set(LAW, DESCRIPTION)


def downgrade() -> None:
    _set(OLD_LAW, OLD_DESCRIPTION)
