"""Popularity baselines: one list for everyone (``PopularityScorer``) and popularity within the
categories a customer likes (``CategoryPopularityScorer``), with the dense top-k they build on.

Scorers with implicit's ``recommend`` signature, trained by ``models.candidates.train``; a
product nobody took is never recommended (the ranking stage fills such lists from popularity).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.topk import topk

DENSE_BLOCK = 20_000_000  # scores held at once by dense scorers (80 MB of float32)
# customers whose candidates the category scorer holds at once (hundreds each): at 100k
# customers x 20k products a block of 50,000 added 1.4 GB to the offer stage's peak and took
# 2.6 s; blocks of 10,000 add under 0.1 GB and take 2.0 s
CANDIDATE_USERS = 10_000
GLOBAL_SHARE = 1e-6  # category popularity: weight of global popularity (breaks ties, fills)


class DenseScorer:
    """Top-k from dense score blocks: subclasses give ``scores(userids) -> (n, items)``."""

    n_items: int

    def scores(self, userids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

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
        out_ids = np.empty((len(userid), k), dtype=np.int32)
        out_scores = np.empty((len(userid), k), dtype=np.float32)
        step = max(1, DENSE_BLOCK // max(self.n_items, 1))
        for start in range(0, len(userid), step):
            rows = slice(start, start + step)
            block = self.scores(userid[rows]).astype(np.float32, copy=False)
            block[block <= 0] = -np.inf  # no signal is not a recommendation
            if filter_already_liked_items:
                liked = user_items[rows].tocoo()
                block[liked.row, liked.col] = -np.inf
            if filter_items is not None and len(filter_items):
                block[:, filter_items] = -np.inf
            top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < self.n_items else None
            if top is None:
                top = np.tile(np.arange(self.n_items), (block.shape[0], 1))
            top_scores = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            out_ids[rows] = np.take_along_axis(top, order, axis=1)
            out_scores[rows] = np.take_along_axis(top_scores, order, axis=1)
        return out_ids, out_scores


class CategoryPopularityScorer(DenseScorer):
    """Popularity within the categories a customer showed interest in (a segment baseline).

    score(u, i) = share of u's interaction weight in category(i) * popularity(i), plus a tiny
    share of global popularity so ties and empty tastes still rank by what sells.
    """

    def __init__(
        self, user_items: sp.csr_matrix, item_category: np.ndarray, popularity: np.ndarray
    ):
        n_items = len(item_category)
        n_categories = int(item_category.max()) + 1 if n_items else 0
        onehot = sp.csr_matrix(
            (np.ones(n_items, dtype=np.float32), (np.arange(n_items), item_category)),
            shape=(n_items, n_categories),
        )
        taste = user_items @ onehot
        totals = np.asarray(taste.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        self.taste = sp.diags(1.0 / totals).astype(np.float32) @ taste
        self.weighted = (onehot.multiply(popularity.reshape(-1, 1))).T.tocsr().astype(np.float32)
        self.popularity = popularity.astype(np.float32)
        self.item_category = item_category
        self.n_items = n_items

    def scores(self, userids: np.ndarray) -> np.ndarray:
        block = (self.taste[userids] @ self.weighted).toarray()
        return block + GLOBAL_SHARE * self.popularity

    def recommend(
        self,
        userid: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The dense result without the dense matrix: only a few items per category compete.

        Within a category the order is the popularity order for everyone, so a customer's
        top N lie among the first N + (their exclusions) items of each category they like,
        plus as many of the globally most popular items (the tiny global share). Scoring only
        those candidates is exact and costs O(users x liked categories x N).
        """
        userid = np.atleast_1d(userid)
        n_users, k = len(userid), min(N, self.n_items)
        out_ids = np.zeros((n_users, k), dtype=np.int32)
        out_scores = np.full((n_users, k), -np.inf, dtype=np.float32)
        if n_users == 0 or k == 0:
            return out_ids, out_scores
        excluded = user_items if filter_already_liked_items else None
        allowed = self.popularity > 0
        if filter_items is not None and len(filter_items):
            allowed[filter_items] = False
        order = np.lexsort((-self.popularity, self.item_category))
        order = order[allowed[order]]
        cats = self.item_category[order]
        n_cat = self.taste.shape[1]
        starts = np.searchsorted(cats, np.arange(n_cat))
        sizes = np.searchsorted(cats, np.arange(n_cat), side="right") - starts
        top_global = np.argsort(-self.popularity[order], kind="stable")
        step = CANDIDATE_USERS
        for lo in range(0, n_users, step):
            rows = np.arange(lo, min(lo + step, n_users))
            # a user's top k in a category lies within the first k + (their exclusions in it)
            taste = self.taste[userid[rows]].tocoo()
            in_cat = np.zeros(len(taste.row), dtype=np.int64)
            per_user = np.zeros(len(rows), dtype=np.int64)
            if excluded is not None:
                ex = excluded[rows].tocoo()
                per_user = np.bincount(ex.row, minlength=len(rows))
                keys = ex.row.astype(np.int64) * n_cat + self.item_category[ex.col]
                found, counts = np.unique(keys, return_counts=True)
                wanted = taste.row.astype(np.int64) * n_cat + taste.col
                at = np.clip(np.searchsorted(found, wanted), 0, max(len(found) - 1, 0))
                if len(found):
                    in_cat = np.where(found[at] == wanted, counts[at], 0)
            take = np.minimum(sizes[taste.col], k + in_cat)
            owner = np.repeat(taste.row, take)
            first = np.repeat(starts[taste.col], take)
            pos = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
            items = order[first + pos]
            share = np.repeat(taste.data, take)
            g = np.minimum(k + per_user, len(top_global))
            g_owner = np.repeat(np.arange(len(rows)), g)
            g_pos = np.arange(g.sum()) - np.repeat(np.cumsum(g) - g, g)
            g_items = order[top_global[g_pos]]
            owner = np.concatenate([owner, g_owner])
            items = np.concatenate([items, g_items])
            score = (
                np.concatenate([share, np.zeros(len(g_items), dtype=np.float32)])
                * self.popularity[items]
            ) + GLOBAL_SHARE * self.popularity[items]
            cand = pl.DataFrame(
                {"u": owner.astype(np.int32), "i": items.astype(np.int32), "s": score},
            )
            if excluded is not None:
                ex = excluded[rows].tocoo()
                cand = cand.join(
                    pl.DataFrame({"u": ex.row.astype(np.int32), "i": ex.col.astype(np.int32)}),
                    on=["u", "i"],
                    how="anti",
                )
            # one row per (user, item): an item can come from its category and the global top;
            # then the k best per user, ties broken by item index (deterministic)
            top = (
                cand.group_by("u", "i")
                .agg(pl.col("s").max())
                .sort(["u", "s", "i"], descending=[False, True, False])
                .with_columns(r=pl.int_range(pl.len()).over("u"))
                .filter(pl.col("r") < k)
            )
            u = rows[0] + top.get_column("u").to_numpy()
            r = top.get_column("r").to_numpy()
            out_ids[u, r] = top.get_column("i").to_numpy()
            out_scores[u, r] = top.get_column("s").to_numpy()
        return out_ids, out_scores


class PopularityScorer:
    """The same popularity list for everyone (before exclusions); never a product nobody
    took. One score column and implicit's top-k: no dense (users x items) block."""

    def __init__(self, popularity: np.ndarray):
        self.popularity = popularity.astype(np.float32)
        self.n_items = len(popularity)

    def recommend(
        self,
        userid: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        userid = np.atleast_1d(userid)
        never = np.flatnonzero(self.popularity <= 0)
        if filter_items is not None and len(filter_items):
            never = np.union1d(never, filter_items)
        ids, scores = topk(
            self.popularity.reshape(-1, 1),
            np.ones((len(userid), 1), dtype=np.float32),
            min(N, self.n_items),
            filter_query_items=user_items if filter_already_liked_items and len(userid) else None,
            filter_items=never.astype(np.int32) if len(never) else None,
        )
        return np.atleast_2d(ids), np.atleast_2d(scores)
