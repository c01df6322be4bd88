"""Variety: at most N products of one category in a customer's list, without emptying it.

The ranking stage produces a longer candidate pool per customer (``offers.pool_factor`` x the
list length). ``cap_categories`` walks each pool in rank order and keeps a product while its
category has fewer than ``cap`` products kept so far; if that leaves the list short (the pool
holds too few categories), the skipped products fill it in rank order, so a list is only ever
shorter than ``k`` when the pool itself is. One vectorised pass with polars window functions.
"""

from __future__ import annotations

import polars as pl

from models import columns as C


def cap_categories(
    pool: pl.DataFrame, categories: pl.DataFrame, *, cap: int | None, k: int
) -> pl.DataFrame:
    """The first ``k`` products per customer with at most ``cap`` per category where possible.

    ``pool``: (customer_id, rank, product_id, score, source), ranks 1..n per customer;
    ``categories``: (product_id, category). Returns the same columns, ranks 1..k. With
    ``cap=None`` it is the first ``k`` of the pool.
    """
    columns = pool.columns
    if cap is None:
        return pool.filter(pl.col(C.RANK) <= k)
    within = pl.col("_nth") <= cap
    return (
        pool.lazy()
        .sort(C.CUSTOMER, C.RANK)
        .join(
            categories.lazy().select(C.PRODUCT, C.CATEGORY),
            on=C.PRODUCT,
            how="left",
            maintain_order="left",
        )
        # integer keys: the pool is sorted by customer, so a run id numbers customers
        .with_columns(
            _c=pl.col(C.CUSTOMER).rle_id(),
            _k=pl.col(C.CATEGORY).fill_null("").cast(pl.Categorical).to_physical(),
        )
        .with_columns(_nth=pl.int_range(1, pl.len() + 1).over("_c", "_k"))
        # within the cap first, then the overflow, each in the pool's order: a product is kept
        # if it is among the first k within the cap, or among the first (k - those) over it
        .with_columns(
            _in=within.cast(pl.Int32).cum_sum().over("_c"),
            _out=(~within).cast(pl.Int32).cum_sum().over("_c"),
            _n_in=within.cast(pl.Int32).sum().over("_c"),
        )
        .filter(
            pl.when(within)
            .then(pl.col("_in") <= k)
            .otherwise(pl.col("_out") <= k - pl.col("_n_in"))
        )
        # the kept products stay in the pool's order (a capped list reads top-down)
        .with_columns(pl.int_range(1, pl.len() + 1).over("_c").cast(pl.Int32).alias(C.RANK))
        .select(columns)
        .collect()
    )


def category_counts(lists: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """Per customer, the most products any one category holds in their list."""
    return (
        lists.join(categories.select(C.PRODUCT, C.CATEGORY), on=C.PRODUCT, how="left")
        .group_by(C.CUSTOMER, C.CATEGORY)
        .len()
        .group_by(C.CUSTOMER)
        .agg(pl.col("len").max().alias("most"))
    )
