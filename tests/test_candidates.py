"""Candidate scorers: the fast category-popularity path equals its dense definition."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from models import popularity as popularity_module
from models.candidates import ItemItemScorer, ModelSpec, train
from models.popularity import CategoryPopularityScorer, DenseScorer


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_category_popularity_candidates_match_the_dense_scores(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, n_cats = rng.integers(1, 30), rng.integers(1, 40), rng.integers(1, 6)

    def sparse(density: float) -> sp.csr_matrix:
        return sp.random(
            n_users, n_items, density=density, random_state=rng, format="csr", dtype=np.float32
        )

    user_items, exclusions = sparse(rng.uniform(0, 0.4)), sparse(rng.uniform(0, 0.3))
    category = rng.integers(0, n_cats, n_items).astype(np.int32)
    popularity = np.where(rng.random(n_items) < 0.7, rng.integers(1, 100, n_items), 0)
    scorer = CategoryPopularityScorer(user_items, category, popularity.astype(np.float64))
    blocked = np.flatnonzero(rng.random(n_items) < 0.2).astype(np.int32)
    k = int(rng.integers(1, 12))
    users = np.arange(n_users)

    fast = scorer.recommend(users, exclusions, N=k, filter_items=blocked)
    dense = DenseScorer.recommend(scorer, users, exclusions, N=k, filter_items=blocked)
    block, popularity_module.CANDIDATE_USERS = popularity_module.CANDIDATE_USERS, 4
    try:  # customers taken a few at a time get the very same lists
        blocked_fast = scorer.recommend(users, exclusions, N=k, filter_items=blocked)
    finally:
        popularity_module.CANDIDATE_USERS = block
    assert all(np.array_equal(a, b) for a, b in zip(fast, blocked_fast, strict=True))
    for u in users:
        got = [(s, i) for i, s in zip(*(a[u] for a in fast), strict=True) if np.isfinite(s)]
        want = [(s, i) for i, s in zip(*(a[u] for a in dense), strict=True) if np.isfinite(s)]
        # same scores in the same order (equal scores may list different items) ...
        assert np.allclose([s for s, _ in got], [s for s, _ in want], rtol=1e-5)
        # ... and every item offered is allowed and carries its true score
        dense_row = scorer.scores(np.array([u]))[0]
        for s, i in got:
            assert i not in blocked and exclusions[u, i] == 0
            assert np.isclose(s, np.float32(dense_row[i]), rtol=1e-5) and dense_row[i] > 0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["item_cosine", "item_bm25"]))
def test_item_item_sparse_ranking_matches_the_dense_scores(seed, kind):
    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(2, 30)), int(rng.integers(2, 40))
    user_items = sp.random(
        n_users, n_items, density=rng.uniform(0.05, 0.5), random_state=rng, format="csr",
        dtype=np.float32,
    )  # fmt: skip
    if user_items.nnz == 0:
        return
    scorer = train(ModelSpec(kind, {"neighbours": int(rng.integers(1, 10))}), user_items, seed=0)
    assert isinstance(scorer, ItemItemScorer)
    exclusions = sp.random(n_users, n_items, density=0.2, random_state=rng, format="csr")
    blocked = np.flatnonzero(rng.random(n_items) < 0.2).astype(np.int32)
    users = rng.permutation(n_users)[: int(rng.integers(1, n_users + 1))]
    k = int(rng.integers(1, 12))
    ids, scores = scorer.recommend(users, exclusions[users], N=k, filter_items=blocked)
    _, want = DenseScorer.recommend(scorer, users, exclusions[users], N=k, filter_items=blocked)
    assert np.allclose(
        np.where(np.isfinite(scores), scores, 0), np.where(np.isfinite(want), want, 0), rtol=1e-5
    )
    assert (np.isfinite(scores) == np.isfinite(want)).all()
    dense = scorer.scores(users)
    for row, u in enumerate(users):
        for i, s in zip(ids[row], scores[row], strict=True):
            if np.isfinite(s):
                assert i not in blocked and exclusions[u, i] == 0
                assert np.isclose(s, dense[row, i], rtol=1e-5)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_popular_lists_match_a_brute_force_ranking(seed):
    from models.rank import popular_lists

    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(1, 25)), int(rng.integers(1, 30))
    popularity = np.where(rng.random(n_items) < 0.8, rng.integers(0, 5, n_items), 0).astype(float)
    exclusions = sp.random(n_users, n_items, density=rng.uniform(0, 0.6), random_state=rng,
                           format="csr")  # fmt: skip
    blocked = np.flatnonzero(rng.random(n_items) < 0.2).astype(np.int32)
    users = rng.permutation(n_users)[: int(rng.integers(1, n_users + 1))]
    k = int(rng.integers(1, 10))
    got = popular_lists(popularity, users, exclusions, blocked, k)
    for u in users:
        free = [i for i in range(n_items)
                if popularity[i] > 0 and i not in blocked and exclusions[u, i] == 0]  # fmt: skip
        want = sorted(free, key=lambda i: (-popularity[i], i))[:k]
        mine = got.filter(pl.col("user_idx") == u).sort("rank")
        assert mine["item_idx"].to_list() == want
        assert mine["rank"].to_list() == list(range(1, len(want) + 1))
