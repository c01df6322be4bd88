"""Lists do not depend on how customers were batched (models.tiebreak)."""

import numpy as np

from models.tiebreak import factor_scores, settle_ties


class _Factors:
    def __init__(self, users: np.ndarray, items: np.ndarray):
        self.user_factors, self.item_factors = users, items


def test_equal_scores_go_to_the_lower_item_index_and_filtered_slots_stay_last():
    model = object()  # no factors: the scores given are used as they are
    ids = np.array([[3, 1, 2, 0]])
    scores = np.array([[0.5, 0.5, -np.inf, np.float32(-3.4028235e38)]], dtype=np.float32)
    top_ids, top_scores = settle_ties(model, np.array([0]), ids, scores, k=3)
    assert top_ids.tolist() == [[1, 3, 0]]
    assert top_scores[0, :2].tolist() == [0.5, 0.5]
    assert np.isneginf(top_scores[0, 2])


def test_identical_items_tie_exactly_whatever_the_batch():
    rng = np.random.default_rng(0)
    users = rng.standard_normal((50, 16)).astype(np.float32)
    items = rng.standard_normal((6, 16)).astype(np.float32)
    items[4] = items[1]  # two products with the same factors
    model = _Factors(users, items)
    ids = np.tile(np.array([4, 1, 0]), (50, 1))
    noisy = np.zeros((50, 3), dtype=np.float32)  # the library's scores are replaced
    whole, _ = settle_ties(model, np.arange(50), ids, noisy, k=2)
    one_by_one = np.vstack(
        [settle_ties(model, np.array([u]), ids[[u]], noisy[[u]], k=2)[0] for u in range(50)]
    )
    assert np.array_equal(whole, one_by_one)
    # wherever the twin pair leads, item 1 comes before its twin 4
    lead = whole[:, 0] != 0
    assert (whole[lead] == [1, 4]).all()


def test_factor_scores_are_the_float64_dot_products():
    users = np.array([[1.0, 2.0], [0.5, -1.0]], dtype=np.float32)
    items = np.array([[3.0, 1.0], [0.0, 2.0]], dtype=np.float32)
    got = factor_scores(users, items, np.array([1, 0]), np.array([[0, 1], [1, 0]]))
    assert got.tolist() == [[0.5, -2.0], [4.0, 5.0]]
