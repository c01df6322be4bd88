"""Reasons: codes, anchors and texts (models.reasons, models.anchors), known answers first."""

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from implicit.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from flows.channels import channel_lists, pool_size
from flows.config import Settings, load_settings
from flows.errors import ConfigError
from models import columns as C
from models import reasons
from models.anchors import anchors
from models.recommender import fit, prepare, recommend
from tests.test_rules import TINY_ALS, shops

NO_ANCHORS = pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.ANCHOR: pl.String})
NO_PAIRS = pl.DataFrame(schema={C.PRODUCT: pl.String, "goes_with_id": pl.String, C.RANK: pl.Int32})


def _rows(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=[C.CUSTOMER, C.PRODUCT, C.SOURCE], orient="row")


def test_each_source_gets_its_code_in_the_documented_order():
    rows = _rows(
        ("c1", "new1", C.SOURCE_NEW),
        ("c1", "milk", "buy_again"),
        ("c1", "bread", "als"),  # bought before: restock, whatever the model says
        ("c1", "jam", "als"),  # goes with bread, which c1 bought
        ("c1", "tea", "als"),  # the model's anchor: cups, bought
        ("c1", "cake", "als"),  # the model's anchor: socks, only viewed
        ("c1", "soap", "als"),  # no anchor
        ("c1", "pen", "popular_category"),
        ("c1", "ink", C.SOURCE_FILL),
        ("c1", "cap", "popular_all_time"),
    )
    found = pl.DataFrame(
        {
            C.CUSTOMER: ["c1", "c1", "c1"],
            C.PRODUCT: ["tea", "cake", "jam"],
            C.ANCHOR: ["cups", "socks", "cups"],
        }
    )
    bought = pl.DataFrame({C.CUSTOMER: ["c1", "c1", "c1"], C.PRODUCT: ["bread", "cups", "milk"]})
    pairs = pl.DataFrame(
        {C.PRODUCT: ["bread", "cups"], "goes_with_id": ["jam", "jam"], C.RANK: [2, 1]},
        schema_overrides={C.RANK: pl.Int32},
    )
    out = reasons.assign(rows, anchors=found, bought=bought, goes_with=pairs)
    got = dict(zip(out[C.PRODUCT], zip(out[C.REASON], out[C.ANCHOR], strict=True), strict=True))
    assert got == {
        "new1": ("new", None),
        "milk": ("restock", None),
        "bread": ("restock", None),
        "jam": ("goes_with", "cups"),  # cups' list ranks jam first (rank 1 beats bread's 2)
        "tea": ("bought", "cups"),
        "cake": ("viewed", "socks"),
        "soap": ("for_you", None),
        "pen": ("popular_in_category", None),
        "ink": ("popular", None),
        "cap": ("popular", None),
    }
    winback = reasons.assign(rows, anchors=found, bought=bought, goes_with=pairs, winback=True)
    codes = dict(zip(winback[C.PRODUCT], winback[C.REASON], strict=True))
    assert codes["tea"] == codes["pen"] == "win_back" and codes["milk"] == "restock"


def test_texts_fill_titles_and_fall_back_to_ids():
    rows = pl.DataFrame(
        {
            C.PRODUCT: ["tea", "pen", "jam"],
            C.REASON: ["viewed", "popular_in_category", "restock"],
            C.ANCHOR: ["cups", None, None],
        }
    )
    shelf = pl.DataFrame(
        {
            C.PRODUCT: ["tea", "pen", "cups", "jam"],
            "title": ["Green tea", "Pen", "Blue cups", None],
            C.CATEGORY: ["drinks", "office", "kitchen", "food"],
        }
    )
    out = reasons.texts(rows, shelf, {"viewed": "you looked at {anchor}; try {product}"})
    assert out[C.REASON_TEXT].to_list() == [
        "you looked at Blue cups; try Green tea",
        "popular in office",
        "time to restock jam",  # no title: the product id
    ]


def test_bad_templates_are_refused_with_the_code_named(tmp_path):
    assert reasons.template_problems({"viewed": "because you viewed {anchor}"}) == []
    assert "unknown placeholder" in reasons.template_problems({"viewed": "{price}"})[0]
    assert "no anchor" in reasons.template_problems({"popular": "like {anchor}"})[0]
    assert "unknown reason code" in reasons.template_problems({"cheap": "x"})[0]
    (tmp_path / "offers.toml").write_text('[offers.reasons]\nrestock = "buy {title} again"\n')
    with pytest.raises(ConfigError, match="restock"):
        load_settings(tmp_path)


def test_item_item_anchor_is_the_largest_exact_contribution():
    class ItemItem:
        similarity = sp.csr_matrix(np.array([[0, 0, 0.9], [0, 0, 0.2], [0, 0, 0]], np.float32))

    history = sp.csr_matrix(np.array([[1, 3, 0], [0, 3, 0], [0, 0, 0]], np.float32))
    # c0 and item 2: item 0 gives 1 x 0.9, item 1 gives 3 x 0.2; c2 has no history; an item
    # never anchors its own offer, and a zero contribution is no anchor
    got = anchors(ItemItem(), history, np.array([0, 1, 2, 0]), np.array([2, 2, 2, 1]))
    assert got.tolist() == [0, 1, -1, -1]


def test_als_anchor_is_the_history_item_driving_the_score():
    # two taste groups; a customer of both is offered an item of group A: the anchor is from A
    rng = np.random.default_rng(0)
    rows = []
    for u in range(200):
        group = [0, 1, 2, 3] if u % 2 == 0 else [4, 5, 6, 7]
        rows += [(u, i, 1.0) for i in rng.choice(group, size=3, replace=False)]
    rows += [(200, 0, 1.0), (200, 4, 1.0)]
    u, i, w = map(np.array, zip(*rows, strict=True))
    user_items = sp.csr_matrix((w.astype(np.float32), (u, i)), shape=(201, 8))
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=4, iterations=10, random_state=0)
        model.fit(user_items, show_progress=False)
    got = anchors(model, user_items, np.array([200, 200]), np.array([1, 5]))
    assert got.tolist() == [0, 4]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops())
def test_every_row_has_a_reason_and_an_anchor_where_its_code_needs_one(shop):
    inputs, shop_k, email_k = shop
    fitted = fit(inputs, TINY_ALS, seed=0) if inputs.interactions.height else prepare(inputs)
    cfg = Settings(offers={"shop_k": shop_k, "email_k": email_k})
    lists = channel_lists(recommend(fitted, pool_size(cfg)), inputs, cfg, fitted=fitted)
    history = set(inputs.interactions.select(C.CUSTOMER, C.PRODUCT).rows())
    for frame in lists.values():
        assert set(frame[C.REASON]) <= set(reasons.DEFAULT_TEMPLATES)
        assert frame[C.REASON_TEXT].null_count() == 0
        for customer, product, code, anchor in frame.select(
            C.CUSTOMER, C.PRODUCT, C.REASON, C.ANCHOR
        ).rows():
            if code in reasons.NEEDS_ANCHOR:
                assert (customer, anchor) in history and anchor != product
            else:
                assert anchor is None
