"""Variety: category caps that hold wherever the candidate pool allows, lists kept full."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from models import columns as C
from models.variety import cap_categories, category_counts


def pool_frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """(customer, product) in rank order per customer."""
    ranks: dict[str, int] = {}
    out = []
    for customer, product in rows:
        ranks[customer] = ranks.get(customer, 0) + 1
        out.append((customer, ranks[customer], product, 1.0 / ranks[customer], "als"))
    schema = {C.CUSTOMER: pl.String, C.RANK: pl.Int32, C.PRODUCT: pl.String,
              C.SCORE: pl.Float64, C.SOURCE: pl.String}  # fmt: skip
    return pl.DataFrame(out, schema=schema, orient="row")


CATEGORIES = pl.DataFrame(
    {C.PRODUCT: ["a1", "a2", "a3", "a4", "b1", "b2", "c1"], C.CATEGORY: list("aaaabbc")}
)


def test_known_answer_cap_then_fill():
    pool = pool_frame([("u", p) for p in ["a1", "a2", "a3", "b1", "a4", "b2", "c1"]])
    got = cap_categories(pool, CATEGORIES, cap=2, k=5)
    # a3 and a4 exceed the cap of 2; b1, b2, c1 take their places; order stays the pool's
    assert got[C.PRODUCT].to_list() == ["a1", "a2", "b1", "b2", "c1"]
    assert got[C.RANK].to_list() == [1, 2, 3, 4, 5]
    # too few categories in the pool: the cap gives way rather than leave the list short
    short = pool_frame([("u", p) for p in ["a1", "a2", "a3", "b1"]])
    assert cap_categories(short, CATEGORIES, cap=1, k=3)[C.PRODUCT].to_list() == ["a1", "a2", "b1"]
    assert cap_categories(pool, CATEGORIES, cap=None, k=2)[C.PRODUCT].to_list() == ["a1", "a2"]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(CATEGORIES[C.PRODUCT].to_list())
        ),
        max_size=40,
    ),
    st.integers(1, 4),
    st.integers(1, 6),
)
def test_caps_hold_where_possible_and_lists_stay_full(rows, cap, k):
    seen, unique_rows = set(), []
    for customer, product in rows:  # a pool lists a product once per customer
        if (customer, product) not in seen:
            seen.add((customer, product))
            unique_rows.append((customer, product))
    pool = pool_frame(unique_rows)
    got = cap_categories(pool, CATEGORIES, cap=cap, k=k)
    for customer in set(pool[C.CUSTOMER]):
        mine = got.filter(pl.col(C.CUSTOMER) == customer)
        theirs = pool.filter(pl.col(C.CUSTOMER) == customer)
        assert mine.height == min(k, theirs.height)  # full whenever the pool allows
        assert mine[C.RANK].to_list() == list(range(1, mine.height + 1))
        assert set(mine[C.PRODUCT]) <= set(theirs[C.PRODUCT])
        # the cap holds unless the pool has too few categories to fill the list under it
        cats = theirs.join(CATEGORIES, on=C.PRODUCT)[C.CATEGORY]
        possible = sum(min(cap, n) for n in cats.value_counts()["count"])
        most = category_counts(mine, CATEGORIES)["most"].max() if mine.height else 0
        if possible >= mine.height:
            assert most <= cap


def walk(products: list[str], category: dict[str, str | None], cap: int, k: int) -> list[str]:
    """The cap as the module doc says it, one customer at a time in plain Python: keep a product
    while its category has fewer than ``cap`` kept, then fill from the skipped in pool order."""
    held: dict[str | None, int] = {}
    kept, skipped = [], []
    for p in products:
        c = category.get(p)  # a product without a category: one group with the uncategorised
        (kept if held.get(c, 0) < cap else skipped).append(p)
        held[c] = held.get(c, 0) + 1
    chosen = set(kept[:k] + skipped[: max(0, k - len(kept))])
    return [p for p in products if p in chosen]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(
        [*CATEGORIES[C.PRODUCT].to_list(), "x1", "n1"])), max_size=40),
    st.integers(1, 4),
    st.integers(1, 6),
    st.booleans(),
)  # fmt: skip
def test_the_capped_lists_are_the_plain_walk_of_each_pool(rows, cap, k, shuffled):
    categories = pl.concat([CATEGORIES, pl.DataFrame({C.PRODUCT: ["n1"], C.CATEGORY: [None]})])
    pairs = list(dict.fromkeys(rows))  # a pool lists a product once per customer
    pool = pool_frame(sorted(pairs, key=lambda r: r[0]))
    if shuffled:  # pools out of customer order are sorted first
        pool = pool.reverse()
    got = cap_categories(pool, categories, cap=cap, k=k)
    lookup = dict(categories.iter_rows())
    for customer in sorted({c for c, _ in pairs}):
        theirs = [p for c, p in pairs if c == customer]
        mine = got.filter(pl.col(C.CUSTOMER) == customer)
        assert mine[C.PRODUCT].to_list() == walk(theirs, lookup, cap, k)
        assert mine[C.RANK].to_list() == list(range(1, mine.height + 1))
