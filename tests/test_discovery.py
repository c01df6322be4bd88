"""Discovery slots: new products found, matched by category and price band, put into lists."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import columns as C
from models import discovery
from models.discovery import (
    PRICE,
    discovery_candidates,
    discovery_ranks,
    insert_discovery,
    new_products,
)

HISTORY_SCHEMA = {C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.WEIGHT: pl.Float64}
PRODUCT_SCHEMA = {C.PRODUCT: pl.String, C.CATEGORY: pl.String, discovery.PRICE: pl.Float64}
LIST_SCHEMA = {C.CUSTOMER: pl.String, C.RANK: pl.Int32, C.PRODUCT: pl.String,
               C.SCORE: pl.Float64, C.SOURCE: pl.String, C.REASON: pl.String}  # fmt: skip
DISC_SCHEMA = {C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.SCORE: pl.Float64,
               C.SOURCE: pl.String, C.CATEGORY: pl.String}  # fmt: skip


def history(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA, orient="row")


def catalogue(rows: list[tuple[str, str | None, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PRODUCT_SCHEMA, orient="row")


def lists_frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """(customer, product) in rank order per customer; a reason column rides along."""
    ranks: dict[str, int] = {}
    out = []
    for customer, product in rows:
        ranks[customer] = ranks.get(customer, 0) + 1
        out.append((customer, ranks[customer], product, 1.0 / ranks[customer], "als", "viewed"))
    return pl.DataFrame(out, schema=LIST_SCHEMA, orient="row")


def disc_frame(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    out = [(c, p, s, C.SOURCE_NEW, "x") for c, p, s in rows]
    return pl.DataFrame(out, schema=DISC_SCHEMA, orient="row")


def products_of(frame: pl.DataFrame, customer: str) -> list[str]:
    return frame.filter(pl.col(C.CUSTOMER) == customer).sort(C.RANK)[C.PRODUCT].to_list()


# --- new_products -------------------------------------------------------------------------


def test_new_products_are_offerable_and_never_interacted_with():
    products = catalogue([("p1", "a", 1.0), ("p2", "a", 2.0), ("p3", "b", 3.0),
                          ("p4", "b", 4.0), ("p5", "c", 5.0)])  # fmt: skip
    interactions = history([("u", "p1", 1.0), ("v", "p1", 2.0), ("v", "p3", 1.0)])
    offerable = pl.DataFrame({C.PRODUCT: ["p1", "p2", "p3", "p4"]})
    got = new_products(products, interactions, offerable)
    assert got.columns == [C.PRODUCT, C.CATEGORY, discovery.PRICE]
    assert got.rows() == [("p2", "a", 2.0), ("p4", "b", 4.0)]  # p5 is not offerable


def test_new_products_seen_since_and_price_required():
    products = catalogue([("p1", "a", 1.0), ("p2", "a", 2.0)]).with_columns(
        pl.Series(discovery.FIRST_SEEN, [dt.date(2026, 1, 1), dt.date(2026, 3, 1)])
    )
    offerable = products.select(C.PRODUCT)
    none = history([])
    recent = new_products(products, none, offerable, seen_since=dt.date(2026, 2, 1))
    assert recent[C.PRODUCT].to_list() == ["p2"]
    assert discovery.FIRST_SEEN in recent.columns
    with pytest.raises(ValueError, match="price"):
        new_products(products.drop(discovery.PRICE), none, offerable)
    with pytest.raises(ValueError, match="first_seen"):
        new_products(products.drop(discovery.FIRST_SEEN), none, offerable, seen_since=dt.date.max)


# --- discovery_candidates -----------------------------------------------------------------

# u: A 6 + D 0.5 at price 10, B 3 at 20, C 1 at 100 -> top 3 = A, B, C; weighted median 10
KNOWN = catalogue([("a1", "A", 10.0), ("d1", "D", 10.0), ("b1", "B", 20.0), ("c1", "C", 100.0),
                   ("e1", "E", 1000.0)])  # fmt: skip
U_HISTORY = [("u", "a1", 6.0), ("u", "d1", 0.5), ("u", "b1", 3.0), ("u", "c1", 1.0)]
NEW = catalogue([
    ("nA1", "A", 12.0),  # in band, |log 1.2| = 0.18
    ("nA2", "A", 8.0),  # in band, |log 0.8| = 0.22
    ("nA3", "A", 30.0),  # above 10 * 2
    ("nA4", "A", 4.9),  # below 10 / 2
    ("nB1", "B", 20.0),  # on the band's edge: in
    ("nC1", "C", 10.0),  # third category
    ("nD1", "D", 10.0),  # D is the customer's 4th category
    ("nE1", "E", 900.0),  # a category the customer never touched
    ("nX1", None, 10.0),  # no category: never matches
])  # fmt: skip


def test_candidates_match_top_categories_within_the_price_band():
    got = discovery_candidates(history(U_HISTORY), KNOWN, NEW, per_customer=10)
    assert got.columns == [C.CUSTOMER, C.PRODUCT, C.SCORE, C.SOURCE, C.CATEGORY]
    assert got[C.PRODUCT].to_list() == ["nA1", "nA2", "nB1", "nC1"]
    assert got[C.SCORE].to_list() == pytest.approx([6 / 10.5, 6 / 10.5, 3 / 10.5, 1 / 10.5])
    assert set(got[C.SOURCE]) == {C.SOURCE_NEW}
    assert got[C.CATEGORY].to_list() == ["A", "A", "B", "C"]
    top2 = discovery_candidates(history(U_HISTORY), KNOWN, NEW, per_customer=2)
    assert top2[C.PRODUCT].to_list() == ["nA1", "nA2"]
    # a wider band lets nA3 (log distance 1.10) in after nA4 (0.71); fewer categories
    wide = discovery_candidates(
        history(U_HISTORY), KNOWN, NEW, per_customer=10, price_band=3.0, top_categories=1
    )
    assert wide[C.PRODUCT].to_list() == ["nA1", "nA2", "nA4", "nA3"]


def test_customers_without_history_get_none_and_ties_go_by_product_id():
    rows = [*U_HISTORY, ("w", "e1", 1.0), ("z", "a1", 0.0)]  # z: no positive weight
    new = pl.concat([NEW, catalogue([("nA0", "A", 12.0)])])  # same price as nA1
    got = discovery_candidates(history(rows), KNOWN, new, per_customer=3)
    assert got.filter(pl.col(C.CUSTOMER) == "u")[C.PRODUCT].to_list() == ["nA0", "nA1", "nA2"]
    assert got.filter(pl.col(C.CUSTOMER) == "w")[C.PRODUCT].to_list() == ["nE1"]
    assert set(got[C.CUSTOMER]) == {"u", "w"}
    empty = discovery_candidates(history([]), KNOWN, new, per_customer=3)
    assert empty.height == 0 and empty.columns == got.columns


def test_weighted_median_sets_the_band():
    # prices 10 (w 1), 40 (w 1), 50 (w 3): cumulative weight reaches 2.5 of 5 at price 50
    products = catalogue([("x1", "A", 10.0), ("x2", "A", 40.0), ("x3", "A", 50.0)])
    rows = [("u", "x1", 1.0), ("u", "x2", 1.0), ("u", "x3", 3.0)]
    new = catalogue([("n10", "A", 10.0), ("n30", "A", 30.0), ("n100", "A", 100.0)])
    got = discovery_candidates(history(rows), products, new, per_customer=5)
    assert got[C.PRODUCT].to_list() == ["n30", "n100"]  # band [25, 100] around 50


def test_each_category_considers_a_bounded_number_of_new_products(monkeypatch):
    monkeypatch.setattr(discovery, "MAX_NEW_PER_CATEGORY", 2)
    new = catalogue([("n1", "A", 10.0), ("n2", "A", 10.0), ("n3", "A", 10.0)])
    got = discovery_candidates(history(U_HISTORY), KNOWN, new, per_customer=5)
    assert got[C.PRODUCT].to_list() == ["n1", "n2"]  # by product id without first_seen
    dated = new.with_columns(
        pl.Series(discovery.FIRST_SEEN, [dt.date(2026, 1, d) for d in (1, 3, 2)])
    )
    got = discovery_candidates(history(U_HISTORY), KNOWN, dated, per_customer=5)
    assert got[C.PRODUCT].to_list() == ["n2", "n3"]  # the two most recently first seen


def test_price_band_below_one_is_refused():
    with pytest.raises(ValueError, match="price_band"):
        discovery_candidates(history(U_HISTORY), KNOWN, NEW, per_customer=1, price_band=0.5)


# --- insert_discovery ---------------------------------------------------------------------


def test_discovery_ranks_rule():
    assert discovery_ranks(20, 1) == [11]
    assert discovery_ranks(20, 2) == [7, 14]
    assert discovery_ranks(20, 3) == [6, 11, 16]
    assert discovery_ranks(20, 4) == [5, 9, 13, 17]
    assert discovery_ranks(5, 2) == [2, 4]
    assert discovery_ranks(3, 5) == [2, 3]  # at most k - 1: rank 1 is never discovery
    assert discovery_ranks(1, 1) == []
    assert discovery_ranks(20, 0) == []


def test_full_list_gets_discovery_at_fixed_ranks_and_keeps_its_length():
    full = [f"l{i:02d}" for i in range(1, 21)]
    lists = lists_frame([("u", p) for p in full])
    disc = disc_frame([("u", "d3", 0.1), ("u", "d1", 0.9), ("u", "l05", 0.95), ("u", "d2", 0.5)])
    got = insert_discovery(lists, disc, k=20, slots=2)
    assert got.columns == lists.columns and got.schema == lists.schema
    # l05 is already in the list: skipped; d1, d2 at ranks 7 and 14; l19, l20 pushed out
    expected = [*full[:6], "d1", *full[6:12], "d2", *full[12:18]]
    assert products_of(got, "u") == expected
    assert got[C.RANK].to_list() == list(range(1, 21))
    new_rows = got.filter(pl.col(C.SOURCE) == C.SOURCE_NEW)
    assert new_rows[C.RANK].to_list() == [7, 14]
    assert new_rows[C.SCORE].to_list() == [0.9, 0.5]
    assert new_rows[C.REASON].to_list() == [None, None]  # columns discovery lacks stay null


def test_short_lists_take_discovery_at_their_end_and_grow_up_to_k():
    lists = lists_frame([("s", p) for p in ["a", "b", "c"]] + [("m", f"m{i}") for i in range(1, 9)])
    disc = disc_frame([("s", "d1", 1.0), ("s", "d2", 0.5), ("m", "d1", 1.0), ("m", "d2", 0.5),
                       ("nobody", "d1", 1.0)])  # fmt: skip
    got = insert_discovery(lists, disc, k=20, slots=2)
    assert products_of(got, "s") == ["a", "b", "c", "d1", "d2"]
    # m: d1 at rank 7 (within the list), d2 at min(14, 8 + 2) = 10 (its end)
    assert products_of(got, "m") == ["m1", "m2", "m3", "m4", "m5", "m6", "d1", "m7", "m8", "d2"]
    assert "nobody" not in set(got[C.CUSTOMER])  # customers without a list get none


def test_no_slots_or_no_discovery_leaves_lists_unchanged():
    lists = lists_frame([("u", p) for p in ["a", "b", "c"]])
    disc = disc_frame([("u", "d1", 1.0)])
    assert insert_discovery(lists, disc, k=5, slots=0) is lists
    assert insert_discovery(lists, disc.head(0), k=5, slots=2) is lists
    assert insert_discovery(lists, disc_frame([("u", "a", 1.0)]), k=5, slots=2) is lists
    one = lists.head(1)
    assert insert_discovery(one, disc, k=1, slots=2) is one  # k = 1: no room besides rank 1
    with pytest.raises(ValueError, match="longer than"):
        insert_discovery(lists, disc, k=2, slots=1)


# --- properties ---------------------------------------------------------------------------

CUSTOMERS = ["u1", "u2", "u3"]
PRODUCTS = [f"p{i:02d}" for i in range(16)]


@st.composite
def lists_and_discovery(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, int, int]:
    k = draw(st.integers(1, 8))
    rows = []
    for customer in CUSTOMERS:
        mine = draw(st.lists(st.sampled_from(PRODUCTS), max_size=k, unique=True))
        rows += [(customer, p) for p in mine]
    disc = draw(
        st.lists(
            st.tuples(
                st.sampled_from([*CUSTOMERS, "u4"]),
                st.sampled_from(PRODUCTS),
                st.sampled_from([0.1, 0.5, 0.9]),  # ties are common
            ),
            max_size=30,
        )
    )
    return lists_frame(rows), disc_frame(disc), k, draw(st.integers(0, 4))


@settings(max_examples=150, deadline=None)
@given(lists_and_discovery())
def test_insert_discovery_invariants(case):
    lists, disc, k, slots = case
    got = insert_discovery(lists, disc, k=k, slots=slots)
    s = min(slots, k - 1)
    assert got.schema == lists.schema
    assert set(got[C.CUSTOMER]) == set(lists[C.CUSTOMER])
    for customer in set(lists[C.CUSTOMER]):
        before = products_of(lists, customer)
        after = got.filter(pl.col(C.CUSTOMER) == customer).sort(C.RANK)
        products = after[C.PRODUCT].to_list()
        mine = disc.filter((pl.col(C.CUSTOMER) == customer) & ~pl.col(C.PRODUCT).is_in(before))
        d = min(s, mine[C.PRODUCT].n_unique())
        assert after.height == min(k, len(before) + d)
        assert after[C.RANK].to_list() == list(range(1, after.height + 1))
        assert len(set(products)) == len(products)
        kept = [p for p in products if p in before]
        added = after.filter(~pl.col(C.PRODUCT).is_in(before))
        assert kept == before[: len(kept)]  # the list's own items: a prefix, same order
        assert added.height == d <= s
        # discovery ranks: min(p_j, L + j) with p_j from the rule, never rank 1
        ranks = discovery_ranks(k, slots)[:d]
        assert added[C.RANK].to_list() == [min(p, len(before) + j + 1) for j, p in enumerate(ranks)]
        assert 1 not in added[C.RANK].to_list()
        # the best-scored discovery products go in
        left = mine.filter(~pl.col(C.PRODUCT).is_in(added[C.PRODUCT].to_list()))
        if added.height and left.height:
            assert added[C.SCORE].min() >= left[C.SCORE].max()
    if s == 0:
        assert got.equals(lists)


def reference_candidates(rows, prices, cats, new, per_customer, band, top):
    """Plain-Python discovery_candidates: (customer, product, score) best first."""
    out = []
    for customer in sorted({c for c, _, w in rows if w > 0}):
        mine = [(p, w) for c, p, w in rows if c == customer and w > 0]
        total = sum(w for _, w in mine)
        by_cat: dict[str, float] = {}
        for p, w in mine:
            by_cat[cats[p]] = by_cat.get(cats[p], 0.0) + w
        tops = sorted(by_cat.items(), key=lambda cw: (-cw[1], cw[0]))[:top]
        acc, median = 0.0, None
        for p, w in sorted(mine, key=lambda pw: prices[pw[0]]):
            acc += w
            if acc >= total / 2:
                median = prices[p]
                break
        found = []
        for category, weight in tops:
            for p, c, price in new:
                if c == category and median / band <= price <= median * band:
                    dist = abs(math.log(price) - math.log(median))
                    found.append((-weight / total, dist, p))
        out += [(customer, p, -neg) for neg, _, p in sorted(found)[:per_customer]]
    return out


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(CUSTOMERS),
            st.sampled_from(PRODUCTS[:8]),
            st.sampled_from([0.0, 1.0, 2.0, 5.0]),  # integral weights: sums are exact
        ),
        max_size=25,
        unique_by=lambda r: (r[0], r[1]),
    ),
    st.lists(st.sampled_from([1.0, 2.0, 3.0, 5.0, 8.0, 20.0]), min_size=16, max_size=16),
    st.lists(st.sampled_from("abc"), min_size=16, max_size=16),
    st.integers(1, 4),
    st.sampled_from([1.0, 1.5, 2.0, 4.0]),
    st.integers(1, 3),
)
def test_candidates_agree_with_a_plain_python_reference(rows, prices, cats, per, band, top):
    products = catalogue(list(zip(PRODUCTS, cats, prices, strict=True)))
    known, new = products.head(8), products.tail(8)  # interacted / new products
    got = discovery_candidates(
        history(rows), known, new, per_customer=per, price_band=band, top_categories=top
    )
    expected = reference_candidates(
        rows, dict(zip(PRODUCTS, prices, strict=True)), dict(zip(PRODUCTS, cats, strict=True)),
        new.rows(), per, band, top,
    )  # fmt: skip
    assert [(c, p) for c, p, _ in expected] == got.select(C.CUSTOMER, C.PRODUCT).rows()
    assert got[C.SCORE].to_list() == pytest.approx([s for _, _, s in expected])


def test_candidates_do_not_depend_on_the_order_of_the_history_rows():
    rng = np.random.default_rng(5)
    n = 3_000
    history = pl.DataFrame(
        {
            C.CUSTOMER: [f"c{i % 200}" for i in range(n)],
            C.PRODUCT: [f"p{i}" for i in rng.integers(0, 300, n)],
            C.WEIGHT: rng.random(n) * 0.1 + 0.01,  # sums in the last bits depend on their order
        }
    )
    products = pl.DataFrame(
        {
            C.PRODUCT: [f"p{i}" for i in range(300)],
            C.CATEGORY: [f"k{i % 7}" for i in range(300)],
            PRICE: rng.random(300) * 50 + 1,
        }
    )
    new = pl.DataFrame(
        {
            C.PRODUCT: [f"n{i}" for i in range(40)],
            C.CATEGORY: [f"k{i % 7}" for i in range(40)],
            PRICE: rng.random(40) * 50 + 1,
        }
    )
    first = discovery_candidates(history, products, new, per_customer=3)
    for seed in range(5):
        shuffled = history.sample(fraction=1.0, shuffle=True, seed=seed)
        assert discovery_candidates(shuffled, products, new, per_customer=3).equals(first)
