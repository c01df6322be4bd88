"""Incremental nights: refresh a stored ALS model on tonight's data instead of retraining it.

Between full retrains only the customers whose history changed (and products the stored model
never saw) get new factors, each solved exactly on their full row (column) of tonight's matrix
with the other side's factors held fixed (implicit's ``partial_fit_items`` / ``partial_fit_users``).
Everyone else keeps the stored factors as they are. Items are solved first, so that customers
are then solved against every product's factors, the new ones included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from models import columns as C
from models.recommender import Fitted, StoredModel, reuse
from models.train import TrainingError, check_factors

LAST_AT = "last_at"  # newest interaction of a (customer, product) pair (marts/interactions)


def changed_users(prepared: Fitted, interactions: pl.DataFrame, since: dt.datetime) -> np.ndarray:
    """Indices (tonight's maps) of customers with an interaction at or after ``since``.

    Without a ``last_at`` column nothing says what changed: every customer with history is
    returned (a correct, if slower, refresh).
    """
    if LAST_AT not in interactions.columns:
        return np.flatnonzero(np.diff(prepared.user_items.indptr) > 0)
    recent = interactions.filter(pl.col(LAST_AT) >= since).select(C.CUSTOMER).unique()
    idx = prepared.users.to_index(recent, C.CUSTOMER, C.USER_IDX).get_column(C.USER_IDX)
    return np.sort(idx.to_numpy()).astype(np.int64)


def refresh_als(
    stored: Fitted, prepared: Fitted, changed: np.ndarray, new_items: np.ndarray
) -> Fitted:
    """Tonight's model from the stored ALS model translated onto tonight's maps (``reuse``).

    ``new_items``: products to solve (those the stored model did not know); ``changed``:
    customers to solve (history changed, or unknown to the stored model). Both are indices on
    tonight's maps; customers without history tonight are skipped. The stored model is not
    modified. Returns ``prepared`` with the refreshed model, every row counted as known.
    """
    source = stored.model
    if not isinstance(source, AlternatingLeastSquares) or stored.spec is None:
        raise TrainingError("only an ALS model can be refreshed incrementally")
    user_items = prepared.user_items
    if user_items.dtype != np.float32:
        user_items = user_items.astype(np.float32)
    user_items = sp.csr_matrix(user_items)
    users = np.asarray(source.user_factors, dtype=np.float32)
    items = np.asarray(source.item_factors, dtype=np.float32)
    if users.shape[0] != user_items.shape[0] or items.shape[0] != user_items.shape[1]:
        raise TrainingError("the stored model is not translated onto tonight's maps")
    has_history = np.diff(user_items.indptr) > 0
    changed = np.unique(np.asarray(changed, dtype=np.int64))
    changed = changed[has_history[changed]]
    new_items = np.unique(np.asarray(new_items, dtype=np.int64))
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=source.factors,
            regularization=source.regularization,
            alpha=source.alpha,
            iterations=source.iterations,
            random_state=source.random_state,
            num_threads=source.num_threads,
        )
        model.user_factors = np.array(users, dtype=np.float32, copy=True, order="C")
        model.item_factors = np.array(items, dtype=np.float32, copy=True, order="C")
        if len(new_items):
            item_users = user_items.T.tocsr()
            model.partial_fit_items(new_items, item_users[new_items])
        if len(changed):
            model.partial_fit_users(changed, user_items[changed])
    check_factors(model)
    return replace(
        prepared,
        model=model,
        spec=stored.spec,
        known_users=None,
        known_items=None,
    )


def refresh(
    prepared: Fitted, interactions: pl.DataFrame, stored: StoredModel, since: dt.datetime
) -> tuple[Fitted, int, int]:
    """``stored`` (an ALS model trained earlier) refreshed on ``prepared`` (tonight's maps and
    matrix): products it never saw are solved, then customers it never saw or with an
    interaction at or after ``since``. Returns the model and how many customers and products
    were solved."""
    translated = reuse(prepared, stored)
    assert translated.known_users is not None and translated.known_items is not None
    changed = np.union1d(
        changed_users(prepared, interactions, since), np.flatnonzero(~translated.known_users)
    )
    changed = changed[np.diff(prepared.user_items.indptr)[changed] > 0]
    new_items = np.flatnonzero(~translated.known_items)
    return refresh_als(translated, prepared, changed, new_items), len(changed), len(new_items)
