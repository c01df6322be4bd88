"""Cross-sell: "goes with" lists per product from co-purchases (association rules with lift).

For products a and b bought in the same order (baskets of completed orders before the as-of
date), with N baskets, n_a baskets holding a and n_ab holding both:

    confidence(a -> b) = n_ab / n_a        lift(a, b) = n_ab * N / (n_a * n_b)

A product's list holds the others with ``n_ab >= min_support`` and ``lift > 1``, by lift, then
support, then id (deterministic), at most ``top`` of them. Baskets larger than ``max_basket``
are left out (a wholesale order of 300 lines says little about what goes together and costs
300^2 pairs). Vectorised with a polars self-join; no I/O.
"""

from __future__ import annotations

import polars as pl

from models import columns as C

ORDER = "order_id"
OTHER = "goes_with_id"


def goes_with(
    baskets: pl.DataFrame,
    *,
    min_support: int = 3,
    top: int = 10,
    max_basket: int = 50,
) -> pl.DataFrame:
    """(product_id, rank, goes_with_id, support, confidence, lift) from (order_id, product_id).

    ``baskets`` may repeat a product within an order; it counts once.
    """
    lines = baskets.select(ORDER, C.PRODUCT).unique()
    sizes = lines.group_by(ORDER).len()
    lines = lines.join(sizes.filter(pl.col("len") <= max_basket).select(ORDER), on=ORDER)
    n = lines.get_column(ORDER).n_unique()
    single = lines.group_by(C.PRODUCT).len(name="n_a")
    pairs = (
        lines.join(lines.rename({C.PRODUCT: OTHER}), on=ORDER)
        .filter(pl.col(C.PRODUCT) != pl.col(OTHER))
        .group_by(C.PRODUCT, OTHER)
        .len(name="support")
        .filter(pl.col("support") >= min_support)
    )
    scored = (
        pairs.join(single, on=C.PRODUCT)
        .join(single.rename({C.PRODUCT: OTHER, "n_a": "n_b"}), on=OTHER)
        .with_columns(
            confidence=pl.col("support") / pl.col("n_a"),
            lift=pl.col("support") * n / (pl.col("n_a") * pl.col("n_b")),
        )
        .filter(pl.col("lift") > 1.0)
        .sort([C.PRODUCT, "lift", "support", OTHER], descending=[False, True, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.PRODUCT).cast(pl.Int32).alias(C.RANK))
        .filter(pl.col(C.RANK) <= top)
    )
    return scored.select(C.PRODUCT, C.RANK, OTHER, "support", "confidence", "lift")
