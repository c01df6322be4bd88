"""The model registry's files: saving a night's model (its file, id maps and metadata, and the
gate's judge copy) with its ``model_versions`` row, and reading registered models back: the
model in charge for a date, the newest model of a kind, a stored model's factors and maps."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp

from flows import sqlfiles
from flows.errors import OffersError
from models import columns as C
from models.candidates import MODEL_CLASSES, MODEL_KINDS, ItemItemScorer, ModelSpec
from models.hybrid import HybridScorer
from models.idmap import IdMap
from models.recommender import Fitted, StoredModel
from models.train import library_versions

MODEL_FILE = "model.npz"

JUDGE_DIR = "judge"


def _write_model(folder: Path, fitted: Fitted) -> None:
    """The model file (model kinds only) and the id maps it was trained under."""
    assert fitted.model is not None and fitted.spec is not None
    folder.mkdir(parents=True, exist_ok=True)
    model, kind = fitted.model, fitted.spec.kind
    if isinstance(model, HybridScorer):  # its state is its explore model; the rest is rebuilt
        model, kind = model.explore, model.explore_kind
    implicit_model = getattr(model, "model", model)  # item-item wrappers
    if kind in MODEL_KINDS:
        implicit_model.save(str(folder / MODEL_FILE))
    pl.DataFrame({C.CUSTOMER: fitted.users.ids}).write_parquet(folder / "users.parquet")
    pl.DataFrame({C.PRODUCT: fitted.items.ids}).write_parquet(folder / "items.parquet")


def save_model(
    con: duckdb.DuckDBPyConnection,
    models_dir: Path,
    *,
    version: str,
    as_of: dt.date,
    created_at: dt.datetime,
    fitted: Fitted,
    metadata: dict[str, Any],
    status: str,
    scores: dict[str, Any] | None = None,
    judge: tuple[dt.date, Fitted] | None = None,
) -> Path:
    """Store a model, its id maps and metadata under ``models/<version>`` and register it.

    ``status`` is ``promoted`` (it is in charge from now on) or ``rejected`` (kept for audit).
    Popularity baselines have no state besides their maps: no model file is written.
    ``judge`` (cut, model): the same configuration as the gate trained it at that cut, kept
    in ``judge/`` so later nights can re-score the model without retraining it.
    """
    assert fitted.model is not None and fitted.spec is not None
    kind = fitted.spec.kind
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".tmp-{version}"
    final = models_dir / version
    shutil.rmtree(staging, ignore_errors=True)
    _write_model(staging, fitted)
    if judge is not None and kind in (*MODEL_KINDS, "hybrid"):
        _write_model(staging / JUDGE_DIR, judge[1])
        metadata = {**metadata, "judge_cut": judge[0].isoformat()}
    full = {
        "version": version,
        "kind": kind,
        "params": fitted.spec.full_params,
        "as_of": as_of.isoformat(),
        "created_at": created_at.isoformat(),
        "libraries": library_versions(),
        **metadata,
    }
    (staging / "metadata.json").write_text(json.dumps(full, indent=2, sort_keys=True, default=str))
    os.rename(staging, final)
    sqlfiles.run(
        con,
        "publish/register_model",
        {
            "version": version,
            "kind": kind,
            "as_of": as_of,
            "created_at": created_at,
            "path": str(final),
            "metadata": json.dumps(full, default=str),
            "status": status,
            "promoted_at": created_at if status == "promoted" else None,
            "scores": json.dumps(scores or {}, default=str),
        },
    )
    return final


@dataclass(frozen=True)
class CurrentModel:
    """A registered model version (the one in charge, or the newest of a kind)."""

    version: str
    kind: str
    path: Path
    scores: dict[str, Any]
    pinned: bool = False
    as_of: dt.date | None = None


LATEST_DAY = dt.date(9999, 12, 31)


def current_model(
    con: duckdb.DuckDBPyConnection, as_of: dt.date | None = None
) -> CurrentModel | None:
    """The model in charge for ``as_of`` (None: in charge now, whatever its date)."""
    return _registered(con, "registry/current_model", {"as_of": as_of or LATEST_DAY})


def latest_trained(
    con: duckdb.DuckDBPyConnection, kind: str, as_of: dt.date
) -> CurrentModel | None:
    """The newest registered model of ``kind`` trained for ``as_of`` or earlier, in charge
    or not (``sql/registry/latest_trained.sql``)."""
    return _registered(con, "registry/latest_trained", {"kind": kind, "as_of": as_of})


def _registered(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]
) -> CurrentModel | None:
    """The version a registry query (one row: version, kind, as_of, path, metadata, scores,
    pinned) finds, None when it finds none."""
    row = sqlfiles.one(con, query, params)
    if row is None:
        return None
    version, kind, model_as_of, path, _metadata, scores, pinned = row
    return CurrentModel(
        version, kind, Path(path), json.loads(scores) if scores else {}, pinned, model_as_of
    )


def load_model(current: CurrentModel, *, judge: bool = False) -> StoredModel:
    """Read a registered model back from ``models/<version>`` (``judge``: its judge copy)."""
    folder = current.path
    metadata = model_metadata(current)
    if metadata is None:
        raise OffersError(
            f"model {current.version} is registered but {folder / 'metadata.json'} is missing; "
            "promote another version (offers models promote VERSION)"
        )
    if judge:
        folder = folder / JUDGE_DIR
    spec = ModelSpec(current.kind, metadata.get("params") or {})
    users = IdMap(pl.read_parquet(folder / "users.parquet").get_column(C.CUSTOMER))
    items = IdMap(pl.read_parquet(folder / "items.parquet").get_column(C.PRODUCT))
    model: Any = None
    kind = spec.trained_kind
    if kind in MODEL_KINDS:  # a hybrid's stored model is its explore model
        loaded = MODEL_CLASSES[kind].load(str(folder / MODEL_FILE))
        if kind.startswith("item_"):
            empty = sp.csr_matrix((0, len(items)), dtype=np.float32)
            model = ItemItemScorer(loaded, empty)
        else:
            model = loaded
    return StoredModel(spec=spec, model=model, users=users, items=items)


def model_metadata(current: CurrentModel) -> dict[str, Any] | None:
    """The stored metadata.json of a registered model, None when its files are gone."""
    path = current.path / "metadata.json"
    return json.loads(path.read_text()) if path.is_file() else None
