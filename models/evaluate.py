"""Offline metrics on ranked lists against what customers did afterwards."""

from __future__ import annotations

import polars as pl

from models import columns as C


def precision_at_k(lists: pl.DataFrame, truth: pl.DataFrame, k: int) -> float:
    """Mean over customers with at least one truth item of |top-k ∩ truth| / k.

    ``lists`` has (customer_id, product_id, rank); ``truth`` has (customer_id, product_id).
    A customer with truth but no list scores 0 (the list failed them).
    """
    truth = truth.select(C.CUSTOMER, C.PRODUCT).unique()
    judged = truth.select(C.CUSTOMER).unique()
    if judged.height == 0:
        return 0.0
    hits = (
        lists.filter(pl.col(C.RANK) <= k)
        .select(C.CUSTOMER, C.PRODUCT)
        .join(truth, on=[C.CUSTOMER, C.PRODUCT], how="inner")
        .group_by(C.CUSTOMER)
        .len(name="hits")
    )
    per_customer = judged.join(hits, on=C.CUSTOMER, how="left").with_columns(
        pl.col("hits").fill_null(0)
    )
    return float(per_customer.get_column("hits").sum()) / (judged.height * k)
