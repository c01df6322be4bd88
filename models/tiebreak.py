"""Lists that do not depend on how customers were batched.

A float32 matrix product gives the same customer slightly different scores (last bits) in a
batch of one and in a batch of 200,000, and libraries break exact ties by whatever order the
batch left them in. So a customer's list could change with the chunk size, the sample the gate
drew, or the number of customers that night. Here the scorer's top ``k + TIE_MARGIN`` are
ordered by score, ties by item index, and cut to ``k``; where the scores come from factors
(ALS, BPR) and two of a customer's scores are close enough for rounding to have decided their
order, that customer's candidates are re-scored (one float64 dot product per pair, computed
the same way for every row).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TIE_MARGIN = 4  # extra items asked of a scorer so that ties at the k-th place resolve by index
FILTERED = -1e30  # implicit marks filtered slots with -FLT_MAX, not -inf
NEAR = 1e-5  # relative gap under which float32 rounding may have decided an order
RESCORE_ROWS = 8_192  # customers re-scored at once: (rows x k x factors) float64 temporaries


def settle_ties(
    model: Any, users: np.ndarray, ids: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, scores)`` of ``users`` best first, equal scores by item index, cut to ``k``.

    Slots the scorer filtered (``-inf``, or implicit's ``-FLT_MAX``) stay last as ``-inf``.
    """
    kept = np.isfinite(scores) & (scores > FILTERED)
    scores = np.where(kept, scores, -np.inf).astype(np.float64)
    factors = _factors(model)
    if factors is not None and ids.size:
        close = _near_ties(scores)
        if close.any():
            exact = factor_scores(*factors, users[close], ids[close])
            scores[close] = np.where(kept[close], exact, -np.inf)
    order = np.lexsort((ids, -scores), axis=1)[:, :k]
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _near_ties(scores: np.ndarray) -> np.ndarray:
    """Rows where two kept scores are within float32 noise of each other (relative 1e-5):
    only there can the library's rounding decide the order, so only those are re-scored."""
    ordered = -np.sort(-scores, axis=1)
    finite = np.isfinite(ordered)
    ordered = np.where(finite, ordered, 0.0)
    gap = np.abs(np.diff(ordered, axis=1))
    scale = np.maximum(np.abs(ordered[:, :-1]), 1e-12)
    return ((gap <= NEAR * scale) & finite[:, 1:]).any(axis=1)


def factor_scores(
    user_factors: np.ndarray, item_factors: np.ndarray, users: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """``user_factors[users[r]] . item_factors[ids[r, j]]`` in float64 for every slot.

    ``einsum`` reduces each pair over the factor axis in one fixed order, so the value depends
    only on the two vectors, never on the other rows: identical items tie exactly.
    """
    out = np.empty(ids.shape, dtype=np.float64)
    for lo in range(0, len(users), RESCORE_ROWS):
        rows = slice(lo, lo + RESCORE_ROWS)
        u = user_factors[users[rows]].astype(np.float64)
        v = item_factors[ids[rows]].astype(np.float64)
        out[rows] = np.einsum("uf,ukf->uk", u, v)
    return out


def _factors(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The (user, item) factor arrays of a matrix-factorisation model on the CPU, else None."""
    users = getattr(model, "user_factors", None)
    items = getattr(model, "item_factors", None)
    if isinstance(users, np.ndarray) and isinstance(items, np.ndarray):
        return users, items
    return None
