"""Ranking: per-customer top-k lists with the business rules applied.

Rules that hold for every list: never an excluded pair (already bought, unless a consumable
is due again), never a blocked item (out of stock or inactive); customers the model cannot
serve (no history in the window) get recent popularity, marked as such; short model lists are
filled from popularity, marked as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from models import columns as C
from models.idmap import IdMap
from models.tiebreak import TIE_MARGIN, settle_ties
from models.topn import top_n

if TYPE_CHECKING:  # candidates builds on this module (the hybrid fuses ranked lists)
    from models.candidates import Scorer

POPULAR_BLOCK = 20_000_000  # (users x candidate items) flags held at once by popular_lists


def top_lists(ids: np.ndarray, scores: np.ndarray, users: np.ndarray) -> pl.DataFrame:
    """Flatten top-k arrays to (user_idx, item_idx, score, rank), dropping filtered slots."""
    k = ids.shape[1]
    valid = (ids >= 0) & np.isfinite(scores) & (scores > -1e30)
    user_col = np.repeat(users.astype(np.int32), k).reshape(-1, k)
    rank_col = np.tile(np.arange(1, k + 1, dtype=np.int32), (len(users), 1))
    # implicit returns each row best-first with filtered slots last, so ranks stay contiguous
    return pl.DataFrame(
        {
            C.USER_IDX: user_col[valid],
            C.ITEM_IDX: ids[valid].astype(np.int32),
            C.SCORE: scores[valid].astype(np.float64),
            C.RANK: rank_col[valid],
        }
    )


def model_lists(
    model: Scorer,
    users: np.ndarray,
    exclusions: sp.csr_matrix,
    blocked_items: np.ndarray,
    k: int,
    batch_size: int = 100_000,
) -> pl.DataFrame:
    """Top-k model scores for ``users`` (row indices), skipping excluded and blocked items."""
    # implicit pads rows with (item 0, score 0) when asked for more items than exist
    k = min(k, exclusions.shape[1])
    asked = min(k + TIE_MARGIN, exclusions.shape[1])
    parts = []
    with threadpool_limits(1, "blas"):
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            ids, scores = top_n(
                model,
                batch,
                exclusions[batch],
                asked,
                filter_items=blocked_items if len(blocked_items) else None,
            )
            ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
            # belt and braces: a blocked item never survives, whatever the library returned
            scores = np.where(np.isin(ids, blocked_items), -np.inf, scores)
            ids, scores = settle_ties(model, batch, ids, scores, k)
            parts.append(top_lists(ids, scores, batch))
    if not parts:
        return top_lists(np.empty((0, k), np.int32), np.empty((0, k), np.float32), users)
    return pl.concat(parts)


def popular_lists(
    popularity: np.ndarray,
    users: np.ndarray,
    exclusions: sp.csr_matrix,
    blocked_items: np.ndarray,
    k: int,
) -> pl.DataFrame:
    """Top-k by popularity for each of ``users``, with that user's exclusions applied.

    ``popularity`` has one score per item; items with score <= 0 are never offered. Ties go to
    the lower item index. Only the globally most popular ``k`` + (the user's exclusions) items
    can make a user's list, so only those are looked at: no users x items block.
    """
    allowed = popularity > 0
    allowed[blocked_items] = False
    order = np.flatnonzero(allowed)
    order = order[np.argsort(-popularity[order], kind="stable")]
    k = min(k, len(order))
    users = np.asarray(users)
    if k == 0 or len(users) == 0:
        return top_lists(np.empty((0, max(k, 1)), np.int32), np.empty((0, max(k, 1))), users[:0])
    rows = exclusions[users]
    m = min(len(order), k + int(np.diff(rows.indptr).max(initial=0)))
    top = order[:m]
    place = np.full(len(popularity), -1, dtype=np.int64)
    place[top] = np.arange(m)
    ids = np.zeros((len(users), k), dtype=np.int32)
    scores = np.full((len(users), k), -np.inf, dtype=np.float32)
    step = max(1, POPULAR_BLOCK // m)
    for lo in range(0, len(users), step):
        block = rows[lo : lo + step].tocoo()
        taken = np.zeros((min(step, len(users) - lo), m), dtype=bool)
        where = place[block.col]
        taken[block.row[where >= 0], where[where >= 0]] = True
        slot = np.cumsum(~taken, axis=1) - 1  # position among the free items
        keep = ~taken & (slot < k)
        r, c = np.nonzero(keep)
        ids[lo + r, slot[r, c]] = top[c]
        scores[lo + r, slot[r, c]] = popularity[top[c]]
    return top_lists(ids, scores, users)


def merge_with_fill(
    primary: pl.DataFrame, fill: pl.DataFrame, k: int, primary_source: str, fill_source: str
) -> pl.DataFrame:
    """Primary items first, then fill items not already listed, re-ranked 1..k per user."""
    both = pl.concat(
        [
            primary.with_columns(pl.lit(primary_source).alias(C.SOURCE), pl.lit(0).alias("_p")),
            fill.with_columns(pl.lit(fill_source).alias(C.SOURCE), pl.lit(1).alias("_p")),
        ]
    )
    return (
        both.sort([C.USER_IDX, "_p", C.RANK])
        .unique(subset=[C.USER_IDX, C.ITEM_IDX], keep="first", maintain_order=True)
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.USER_IDX).cast(pl.Int32).alias(C.RANK))
        .filter(pl.col(C.RANK) <= k)
        .drop("_p")
    )


def build_lists(
    model: Scorer | None,
    warm_users: np.ndarray,
    cold_users: np.ndarray,
    exclusions: sp.csr_matrix,
    blocked_items: np.ndarray,
    popularity: np.ndarray,
    k: int,
    model_source: str = C.SOURCE_MODEL,
    untrained_items: np.ndarray | None = None,
) -> pl.DataFrame:
    """Ranked lists for warm users (model, filled from popularity) and cold users (popularity).

    ``untrained_items`` are items the model saw no interaction with: their factors carry no
    signal, so the model may not offer them (popularity still may).
    Returns (user_idx, item_idx, score, rank, source), ``rank`` 1..k contiguous per user.
    With ``model=None`` every user gets the popularity list (the baseline).
    """
    if model is None:
        cold_users = np.union1d(warm_users, cold_users)
        warm_users = np.empty(0, dtype=np.int64)
    parts = []
    if len(warm_users):
        model_blocked = (
            blocked_items
            if untrained_items is None
            else np.union1d(blocked_items, untrained_items).astype(np.int32)
        )
        primary = model_lists(model, warm_users, exclusions, model_blocked, k)  # type: ignore[arg-type]
        full = primary.group_by(C.USER_IDX).len().filter(pl.col("len") >= k)
        need = np.setdiff1d(warm_users, full.get_column(C.USER_IDX).to_numpy())
        # fill only from items the model list does not already hold: ask for k more
        fill = popular_lists(popularity, need, exclusions, blocked_items, 2 * k)
        # full model lists pass through untouched; only short ones are merged with the fill
        short = pl.col(C.USER_IDX).is_in(pl.Series(need).implode())
        parts.append(primary.filter(~short).with_columns(pl.lit(model_source).alias(C.SOURCE)))
        parts.append(merge_with_fill(primary.filter(short), fill, k, model_source, C.SOURCE_FILL))
    if len(cold_users):
        cold = popular_lists(popularity, cold_users, exclusions, blocked_items, k)
        parts.append(cold.with_columns(pl.lit(C.SOURCE_COLD_START).alias(C.SOURCE)))
    if not parts:
        return pl.DataFrame(
            schema={
                C.USER_IDX: pl.Int32,
                C.ITEM_IDX: pl.Int32,
                C.SCORE: pl.Float64,
                C.RANK: pl.Int32,
                C.SOURCE: pl.String,
            }
        )
    return pl.concat(parts).select(C.USER_IDX, C.ITEM_IDX, C.SCORE, C.RANK, C.SOURCE)


def in_order(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``frame`` sorted by ``key``, rank; the frame itself (no copy) when it already is, as
    candidate pools and offer lists come."""
    k, r = pl.col(key), pl.col(C.RANK)
    after = (k > k.shift()) | ((k == k.shift()) & (r > r.shift()))
    return frame if frame.select(after.fill_null(True).all()).item() else frame.sort(key, C.RANK)


def to_offers(lists: pl.DataFrame, users: IdMap, items: IdMap) -> pl.DataFrame:
    """Replace indices with external ids: (customer_id, rank, product_id, score, source)."""
    # indices are positions in the maps: a gather, not a hash join. Maps built fresh are
    # sorted by id, so (user index, rank) order is (customer_id, rank) order.
    lists = lists.sort(C.USER_IDX, C.RANK)
    return pl.DataFrame(
        {
            C.CUSTOMER: users.ids.gather(lists.get_column(C.USER_IDX)),
            C.RANK: lists.get_column(C.RANK),
            C.PRODUCT: items.ids.gather(lists.get_column(C.ITEM_IDX)),
            C.SCORE: lists.get_column(C.SCORE),
            C.SOURCE: lists.get_column(C.SOURCE),
        }
    )
