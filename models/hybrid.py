"""The hybrid candidate: buy-again and discovery in one list, mixed per customer.

Two ranked lists per customer: *repeat* (``BuyAgainScorer``: their own purchases due again) and
*explore* (the configured model, e.g. ALS, never offering anything the customer bought). A
customer's list of k gets about ``k * w_u`` repeat slots, where

    w_u = min(1, repeat_weight * propensity_u)

and ``propensity_u`` is the share of the customer's purchases that were of a product they had
bought before (shrunk towards the shop's share); at least ``min_repeat`` / ``min_explore`` slots
go to each kind when it has candidates, and slots a list cannot fill go to the other. The
repeat items come first, then the explore items, each in its own list's order: a purchase that
is due again is the likeliest buy (measured: on the demo shop, UCI and Complete Journey this
order scores 3-30 % higher NDCG@10 than interleaving the two lists in proportion).
``repeat_weight`` and the minimums are parameters (``[hybrid]`` in offers.toml). Vectorised over
customers with polars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from models import columns as C
from models.rank import top_lists
from models.topn import top_n

SHRINKAGE = 5.0  # pseudo-purchases pulling a customer's propensity to the shop's


def propensity(orders: sp.csr_matrix) -> np.ndarray:
    """Per user: purchases of a product bought before / all purchases, shrunk to the shop's.

    ``orders``: users x items, the number of orders holding each bought product; a product in
    n orders is n purchases, n - 1 of them repeats.
    """
    purchases = np.asarray(orders.sum(axis=1)).ravel().astype(np.float64)
    repeats = purchases - np.diff(orders.indptr)
    shop = repeats.sum() / max(purchases.sum(), 1.0)
    return (repeats + SHRINKAGE * shop) / (purchases + SHRINKAGE)


class HybridScorer:
    """Repeat and explore lists fused per customer (see the module docstring)."""

    def __init__(
        self,
        explore: Any,
        repeat: Any,
        bought: sp.csr_matrix,
        propensity: np.ndarray,
        *,
        repeat_weight: float = 1.0,
        min_repeat: int = 0,
        min_explore: int = 0,
        explore_kind: str = "als",
    ):
        self.explore = explore  # a scorer (ALS, item-item, ...)
        self.explore_kind = explore_kind
        self.repeat = repeat  # a BuyAgainScorer
        self.bought = sp.csr_matrix(bought, dtype=np.float32)
        self.propensity = propensity
        self.repeat_weight = repeat_weight
        self.min_repeat = min_repeat
        self.min_explore = min_explore
        self.n_items = bought.shape[1]

    def recommend(
        self,
        userid: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        userid = np.atleast_1d(userid)
        k = min(N, self.n_items)
        rep_ids, rep_scores = self.repeat.recommend(
            userid, user_items, N=k, filter_already_liked_items=True, filter_items=filter_items
        )
        # explore never offers anything bought, due or not
        never = sp.csr_matrix(user_items, dtype=np.float32) + self.bought[userid]
        exp_ids, exp_scores = top_n(
            self.explore, userid, sp.csr_matrix(never), k, filter_items=filter_items
        )
        weight = np.minimum(1.0, self.repeat_weight * self.propensity[userid])
        return fuse(
            (np.atleast_2d(rep_ids), np.atleast_2d(rep_scores)),
            (np.atleast_2d(exp_ids), np.atleast_2d(exp_scores)),
            weight,
            k,
            min_repeat=self.min_repeat,
            min_explore=self.min_explore,
        )


def _long(ids: np.ndarray, scores: np.ndarray, kind: int) -> pl.DataFrame:
    """One list's (ids, scores) as rows (row, item, rank, kind), its empty slots dropped."""
    flat = top_lists(ids, scores, np.arange(len(ids)))
    return flat.select(
        pl.col(C.USER_IDX).alias("row"),
        pl.col(C.ITEM_IDX).alias("item"),
        pl.col(C.RANK).alias("rank"),
        pl.lit(kind, dtype=pl.Int8).alias("kind"),
    )


def fuse(
    repeat: tuple[np.ndarray, np.ndarray],
    explore: tuple[np.ndarray, np.ndarray],
    weight: np.ndarray,
    k: int,
    *,
    min_repeat: int = 0,
    min_explore: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, about ``k * weight`` repeat items first and the rest explore (see the module
    docstring). Scores are 1 - position / k.

    Returns implicit-style (ids, scores) arrays of shape (rows, k), -inf where both run out.
    """
    n = len(weight)
    both = pl.concat([_long(*repeat, kind=0), _long(*explore, kind=1)])
    both = both.unique(subset=["row", "item"], keep="first", maintain_order=True)
    available = both.group_by("row").agg(
        (pl.col("kind") == 0).sum().alias("a_r"), (pl.col("kind") == 1).sum().alias("a_e")
    )
    quota = pl.DataFrame(
        {"row": np.arange(n, dtype=np.int32), "want": np.rint(k * weight).astype(np.int64)}
    ).join(available, on="row", how="inner")
    lo, hi = min(min_repeat, k), max(k - min_explore, 0)
    n_r = pl.min_horizontal(pl.col("want").clip(lo, max(lo, hi)), pl.col("a_r"))
    n_r = pl.max_horizontal(n_r, k - pl.col("a_e")).clip(0, k)  # explore runs out: repeat more
    quota = quota.with_columns(n_r=pl.min_horizontal(n_r, pl.col("a_r"))).with_columns(
        n_e=pl.min_horizontal(pl.lit(k) - pl.col("n_r"), pl.col("a_e"))
    )
    top = (
        both.join(quota.select("row", "n_r", "n_e"), on="row")
        .with_columns(
            quota=pl.when(pl.col("kind") == 0).then(pl.col("n_r")).otherwise(pl.col("n_e"))
        )
        .filter(pl.col("rank") <= pl.col("quota"))  # ranks are 1..len per list, no gaps
        .sort("row", "kind", "rank")  # repeats first, then explore
        .with_columns(slot=pl.int_range(pl.len()).over("row"))
        .filter(pl.col("slot") < k)
    )
    ids = np.zeros((n, k), dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    rows, slots = top["row"].to_numpy(), top["slot"].to_numpy()
    ids[rows, slots] = top["item"].to_numpy()
    scores[rows, slots] = (1.0 - slots / k).astype(np.float32)
    return ids, scores
