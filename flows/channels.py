"""The lists each customer gets, per channel, with their I/O: candidate pools made in chunks,
category caps, email rotation (what was sent recently), the rule check, and "goes with" lists
for product pages. The rules themselves live in ``models`` (variety, rules, crosssell)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl

from flows import sqlfiles
from flows.config import Settings
from flows.errors import DataQualityError
from flows.stages import as_of_timestamp
from models import columns as C
from models import crosssell, rules
from models.recommender import Fitted, Inputs, recommend
from models.variety import cap_categories

OFFER_CHUNK = 200_000  # customers whose candidate pools are held at once


def pool_size(settings: Settings) -> int:
    """Candidates ranked per customer before the channel rules pick each list."""
    return settings.offers.shop_k * settings.offers.pool_factor


def channel_lists(
    pool: pl.DataFrame,
    inputs: Inputs,
    settings: Settings,
    *,
    recently_sent: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Shop and email lists from each customer's ranked candidate pool, checked against every
    rule; raises DataQualityError if broken. Each channel takes the pool's best products
    with at most ``*_per_category`` of one category (``models.variety``); the email skips
    ``recently_sent`` (customer_id, product_id) pairs, so it rotates instead of freezing."""
    lists = _select_channels(pool, inputs, settings, recently_sent)
    check_lists(lists, inputs, settings, recently_sent)
    return lists


def offer_lists(
    fitted: Fitted,
    inputs: Inputs,
    settings: Settings,
    *,
    recently_sent: pl.DataFrame | None = None,
    chunk: int = OFFER_CHUNK,
) -> dict[str, pl.DataFrame]:
    """``channel_lists`` for every served customer, ``chunk`` customers at a time: a pool of
    ``pool_size`` candidates per customer for a million customers would not fit in memory."""
    served = fitted.served if fitted.served is not None else np.arange(len(fitted.users))
    parts: dict[str, list[pl.DataFrame]] = {C.CHANNEL_SHOP: [], C.CHANNEL_EMAIL: []}
    for lo in range(0, max(len(served), 1), chunk):
        pool = recommend(fitted, pool_size(settings), users=served[lo : lo + chunk])
        for channel, frame in _select_channels(pool, inputs, settings, recently_sent).items():
            parts[channel].append(frame)
    lists = {channel: pl.concat(frames) for channel, frames in parts.items()}
    check_lists(lists, inputs, settings, recently_sent)
    return lists


def shop_list(
    pool: pl.DataFrame, products: pl.DataFrame, settings: Settings, k: int | None = None
) -> pl.DataFrame:
    """The shop channel's pick from candidate pools: the best ``k`` (default ``shop_k``) per
    customer with at most ``shop_per_category`` of one category."""
    o = settings.offers
    return cap_categories(pool, products, cap=o.shop_per_category, k=k or o.shop_k)


def judged_shop_lists(
    fitted: Fitted, products: pl.DataFrame, settings: Settings, users: np.ndarray, k: int
) -> pl.DataFrame:
    """The shop lists of ``users`` as published (at least ``k`` long), for judging them."""
    pool = recommend(fitted, pool_size(settings), users=users)
    return shop_list(pool, products, settings, k=max(k, settings.offers.shop_k))


def _select_channels(
    pool: pl.DataFrame, inputs: Inputs, settings: Settings, recently_sent: pl.DataFrame | None
) -> dict[str, pl.DataFrame]:
    o = settings.offers
    consenting = inputs.customers.filter(pl.col(C.EMAIL_CONSENT)).get_column(C.CUSTOMER)
    categories = inputs.products
    email_pool = pool.filter(pl.col(C.CUSTOMER).is_in(consenting.implode()))
    if recently_sent is not None and recently_sent.height:
        email_pool = email_pool.join(recently_sent, on=[C.CUSTOMER, C.PRODUCT], how="anti")
        email_pool = email_pool.sort(C.CUSTOMER, C.RANK).with_columns(
            pl.int_range(1, pl.len() + 1).over(C.CUSTOMER).cast(pl.Int32).alias(C.RANK)
        )
    return {
        C.CHANNEL_SHOP: shop_list(pool, categories, settings),
        C.CHANNEL_EMAIL: cap_categories(
            email_pool, categories, cap=o.email_per_category, k=o.email_k
        ),
    }


def check_lists(
    lists: dict[str, pl.DataFrame],
    inputs: Inputs,
    settings: Settings,
    recently_sent: pl.DataFrame | None,
) -> None:
    """Every rule on the final lists; DataQualityError (nothing published) if one is broken."""
    problems = rules.violations(
        lists,
        offerable=inputs.offerable,
        exclusions=inputs.exclusions,
        customers=inputs.customers,
        limits={C.CHANNEL_SHOP: settings.offers.shop_k, C.CHANNEL_EMAIL: settings.offers.email_k},
        not_again={C.CHANNEL_EMAIL: recently_sent} if recently_sent is not None else None,
    )
    if problems:
        raise DataQualityError(
            "offer lists break the rules; nothing published:\n- " + "\n- ".join(problems)
        )


def goes_with_lists(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, inputs: Inputs, settings: Settings
) -> pl.DataFrame:
    """Per offerable product, the offerable products bought with it (``models.crosssell``)."""
    o = settings.offers
    params = {"as_of": as_of_timestamp(as_of), "lookback_days": settings.interactions.lookback_days}
    rel = sqlfiles.run(con, "marts/order_baskets", params)
    assert rel is not None
    baskets = rel.pl()
    if o.goes_with == 0 or baskets.height == 0:
        return crosssell.goes_with(baskets.head(0), top=1)
    offerable = inputs.offerable.select(C.PRODUCT)
    lists = crosssell.goes_with(baskets, min_support=o.goes_with_min_support, top=10 * o.goes_with)
    return (
        lists.join(offerable, on=C.PRODUCT, how="semi")
        .join(offerable.rename({C.PRODUCT: crosssell.OTHER}), on=crosssell.OTHER, how="semi")
        .sort(C.PRODUCT, C.RANK)
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.PRODUCT).cast(pl.Int32).alias(C.RANK))
        .filter(pl.col(C.RANK) <= o.goes_with)
    )


def store_goes_with(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date, lists: pl.DataFrame, run_id: str
) -> None:
    """Replace the ``goes_with`` rows of ``as_of`` (what the shop's product pages read)."""
    con.register("new_goes_with", lists.to_arrow())
    try:
        sqlfiles.run(con, "publish/replace_goes_with", {"as_of": as_of, "run_id": run_id})
    finally:
        con.unregister("new_goes_with")


def recent_sends(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: Settings
) -> pl.DataFrame | None:
    """Email pairs sent in the ``email_repeat_days`` before ``as_of`` (None: no such rule)."""
    days = settings.offers.email_repeat_days
    if days == 0:
        return None
    params = {"channel": C.CHANNEL_EMAIL, "as_of": as_of, "days": days}
    rel = sqlfiles.run(con, "marts/recent_sends", params)
    assert rel is not None
    return rel.pl()


def record_sends(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date, email: pl.DataFrame, run_id: str
) -> None:
    """Remember tonight's email as sent (replacing this date's record)."""
    con.register("new_sends", email.select(C.CUSTOMER, C.PRODUCT).to_arrow())
    try:
        params = {"channel": C.CHANNEL_EMAIL, "as_of": as_of, "run_id": run_id}
        sqlfiles.run(con, "publish/record_sends", params)
    finally:
        con.unregister("new_sends")
