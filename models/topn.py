"""Top-N of a scorer for a batch of customers, their already-liked items filtered.

implicit's CPU ``recommend`` hands its ``topk`` the liked items as a scipy CSR matrix, and
``topk`` takes them out one row at a time (``filter_query_items[row].indices``): scipy's row
indexing costs about 70 us a call, 70 s for a million customers, more than the matrix product
itself. For implicit's CPU matrix-factorisation models (ALS, BPR) the same ``topk`` is called
here with the same factors and a row view that costs a slice, so the result is identical to
``model.recommend(...)``; every other scorer (item-item, buy-again, hybrid, the GPU models)
goes through its own ``recommend``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.matrix_factorization_base import MatrixFactorizationBase
from implicit.cpu.topk import topk


class _Row:
    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices


class LikedRows:
    """``rows[i].indices``: the column indices of row ``i`` of a CSR matrix, as a view."""

    __slots__ = ("indices", "indptr")

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self.indptr = matrix.indptr
        self.indices = matrix.indices

    def __getitem__(self, row: int) -> _Row:
        return _Row(self.indices[self.indptr[row] : self.indptr[row + 1]])


def top_n(
    model: Any,
    users: np.ndarray,
    liked: sp.csr_matrix,
    n: int,
    filter_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``model.recommend(users, liked, N=n, filter_already_liked_items=True, filter_items=...)``.

    ``liked`` has one row per entry of ``users``. Filtered slots come back as implicit marks
    them (``-FLT_MAX``), as from ``recommend``.
    """
    if not isinstance(model, MatrixFactorizationBase):
        return model.recommend(
            users, liked, N=n, filter_already_liked_items=True, filter_items=filter_items
        )
    users = np.atleast_1d(users)
    if liked.shape[0] != len(users):
        raise ValueError("liked must have one row for every user")
    return topk(
        model.item_factors,
        model.user_factors[users],
        n,
        filter_query_items=LikedRows(sp.csr_matrix(liked)),
        filter_items=filter_items,
        num_threads=model.num_threads,
    )
