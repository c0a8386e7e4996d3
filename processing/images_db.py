"""The image registry in the database: register drizzled HST images, look them up, open them.

Thin layer over the pure readers of :mod:`clustercat.processing.images` (DESIGN.md §4,
``image``: pixels stay in FITS files, metadata goes in rows).

* :func:`register_images` — read and check every file first, then write all rows in one
  transaction (all files or none); the same file (sha256) again is a no-op.
* :func:`field_images` — band → :class:`ImageRecord` of a field, or :class:`MissingBandsError`.
* :func:`open_image` — the pixels of a registered image, refused if the file changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from clustercat.ingest.galaxies import UnknownGalaxyError, canonical_galaxy
from clustercat.ingest.loader import ensure_field, ensure_galaxy, normalise_alias
from clustercat.schema import (
    Field,
    FieldFilter,
    Filter,
    Galaxy,
    GalaxyAlias,
    Image,
    write_transaction,
)
from rich.progress import Progress
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.orm import Session

from .images import (
    HSTHeader,
    HSTImage,
    ImageChangedError,
    pixel_grid_offset,
    read_hst_header,
    read_hst_image,
    wcs_cards,
    wcs_from_header,
)

#: Largest pixel offset (pix) between two images of one field for them to share a grid.
GRID_TOLERANCE_PX = 0.01

ALL_BANDS = ("NUV", "U", "B", "V", "I")

__all__ = [
    "ImageChangedError", "ImageRecord", "ImageRegistryError", "MissingBandsError",
    "field_images", "images_frame", "list_images", "open_image", "register_images",
]  # fmt: skip


class ImageRegistryError(ValueError):
    """Files that cannot be registered as asked (grid mismatch, unknown filter, conflicts)."""


class MissingBandsError(LookupError):
    """A field without a registered image in some of the requested bands."""

    def __init__(self, field: str, present: Sequence[str], missing: Sequence[str]) -> None:
        self.field, self.present, self.missing = field, tuple(present), tuple(missing)
        super().__init__(
            f"field {field!r} has no registered image in band(s) {', '.join(missing)}; "
            f"bands present: {', '.join(present) if present else 'none'}"
        )


@dataclass(frozen=True)
class ImageRecord:
    """One row of ``image`` with its field, galaxy and filter, as the registry reports it.

    Units as in the table: exposure_time_s s, pixel_scale_arcsec arcsec/pix, photflam
    erg/s/cm2/Angstrom per e-/s, photplam Angstrom, zeropoints mag for 1 e-/s.
    ``status`` is 'registered' (new row), 'already registered' (same sha256 found) or
    'stored' (looked up).
    """

    id: int
    field: str
    galaxy: str
    filter_name: str
    instrument: str
    band: str
    path: Path
    sha256: str
    hdu: int
    naxis1: int
    naxis2: int
    exposure_time_s: float | None
    pixel_scale_arcsec: float | None
    bunit: str | None
    photflam: float | None
    photplam: float | None
    zeropoint_ab: float | None
    zeropoint_vega: float | None
    date_obs: dt.date | None
    file_size_bytes: int | None
    registered_at: dt.datetime | None
    wcs_header: dict
    status: str = "stored"

    @property
    def wcs(self):  # noqa: ANN201 - astropy WCS
        """The celestial WCS of the image, rebuilt from the stored keywords."""
        return wcs_from_header(self.wcs_header)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) in pixels."""
        return (self.naxis2, self.naxis1)


@contextlib.contextmanager
def _connection(conn_or_engine: Connection | Engine) -> Iterator[Connection]:
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            yield conn
    else:
        yield conn_or_engine


def _record_query():  # noqa: ANN202 - a Select
    return (
        select(Image, Field.name.label("field"), Galaxy.name.label("galaxy"),
               Filter.name.label("filter_name"), Filter.band)
        .join(Field, Image.field_id == Field.id)
        .join(Galaxy, Field.galaxy_id == Galaxy.id)
        .join(Filter, Image.filter_id == Filter.id)
    )  # fmt: skip


def _record(row, status: str = "stored") -> ImageRecord:  # noqa: ANN001 - a Row
    image: Image = row.Image
    return ImageRecord(
        id=image.id, field=row.field, galaxy=row.galaxy, filter_name=row.filter_name,
        instrument=image.instrument or "", band=row.band, path=Path(image.path),
        sha256=image.sha256, hdu=image.hdu, naxis1=image.naxis1, naxis2=image.naxis2,
        exposure_time_s=image.exposure_time_s, pixel_scale_arcsec=image.pixel_scale_arcsec,
        bunit=image.bunit, photflam=image.photflam, photplam=image.photplam,
        zeropoint_ab=image.zeropoint_ab, zeropoint_vega=image.zeropoint_vega,
        date_obs=image.date_obs, file_size_bytes=image.file_size_bytes,
        registered_at=image.registered_at, wcs_header=dict(image.wcs_header or {}),
        status=status,
    )  # fmt: skip


def _records(conn: Connection, query, status: str = "stored") -> list[ImageRecord]:  # noqa: ANN001
    with Session(bind=conn) as session:
        return [_record(row, status) for row in session.execute(query)]


# --- names ----------------------------------------------------------------------------------


def field_key(field: str) -> str:
    """Field name as stored: ``'NGC 628C'``/``'ngc_628c'`` → ``'ngc628c'``."""
    with contextlib.suppress(UnknownGalaxyError):
        return canonical_galaxy(field)[1]
    return re.sub(r"\s+", "", field.strip().lower())


def _galaxy_id(conn: Connection, galaxy: str, field: str) -> int:
    """The galaxy behind any spelling: a stored alias first, else the canonical name."""
    known = conn.execute(
        select(GalaxyAlias.galaxy_id).where(GalaxyAlias.alias == normalise_alias(galaxy))
    ).scalar()
    if known is not None:
        return known
    try:
        name = canonical_galaxy(galaxy)[0]
    except UnknownGalaxyError as exc:
        raise ImageRegistryError(f"galaxy {galaxy!r}: {exc}") from exc
    return ensure_galaxy(conn, name, [field])


def _date_obs(info: HSTHeader) -> dt.date | None:
    value = info.header.get("DATE-OBS")
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


# --- registering ----------------------------------------------------------------------------


def _check_one_grid(infos: list[HSTHeader]) -> None:
    first = infos[0]
    for other in infos[1:]:
        offset = pixel_grid_offset(other.wcs, other.shape, first.wcs, first.shape)
        if offset > GRID_TOLERANCE_PX:
            raise ImageRegistryError(
                f"{other.path} and {first.path}: one field must share one pixel grid, but "
                + _grid_difference(other.shape, first.shape, offset)
            )


def _grid_difference(shape_a: tuple[int, int], shape_b: tuple[int, int], offset: float) -> str:
    if tuple(shape_a) != tuple(shape_b):
        return f"their shapes differ ({shape_a[1]}x{shape_a[0]} vs {shape_b[1]}x{shape_b[0]} pix)"
    return (
        f"their WCS (CRVAL/CRPIX/CD) put the same sky position {offset:.4g} pix apart "
        f"(limit {GRID_TOLERANCE_PX} pix)"
    )


def _filter_row(conn: Connection, info: HSTHeader) -> tuple[int, str]:
    row = conn.execute(
        select(Filter.id, Filter.band).where(
            Filter.name == info.filter_name, Filter.instrument == info.instrument
        )
    ).first()
    if row is None:
        known = conn.execute(select(Filter.name, Filter.instrument)).all()
        raise ImageRegistryError(
            f"{info.path} [HDU 0] keyword FILTER: filter {info.filter_name} on "
            f"{info.instrument} is not in the filter table (known: "
            + ", ".join(f"{n} {i}" for n, i in sorted(known))
            + ")"
        )
    return int(row.id), str(row.band)


def register_images(
    engine: Engine,
    paths: Iterable[Path | str],
    *,
    field: str,
    galaxy: str,
    progress: bool = False,
) -> list[ImageRecord]:
    """Register drizzled HST images of one field; all files or none.

    Every file is read and checked first (headers, a finite pixel, one filter per file,
    one pixel grid for the field, the filter known); only then are the rows written in one
    transaction: the galaxy (any alias) and field are created if absent, one ``image`` row
    per new file, and the ``field_filter`` row of each filter gets the image's zeropoints
    and exposure time. A file whose sha256 is already registered (for this field) is
    reported with status 'already registered' and changes nothing. Returns one record per
    distinct file, in the order given.
    """
    files = list(dict.fromkeys(Path(p).resolve() for p in paths))
    if not files:
        raise ImageRegistryError("no image files given")
    fkey = field_key(field)
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("reading images", total=len(files))
        infos = []
        for path in files:
            infos.append(read_hst_header(path))
            bar.advance(task)
    by_sha: dict[str, HSTHeader] = {}
    for info in infos:
        by_sha.setdefault(info.sha256, info)
    _check_one_grid(infos)

    with write_transaction(engine) as conn:
        field_row = conn.execute(
            select(Field.id, Field.galaxy_id, Field.pixel_scale_arcsec).where(Field.name == fkey)
        ).first()
        galaxy_id = _galaxy_id(conn, galaxy, fkey)
        if field_row is not None and field_row.galaxy_id != galaxy_id:
            other = conn.execute(select(Galaxy.name).where(Galaxy.id == field_row.galaxy_id))
            raise ImageRegistryError(
                f"field {fkey!r} belongs to galaxy {other.scalar()!r}, not {galaxy!r}"
            )
        existing = {
            r.sha256: r
            for r in _records(conn, _record_query().where(Image.sha256.in_(list(by_sha))))
        }
        for sha, record in existing.items():
            if record.field != fkey:
                raise ImageRegistryError(
                    f"{by_sha[sha].path} is already registered for field {record.field!r} "
                    f"(as {record.path}), not {fkey!r}"
                )
        new = [i for i in by_sha.values() if i.sha256 not in existing]
        if not new:
            return [_with_status(existing[i.sha256], "already registered")
                    for i in infos if i is by_sha[i.sha256]]  # fmt: skip
        filters = {i.sha256: _filter_row(conn, i) for i in new}
        field_id = ensure_field(conn, fkey, galaxy_id, new[0].pixel_scale_arcsec)
        if field_row is not None and field_row.pixel_scale_arcsec is None:
            conn.execute(
                update(Field)
                .where(Field.id == field_id)
                .values(pixel_scale_arcsec=new[0].pixel_scale_arcsec)
            )
        stored = _records(conn, _record_query().where(Image.field_id == field_id))
        _check_against_stored(new, stored, filters)
        conn.execute(insert(Image), [_image_row(i, field_id, filters[i.sha256][0]) for i in new])
        _update_field_filters(conn, field_id, new, filters)
        rows = _records(conn, _record_query().where(Image.sha256.in_(list(by_sha))))
    fresh = {r.sha256: r for r in rows}
    return [
        _with_status(
            fresh[i.sha256], "already registered" if i.sha256 in existing else "registered"
        )
        for i in infos
        if i is by_sha[i.sha256]
    ]


def _with_status(record: ImageRecord, status: str) -> ImageRecord:
    return ImageRecord(**{**record.__dict__, "status": status})


def _check_against_stored(
    new: list[HSTHeader], stored: list[ImageRecord], filters: dict[str, tuple[int, str]]
) -> None:
    """New files must share the field's grid and bring a filter the field has no image in."""
    seen: dict[int, Path] = {}
    for info in new:
        filter_id = filters[info.sha256][0]
        if filter_id in seen:
            raise ImageRegistryError(
                f"{info.path} and {seen[filter_id]} are both {info.filter_name} "
                f"{info.instrument} images of this field; one image per field and filter"
            )
        seen[filter_id] = info.path
    if not stored:
        return
    reference = stored[0]
    for info in new:
        offset = pixel_grid_offset(info.wcs, info.shape, reference.wcs, reference.shape)
        if offset > GRID_TOLERANCE_PX:
            raise ImageRegistryError(
                f"{info.path} and {reference.path} (registered for field {reference.field!r}): "
                "one field must share one pixel grid, but "
                + _grid_difference(info.shape, reference.shape, offset)
            )
        clash = [
            r for r in stored
            if r.filter_name == info.filter_name and r.instrument == info.instrument
        ]  # fmt: skip
        if clash:
            raise ImageRegistryError(
                f"{info.path}: field {clash[0].field!r} already has a {info.filter_name} "
                f"{info.instrument} image ({clash[0].path}, sha256 {clash[0].sha256[:12]}...); "
                "one image per field and filter"
            )


def _image_row(info: HSTHeader, field_id: int, filter_id: int) -> dict:
    return {
        "field_id": field_id,
        "filter_id": filter_id,
        "path": str(info.path),
        "sha256": info.sha256,
        "hdu": info.hdu,
        "wcs_header": wcs_cards(info.wcs),
        "naxis1": info.shape[1],
        "naxis2": info.shape[0],
        "instrument": info.instrument,
        "detector": info.detector or None,
        "exposure_time_s": None if info.exptime_s != info.exptime_s else info.exptime_s,
        "pixel_scale_arcsec": info.pixel_scale_arcsec,
        "bunit": info.bunit,
        "photflam": info.photflam,
        "photplam": info.photplam,
        "zeropoint_ab": info.zeropoint_ab,
        "zeropoint_vega": info.zeropoint_vega,
        "date_obs": _date_obs(info),
        "file_size_bytes": os.path.getsize(info.path),
    }


def _update_field_filters(
    conn: Connection, field_id: int, new: list[HSTHeader], filters: dict[str, tuple[int, str]]
) -> None:
    have = set(
        conn.execute(
            select(FieldFilter.filter_id).where(FieldFilter.field_id == field_id)
        ).scalars()
    )
    for info in new:
        filter_id = filters[info.sha256][0]
        values = {
            "zeropoint_ab": info.zeropoint_ab,
            "zeropoint_vega": info.zeropoint_vega,
            "exposure_time_s": None if info.exptime_s != info.exptime_s else info.exptime_s,
        }
        if filter_id in have:
            conn.execute(
                update(FieldFilter)
                .where(FieldFilter.field_id == field_id, FieldFilter.filter_id == filter_id)
                .values(**values)
            )
        else:
            conn.execute(
                insert(FieldFilter).values(field_id=field_id, filter_id=filter_id, **values)
            )


# --- looking up -----------------------------------------------------------------------------


def list_images(conn_or_engine: Connection | Engine, field: str | None = None) -> list[ImageRecord]:
    """Every registered image (of one field), ordered by field, band and id."""
    query = _record_query()
    if field is not None:
        query = query.where(Field.name == field_key(field))
    with _connection(conn_or_engine) as conn:
        records = _records(conn, query.order_by(Field.name, Image.id))
    order = {b: k for k, b in enumerate(ALL_BANDS)}
    return sorted(records, key=lambda r: (r.field, order.get(r.band, 99), r.id))


def images_frame(records: Sequence[ImageRecord]) -> pd.DataFrame:
    """A table of records for printing/CSV (units in the column names)."""
    columns = ["id", "field", "galaxy", "band", "filter_name", "instrument", "naxis1", "naxis2",
               "pixel_scale_arcsec", "exposure_time_s", "bunit", "photflam", "photplam",
               "zeropoint_ab", "zeropoint_vega", "date_obs", "file_size_bytes", "sha256",
               "path", "registered_at"]  # fmt: skip
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in records], columns=columns)


def field_images(
    conn_or_engine: Connection | Engine, field: str, bands: Sequence[str] = ALL_BANDS
) -> dict[str, ImageRecord]:
    """Band label → registered image of ``field``; :class:`MissingBandsError` if any is absent.

    Where a field has two images in one band (e.g. ACS F435W and WFC3 F438W as B), the one
    registered last wins.
    """
    records = list_images(conn_or_engine, field)
    by_band: dict[str, ImageRecord] = {}
    for record in records:
        if record.band not in by_band or record.id > by_band[record.band].id:
            by_band[record.band] = record
    missing = [b for b in bands if b not in by_band]
    if missing:
        present = [b for b in ALL_BANDS if b in by_band]
        raise MissingBandsError(field_key(field), present, missing)
    return {b: by_band[b] for b in bands}


def open_image(record: ImageRecord) -> HSTImage:
    """The pixels (e-/s) of a registered image; refused if the file's sha256 changed."""
    return read_hst_image(record.path, expected_sha256=record.sha256)
