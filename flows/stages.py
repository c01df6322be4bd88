"""Stage logic with its I/O: plain functions the Prefect flow wires together (and tests call)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows import db, sqlfiles
from flows.config import Settings
from flows.errors import OffersError, TrainingError
from flows.modelstore import (  # noqa: F401 (re-exported: callers use them as stages.*)
    JUDGE_DIR,
    LATEST_DAY,
    MODEL_FILE,
    CurrentModel,
    current_model,
    latest_trained,
    load_model,
    model_metadata,
    save_model,
)
from flows.progress import stage_progress
from flows.tasks import run_logger
from models import columns as C
from models import repurchase
from models.candidates import ModelSpec
from models.recommender import Fitted, Inputs, StoredModel, can_warm_start, fit, prepare
from models.refresh import refresh
from models.train import training_device, use_device


def configure_process(settings: Settings) -> str:
    """This process's share of the settings: DuckDB's limits and where ALS trains; returns
    that device. A GPU asked for but not usable means the CPU, with a warning: an unattended
    night trains slower rather than not at all."""
    db.configure(memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)
    device = use_device(settings.als.device)
    if device != settings.als.device:
        run_logger().warning(
            "als.device = %r, but implicit sees no CUDA device (is the rmm-cu13 package "
            "installed, and a GPU visible?): training on the %s",
            settings.als.device,
            device,
        )
    return device


def new_run_id(now: dt.datetime) -> str:
    """Sortable, unique run id: UTC start time plus a random suffix."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def as_of_timestamp(as_of: dt.date) -> dt.datetime:
    """The cut: midnight at the start of ``as_of``; history strictly before it is used."""
    return dt.datetime.combine(as_of, dt.time())


@dataclass(frozen=True)
class History:
    """Recommender inputs cut at the as-of date, plus the data window they cover."""

    inputs: Inputs
    window: dict[str, Any]


def read_history(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    settings: Settings,
    *,
    use_stock: bool = True,
) -> History:
    """Query the marts for one as-of date (nothing at or after it is read).

    ``use_stock=False`` ignores the current stock/active snapshot (for evaluating the past).
    """
    cfg = settings.interactions
    params = {
        "as_of": as_of_timestamp(as_of),
        "lookback_days": cfg.lookback_days,
        "half_life_days": cfg.half_life_days,
        "w_view": cfg.weights.view,
        "w_cart": cfg.weights.add_to_cart,
        "w_purchase": cfg.weights.purchase,
    }

    def frame(name: str, **override: Any) -> pl.DataFrame:
        rel = sqlfiles.run(con, name, {**params, **override})
        assert rel is not None
        return rel.pl()

    products = frame("marts/products", use_stock=use_stock)
    bought = frame("marts/purchase_history", half_life_days=settings.repurchase.half_life_days)
    exclusions, again = buy_again_inputs(bought, products, as_of, settings)
    inputs = Inputs(
        interactions=frame("marts/interactions"),
        recent=frame("marts/interactions", lookback_days=cfg.popularity_days),
        exclusions=exclusions,
        customers=frame("marts/served_customers"),
        products=products.select(C.PRODUCT, C.CATEGORY),
        offerable=products.filter(pl.col("offerable")).select(C.PRODUCT, C.CATEGORY),
        buy_again=again,
        bought=bought.select(C.CUSTOMER, C.PRODUCT, "orders"),
    )
    window = frame("marts/data_window").row(0, named=True)
    return History(inputs=inputs, window=window)


def require_history(
    con: duckdb.DuckDBPyConnection, history: History, as_of: dt.date, settings: Settings
) -> None:
    """TrainingError (exit 5) when there is nothing to learn from before ``as_of``, saying
    when the stored data starts and ends and which ``--as-of`` would see it."""
    if history.inputs.interactions.height > 0:
        return
    lookback = settings.interactions.lookback_days
    row = sqlfiles.one(con, "marts/data_span", {"as_of": as_of_timestamp(as_of)})
    first, last_before, last = row if row is not None else (None, None, None)
    what = f"as of {as_of}: no interactions before the as-of date"
    if last is None:
        raise TrainingError(
            f"{what}: the database holds no orders or events; check the source "
            f"({settings.source_label})"
        )
    if last_before is None:
        raise TrainingError(
            f"{what}: the data starts on {first:%Y-%m-%d}, after it; run with --as-of "
            f"{last.date() + dt.timedelta(days=1)} (just after the data ends on {last:%Y-%m-%d})"
        )
    after = last_before.date() + dt.timedelta(days=1)
    if last_before < as_of_timestamp(as_of) - dt.timedelta(days=lookback):
        raise TrainingError(
            f"{what}: the data ends on {last_before:%Y-%m-%d} (newest order or event in the "
            f"database), more than interactions.lookback_days ({lookback}) days before "
            f"{as_of}; run with --as-of {after} (just after the data), or raise "
            "interactions.lookback_days"
        )
    raise TrainingError(
        f"{what}: the {lookback} days before it hold orders or events (newest "
        f"{last_before:%Y-%m-%d}) but none counts as an interaction (only cancelled or "
        "returned orders, or products not in the catalogue?)"
    )


def train_model(inputs: Inputs, spec: ModelSpec, *, seed: int) -> Fitted:
    """``models.recommender.fit`` with a bar over the training iterations (terminal only)."""
    with stage_progress(f"training {spec.label}", spec.full_params.get("iterations")) as step:
        return fit(inputs, spec, seed=seed, progress=step)


@dataclass(frozen=True)
class RefreshBase:
    """The ALS model in charge that tonight's model refreshes instead of retraining."""

    current: CurrentModel
    stored: StoredModel
    full_as_of: dt.date  # as-of of the full retrain it descends from


def refresh_base(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, spec: ModelSpec
) -> RefreshBase | None:
    """The model to refresh tonight (``als.full_retrain_days``), None: train from scratch.

    The newest ALS model trained for ``as_of`` or an earlier night, whether the gate put it in
    charge or not (tonight's model is trained whatever list is published), with its files and
    the same parameters (iterations aside), descending from a full retrain fewer than
    ``full_retrain_days`` days before ``as_of``.
    """
    days = settings.als.full_retrain_days
    if days <= 0 or spec.kind != "als":
        return None
    current = latest_trained(con, "als", as_of)
    if current is None or current.as_of is None:
        return None
    meta = model_metadata(current)
    if meta is None:
        return None
    full_as_of = dt.date.fromisoformat(str(meta.get("full_retrain_as_of") or current.as_of))
    if (as_of - full_as_of).days >= days:
        return None
    try:
        stored = load_model(current)
    except (OffersError, OSError, ValueError):
        return None
    if not can_warm_start(stored.spec, spec):
        return None
    return RefreshBase(current, stored, full_as_of)


def build_model(
    inputs: Inputs, spec: ModelSpec, *, seed: int, as_of: dt.date, base: RefreshBase | None
) -> Fitted:
    """Tonight's model: trained from scratch (``base`` None) or ``base`` refreshed on tonight's
    data (``models.refresh``); ``training`` says which, for the model's metadata."""
    if base is None:
        fitted = train_model(inputs, spec, seed=seed)
        training: dict[str, Any] = {"training": "full", "full_retrain_as_of": as_of}
        if spec.trained_kind == "als":  # ALS itself, or a hybrid's explore model
            training["device"] = training_device()
        return replace(fitted, training=training)
    assert base.current.as_of is not None
    since = as_of_timestamp(base.current.as_of)
    fitted, customers, products = refresh(prepare(inputs), inputs.interactions, base.stored, since)
    return replace(
        fitted,
        spec=spec,
        training={
            "training": "incremental",
            "refreshed_from": base.current.version,
            "full_retrain_as_of": base.full_as_of,
            "refreshed_customers": customers,
            "refreshed_products": products,
        },
    )


def spec_for(settings: Settings, kind: str) -> ModelSpec:
    """A candidate of ``kind`` with the configured parameters (baselines have none)."""
    if kind == "als":
        return ModelSpec("als", settings.als.model_params())
    if kind == "bpr":
        return ModelSpec("bpr", settings.bpr.model_dump())
    knn = settings.item_knn.model_dump()
    if kind == "item_cosine":
        return ModelSpec("item_cosine", {"neighbours": knn["neighbours"]})
    if kind == "item_bm25":
        return ModelSpec("item_bm25", knn)
    if kind == "hybrid":
        return ModelSpec("hybrid", {"explore": settings.model, **settings.hybrid.model_dump()})
    return ModelSpec(kind)


def buy_again_inputs(
    bought: pl.DataFrame, products: pl.DataFrame, as_of: dt.date, settings: Settings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The exclusions (bought and not due again) and buy-again scores, from a repurchase model
    learned on the purchase history before ``as_of``."""
    cfg = settings.repurchase
    policy = repurchase.RepurchasePolicy(
        min_probability=cfg.min_probability, shrinkage=cfg.shrinkage, learned=cfg.learned
    )
    learned = repurchase.estimate(bought, products, shrinkage=cfg.shrinkage)
    cut = as_of_timestamp(as_of)
    return (
        repurchase.exclusions(bought, learned, as_of=cut, policy=policy),
        repurchase.buy_again(bought, learned, as_of=cut, policy=policy),
    )


def model_spec(settings: Settings) -> ModelSpec:
    """The configured production model with its configured parameters."""
    return spec_for(settings, settings.model)


def store_offers(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date,
    files: Mapping[str, Path],
    run_id: str,
    model_version: str,
) -> None:
    """Replace the ``offers`` rows of ``as_of`` with each channel's long list, read by DuckDB
    from its Parquet file (``files``: channel -> the export's ``<channel>.parquet``), inside
    the caller's transaction. What the database holds is what the export holds; no rows pass
    through Python (handed over as Arrow blocks, DuckDB held about 3 GB of a million
    customers' lists until the commit; read from Parquet it writes them out as it goes)."""
    sqlfiles.run(con, "publish/delete_offers", {"as_of": as_of})
    params = {"as_of": as_of, "run_id": run_id, "model_version": model_version}
    for channel, path in files.items():
        sqlfiles.run(
            con, "publish/insert_offers", {**params, "channel": channel, "path": str(path)}
        )


def record_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    as_of: dt.date,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    status: str,
    summary: dict[str, Any],
) -> None:
    """One row per run in ``runs`` (an audit log: written for failed runs too)."""
    sqlfiles.run(
        con,
        "publish/record_run",
        {
            "run_id": run_id,
            "as_of": as_of,
            "started_at": started_at,
            "finished_at": finished_at,
            "status": status,
            "summary": json.dumps(summary, default=str),
        },
    )
