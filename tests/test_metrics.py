"""Ranking metrics: known answers worked out by hand, then properties on random small inputs."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import columns as C
from models.metrics import (
    METRIC_KEYS,
    REPEAT_EXPLORE_KEYS,
    lift,
    ranking_metrics,
    repeat_explore_metrics,
)

ALS, FILL, COLD = C.SOURCE_MODEL, C.SOURCE_FILL, C.SOURCE_COLD_START
ACCURACY = ("precision", "recall", "map", "ndcg", "hit_rate")
L3 = math.log2(3)  # 1 / log2(rank + 1) at rank 2

LISTS_SCHEMA = {C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.RANK: pl.Int32, C.SOURCE: pl.String}
TRUTH_SCHEMA = {C.CUSTOMER: pl.String, C.PRODUCT: pl.String}
POPULARITY_SCHEMA = {C.PRODUCT: pl.String, "count": pl.Int64}


def frame(rows: list[tuple], schema: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


# The shop: products u, w, x, y, z; catalogue_size 10 (so coverage is not trivially 1).
#
#   a: x(1) y(2) z(3) u(4)   als, als, als, popular_fill   truth {y, u}  (y given twice)
#   b: w(1) x(2) y(3)        all popular_cold_start         truth {x, y}
#   c: y(1) z(2)             als, popular_fill              no truth: listed, not judged
#   d: no list                                              truth {x}: judged, scores 0
#
# Rows are deliberately out of rank order.
LISTS = frame(
    [
        ("b", "y", 3, COLD),
        ("a", "u", 4, FILL),
        ("c", "z", 2, FILL),
        ("a", "y", 2, ALS),
        ("b", "w", 1, COLD),
        ("a", "z", 3, ALS),
        ("c", "y", 1, ALS),
        ("a", "x", 1, ALS),
        ("b", "x", 2, COLD),
    ],
    LISTS_SCHEMA,
)
TRUTH = frame(
    [("a", "y"), ("b", "x"), ("a", "u"), ("d", "x"), ("b", "y"), ("a", "y")], TRUTH_SCHEMA
)
# total = 5 + 1 + 1 = 7 over n = 3 products with a count: p(i) = (count_i + 1) / 10
# p(x) = 6/10, p(y) = 2/10, p(u) = 2/10, p(z) = p(w) = 1/10 (no count: count 0)
POPULARITY = frame([("x", 5), ("y", 1), ("u", 1)], POPULARITY_SCHEMA)


def metrics(
    lists: pl.DataFrame = LISTS,
    truth: pl.DataFrame = TRUTH,
    k: int = 3,
    catalogue_size: int = 10,
    popularity: pl.DataFrame = POPULARITY,
) -> dict[str, float]:
    return ranking_metrics(
        lists, truth, k, catalogue_size=catalogue_size, item_popularity=popularity
    )


def test_known_answers_at_3():
    # Judged: a, b, d (3 customers). Top-3: a = x y z (u at rank 4 is cut), b = w x y.
    # a: T = {y, u} (the duplicate y counts once), hit y at rank 2; h = 1, m = min(2, 3) = 2
    #    precision 1/3, recall 1/2, hit 1, AP = (1/2) * P@2 = (1/2)(1/2) = 1/4,
    #    DCG = 1/log2(3), IDCG = 1 + 1/log2(3), nDCG = 1 / (log2(3) + 1)
    # b: T = {x, y}, hits at ranks 2 and 3; h = 2, m = 2
    #    precision 2/3, recall 1, hit 1, AP = (1/2)(P@2 + P@3) = (1/2)(1/2 + 2/3) = 7/12,
    #    DCG = 1/log2(3) + 1/log2(4) = 1/log2(3) + 1/2, nDCG = (2 + log2 3) / (2 (log2 3 + 1))
    # d: no list, 0 on everything.
    out = metrics()
    assert out["precision"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)  # 1/3
    assert out["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)  # 1/2
    assert out["hit_rate"] == pytest.approx(2 / 3)
    assert out["map"] == pytest.approx((1 / 4 + 7 / 12 + 0) / 3)  # 5/18
    ndcg_a = 1 / (L3 + 1)
    ndcg_b = (2 + L3) / (2 * (L3 + 1))
    assert out["ndcg"] == pytest.approx((ndcg_a + ndcg_b + 0) / 3)  # 0.360093...
    assert out["ndcg"] == pytest.approx(0.3600931, abs=1e-7)
    assert out["customers_judged"] == 3  # a, b, d
    assert out["customers_listed"] == 3  # a, b, c
    assert set(out) == set(METRIC_KEYS)


def test_coverage_novelty_and_fallback_at_3():
    out = metrics()
    # Top-3 products over every list, c included: {x, y, z} | {w, x, y} | {y, z} = {w, x, y, z};
    # u is only at rank 4. 4 / catalogue_size 10.
    assert out["coverage"] == pytest.approx(0.4)
    # 8 top-3 slots: x twice, y three times, z twice, w once (u at rank 4 is not offered).
    # -log2 p: x -> log2(10/6), y -> log2(10/2) = log2 5, z -> log2 10, w -> log2 10
    expected = (2 * math.log2(10 / 6) + 3 * math.log2(5) + 3 * math.log2(10)) / 8
    assert out["novelty"] == pytest.approx(expected)
    assert out["novelty"] == pytest.approx(2.3006874, abs=1e-7)
    # Listed a, b, c; rank-1 sources als, popular_cold_start, als -> 1/3
    assert out["fallback_share"] == pytest.approx(1 / 3)


def test_k_smaller_than_the_lists():
    # k = 2: a = x y (hit y at 2), b = w x (hit x at 2); both h = 1, m = min(2, 2) = 2
    #   precision 1/2, recall 1/2, AP = (1/2)(1/2) = 1/4, nDCG = (1/log2 3) / (1 + 1/log2 3)
    out = metrics(k=2)
    assert out["precision"] == pytest.approx((1 / 2 + 1 / 2) / 3)
    assert out["recall"] == pytest.approx((1 / 2 + 1 / 2) / 3)
    assert out["hit_rate"] == pytest.approx(2 / 3)
    assert out["map"] == pytest.approx((1 / 4 + 1 / 4) / 3)
    assert out["ndcg"] == pytest.approx(2 / (3 * (L3 + 1)))
    # top-2 products: {x, y} | {w, x} | {y, z} = 4
    assert out["coverage"] == pytest.approx(0.4)
    # 6 slots: x twice, y twice, w, z
    expected = (2 * math.log2(10 / 6) + 2 * math.log2(5) + 2 * math.log2(10)) / 6
    assert out["novelty"] == pytest.approx(expected)


def test_k_one_and_k_beyond_the_lists():
    # k = 1: a = x, b = w: no hits -> 0; coverage {x, w, y} = 3/10
    out = metrics(k=1)
    assert all(out[key] == 0.0 for key in ACCURACY)
    assert out["coverage"] == pytest.approx(0.3)
    # k = 5: a = x y z u: hits y(2), u(4); h = 2, m = 2; precision 2/5, recall 1,
    #   AP = (1/2)(1/2 + 2/4) = 1/2, DCG = 1/log2 3 + 1/log2 5, IDCG = 1 + 1/log2 3
    # b unchanged in hits (2 at ranks 2, 3): precision 2/5, recall 1, AP 7/12
    out = metrics(k=5)
    assert out["precision"] == pytest.approx((2 / 5 + 2 / 5) / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["map"] == pytest.approx((1 / 2 + 7 / 12) / 3)
    ndcg_a = (1 / L3 + 1 / math.log2(5)) / (1 + 1 / L3)
    ndcg_b = (1 / L3 + 1 / 2) / (1 + 1 / L3)
    assert out["ndcg"] == pytest.approx((ndcg_a + ndcg_b) / 3)
    assert out["coverage"] == pytest.approx(0.5)  # u now counts too


def test_duplicate_truth_rows_count_once():
    doubled = pl.concat([TRUTH, TRUTH, TRUTH])
    assert metrics(truth=doubled) == metrics()
    # Without dedupe a's recall would be 1/3 and b's 2/4; with it they are 1/2 and 1.
    assert metrics(truth=doubled)["recall"] == pytest.approx(1 / 2)


def test_row_order_does_not_matter():
    by_rank = LISTS.sort(C.CUSTOMER, C.RANK)
    reversed_rows = LISTS.reverse()
    assert metrics(lists=by_rank) == pytest.approx(metrics())
    assert metrics(lists=reversed_rows) == pytest.approx(metrics())


def test_rank_is_taken_from_the_frame_with_gaps():
    # One customer, truth {p}; p at rank 3 with nothing at rank 1 or 2 (e.g. a rule dropped them).
    lists = frame([("a", "p", 3, ALS), ("a", "q", 5, ALS)], LISTS_SCHEMA)
    truth = frame([("a", "p")], TRUTH_SCHEMA)
    out = metrics(lists=lists, truth=truth, k=4, popularity=frame([], POPULARITY_SCHEMA))
    # Top-4 holds only p (rank 3): precision 1/4, recall 1, AP = P@3 = 1/3, nDCG = (1/2) / 1
    assert out["precision"] == pytest.approx(1 / 4)
    assert out["recall"] == 1.0
    assert out["map"] == pytest.approx(1 / 3)
    assert out["ndcg"] == pytest.approx(1 / math.log2(4))
    # no popularity at all: every p is taken as 1, novelty 0
    assert out["novelty"] == 0.0
    # the lowest rank (3) is the customer's first item for the fallback share
    assert out["fallback_share"] == 0.0


def test_customers_with_a_list_but_no_truth_are_not_judged():
    without_c = LISTS.filter(pl.col(C.CUSTOMER) != "c")
    with_c, no_c = metrics(), metrics(lists=without_c)
    for key in ACCURACY:
        assert with_c[key] == pytest.approx(no_c[key])
    assert with_c["customers_judged"] == no_c["customers_judged"] == 3
    assert no_c["customers_listed"] == 2
    assert no_c["fallback_share"] == pytest.approx(1 / 2)  # a als, b cold start


def test_customers_without_a_list_score_zero():
    # Drop d: the same hits over 2 judged customers instead of 3.
    out = metrics(truth=TRUTH.filter(pl.col(C.CUSTOMER) != "d"))
    assert out["customers_judged"] == 2
    assert out["precision"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert out["hit_rate"] == 1.0
    assert out["map"] == pytest.approx((1 / 4 + 7 / 12) / 2)
    # Nobody has a list: every judged customer fails.
    out = metrics(lists=frame([], LISTS_SCHEMA))
    assert out["customers_judged"] == 3
    assert out["customers_listed"] == 0
    assert all(out[key] == 0.0 for key in ACCURACY)
    assert out["coverage"] == out["novelty"] == out["fallback_share"] == 0.0


def test_empty_truth_judges_nobody():
    for truth in (frame([], TRUTH_SCHEMA), pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: []})):
        out = metrics(truth=truth)
        assert out["customers_judged"] == 0
        assert all(out[key] == 0.0 for key in ACCURACY)
        # list-only metrics do not depend on the truth
        assert out["coverage"] == pytest.approx(0.4)
        assert out["customers_listed"] == 3


def test_everything_empty():
    empty = pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: [], C.RANK: [], C.SOURCE: []})
    out = ranking_metrics(
        empty,
        pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: []}),
        10,
        catalogue_size=1,
        item_popularity=pl.DataFrame({C.PRODUCT: [], "count": []}),
    )
    assert out == dict.fromkeys(METRIC_KEYS, 0.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a", "x", 1, ALS), ("a", "y", 1, ALS)], "same rank"),
        ([("a", "x", 1, ALS), ("a", "x", 2, ALS)], "same product"),
        ([("a", "x", 0, ALS)], "below 1"),
        ([("a", None, 1, ALS)], "nulls"),
    ],
)
def test_malformed_lists_are_refused(rows, message):
    with pytest.raises(ValueError, match=message):
        metrics(lists=frame(rows, LISTS_SCHEMA))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="k must be"):
        metrics(k=0)
    with pytest.raises(ValueError, match="catalogue_size"):
        metrics(catalogue_size=0)
    with pytest.raises(ValueError, match="lacks columns"):
        metrics(lists=LISTS.drop(C.SOURCE))


def test_lift():
    assert lift({"ndcg": 0.3}, {"ndcg": 0.2}) == pytest.approx(0.5)
    assert lift({"ndcg": 0.1}, {"ndcg": 0.2}) == pytest.approx(-0.5)
    assert lift({"map": 0.2, "ndcg": 0.0}, {"map": 0.1, "ndcg": 1.0}, key="map") == 1.0
    assert lift({"ndcg": 0.1}, {"ndcg": 0.0}) == math.inf
    assert lift({"ndcg": 0.0}, {"ndcg": 0.0}) == 0.0


# --- repeat and explore ---------------------------------------------------------------------

# k = 3. "before" = bought before the cut; R = repeat truth (bought before), E = explore truth.
#
#   a: x(1) y(2) z(3) u(4)  truth {y, u, v, t} (y given twice)  before {y, t, z}
#      R = {y, t}, E = {u, v}; top-3 hits: y (u is at rank 4); z was bought before but is no hit
#   b: w(1) x(2) y(3)       truth {x, y}                        before {x, y, q}
#      R = {x, y}, E = {}: only repeat truth; hits x, y
#   c: y(1) z(2)            no truth (not judged)               before {y}
#   d: no list              truth {x}                           before {}
#      R = {}, E = {x}; no hits
#   e: w(1)                 truth {w}                           before {}
#      R = {}, E = {w}; hit w
RE_LISTS = frame(
    [
        ("a", "x", 1, ALS),
        ("a", "y", 2, ALS),
        ("a", "z", 3, ALS),
        ("a", "u", 4, FILL),
        ("b", "w", 1, COLD),
        ("b", "x", 2, COLD),
        ("b", "y", 3, COLD),
        ("c", "y", 1, ALS),
        ("c", "z", 2, FILL),
        ("e", "w", 1, ALS),
    ],
    LISTS_SCHEMA,
)
RE_TRUTH = frame(
    [
        ("a", "y"),
        ("a", "u"),
        ("a", "v"),
        ("a", "t"),
        ("a", "y"),
        ("b", "x"),
        ("b", "y"),
        ("d", "x"),
        ("e", "w"),
    ],
    TRUTH_SCHEMA,
)
RE_BOUGHT = frame(
    [
        ("a", "y"),
        ("a", "t"),
        ("a", "z"),
        ("b", "x"),
        ("b", "y"),
        ("b", "q"),
        ("b", "x"),
        ("c", "y"),
    ],
    TRUTH_SCHEMA,
)


def mix(
    lists: pl.DataFrame = RE_LISTS,
    truth: pl.DataFrame = RE_TRUTH,
    bought: pl.DataFrame = RE_BOUGHT,
    k: int = 3,
) -> dict[str, float]:
    return repeat_explore_metrics(lists, truth, bought, k)


def test_repeat_explore_known_answers_at_3():
    out = mix()
    assert set(out) == set(REPEAT_EXPLORE_KEYS)
    # hits: a {y} (repeat), b {x, y} (both repeat), d none, e {w} (explore): 3 of 4 are repeats
    assert out["repeat_share"] == pytest.approx(3 / 4)
    # explore recall over a, d, e (b has no explore item): a 0/2, d 0/1, e 1/1 -> 1/3
    assert out["explore_recall"] == pytest.approx(1 / 3)
    assert out["customers_explore"] == 3
    # repeat recall over a, b (d and e have none): a 1/2 (y hit, t missed), b 2/2 -> 3/4
    assert out["repeat_recall"] == pytest.approx(3 / 4)
    assert out["customers_repeat"] == 2
    # truth pairs: a 4 (y once), b 2, d 1, e 1 = 8; repeats a {y, t} + b {x, y} = 4 -> 1/2
    assert out["truth_repeat_share"] == pytest.approx(1 / 2)


def test_repeat_explore_counts_only_the_top_k():
    # k = 2: a's top is x y (hit y), b's w x (hit x), e's w (hit w): 2 repeat hits of 3;
    # explore: a 0/2, d 0/1, e 1/1 -> 1/3; repeat: a 1/2, b 1/2 -> 1/2
    out = mix(k=2)
    assert out["repeat_share"] == pytest.approx(2 / 3)
    assert out["explore_recall"] == pytest.approx(1 / 3)
    assert out["repeat_recall"] == pytest.approx(1 / 2)
    # k = 4 adds u (an explore hit) for a: explore a 1/2, d 0, e 1 -> 1/2; 3 repeat hits of 5
    out = mix(k=4)
    assert out["repeat_share"] == pytest.approx(3 / 5)
    assert out["explore_recall"] == pytest.approx(1 / 2)
    assert out["repeat_recall"] == pytest.approx(3 / 4)
    # the truth split does not depend on the lists or k
    assert out["truth_repeat_share"] == pytest.approx(1 / 2)


def test_repeat_explore_without_hits():
    # only c, who is not judged, keeps a list: no hits at all, the truth split is unchanged
    out = mix(lists=RE_LISTS.filter(pl.col(C.CUSTOMER) == "c"))
    assert out["repeat_share"] == out["explore_recall"] == out["repeat_recall"] == 0.0
    assert out["truth_repeat_share"] == pytest.approx(1 / 2)
    assert (out["customers_explore"], out["customers_repeat"]) == (3, 2)
    out = mix(lists=frame([], LISTS_SCHEMA))
    assert out["repeat_share"] == out["explore_recall"] == out["repeat_recall"] == 0.0


def test_repeat_explore_customer_with_only_repeat_truth():
    # b alone: truth {x, y}, both bought before and both hit
    out = mix(truth=RE_TRUTH.filter(pl.col(C.CUSTOMER) == "b"))
    assert out == {
        "repeat_share": 1.0,
        "explore_recall": 0.0,  # nobody has an explore item
        "repeat_recall": 1.0,
        "truth_repeat_share": 1.0,
        "customers_explore": 0.0,
        "customers_repeat": 1.0,
    }


def test_repeat_explore_with_nothing_bought_before():
    # every truth item is an explore item: explore recall is the plain recall@3 over the judged
    # customers: a 1/4 (y of y, u, v, t), b 2/2, d 0/1, e 1/1 -> (1/4 + 1 + 0 + 1) / 4 = 9/16
    for empty in (frame([], TRUTH_SCHEMA), pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: []})):
        out = mix(bought=empty)
        assert out["repeat_share"] == out["repeat_recall"] == out["truth_repeat_share"] == 0.0
        assert out["customers_repeat"] == 0
        assert out["customers_explore"] == 4
        assert out["explore_recall"] == pytest.approx(9 / 16)
        recall = metrics(lists=RE_LISTS, truth=RE_TRUTH)["recall"]
        assert out["explore_recall"] == pytest.approx(recall)


def test_repeat_explore_edge_inputs():
    # no truth: nothing judged, all 0.0 (also with untyped empty frames everywhere)
    assert mix(truth=frame([], TRUTH_SCHEMA)) == dict.fromkeys(REPEAT_EXPLORE_KEYS, 0.0)
    untyped = pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: []})
    empty_lists = pl.DataFrame({C.CUSTOMER: [], C.PRODUCT: [], C.RANK: [], C.SOURCE: []})
    assert mix(empty_lists, untyped, untyped) == dict.fromkeys(REPEAT_EXPLORE_KEYS, 0.0)
    # extra columns of ``bought`` (e.g. the purchase history's) are ignored
    with_extra = RE_BOUGHT.with_columns(weight=pl.lit(2.0))
    assert mix(bought=with_extra) == mix()
    # row order does not matter
    assert mix(lists=RE_LISTS.reverse(), bought=RE_BOUGHT.reverse()) == pytest.approx(mix())
    with pytest.raises(ValueError, match="k must be"):
        mix(k=0)
    with pytest.raises(ValueError, match="same product"):
        mix(lists=frame([("a", "x", 1, ALS), ("a", "x", 2, ALS)], LISTS_SCHEMA))


# --- properties on random small inputs ------------------------------------------------------


def reference(
    lists: list[tuple[int, int, int, str]],
    truth: list[tuple[int, int]],
    k: int,
    catalogue_size: int,
    popularity: dict[int, int],
) -> dict[str, float]:
    """The definitions, one customer and one slot at a time."""
    truth_sets: dict[int, set[int]] = {}
    for customer, product in truth:
        truth_sets.setdefault(customer, set()).add(product)
    ranked: dict[int, list[tuple[int, int, str]]] = {}
    for customer, product, rank, source in lists:
        ranked.setdefault(customer, []).append((rank, product, source))
    for rows in ranked.values():
        rows.sort()

    sums = dict.fromkeys(ACCURACY, 0.0)
    for customer, wanted in truth_sets.items():
        top = [(rank, product) for rank, product, _ in ranked.get(customer, []) if rank <= k]
        hits, ap, dcg = 0, 0.0, 0.0
        for rank, product in top:
            if product in wanted:
                hits += 1
                ap += hits / rank
                dcg += 1 / math.log2(rank + 1)
        ideal = min(len(wanted), k)
        idcg = sum(1 / math.log2(i + 1) for i in range(1, ideal + 1))
        sums["precision"] += hits / k
        sums["recall"] += hits / len(wanted)
        sums["hit_rate"] += 1.0 if hits else 0.0
        sums["map"] += ap / ideal
        sums["ndcg"] += dcg / idcg
    judged = len(truth_sets)
    out = {key: value / judged if judged else 0.0 for key, value in sums.items()}

    slots = [product for rows in ranked.values() for rank, product, _ in rows if rank <= k]
    out["coverage"] = len(set(slots)) / catalogue_size
    denominator = sum(popularity.values()) + len(popularity)
    novelty = 0.0
    for product in slots:
        p = (popularity.get(product, 0) + 1) / denominator if denominator else 1.0
        novelty -= math.log2(p)
    out["novelty"] = novelty / len(slots) if slots else 0.0
    cold = sum(1 for rows in ranked.values() if rows[0][2] == COLD)
    out["fallback_share"] = cold / len(ranked) if ranked else 0.0
    out["customers_judged"] = float(judged)
    out["customers_listed"] = float(len(ranked))
    return out


@st.composite
def shops(draw: st.DrawFn) -> tuple[list, list, int, int, dict[int, int]]:
    """2-4 customers, up to 5 products; some customers unlisted, some without truth."""
    n_customers = draw(st.integers(2, 4))
    products = list(range(draw(st.integers(1, 5))))
    lists = []
    for customer in range(n_customers):
        if draw(st.booleans()):
            items = draw(st.permutations(products))[: draw(st.integers(1, len(products)))]
            # ranks usually 1..n, sometimes with gaps
            ranks = sorted(
                draw(st.sets(st.integers(1, 8), min_size=len(items), max_size=len(items)))
                if draw(st.booleans())
                else range(1, len(items) + 1)
            )
            sources = [draw(st.sampled_from([ALS, FILL, COLD])) for _ in items]
            lists += list(zip([customer] * len(items), items, ranks, sources, strict=True))
    lists = draw(st.permutations(lists))
    truth = draw(
        st.lists(st.tuples(st.integers(0, n_customers), st.sampled_from(products)), max_size=12)
    )
    k = draw(st.integers(1, 6))
    popularity = draw(st.dictionaries(st.sampled_from(products), st.integers(0, 6)))
    return lists, truth, k, len(products) + draw(st.integers(0, 3)), popularity


def run(
    lists: list, truth: list, k: int, catalogue_size: int, popularity: dict[int, int]
) -> dict[str, float]:
    return ranking_metrics(
        pl.DataFrame(
            lists,
            schema={
                C.CUSTOMER: pl.Int64,
                C.PRODUCT: pl.Int64,
                C.RANK: pl.Int64,
                C.SOURCE: pl.String,
            },
            orient="row",
        ),
        pl.DataFrame(truth, schema={C.CUSTOMER: pl.Int64, C.PRODUCT: pl.Int64}, orient="row"),
        k,
        catalogue_size=catalogue_size,
        item_popularity=pl.DataFrame(
            {C.PRODUCT: list(popularity), "count": list(popularity.values())},
            schema={C.PRODUCT: pl.Int64, "count": pl.Int64},
        ),
    )


@settings(max_examples=300, deadline=None)
@given(shops())
def test_matches_the_reference_and_stays_in_bounds(shop):
    out = run(*shop)
    expected = reference(*shop)
    assert out == pytest.approx(expected)
    for key in ACCURACY:
        assert 0.0 <= out[key] <= 1.0 + 1e-12
    assert out["precision"] <= out["hit_rate"] + 1e-12
    assert 0.0 <= out["coverage"] <= 1.0
    assert 0.0 <= out["fallback_share"] <= 1.0


@settings(max_examples=200, deadline=None)
@given(shops(), st.randoms(use_true_random=False))
def test_perfect_lists_score_one(shop, rnd):
    """Truth items ranked first (then the rest): nDCG, MAP and hit rate are 1 for everyone."""
    _, truth, k, catalogue_size, popularity = shop
    wanted: dict[int, set[int]] = {}
    for customer, product in truth:
        wanted.setdefault(customer, set()).add(product)
    n_products = max((p for _, p in truth), default=0) + 1
    lists = []
    for customer, items in wanted.items():
        first = sorted(items)
        rnd.shuffle(first)
        rest = [p for p in range(n_products) if p not in items]
        lists += [(customer, p, r, ALS) for r, p in enumerate(first + rest, start=1)]
    out = run(lists, truth, k, max(catalogue_size, n_products), popularity)
    if not wanted:
        assert out["customers_judged"] == 0
        return
    assert out["ndcg"] == pytest.approx(1.0)
    assert out["map"] == pytest.approx(1.0)
    assert out["hit_rate"] == 1.0
    if all(len(items) <= k for items in wanted.values()):
        assert out["recall"] == pytest.approx(1.0)


def repeat_explore_reference(lists: list, truth: list, bought: list, k: int) -> dict[str, float]:
    """``repeat_explore_metrics``' definitions, one customer at a time."""
    truth_sets: dict[int, set[int]] = {}
    for customer, product in truth:
        truth_sets.setdefault(customer, set()).add(product)
    before = set(bought)
    top = {(customer, product) for customer, product, rank, _ in lists if rank <= k}
    hits = repeat_hits = truth_pairs = truth_repeats = 0
    explore, repeat = [], []
    for customer, wanted in truth_sets.items():
        repeats = {p for p in wanted if (customer, p) in before}
        explores = wanted - repeats
        hit = {p for p in wanted if (customer, p) in top}
        hits += len(hit)
        repeat_hits += len(hit & repeats)
        truth_pairs += len(wanted)
        truth_repeats += len(repeats)
        if explores:
            explore.append(len(hit & explores) / len(explores))
        if repeats:
            repeat.append(len(hit & repeats) / len(repeats))
    return {
        "repeat_share": repeat_hits / hits if hits else 0.0,
        "explore_recall": sum(explore) / len(explore) if explore else 0.0,
        "repeat_recall": sum(repeat) / len(repeat) if repeat else 0.0,
        "truth_repeat_share": truth_repeats / truth_pairs if truth_pairs else 0.0,
        "customers_explore": float(len(explore)),
        "customers_repeat": float(len(repeat)),
    }


@settings(max_examples=150, deadline=None)
@given(shops(), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=12))
def test_repeat_explore_matches_the_reference(shop, bought):
    lists, truth, k, _, _ = shop
    out = repeat_explore_metrics(
        pl.DataFrame(
            lists,
            schema={
                C.CUSTOMER: pl.Int64,
                C.PRODUCT: pl.Int64,
                C.RANK: pl.Int64,
                C.SOURCE: pl.String,
            },
            orient="row",
        ),
        pl.DataFrame(truth, schema={C.CUSTOMER: pl.Int64, C.PRODUCT: pl.Int64}, orient="row"),
        pl.DataFrame(bought, schema={C.CUSTOMER: pl.Int64, C.PRODUCT: pl.Int64}, orient="row"),
        k,
    )
    assert out == pytest.approx(repeat_explore_reference(lists, truth, bought, k))
    for key in ("repeat_share", "explore_recall", "repeat_recall", "truth_repeat_share"):
        assert 0.0 <= out[key] <= 1.0
