"""Collaborator views: stable names and columns for SQL users (DESIGN.md §1, §4).

Each view body is a versioned constant. A migration creates a view from one version;
a later change to a view is a new constant and a new migration, so old migrations keep
replaying exactly. Columns may be added in later versions, never renamed or removed.

Only releases whose status is ``complete`` or ``superseded`` are visible through the
views, so a release that is still loading (or failed) is never half-visible.
"""

from __future__ import annotations

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
