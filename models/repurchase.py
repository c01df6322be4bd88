"""Buying again: a repurchase model learned from history, the exclusions it implies, and the
buy-again score (personal purchase frequency, as in P-TopFreq / TIFU-KNN).

From the purchase history before the as-of date (one row per customer and product: distinct
orders, first and last purchase, a decayed frequency, whether it was returned), per product:

* ``p_repeat``: the share of its buyers who bought it in two or more orders, shrunk towards its
  category's share (and that towards the shop's) with ``shrinkage`` pseudo-buyers, so sparse
  products borrow strength from their category;
* ``interval_days``: the typical gap between two purchases of it by one customer (median over
  its repeat buyers of their mean gap), shrunk in log space towards the category's the same way.

A bought product is *due* again for a customer when ``p_repeat >= min_probability`` and at least
``interval_days`` have passed since their last purchase; a product's configured
``repurchase_interval_days`` overrides the learned interval (and makes it repeatable). Returned
products are never due (the customer tried them). Everything else bought is excluded.

Pure functions on polars frames: no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import polars as pl

from models import columns as C

DAY_S = 86_400.0


@dataclass(frozen=True)
class RepurchasePolicy:
    min_probability: float = 0.15
    shrinkage: float = 10.0  # pseudo-buyers pulling a product towards its category
    learned: bool = True  # False: only configured intervals make products repeatable


def _gaps(history: pl.DataFrame) -> pl.DataFrame:
    """Per repeat pair (2+ orders): the mean gap between its purchases, in days."""
    return history.filter(pl.col("orders") >= 2).select(
        C.PRODUCT,
        (
            (pl.col("last_at") - pl.col("first_at")).dt.total_seconds()
            / DAY_S
            / (pl.col("orders") - 1)
        ).alias("gap"),
    )


def estimate(history: pl.DataFrame, products: pl.DataFrame, *, shrinkage: float) -> pl.DataFrame:
    """Per product bought at least once: buyers, repeaters, ``p_repeat``, ``interval_days``.

    ``history``: (customer_id, product_id, orders, first_at, last_at, ...);
    ``products``: (product_id, category). ``interval_days`` is null where neither the
    product, its category nor the shop has a repeat buyer.
    """
    m = float(shrinkage)
    per = (
        history.group_by(C.PRODUCT)
        .agg(pl.len().alias("buyers"), (pl.col("orders") >= 2).sum().alias("repeaters"))
        .join(
            _gaps(history).group_by(C.PRODUCT).agg(pl.col("gap").median().alias("gap")),
            on=C.PRODUCT,
            how="left",
        )
        .join(products.select(C.PRODUCT, C.CATEGORY), on=C.PRODUCT, how="left")
        .with_columns(pl.col(C.CATEGORY).fill_null(""))
    )
    gaps = _gaps(history).join(products.select(C.PRODUCT, C.CATEGORY), on=C.PRODUCT, how="left")
    shop_rate = per["repeaters"].sum() / max(per["buyers"].sum(), 1)
    shop_gap = gaps["gap"].median() if gaps.height else None
    category = (
        per.group_by(C.CATEGORY)
        .agg(pl.col("buyers").sum().alias("c_buyers"), pl.col("repeaters").sum().alias("c_rep"))
        .join(
            gaps.with_columns(pl.col(C.CATEGORY).fill_null(""))
            .group_by(C.CATEGORY)
            .agg(pl.col("gap").median().alias("c_gap")),
            on=C.CATEGORY,
            how="left",
        )
        .with_columns(
            c_rate=(pl.col("c_rep") + m * shop_rate) / (pl.col("c_buyers") + m),
            c_log=_shrunk_log(pl.col("c_gap"), pl.col("c_rep"), shop_gap, m),
        )
    )
    return (
        per.join(category.select(C.CATEGORY, "c_rate", "c_log"), on=C.CATEGORY, how="left")
        .with_columns(
            p_repeat=(pl.col("repeaters") + m * pl.col("c_rate")) / (pl.col("buyers") + m),
            interval_days=_shrunk_log(pl.col("gap"), pl.col("repeaters"), None, m, pl.col("c_log"))
            .exp()
            .clip(lower_bound=1.0),
        )
        .select(C.PRODUCT, "buyers", "repeaters", "p_repeat", "interval_days")
        .sort(C.PRODUCT)
    )


def _shrunk_log(
    gap: pl.Expr,
    weight: pl.Expr,
    prior_gap: float | None,
    m: float,
    prior_log: pl.Expr | None = None,
) -> pl.Expr:
    """log(gap) averaged with the prior's log, ``weight`` against ``m`` pseudo-counts; the
    prior alone where there is no gap, null where there is neither."""
    prior = (
        prior_log
        if prior_log is not None
        else pl.lit(
            math.log(max(prior_gap, 1.0)) if prior_gap is not None else None, dtype=pl.Float64
        )
    )
    own = gap.clip(lower_bound=1.0).log()
    mixed = (weight * own + m * prior) / (weight + m)
    return pl.when(gap.is_null()).then(prior).when(prior.is_null()).then(own).otherwise(mixed)


def due(
    history: pl.DataFrame, model: pl.DataFrame, *, as_of: dt.datetime, policy: RepurchasePolicy
) -> pl.DataFrame:
    """``history`` with ``days_since``, the interval that applies and whether the pair is due."""
    learned_ok = (pl.col("p_repeat") >= policy.min_probability) & pl.lit(policy.learned)
    interval = (
        pl.when(pl.col("override_days").is_not_null())
        .then(pl.col("override_days").cast(pl.Float64))
        .when(learned_ok)
        .then(pl.col("interval_days"))
        .otherwise(None)
    )
    days_since = (pl.lit(as_of) - pl.col("last_at")).dt.total_seconds() / DAY_S
    return (
        history.join(model.select(C.PRODUCT, "p_repeat", "interval_days"), on=C.PRODUCT, how="left")
        .with_columns(interval.alias("interval"), days_since.alias("days_since"))
        .with_columns(
            (
                ~pl.col("returned")
                & pl.col("interval").is_not_null()
                & (pl.col("days_since") >= pl.col("interval"))
            ).alias("due")
        )
    )


def exclusions(
    history: pl.DataFrame, model: pl.DataFrame, *, as_of: dt.datetime, policy: RepurchasePolicy
) -> pl.DataFrame:
    """(customer_id, product_id): every bought pair that is not due again."""
    return (
        due(history, model, as_of=as_of, policy=policy)
        .filter(~pl.col("due"))
        .select(C.CUSTOMER, C.PRODUCT)
    )


def buy_again(
    history: pl.DataFrame, model: pl.DataFrame, *, as_of: dt.datetime, policy: RepurchasePolicy
) -> pl.DataFrame:
    """(customer_id, product_id, weight) for due pairs: the customer's decayed purchase
    frequency of the product times its probability of being bought again (1 for a product
    with a configured interval)."""
    scored = due(history, model, as_of=as_of, policy=policy).filter(pl.col("due"))
    chance = (
        pl.when(pl.col("override_days").is_not_null())
        .then(pl.lit(1.0))
        .otherwise(pl.col("p_repeat").fill_null(0.0))
    )
    return scored.select(
        C.CUSTOMER, C.PRODUCT, (pl.col("frequency") * chance).alias(C.WEIGHT)
    ).filter(pl.col(C.WEIGHT) > 0)
