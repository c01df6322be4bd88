"""Candidate recommenders behind one interface, so ranking and evaluation treat them alike.

Every trained candidate is a *scorer*: an object with implicit's ``recommend`` signature
(``userids, user_items, N, filter_already_liked_items, filter_items``) where ``user_items``
holds, per requested user, the items that must NOT be offered (exclusions). ALS and BPR are
implicit's own models. Item-item models (cosine, BM25) and buy-again rank only the non-zero
scores of each customer (``SparseScorer``); category popularity looks only at the items that can
win; all of them treat "no signal" as not recommendable (the ranking stage fills such lists
from popularity, marked as such).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.topk import topk
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from models.hybrid import HybridScorer, propensity
from models.sparse_topk import sparse_recommend
from models.train import ALSParams, TrainingError, check_factors, per_iteration, train_als

MODEL_KINDS = ("als", "bpr", "item_cosine", "item_bm25")
BASELINE_KINDS = ("popular", "popular_all_time", "popular_category", "buy_again")
DEFAULTS: dict[str, dict[str, Any]] = {
    "als": {"factors": 64, "regularization": 0.05, "alpha": 2.0, "iterations": 15},
    "bpr": {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
    "item_cosine": {"neighbours": 50},
    "item_bm25": {"neighbours": 50, "k1": 1.2, "b": 0.75},
    "popular": {},
    "popular_all_time": {},
    "popular_category": {},
    "buy_again": {},
    "hybrid": {"explore": "als", "repeat_weight": 4.0, "min_repeat": 0, "min_explore": 2},
}
MODEL_CLASSES: dict[str, Any] = {
    "als": AlternatingLeastSquares,
    "bpr": BayesianPersonalizedRanking,
    "item_cosine": CosineRecommender,
    "item_bm25": BM25Recommender,
}
DENSE_BLOCK = 20_000_000  # scores held at once by dense scorers (80 MB of float32)
GLOBAL_SHARE = 1e-6  # category popularity: weight of global popularity (breaks ties, fills)


class Scorer(Protocol):
    def recommend(
        self,
        userid: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ModelSpec:
    """A candidate: its kind and parameters (missing parameters take the kind's defaults)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == "hybrid" and self.params.get("explore", "als") not in MODEL_KINDS:
            raise ValueError(f"hybrid explores with a model kind, one of {MODEL_KINDS}")
        if self.kind not in DEFAULTS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose from {sorted(DEFAULTS)}")
        unknown = set(self.params) - set(DEFAULTS[self.kind])
        if unknown:
            raise ValueError(f"{self.kind} has no parameters {sorted(unknown)}")

    @property
    def full_params(self) -> dict[str, Any]:
        return {**DEFAULTS[self.kind], **self.params}

    @property
    def is_baseline(self) -> bool:
        return self.kind in BASELINE_KINDS

    @property
    def label(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})" if inner else self.kind


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


class SparseScorer:
    """Top-k from sparse score rows (``models.sparse_topk``): subclasses give
    ``score_rows(userids) -> sparse (n, items)``; only the non-zero scores are ranked."""

    n_items: int

    def score_rows(self, userids: np.ndarray) -> sp.spmatrix:
        raise NotImplementedError

    def recommend(
        self,
        userid: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return sparse_recommend(
            self.score_rows,
            self.n_items,
            userid,
            user_items,
            N,
            filter_already_liked_items,
            filter_items,
        )


class ItemItemScorer(SparseScorer):
    """Scores = the customer's interactions times implicit's item-item similarity matrix: a
    history times a K-neighbour similarity has few non-zeros, so it is ranked sparsely."""

    def __init__(
        self, model: CosineRecommender | BM25Recommender, user_items: sp.csr_matrix
    ) -> None:
        self.model = model
        self.user_items = user_items
        self.n_items = user_items.shape[1]
        self.similarity = sp.csr_matrix(model.similarity, dtype=np.float32)

    def score_rows(self, userids: np.ndarray) -> sp.spmatrix:
        return self.user_items[userids] @ self.similarity

    def scores(self, userids: np.ndarray) -> np.ndarray:
        """The same scores as a dense block (the reference the sparse ranking is tested on)."""
        return self.score_rows(userids).toarray()


class BuyAgainScorer(SparseScorer):
    """The customer's own due purchases, by decayed frequency x probability of buying again
    (``models.repurchase.buy_again``); nothing else (popularity fills the rest of a list)."""

    def __init__(self, repeat_scores: sp.csr_matrix):
        self.repeat_scores = sp.csr_matrix(repeat_scores, dtype=np.float32)
        self.n_items = repeat_scores.shape[1]

    def score_rows(self, userids: np.ndarray) -> sp.spmatrix:
        return self.repeat_scores[userids]


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
        step = 50_000
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


def train(
    spec: ModelSpec,
    user_items: sp.csr_matrix,
    *,
    seed: int,
    item_category: np.ndarray | None = None,
    popularity: np.ndarray | None = None,
    warm: tuple[np.ndarray, np.ndarray, int] | None = None,
    repeat: sp.csr_matrix | None = None,
    bought: sp.csr_matrix | None = None,
    inner: Scorer | None = None,
    progress: Callable[[], None] | None = None,
) -> Scorer:
    """Fit the candidate ``spec`` on the weighted user-item matrix.

    ``warm`` (user factors, item factors, iterations): ALS starts from these factors and runs
    that many iterations instead of ``iterations``. ``progress``: called per ALS/BPR iteration.
    """
    p = spec.full_params
    if user_items.nnz == 0:
        raise TrainingError("no interactions before the as-of date: nothing to train on")
    if spec.kind == "als":
        if warm is None:
            return train_als(user_items, ALSParams(**p), seed=seed, progress=progress)
        params = ALSParams(**{**p, "iterations": warm[2]})
        return train_als(user_items, params, seed=seed, init=(warm[0], warm[1]), progress=progress)
    if spec.kind == "popular":
        assert popularity is not None
        return PopularityScorer(popularity)
    if spec.kind == "hybrid":  # buy-again and discovery fused per customer (models/hybrid.py)
        if repeat is None or bought is None:
            raise TrainingError("hybrid needs the purchase history (Inputs.buy_again, .bought)")
        if inner is None:
            explore = ModelSpec(p["explore"])
            inner = train(explore, user_items, seed=seed, popularity=popularity, progress=progress)
        return HybridScorer(
            inner,
            BuyAgainScorer(repeat),
            bought,
            propensity(bought),
            repeat_weight=p["repeat_weight"],
            min_repeat=p["min_repeat"],
            min_explore=p["min_explore"],
            explore_kind=p["explore"],
        )
    if spec.kind == "buy_again":  # the customer's own due purchases (models/repurchase.py)
        if repeat is None:
            raise TrainingError("buy_again needs the purchase history (Inputs.buy_again)")
        return BuyAgainScorer(repeat)
    if spec.kind == "popular_all_time":  # customers per product over the whole lookback
        counts = np.bincount(user_items.indices, minlength=user_items.shape[1])
        return PopularityScorer(counts.astype(np.float64))
    if spec.kind == "popular_category":
        assert item_category is not None and popularity is not None
        return CategoryPopularityScorer(user_items, item_category, popularity)
    with threadpool_limits(1, "blas"):
        if spec.kind == "bpr":
            model = BayesianPersonalizedRanking(
                factors=p["factors"],
                learning_rate=p["learning_rate"],
                regularization=p["regularization"],
                iterations=p["iterations"],
                random_state=seed,
                num_threads=1,  # BPR's parallel SGD is not reproducible; one thread is
            )
            model.fit(user_items, show_progress=False, callback=per_iteration(progress))
            check_factors(model)
            return model
        if spec.kind == "item_cosine":
            knn: CosineRecommender | BM25Recommender = CosineRecommender(K=p["neighbours"])
        else:
            knn = BM25Recommender(K=p["neighbours"], K1=p["k1"], B=p["b"])
        with warnings.catch_warnings():
            # implicit's own BM25/cosine weighting hands its fit a COO matrix and then warns
            warnings.simplefilter("ignore", ParameterWarning)
            knn.fit(user_items, show_progress=False)
    return ItemItemScorer(knn, user_items)
