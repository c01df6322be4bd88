"""Business rules on the offer lists: property tests over random shops, and the rule checker."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.channels import channel_lists
from flows.config import Settings
from flows.errors import DataQualityError
from models import columns as C
from models import reasons
from models.candidates import ModelSpec
from models.recommender import Inputs, fit, prepare, recommend
from models.rules import violations
from models.variety import cap_categories

TINY_ALS = ModelSpec("als", {"factors": 4, "iterations": 2})


@st.composite
def shops(draw: st.DrawFn) -> tuple[Inputs, int, int]:
    n_customers = draw(st.integers(1, 12))
    n_products = draw(st.integers(1, 15))
    customers = [f"c{i:02d}" for i in range(n_customers)]
    products = [f"p{i:02d}" for i in range(n_products)]
    consent = draw(st.lists(st.booleans(), min_size=n_customers, max_size=n_customers))
    offerable = draw(st.lists(st.booleans(), min_size=n_products, max_size=n_products))
    pairs = st.tuples(st.sampled_from(customers), st.sampled_from(products))
    seen = draw(st.lists(pairs, max_size=40, unique=True))
    weights = draw(
        st.lists(st.floats(0.01, 50.0, allow_nan=False), min_size=len(seen), max_size=len(seen))
    )
    recent_mask = draw(st.lists(st.booleans(), min_size=len(seen), max_size=len(seen)))
    excluded = draw(st.lists(pairs, max_size=25, unique=True))
    shop_k = draw(st.integers(1, 8))
    email_k = draw(st.integers(1, shop_k))

    interactions = pl.DataFrame(
        {
            C.CUSTOMER: [c for c, _ in seen],
            C.PRODUCT: [p for _, p in seen],
            C.WEIGHT: weights,
        },
        schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.WEIGHT: pl.Float64},
    )
    inputs = Inputs(
        interactions=interactions,
        recent=interactions.filter(pl.Series(recent_mask, dtype=pl.Boolean)),
        exclusions=pl.DataFrame(
            {C.CUSTOMER: [c for c, _ in excluded], C.PRODUCT: [p for _, p in excluded]},
            schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String},
        ),
        customers=pl.DataFrame({C.CUSTOMER: customers, C.EMAIL_CONSENT: consent}),
        products=pl.DataFrame(
            {C.PRODUCT: products, C.CATEGORY: [f"cat{i % 3}" for i in range(n_products)]}
        ),
        offerable=pl.DataFrame(
            {C.PRODUCT: [p for p, ok in zip(products, offerable, strict=True) if ok]},
            schema={C.PRODUCT: pl.String},
        ),
    )
    return inputs, shop_k, email_k


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(shops())
def test_lists_obey_every_rule(shop):
    inputs, shop_k, email_k = shop
    fitted = fit(inputs, TINY_ALS, seed=0) if inputs.interactions.height else prepare(inputs)
    cfg = Settings(offers={"shop_k": shop_k, "email_k": email_k})
    pool = recommend(fitted, shop_k)
    lists = channel_lists(pool, inputs, cfg)
    shop, email = lists[C.CHANNEL_SHOP], lists[C.CHANNEL_EMAIL]

    offerable = set(inputs.offerable.get_column(C.PRODUCT))
    excluded = set(inputs.exclusions.rows())
    consenting = set(inputs.customers.filter(pl.col(C.EMAIL_CONSENT)).get_column(C.CUSTOMER))
    warm = set(inputs.interactions.get_column(C.CUSTOMER))
    trained = set(inputs.interactions.get_column(C.PRODUCT))
    popular = set(inputs.recent.get_column(C.PRODUCT))

    for channel, frame in lists.items():
        pairs = list(zip(frame[C.CUSTOMER], frame[C.PRODUCT], strict=True))
        assert len(pairs) == len(set(pairs)), channel
        assert not set(pairs) & excluded, channel  # never an already-bought product
        assert set(frame[C.PRODUCT]) <= offerable, channel  # never out of stock or inactive
        assert np.isfinite(frame[C.SCORE].to_numpy()).all()
        # every row explains itself: a known code, a text, and an anchor where the code names one
        assert set(frame[C.REASON]) <= set(reasons.DEFAULT_TEMPLATES), channel
        assert frame[C.REASON_TEXT].null_count() == 0 and frame[C.SEGMENT].null_count() == 0
        anchored = frame.filter(pl.col(C.REASON).is_in(list(reasons.NEEDS_ANCHOR)))
        assert anchored[C.ANCHOR].null_count() == 0, channel
        assert (anchored[C.ANCHOR] != anchored[C.PRODUCT]).all(), channel
    assert set(email[C.CUSTOMER]) <= consenting  # never an email without consent

    for customer in inputs.customers.get_column(C.CUSTOMER):
        mine = shop.filter(pl.col(C.CUSTOMER) == customer)
        allowed = {p for p in offerable if (customer, p) not in excluded}
        candidates = allowed & ((trained | popular) if customer in warm else popular)
        # as long as the rules allow: a full list, ranks 1..n
        assert mine.height == min(shop_k, len(candidates)), customer
        assert mine[C.RANK].to_list() == list(range(1, mine.height + 1))
        sources = mine[C.SOURCE].to_list()
        if customer in warm:
            # model picks first, then popularity fill; the model only offers trained items
            assert sources == sorted(sources, key=lambda s: s != C.SOURCE_MODEL)
            assert set(sources) <= {C.SOURCE_MODEL, C.SOURCE_FILL}
            model_items = mine.filter(pl.col(C.SOURCE) == C.SOURCE_MODEL)[C.PRODUCT]
            assert set(model_items) <= trained
        else:
            assert set(sources) <= {C.SOURCE_COLD_START}
        # the email is the same pool under its own category cap (2 by default)
        theirs = pool.filter(pl.col(C.CUSTOMER) == customer)
        expected_email = cap_categories(
            theirs, inputs.products, cap=cfg.offers.email_per_category, k=email_k
        )
        if customer not in consenting:
            expected_email = expected_email.clear()
        got = email.filter(pl.col(C.CUSTOMER) == customer).select(expected_email.columns)
        assert got.equals(expected_email)


def _offer(customer: str, rank: int, product: str, score: float = 1.0) -> dict:
    return {
        C.CUSTOMER: customer,
        C.RANK: rank,
        C.PRODUCT: product,
        C.SCORE: score,
        C.SOURCE: C.SOURCE_MODEL,
    }


CHECK_INPUTS = {
    "offerable": pl.DataFrame({C.PRODUCT: ["p1", "p2", "p3"]}),
    "exclusions": pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p3"]}),
    "customers": pl.DataFrame({C.CUSTOMER: ["c1", "c2"], C.EMAIL_CONSENT: [True, False]}),
    "limits": {C.CHANNEL_SHOP: 3, C.CHANNEL_EMAIL: 1},
}


@pytest.mark.parametrize(
    ("shop", "email", "message"),
    [
        ([_offer("c1", 1, "p9")], [], "shop: 1 offers of products not offerable"),
        ([_offer("c1", 1, "p3")], [], "shop: 1 offers of already-bought products"),
        ([_offer("c1", 1, "p1"), _offer("c1", 2, "p1")], [], "shop: 2 repeated customer/product"),
        ([_offer("c1", 2, "p1")], [], "shop: 1 customers with ranks not 1..n"),
        ([_offer("c2", 1, "p1", float("nan"))], [], "shop: missing or NaN scores"),
        ([], [_offer("c1", 1, "p1"), _offer("c1", 2, "p2")], "email: a list is longer than 1"),
        ([], [_offer("c2", 1, "p1")], "email: 1 customers without email consent"),
    ],
)
def test_rule_checker_names_each_violation(shop, email, message):
    schema = {
        C.CUSTOMER: pl.String,
        C.RANK: pl.Int32,
        C.PRODUCT: pl.String,
        C.SCORE: pl.Float64,
        C.SOURCE: pl.String,
    }
    lists = {
        C.CHANNEL_SHOP: pl.DataFrame(shop, schema=schema),
        C.CHANNEL_EMAIL: pl.DataFrame(email, schema=schema),
    }
    problems = violations(lists, **CHECK_INPUTS)
    assert len(problems) == 1
    assert problems[0].startswith(message)
    clean = {k: v.clear() for k, v in lists.items()}
    assert violations(clean, **CHECK_INPUTS) == []


def test_broken_lists_are_refused_before_publishing():
    inputs = Inputs(
        interactions=pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p1"], C.WEIGHT: [1.0]}),
        recent=pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p1"], C.WEIGHT: [1.0]}),
        exclusions=pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String}),
        customers=pl.DataFrame({C.CUSTOMER: ["c1"], C.EMAIL_CONSENT: [False]}),
        products=pl.DataFrame({C.PRODUCT: ["p1", "p2"], C.CATEGORY: ["a", "a"]}),
        offerable=pl.DataFrame({C.PRODUCT: ["p1"]}),
    )
    out_of_stock = pl.DataFrame([_offer("c1", 1, "p2")]).with_columns(pl.col(C.RANK).cast(pl.Int32))
    with pytest.raises(DataQualityError, match="not offerable"):
        channel_lists(out_of_stock, inputs, Settings())


def test_a_list_longer_than_the_catalogue_holds_only_real_items():
    # implicit pads a request for more items than exist with (item 0, score 0): regression
    interactions = pl.DataFrame({C.CUSTOMER: ["c1"], C.PRODUCT: ["p1"], C.WEIGHT: [1.0]})
    inputs = Inputs(
        interactions=interactions,
        recent=interactions,
        exclusions=pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String}),
        customers=pl.DataFrame({C.CUSTOMER: ["c1"], C.EMAIL_CONSENT: [True]}),
        products=pl.DataFrame({C.PRODUCT: ["p1", "p2"], C.CATEGORY: ["a", "a"]}),
        offerable=pl.DataFrame({C.PRODUCT: ["p2"]}),
    )
    lists = recommend(fit(inputs, TINY_ALS, seed=0), 5)
    # p1 is out of stock; p2 was never interacted with and has no recent popularity
    assert lists.height == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops(), st.integers(1, 5), st.integers(1, 3))
def test_lists_made_in_chunks_equal_lists_made_at_once(shop, chunk, threads):
    from flows.channels import offer_lists, pool_size

    inputs, shop_k, email_k = shop
    fitted = fit(inputs, TINY_ALS, seed=0) if inputs.interactions.height else prepare(inputs)
    cfg = Settings(offers={"shop_k": shop_k, "email_k": email_k}, scale={"offer_threads": threads})
    at_once = channel_lists(recommend(fitted, pool_size(cfg)), inputs, cfg)
    chunked = offer_lists(fitted, inputs, cfg, chunk=chunk)
    for channel, frame in at_once.items():
        keys = [C.CUSTOMER, C.RANK, C.PRODUCT, C.SOURCE]
        assert chunked[channel].sort(keys).select(keys).equals(frame.sort(keys).select(keys))
