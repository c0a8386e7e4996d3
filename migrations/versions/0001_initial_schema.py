"""Initial schema: every table of the data model (DESIGN.md §4).

Generated from the models with autogenerate, then reviewed; hash partitions added by hand.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 08:07:37.254600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Hash partitions of the two largest tables on PostgreSQL (DESIGN.md §3).
N_PARTITIONS = 4


def _create_hash_partitions(table: str) -> None:
    """Create ``table_p0 .. table_p{N-1}`` on PostgreSQL; nothing on SQLite."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for remainder in range(N_PARTITIONS):
        op.execute(
            f"CREATE TABLE {table}_p{remainder} PARTITION OF {table} "
            f"FOR VALUES WITH (MODULUS {N_PARTITIONS}, REMAINDER {remainder})"
        )


def upgrade() -> None:
    op.create_table('filter',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=16), nullable=False, comment="filter name, e.g. 'F555W' (text)"),
    sa.Column('instrument', sa.String(length=16), nullable=False, comment="camera/channel: 'WFC3/UVIS' or 'ACS/WFC' (text)"),
    sa.Column('band', sa.String(length=4), nullable=False, comment='band label NUV, U, B, V or I (text)'),
    sa.Column('pivot_wavelength_aa', sa.Double(), nullable=False, comment='pivot wavelength (Angstrom)'),
    sa.Column('pyphot_name', sa.String(length=40), nullable=True, comment="name of the throughput curve in pyphot, e.g. 'HST_WFC3_F555W' (text)"),
    sa.CheckConstraint("band IN ('NUV', 'U', 'B', 'V', 'I')", name=op.f('ck_filter_band_label')),
    sa.CheckConstraint('pivot_wavelength_aa > 0', name=op.f('ck_filter_pivot_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filter')),
    sa.UniqueConstraint('name', 'instrument', name=op.f('uq_filter_name_instrument')),
    comment='HST filters per instrument (band label, pivot wavelength)'
    )
    with op.batch_alter_table('filter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filter_band'), ['band'], unique=False)

    op.create_table('galaxy',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=64), nullable=False, comment="canonical name, e.g. 'NGC 628' (text)"),
    sa.Column('ra_deg', sa.Double(), nullable=True, comment='right ascension of the centre, ICRS (deg)'),
    sa.Column('dec_deg', sa.Double(), nullable=True, comment='declination of the centre, ICRS (deg)'),
    sa.Column('distance_mpc', sa.Double(), nullable=True, comment='adopted distance (Mpc)'),
    sa.Column('distance_ref', sa.String(length=200), nullable=True, comment='reference for the adopted distance (text)'),
    sa.Column('ebv_mw', sa.Double(), nullable=True, comment='Milky-Way foreground reddening E(B-V) (mag)'),
    sa.Column('morphology', sa.String(length=32), nullable=True, comment="morphological type, e.g. 'SAc' (text)"),
    sa.Column('notes', sa.Text(), nullable=True, comment='free-text notes (text)'),
    sa.CheckConstraint('dec_deg >= -90 AND dec_deg <= 90', name=op.f('ck_galaxy_dec_range')),
    sa.CheckConstraint('distance_mpc > 0', name=op.f('ck_galaxy_distance_positive')),
    sa.CheckConstraint('ebv_mw >= 0', name=op.f('ck_galaxy_ebv_mw_nonnegative')),
    sa.CheckConstraint('ra_deg >= 0 AND ra_deg < 360', name=op.f('ck_galaxy_ra_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_galaxy')),
    sa.UniqueConstraint('name', name=op.f('uq_galaxy_name')),
    comment='host galaxies under their canonical names'
    )
    op.create_table('ml_model',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=128), nullable=False, comment='model name (text)'),
    sa.Column('version', sa.String(length=32), server_default='1', nullable=False, comment='model version (text)'),
    sa.Column('task', sa.String(length=32), nullable=False, comment='classification | age_regression | completeness (text)'),
    sa.Column('architecture', sa.String(length=64), nullable=True, comment="network, e.g. 'ResNet18', 'VGG19-BN', 'C-4 MLP' (text)"),
    sa.Column('hyperparameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='training hyper-parameters (JSON)'),
    sa.Column('training_query', sa.Text(), nullable=True, comment='SQL that selected the training rows (text)'),
    sa.Column('training_query_sha256', sa.String(length=64), nullable=True, comment='SHA-256 of the training rows as used (hex)'),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='evaluation metrics (JSON)'),
    sa.Column('weights_path', sa.Text(), nullable=True, comment='path of the weights file (text)'),
    sa.Column('weights_sha256', sa.String(length=64), nullable=True, comment='SHA-256 of the weights file (hex)'),
    sa.Column('code_version', sa.String(length=64), nullable=True, comment='ClusterCat version that trained it (text)'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='time the row was written (UTC)'),
    sa.CheckConstraint("task IN ('classification', 'age_regression', 'completeness')", name=op.f('ck_ml_model_task_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ml_model')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_ml_model_name_version')),
    comment='registry of trained ML models (weights stay on disk)'
    )
    op.create_table('ssp_grid',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=128), nullable=False, comment="grid name, e.g. 'bc03-miles-z0.02-chabrier' (text)"),
    sa.Column('model', sa.String(length=32), nullable=False, comment="model family: 'bc03', 'yggdrasil' (text)"),
    sa.Column('metallicity', sa.Double(), nullable=False, comment='metal mass fraction Z (dimensionless)'),
    sa.Column('imf', sa.String(length=32), nullable=True, comment='initial mass function (text)'),
    sa.Column('provenance', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='source files with SHA-256, filter curves, code versions (JSON)'),
    sa.Column('built_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='time the grid was built (UTC)'),
    sa.CheckConstraint('metallicity > 0', name=op.f('ck_ssp_grid_metallicity_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ssp_grid')),
    sa.UniqueConstraint('name', name=op.f('uq_ssp_grid_name')),
    comment='SSP model grids with their provenance'
    )
    op.create_table('survey',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=64), nullable=False, comment="survey name, e.g. 'PHANGS-HST', 'LEGUS' (text)"),
    sa.Column('description', sa.Text(), nullable=True, comment='what the survey is (text)'),
    sa.Column('reference', sa.String(length=200), nullable=True, comment="survey paper, e.g. 'Calzetti et al. 2015, AJ 149, 51' (text)"),
    sa.Column('url', sa.String(length=300), nullable=True, comment='survey web page (URL)'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey')),
    sa.UniqueConstraint('name', name=op.f('uq_survey_name')),
    comment='HST surveys that publish star-cluster catalogues'
    )
    op.create_table('classification_method',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=128), nullable=False, comment="method name, e.g. 'LEGUS human mode', 'StarcNet', 'VGG19-BN' (text)"),
    sa.Column('version', sa.String(length=32), server_default='1', nullable=False, comment='method version (text)'),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='human | ml | hybrid | consensus (text)'),
    sa.Column('description', sa.Text(), nullable=True, comment='what the method is (text)'),
    sa.Column('classifier', sa.String(length=200), nullable=True, comment="people or model that classified, e.g. 'B. Whitmore' (text)"),
    sa.Column('training_set', sa.Text(), nullable=True, comment='training set of an ML method (text)'),
    sa.Column('classified_on', sa.Date(), nullable=True, comment='date of the classification (date)'),
    sa.Column('reference', sa.String(length=200), nullable=True, comment='paper describing the method (text)'),
    sa.Column('ml_model_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='registered ML model behind the method, if any (key: ml_model.id)'),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='extra settings (JSON)'),
    sa.CheckConstraint("kind IN ('human', 'ml', 'hybrid', 'consensus')", name=op.f('ck_classification_method_kind_known')),
    sa.ForeignKeyConstraint(['ml_model_id'], ['ml_model.id'], name=op.f('fk_classification_method_ml_model_id_ml_model')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classification_method')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_classification_method_name_version')),
    comment='classification methods (human, ML, hybrid, consensus)'
    )
    op.create_table('field',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=64), nullable=False, comment="field name, lower case, e.g. 'ngc628c' (text)"),
    sa.Column('galaxy_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='galaxy the field belongs to (key: galaxy.id)'),
    sa.Column('pixel_scale_arcsec', sa.Double(), nullable=True, comment='pixel scale of the reference frame (arcsec/pix)'),
    sa.Column('description', sa.Text(), nullable=True, comment='free-text description (text)'),
    sa.CheckConstraint('pixel_scale_arcsec > 0', name=op.f('ck_field_pixel_scale_positive')),
    sa.ForeignKeyConstraint(['galaxy_id'], ['galaxy.id'], name=op.f('fk_field_galaxy_id_galaxy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field')),
    sa.UniqueConstraint('name', name=op.f('uq_field_name')),
    comment='HST pointings/mosaics of a galaxy'
    )
    with op.batch_alter_table('field', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_galaxy_id'), ['galaxy_id'], unique=False)

    op.create_table('galaxy_alias',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('alias', sa.String(length=64), nullable=False, comment='normalised alias: lower case, no spaces/underscores (text)'),
    sa.Column('galaxy_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='galaxy it names (key: galaxy.id)'),
    sa.ForeignKeyConstraint(['galaxy_id'], ['galaxy.id'], name=op.f('fk_galaxy_alias_galaxy_id_galaxy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_galaxy_alias')),
    sa.UniqueConstraint('alias', name=op.f('uq_galaxy_alias_alias')),
    comment='alternative galaxy names, matched case-insensitively'
    )
    with op.batch_alter_table('galaxy_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_galaxy_alias_galaxy_id'), ['galaxy_id'], unique=False)

    op.create_table('sed_method',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.Text(), nullable=False, comment="method name, e.g. 'LEGUS Yggdrasil Padova-AGB MW' (text)"),
    sa.Column('code', sa.Text(), nullable=True, comment="fitting code, e.g. 'clustercat', 'CIGALE', 'LEGUS' (text)"),
    sa.Column('ssp_model', sa.Text(), nullable=True, comment="SSP model family, e.g. 'BC03', 'Yggdrasil' (text)"),
    sa.Column('ssp_grid_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='SSP grid in this database the fit used (key: ssp_grid.id)'),
    sa.Column('imf', sa.Text(), nullable=True, comment='initial mass function (text)'),
    sa.Column('metallicity', sa.Double(), nullable=True, comment='metal mass fraction Z (dimensionless)'),
    sa.Column('extinction_law', sa.Text(), nullable=True, comment="extinction law, e.g. 'CCM89 R_V=3.1' (text)"),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='priors, grids, error floors and other settings (JSON)'),
    sa.Column('description', sa.Text(), nullable=True, comment='free-text description (text)'),
    sa.CheckConstraint('metallicity > 0', name=op.f('ck_sed_method_metallicity_positive')),
    sa.ForeignKeyConstraint(['ssp_grid_id'], ['ssp_grid.id'], name=op.f('fk_sed_method_ssp_grid_id_ssp_grid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sed_method')),
    sa.UniqueConstraint('name', name=op.f('uq_sed_method_name')),
    comment='SED-fitting methods and their physical assumptions'
    )
    op.create_table('ssp_model',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('grid_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='grid (key: ssp_grid.id)'),
    sa.Column('log_age', sa.Double(), nullable=False, comment='log10 age (log yr)'),
    sa.Column('filter_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='filter (key: filter.id)'),
    sa.Column('mag_system', sa.String(length=4), nullable=False, comment="'vega' or 'ab' (text)"),
    sa.Column('mag_per_msun', sa.Double(), nullable=False, comment='absolute magnitude of 1 Msun of the population at 10 pc (mag)'),
    sa.CheckConstraint("mag_system IN ('vega', 'ab')", name=op.f('ck_ssp_model_mag_system_known')),
    sa.ForeignKeyConstraint(['filter_id'], ['filter.id'], name=op.f('fk_ssp_model_filter_id_filter')),
    sa.ForeignKeyConstraint(['grid_id'], ['ssp_grid.id'], name=op.f('fk_ssp_model_grid_id_ssp_grid'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ssp_model')),
    sa.UniqueConstraint('grid_id', 'log_age', 'filter_id', 'mag_system', name=op.f('uq_ssp_model_grid_id_log_age_filter_id_mag_system')),
    comment='SSP magnitudes per unit mass on an age grid, per filter'
    )
    with op.batch_alter_table('ssp_model', schema=None) as batch_op:
        batch_op.create_index('ix_ssp_model_grid_filter', ['grid_id', 'filter_id'], unique=False)

    op.create_table('catalogue_release',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('name', sa.String(length=128), nullable=False, comment="release name chosen at ingest, e.g. 'legus-v1' (text)"),
    sa.Column('version', sa.Integer(), nullable=False, comment='version number under this name, 1, 2, ... (count)'),
    sa.Column('survey_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='survey that published the catalogue (key: survey.id)'),
    sa.Column('pipeline_version', sa.Text(), nullable=True, comment="version string(s) of the producing pipeline, e.g. 'v1', 'DR4' (text)"),
    sa.Column('status', sa.String(length=16), nullable=False, comment='loading | complete | failed | superseded (text)'),
    sa.Column('reader', sa.String(length=64), nullable=True, comment="ingest reader used, e.g. 'legus-tab' (text)"),
    sa.Column('reader_version', sa.String(length=32), nullable=True, comment='version of the ingest reader (text)'),
    sa.Column('layout', sa.Text(), nullable=True, comment="column layout(s) of the input files, e.g. 'L35-MODE-MEAN' (text)"),
    sa.Column('code_version', sa.String(length=64), nullable=True, comment='ClusterCat version (and git commit) that ingested it (text)'),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='ingest options and anything else needed to redo it (JSON)'),
    sa.Column('content_sha256', sa.String(length=64), nullable=True, comment='SHA-256 over the sorted input-file hashes: the release identity (hex)'),
    sa.Column('default_sed_method_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='SED method shown by the cluster_catalogue view (key: sed_method.id)'),
    sa.Column('morphology_version', sa.String(length=32), server_default='catalogue', nullable=False, comment='morphology constants version shown by the cluster_catalogue view (text)'),
    sa.Column('supersedes_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='earlier release this one replaces (key: catalogue_release.id)'),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='time the ingest started (UTC)'),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True, comment='time the release became complete (UTC)'),
    sa.Column('notes', sa.Text(), nullable=True, comment='free-text notes (text)'),
    sa.CheckConstraint("status IN ('loading', 'complete', 'failed', 'superseded')", name=op.f('ck_catalogue_release_status_known')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_catalogue_release_version_positive')),
    sa.ForeignKeyConstraint(['default_sed_method_id'], ['sed_method.id'], name=op.f('fk_catalogue_release_default_sed_method_id_sed_method')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['catalogue_release.id'], name=op.f('fk_catalogue_release_supersedes_id_catalogue_release')),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_catalogue_release_survey_id_survey')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_release')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_catalogue_release_name_version')),
    comment='ingested catalogue versions; complete releases are never modified'
    )
    with op.batch_alter_table('catalogue_release', schema=None) as batch_op:
        batch_op.create_index('ix_catalogue_release_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalogue_release_survey_id'), ['survey_id'], unique=False)

    op.create_table('field_filter',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='field (key: field.id)'),
    sa.Column('filter_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='filter and instrument (key: filter.id)'),
    sa.Column('zeropoint_vega', sa.Double(), nullable=True, comment='Vega zeropoint for 1 e-/s (mag)'),
    sa.Column('zeropoint_ab', sa.Double(), nullable=True, comment='AB zeropoint for 1 e-/s (mag)'),
    sa.Column('exposure_time_s', sa.Double(), nullable=True, comment='total exposure time (s)'),
    sa.CheckConstraint('exposure_time_s >= 0', name=op.f('ck_field_filter_exposure_nonnegative')),
    sa.ForeignKeyConstraint(['field_id'], ['field.id'], name=op.f('fk_field_filter_field_id_field'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['filter_id'], ['filter.id'], name=op.f('fk_field_filter_filter_id_filter')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_filter')),
    sa.UniqueConstraint('field_id', 'filter_id', name=op.f('uq_field_filter_field_id_filter_id')),
    comment='filters observed per field, with zeropoints'
    )
    with op.batch_alter_table('field_filter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_filter_filter_id'), ['filter_id'], unique=False)

    op.create_table('image',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='field imaged (key: field.id)'),
    sa.Column('filter_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='filter (key: filter.id)'),
    sa.Column('path', sa.Text(), nullable=False, comment='path or URI of the FITS file (text)'),
    sa.Column('sha256', sa.String(length=64), nullable=False, comment='SHA-256 of the file (hex)'),
    sa.Column('hdu', sa.Integer(), nullable=False, comment='HDU index of the science array (index)'),
    sa.Column('wcs_header', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='FITS WCS keywords of the science HDU (JSON)'),
    sa.Column('naxis1', sa.Integer(), nullable=True, comment='image width (pix)'),
    sa.Column('naxis2', sa.Integer(), nullable=True, comment='image height (pix)'),
    sa.ForeignKeyConstraint(['field_id'], ['field.id'], name=op.f('fk_image_field_id_field')),
    sa.ForeignKeyConstraint(['filter_id'], ['filter.id'], name=op.f('fk_image_filter_id_filter')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image')),
    sa.UniqueConstraint('sha256', name=op.f('uq_image_sha256')),
    comment='science images (FITS files on disk) per field and filter'
    )
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.create_index('ix_image_field_filter', ['field_id', 'filter_id'], unique=False)

    op.create_table('crossmatch_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('release_a_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='release of side A (key: catalogue_release.id)'),
    sa.Column('release_b_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='release of side B (key: catalogue_release.id)'),
    sa.Column('field_a_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='field of side A, NULL for the whole release (key: field.id)'),
    sa.Column('field_b_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='field of side B, NULL for the whole release (key: field.id)'),
    sa.Column('radius_arcsec', sa.Double(), nullable=False, comment='match radius (arcsec)'),
    sa.Column('method', sa.String(length=16), nullable=False, comment="'kdtree' or 'q3c' (text)"),
    sa.Column('offset_ra_arcsec', sa.Double(), nullable=False, comment="offset added to A's RA*cos(Dec) before matching (arcsec)"),
    sa.Column('offset_dec_arcsec', sa.Double(), nullable=False, comment="offset added to A's Dec before matching (arcsec)"),
    sa.Column('classification_method_a_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='method whose class side A compares (key: classification_method.id)'),
    sa.Column('classification_method_b_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='method whose class side B compares (key: classification_method.id)'),
    sa.Column('n_pairs', sa.Integer(), nullable=True, comment='one-to-one pairs found (count)'),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='other settings (JSON)'),
    sa.Column('code_version', sa.String(length=64), nullable=True, comment='ClusterCat version that ran (text)'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='time the row was written (UTC)'),
    sa.CheckConstraint("method IN ('kdtree', 'q3c')", name=op.f('ck_crossmatch_run_method_known')),
    sa.CheckConstraint('radius_arcsec > 0', name=op.f('ck_crossmatch_run_radius_positive')),
    sa.ForeignKeyConstraint(['classification_method_a_id'], ['classification_method.id'], name=op.f('fk_crossmatch_run_classification_method_a_id_classification_method')),
    sa.ForeignKeyConstraint(['classification_method_b_id'], ['classification_method.id'], name=op.f('fk_crossmatch_run_classification_method_b_id_classification_method')),
    sa.ForeignKeyConstraint(['field_a_id'], ['field.id'], name=op.f('fk_crossmatch_run_field_a_id_field')),
    sa.ForeignKeyConstraint(['field_b_id'], ['field.id'], name=op.f('fk_crossmatch_run_field_b_id_field')),
    sa.ForeignKeyConstraint(['release_a_id'], ['catalogue_release.id'], name=op.f('fk_crossmatch_run_release_a_id_catalogue_release')),
    sa.ForeignKeyConstraint(['release_b_id'], ['catalogue_release.id'], name=op.f('fk_crossmatch_run_release_b_id_catalogue_release')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crossmatch_run')),
    comment='positional cross-match runs between two releases or fields'
    )
    with op.batch_alter_table('crossmatch_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crossmatch_run_release_a_id'), ['release_a_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crossmatch_run_release_b_id'), ['release_b_id'], unique=False)

    op.create_table('injection_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='field injected into (key: field.id)'),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='release whose pipeline settings were used (key: catalogue_release.id)'),
    sa.Column('pipeline_settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='detection/photometry/selection settings re-run (JSON)'),
    sa.Column('generator_settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='profile, PSF, SSP model, parameter ranges (JSON)'),
    sa.Column('seed', sa.Integer(), nullable=True, comment='random seed (integer)'),
    sa.Column('n_trials', sa.Integer(), nullable=True, comment='trials in the run (count)'),
    sa.Column('code_version', sa.String(length=64), nullable=True, comment='ClusterCat version that ran (text)'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='time the row was written (UTC)'),
    sa.CheckConstraint('n_trials >= 0', name=op.f('ck_injection_run_n_trials_nonnegative')),
    sa.ForeignKeyConstraint(['field_id'], ['field.id'], name=op.f('fk_injection_run_field_id_field')),
    sa.ForeignKeyConstraint(['release_id'], ['catalogue_release.id'], name=op.f('fk_injection_run_release_id_catalogue_release')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_injection_run')),
    comment='artificial-cluster injection runs'
    )
    with op.batch_alter_table('injection_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_injection_run_field_id'), ['field_id'], unique=False)

    op.create_table('processing_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('module', sa.String(length=64), nullable=False, comment="processing module, e.g. 'sed', 'morphology' (text)"),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='release processed (key: catalogue_release.id)'),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='run settings (JSON)'),
    sa.Column('code_version', sa.String(length=64), nullable=True, comment='ClusterCat version that ran (text)'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='running | complete | failed (text)'),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False, comment='start time (UTC)'),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True, comment='end time (UTC)'),
    sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name=op.f('ck_processing_run_status_known')),
    sa.ForeignKeyConstraint(['release_id'], ['catalogue_release.id'], name=op.f('fk_processing_run_release_id_catalogue_release')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_processing_run')),
    comment='processing-module runs: what ran, on what, with which settings'
    )
    with op.batch_alter_table('processing_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processing_run_module'), ['module'], unique=False)
        batch_op.create_index(batch_op.f('ix_processing_run_release_id'), ['release_id'], unique=False)

    op.create_table('release_file',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='release (key: catalogue_release.id)'),
    sa.Column('path', sa.Text(), nullable=False, comment='file name as given at ingest (text)'),
    sa.Column('sha256', sa.String(length=64), nullable=False, comment='SHA-256 of the file contents (hex)'),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False, comment='file size (bytes)'),
    sa.Column('layout', sa.String(length=64), nullable=True, comment='column layout the reader applied to this file (text)'),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='field the file describes (key: field.id)'),
    sa.Column('n_rows', sa.Integer(), nullable=True, comment='rows read from the file (count)'),
    sa.Column('primary_classification_method_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment="the file's class column to use for 'class 1/2/3/4' (key: classification_method.id)"),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_release_file_size_nonnegative')),
    sa.ForeignKeyConstraint(['field_id'], ['field.id'], name=op.f('fk_release_file_field_id_field')),
    sa.ForeignKeyConstraint(['primary_classification_method_id'], ['classification_method.id'], name=op.f('fk_release_file_primary_classification_method_id_classification_method')),
    sa.ForeignKeyConstraint(['release_id'], ['catalogue_release.id'], name=op.f('fk_release_file_release_id_catalogue_release'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_file')),
    sa.UniqueConstraint('release_id', 'path', name=op.f('uq_release_file_release_id_path')),
    comment='input files of each release with their checksums'
    )
    with op.batch_alter_table('release_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_file_sha256'), ['sha256'], unique=False)

    op.create_table('source',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='release the source belongs to (key: catalogue_release.id)'),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='field (pointing) the source lies in (key: field.id)'),
    sa.Column('id_in_release', sa.BigInteger(), nullable=False, comment="source id as published in the release's catalogue (id)"),
    sa.Column('ra', sa.Double(), nullable=False, comment='right ascension, ICRS J2000 (deg)'),
    sa.Column('dec', sa.Double(), nullable=False, comment='declination, ICRS J2000 (deg)'),
    sa.Column('x', sa.Double(), nullable=True, comment="x on the field's reference frame, 1-based (pix)"),
    sa.Column('y', sa.Double(), nullable=True, comment="y on the field's reference frame, 1-based (pix)"),
    sa.Column('x_mosaic', sa.Double(), nullable=True, comment='x on the mosaic frame where a catalogue gives one (pix)'),
    sa.Column('y_mosaic', sa.Double(), nullable=True, comment='y on the mosaic frame where a catalogue gives one (pix)'),
    sa.Column('selection_flag', sa.Integer(), nullable=True, comment='how the source was selected: 0 pipeline, 1/2 added by visual inspection (code)'),
    sa.Column('halpha_morph', sa.Integer(), nullable=True, comment='H-alpha morphology: 1 on top, 2 ring/associated, 3 possible, 4 none (code)'),
    sa.Column('cc_class', sa.String(length=16), nullable=True, comment='PHANGS colour-colour region: ycl, map, ogcc, outside (text)'),
    sa.Column('flags', sa.BigInteger(), server_default=sa.text('0'), nullable=False, comment='bitmask of ingest flags, see clustercat.ingest.contract.SourceFlag (bits)'),
    sa.CheckConstraint('dec >= -90 AND dec <= 90', name=op.f('ck_source_dec_range')),
    sa.CheckConstraint('ra >= 0 AND ra < 360', name=op.f('ck_source_ra_range')),
    sa.ForeignKeyConstraint(['field_id'], ['field.id'], name=op.f('fk_source_field_id_field')),
    sa.ForeignKeyConstraint(['release_id'], ['catalogue_release.id'], name=op.f('fk_source_release_id_catalogue_release'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source')),
    sa.UniqueConstraint('release_id', 'field_id', 'id_in_release', name=op.f('uq_source_release_id_field_id_id_in_release')),
    comment='detected objects of each release (one row per source and release)'
    )
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.create_index('ix_source_dec_ra', ['dec', 'ra'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_field_id'), ['field_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_release_id'), ['release_id'], unique=False)

    op.create_table('classification',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='source classified (key: source.id)'),
    sa.Column('method_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='classification method (key: classification_method.id)'),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment="release that delivered the class when not the source's own, e.g. StarcNet (key: catalogue_release.id)"),
    sa.Column('cluster_class', sa.Integer(), nullable=False, comment='class 1 symmetric cluster, 2 asymmetric cluster, 3 association, 4 other (code)'),
    sa.Column('subclass', sa.Integer(), nullable=True, comment='PHANGS subclass of class 4, e.g. 10 for code 4.10 (code)'),
    sa.Column('score', sa.Double(), nullable=True, comment="method's score: human mean class, ML top probability or agreement (dimensionless)"),
    sa.Column('quality', sa.Integer(), nullable=True, comment='visual quality 1 certain, 2 likely, 3 possible (code)'),
    sa.Column('n_votes', sa.Integer(), nullable=True, comment='number of votes cast (count)'),
    sa.Column('method_flag', sa.Integer(), nullable=True, comment='method-specific flag, e.g. LEGUS NGC 1566 hybrid origin 0/1/3/4/6 (code)'),
    sa.Column('p_class1', sa.Double(), nullable=True, comment='ML probability of class 1 (probability)'),
    sa.Column('p_class2', sa.Double(), nullable=True, comment='ML probability of class 2 (probability)'),
    sa.Column('p_class3', sa.Double(), nullable=True, comment='ML probability of class 3 (probability)'),
    sa.Column('p_class4', sa.Double(), nullable=True, comment='ML probability of class 4 (probability)'),
    sa.CheckConstraint('cluster_class BETWEEN 1 AND 4', name=op.f('ck_classification_class_range')),
    sa.CheckConstraint('n_votes >= 0', name=op.f('ck_classification_votes_nonnegative')),
    sa.CheckConstraint('p_class1 BETWEEN 0 AND 1 AND p_class2 BETWEEN 0 AND 1 AND p_class3 BETWEEN 0 AND 1 AND p_class4 BETWEEN 0 AND 1', name=op.f('ck_classification_probabilities_range')),
    sa.CheckConstraint('subclass >= 0', name=op.f('ck_classification_subclass_nonnegative')),
    sa.ForeignKeyConstraint(['method_id'], ['classification_method.id'], name=op.f('fk_classification_method_id_classification_method')),
    sa.ForeignKeyConstraint(['release_id'], ['catalogue_release.id'], name=op.f('fk_classification_release_id_catalogue_release'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_classification_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classification')),
    sa.UniqueConstraint('source_id', 'method_id', name=op.f('uq_classification_source_id_method_id')),
    comment='class of each source per classification method'
    )
    with op.batch_alter_table('classification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classification_method_id'), ['method_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_classification_release_id'), ['release_id'], unique=False)

    op.create_table('crossmatch_pair',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='cross-match run (key: crossmatch_run.id)'),
    sa.Column('source_a_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='source on side A, NULL when only B has one (key: source.id)'),
    sa.Column('source_b_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='source on side B, NULL when only A has one (key: source.id)'),
    sa.Column('separation_arcsec', sa.Double(), nullable=True, comment='angular separation after offsets (arcsec)'),
    sa.Column('is_best', sa.Boolean(), nullable=False, comment='true for the one-to-one pair (boolean)'),
    sa.Column('outcome', sa.String(length=32), nullable=False, comment='same_class | other_class | matched | double | unmatched_* (text)'),
    sa.CheckConstraint("outcome IN ('same_class', 'other_class', 'matched', 'double', 'unmatched_outside_footprint', 'unmatched_not_detected', 'unmatched_not_candidate', 'unmatched')", name=op.f('ck_crossmatch_pair_outcome_known')),
    sa.CheckConstraint('separation_arcsec >= 0', name=op.f('ck_crossmatch_pair_separation_nonnegative')),
    sa.CheckConstraint('source_a_id IS NOT NULL OR source_b_id IS NOT NULL', name=op.f('ck_crossmatch_pair_has_a_side')),
    sa.ForeignKeyConstraint(['run_id'], ['crossmatch_run.id'], name=op.f('fk_crossmatch_pair_run_id_crossmatch_run'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_a_id'], ['source.id'], name=op.f('fk_crossmatch_pair_source_a_id_source'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_b_id'], ['source.id'], name=op.f('fk_crossmatch_pair_source_b_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crossmatch_pair')),
    comment='cross-match pairs and unmatched sources with outcome codes'
    )
    with op.batch_alter_table('crossmatch_pair', schema=None) as batch_op:
        batch_op.create_index('ix_crossmatch_pair_run_a', ['run_id', 'source_a_id'], unique=False)
        batch_op.create_index('ix_crossmatch_pair_run_b', ['run_id', 'source_b_id'], unique=False)

    op.create_table('injection_trial',
    sa.Column('run_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='run (key: injection_run.id)'),
    sa.Column('trial', sa.Integer(), nullable=False, comment='trial number within the run (index)'),
    sa.Column('x', sa.Double(), nullable=False, comment='injected x position (pix)'),
    sa.Column('y', sa.Double(), nullable=False, comment='injected y position (pix)'),
    sa.Column('ra', sa.Double(), nullable=True, comment='injected right ascension (deg)'),
    sa.Column('dec', sa.Double(), nullable=True, comment='injected declination (deg)'),
    sa.Column('log_mass', sa.Double(), nullable=True, comment='log10 mass (log Msun)'),
    sa.Column('log_age', sa.Double(), nullable=True, comment='log10 age (log yr)'),
    sa.Column('av_mag', sa.Double(), nullable=True, comment='V-band extinction A_V (mag)'),
    sa.Column('r_eff_pc', sa.Double(), nullable=True, comment='effective radius (pc)'),
    sa.Column('fwhm_px', sa.Double(), nullable=True, comment='profile FWHM (pix)'),
    sa.Column('profile_index', sa.Double(), nullable=True, comment='EFF/Moffat power-law index eta (dimensionless)'),
    sa.Column('mag_in_nuv', sa.Double(), nullable=True, comment='injected NUV (Vega mag)'),
    sa.Column('mag_in_u', sa.Double(), nullable=True, comment='injected U (Vega mag)'),
    sa.Column('mag_in_b', sa.Double(), nullable=True, comment='injected B (Vega mag)'),
    sa.Column('mag_in_v', sa.Double(), nullable=True, comment='injected V (Vega mag)'),
    sa.Column('mag_in_i', sa.Double(), nullable=True, comment='injected I (Vega mag)'),
    sa.Column('mag_out_nuv', sa.Double(), nullable=True, comment='measured NUV (Vega mag)'),
    sa.Column('mag_out_u', sa.Double(), nullable=True, comment='measured U (Vega mag)'),
    sa.Column('mag_out_b', sa.Double(), nullable=True, comment='measured B (Vega mag)'),
    sa.Column('mag_out_v', sa.Double(), nullable=True, comment='measured V (Vega mag)'),
    sa.Column('mag_out_i', sa.Double(), nullable=True, comment='measured I (Vega mag)'),
    sa.Column('ci_out', sa.Double(), nullable=True, comment='measured CI (mag)'),
    sa.Column('mci_in_out', sa.Double(), nullable=True, comment='measured MCI_in (dimensionless)'),
    sa.Column('mci_out_out', sa.Double(), nullable=True, comment='measured MCI_out (dimensionless)'),
    sa.Column('detected', sa.Boolean(), nullable=True, comment='found by source detection (boolean)'),
    sa.Column('passes_photometric_cuts', sa.Boolean(), nullable=True, comment='passes the photometric-error/band cuts (boolean)'),
    sa.Column('passes_ci_cut', sa.Boolean(), nullable=True, comment='passes the CI/MCI selection (boolean)'),
    sa.Column('passes_mag_cut', sa.Boolean(), nullable=True, comment='passes the magnitude limit (boolean)'),
    sa.Column('recovered', sa.Boolean(), nullable=True, comment='would enter the candidate catalogue (boolean)'),
    sa.CheckConstraint('av_mag >= 0', name=op.f('ck_injection_trial_av_nonnegative')),
    sa.CheckConstraint('dec >= -90 AND dec <= 90', name=op.f('ck_injection_trial_dec_range')),
    sa.CheckConstraint('fwhm_px > 0', name=op.f('ck_injection_trial_fwhm_positive')),
    sa.CheckConstraint('r_eff_pc > 0', name=op.f('ck_injection_trial_r_eff_positive')),
    sa.CheckConstraint('ra >= 0 AND ra < 360', name=op.f('ck_injection_trial_ra_range')),
    sa.ForeignKeyConstraint(['run_id'], ['injection_run.id'], name=op.f('fk_injection_trial_run_id_injection_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'trial', name=op.f('pk_injection_trial')),
    comment='injected synthetic clusters and their recovery per stage',
    postgresql_partition_by='HASH (run_id)'
    )
    _create_hash_partitions('injection_trial')
    op.create_table('ml_prediction',
    sa.Column('model_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='model (key: ml_model.id)'),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='source (key: source.id)'),
    sa.Column('predicted_class', sa.Integer(), nullable=True, comment='most probable class 1-4 (code)'),
    sa.Column('p_class1', sa.Double(), nullable=True, comment='probability of class 1 (probability)'),
    sa.Column('p_class2', sa.Double(), nullable=True, comment='probability of class 2 (probability)'),
    sa.Column('p_class3', sa.Double(), nullable=True, comment='probability of class 3 (probability)'),
    sa.Column('p_class4', sa.Double(), nullable=True, comment='probability of class 4 (probability)'),
    sa.Column('predicted_value', sa.Double(), nullable=True, comment='regression output, unit per ml_model.task, e.g. log age (log yr)'),
    sa.Column('predicted_err', sa.Double(), nullable=True, comment='1-sigma uncertainty of predicted_value (same unit)'),
    sa.CheckConstraint('p_class1 BETWEEN 0 AND 1 AND p_class2 BETWEEN 0 AND 1 AND p_class3 BETWEEN 0 AND 1 AND p_class4 BETWEEN 0 AND 1', name=op.f('ck_ml_prediction_probabilities_range')),
    sa.CheckConstraint('predicted_class BETWEEN 1 AND 4', name=op.f('ck_ml_prediction_class_range')),
    sa.CheckConstraint('predicted_err >= 0', name=op.f('ck_ml_prediction_err_nonnegative')),
    sa.ForeignKeyConstraint(['model_id'], ['ml_model.id'], name=op.f('fk_ml_prediction_model_id_ml_model'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_ml_prediction_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'source_id', name=op.f('pk_ml_prediction')),
    comment='per-source predictions of registered models',
    postgresql_partition_by='HASH (model_id)'
    )
    _create_hash_partitions('ml_prediction')
    with op.batch_alter_table('ml_prediction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_prediction_source_id'), ['source_id'], unique=False)

    op.create_table('morphology',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='source (key: source.id)'),
    sa.Column('constants_version', sa.String(length=32), nullable=False, comment="'catalogue' for published values, else the MCI constants version (text)"),
    sa.Column('filter_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='filter the indices were measured in, usually V (key: filter.id)'),
    sa.Column('ci', sa.Double(), nullable=True, comment='concentration index CI = m(1 px) - m(3 px) (mag)'),
    sa.Column('ci_err', sa.Double(), nullable=True, comment='1-sigma error of CI (mag)'),
    sa.Column('nci', sa.Double(), nullable=True, comment='normalised concentration index NCI (dimensionless)'),
    sa.Column('mci_in', sa.Double(), nullable=True, comment='inner multiple concentration index MCI_in (dimensionless)'),
    sa.Column('mci_in_err', sa.Double(), nullable=True, comment='1-sigma error of MCI_in (dimensionless)'),
    sa.Column('mci_out', sa.Double(), nullable=True, comment='outer multiple concentration index MCI_out (dimensionless)'),
    sa.Column('mci_out_err', sa.Double(), nullable=True, comment='1-sigma error of MCI_out (dimensionless)'),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='processing run, NULL when from the catalogue (key: processing_run.id)'),
    sa.CheckConstraint('ci < 40', name=op.f('ck_morphology_ci_not_sentinel')),
    sa.CheckConstraint('ci_err >= 0', name=op.f('ck_morphology_ci_err_nonnegative')),
    sa.CheckConstraint('mci_in_err >= 0', name=op.f('ck_morphology_mci_in_err_nonnegative')),
    sa.CheckConstraint('mci_out_err >= 0', name=op.f('ck_morphology_mci_out_err_nonnegative')),
    sa.ForeignKeyConstraint(['filter_id'], ['filter.id'], name=op.f('fk_morphology_filter_id_filter')),
    sa.ForeignKeyConstraint(['run_id'], ['processing_run.id'], name=op.f('fk_morphology_run_id_processing_run')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_morphology_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_morphology')),
    sa.UniqueConstraint('source_id', 'constants_version', name=op.f('uq_morphology_source_id_constants_version')),
    comment='concentration indices per source and constants version'
    )
    op.create_table('photometry',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='source measured (key: source.id)'),
    sa.Column('filter_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='filter and instrument (key: filter.id)'),
    sa.Column('kind', sa.String(length=8), nullable=False, comment="'total' (aperture-corrected total) or 'aperture' (in radius_px) (text)"),
    sa.Column('radius_px', sa.Double(), nullable=True, comment='aperture radius; for totals the measuring aperture if known (pix)'),
    sa.Column('status', sa.String(length=20), nullable=False, comment='measured | not_detected | outside_footprint | no_coverage | apcor_undefined (text)'),
    sa.Column('mag_vega', sa.Double(), nullable=True, comment='Vega magnitude (mag)'),
    sa.Column('mag_err', sa.Double(), nullable=True, comment='1-sigma magnitude error (mag)'),
    sa.Column('flux_mjy', sa.Double(), nullable=True, comment='flux density (mJy)'),
    sa.Column('flux_err_mjy', sa.Double(), nullable=True, comment='1-sigma flux density error (mJy)'),
    sa.Column('sky_median', sa.Double(), nullable=True, comment='sigma-clipped median sky in the annulus (e-/s/pix)'),
    sa.Column('sky_std', sa.Double(), nullable=True, comment='standard deviation of the sky in the annulus (e-/s/pix)'),
    sa.Column('aperture_correction_mag', sa.Double(), nullable=True, comment='aperture correction added to reach the total magnitude (mag)'),
    sa.Column('mw_extinction_corrected', sa.Boolean(), nullable=True, comment='Milky-Way foreground extinction removed; NULL if unknown (boolean)'),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='processing run, NULL when from the catalogue (key: processing_run.id)'),
    sa.CheckConstraint("kind = 'total' OR radius_px > 0", name=op.f('ck_photometry_aperture_has_radius')),
    sa.CheckConstraint("kind IN ('total', 'aperture')", name=op.f('ck_photometry_kind_known')),
    sa.CheckConstraint("status = 'measured' OR (mag_vega IS NULL AND flux_mjy IS NULL)", name=op.f('ck_photometry_unmeasured_is_null')),
    sa.CheckConstraint("status IN ('measured', 'not_detected', 'outside_footprint', 'no_coverage', 'apcor_undefined')", name=op.f('ck_photometry_status_known')),
    sa.CheckConstraint('flux_err_mjy >= 0', name=op.f('ck_photometry_flux_err_nonnegative')),
    sa.CheckConstraint('mag_err >= 0', name=op.f('ck_photometry_mag_err_nonnegative')),
    sa.CheckConstraint('mag_vega > -30 AND mag_vega < 44', name=op.f('ck_photometry_mag_vega_not_sentinel')),
    sa.CheckConstraint('sky_std >= 0', name=op.f('ck_photometry_sky_std_nonnegative')),
    sa.ForeignKeyConstraint(['filter_id'], ['filter.id'], name=op.f('fk_photometry_filter_id_filter')),
    sa.ForeignKeyConstraint(['run_id'], ['processing_run.id'], name=op.f('fk_photometry_run_id_processing_run')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_photometry_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photometry')),
    comment='photometry per source, filter and aperture radius (long format)'
    )
    with op.batch_alter_table('photometry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photometry_filter_id'), ['filter_id'], unique=False)
        batch_op.create_index('ix_photometry_source_filter', ['source_id', 'filter_id'], unique=False)
        batch_op.create_index('uq_photometry_aperture', ['source_id', 'filter_id', 'radius_px'], unique=True, sqlite_where=sa.text("kind = 'aperture'"), postgresql_where=sa.text("kind = 'aperture'"))
        batch_op.create_index('uq_photometry_total', ['source_id', 'filter_id'], unique=True, sqlite_where=sa.text("kind = 'total'"), postgresql_where=sa.text("kind = 'total'"))

    op.create_table('sed_fit',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='surrogate key (key)'),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='source fitted (key: source.id)'),
    sa.Column('method_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False, comment='SED method (key: sed_method.id)'),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=True, comment='processing run, NULL when from the catalogue (key: processing_run.id)'),
    sa.Column('log_age', sa.Double(), nullable=True, comment='best-fit log10 age (log yr)'),
    sa.Column('log_age_min', sa.Double(), nullable=True, comment='lower bound of log10 age, 16th percentile or catalogue min (log yr)'),
    sa.Column('log_age_max', sa.Double(), nullable=True, comment='upper bound of log10 age, 84th percentile or catalogue max (log yr)'),
    sa.Column('log_mass', sa.Double(), nullable=True, comment='best-fit log10 stellar mass (log Msun)'),
    sa.Column('log_mass_min', sa.Double(), nullable=True, comment='lower bound of log10 mass (log Msun)'),
    sa.Column('log_mass_max', sa.Double(), nullable=True, comment='upper bound of log10 mass (log Msun)'),
    sa.Column('ebv', sa.Double(), nullable=True, comment='best-fit colour excess E(B-V) (mag)'),
    sa.Column('ebv_min', sa.Double(), nullable=True, comment='lower bound of E(B-V) (mag)'),
    sa.Column('ebv_max', sa.Double(), nullable=True, comment='upper bound of E(B-V) (mag)'),
    sa.Column('chi2', sa.Double(), nullable=True, comment='chi-squared of the best fit (dimensionless)'),
    sa.Column('reduced_chi2', sa.Double(), nullable=True, comment='chi-squared per degree of freedom (dimensionless)'),
    sa.Column('q_prob', sa.Double(), nullable=True, comment='Q: probability of a chi2 at least this large (probability)'),
    sa.Column('n_bands', sa.Integer(), nullable=True, comment='bands used in the fit (count)'),
    sa.Column('band_residuals', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='chi2 residual per band label, bands not used omitted (JSON)'),
    sa.CheckConstraint('chi2 >= 0', name=op.f('ck_sed_fit_chi2_nonnegative')),
    sa.CheckConstraint('ebv >= -1 AND ebv <= 10', name=op.f('ck_sed_fit_ebv_range')),
    sa.CheckConstraint('log_age BETWEEN 4 AND 11', name=op.f('ck_sed_fit_log_age_range')),
    sa.CheckConstraint('log_mass BETWEEN -2 AND 12', name=op.f('ck_sed_fit_log_mass_range')),
    sa.CheckConstraint('n_bands >= 0', name=op.f('ck_sed_fit_n_bands_nonnegative')),
    sa.CheckConstraint('q_prob BETWEEN 0 AND 1', name=op.f('ck_sed_fit_q_prob_range')),
    sa.CheckConstraint('reduced_chi2 >= 0', name=op.f('ck_sed_fit_reduced_chi2_nonnegative')),
    sa.ForeignKeyConstraint(['method_id'], ['sed_method.id'], name=op.f('fk_sed_fit_method_id_sed_method')),
    sa.ForeignKeyConstraint(['run_id'], ['processing_run.id'], name=op.f('fk_sed_fit_run_id_processing_run')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_sed_fit_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sed_fit')),
    sa.UniqueConstraint('source_id', 'method_id', name=op.f('uq_sed_fit_source_id_method_id')),
    comment='SED fit results per source and method'
    )
    with op.batch_alter_table('sed_fit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sed_fit_method_id'), ['method_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sed_fit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sed_fit_method_id'))

    op.drop_table('sed_fit')
    with op.batch_alter_table('photometry', schema=None) as batch_op:
        batch_op.drop_index('uq_photometry_total', sqlite_where=sa.text("kind = 'total'"), postgresql_where=sa.text("kind = 'total'"))
        batch_op.drop_index('uq_photometry_aperture', sqlite_where=sa.text("kind = 'aperture'"), postgresql_where=sa.text("kind = 'aperture'"))
        batch_op.drop_index('ix_photometry_source_filter')
        batch_op.drop_index(batch_op.f('ix_photometry_filter_id'))

    op.drop_table('photometry')
    op.drop_table('morphology')
    with op.batch_alter_table('ml_prediction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_prediction_source_id'))

    op.drop_table('ml_prediction')
    op.drop_table('injection_trial')
    with op.batch_alter_table('crossmatch_pair', schema=None) as batch_op:
        batch_op.drop_index('ix_crossmatch_pair_run_b')
        batch_op.drop_index('ix_crossmatch_pair_run_a')

    op.drop_table('crossmatch_pair')
    with op.batch_alter_table('classification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classification_release_id'))
        batch_op.drop_index(batch_op.f('ix_classification_method_id'))

    op.drop_table('classification')
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_release_id'))
        batch_op.drop_index(batch_op.f('ix_source_field_id'))
        batch_op.drop_index('ix_source_dec_ra')

    op.drop_table('source')
    with op.batch_alter_table('release_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_file_sha256'))

    op.drop_table('release_file')
    with op.batch_alter_table('processing_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processing_run_release_id'))
        batch_op.drop_index(batch_op.f('ix_processing_run_module'))

    op.drop_table('processing_run')
    with op.batch_alter_table('injection_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_injection_run_field_id'))

    op.drop_table('injection_run')
    with op.batch_alter_table('crossmatch_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crossmatch_run_release_b_id'))
        batch_op.drop_index(batch_op.f('ix_crossmatch_run_release_a_id'))

    op.drop_table('crossmatch_run')
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.drop_index('ix_image_field_filter')

    op.drop_table('image')
    with op.batch_alter_table('field_filter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_filter_filter_id'))

    op.drop_table('field_filter')
    with op.batch_alter_table('catalogue_release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogue_release_survey_id'))
        batch_op.drop_index('ix_catalogue_release_status')

    op.drop_table('catalogue_release')
    with op.batch_alter_table('ssp_model', schema=None) as batch_op:
        batch_op.drop_index('ix_ssp_model_grid_filter')

    op.drop_table('ssp_model')
    op.drop_table('sed_method')
    with op.batch_alter_table('galaxy_alias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_galaxy_alias_galaxy_id'))

    op.drop_table('galaxy_alias')
    with op.batch_alter_table('field', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_galaxy_id'))

    op.drop_table('field')
    op.drop_table('classification_method')
    op.drop_table('survey')
    op.drop_table('ssp_grid')
    op.drop_table('ml_model')
    op.drop_table('galaxy')
    with op.batch_alter_table('filter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filter_band'))

    op.drop_table('filter')
