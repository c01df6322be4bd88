"""Top-k from sparse score rows: rank only the non-zero scores of each customer.

Item-item and buy-again scores are sparse (a customer's history times K neighbours, or their
own purchases), so ranking them densely (customers x products) wastes most of the work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

SPARSE_ROWS = 20_000  # customers scored at once (their non-zero scores only)
TOPK_ROWS = 2_048  # rows ranked at once (padded to the block's longest row)


def sparse_recommend(
    score_rows: Callable[[np.ndarray], sp.spmatrix],
    n_items: int,
    userid: np.ndarray,
    user_items: sp.csr_matrix,
    N: int,
    filter_already_liked_items: bool,
    filter_items: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """implicit's ``recommend`` result from sparse score rows: positive scores only, the
    exclusions (``user_items``, one row per requested user) and ``filter_items`` removed."""
    userid = np.atleast_1d(userid)
    n, k = len(userid), min(N, n_items)
    out_ids = np.zeros((n, k), dtype=np.int32)
    out_scores = np.full((n, k), -np.inf, dtype=np.float32)
    allowed = np.ones(n_items, dtype=np.float32)
    if filter_items is not None and len(filter_items):
        allowed[filter_items] = 0.0
    keep = sp.diags(allowed)
    for lo in range(0, n, SPARSE_ROWS):
        rows = np.arange(lo, min(lo + SPARSE_ROWS, n))
        scored = sp.csr_matrix(score_rows(userid[rows]) @ keep, dtype=np.float32)
        if filter_already_liked_items:
            liked = sp.csr_matrix(user_items[rows], dtype=np.float32, copy=True)
            liked.data[:] = 1.0
            scored = sp.csr_matrix(scored - scored.multiply(liked))
        scored.data[scored.data <= 0] = 0.0
        scored.eliminate_zeros()
        out_ids[rows], out_scores[rows] = _csr_top_k(scored, k)
    return out_ids, out_scores


def _csr_top_k(scored: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` largest stored values (best first, ties by column), -inf padded.

    Rows are taken shortest first in blocks padded to the block's longest row, so the padded
    work stays close to the number of stored values.
    """
    m = scored.shape[0]
    ids = np.zeros((m, k), dtype=np.int32)
    top = np.full((m, k), -np.inf, dtype=np.float32)
    by_length = np.argsort(np.diff(scored.indptr), kind="stable")
    for lo in range(0, m, TOPK_ROWS):
        rows = by_length[lo : lo + TOPK_ROWS]
        block = scored[rows]
        lengths = np.diff(block.indptr)
        width = int(lengths.max(initial=0))
        if width == 0:
            continue
        owner = np.repeat(np.arange(len(rows)), lengths)
        pos = np.arange(block.nnz) - np.repeat(block.indptr[:-1], lengths)
        values = np.full((len(rows), width), -np.inf, dtype=np.float32)
        columns = np.full((len(rows), width), np.iinfo(np.int32).max, dtype=np.int32)
        values[owner, pos] = block.data
        columns[owner, pos] = block.indices
        kk = min(k, width)
        if kk < width:
            part = np.argpartition(-values, kk - 1, axis=1)[:, :kk]
            values = np.take_along_axis(values, part, axis=1)
            columns = np.take_along_axis(columns, part, axis=1)
        order = np.lexsort((columns, -values), axis=1)
        v = np.take_along_axis(values, order, axis=1)
        c = np.take_along_axis(columns, order, axis=1)
        ids[rows, :kk] = np.where(np.isfinite(v), c, 0)
        top[rows, :kk] = v
    return ids, top
