"""Candidate recommenders behind one interface, so ranking and evaluation treat them alike.

Every trained candidate is a *scorer*: an object with implicit's ``recommend`` signature
(``userids, user_items, N, filter_already_liked_items, filter_items``) where ``user_items``
holds, per requested user, the items that must NOT be offered (exclusions). ALS and BPR are
implicit's own models. Item-item models (cosine, BM25) and buy-again rank only the non-zero
scores of each customer (``SparseScorer``); category popularity (``models.popularity``) looks
only at the items that can win; all of them treat "no signal" as not recommendable (the ranking
stage fills such lists from popularity, marked as such).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from models.hybrid import HybridScorer, propensity
from models.popularity import CategoryPopularityScorer, PopularityScorer
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
    def trained_kind(self) -> str:
        """The kind whose model fitting trains and the registry stores: a hybrid's explore
        model, else the kind itself."""
        return self.full_params["explore"] if self.kind == "hybrid" else self.kind

    @property
    def label(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})" if inner else self.kind


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
