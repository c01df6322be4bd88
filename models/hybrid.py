"""The hybrid candidate: buy-again and discovery in one list, mixed per customer.

Two ranked lists per customer: *repeat* (``BuyAgainScorer``: their own purchases due again) and
*explore* (the configured model, e.g. ALS, never offering anything the customer bought). They
are fused by weighted reciprocal rank, the repeat list weighted by the customer's repurchase
propensity and the explore list by its complement:

    score(i) = w_u / (RRF_K + rank_repeat(i))       for a repeat item
    score(i) = (1 - w_u) / (RRF_K + rank_explore(i)) for an explore item
    w_u = min(1, repeat_weight * propensity_u)

``propensity_u`` is the share of the customer's bought products they bought in two or more
orders, shrunk towards the shop's share. At least ``min_repeat`` / ``min_explore`` slots go to
each kind when it has candidates; the rest go by fused score. ``repeat_weight`` and the minimums
are parameters (``[hybrid]`` in offers.toml; `offers evaluate --search` tries values on a
validation window). Everything is vectorised over customers with polars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

RRF_K = 10.0  # rank offset of the fusion: smaller favours the top of each list
SHRINKAGE = 5.0  # pseudo-products pulling a customer's propensity to the shop's


def propensity(orders: sp.csr_matrix) -> np.ndarray:
    """Per user: repeat-bought products / bought products, shrunk to the shop's share.

    ``orders``: users x items, the number of orders holding each bought product.
    """
    bought = np.diff(orders.indptr).astype(np.float64)
    repeated = np.asarray((orders >= 2).sum(axis=1)).ravel().astype(np.float64)
    shop = repeated.sum() / max(bought.sum(), 1.0)
    return (repeated + SHRINKAGE * shop) / (bought + SHRINKAGE)


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
        exp_ids, exp_scores = self.explore.recommend(
            userid, sp.csr_matrix(never), N=k, filter_already_liked_items=True,
            filter_items=filter_items,
        )  # fmt: skip
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
    n, k = ids.shape
    valid = np.isfinite(scores) & (scores > -1e30)
    return pl.DataFrame(
        {
            "row": np.repeat(np.arange(n, dtype=np.int32), k)[valid.ravel()],
            "item": ids.ravel()[valid.ravel()].astype(np.int32),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[valid.ravel()],
            "kind": np.full(int(valid.sum()), kind, dtype=np.int8),
        }
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
    """Per row, the ``k`` best of both lists by weighted reciprocal rank, with minimum slots.

    Returns implicit-style (ids, scores) arrays of shape (rows, k), -inf where a list runs out.
    """
    n = len(weight)
    both = pl.concat([_long(*repeat, kind=0), _long(*explore, kind=1)])
    w = weight.astype(np.float64)[both["row"].to_numpy()]
    share = np.where(both["kind"].to_numpy() == 0, w, 1.0 - w)
    both = both.with_columns(
        score=pl.Series(share / (RRF_K + both["rank"].to_numpy().astype(np.float64)))
    )
    # an item in both lists (cannot happen with disjoint exclusions) keeps its best entry
    both = both.sort("row", "score", "kind", "item", descending=[False, True, False, False])
    both = both.unique(subset=["row", "item"], keep="first", maintain_order=True)
    both = both.with_columns(pos=pl.int_range(pl.len()).over("row", "kind"))
    reserved = ((pl.col("kind") == 0) & (pl.col("pos") < min_repeat)) | (
        (pl.col("kind") == 1) & (pl.col("pos") < min_explore)
    )
    top = (
        both.with_columns(reserved=reserved)
        .sort(
            "row",
            "reserved",
            "score",
            "kind",
            "item",
            descending=[False, True, True, False, False],
        )
        .with_columns(slot=pl.int_range(pl.len()).over("row"))
        .filter(pl.col("slot") < k)
        .sort("row", "score", "kind", "item", descending=[False, True, False, False])
        .with_columns(slot=pl.int_range(pl.len()).over("row"))
    )
    ids = np.zeros((n, k), dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    rows, slots = top["row"].to_numpy(), top["slot"].to_numpy()
    ids[rows, slots] = top["item"].to_numpy()
    scores[rows, slots] = top["score"].to_numpy().astype(np.float32)
    return ids, scores
