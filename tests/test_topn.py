"""top_n: implicit's own topk with a cheap row view gives exactly what recommend gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from models.topn import LikedRows, top_n


def _fitted(kind: str, matrix: sp.csr_matrix):
    with threadpool_limits(1, "blas"):
        if kind == "als":
            model = AlternatingLeastSquares(factors=8, iterations=2, random_state=0)
        else:
            model = BayesianPersonalizedRanking(factors=8, iterations=2, random_state=0)
        model.fit(matrix, show_progress=False)
    return model


MATRIX = sp.random(300, 80, density=0.08, format="csr", random_state=3, dtype=np.float32)
MODELS = {kind: _fitted(kind, MATRIX) for kind in ("als", "bpr")}


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["als", "bpr"]),
    users=st.lists(st.integers(0, 299), min_size=1, max_size=250, unique=True),
    n=st.integers(1, 90),
    blocked=st.lists(st.integers(0, 79), max_size=10, unique=True),
)
def test_top_n_is_exactly_what_recommend_gives(kind, users, n, blocked):
    model = MODELS[kind]
    users = np.array(users)
    n = min(n, 80)
    filter_items = np.array(blocked, dtype=np.int32) if blocked else None
    with threadpool_limits(1, "blas"):
        want = model.recommend(users, MATRIX[users], N=n, filter_items=filter_items)
        got = top_n(model, users, MATRIX[users], n, filter_items=filter_items)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # nothing the customer liked and nothing blocked is ranked with a real score
    for row, user in enumerate(users):
        real = got[0][row][got[1][row] > -1e30]
        assert not set(real) & set(MATRIX[user].indices)
        assert not set(real) & set(blocked)


def test_liked_rows_are_views_of_each_row():
    rows = LikedRows(MATRIX)
    for i in (0, 17, 299):
        np.testing.assert_array_equal(rows[i].indices, MATRIX[i].indices)


def test_other_scorers_use_their_own_recommend():
    class Fixed:
        def recommend(self, userid, user_items, N, filter_already_liked_items, filter_items):
            assert filter_already_liked_items
            return np.tile(np.arange(N), (len(userid), 1)), np.ones((len(userid), N))

    ids, _ = top_n(Fixed(), np.array([1, 2]), MATRIX[[1, 2]], 3)
    assert ids.tolist() == [[0, 1, 2], [0, 1, 2]]


def test_a_liked_matrix_of_the_wrong_height_is_refused():
    with pytest.raises(ValueError, match="one row for every user"):
        top_n(MODELS["als"], np.array([1, 2]), MATRIX[[1]], 3)
