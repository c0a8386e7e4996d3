"""Reader for StarcNet CNN class predictions (Pérez et al. 2021) of LEGUS sources.

Format (data/README.md, ``legus/starcnet_ml_predictions_ngc1566.tab``): tab-separated, no
header, one LEGUS source per line: id, x, y (pix, the LEGUS x, y truncated to integers, as in
gperezs/StarcNet ``create_target_db``), predicted class 1-4, and the four class probabilities
as a string ``[0.53 - 0.19 - 0.02 - 0.27]`` (two decimals, so they sum to 1 +- 0.02).

The result is a :class:`CatalogueTables` with ``sources`` (id, line, x, y; RA/Dec NaN) and
``classifications`` only (method "StarcNet", kind ml, ``p_class1..4``, score = probability of
the predicted class). It attaches to an existing LEGUS release: :func:`check_alignment` checks
that ids and x, y line up with that release's sources before the loader links them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from clustercat.ingest.contract import (
    CLASSIFICATION_COLUMNS,
    MORPHOLOGY_COLUMNS,
    PHOTOMETRY_COLUMNS,
    REPORT_KEYS,
    SED_COLUMNS,
    SOURCE_COLUMNS,
    CatalogueTables,
    ClassificationMethodSpec,
    coerce_frame,
    empty_frame,
)
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.galaxies import UnknownGalaxyError, canonical_galaxy
from clustercat.ingest.legus import _data_lines, parse_numeric, read_text, split_lines

READER_VERSION = "1.0"

METHOD = ClassificationMethodSpec(
    name="StarcNet",
    kind="ml",
    description="StarcNet multi-scale CNN on 5-band LEGUS cutouts (gperezs/StarcNet); class 1-4 "
    "with the four class probabilities, printed to two decimals. Score = probability of the "
    "predicted class.",
    reference="Pérez et al. 2021, ApJ 907, 100",
)

_NAME = re.compile(r"starcnet.*?_(?P<target>[a-z]+\d+(?:-[a-z0-9]+)?)\.tab(?:\.gz)?$", re.I)
_PROBS = re.compile(
    r"^\s*\[\s*(?P<p1>[0-9.eE+-]+)\s+-\s+(?P<p2>[0-9.eE+-]+)\s+-\s+"
    r"(?P<p3>[0-9.eE+-]+)\s+-\s+(?P<p4>[0-9.eE+-]+)\s*\]\s*$"
)
_SUM_TOLERANCE = 0.05  # four values rounded to 0.01 sum to 1 +- 0.02


def read_starcnet(
    path: str | Path, *, galaxy: str | None = None, field: str | None = None
) -> CatalogueTables:
    """Read StarcNet predictions; the galaxy comes from the file name unless given."""
    path = Path(path)
    m = _NAME.search(path.name)
    if galaxy is None and m is None:
        raise CatalogueFormatError(path, None, None, "cannot tell the galaxy; pass galaxy=")
    try:
        gal, gal_field = canonical_galaxy(galaxy or m["target"])  # type: ignore[index]
    except UnknownGalaxyError as exc:
        raise CatalogueFormatError(path, None, None, str(exc)) from exc

    lines = _data_lines(split_lines(read_text(path)))
    if lines.empty:
        raise CatalogueFormatError(path, 1, 1, "empty file: no data rows")
    counts = lines.str.count("\t").to_numpy() + 1
    wrong = np.flatnonzero(counts != 5)
    if wrong.size:
        i = wrong[0]
        raise CatalogueFormatError(
            path, int(lines.index[i]), min(int(counts[i]), 5) + 1,
            f"expected 5 tab-separated columns, found {counts[i]}",
        )  # fmt: skip
    head = lines.str.rsplit("\t", n=1)
    numbers = parse_numeric(
        path, head.str[0], 4, sep="\t", column_names={1: "id", 2: "x", 3: "y", 4: "class"}
    )
    line_no = lines.index.to_numpy(np.int64)
    ids_f, x, y, pred_f = numbers.T
    for values, column, what in ((ids_f, 1, "source id"), (pred_f, 4, "predicted class")):
        bad = np.flatnonzero((values != np.round(values)) | (values < 1))
        if bad.size:
            i = bad[0]
            raise CatalogueFormatError(
                path,
                int(line_no[i]),
                column,
                f"{what} must be a positive integer, got {values[i]:g}",
            )
    bad = np.flatnonzero(pred_f > 4)
    if bad.size:
        i = bad[0]
        raise CatalogueFormatError(
            path, int(line_no[i]), 4, f"predicted class must be 1-4, got {pred_f[i]:g}"
        )
    ids = ids_f.astype(np.int64)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CatalogueFormatError(path, int(line_no[i]), 1, f"duplicate source id {ids[i]}")

    probs = head.str[1].str.extract(_PROBS)
    missing = probs.isna().any(axis=1).to_numpy()
    p = probs.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad_p = missing | ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p > 1).any(axis=1)
    bad_p |= np.abs(np.nansum(p, axis=1) - 1.0) > _SUM_TOLERANCE
    if bad_p.any():
        i = int(np.flatnonzero(bad_p)[0])
        raise CatalogueFormatError(
            path, int(line_no[i]), 5,
            "expected four probabilities summing to 1 like '[0.53 - 0.19 - 0.02 - 0.27]', "
            f"got {head.iat[i][1]!r}",
        )  # fmt: skip
    pred = pred_f.astype(np.int64)
    n = len(ids)
    report = dict.fromkeys(REPORT_KEYS, 0) | {"rows": n}
    # Rounded probabilities can tie; the file's predicted class is kept as is.
    report["starcnet_pred_not_argmax"] = int((np.argmax(p, axis=1) + 1 != pred).sum())

    sources = pd.DataFrame(
        {"id_in_release": ids, "line": line_no, "x": x, "y": y, "ra": np.nan, "dec": np.nan}
    )
    sources["flags"] = np.zeros(n, dtype=np.int64)
    classes = pd.DataFrame(
        {
            "id_in_release": ids,
            "method": METHOD.name,
            "cluster_class": pd.array(pred, dtype="Int16"),
            "score": p[np.arange(n), pred - 1],
            "p_class1": p[:, 0],
            "p_class2": p[:, 1],
            "p_class3": p[:, 2],
            "p_class4": p[:, 3],
        }
    )
    return CatalogueTables(
        survey="LEGUS",
        galaxy=gal,
        field=(field or gal_field).lower(),
        filters={},
        instruments={},
        reader="starcnet",
        reader_version=READER_VERSION,
        layout=None,
        source_path=path,
        sources=coerce_frame(sources, SOURCE_COLUMNS),
        photometry=empty_frame(PHOTOMETRY_COLUMNS),
        morphology=empty_frame(MORPHOLOGY_COLUMNS),
        classifications=coerce_frame(classes, CLASSIFICATION_COLUMNS),
        classification_methods=[METHOD],
        sed_fits=empty_frame(SED_COLUMNS),
        sed_method=None,
        report=report,
        primary_method=METHOD.name,
        notes=["x, y are the LEGUS x, y truncated to integers; RA/Dec come from the release"],
    )


def check_alignment(
    predictions: CatalogueTables, release: CatalogueTables, *, max_offset_px: float = 1.0
) -> pd.DataFrame:
    """Check that every prediction's id exists in ``release`` with x, y within ``max_offset_px``.

    Returns the joined frame (id_in_release, line, x, y, x_release, y_release, dx, dy); raises
    :class:`CatalogueFormatError` naming the predictions file, line and column otherwise.
    """
    pred = predictions.sources[["id_in_release", "line", "x", "y"]]
    rel = release.sources[["id_in_release", "x", "y"]].rename(
        columns={"x": "x_release", "y": "y_release"}
    )
    joined = pred.merge(rel, on="id_in_release", how="left", validate="one_to_one")
    path = predictions.source_path
    missing = joined["x_release"].isna().to_numpy()
    if missing.any():
        row = joined.iloc[int(np.flatnonzero(missing)[0])]
        raise CatalogueFormatError(
            path, int(row["line"]), 1,
            f"source id {row['id_in_release']} is not in {release.source_path.name}",
        )  # fmt: skip
    joined["dx"] = joined["x_release"] - joined["x"]
    joined["dy"] = joined["y_release"] - joined["y"]
    for column, name in ((2, "dx"), (3, "dy")):
        off = np.flatnonzero(np.abs(joined[name].to_numpy()) >= max_offset_px)
        if off.size:
            row = joined.iloc[int(off[0])]
            raise CatalogueFormatError(
                path, int(row["line"]), column,
                f"position of id {row['id_in_release']} differs from "
                f"{release.source_path.name} by {row[name]:.3f} px",
            )  # fmt: skip
    return joined
