"""Variety: at most N products of one category in a customer's list, without emptying it.

The ranking stage produces a longer candidate pool per customer (``offers.pool_factor`` x the
list length). ``cap_categories`` walks each pool in rank order and keeps a product while its
category has fewer than ``cap`` products kept so far; if that leaves the list short (the pool
holds too few categories), the skipped products fill it in rank order, so a list is only ever
shorter than ``k`` when the pool itself is. One vectorised pass: a stable sort and running
counts in numpy on integer keys.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models import columns as C
from models.rank import in_order


def cap_categories(
    pool: pl.DataFrame, categories: pl.DataFrame, *, cap: int | None, k: int
) -> pl.DataFrame:
    """The first ``k`` products per customer with at most ``cap`` per category where possible.

    ``pool``: (customer_id, rank, product_id, score, source), ranks 1..n per customer;
    ``categories``: (product_id, category). Returns the same columns, ranks 1..k. With
    ``cap=None`` it is the first ``k`` of the pool.
    """
    if cap is None:
        return pool.filter(pl.col(C.RANK) <= k)
    ordered = in_order(pool, C.CUSTOMER)
    # integer keys: the pool is sorted by customer, so a run id numbers customers
    keys = ordered.join(
        categories.select(C.PRODUCT, C.CATEGORY), on=C.PRODUCT, how="left", maintain_order="left"
    ).select(
        pl.col(C.CUSTOMER).rle_id().alias("_c"),
        pl.col(C.CATEGORY).fill_null("").cast(pl.Categorical).to_physical().alias("_k"),
    )
    customer = keys.get_column("_c").to_numpy().astype(np.int64)
    category = keys.get_column("_k").to_numpy().astype(np.int64)
    within = _nth_of_its_group(customer, category) <= cap
    # within the cap first, then the overflow, each in the pool's order: a product is kept
    # if it is among the first k within the cap, or among the first (k - those) over it
    n_within = np.bincount(customer, weights=within, minlength=customer.max(initial=-1) + 1)
    keep = np.where(
        within,
        _running_count(customer, within) <= k,
        _running_count(customer, ~within) <= k - n_within[customer],
    )
    # the kept products stay in the pool's order (a capped list reads top-down)
    rank = _running_count(customer[keep], np.ones(int(keep.sum()), dtype=bool))
    return ordered.filter(pl.Series(keep)).with_columns(pl.Series(C.RANK, rank, dtype=pl.Int32))


def _nth_of_its_group(customer: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Per row, 1 + the rows before it with the same (customer, category): a stable sort by
    the pair, numbered within each run (0.06 s for 3M rows, polars' window over the two keys
    took 0.41 s)."""
    pair = (customer << 32) | category
    order = np.argsort(pair, kind="stable")
    ranked = pair[order]
    idx = np.arange(len(pair))
    starts = np.ones(len(pair), dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    first = np.maximum.accumulate(np.where(starts, idx, 0))
    nth = np.empty(len(pair), dtype=np.int64)
    nth[order] = idx - first + 1
    return nth


def _running_count(customer: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per row, how many rows of its customer up to and including it have ``flag`` set
    (``customer`` sorted: a customer's rows are consecutive)."""
    total = np.cumsum(flag, dtype=np.int64)
    if len(customer) == 0:
        return total
    starts = np.ones(len(customer), dtype=bool)
    starts[1:] = customer[1:] != customer[:-1]
    before = (total - flag)[starts]  # the count before each customer's first row
    return total - np.repeat(before, np.diff(np.flatnonzero(np.r_[starts, True])))


def category_counts(lists: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """Per customer, the most products any one category holds in their list."""
    return (
        lists.join(categories.select(C.PRODUCT, C.CATEGORY), on=C.PRODUCT, how="left")
        .group_by(C.CUSTOMER, C.CATEGORY)
        .len()
        .group_by(C.CUSTOMER)
        .agg(pl.col("len").max().alias("most"))
    )
