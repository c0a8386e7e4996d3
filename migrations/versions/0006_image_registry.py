"""Image registry: per-image instrument, exposure, pixel scale, units and zeropoints (issue 10).

Adds to ``image`` what ``clustercat images add`` reads from the FITS headers (INSTRUME/
DETECTOR, EXPTIME, BUNIT, PHOTFLAM, PHOTPLAM, DATE-OBS), the pixel scale of the WCS, the AB
and Vega zeropoints, the file size and the registration time; one image path per field and
filter. docs/images.md.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("instrument", sa.String(length=16),
     "camera/channel from INSTRUME/DETECTOR, e.g. 'WFC3/UVIS' (text)"),
    ("detector", sa.String(length=8), "DETECTOR keyword: 'UVIS' or 'WFC' (text)"),
    ("exposure_time_s", sa.Double(), "EXPTIME, total exposure time of the drizzled image (s)"),
    ("pixel_scale_arcsec", sa.Double(), "pixel scale from the WCS (arcsec/pix)"),
    ("bunit", sa.String(length=32), "BUNIT as written in the file, e.g. 'ELECTRONS/S' (text)"),
    ("photflam", sa.Double(), "PHOTFLAM, flux density of 1 e-/s (erg/s/cm2/Angstrom)"),
    ("photplam", sa.Double(), "PHOTPLAM, pivot wavelength (Angstrom)"),
    ("zeropoint_ab", sa.Double(), "AB zeropoint for 1 e-/s from PHOTFLAM/PHOTPLAM (mag)"),
    ("zeropoint_vega", sa.Double(),
     "Vega zeropoint for 1 e-/s, Vega through the pyphot curve (mag)"),
    ("date_obs", sa.Date(), "DATE-OBS of the first exposure, if in the header (date)"),
    ("file_size_bytes", sa.BigInteger(), "size of the FITS file when registered (bytes)"),
)  # fmt: skip

CHECKS = (
    ("exposure_nonnegative", "exposure_time_s >= 0"),
    ("pixel_scale_positive", "pixel_scale_arcsec > 0"),
    ("photflam_positive", "photflam > 0"),
    ("photplam_positive", "photplam > 0"),
    ("file_size_nonnegative", "file_size_bytes >= 0"),
)


def upgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        for name, type_, comment in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True, comment=comment))
        batch_op.add_column(
            sa.Column(
                "registered_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("(CURRENT_TIMESTAMP)"),
                nullable=False,
                comment="time the image was registered (UTC)",
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_image_field_id_filter_id_path"), ["field_id", "filter_id", "path"]
        )
        for name, condition in CHECKS:
            batch_op.create_check_constraint(batch_op.f(f"ck_image_{name}"), condition)


def downgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        for name, _ in reversed(CHECKS):
            batch_op.drop_constraint(batch_op.f(f"ck_image_{name}"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_image_field_id_filter_id_path"), type_="unique")
        batch_op.drop_column("registered_at")
        for name, _, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
