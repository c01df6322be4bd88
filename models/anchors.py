"""Anchors: for a model's offer of item i to customer u, the history item that contributes most.

Computed in batch for every offer, vectorised; implicit's per-user ``explain`` (a Cholesky
solve per customer) is far too slow for a million customers.

- ALS: the score is x_u . y_i with x_u = (Y'C_uY + reg I)^-1 Y'C_u p_u = sum_j c_uj W_u y_j, so
  item j contributes c_uj (y_i' W_u y_j). W_u is replaced by the customer-independent
  (Y'Y + reg I)^-1 (the customer's own term is dropped): contribution ~ c_uj (G y_i) . y_j.
- BPR (and any other factor model): c_uj * cosine(y_i, y_j).
- Item-item (cosine, BM25): the score is sum_j c_uj S[j, i], so item j contributes exactly
  c_uj S[j, i].
- A hybrid explains its explore picks with its explore model.

Only each customer's ``HISTORY_CAP`` heaviest history items are looked at; an item never
anchors its own offer; -1 where nothing contributes positively.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

HISTORY_CAP = 10  # history items per customer that may anchor an offer
BLOCK_USERS = 4_096  # customers whose (offers x history) contributions are held at once


def anchors(
    model: Any, user_items: sp.csr_matrix, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """The anchor item index of each (users[p], items[p]) offer, -1 where there is none."""
    out = np.full(len(users), -1, dtype=np.int64)
    similarity = _similarity(model)
    if similarity is None or len(users) == 0:
        return out
    uniq, slot_user = np.unique(users, return_inverse=True)
    history, weight = _heaviest(user_items[uniq], HISTORY_CAP)
    offered, pair_pos = _pad_offers(slot_user, items, len(uniq))
    for lo in range(0, len(uniq), BLOCK_USERS):
        rows = slice(lo, lo + BLOCK_USERS)
        hist = history[rows][:, None, :]
        contrib = similarity(offered[rows], history[rows]) * weight[rows][:, None, :]
        contrib[(hist < 0) | (hist == offered[rows][:, :, None])] = -np.inf
        best = np.argmax(contrib, axis=2)
        best_value = np.take_along_axis(contrib, best[:, :, None], axis=2)[:, :, 0]
        found = np.where(best_value > 0, np.take_along_axis(history[rows], best, axis=1), -1)
        block_pos = pair_pos[rows]
        has_pair = block_pos >= 0
        out[block_pos[has_pair]] = found[has_pair]
    return out


def _similarity(model: Any):
    """``f(offered (B, K), history (B, H)) -> (B, K, H)`` contributions per unit weight."""
    explore = getattr(model, "explore", None)
    if explore is not None:  # a hybrid: its explore picks are the model's
        return _similarity(explore)
    similarity = getattr(model, "similarity", None)
    if isinstance(similarity, sp.spmatrix | sp.sparray):
        return _lookup(sp.csr_matrix(similarity))
    item_factors = getattr(model, "item_factors", None)
    if isinstance(item_factors, np.ndarray):
        reg = getattr(model, "regularization", None)
        if hasattr(model, "alpha") and reg is not None:  # ALS
            gram = item_factors.T.astype(np.float64) @ item_factors.astype(np.float64)
            solved = np.linalg.solve(gram + reg * np.eye(gram.shape[0]), item_factors.T)
            return _factor_products(solved.T.astype(np.float32), item_factors)
        norms = np.linalg.norm(item_factors, axis=1, keepdims=True)
        unit = (item_factors / np.maximum(norms, 1e-12)).astype(np.float32)
        return _factor_products(unit, unit)
    return None


def _factor_products(left: np.ndarray, right: np.ndarray):
    def similarity(offered: np.ndarray, history: np.ndarray) -> np.ndarray:
        a = left[np.maximum(offered, 0)]  # (B, K, f)
        b = right[np.maximum(history, 0)]  # (B, H, f)
        return np.matmul(a, b.transpose(0, 2, 1))

    return similarity


def _lookup(similarity: sp.csr_matrix):
    def lookup(offered: np.ndarray, history: np.ndarray) -> np.ndarray:
        b, k = offered.shape
        h = history.shape[1]
        rows = np.broadcast_to(np.maximum(history, 0)[:, None, :], (b, k, h)).ravel()
        cols = np.broadcast_to(np.maximum(offered, 0)[:, :, None], (b, k, h)).ravel()
        values = np.asarray(similarity[rows, cols]).ravel() if rows.size else np.empty(0)
        return values.reshape(b, k, h).astype(np.float32)

    return lookup


def _heaviest(rows: sp.csr_matrix, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``cap`` largest entries (columns, values), heaviest first, -1/0 padded."""
    rows = sp.csr_matrix(rows)
    lengths = np.diff(rows.indptr)
    owner = np.repeat(np.arange(rows.shape[0]), lengths)
    order = np.lexsort((rows.indices, -rows.data, owner))
    place = np.arange(rows.nnz) - np.repeat(rows.indptr[:-1], lengths)
    keep = place < cap
    cols = np.full((rows.shape[0], cap), -1, dtype=np.int64)
    vals = np.zeros((rows.shape[0], cap), dtype=np.float32)
    cols[owner[keep], place[keep]] = rows.indices[order][keep]
    vals[owner[keep], place[keep]] = rows.data[order][keep]
    return cols, vals


def _pad_offers(slot_user: np.ndarray, items: np.ndarray, n_users: int):
    """Offers as a (users, K) item matrix (-1 padded) and each slot's index in the input."""
    order = np.argsort(slot_user, kind="stable")
    counts = np.bincount(slot_user, minlength=n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    place = np.arange(len(order)) - np.repeat(starts, counts)
    width = max(int(counts.max(initial=0)), 1)
    offered = np.full((n_users, width), -1, dtype=np.int64)
    pair_pos = np.full((n_users, width), -1, dtype=np.int64)
    offered[slot_user[order], place] = items[order]
    pair_pos[slot_user[order], place] = order
    return offered, pair_pos
