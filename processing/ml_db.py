"""The cutout CNNs through the database: training sets, the model registry, predictions.

The thin layer over :mod:`.cutouts`, :mod:`.networks` and :mod:`.cnn_train` (DESIGN.md §4
"Machine learning"; Whitmore et al. 2021 §3 and §10; Thilker et al. 2022 §5; Viana et al.):

* **Training set** (:func:`classifier_training_set`, :func:`age_training_set`): a query
  (release, classification method and classes, or the release's SED ages), kept as SQL text
  with its parameters, and the SHA-256 of the rows as used (release, field, source id, label).
* **Cutouts** (:func:`release_cutouts`): per field, the five registered images
  (:func:`~clustercat.processing.images_db.field_images`), stamps from the HDF5 cache keyed
  by the images' SHA-256 (:class:`~clustercat.processing.cutouts.CutoutCache`).
* **Registry** (:func:`train_classifier_models`, :func:`train_age_model`): each trained
  network is a weights file (``torch.save``, weights only) in the model directory and an
  ``ml_model`` row with task, architecture, hyper-parameters, the training query and hash,
  metrics, code version and the file's SHA-256. An ensemble is one more row whose weights file
  is a JSON manifest of its members (their row ids, files and SHA-256s). :func:`load_model`
  refuses a file whose SHA-256 differs from its row (:class:`WeightsHashError`).
* **Predictions** (:func:`predict_release`): in ONE transaction, a ``processing_run``
  (module ``ml``), one ``ml_prediction`` row per source and model (each member's class
  probabilities, the ensemble's mode class, mean probabilities and vote fraction; or the
  predicted log age), and for classifiers a ``classification_method`` of kind ``ml`` linked
  to the model with one ``classification`` row per source (class = mode, score = vote
  fraction, n_votes = members, p_class* = mean probabilities), so agreement, colour boxes and
  the dashboard read CNN classes like any other method. Bulk-loaded through staging tables
  (:mod:`clustercat.ingest.bulk`).

Bad input (a release without images, fewer than two classes, an unknown architecture,
cutouts whose band count differs from the model's) raises :class:`MlConfigError` before
anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from clustercat.ingest import bulk
from clustercat.ingest.releases import code_version
from clustercat.schema import (
    ClassificationMethod,
    MlModel,
    ProcessingRun,
    write_transaction,
)
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from . import catalogue_io as cio
from . import cnn_train
from .cutouts import BANDS, CutoutCache, CutoutStack, default_cache_dir, normalise
from .images_db import MissingBandsError, field_images, open_image
from .networks import ARCHITECTURES, UnknownArchitectureError

__all__ = [
    "EnsembleResult",
    "LoadedModel",
    "MlConfigError",
    "PredictionSummary",
    "TrainingSet",
    "WeightsHashError",
    "age_training_set",
    "classifier_training_set",
    "default_model_dir",
    "list_models",
    "load_model",
    "predict_release",
    "release_cutouts",
    "release_sources",
    "train_age_model",
    "train_classifier_models",
]

Progress = Callable[[str, int, int], None]
#: Stamps with less than this fraction of their pixels on the images (the source's centre at
#: or beyond an edge) are neither trained on nor predicted; the rest are padded and flagged.
MIN_COVERAGE = 0.5


class MlConfigError(ValueError):
    """A training or prediction that cannot be done as asked; nothing was written."""


class WeightsHashError(ValueError):
    """A weights file whose SHA-256 is not the one its ``ml_model`` row records."""


def default_model_dir() -> Path:
    """``$CLUSTERCAT_MODEL_DIR``, else ``~/.cache/clustercat/models``."""
    env = os.environ.get("CLUSTERCAT_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "clustercat" / "models"


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(text_: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text_.lower()).strip("-")


def _architecture_key(architecture: str) -> str:
    key = architecture.strip().lower().replace("-", "").replace("_", "")
    if key not in ARCHITECTURES:
        raise MlConfigError(
            f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}"
        )
    return key


# --- training sets -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Labelled sources of a release: ``frame`` has source_pk, field_id, field, id_in_release,
    ra, dec and ``label`` (class, or log age); ``query`` the SQL with its parameters and
    ``sha256`` the hash of the rows as used."""

    release: cio.ReleaseRef
    query: str
    frame: pd.DataFrame
    description: str
    method: cio.MethodRef | None = None
    classes: tuple[int, ...] = ()

    @property
    def sha256(self) -> str:
        return rows_sha256(self.release, self.frame)


def rows_sha256(release: cio.ReleaseRef, frame: pd.DataFrame) -> str:
    """SHA-256 over ``release|field|id_in_release|label`` lines, sorted: the same rows give
    the same hash in any database."""
    lines = sorted(
        f"{release.name}|{f}|{int(i)}|{lab:.6g}"
        for f, i, lab in zip(frame["field"], frame["id_in_release"], frame["label"], strict=True)
    )
    return _sha256_bytes("\n".join(lines).encode())


_SOURCE_COLUMNS = "s.id AS source_pk, s.field_id, f.name AS field, s.id_in_release, s.ra, s.dec"


def classifier_training_set(
    bind: Engine | Connection,
    release: str,
    method: str,
    classes: Sequence[int] = (1, 2, 3, 4),
    fields: Sequence[str] | None = None,
) -> TrainingSet:
    """Sources of ``release`` (of ``fields`` only, if given) that ``method`` put in
    ``classes`` (at least two classes)."""
    wanted = tuple(sorted({int(c) for c in classes}))
    if not set(wanted) <= set(cnn_train.CLASSES):
        raise MlConfigError(f"classes must be among 1-4, got {list(classes)}")
    with cio.connect(bind) as conn:
        try:
            rel = cio.resolve_release(conn, release)
            meth = cio.resolve_method(conn, method)
            field_names = [cio.resolve_field(conn, f).name for f in fields or ()]
        except cio.CatalogueLookupError as exc:
            raise MlConfigError(str(exc)) from exc
        where_field = ""
        if field_names:
            where_field = " AND f.name IN (" + ", ".join(f"'{f}'" for f in field_names) + ")"
        sql = (
            f"SELECT {_SOURCE_COLUMNS}, c.cluster_class AS label FROM classification c "
            "JOIN source s ON s.id = c.source_id JOIN field f ON f.id = s.field_id "
            "WHERE s.release_id = :release_id AND c.method_id = :method_id "
            f"AND c.cluster_class IN ({', '.join(str(c) for c in wanted)}){where_field} "
            "ORDER BY s.id"
        )
        frame = pd.DataFrame(
            conn.execute(text(sql), {"release_id": rel.id, "method_id": meth.id}).mappings().all()
        )
    if frame.empty:
        raise MlConfigError(f"method {meth.name!r} classified no source of {rel.label} in "
                            f"classes {list(wanted)}")  # fmt: skip
    present = sorted(frame["label"].astype(int).unique())
    if len(present) < 2:
        raise MlConfigError(
            f"the training query (release {rel.label}, method {meth.name!r}, classes "
            f"{list(wanted)}) has only class(es) {present}: a classifier needs at least two"
        )
    query = f"{sql} -- release_id={rel.id} ({rel.label}), method_id={meth.id} ({meth.name})"
    desc = f"{rel.label}, method {meth.name}@{meth.version}, classes {list(wanted)}"
    if field_names:
        desc += f", fields {', '.join(field_names)}"
    return TrainingSet(rel, query, frame, desc, meth, wanted)


def age_training_set(
    bind: Engine | Connection, release: str, sed_method: str | None = None
) -> TrainingSet:
    """Sources of ``release`` with an SED log age (``sed_method`` by name, else the
    release's default SED method)."""
    with cio.connect(bind) as conn:
        try:
            rel = cio.resolve_release(conn, release)
        except cio.CatalogueLookupError as exc:
            raise MlConfigError(str(exc)) from exc
        if sed_method is None:
            method_id = conn.execute(
                text("SELECT default_sed_method_id FROM catalogue_release WHERE id = :r"),
                {"r": rel.id},
            ).scalar()
        else:
            method_id = conn.execute(
                text("SELECT id FROM sed_method WHERE name = :n"), {"n": sed_method}
            ).scalar()
        if method_id is None:
            raise MlConfigError(
                f"release {rel.label} has no default SED method" if sed_method is None
                else f"no SED method {sed_method!r}"
            )  # fmt: skip
        sql = (
            f"SELECT {_SOURCE_COLUMNS}, sf.log_age AS label FROM sed_fit sf "
            "JOIN source s ON s.id = sf.source_id JOIN field f ON f.id = s.field_id "
            "WHERE s.release_id = :release_id AND sf.method_id = :sed_method_id "
            "AND sf.log_age IS NOT NULL ORDER BY s.id"
        )
        frame = pd.DataFrame(
            conn.execute(text(sql), {"release_id": rel.id, "sed_method_id": method_id})
            .mappings().all()
        )  # fmt: skip
    if len(frame) < 4:
        raise MlConfigError(f"release {rel.label} has {len(frame)} SED ages; need at least 4")
    query = f"{sql} -- release_id={rel.id} ({rel.label}), sed_method_id={method_id}"
    return TrainingSet(rel, query, frame, f"{rel.label}, SED method id {method_id}")


def release_sources(bind: Engine | Connection, release: str) -> tuple[cio.ReleaseRef, pd.DataFrame]:
    """Every source of a release (source_pk, field_id, field, id_in_release, ra, dec)."""
    with cio.connect(bind) as conn:
        try:
            rel = cio.resolve_release(conn, release)
        except cio.CatalogueLookupError as exc:
            raise MlConfigError(str(exc)) from exc
        frame = pd.DataFrame(
            conn.execute(
                text(f"SELECT {_SOURCE_COLUMNS} FROM source s JOIN field f ON f.id = s.field_id "
                     "WHERE s.release_id = :r ORDER BY s.id"),  # fmt: skip
                {"r": rel.id},
            ).mappings().all()
        )  # fmt: skip
    if frame.empty:
        raise MlConfigError(f"release {rel.label} has no sources")
    return rel, frame


# --- cutouts -----------------------------------------------------------------------------------


def release_cutouts(
    bind: Engine | Connection,
    sources: pd.DataFrame,
    size_px: int,
    *,
    cache_dir: Path | str | None = None,
    bands: Sequence[str] = BANDS,
) -> CutoutStack:
    """Raw stamps of ``sources`` (rows in order; columns field, source_pk, ra, dec) from each
    field's registered images through the cache. :class:`MlConfigError` names the fields
    without images in some band."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    with cio.connect(bind) as conn:
        records, missing = {}, []
        for fld in sorted(sources["field"].unique()):
            try:
                records[fld] = field_images(conn, fld, bands)
            except MissingBandsError as exc:
                missing.append(str(exc))
    if missing:
        raise MlConfigError("no cutouts without images: " + "; ".join(missing))
    n, nb = len(sources), len(bands)
    pixels = np.zeros((n, nb, size_px, size_px), dtype=np.float32)
    coverage = np.zeros(n, dtype=np.float32)
    for fld, recs in records.items():
        rows = np.flatnonzero(sources["field"].to_numpy() == fld)
        sub = sources.iloc[rows]
        ref = recs["V"] if "V" in recs else next(iter(recs.values()))
        x, y = ref.wcs.world_to_pixel_values(sub["ra"].to_numpy(float), sub["dec"].to_numpy(float))
        cache = CutoutCache(directory, {b: r.sha256 for b, r in recs.items()}, size_px)
        stack = cache.get(
            sub["source_pk"].to_numpy(np.int64), x=x, y=y,
            loader=lambda recs=recs: [open_image(recs[b]).data for b in bands],
        )  # fmt: skip
        pixels[rows] = stack.pixels
        coverage[rows] = stack.coverage
    ids = sources["source_pk"].to_numpy(np.int64)
    return CutoutStack(ids, pixels, coverage < 1.0, coverage, tuple(bands))


# --- the registry ------------------------------------------------------------------------------


@dataclass
class EnsembleResult:
    """What :func:`train_classifier_models` / :func:`train_age_model` registered."""

    model_id: int
    name: str
    version: str
    member_ids: list[int]
    metrics: dict
    training_sha256: str
    n_train: int
    n_dropped: int
    weights_paths: list[Path] = field(default_factory=list)


def _write_file(directory: Path, name: str, data: bytes) -> tuple[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path, _sha256_bytes(data)


def _next_version(conn: Connection, name: str) -> str:
    n = conn.execute(select(func.count()).where(MlModel.name == name)).scalar_one()
    return str(int(n) + 1)


def _prepare(
    bind: Engine | Connection, tset: TrainingSet, size_px: int, cache_dir: Path | str | None,
    normalisation: str,
) -> tuple[np.ndarray, np.ndarray, CutoutStack, int]:  # fmt: skip
    stack = release_cutouts(bind, tset.frame, size_px, cache_dir=cache_dir)
    inside = stack.coverage >= MIN_COVERAGE
    if inside.sum() < 2:
        raise MlConfigError(f"fewer than two training sources fall on the images of "
                            f"{tset.release.label}")  # fmt: skip
    x = normalise(stack.pixels[inside], normalisation)
    y = tset.frame["label"].to_numpy(float)[inside]
    return x, y, stack, int((~inside).sum())


def train_classifier_models(
    engine: Engine,
    release: str,
    method: str,
    architecture: str,
    *,
    classes: Sequence[int] = (1, 2, 3, 4),
    fields: Sequence[str] | None = None,
    n_members: int = 1,
    size_px: int = 299,
    settings: cnn_train.TrainSettings | None = None,
    name: str | None = None,
    cache_dir: Path | str | None = None,
    model_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> EnsembleResult:
    """Train an ensemble of ``n_members`` classifiers on the training query and register it
    (module docstring). Returns the ensemble row's id and the members'."""
    settings = settings or cnn_train.TrainSettings()
    arch = _architecture_key(architecture)
    if arch == "viana":
        raise MlConfigError("the Viana network regresses ages; classifiers are resnet18|vgg19bn")
    tset = classifier_training_set(engine, release, method, classes, fields)
    x, y, _, n_dropped = _prepare(engine, tset, size_px, cache_dir, settings.normalisation)
    if np.unique(y).size < 2:
        raise MlConfigError("fewer than two classes fall on the images")
    try:
        members = cnn_train.train_ensemble(x, y, arch, n_members, settings, progress=progress)
    except (cnn_train.TrainingDataError, UnknownArchitectureError) as exc:
        raise MlConfigError(str(exc)) from exc
    probs = [cnn_train.predict_proba(m, x) for m in members]
    mode, fraction, _ = cnn_train.ensemble_vote(probs)
    metrics = {
        "training_set": cnn_train.classification_metrics(y, mode),
        "members": [],
        "mean_vote_fraction": float(np.mean(fraction)),
    }
    for m, p in zip(members, probs, strict=True):
        _, val_idx = cnn_train.split_indices((y - 1).astype(int), m.settings.val_fraction,
                                             m.settings.seed)  # fmt: skip
        entry = {"seed": m.settings.seed, "best_epoch": m.best_epoch,
                 "epochs_run": len(m.history), "history": m.history}  # fmt: skip
        if val_idx.size:
            entry["validation"] = cnn_train.classification_metrics(
                y[val_idx], p[val_idx].argmax(axis=1) + 1
            )
        metrics["members"].append(entry)
    base = name or (f"{ARCHITECTURES[arch]} x{n_members} {tset.release.name} "
                    f"{tset.method.name if tset.method else ''} {size_px}px").strip()  # fmt: skip
    extra = {"classes": list(tset.classes), "fields": list(fields or []), "n_members": n_members}
    return _register(engine, base, "classification", arch, members, tset, metrics, size_px,
                     n_dropped, model_dir, extra)  # fmt: skip


def train_age_model(
    engine: Engine,
    release: str,
    *,
    sed_method: str | None = None,
    size_px: int = 112,
    settings: cnn_train.TrainSettings | None = None,
    name: str | None = None,
    cache_dir: Path | str | None = None,
    model_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> EnsembleResult:
    """Train the Viana et al. age CNN on the release's SED log ages and register it."""
    settings = settings or cnn_train.TrainSettings(normalisation="minmax", flips=False)
    tset = age_training_set(engine, release, sed_method)
    x, y, _, n_dropped = _prepare(engine, tset, size_px, cache_dir, settings.normalisation)
    try:
        trained = cnn_train.train_age_regressor(x, y, settings, progress=progress)
    except (cnn_train.TrainingDataError, ValueError) as exc:
        raise MlConfigError(str(exc)) from exc
    _, val_idx = cnn_train.split_indices(np.zeros(y.size), settings.val_fraction, settings.seed,
                                         stratify=False)  # fmt: skip
    pred = cnn_train.predict_log_age(trained, x)
    metrics = {
        "training_set": cnn_train.age_metrics(pred, y, trained.train_mean or 0.0),
        "validation": (cnn_train.age_metrics(pred[val_idx], y[val_idx], trained.train_mean or 0.0)
                       if val_idx.size else None),
        "best_epoch": trained.best_epoch, "history": trained.history,
    }  # fmt: skip
    base = name or f"Viana age CNN {tset.release.name} {size_px}px"
    return _register(engine, base, "age_regression", "viana", [trained], tset, metrics, size_px,
                     n_dropped, model_dir, {})  # fmt: skip


def _register(
    engine: Engine,
    base: str,
    task: str,
    arch: str,
    members: list[cnn_train.TrainedNetwork],
    tset: TrainingSet,
    metrics: dict,
    size_px: int,
    n_dropped: int,
    model_dir: Path | str | None,
    extra: dict,
) -> EnsembleResult:
    directory = Path(model_dir) if model_dir is not None else default_model_dir()
    training_sha = tset.sha256
    settings = members[0].settings
    hyper = {**settings.as_dict(), "cutout_px": size_px, "bands": list(BANDS), **extra}
    with write_transaction(engine) as conn:
        version = _next_version(conn, base)
        stem = f"{_slug(base)}-v{version}-{training_sha[:8]}"
        common = {
            "task": task, "architecture": ARCHITECTURES[arch], "training_query": tset.query,
            "training_query_sha256": training_sha, "code_version": code_version(),
        }  # fmt: skip
        member_ids, files, paths = [], [], []
        for k, m in enumerate(members):
            path, sha = _write_file(directory, f"{stem}-m{k}.pt", cnn_train.network_bytes(m))
            member_metrics = metrics["members"][k] if "members" in metrics else metrics
            mid = conn.execute(
                insert(MlModel).values(
                    name=f"{base} member {k}" if len(members) > 1 else base, version=version,
                    hyperparameters={**hyper, "seed": m.settings.seed}, metrics=member_metrics,
                    weights_path=str(path), weights_sha256=sha, **common,
                ).returning(MlModel.id)
            ).scalar_one()  # fmt: skip
            member_ids.append(int(mid))
            files.append({"model_id": int(mid), "file": path.name, "sha256": sha})
            paths.append(path)
        if len(members) == 1:
            conn.execute(update(MlModel).where(MlModel.id == member_ids[0])
                         .values(metrics=metrics))  # fmt: skip
            model_id = member_ids[0]
        else:
            manifest = json.dumps({"kind": "ensemble", "vote": "mode", "members": files},
                                  indent=1, sort_keys=True).encode()  # fmt: skip
            path, sha = _write_file(directory, f"{stem}-ensemble.json", manifest)
            paths.append(path)
            summary = {k: v for k, v in metrics.items() if k != "members"}
            model_id = int(conn.execute(
                insert(MlModel).values(
                    name=base, version=version,
                    hyperparameters={**hyper, "member_ids": member_ids, "vote": "mode"},
                    metrics=summary, weights_path=str(path), weights_sha256=sha,
                    **{**common, "architecture": f"ensemble of {len(members)} "
                                                 f"{ARCHITECTURES[arch]}"},
                ).returning(MlModel.id)
            ).scalar_one())  # fmt: skip
    return EnsembleResult(model_id, base, version, member_ids, metrics, training_sha,
                          int(len(tset.frame) - n_dropped), n_dropped, paths)  # fmt: skip


@dataclass(eq=False)
class LoadedModel:
    """A registered model with its networks (one, or an ensemble's members)."""

    id: int
    name: str
    version: str
    task: str
    architecture: str
    members: list[cnn_train.TrainedNetwork]
    member_ids: list[int]
    hyperparameters: dict
    training_query_sha256: str | None

    @property
    def is_ensemble(self) -> bool:
        return len(self.member_ids) > 1 or self.member_ids != [self.id]

    @property
    def in_channels(self) -> int:
        return self.members[0].in_channels

    @property
    def size_px(self) -> int:
        return self.members[0].size_px


def _read_checked(path: str | None, sha: str | None, model_id: int) -> bytes:
    if not path or not sha:
        raise MlConfigError(f"model {model_id} has no weights file")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MlConfigError(f"model {model_id}: cannot read weights {path}: {exc}") from exc
    actual = _sha256_bytes(data)
    if actual != sha:
        raise WeightsHashError(
            f"model {model_id}: weights file {path} has sha256 {actual}, its registry row "
            f"says {sha}; refusing to load it"
        )
    return data


def load_model(bind: Engine | Connection, model_id: int) -> LoadedModel:
    """A registered model, every weights file checked against its row's SHA-256."""
    with cio.connect(bind) as conn:
        row = conn.execute(select(MlModel).where(MlModel.id == model_id)).first()
        if row is None:
            raise MlConfigError(f"no ml_model with id {model_id}")
        m = row  # a Core row with the table's columns
        data = _read_checked(m.weights_path, m.weights_sha256, model_id)
        hyper = dict(m.hyperparameters or {})
        if m.weights_path.endswith(".json"):
            manifest = json.loads(data)
            members, ids = [], []
            for entry in manifest["members"]:
                sub = conn.execute(
                    select(MlModel.weights_path, MlModel.weights_sha256)
                    .where(MlModel.id == entry["model_id"])
                ).one()  # fmt: skip
                if sub.weights_sha256 != entry["sha256"]:
                    raise WeightsHashError(f"ensemble {model_id}: member {entry['model_id']} "
                                           "differs from the manifest")  # fmt: skip
                blob = _read_checked(sub.weights_path, sub.weights_sha256, entry["model_id"])
                members.append(cnn_train.network_from_bytes(blob))
                ids.append(int(entry["model_id"]))
        else:
            members, ids = [cnn_train.network_from_bytes(data)], [int(m.id)]
    return LoadedModel(int(m.id), m.name, m.version, m.task, m.architecture or "", members, ids,
                       hyper, m.training_query_sha256)  # fmt: skip


def list_models(bind: Engine | Connection) -> pd.DataFrame:
    """The registry: id, name, version, task, architecture, training hash, created_at."""
    with cio.connect(bind) as conn:
        rows = conn.execute(
            select(MlModel.id, MlModel.name, MlModel.version, MlModel.task,
                   MlModel.architecture, MlModel.training_query_sha256, MlModel.weights_sha256,
                   MlModel.created_at).order_by(MlModel.id)
        ).all()  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "name",
            "version",
            "task",
            "architecture",
            "training_sha256",
            "weights_sha256",
            "created_at",
        ],
    )


# --- predictions -------------------------------------------------------------------------------

_PRED_VALUES = ("predicted_class", "p_class1", "p_class2", "p_class3", "p_class4",
                "predicted_value", "predicted_err")  # fmt: skip
PREDICTION_STAGE = bulk.StageSpec(
    name="stage_ml_prediction",
    target="ml_prediction",
    columns=(("model_id", "int"), ("predicted_class", "int"), ("p_class1", "float"),
             ("p_class2", "float"), ("p_class3", "float"), ("p_class4", "float"),
             ("predicted_value", "float"), ("predicted_err", "float")),
    insert_columns=("model_id", "source_id", *_PRED_VALUES),
    select=("st.model_id", "s.id", *(f"st.{c}" for c in _PRED_VALUES)),
)  # fmt: skip
_CLASS_VALUES = ("cluster_class", "score", "n_votes", "p_class1", "p_class2", "p_class3",
                 "p_class4")  # fmt: skip
ML_CLASSIFICATION_STAGE = bulk.StageSpec(
    name="stage_ml_classification",
    target="classification",
    columns=(("cluster_class", "int"), ("score", "float"), ("n_votes", "int"),
             ("p_class1", "float"), ("p_class2", "float"), ("p_class3", "float"),
             ("p_class4", "float")),
    insert_columns=("source_id", "method_id", *_CLASS_VALUES),
    select=("s.id", ":method_id", *(f"st.{c}" for c in _CLASS_VALUES)),
)  # fmt: skip


@dataclass
class PredictionSummary:
    """What :func:`predict_release` wrote."""

    model_id: int
    release: str
    run_id: int
    n_sources: int
    n_predicted: int
    n_outside: int
    n_edge: int
    n_prediction_rows: int
    method_id: int | None = None
    method_name: str | None = None
    class_counts: dict[int, int] = field(default_factory=dict)


def _n_predicted(conn: Connection, model_id: int, release_id: int) -> int:
    """Predictions of ``model_id`` already stored for the sources of ``release_id``."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM ml_prediction p JOIN source s ON s.id = p.source_id "
                "WHERE p.model_id = :m AND s.release_id = :r"
            ),
            {"m": model_id, "r": release_id},
        ).scalar_one()
    )


def predict_release(
    engine: Engine,
    model_id: int,
    release: str,
    *,
    cache_dir: Path | str | None = None,
    method_name: str | None = None,
    batch_size: int = 256,
    stamps: CutoutStack | None = None,
) -> PredictionSummary:
    """Predict every source of ``release`` with model ``model_id`` and store it (module
    docstring). Sources with less than :data:`MIN_COVERAGE` of their stamp on the images
    are skipped (counted); other stamps at an edge are padded and predicted (counted). A
    model already applied to the release is refused."""
    model = load_model(engine, model_id)
    rel, sources = release_sources(engine, release)
    if stamps is None:
        stamps = release_cutouts(engine, sources, model.size_px, cache_dir=cache_dir)
    if stamps.pixels.shape[1] != model.in_channels:
        raise MlConfigError(
            f"cutouts have {stamps.pixels.shape[1]} bands but model {model_id} takes "
            f"{model.in_channels}"
        )
    if stamps.size_px != model.size_px:
        raise MlConfigError(f"cutouts are {stamps.size_px} px, model {model_id} takes "
                            f"{model.size_px} px")  # fmt: skip
    with cio.connect(engine) as conn:  # refuse before predicting
        done = _n_predicted(conn, model.id, rel.id)
    if done:
        raise MlConfigError(f"model {model.id} already predicted {done} sources of {rel.label}")
    inside = stamps.coverage >= MIN_COVERAGE
    settings = model.members[0].settings
    x = normalise(stamps.pixels[inside], settings.normalisation)
    keys = sources.loc[inside, ["field_id", "id_in_release"]].reset_index(drop=True)
    classify = model.task == "classification"
    try:
        if classify:
            probs = [cnn_train.predict_proba(m, x, batch_size=batch_size) for m in model.members]
        else:
            ages = [cnn_train.predict_log_age(m, x, batch_size=batch_size) for m in model.members]
    except cnn_train.TrainingDataError as exc:
        raise MlConfigError(str(exc)) from exc
    frames = []
    summary = PredictionSummary(model.id, rel.label, 0, len(sources), int(inside.sum()),
                                int((~inside).sum()), int((stamps.edge & inside).sum()),
                                0)  # fmt: skip
    if classify:
        for mid, p in zip(model.member_ids, probs, strict=True):
            frames.append(_prediction_frame(keys, mid, p.argmax(axis=1) + 1, p, None))
        mode, fraction, mean_p = cnn_train.ensemble_vote(probs)
        if model.is_ensemble:
            frames.append(_prediction_frame(keys, model.id, mode, mean_p, fraction))
        summary.class_counts = {int(c): int((mode == c).sum()) for c in cnn_train.CLASSES}
    else:
        for mid, a in zip(model.member_ids, ages, strict=True):
            frames.append(_prediction_frame(keys, mid, None, None, a))
    rows = pd.concat(frames, ignore_index=True)
    config = {"model_id": model.id, "model": f"{model.name} v{model.version}",
              "member_ids": model.member_ids, "task": model.task, "release": rel.name,
              "release_version": rel.version, "n_sources": summary.n_sources,
              "n_predicted": summary.n_predicted, "n_outside_images": summary.n_outside,
              "n_edge_padded": summary.n_edge, "cutout_px": model.size_px,
              "normalisation": settings.normalisation}  # fmt: skip
    with write_transaction(engine) as conn:
        done = _n_predicted(conn, model.id, rel.id)  # again: another process may have won
        if done:
            raise MlConfigError(f"model {model.id} already predicted {done} sources of "
                                f"{rel.label}")  # fmt: skip
        run_id = conn.execute(
            insert(ProcessingRun).values(module="ml", release_id=rel.id, status="running",
                                         config=config, code_version=code_version(),
                                         started_at=dt.datetime.now(dt.UTC))  # see sed_db
            .returning(ProcessingRun.id)
        ).scalar_one()  # fmt: skip
        staged, _ = bulk.load_through_stage(
            conn, PREDICTION_STAGE, bulk.frame_rows(rows, [n for n, _ in
                                                           PREDICTION_STAGE.stage_columns]),
            {"source_release_id": rel.id},
        )  # fmt: skip
        summary.n_prediction_rows = staged
        if classify:
            method_id, label = _ensure_ml_method(conn, model, method_name, rel, run_id)
            cls = pd.DataFrame({
                "field_id": keys["field_id"], "id_in_release": keys["id_in_release"],
                "cluster_class": mode, "score": fraction,
                "n_votes": np.full(mode.size, len(model.members)),
                **{f"p_class{k + 1}": mean_p[:, k] for k in range(4)},
            })  # fmt: skip
            bulk.load_through_stage(
                conn,
                ML_CLASSIFICATION_STAGE,
                bulk.frame_rows(cls, [n for n, _ in ML_CLASSIFICATION_STAGE.stage_columns]),
                {"source_release_id": rel.id, "method_id": method_id},
            )
            config.update({"method_id": method_id, "method": label})
            summary.method_id, summary.method_name = method_id, label
        conn.execute(update(ProcessingRun).where(ProcessingRun.id == run_id).values(
            status="complete", config=config, finished_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        summary.run_id = int(run_id)
    return summary


def _prediction_frame(
    keys: pd.DataFrame, model_id: int, cls: np.ndarray | None, probs: np.ndarray | None,
    value: np.ndarray | None,
) -> pd.DataFrame:  # fmt: skip
    n = len(keys)
    frame = keys.copy()
    frame["model_id"] = model_id
    frame["predicted_class"] = pd.array(cls if cls is not None else [None] * n, dtype="Int64")
    for k in range(4):
        frame[f"p_class{k + 1}"] = (np.clip(probs[:, k], 0.0, 1.0) if probs is not None
                                    else np.nan)  # fmt: skip
    frame["predicted_value"] = np.asarray(value, float) if value is not None else np.nan
    frame["predicted_err"] = np.nan
    return frame


def _ensure_ml_method(
    conn: Connection, model: LoadedModel, method_name: str | None, rel: cio.ReleaseRef,
    run_id: int,
) -> tuple[int, str]:  # fmt: skip
    """The ``ml`` classification method of the model (created on first use)."""
    name = method_name or f"CNN {model.name}"
    version = model.version
    row = conn.execute(
        select(ClassificationMethod.id, ClassificationMethod.ml_model_id)
        .where(ClassificationMethod.name == name, ClassificationMethod.version == version)
    ).first()  # fmt: skip
    if row is not None:
        if row.ml_model_id != model.id:
            raise MlConfigError(f"classification method {name!r} v{version} belongs to another "
                                "model; choose another --method-name")  # fmt: skip
        n = conn.execute(
            text(
                "SELECT count(*) FROM classification c JOIN source s ON s.id = c.source_id "
                "WHERE c.method_id = :m AND s.release_id = :r"
            ),  # fmt: skip
            {"m": row.id, "r": rel.id},
        ).scalar_one()
        if n:
            raise MlConfigError(f"method {name!r} already classified {rel.label}")
        return int(row.id), name
    method_id = conn.execute(
        insert(ClassificationMethod).values(
            name=name, version=version, kind="ml",
            description=f"{model.architecture} on five-band cutouts: mode class of "
                        f"{len(model.members)} member(s), score = vote fraction",
            classifier=model.architecture,
            training_set=f"training rows sha256 {model.training_query_sha256}",
            classified_on=dt.date.today(),
            reference="Whitmore et al. 2021 §3; Thilker et al. 2022 §5",
            ml_model_id=model.id, config={"member_ids": model.member_ids, "first_run_id": run_id},
        ).returning(ClassificationMethod.id)
    ).scalar_one()  # fmt: skip
    return int(method_id), name


def store_occlusion(
    bind: Engine,
    model_id: int,
    curve: pd.DataFrame,
    collapse: pd.DataFrame | None = None,
    *,
    inner: bool = True,
) -> None:
    """Keep an occlusion run (Viana et al. §IV) in the model's ``metrics`` JSON.

    ``metrics["occlusion"]`` becomes ``{"inner": ..., "curve": [...], "filter_collapse":
    [...]}`` (records of :func:`clustercat.processing.occlusion.occlusion_curve` and
    :func:`~clustercat.processing.occlusion.filter_collapse`), which the dashboard's ML page
    draws. A later run replaces the earlier one; the weights and the rest stay untouched.
    """
    from clustercat.schema import MlModel, write_transaction
    from sqlalchemy import select, update

    def records(frame: pd.DataFrame | None) -> list[dict]:
        if frame is None:
            return []
        return json.loads(frame.to_json(orient="records"))

    with write_transaction(bind) as conn:
        metrics = conn.execute(select(MlModel.metrics).where(MlModel.id == model_id)).scalar()
        metrics = dict(metrics or {}) if not isinstance(metrics, str) else json.loads(metrics)
        metrics["occlusion"] = {"inner": bool(inner), "curve": records(curve),
                                "filter_collapse": records(collapse)}  # fmt: skip
        conn.execute(update(MlModel).where(MlModel.id == model_id).values(metrics=metrics))


def with_settings(settings: cnn_train.TrainSettings, **changes: object) -> cnn_train.TrainSettings:
    """``settings`` with some fields changed (CLI helper)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
