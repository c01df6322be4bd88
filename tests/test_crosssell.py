"""Goes-with lists: association by lift on hand-made baskets."""

from __future__ import annotations

import polars as pl
import pytest

from models.crosssell import goes_with


def baskets(*orders: str) -> pl.DataFrame:
    """One string per order, one letter per product."""
    rows = [(f"o{i}", p) for i, order in enumerate(orders) for p in order]
    return pl.DataFrame(rows, schema=["order_id", "product_id"], orient="row")


def test_lift_support_and_confidence_known_answers():
    # 10 orders: a and b together 4 times; a alone 1; b alone 1; c with a once; d, e filler
    got = goes_with(
        baskets("ab", "ab", "ab", "ab", "a", "b", "ac", "d", "de", "e"), min_support=2, top=5
    )
    row = got.filter(pl.col("product_id") == "a").row(0, named=True)
    assert (row["goes_with_id"], row["rank"], row["support"]) == ("b", 1, 4)
    assert row["confidence"] == pytest.approx(4 / 6)  # a is in 6 orders
    assert row["lift"] == pytest.approx(4 * 10 / (6 * 5))  # b is in 5 orders
    # (a, c) has support 1 < 2: left out; d-e once: left out
    assert set(got["product_id"]) == {"a", "b"}
    assert got.filter(pl.col("product_id") == "b")["goes_with_id"].to_list() == ["a"]


def test_no_lift_no_rule_big_baskets_skipped_and_ties_ordered():
    # x is in every order: lift of anything with x is 1, so never listed
    got = goes_with(baskets("xa", "xa", "xb", "xb", "xab"), min_support=1)
    assert "x" not in set(got["goes_with_id"]) and "x" not in set(got["product_id"])
    # a 4-line basket above max_basket=3 is ignored entirely
    assert (
        goes_with(baskets("pq", "pq", "pqrs"), min_support=1, max_basket=3)
        .filter(pl.col("product_id") == "r")
        .height
        == 0
    )
    # equal lift and support: the lower id first, every run
    tied = goes_with(baskets("mn", "mo", "mn", "mo", "z"), min_support=1)
    assert tied.filter(pl.col("product_id") == "m")["goes_with_id"].to_list() == ["n", "o"]
