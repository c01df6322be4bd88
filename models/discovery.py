"""Discovery slots: offerable products nobody has interacted with yet, matched to customers.

A collaborative model can never offer a product without interactions (it has no signal for
it, see ``Fitted.untrained_items``), so a new product would stay invisible until popularity
found it. Three pure steps give such products a few reserved places in the lists:

1. ``new_products``: the offerable products with no interaction in the window (optionally
   only those first seen on or after a date).
2. ``discovery_candidates``: per customer, the new products in one of their top categories
   (by summed interaction weight) whose price lies within a band around the customer's
   *weighted median* price (a lower weighted median: robust to one luxury purchase, and always
   a price the customer actually interacted with). Score = the category's share of the
   customer's weight; ties by closeness of log price, then product id.
3. ``insert_discovery``: up to ``slots`` of them per customer at fixed, evenly spaced ranks
   (never rank 1), pushing the list's last items out.

Bounds: each category contributes at most ``MAX_NEW_PER_CATEGORY`` new products (most recently
first seen first when the frame has a ``first_seen`` column, else by product id), so the join
holds at most customers x ``top_categories`` x ``MAX_NEW_PER_CATEGORY`` rows however many new
products a category has. A customer whose price band misses those products gets no discovery
from that category even if a product outside the bound would have matched.

Nothing here applies the per-customer rules (exclusions, e-mailed recently) or category caps:
the caller anti-joins those pairs from the candidates before ``insert_discovery``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from models import columns as C

PRICE = "price"
FIRST_SEEN = "first_seen"  # optional: when the product was first seen (newest first)
MAX_NEW_PER_CATEGORY = 50  # new products per category considered in the matching join
DIGITS = 9  # sums of weights are rounded: the same result whatever order the rows come in

_SHARE = "_share"
_MEDIAN = "_median"
_DIST = "_dist"
_NTH = "_nth"


def new_products(
    products: pl.DataFrame,
    interactions: pl.DataFrame,
    offerable: pl.DataFrame,
    *,
    seen_since: dt.date | dt.datetime | None = None,
) -> pl.DataFrame:
    """The offerable products with no row in ``interactions``: (product_id, category, price).

    ``products`` must carry ``price`` (and ``first_seen`` to use ``seen_since`` or to order
    the per-category bound; it is passed through when present). ``offerable``: (product_id,
    ...) products that may be offered. ``seen_since``: keep only products first seen on or
    after it.
    """
    if PRICE not in products.columns:
        raise ValueError("new_products needs a 'price' column in products")
    keep = [C.PRODUCT, C.CATEGORY, PRICE]
    if FIRST_SEEN in products.columns:
        keep.append(FIRST_SEEN)
    elif seen_since is not None:
        raise ValueError("seen_since needs a 'first_seen' column in products")
    new = (
        products.select(keep)
        .join(offerable.select(C.PRODUCT).unique(), on=C.PRODUCT, how="semi")
        .join(interactions.select(C.PRODUCT).unique(), on=C.PRODUCT, how="anti")
    )
    if seen_since is not None:
        new = new.filter(pl.col(FIRST_SEEN) >= seen_since)
    return new.sort(C.PRODUCT)


def discovery_candidates(
    history: pl.DataFrame,
    products: pl.DataFrame,
    new: pl.DataFrame,
    *,
    per_customer: int,
    price_band: float = 2.0,
    top_categories: int = 3,
) -> pl.DataFrame:
    """The best ``per_customer`` new products per customer with history.

    ``history``: (customer_id, product_id, weight); ``products``: (product_id, category,
    price) of the interacted products; ``new``: ``new_products``' frame. A new product matches
    a customer when its category is one of their ``top_categories`` by summed weight (ties by
    category name) and its price is in [median / price_band, median * price_band], median
    being the weighted median price of their interacted products. Returns (customer_id,
    product_id, score, source, category), score the category's share of the customer's total
    weight, best first per customer. Customers without (positively weighted, priced) history
    get none; products without a category or a positive finite price never match.
    """
    if price_band < 1.0:
        raise ValueError(f"price_band must be >= 1, got {price_band}")
    if per_customer <= 0 or top_categories <= 0:
        return _empty_candidates(history, new)
    known = history.filter(pl.col(C.WEIGHT) > 0).join(
        products.select(C.PRODUCT, C.CATEGORY, PRICE), on=C.PRODUCT, how="inner"
    )
    band = pl.col(PRICE).is_between(
        pl.col(_MEDIAN) / price_band, pl.col(_MEDIAN) * price_band, closed="both"
    )
    matched = (
        _top_categories(known, top_categories)
        .join(_median_price(known), on=C.CUSTOMER, how="inner")
        .join(_bounded(new), on=C.CATEGORY, how="inner")
        .filter(band)
        .with_columns((pl.col(PRICE).log() - pl.col(_MEDIAN).log()).abs().alias(_DIST))
        .sort([C.CUSTOMER, _SHARE, _DIST, C.PRODUCT], descending=[False, True, False, False])
        .filter(pl.int_range(pl.len()).over(C.CUSTOMER) < per_customer)
    )
    return matched.select(
        C.CUSTOMER,
        C.PRODUCT,
        pl.col(_SHARE).alias(C.SCORE),
        pl.lit(C.SOURCE_NEW).alias(C.SOURCE),
        C.CATEGORY,
    )


def _priced() -> pl.Expr:
    return pl.col(PRICE).is_finite() & (pl.col(PRICE) > 0)


def _top_categories(known: pl.DataFrame, top: int) -> pl.DataFrame:
    """(customer_id, category, _share): each customer's ``top`` categories by summed weight."""
    total = pl.col(C.WEIGHT).sum().over(C.CUSTOMER)
    return (
        known.filter(pl.col(C.CATEGORY).is_not_null())
        .group_by(C.CUSTOMER, C.CATEGORY)
        .agg(pl.col(C.WEIGHT).sum().round(DIGITS))
        .with_columns((pl.col(C.WEIGHT) / total).round(DIGITS).alias(_SHARE))
        .sort([C.CUSTOMER, C.WEIGHT, C.CATEGORY], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over(C.CUSTOMER) < top)
        .select(C.CUSTOMER, C.CATEGORY, _SHARE)
    )


def _median_price(known: pl.DataFrame) -> pl.DataFrame:
    """(customer_id, _median): the lower weighted median price of the interacted products:
    the smallest price at which the cumulative weight reaches half the customer's total."""
    return (
        known.filter(_priced())
        .sort(C.CUSTOMER, PRICE, C.PRODUCT)
        .with_columns(
            cum=pl.col(C.WEIGHT).cum_sum().over(C.CUSTOMER).round(DIGITS),
            half=(pl.col(C.WEIGHT).sum().over(C.CUSTOMER) * 0.5).round(DIGITS),
        )
        .filter(pl.col("cum") >= pl.col("half"))
        .group_by(C.CUSTOMER)
        .agg(pl.col(PRICE).min().alias(_MEDIAN))
    )


def _bounded(new: pl.DataFrame) -> pl.DataFrame:
    """At most ``MAX_NEW_PER_CATEGORY`` priced new products per category (newest first when
    ``first_seen`` is known, else by product id): (category, product_id, price)."""
    if FIRST_SEEN in new.columns:
        order = new.sort([FIRST_SEEN, C.PRODUCT], descending=[True, False], nulls_last=True)
    else:
        order = new.sort(C.PRODUCT)
    return (
        order.filter(pl.col(C.CATEGORY).is_not_null() & _priced())
        .filter(pl.int_range(pl.len()).over(C.CATEGORY) < MAX_NEW_PER_CATEGORY)
        .select(C.CATEGORY, C.PRODUCT, PRICE)
    )


def _empty_candidates(history: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            C.CUSTOMER: history.schema[C.CUSTOMER],
            C.PRODUCT: new.schema[C.PRODUCT],
            C.SCORE: pl.Float64,
            C.SOURCE: pl.String,
            C.CATEGORY: new.schema[C.CATEGORY],
        }
    )


def discovery_ranks(k: int, slots: int) -> list[int]:
    """The ranks discovery items take in a full list of ``k``: the list cut into
    ``s + 1`` equal parts (s = min(slots, k - 1)), one item first in each part but the first,
    i.e. rank ``j * k // (s + 1) + 1`` for j = 1..s. k=20: 1 slot -> 11; 2 -> 7, 14;
    3 -> 6, 11, 16; 4 -> 5, 9, 13, 17. Never rank 1, all distinct, all <= k."""
    s = max(0, min(slots, k - 1))
    return [j * k // (s + 1) + 1 for j in range(1, s + 1)]


def insert_discovery(
    lists: pl.DataFrame, discovery: pl.DataFrame, *, k: int, slots: int
) -> pl.DataFrame:
    """``lists`` with up to ``slots`` discovery products per customer put in.

    ``lists``: ranked (customer_id, rank, product_id, ...) at most ``k`` per customer;
    ``discovery``: (customer_id, product_id, score, source, ...) in preference order (higher
    score first, ties in the frame's order). Per customer with a list (L items), discovery
    products already in the list (or repeated) are dropped; the first d = min(slots, k - 1,
    available) go to ranks q_j = min(p_j, L + j), p_j from ``discovery_ranks(k, slots)``
    (so a short list gets them at its end), the list's items keep their order around them
    and those past rank ``k`` drop out. Result: L' = min(k, L + d) rows, ranks 1..L', the
    columns and dtypes of ``lists`` (those that ``discovery`` lacks are null on its rows).
    No discovery to insert (slots 0, nothing matched): ``lists`` itself is returned.
    """
    if k < 1 or slots < 0:
        raise ValueError(f"need k >= 1 and slots >= 0, got k={k}, slots={slots}")
    s = min(slots, k - 1)
    if s == 0 or discovery.height == 0 or lists.height == 0:
        return lists
    lengths = lists.group_by(C.CUSTOMER).agg(pl.len().alias("_n"))
    if lengths.get_column("_n").max() > k:  # type: ignore[operator]
        raise ValueError(f"insert_discovery got a list longer than k={k}")
    chosen = _chosen(lists, discovery, lengths, k, s)
    if chosen.height == 0:
        return lists
    ordered = lists.sort(C.CUSTOMER, C.RANK).with_columns(
        (pl.int_range(1, pl.len() + 1).over(C.CUSTOMER) * 2).alias("_key"),
        pl.lit(0, pl.Int64).alias("_j"),
    )
    merged = pl.concat([ordered, _as_list_rows(chosen, lists)], how="vertical")
    rank_type = lists.schema[C.RANK]
    return (
        merged.sort(C.CUSTOMER, "_key", "_j")
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.CUSTOMER).cast(rank_type).alias(C.RANK))
        .filter(pl.col(C.RANK) <= k)
        .select(lists.columns)
    )


def _chosen(
    lists: pl.DataFrame, discovery: pl.DataFrame, lengths: pl.DataFrame, k: int, s: int
) -> pl.DataFrame:
    """The discovery rows that go in, with ``_key``: 2 (q_j - j) + 1, i.e. just before the
    list's item q_j - j + 1, and ``_j`` (their order among themselves)."""
    j = pl.int_range(1, pl.len() + 1).over(C.CUSTOMER)
    target = pl.min_horizontal((pl.col("_j") * k) // (s + 1) + 1, pl.col("_n") + pl.col("_j"))
    return (
        discovery.with_columns(
            pl.col(C.CUSTOMER).cast(lists.schema[C.CUSTOMER]),
            pl.int_range(pl.len()).alias("_row"),  # joins may reorder: remember the order
        )
        .join(lists.select(C.CUSTOMER, C.PRODUCT), on=[C.CUSTOMER, C.PRODUCT], how="anti")
        .join(lengths, on=C.CUSTOMER, how="inner")
        .sort([C.CUSTOMER, C.SCORE, "_row"], descending=[False, True, False], nulls_last=True)
        .unique([C.CUSTOMER, C.PRODUCT], keep="first", maintain_order=True)
        .with_columns(j.cast(pl.Int64).alias("_j"))
        .filter(pl.col("_j") <= s)
        .with_columns(((target - pl.col("_j")) * 2 + 1).alias("_key"))
    )


def _as_list_rows(chosen: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    """Discovery rows in the columns and dtypes of ``lists`` (plus ``_key``, ``_j``)."""
    columns = [
        pl.col(name).cast(dtype) if name in chosen.columns and name != C.RANK
        else pl.lit(None, dtype).alias(name)
        for name, dtype in lists.schema.items()
    ]  # fmt: skip
    return chosen.select(*columns, pl.col("_key").cast(pl.Int64), pl.col("_j").cast(pl.Int64))
