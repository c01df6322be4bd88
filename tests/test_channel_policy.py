"""Who gets which list (models.channels): eligibility, winback, discovery under the caps."""

import polars as pl

from models import columns as C
from models.channels import Audience, ChannelRules, recipients, select


def _pool(customers: list[str], n: int) -> pl.DataFrame:
    rows = [(c, r, f"p{r}", float(n - r), "als") for c in customers for r in range(1, n + 1)]
    return pl.DataFrame(
        rows, schema=[C.CUSTOMER, C.RANK, C.PRODUCT, C.SCORE, C.SOURCE], orient="row"
    ).with_columns(pl.col(C.RANK).cast(pl.Int32))


def _audience(**kw) -> Audience:
    customers = pl.DataFrame(
        {C.CUSTOMER: ["a", "b", "c", "d"], C.EMAIL_CONSENT: [True, True, True, False]}
    )
    products = pl.DataFrame(
        {
            C.PRODUCT: [f"p{i}" for i in range(1, 31)] + ["n1", "n2", "n3"],
            C.CATEGORY: [f"k{i % 6}" for i in range(1, 31)] + ["k1", "k1", "k2"],
        }
    )
    segments = pl.DataFrame(
        {
            C.CUSTOMER: ["a", "b", "c", "d"],
            C.SEGMENT: ["active", "lapsing", "vip", "lapsing"],
            "days_since_visit": pl.Series([1, 90, None, 3], dtype=pl.Int32),
        }
    )
    return Audience(customers=customers, products=products, segments=segments, **kw)


def test_email_needs_consent_and_lapsing_customers_get_the_winback_list_instead():
    email, winback = recipients(_audience(), ChannelRules())
    assert sorted(email) == ["a", "c"] and list(winback) == ["b"]  # d: no consent
    email, winback = recipients(_audience(), ChannelRules(winback_k=0))
    assert sorted(email) == ["a", "b", "c"] and winback.len() == 0
    # only customers away from the shop for 30 days; never seen counts as away
    email, winback = recipients(_audience(), ChannelRules(email_min_days_since_visit=30))
    assert list(email) == ["c"] and list(winback) == ["b"]


def test_every_list_carries_the_segment_and_winback_rows_are_lapsing():
    pool = _pool(["a", "b", "c", "d"], 30)
    lists = select(pool, _audience(), ChannelRules(new_slots_shop=0))
    assert (
        lists[C.CHANNEL_SHOP].group_by(C.CUSTOMER).len().sort(C.CUSTOMER)["len"].to_list()
        == [20] * 4
    )
    assert set(lists[C.CHANNEL_WINBACK][C.CUSTOMER]) == {"b"}
    assert set(lists[C.CHANNEL_EMAIL][C.CUSTOMER]) == {"a", "c"}
    segment = dict(lists[C.CHANNEL_SHOP].select(C.CUSTOMER, C.SEGMENT).unique().rows())
    assert segment == {"a": "active", "b": "lapsing", "c": "vip", "d": "lapsing"}


def test_discovery_slots_take_new_products_within_the_category_cap():
    pool = _pool(["a"], 30)
    fresh = pl.DataFrame(
        {
            C.CUSTOMER: ["a", "a", "a"],
            C.PRODUCT: ["n1", "n2", "n3"],
            C.SCORE: [0.9, 0.8, 0.1],
            C.SOURCE: [C.SOURCE_NEW] * 3,
            C.CATEGORY: ["k1", "k1", "k2"],
        }
    )
    rules = ChannelRules(shop_per_category=5, new_slots_shop=2)
    shop = select(pool, _audience(discovery=fresh), rules)[C.CHANNEL_SHOP]
    assert shop.height == 20 and shop[C.RANK].to_list() == list(range(1, 21))
    new = shop.filter(pl.col(C.SOURCE) == C.SOURCE_NEW)
    # the top 20 (p1..p20) hold 4 of k1 and 4 of k2: room for one more of each, so n1 and n3
    # go in and n2 (k1 again) does not
    assert sorted(new[C.PRODUCT]) == ["n1", "n3"] and 1 not in new[C.RANK].to_list()
    categories = shop.join(_audience().products, on=C.PRODUCT).group_by(C.CATEGORY).len()
    assert categories["len"].max() <= 5
