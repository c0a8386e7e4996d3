"""Collaborator views: stable names and columns for SQL users (DESIGN.md §1, §4).

Each view body is a versioned constant. A migration creates a view from one version;
a later change to a view is a new constant and a new migration, so old migrations keep
replaying exactly. Columns may be added in later versions, never renamed or removed.

A release that is still loading (or failed) is never visible. Since version 3 (revision
0007) the plain views show the newest complete version of each release name, and a twin
``<view>_all`` shows every complete and superseded version with ``release_version`` and
``release_status`` columns.
"""

from __future__ import annotations

from .injection import INJECTION_COMPLETENESS_COMMENTS

VISIBLE_RELEASE_STATUSES = "('complete', 'superseded')"


def _band_join(alias: str, band: str) -> str:
    """LEFT JOIN of the total magnitude of one band label (one filter per band per source)."""
    return (
        f"LEFT JOIN photometry {alias} ON {alias}.source_id = s.id AND {alias}.kind = 'total' "
        f"AND {alias}.filter_id IN (SELECT id FROM filter WHERE band = '{band}')"
    )


CLUSTER_CATALOGUE_V1 = f"""
SELECT
    r.name AS release,
    sv.name AS survey,
    g.name AS galaxy,
    f.name AS field,
    s.id_in_release AS source_id,
    s.ra AS ra,
    s.dec AS dec,
    nuv.mag_vega AS mag_nuv,
    nuv.mag_err AS mag_nuv_err,
    u.mag_vega AS mag_u,
    u.mag_err AS mag_u_err,
    b.mag_vega AS mag_b,
    b.mag_err AS mag_b_err,
    v.mag_vega AS mag_v,
    v.mag_err AS mag_v_err,
    i.mag_vega AS mag_i,
    i.mag_err AS mag_i_err,
    m.ci AS ci,
    m.mci_in AS mci_in,
    m.mci_out AS mci_out,
    sf.log_age AS log_age,
    sf.log_mass AS log_mass,
    sf.ebv AS ebv,
    r.id AS release_id,
    r.version AS release_version,
    s.id AS source_pk,
    s.x AS x,
    s.y AS y,
    g.distance_mpc AS distance_mpc,
    (SELECT name FROM filter WHERE filter.id = b.filter_id) AS filter_b,
    (SELECT name FROM filter WHERE filter.id = v.filter_id) AS filter_v
FROM source s
JOIN catalogue_release r ON r.id = s.release_id
JOIN survey sv ON sv.id = r.survey_id
JOIN field f ON f.id = s.field_id
JOIN galaxy g ON g.id = f.galaxy_id
{_band_join("nuv", "NUV")}
{_band_join("u", "U")}
{_band_join("b", "B")}
{_band_join("v", "V")}
{_band_join("i", "I")}
LEFT JOIN morphology m ON m.source_id = s.id AND m.constants_version = r.morphology_version
LEFT JOIN sed_fit sf ON sf.source_id = s.id AND sf.method_id = r.default_sed_method_id
WHERE r.status IN {VISIBLE_RELEASE_STATUSES}
"""

SOURCE_CLASSES_V1 = f"""
SELECT
    r.name AS release,
    g.name AS galaxy,
    f.name AS field,
    s.id_in_release AS source_id,
    cm.name AS method,
    cm.kind AS method_kind,
    c.cluster_class AS "class",
    c.subclass AS subclass,
    c.score AS score,
    r.id AS release_id,
    r.version AS release_version,
    s.id AS source_pk,
    cm.version AS method_version,
    c.quality AS quality,
    c.method_flag AS method_flag,
    c.p_class1 AS p_class1,
    c.p_class2 AS p_class2,
    c.p_class3 AS p_class3,
    c.p_class4 AS p_class4,
    COALESCE(dr.name, r.name) AS delivered_by
FROM classification c
JOIN classification_method cm ON cm.id = c.method_id
JOIN source s ON s.id = c.source_id
JOIN catalogue_release r ON r.id = s.release_id
JOIN field f ON f.id = s.field_id
JOIN galaxy g ON g.id = f.galaxy_id
LEFT JOIN catalogue_release dr ON dr.id = c.release_id
WHERE r.status IN {VISIBLE_RELEASE_STATUSES}
  AND (c.release_id IS NULL OR dr.status IN {VISIBLE_RELEASE_STATUSES})
"""

_MAG = "total aperture-corrected {band} magnitude, Vega, NULL where not measured (mag)"
_ERR = "1-sigma error of mag_{low} (mag)"

#: view name -> (view comment, {column: comment with unit})
VIEW_COMMENTS_V1: dict[str, tuple[str, dict[str, str]]] = {
    "cluster_catalogue": (
        "one row per source of every complete release: positions, total Vega magnitudes, "
        "concentration indices and the release's default SED fit",
        {
            "release": "release name (text)",
            "survey": "survey that published the release (text)",
            "galaxy": "canonical galaxy name, e.g. 'NGC 628' (text)",
            "field": "field (pointing) name, e.g. 'ngc628c' (text)",
            "source_id": "source id within the release (id)",
            "ra": "right ascension, ICRS J2000 (deg)",
            "dec": "declination, ICRS J2000 (deg)",
            **{
                f"mag_{low}": _MAG.format(band=band)
                for low, band in [
                    ("nuv", "NUV (F275W)"),
                    ("u", "U (F336W)"),
                    ("b", "B (F435W/F438W)"),
                    ("v", "V (F555W/F606W)"),
                    ("i", "I (F814W)"),
                ]
            },
            **{f"mag_{low}_err": _ERR.format(low=low) for low in ["nuv", "u", "b", "v", "i"]},
            "ci": "concentration index CI = m(1 px) - m(3 px) in V (mag)",
            "mci_in": "inner multiple concentration index MCI_in (dimensionless)",
            "mci_out": "outer multiple concentration index MCI_out (dimensionless)",
            "log_age": "log10 age from the release's default SED method (log yr)",
            "log_mass": "log10 stellar mass from the release's default SED method (log Msun)",
            "ebv": "colour excess E(B-V) from the release's default SED method (mag)",
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "source_pk": "source.id, key for joins with other tables (key)",
            "x": "x on the field's reference frame, 1-based (pix)",
            "y": "y on the field's reference frame, 1-based (pix)",
            "distance_mpc": "adopted galaxy distance (Mpc)",
            "filter_b": "filter measured as B: F435W or F438W (text)",
            "filter_v": "filter measured as V: F555W or F606W (text)",
        },
    ),
    "source_classes": (
        "one row per source and classification method of every complete release",
        {
            "release": "release name (text)",
            "galaxy": "canonical galaxy name (text)",
            "field": "field (pointing) name (text)",
            "source_id": "source id within the release (id)",
            "method": "classification method name (text)",
            "method_kind": "human | ml | hybrid | consensus (text)",
            "class": "class 1 symmetric cluster, 2 asymmetric, 3 association, 4 other (code)",
            "subclass": "PHANGS subclass of class 4, e.g. 10 for 4.10 (code)",
            "score": "method's score: human mean, ML top probability or agreement (dimensionless)",
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "source_pk": "source.id (key)",
            "method_version": "classification method version (text)",
            "quality": "visual quality 1 certain, 2 likely, 3 possible (code)",
            "method_flag": "method-specific flag, e.g. NGC 1566 hybrid origin (code)",
            "p_class1": "ML probability of class 1 (probability)",
            "p_class2": "ML probability of class 2 (probability)",
            "p_class3": "ML probability of class 3 (probability)",
            "p_class4": "ML probability of class 4 (probability)",
            "delivered_by": "release that delivered the class, e.g. a StarcNet release (text)",
        },
    ),
}

#: view name -> body, as created by the views migration (version 1)
VIEWS_V1: dict[str, str] = {
    "cluster_catalogue": CLUSTER_CATALOGUE_V1,
    "source_classes": SOURCE_CLASSES_V1,
}


# --- version 2: views added by revision 0005 ----------------------------------------------
#
# Design of the photometry views. A view's columns are fixed when it is created, so "every
# filter x aperture present" cannot be a dynamic set of columns. Two views cover it:
#
# * ``source_photometry`` (long): one row per source, filter and aperture of every visible
#   release, with the filter name, instrument, band label, aperture kind and radius. Complete
#   by construction: a new filter or aperture is new rows, never a schema change.
# * ``source_photometry_wide``: one row per source with the total magnitude of every filter
#   *name* ClusterCat knows (F275W, F336W, F435W, F438W, F555W, F606W, F814W, whichever
#   instrument measured it) and the V-band magnitudes in the 1, 2, 3, 4 and 5 px apertures
#   (NULL where not measured). A filter or aperture added later is a new column in a new
#   version of the view (columns may be added, never renamed or removed).

#: Filter names with a total-magnitude column in ``source_photometry_wide`` (version 1).
WIDE_FILTERS_V1: tuple[str, ...] = ("F275W", "F336W", "F435W", "F438W", "F555W", "F606W", "F814W")

#: Aperture radii (pix) of the V-band aperture magnitudes in ``source_photometry_wide``.
WIDE_V_APERTURES_PX_V1: tuple[int, ...] = (1, 2, 3, 4, 5)


def _filter_total_join(alias: str, filter_name: str) -> str:
    """LEFT JOIN of the total magnitude measured in one filter name (any instrument)."""
    return (
        f"LEFT JOIN photometry {alias} ON {alias}.source_id = s.id AND {alias}.kind = 'total' "
        f"AND {alias}.filter_id IN (SELECT id FROM filter WHERE name = '{filter_name}')"
    )


def _v_aperture_join(alias: str, radius_px: int) -> str:
    """LEFT JOIN of the V-band magnitude in the aperture of radius ``radius_px`` pixels."""
    return (
        f"LEFT JOIN photometry {alias} ON {alias}.source_id = s.id "
        f"AND {alias}.kind = 'aperture' AND {alias}.radius_px = {radius_px} "
        f"AND {alias}.filter_id IN (SELECT id FROM filter WHERE band = 'V')"
    )


SOURCE_PHOTOMETRY_V1 = f"""
SELECT
    r.name AS release,
    g.name AS galaxy,
    f.name AS field,
    s.id_in_release AS source_id,
    flt.name AS filter,
    flt.instrument AS instrument,
    flt.band AS band,
    p.kind AS aperture_kind,
    p.radius_px AS radius_px,
    p.status AS status,
    p.mag_vega AS mag_vega,
    p.mag_err AS mag_err,
    p.flux_mjy AS flux_mjy,
    p.flux_err_mjy AS flux_err_mjy,
    p.aperture_correction_mag AS aperture_correction_mag,
    p.sky_median AS sky_median,
    p.sky_std AS sky_std,
    p.mw_extinction_corrected AS mw_extinction_corrected,
    flt.pivot_wavelength_aa AS pivot_wavelength_aa,
    r.id AS release_id,
    r.version AS release_version,
    s.id AS source_pk,
    p.filter_id AS filter_id,
    p.id AS photometry_pk,
    p.run_id AS run_id
FROM photometry p
JOIN source s ON s.id = p.source_id
JOIN catalogue_release r ON r.id = s.release_id
JOIN field f ON f.id = s.field_id
JOIN galaxy g ON g.id = f.galaxy_id
JOIN filter flt ON flt.id = p.filter_id
WHERE r.status IN {VISIBLE_RELEASE_STATUSES}
"""


def _wide_columns() -> str:
    lines = []
    for name in WIDE_FILTERS_V1:
        low = name.lower()
        lines.append(f"    {low}.mag_vega AS mag_{low},")
        lines.append(f"    {low}.mag_err AS mag_{low}_err,")
    for radius in WIDE_V_APERTURES_PX_V1:
        lines.append(f"    v_r{radius}.mag_vega AS mag_v_r{radius},")
        lines.append(f"    v_r{radius}.mag_err AS mag_v_r{radius}_err,")
    return "\n".join(lines)


SOURCE_PHOTOMETRY_WIDE_V1 = (
    f"""
SELECT
    r.name AS release,
    g.name AS galaxy,
    f.name AS field,
    s.id_in_release AS source_id,
    s.ra AS ra,
    s.dec AS dec,
{_wide_columns()}
    r.id AS release_id,
    r.version AS release_version,
    s.id AS source_pk
FROM source s
JOIN catalogue_release r ON r.id = s.release_id
JOIN field f ON f.id = s.field_id
JOIN galaxy g ON g.id = f.galaxy_id
"""
    + "\n".join(_filter_total_join(name.lower(), name) for name in WIDE_FILTERS_V1)
    + "\n"
    + "\n".join(_v_aperture_join(f"v_r{r}", r) for r in WIDE_V_APERTURES_PX_V1)
    + f"\nWHERE r.status IN {VISIBLE_RELEASE_STATUSES}\n"
)

SED_RESULTS_V1 = f"""
SELECT
    r.name AS release,
    g.name AS galaxy,
    f.name AS field,
    s.id_in_release AS source_id,
    sm.name AS method,
    COALESCE(sf.method_id = r.default_sed_method_id, FALSE) AS is_default,
    sf.log_age AS log_age,
    sf.log_age_min AS log_age_min,
    sf.log_age_max AS log_age_max,
    sf.log_mass AS log_mass,
    sf.log_mass_min AS log_mass_min,
    sf.log_mass_max AS log_mass_max,
    sf.ebv AS ebv,
    sf.ebv_min AS ebv_min,
    sf.ebv_max AS ebv_max,
    sf.chi2 AS chi2,
    sf.reduced_chi2 AS reduced_chi2,
    sf.q_prob AS q_prob,
    sf.n_bands AS n_bands,
    sm.code AS sed_code,
    sm.ssp_model AS ssp_model,
    sm.imf AS imf,
    sm.metallicity AS metallicity,
    sm.extinction_law AS extinction_law,
    r.id AS release_id,
    r.version AS release_version,
    s.id AS source_pk,
    sf.method_id AS method_id,
    sf.run_id AS run_id
FROM sed_fit sf
JOIN sed_method sm ON sm.id = sf.method_id
JOIN source s ON s.id = sf.source_id
JOIN catalogue_release r ON r.id = s.release_id
JOIN field f ON f.id = s.field_id
JOIN galaxy g ON g.id = f.galaxy_id
WHERE r.status IN {VISIBLE_RELEASE_STATUSES}
"""


def _crossmatch_side(side: str) -> str:
    """LEFT JOINs of one side's source, field, galaxy, V magnitude and class."""
    return f"""LEFT JOIN source s{side} ON s{side}.id = cp.source_{side}_id
LEFT JOIN field f{side} ON f{side}.id = s{side}.field_id
LEFT JOIN galaxy g{side} ON g{side}.id = f{side}.galaxy_id
LEFT JOIN photometry v{side} ON v{side}.source_id = s{side}.id AND v{side}.kind = 'total'
    AND v{side}.filter_id IN (SELECT id FROM filter WHERE band = 'V')
LEFT JOIN classification c{side} ON c{side}.source_id = s{side}.id
    AND c{side}.method_id = xr.classification_method_{side}_id
LEFT JOIN classification_method cm{side} ON cm{side}.id = xr.classification_method_{side}_id"""


CROSSMATCH_PAIRS_V1 = f"""
SELECT
    xr.id AS run_id,
    rla.name AS release_a,
    rlb.name AS release_b,
    cp.outcome AS outcome,
    cp.is_best AS is_best,
    cp.separation_arcsec AS separation_arcsec,
    COALESCE(ga.name, gb.name) AS galaxy,
    fa.name AS field_a,
    sa.id_in_release AS source_id_a,
    sa.ra AS ra_a,
    sa.dec AS dec_a,
    va.mag_vega AS mag_v_a,
    ca.cluster_class AS class_a,
    fb.name AS field_b,
    sb.id_in_release AS source_id_b,
    sb.ra AS ra_b,
    sb.dec AS dec_b,
    vb.mag_vega AS mag_v_b,
    cb.cluster_class AS class_b,
    xr.radius_arcsec AS radius_arcsec,
    xr.method AS match_method,
    cma.name AS class_method_a,
    cmb.name AS class_method_b,
    xr.release_a_id AS release_a_id,
    xr.release_b_id AS release_b_id,
    sa.id AS source_pk_a,
    sb.id AS source_pk_b,
    cp.id AS pair_pk
FROM crossmatch_pair cp
JOIN crossmatch_run xr ON xr.id = cp.run_id
JOIN catalogue_release rla ON rla.id = xr.release_a_id
JOIN catalogue_release rlb ON rlb.id = xr.release_b_id
{_crossmatch_side("a")}
{_crossmatch_side("b")}
WHERE rla.status IN {VISIBLE_RELEASE_STATUSES} AND rlb.status IN {VISIBLE_RELEASE_STATUSES}
"""

RELEASE_SUMMARY_V1 = f"""
WITH visible AS (
    SELECT id, name, version, status, survey_id, default_sed_method_id
    FROM catalogue_release
    WHERE status IN {VISIBLE_RELEASE_STATUSES}
),
galaxy_counts AS (
    SELECT
        s.release_id AS release_id,
        f.galaxy_id AS galaxy_id,
        count(*) AS n_galaxy_sources,
        count(DISTINCT s.field_id) AS n_galaxy_fields,
        count(sf.id) AS n_galaxy_sed_fitted
    FROM source s
    JOIN visible r ON r.id = s.release_id
    JOIN field f ON f.id = s.field_id
    LEFT JOIN sed_fit sf ON sf.source_id = s.id AND sf.method_id = r.default_sed_method_id
    GROUP BY s.release_id, f.galaxy_id
),
class_counts AS (
    SELECT
        s.release_id AS release_id,
        f.galaxy_id AS galaxy_id,
        c.method_id AS method_id,
        COALESCE(c.release_id, s.release_id) AS delivered_by_id,
        c.cluster_class AS cluster_class,
        count(*) AS n_sources
    FROM classification c
    JOIN source s ON s.id = c.source_id
    JOIN visible r ON r.id = s.release_id
    JOIN field f ON f.id = s.field_id
    WHERE c.release_id IS NULL OR c.release_id IN (SELECT id FROM visible)
    GROUP BY s.release_id, f.galaxy_id, c.method_id, COALESCE(c.release_id, s.release_id),
        c.cluster_class
),
method_totals AS (
    SELECT release_id, galaxy_id, method_id, delivered_by_id,
        CAST(sum(n_sources) AS BIGINT) AS n_classified
    FROM class_counts
    GROUP BY release_id, galaxy_id, method_id, delivered_by_id
)
SELECT
    r.name AS release,
    sv.name AS survey,
    g.name AS galaxy,
    cm.name AS method,
    cm.kind AS method_kind,
    cc.cluster_class AS "class",
    COALESCE(cc.n_sources, 0) AS n_sources,
    COALESCE(mt.n_classified, 0) AS n_classified,
    gc.n_galaxy_sources AS n_galaxy_sources,
    gc.n_galaxy_fields AS n_galaxy_fields,
    gc.n_galaxy_sed_fitted AS n_galaxy_sed_fitted,
    dr.name AS delivered_by,
    r.id AS release_id,
    r.version AS release_version,
    r.status AS release_status,
    cm.version AS method_version,
    g.id AS galaxy_pk,
    cm.id AS method_pk
FROM galaxy_counts gc
JOIN visible r ON r.id = gc.release_id
JOIN survey sv ON sv.id = r.survey_id
JOIN galaxy g ON g.id = gc.galaxy_id
LEFT JOIN class_counts cc ON cc.release_id = gc.release_id AND cc.galaxy_id = gc.galaxy_id
LEFT JOIN method_totals mt ON mt.release_id = cc.release_id AND mt.galaxy_id = cc.galaxy_id
    AND mt.method_id = cc.method_id AND mt.delivered_by_id = cc.delivered_by_id
LEFT JOIN classification_method cm ON cm.id = cc.method_id
LEFT JOIN catalogue_release dr ON dr.id = cc.delivered_by_id
"""

_WIDE_BAND = {
    "F275W": "NUV",
    "F336W": "U",
    "F435W": "B",
    "F438W": "B",
    "F555W": "V",
    "F606W": "V",
    "F814W": "I",
}

_KEYS_COMMON = {
    "release": "release name (text)",
    "galaxy": "canonical galaxy name, e.g. 'NGC 628' (text)",
    "field": "field (pointing) name, e.g. 'ngc628c' (text)",
    "source_id": "source id within the release (id)",
}

#: view name -> (view comment, {column: comment with unit}), for the views of revision 0005
VIEW_COMMENTS_V2: dict[str, tuple[str, dict[str, str]]] = {
    "source_photometry": (
        "one row per source, filter and aperture (or total) of every complete release: the "
        "long photometry table with filter, instrument, band and aperture spelled out",
        {
            **_KEYS_COMMON,
            "filter": "HST filter name, e.g. 'F555W' (text)",
            "instrument": "camera/channel that measured it: 'WFC3/UVIS' or 'ACS/WFC' (text)",
            "band": "band label NUV, U, B, V or I (text)",
            "aperture_kind": "'total' (aperture-corrected total) or 'aperture' (text)",
            "radius_px": "aperture radius; for totals the measuring aperture if known (pix)",
            "status": "measured | not_detected | outside_footprint | no_coverage | "
            "apcor_undefined (text)",
            "mag_vega": "Vega magnitude, NULL unless status = 'measured' (mag)",
            "mag_err": "1-sigma magnitude error (mag)",
            "flux_mjy": "flux density (mJy)",
            "flux_err_mjy": "1-sigma flux density error (mJy)",
            "aperture_correction_mag": "aperture correction added to reach the total (mag)",
            "sky_median": "sigma-clipped median sky in the annulus (e-/s/pix)",
            "sky_std": "standard deviation of the sky in the annulus (e-/s/pix)",
            "mw_extinction_corrected": "Milky-Way foreground extinction removed; NULL if "
            "unknown (boolean)",
            "pivot_wavelength_aa": "pivot wavelength of the filter (Angstrom)",
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "source_pk": "source.id, key for joins with other tables (key)",
            "filter_id": "filter.id of filter and instrument (key)",
            "photometry_pk": "photometry.id (key)",
            "run_id": "processing run that measured it, NULL when from the catalogue (key)",
        },
    ),
    "source_photometry_wide": (
        "one row per source of every complete release: total Vega magnitude per filter name "
        "and the V-band magnitudes in the 1-5 px apertures, NULL where not measured",
        {
            **_KEYS_COMMON,
            "ra": "right ascension, ICRS J2000 (deg)",
            "dec": "declination, ICRS J2000 (deg)",
            **{
                key: text
                for name in WIDE_FILTERS_V1
                for key, text in (
                    (
                        f"mag_{name.lower()}",
                        f"total aperture-corrected {name} ({_WIDE_BAND[name]}) magnitude, "
                        "Vega, any instrument, NULL where not measured (mag)",
                    ),
                    (f"mag_{name.lower()}_err", f"1-sigma error of mag_{name.lower()} (mag)"),
                )
            },
            **{
                key: text
                for r in WIDE_V_APERTURES_PX_V1
                for key, text in (
                    (
                        f"mag_v_r{r}",
                        f"V-band (F555W/F606W) Vega magnitude in the {r} px radius aperture, "
                        "not aperture-corrected (mag)",
                    ),
                    (f"mag_v_r{r}_err", f"1-sigma error of mag_v_r{r} (mag)"),
                )
            },
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "source_pk": "source.id, key for joins with other tables (key)",
        },
    ),
    "sed_results": (
        "one row per source and SED method of every complete release: age, mass and "
        "E(B-V) with their bounds, fit quality and the method's assumptions",
        {
            **_KEYS_COMMON,
            "method": "SED method name (text)",
            "is_default": "true for the release's default SED method, the one "
            "cluster_catalogue shows (boolean)",
            "log_age": "best-fit log10 age (log yr)",
            "log_age_min": "lower bound of log10 age (log yr)",
            "log_age_max": "upper bound of log10 age (log yr)",
            "log_mass": "best-fit log10 stellar mass (log Msun)",
            "log_mass_min": "lower bound of log10 mass (log Msun)",
            "log_mass_max": "upper bound of log10 mass (log Msun)",
            "ebv": "best-fit colour excess E(B-V) (mag)",
            "ebv_min": "lower bound of E(B-V) (mag)",
            "ebv_max": "upper bound of E(B-V) (mag)",
            "chi2": "chi-squared of the best fit (dimensionless)",
            "reduced_chi2": "chi-squared per degree of freedom (dimensionless)",
            "q_prob": "Q: probability of a chi2 at least this large (probability)",
            "n_bands": "bands used in the fit (count)",
            "sed_code": "fitting code (text)",
            "ssp_model": "SSP model family, e.g. 'BC03', 'Yggdrasil' (text)",
            "imf": "initial mass function (text)",
            "metallicity": "metal mass fraction Z (dimensionless)",
            "extinction_law": "extinction law, e.g. 'CCM89 R_V=3.1' (text)",
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "source_pk": "source.id, key for joins with other tables (key)",
            "method_id": "sed_method.id (key)",
            "run_id": "processing run of the fit, NULL when from the catalogue (key)",
        },
    ),
    "crossmatch_pairs": (
        "one row per cross-match pair (or unmatched source) of runs between complete "
        "releases, with both sides' ids, positions, V magnitudes and classes",
        {
            "run_id": "crossmatch_run.id (key)",
            "release_a": "release of side A (text)",
            "release_b": "release of side B (text)",
            "outcome": "same_class | other_class | matched | double | unmatched_* (text)",
            "is_best": "true for the one-to-one pair (boolean)",
            "separation_arcsec": "angular separation after offsets (arcsec)",
            "galaxy": "canonical galaxy name of side A, else side B (text)",
            "field_a": "field of the side-A source (text)",
            "source_id_a": "side-A source id within its release, NULL if unmatched (id)",
            "ra_a": "right ascension of the side-A source, ICRS (deg)",
            "dec_a": "declination of the side-A source, ICRS (deg)",
            "mag_v_a": "total V (F555W/F606W) Vega magnitude of the side-A source (mag)",
            "class_a": "class of the side-A source by the run's side-A method (code)",
            "field_b": "field of the side-B source (text)",
            "source_id_b": "side-B source id within its release, NULL if unmatched (id)",
            "ra_b": "right ascension of the side-B source, ICRS (deg)",
            "dec_b": "declination of the side-B source, ICRS (deg)",
            "mag_v_b": "total V (F555W/F606W) Vega magnitude of the side-B source (mag)",
            "class_b": "class of the side-B source by the run's side-B method (code)",
            "radius_arcsec": "match radius of the run (arcsec)",
            "match_method": "'kdtree' or 'q3c' (text)",
            "class_method_a": "classification method compared on side A (text)",
            "class_method_b": "classification method compared on side B (text)",
            "release_a_id": "catalogue_release.id of side A (key)",
            "release_b_id": "catalogue_release.id of side B (key)",
            "source_pk_a": "source.id of the side-A source (key)",
            "source_pk_b": "source.id of the side-B source (key)",
            "pair_pk": "crossmatch_pair.id (key)",
        },
    ),
    "release_summary": (
        "one row per complete release, galaxy, classification method and class with source "
        "counts; a galaxy no method classified appears once with method and class NULL",
        {
            "release": "release name (text)",
            "survey": "survey that published the release (text)",
            "galaxy": "canonical galaxy name (text)",
            "method": "classification method, NULL for a galaxy without classes (text)",
            "method_kind": "human | ml | hybrid | consensus (text)",
            "class": "class 1 symmetric cluster, 2 asymmetric, 3 association, 4 other (code)",
            "n_sources": "sources of the galaxy this method put in this class (count)",
            "n_classified": "sources of the galaxy this method classified, any class (count)",
            "n_galaxy_sources": "sources of the galaxy in the release (count)",
            "n_galaxy_fields": "fields (pointings) of the galaxy in the release (count)",
            "n_galaxy_sed_fitted": "sources of the galaxy with a fit by the release's "
            "default SED method (count)",
            "delivered_by": "release that delivered the classes, e.g. a StarcNet release (text)",
            "release_id": "catalogue_release.id (key)",
            "release_version": "version number of the release under its name (count)",
            "release_status": "complete | superseded (text)",
            "method_version": "classification method version (text)",
            "galaxy_pk": "galaxy.id (key)",
            "method_pk": "classification_method.id (key)",
        },
    ),
}

#: view name -> body, as created by revision 0005 (version 2 of the collaborator views)
VIEWS_V2: dict[str, str] = {
    "source_photometry": SOURCE_PHOTOMETRY_V1,
    "source_photometry_wide": SOURCE_PHOTOMETRY_WIDE_V1,
    "sed_results": SED_RESULTS_V1,
    "crossmatch_pairs": CROSSMATCH_PAIRS_V1,
    "release_summary": RELEASE_SUMMARY_V1,
}

#: Columns of ``cluster_catalogue`` version 1 in the order of the view (``SELECT *``); the
#: comment mapping of version 1 lists the errors after the magnitudes.
CLUSTER_CATALOGUE_COLUMNS_V1: tuple[str, ...] = (
    *("release", "survey", "galaxy", "field", "source_id", "ra", "dec"),
    *(f"mag_{b}{e}" for b in ("nuv", "u", "b", "v", "i") for e in ("", "_err")),
    *("ci", "mci_in", "mci_out", "log_age", "log_mass", "ebv"),
    *("release_id", "release_version", "source_pk", "x", "y", "distance_mpc"),
    *("filter_b", "filter_v"),
)


def _in_order(
    entry: tuple[str, dict[str, str]], order: tuple[str, ...]
) -> tuple[str, dict[str, str]]:
    comment, columns = entry
    if set(order) != set(columns):
        raise ValueError("column order and comments name different columns")
    return comment, {name: columns[name] for name in order}


#: The collaborator views of revisions 0003 and 0005 with their documentation, columns in
#: view order (the base of version 3 below).
_COMMENTS_V2: dict[str, tuple[str, dict[str, str]]] = {
    **VIEW_COMMENTS_V1,
    "cluster_catalogue": _in_order(
        VIEW_COMMENTS_V1["cluster_catalogue"], CLUSTER_CATALOGUE_COLUMNS_V1
    ),
    **VIEW_COMMENTS_V2,
}


# --- version 3: the newest complete version of each release, and the _all views (0007) -----
#
# A release name has versions 1, 2, ...; ingesting a new version marks the older complete one
# ``superseded`` in the same transaction, and a partial unique index keeps at most one
# ``complete`` version per name. The plain views therefore show ``status = 'complete'``: the
# newest complete version of each release name. Every view has a twin ``<view>_all`` that
# shows every complete *and* superseded version, with ``release_version`` and
# ``release_status`` columns, so older versions stay queryable.

#: Status of the one version per release name the plain views show.
NEWEST_RELEASE_STATUS = "('complete')"

#: The top-level FROM of each view body, before which the ``_all`` views add columns.
_TOP_FROM = {
    "cluster_catalogue": "\nFROM source s\n",
    "source_classes": "\nFROM classification c\n",
    "source_photometry": "\nFROM photometry p\n",
    "source_photometry_wide": "\nFROM source s\n",
    "sed_results": "\nFROM sed_fit sf\n",
    "crossmatch_pairs": "\nFROM crossmatch_pair cp\n",
}

#: Columns the ``_all`` twin adds at the end, with their comments.
_ALL_EXTRA_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "crossmatch_pairs": {
        "release_version_a": ("rla.version", "version number of side A's release (count)"),
        "release_version_b": ("rlb.version", "version number of side B's release (count)"),
        "release_status_a": (
            "rla.status",
            "complete | superseded: status of side A's release (text)",
        ),
        "release_status_b": (
            "rlb.status",
            "complete | superseded: status of side B's release (text)",
        ),
    },
    "release_summary": {},  # has release_version and release_status already
}
_RELEASE_STATUS_COLUMN = (
    "r.status",
    "complete (the newest complete version of the name) | superseded (an older one) (text)",
)


def _newest_only(body: str) -> str:
    """``body`` restricted to the newest complete version of each release name."""
    visible = f"IN {VISIBLE_RELEASE_STATUSES}"
    if visible not in body:
        raise ValueError("view body has no release-status condition")
    return body.replace(visible, f"IN {NEWEST_RELEASE_STATUS}")


def _extra_columns(name: str) -> dict[str, tuple[str, str]]:
    return _ALL_EXTRA_COLUMNS.get(name, {"release_status": _RELEASE_STATUS_COLUMN})


def _with_columns(name: str, body: str) -> str:
    """``body`` with the ``_all`` view's extra columns appended to its SELECT list."""
    extra = _extra_columns(name)
    if not extra:
        return body
    marker = _TOP_FROM[name]
    if body.count(marker) != 1:
        raise ValueError(f"cannot find the top-level FROM of view {name}")
    columns = "".join(f",\n    {expr} AS {col}" for col, (expr, _) in extra.items())
    return body.replace(marker, columns + marker)


_BODIES_V2: dict[str, str] = {**VIEWS_V1, **VIEWS_V2}

#: view name -> body, as created by revision 0007 (version 3): the plain views show the
#: newest complete version of each release name, the ``_all`` views every visible version.
VIEWS_V3: dict[str, str] = {
    **{name: _newest_only(body) for name, body in _BODIES_V2.items()},
    **{f"{name}_all": _with_columns(name, body) for name, body in _BODIES_V2.items()},
}


def _newest_comment(comment: str) -> str:
    return (
        comment.replace(
            "of every complete release", "of the newest complete version of each release name"
        )
        .replace("between complete releases", "between the newest complete versions")
        .replace("one row per complete release,", "one row per newest complete release version,")
    )


def _all_comment(name: str, comment: str) -> str:
    return (
        f"like {name}, for every complete and superseded version of each release (older "
        f"versions stay queryable): {comment}"
    )


#: view name -> (comment, {column: comment}) of the version-3 views, columns in view order.
VIEW_COMMENTS_V3: dict[str, tuple[str, dict[str, str]]] = {
    **{
        name: (_newest_comment(comment), dict(columns))
        for name, (comment, columns) in _COMMENTS_V2.items()
    },
    **{
        f"{name}_all": (
            _all_comment(name, comment),
            {**columns, **{c: text for c, (_, text) in _extra_columns(name).items()}},
        )
        for name, (comment, columns) in _COMMENTS_V2.items()
    },
}
VIEW_COMMENTS_V3["release_summary"][1]["release_status"] = (
    "complete: the newest complete version of the release name (text)"
)

# --- version 4: cluster_catalogue reads catalogue_entry (0010) ------------------------------
#
# A complete release never changes, so its catalogue rows (one magnitude per band by the one
# band rule, CI and MCI) are written once when it completes, into ``catalogue_entry``
# (:mod:`clustercat.schema.catalogue_entry`). ``cluster_catalogue`` reads that table instead
# of joining five of ~40 photometry rows per source; only the default SED fit stays a live
# join (a complete release may get a new default SED method). The cross-match pairs and the
# wide photometry view take the V magnitude / V filter from the same table, so every view
# agrees on which filter is a source's V. ``cluster_catalogue`` gains ``filter_nuv``,
# ``filter_u`` and ``filter_i`` (columns are only ever added).

CLUSTER_CATALOGUE_V4 = f"""
SELECT
    r.name AS release,
    sv.name AS survey,
    g.name AS galaxy,
    f.name AS field,
    e.id_in_release AS source_id,
    e.ra AS ra,
    e.dec AS dec,
    e.mag_nuv AS mag_nuv,
    e.mag_nuv_err AS mag_nuv_err,
    e.mag_u AS mag_u,
    e.mag_u_err AS mag_u_err,
    e.mag_b AS mag_b,
    e.mag_b_err AS mag_b_err,
    e.mag_v AS mag_v,
    e.mag_v_err AS mag_v_err,
    e.mag_i AS mag_i,
    e.mag_i_err AS mag_i_err,
    e.ci AS ci,
    e.mci_in AS mci_in,
    e.mci_out AS mci_out,
    sf.log_age AS log_age,
    sf.log_mass AS log_mass,
    sf.ebv AS ebv,
    r.id AS release_id,
    r.version AS release_version,
    e.source_id AS source_pk,
    e.x AS x,
    e.y AS y,
    g.distance_mpc AS distance_mpc,
    fb.name AS filter_b,
    fv.name AS filter_v,
    fnuv.name AS filter_nuv,
    fu.name AS filter_u,
    fi.name AS filter_i
FROM catalogue_entry e
JOIN catalogue_release r ON r.id = e.release_id
JOIN survey sv ON sv.id = r.survey_id
JOIN field f ON f.id = e.field_id
JOIN galaxy g ON g.id = f.galaxy_id
LEFT JOIN filter fnuv ON fnuv.id = e.filter_nuv_id
LEFT JOIN filter fu ON fu.id = e.filter_u_id
LEFT JOIN filter fb ON fb.id = e.filter_b_id
LEFT JOIN filter fv ON fv.id = e.filter_v_id
LEFT JOIN filter fi ON fi.id = e.filter_i_id
LEFT JOIN sed_fit sf ON sf.source_id = e.source_id AND sf.method_id = r.default_sed_method_id
WHERE r.status IN {VISIBLE_RELEASE_STATUSES}
"""


def _crossmatch_side_v4(side: str) -> str:
    """:func:`_crossmatch_side` with the V magnitude from ``catalogue_entry``."""
    return _crossmatch_side(side).replace(
        f"""LEFT JOIN photometry v{side} ON v{side}.source_id = s{side}.id """
        f"""AND v{side}.kind = 'total'
    AND v{side}.filter_id IN (SELECT id FROM filter WHERE band = 'V')""",
        f"LEFT JOIN catalogue_entry v{side} ON v{side}.source_id = s{side}.id",
    )


CROSSMATCH_PAIRS_V4 = CROSSMATCH_PAIRS_V1
for _side in ("a", "b"):
    CROSSMATCH_PAIRS_V4 = CROSSMATCH_PAIRS_V4.replace(
        _crossmatch_side(_side), _crossmatch_side_v4(_side)
    ).replace(f"v{_side}.mag_vega AS mag_v_{_side}", f"v{_side}.mag_v AS mag_v_{_side}")
del _side

SOURCE_PHOTOMETRY_WIDE_V4 = SOURCE_PHOTOMETRY_WIDE_V1.replace(
    "JOIN galaxy g ON g.id = f.galaxy_id\n",
    "JOIN galaxy g ON g.id = f.galaxy_id\nLEFT JOIN catalogue_entry e ON e.source_id = s.id\n",
    1,
)
for _radius in WIDE_V_APERTURES_PX_V1:
    SOURCE_PHOTOMETRY_WIDE_V4 = SOURCE_PHOTOMETRY_WIDE_V4.replace(
        f"AND v_r{_radius}.filter_id IN (SELECT id FROM filter WHERE band = 'V')",
        f"AND v_r{_radius}.filter_id = e.filter_v_id",
    )
del _radius
for _body, _old in (
    (CROSSMATCH_PAIRS_V4, "band = 'V'"),
    (SOURCE_PHOTOMETRY_WIDE_V4, "band = 'V'"),
):
    if _old in _body:  # the replacements above must have caught every V join
        raise ValueError("a version-4 view still joins V by band")
del _body, _old

#: The top-level FROM of ``cluster_catalogue`` version 4.
_CATALOGUE_FROM_V4 = "\nFROM catalogue_entry e\n"

#: The view bodies revision 0010 replaces, before the newest/_all split.
_BODIES_V4_CHANGED: dict[str, str] = {
    "cluster_catalogue": CLUSTER_CATALOGUE_V4,
    "crossmatch_pairs": CROSSMATCH_PAIRS_V4,
    "source_photometry_wide": SOURCE_PHOTOMETRY_WIDE_V4,
}


def _all_body_v4(name: str, body: str) -> str:
    if name != "cluster_catalogue":
        return _with_columns(name, body)
    marker = _CATALOGUE_FROM_V4
    expr, _ = _RELEASE_STATUS_COLUMN
    return body.replace(marker, f",\n    {expr} AS release_status" + marker, 1)


#: view name -> body of the views revision 0010 re-creates (plain and ``_all``).
VIEWS_V4_CHANGED: dict[str, str] = {
    **{name: _newest_only(body) for name, body in _BODIES_V4_CHANGED.items()},
    **{f"{name}_all": _all_body_v4(name, body) for name, body in _BODIES_V4_CHANGED.items()},
}

#: view name -> body of every collaborator view at version 4.
VIEWS_V4: dict[str, str] = {**VIEWS_V3, **VIEWS_V4_CHANGED}

_BAND_RULE = "; the band's preferred filter when a field has two (filter_{low})"
_FILTER_COLUMNS_V4 = {
    "filter_nuv": "filter measured as NUV, e.g. F275W (text)",
    "filter_u": "filter measured as U, e.g. F336W (text)",
    "filter_i": "filter measured as I, e.g. F814W (text)",
}


def _catalogue_columns_v4(columns: dict[str, str]) -> dict[str, str]:
    out = dict(columns)
    for low in ("nuv", "u", "b", "v", "i"):
        out[f"mag_{low}"] = out[f"mag_{low}"].replace(
            " (mag)", _BAND_RULE.format(low=low) + " (mag)"
        )
    out["filter_b"] = "filter measured as B: F435W preferred to F438W (text)"
    out["filter_v"] = "filter measured as V: F555W preferred to F606W (text)"
    extra = dict(_FILTER_COLUMNS_V4)
    if "release_status" in out:  # keep release_status last in the _all view
        status = out.pop("release_status")
        return {**out, **extra, "release_status": status}
    return {**out, **extra}


#: view name -> (comment, {column: comment}) of the version-4 views, columns in view order.
VIEW_COMMENTS_V4: dict[str, tuple[str, dict[str, str]]] = {
    **VIEW_COMMENTS_V3,
    **{
        name: (VIEW_COMMENTS_V3[name][0], _catalogue_columns_v4(VIEW_COMMENTS_V3[name][1]))
        for name in ("cluster_catalogue", "cluster_catalogue_all")
    },
}
for _name in ("crossmatch_pairs", "crossmatch_pairs_all"):
    _comment, _columns = VIEW_COMMENTS_V4[_name]
    VIEW_COMMENTS_V4[_name] = (
        _comment,
        {
            **_columns,
            **{
                f"mag_v_{side}": f"total V Vega magnitude of the side-{side.upper()} source, "
                "as in cluster_catalogue (mag)"
                for side in ("a", "b")
            },
        },
    )
del _name, _comment, _columns


#: Every collaborator view at head and its documentation, columns in view order (for the
#: data dictionary and exports). Update this mapping together with each new views revision;
#: views defined with their tables' module are documented there (0009: injection).
CURRENT_VIEW_COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    **VIEW_COMMENTS_V4,
    "injection_completeness": INJECTION_COMPLETENESS_COMMENTS,
}
