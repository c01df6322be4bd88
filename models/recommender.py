"""From history frames to ranked lists: the recommender as plain functions.

``fit`` builds id maps and the weighted CSR matrix and trains a candidate (ALS by default);
``recommend`` applies the business rules and returns per-customer lists.
``recommend(fitted, k, use_model=False)`` is the popularity baseline under the very same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from models import candidates, rank
from models import columns as C
from models.candidates import ModelSpec, Scorer
from models.hybrid import HybridScorer
from models.idmap import IdMap
from models.matrix import user_item_matrix


@dataclass(frozen=True)
class Inputs:
    """Everything the recommender may see, already cut at the as-of date.

    interactions: (customer_id, product_id, weight) over the training window.
    recent: same shape over the popularity window (recent popularity).
    exclusions: (customer_id, product_id) pairs never to offer.
    customers: (customer_id, email_consent) customers who get lists.
    products: (product_id, category) every known product.
    offerable: (product_id) products that may be offered (active, in stock).
    buy_again: (customer_id, product_id, weight) bought products due again, scored
    (``models.repurchase.buy_again``); None: no buy-again candidate.
    bought: (customer_id, product_id) everything bought before the as-of date (repeat vs
    explore in evaluation).
    """

    interactions: pl.DataFrame
    recent: pl.DataFrame
    exclusions: pl.DataFrame
    customers: pl.DataFrame
    products: pl.DataFrame
    offerable: pl.DataFrame
    buy_again: pl.DataFrame | None = None  # (customer_id, product_id, weight) due again
    bought: pl.DataFrame | None = None  # (customer_id, product_id, orders) bought before


@dataclass
class Fitted:
    """A trained model with the id maps and matrices it was trained on."""

    users: IdMap
    items: IdMap
    user_items: sp.csr_matrix
    exclusions: sp.csr_matrix
    popularity: np.ndarray
    blocked_items: np.ndarray
    item_category: np.ndarray
    repeat_scores: sp.csr_matrix | None = None  # buy-again weights on these maps
    bought: sp.csr_matrix | None = None  # orders holding each bought product, on these maps
    model: Scorer | None = None
    spec: ModelSpec | None = None
    # a stored model knows only some of tonight's customers/products (True: it knows them)
    known_users: np.ndarray | None = None
    known_items: np.ndarray | None = None
    # customers who get lists (signed up before the as-of date); None: every user
    served: np.ndarray | None = None
    # how tonight's model was built (recorded in its metadata): {"training": "full"|...}
    training: dict[str, Any] | None = None

    @property
    def warm_users(self) -> np.ndarray:
        """Users the model can serve: history in the window, and known to the model."""
        active = np.diff(self.user_items.indptr) > 0
        if self.known_users is not None:
            active &= self.known_users
        return np.flatnonzero(active)

    @property
    def untrained_items(self) -> np.ndarray:
        """Items the model has no signal for (never interacted with, or new to it)."""
        seen = np.bincount(self.user_items.indices, minlength=len(self.items)) > 0
        if self.known_items is not None:
            seen &= self.known_items
        return np.flatnonzero(~seen)


def prepare(inputs: Inputs) -> Fitted:
    """Id maps, matrices, popularity and blocked items of these inputs; no model yet.

    Every per-user and per-item array is indexed by the maps built here, from these inputs.
    """
    users = IdMap.from_ids(
        pl.concat(
            [
                inputs.customers.get_column(C.CUSTOMER),
                inputs.interactions.get_column(C.CUSTOMER),
            ]
        )
    )
    items = IdMap.from_ids(inputs.products.get_column(C.PRODUCT))
    user_items = user_item_matrix(inputs.interactions, users, items)
    known = inputs.exclusions.filter(pl.col(C.CUSTOMER).is_in(users.ids.implode()))
    exclusions = user_item_matrix(known, users, items, value=None)
    recent = items.to_index(
        inputs.recent.group_by(C.PRODUCT).agg(pl.col(C.WEIGHT).sum()), C.PRODUCT, C.ITEM_IDX
    )
    popularity = np.zeros(len(items), dtype=np.float64)
    popularity[recent.get_column(C.ITEM_IDX).to_numpy()] = recent.get_column(C.WEIGHT).to_numpy()
    offerable = items.to_index(inputs.offerable.select(C.PRODUCT), C.PRODUCT, C.ITEM_IDX)
    allowed = np.zeros(len(items), dtype=bool)
    allowed[offerable.get_column(C.ITEM_IDX).to_numpy()] = True
    category = (
        items.to_index(inputs.products.select(C.PRODUCT, C.CATEGORY), C.PRODUCT, C.ITEM_IDX)
        .sort(C.ITEM_IDX)
        .get_column(C.CATEGORY)
        .fill_null("")
        .cast(pl.Categorical)
        .to_physical()
        .to_numpy()
        .astype(np.int32)
    )
    repeat = None
    if inputs.buy_again is not None:
        again = inputs.buy_again.filter(
            pl.col(C.CUSTOMER).is_in(users.ids.implode())
            & pl.col(C.PRODUCT).is_in(items.ids.implode())
        )
        repeat = user_item_matrix(again, users, items)
    orders = None
    if inputs.bought is not None:
        pairs = inputs.bought.filter(
            pl.col(C.CUSTOMER).is_in(users.ids.implode())
            & pl.col(C.PRODUCT).is_in(items.ids.implode())
        )
        orders = user_item_matrix(pairs, users, items, value="orders")
    served = users.to_index(inputs.customers.select(C.CUSTOMER), C.CUSTOMER, C.USER_IDX)
    return Fitted(
        served=np.sort(served.get_column(C.USER_IDX).to_numpy()),
        users=users,
        items=items,
        user_items=user_items,
        exclusions=exclusions,
        popularity=popularity,
        blocked_items=np.flatnonzero(~allowed).astype(np.int32),
        item_category=category,
        repeat_scores=repeat,
        bought=orders,
    )


def fit(
    inputs: Inputs, spec: ModelSpec, *, seed: int, progress: Callable[[], None] | None = None
) -> Fitted:
    """Prepare the matrices and train the candidate ``spec`` on them (``progress``: called
    once per training iteration of ALS and BPR)."""
    return fit_prepared(prepare(inputs), spec, seed=seed, progress=progress)


def fit_prepared(
    prepared: Fitted,
    spec: ModelSpec,
    *,
    seed: int,
    warm_from: Fitted | None = None,
    warm_iterations: int = 0,
    inner: Scorer | None = None,
    progress: Callable[[], None] | None = None,
) -> Fitted:
    """Train ``spec`` on already prepared matrices (several candidates share one ``prepare``).

    ``warm_from``: an ALS model already translated onto these maps (``reuse``) whose factors
    start the fit, for ``warm_iterations`` iterations; rows it does not know start randomly.
    ``inner``: for a hybrid, its explore model already trained on these matrices.
    ``progress``: called once per training iteration (ALS, BPR).
    """
    warm = None
    if warm_from is not None and warm_iterations > 0:
        warm = _warm_start(prepared, warm_from, spec, seed, warm_iterations)
    model = candidates.train(
        spec,
        prepared.user_items,
        seed=seed,
        item_category=prepared.item_category,
        popularity=prepared.popularity,
        warm=warm,
        repeat=prepared.repeat_scores,
        bought=prepared.bought,
        inner=inner,
        progress=progress,
    )
    return replace(prepared, model=model, spec=spec)


def can_warm_start(stored: ModelSpec, spec: ModelSpec) -> bool:
    """Only ALS from ALS with the same parameters (the iteration count aside)."""
    if spec.kind != "als" or stored.kind != "als":
        return False
    same = {k: v for k, v in stored.full_params.items() if k != "iterations"}
    return same == {k: v for k, v in spec.full_params.items() if k != "iterations"}


def _warm_start(
    prepared: Fitted, source: Fitted, spec: ModelSpec, seed: int, iterations: int
) -> tuple[np.ndarray, np.ndarray, int] | None:
    model = source.model
    if source.spec is None or not can_warm_start(source.spec, spec):
        return None
    rng = np.random.default_rng(seed)
    start = []
    for factors, known in (
        (model.user_factors, source.known_users),  # type: ignore[union-attr]
        (model.item_factors, source.known_items),  # type: ignore[union-attr]
    ):
        factors = np.asarray(factors, dtype=np.float32)
        fresh = (rng.random(factors.shape, dtype=np.float32) * 0.01).astype(np.float32)
        mask = np.ones(len(factors), bool) if known is None else known
        start.append(np.where(mask[:, None], factors, fresh))
    return start[0], start[1], iterations


def reuse(prepared: Fitted, stored: StoredModel) -> Fitted:
    """A stored model translated onto tonight's id maps, ready to recommend.

    Customers and products are matched by id through the stored model's own maps; those it
    never saw are marked unknown (customers get the popularity fallback, products are offered
    by popularity only). Products it knew that are gone tonight are dropped.
    """
    user_pos = stored.users.positions(prepared.users.ids)
    item_pos = stored.items.positions(prepared.items.ids)
    model = _translate(stored.model, user_pos, item_pos, prepared)
    if model is None:  # popularity baselines keep no state: rebuild on tonight's data
        return fit_prepared(prepared, stored.spec, seed=0)
    spec = stored.spec
    if spec.kind == "hybrid":
        return replace(
            fit_prepared(prepared, spec, seed=0, inner=model),
            known_users=user_pos >= 0,
            known_items=item_pos >= 0,
        )
    return replace(
        prepared,
        model=model,
        spec=spec,
        known_users=user_pos >= 0,
        known_items=item_pos >= 0,
    )


def _translate(
    model: Scorer | None, user_pos: np.ndarray, item_pos: np.ndarray, prepared: Fitted
) -> Scorer | None:
    """A stored scorer re-indexed onto ``prepared``'s maps (None: nothing to translate)."""
    if hasattr(model, "user_factors"):  # implicit matrix factorisation (ALS, BPR)
        model.user_factors = _take_rows(np.asarray(model.user_factors), user_pos)  # type: ignore[union-attr]
        model.item_factors = _take_rows(np.asarray(model.item_factors), item_pos)  # type: ignore[union-attr]
        for cached in ("_user_norms", "_item_norms"):  # norms of the old rows, if cached
            if hasattr(model, cached):
                setattr(model, cached, None)
        return model
    if isinstance(model, candidates.ItemItemScorer):
        model.model.similarity = _take_square(model.model.similarity, item_pos)
        return candidates.ItemItemScorer(model.model, prepared.user_items)
    return None


def _take_rows(factors: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Row ``pos[i]`` of ``factors`` for each i (zeros where ``pos`` is -1)."""
    out = np.zeros((len(pos), factors.shape[1]), dtype=factors.dtype)
    known = pos >= 0
    out[known] = factors[pos[known]]
    return out


def _take_square(similarity: sp.spmatrix, pos: np.ndarray) -> sp.csr_matrix:
    """``S'[i, j] = S[pos[i], pos[j]]`` (zero where either is unknown), as CSR."""
    known = np.flatnonzero(pos >= 0)
    select = sp.csr_matrix(
        (np.ones(len(known), dtype=np.float32), (known, pos[known])),
        shape=(len(pos), similarity.shape[0]),
    )
    return (select @ sp.csr_matrix(similarity) @ select.T).tocsr().astype(np.float32)


@dataclass(frozen=True)
class StoredModel:
    """A model trained on an earlier night, with the id maps it was trained under."""

    spec: ModelSpec
    model: Scorer
    users: IdMap
    items: IdMap


def recommend(
    fitted: Fitted, k: int, *, use_model: bool = True, users: np.ndarray | None = None
) -> pl.DataFrame:
    """Ranked lists (customer_id, rank, product_id, score, source) for every user.

    Lists go to the served customers only (a customer with history but a sign-up date after
    the as-of date gets none); ``users`` (indices) narrows them further (evaluation).
    """
    n = len(fitted.users)
    if users is None:
        everyone = np.arange(n) if fitted.served is None else np.unique(fitted.served)
    else:
        # a chunk of a million customers: masks cost O(customers), not a sort of the million
        served = np.zeros(n, dtype=bool)
        served[slice(None) if fitted.served is None else fitted.served] = True
        users = np.unique(np.asarray(users, dtype=np.int64))
        everyone = users[served[users]]
    is_warm = np.zeros(n, dtype=bool)
    is_warm[fitted.warm_users] = True
    lists = rank.build_lists(
        fitted.model if use_model else None,
        warm_users=everyone[is_warm[everyone]],
        cold_users=everyone[~is_warm[everyone]],
        exclusions=fitted.exclusions,
        blocked_items=fitted.blocked_items,
        popularity=fitted.popularity,
        k=k,
        model_source=fitted.spec.kind if fitted.spec is not None else C.SOURCE_MODEL,
        untrained_items=fitted.untrained_items,
    )
    if isinstance(fitted.model, HybridScorer) and use_model:
        lists = _label_hybrid(lists, fitted)
    return rank.to_offers(lists, fitted.users, fitted.items)


def _label_hybrid(lists: pl.DataFrame, fitted: Fitted) -> pl.DataFrame:
    """A hybrid's rows say which list they came from: ``buy_again`` or the explore model."""
    model = fitted.model
    assert isinstance(model, HybridScorer) and fitted.repeat_scores is not None
    due = fitted.repeat_scores.tocoo()
    repeat = pl.DataFrame(
        {C.USER_IDX: due.row.astype(np.int32), C.ITEM_IDX: due.col.astype(np.int32)}
    ).with_columns(pl.lit(True).alias("_repeat"))
    return (
        lists.join(repeat, on=[C.USER_IDX, C.ITEM_IDX], how="left")
        .with_columns(
            pl.when(pl.col(C.SOURCE) != "hybrid")
            .then(pl.col(C.SOURCE))
            .when(pl.col("_repeat"))
            .then(pl.lit("buy_again"))
            .otherwise(pl.lit(model.explore_kind))
            .alias(C.SOURCE)
        )
        .drop("_repeat")
    )
