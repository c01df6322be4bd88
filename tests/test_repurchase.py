"""Buying again: the learned repurchase model, its exclusions and the buy-again score."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from models import columns as C
from models import repurchase as R
from models.candidates import BuyAgainScorer
from models.recommender import Inputs, fit, recommend

AS_OF = dt.datetime(2025, 2, 10)
PRODUCTS = pl.DataFrame({C.PRODUCT: ["p1", "p2", "p3"], C.CATEGORY: ["a", "a", "b"]})


def day(n: int) -> dt.datetime:
    """Day ``n`` of 2025 (1 = January 1st)."""
    return dt.datetime(2025, 1, 1) + dt.timedelta(days=n - 1)


def history(*rows: tuple) -> pl.DataFrame:
    """(customer, product, orders, first day, last day, returned, override days) rows."""
    return pl.DataFrame(
        {
            C.CUSTOMER: [r[0] for r in rows],
            C.PRODUCT: [r[1] for r in rows],
            "orders": [r[2] for r in rows],
            "first_at": [day(r[3]) for r in rows],
            "last_at": [day(r[4]) for r in rows],
            "frequency": [float(r[2]) for r in rows],
            "returned": [r[5] for r in rows],
            "override_days": [r[6] for r in rows],
        },
        schema_overrides={"override_days": pl.Int32, "orders": pl.Int64},
    )


HISTORY = history(
    ("c1", "p1", 3, 1, 21, False, None),  # two gaps of 10 days
    ("c2", "p1", 2, 5, 19, False, None),  # one gap of 14 days
    ("c3", "p1", 1, 36, 36, False, None),  # bought once, 5 days before the as-of date
    ("c1", "p2", 1, 2, 2, False, None),  # nobody buys p2 twice
    ("c2", "p3", 1, 3, 3, True, None),  # returned
    ("c3", "p3", 1, 3, 3, False, 7),  # a configured interval of 7 days
)


def test_learned_probability_and_interval_known_answers():
    exact = R.estimate(HISTORY, PRODUCTS, shrinkage=0.0)
    row = {r[C.PRODUCT]: r for r in exact.iter_rows(named=True)}
    assert (row["p1"]["buyers"], row["p1"]["repeaters"]) == (3, 2)
    assert row["p1"]["p_repeat"] == pytest.approx(2 / 3)
    assert row["p1"]["interval_days"] == pytest.approx(12.0)  # median of the gaps 10 and 14
    assert row["p2"]["p_repeat"] == 0.0
    assert row["p2"]["interval_days"] == pytest.approx(12.0)  # its category's interval
    assert row["p3"]["interval_days"] == pytest.approx(12.0)  # category b has none: the shop's
    # with 2 pseudo-buyers: category a repeats 2 of 4 (shop 2 of 6 = 1/3), so
    # rate(a) = (2 + 2/3) / 6 and p1 = (2 + 2 rate(a)) / 5; intervals all log-average 12 days
    shrunk = R.estimate(HISTORY, PRODUCTS, shrinkage=2.0)
    p1 = shrunk.filter(pl.col(C.PRODUCT) == "p1").row(0, named=True)
    rate_a = (2 + 2 * (2 / 6)) / 6
    assert p1["p_repeat"] == pytest.approx((2 + 2 * rate_a) / 5)
    assert p1["interval_days"] == pytest.approx(12.0)
    assert math.isclose(
        shrunk.filter(pl.col(C.PRODUCT) == "p2")["p_repeat"][0], (0 + 2 * rate_a) / 3
    )


def test_exclusions_and_buy_again_scores():
    model = R.estimate(HISTORY, PRODUCTS, shrinkage=0.0)
    policy = R.RepurchasePolicy(min_probability=0.15, shrinkage=0.0)
    excluded = set(R.exclusions(HISTORY, model, as_of=AS_OF, policy=policy).rows())
    # c1/p1 (20 days) and c2/p1 (22 days) are due; c3/p1 (5 days) is not; p2 is never bought
    # again; c2 returned p3; c3/p3 is due after its configured 7 days (38 days ago)
    assert excluded == {("c3", "p1"), ("c1", "p2"), ("c2", "p3")}
    again = R.buy_again(HISTORY, model, as_of=AS_OF, policy=policy)
    weights = {(c, p): w for c, p, w in again.rows()}
    assert weights == pytest.approx({("c1", "p1"): 3 * 2 / 3, ("c2", "p1"): 2 * 2 / 3,
                                     ("c3", "p3"): 1.0})  # fmt: skip
    only_configured = R.RepurchasePolicy(learned=False)
    excluded = set(R.exclusions(HISTORY, model, as_of=AS_OF, policy=only_configured).rows())
    assert excluded == {("c1", "p1"), ("c2", "p1"), ("c3", "p1"), ("c1", "p2"), ("c2", "p3")}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),  # customer
            st.integers(0, 4),  # product
            st.integers(1, 6),  # orders
            st.integers(1, 200),  # first purchase, days before the as-of date
            st.integers(0, 200),  # extra days before that of... last purchase offset
            st.booleans(),
            st.one_of(st.none(), st.integers(1, 90)),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.floats(0, 1),
)
def test_nothing_is_offered_again_before_its_interval(rows, min_probability):
    as_of = dt.datetime(2025, 6, 1)
    frame = pl.DataFrame(
        {
            C.CUSTOMER: [f"c{r[0]}" for r in rows],
            C.PRODUCT: [f"p{r[1]}" for r in rows],
            "orders": [r[2] for r in rows],
            "first_at": [as_of - dt.timedelta(days=r[3] + r[4]) for r in rows],
            "last_at": [as_of - dt.timedelta(days=r[3] if r[2] > 1 else r[3] + r[4]) for r in rows],
            "frequency": [float(r[2]) for r in rows],
            "returned": [r[5] for r in rows],
            "override_days": [r[6] for r in rows],
        },
        schema_overrides={"override_days": pl.Int32, "orders": pl.Int64},
    )
    products = pl.DataFrame(
        {C.PRODUCT: [f"p{i}" for i in range(5)], C.CATEGORY: ["a", "a", "b", "b", "c"]}
    )
    policy = R.RepurchasePolicy(min_probability=min_probability, shrinkage=3.0)
    model = R.estimate(frame, products, shrinkage=3.0)
    excluded = set(R.exclusions(frame, model, as_of=as_of, policy=policy).rows())
    offered = R.due(frame, model, as_of=as_of, policy=policy).filter(pl.col("due"))
    # every bought pair is either excluded or due, never both
    assert excluded | set(offered.select(C.CUSTOMER, C.PRODUCT).rows()) == set(
        frame.select(C.CUSTOMER, C.PRODUCT).rows()
    )
    for r in offered.iter_rows(named=True):
        assert (r[C.CUSTOMER], r[C.PRODUCT]) not in excluded
        assert not r["returned"]
        days = (as_of - r["last_at"]).total_seconds() / 86_400
        if r["override_days"] is not None:
            assert days >= r["override_days"]
        else:
            assert r["p_repeat"] >= min_probability and days >= r["interval_days"]


def test_buy_again_lists_hold_only_due_purchases_then_popularity():
    interactions = pl.DataFrame(
        {C.CUSTOMER: ["c1", "c1", "c2"], C.PRODUCT: ["p1", "p2", "p3"], C.WEIGHT: [1.0, 1.0, 1.0]}
    )
    catalogue = pl.DataFrame({C.PRODUCT: ["p1", "p2", "p3"], C.CATEGORY: ["a", "a", "b"]})
    inputs = Inputs(
        interactions=interactions,
        recent=interactions,
        exclusions=pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p2"]}),
        customers=pl.DataFrame({C.CUSTOMER: ["c1", "c2"], C.EMAIL_CONSENT: [True, True]}),
        products=catalogue,
        offerable=catalogue,
        buy_again=pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p1"], C.WEIGHT: [2.0]}),
    )
    from models.candidates import ModelSpec

    fitted = fit(inputs, ModelSpec("buy_again"), seed=0)
    assert isinstance(fitted.model, BuyAgainScorer)
    lists = recommend(fitted, 3)
    c1 = lists.filter(pl.col(C.CUSTOMER) == "c1")
    assert c1[C.PRODUCT].to_list() == ["p1", "p3"]  # p1 due again, then popularity; p2 excluded
    assert c1[C.SOURCE].to_list() == ["buy_again", "popular_fill"]
    c2 = lists.filter(pl.col(C.CUSTOMER) == "c2")
    assert c2[C.SOURCE][0] == "popular_fill" and np.all(c2[C.RANK].to_numpy() > 0)


def test_mixing_known_answers_and_minimum_slots():
    from models.hybrid import fuse, propensity

    repeat = (np.array([[1, 2]]), np.array([[5.0, 4.0]], dtype=np.float32))
    explore = (np.array([[3, 4]]), np.array([[0.9, 0.8]], dtype=np.float32))
    # 80% repeat: 2 of 3 slots, repeats first
    ids, scores = fuse(repeat, explore, np.array([0.8]), 3)
    assert ids[0].tolist() == [1, 2, 3]
    assert scores[0] == pytest.approx([1.0, 2 / 3, 1 / 3])
    ids, _ = fuse(repeat, explore, np.array([0.8]), 3, min_explore=2)
    assert ids[0].tolist() == [1, 3, 4]  # two slots kept for new products
    ids, _ = fuse(repeat, explore, np.array([0.2]), 2)
    assert ids[0].tolist() == [3, 4]  # round(2 x 0.2) = 0 repeat slots
    ids, _ = fuse(repeat, explore, np.array([0.2]), 2, min_repeat=1)
    assert ids[0].tolist() == [1, 3]
    # a list that runs out gives its slots to the other, and never invents items
    ids, scores = fuse(
        (np.array([[1, 0]]), np.array([[2.0, -np.inf]], dtype=np.float32)),
        (np.array([[0, 0]]), np.full((1, 2), -np.inf, dtype=np.float32)),
        np.array([0.0]),
        2,
    )
    assert ids[0, 0] == 1 and np.isinf(scores[0, 1])
    # propensity: c0 bought one product in 3 orders (2 repeats of 3 purchases), c1 two once
    orders = sp.csr_matrix(np.array([[3, 0, 0], [0, 1, 1]], dtype=np.float32))
    shop = 2 / 5
    assert propensity(orders) == pytest.approx([(2 + 5 * shop) / 8, (0 + 5 * shop) / 7])


def test_hybrid_lists_say_which_kind_each_row_is_and_explore_only_new_products():
    rng = np.random.default_rng(0)
    customers = [f"c{i}" for i in range(30)]
    products = [f"p{i:02d}" for i in range(20)]
    pairs = [(c, p) for c in customers for p in products if rng.random() < 0.3]
    interactions = pl.DataFrame(
        {C.CUSTOMER: [c for c, _ in pairs], C.PRODUCT: [p for _, p in pairs],
         C.WEIGHT: rng.uniform(1, 5, len(pairs))}
    )  # fmt: skip
    bought = interactions.sample(fraction=0.5, seed=1).select(C.CUSTOMER, C.PRODUCT)
    bought = bought.with_columns(orders=pl.Series(rng.integers(1, 4, bought.height)))
    due = bought.filter(pl.col("orders") >= 2).with_columns(pl.col("orders").alias(C.WEIGHT))
    catalogue = pl.DataFrame({C.PRODUCT: products, C.CATEGORY: ["a"] * 20})
    inputs = Inputs(
        interactions=interactions,
        recent=interactions,
        exclusions=bought.filter(pl.col("orders") < 2).select(C.CUSTOMER, C.PRODUCT),
        customers=pl.DataFrame({C.CUSTOMER: customers, C.EMAIL_CONSENT: [True] * 30}),
        products=catalogue,
        offerable=catalogue,
        buy_again=due.select(C.CUSTOMER, C.PRODUCT, C.WEIGHT),
        bought=bought,
    )
    from models.candidates import ModelSpec

    spec = ModelSpec("hybrid", {"min_explore": 3})
    lists = recommend(fit(inputs, spec, seed=0), 8)
    assert set(lists[C.SOURCE]) <= {"buy_again", "als", "popular_fill", "popular_cold_start"}
    labelled = lists.join(bought, on=[C.CUSTOMER, C.PRODUCT], how="left")
    again = labelled.filter(pl.col(C.SOURCE) == "buy_again")
    assert again.height > 0 and (again["orders"] >= 2).all()  # only due purchases
    assert labelled.filter(pl.col(C.SOURCE) == "als")["orders"].is_null().all()  # only new
    explore = lists.filter(pl.col(C.SOURCE) == "als").group_by(C.CUSTOMER).len()
    assert explore["len"].min() >= 3  # the minimum of new products holds for everyone
