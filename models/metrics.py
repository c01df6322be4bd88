"""Offline metrics for ranked offer lists, judged against what customers did afterwards.

Everything here is vectorised (polars joins and group-bys, numpy lookups): no Python loop
runs over rows or customers, so a full nightly run of millions of list rows is cheap to judge.

"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from models import columns as C

METRIC_KEYS = (
    "precision",
    "recall",
    "map",
    "ndcg",
    "hit_rate",
    "coverage",
    "novelty",
    "fallback_share",
    "customers_judged",
    "customers_listed",
)

_COUNT = "count"
_KEY = (C.CUSTOMER, C.PRODUCT)


def _repeats(frame: pl.DataFrame, a: str, b: str) -> bool:
    """Whether two rows share (a, b); ``frame`` is sorted by (a, b)."""
    same = (pl.col(a) == pl.col(a).shift()) & (pl.col(b) == pl.col(b).shift())
    return bool(frame.select(same.any()).item())


def _sorted_lists(lists: pl.DataFrame) -> pl.DataFrame:
    """``lists`` sorted by (customer, rank), refusing lists whose numbers would be wrong.

    Sort-and-compare-neighbours rather than ``is_duplicated``: several times faster on
    millions of rows, and the (customer, rank) order is needed anyway.
    """
    missing = {C.CUSTOMER, C.PRODUCT, C.RANK, C.SOURCE} - set(lists.columns)
    if missing:
        raise ValueError(f"lists lacks columns {sorted(missing)}")
    lists = lists.select(C.CUSTOMER, C.PRODUCT, C.RANK, C.SOURCE)
    if lists.height == 0:
        return lists
    if lists.select(C.CUSTOMER, C.PRODUCT, C.RANK).null_count().sum_horizontal().item() > 0:
        raise ValueError("lists has nulls in customer_id, product_id or rank")
    if (lists.get_column(C.RANK) < 1).any():
        raise ValueError("lists has a rank below 1 (ranks are 1-based)")
    lists = lists.sort(C.CUSTOMER, C.RANK)
    if _repeats(lists, C.CUSTOMER, C.RANK):
        raise ValueError("lists has two items at the same rank for one customer")
    if _repeats(lists.select(C.CUSTOMER, C.PRODUCT).sort(C.CUSTOMER, C.PRODUCT), *_KEY):
        raise ValueError("lists offers the same product twice to one customer")
    return lists


def _unify(left: pl.DataFrame, right: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """``right`` with its all-null (``pl.Null``) key columns cast to ``left``'s dtypes.

    An empty frame built without a schema has ``Null`` columns, which polars will not join.
    """
    casts = {c: left.schema[c] for c in on if right.schema[c] == pl.Null}
    return right.cast(casts) if casts else right


def _ideal_dcg(k: int) -> np.ndarray:
    """``out[m]`` = DCG of m hits at ranks 1..m, for m in 0..k."""
    return np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))))


ACCURACY_KEYS = ("precision", "recall", "map", "ndcg", "hit_rate")


def _per_customer(
    lists: pl.DataFrame, truth: pl.DataFrame, k: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Accuracy per judged customer (sorted by customer) and the list rows at rank <= k.

    ``lists`` comes from ``_sorted_lists``; the definitions are those of ``ranking_metrics``.
    """
    key = list(_KEY)
    truth = _unify(lists, truth.select(key), key).unique()
    lists = _unify(truth, lists, key)
    top = lists.filter(pl.col(C.RANK).cast(pl.Int64) <= k).select(C.CUSTOMER, C.PRODUCT, C.RANK)
    truth_sizes = truth.group_by(C.CUSTOMER).agg(pl.len().alias("n_truth"))
    hits = (
        top.join(truth, on=key, how="semi")
        .sort(C.CUSTOMER, C.RANK)
        .with_columns(seen=pl.int_range(1, pl.len() + 1).over(C.CUSTOMER))
        .group_by(C.CUSTOMER)
        .agg(
            pl.len().alias("hits"),
            (pl.col("seen") / pl.col(C.RANK)).sum().alias("ap_sum"),
            (1.0 / (pl.col(C.RANK).cast(pl.Float64) + 1.0).log(2)).sum().alias("dcg"),
        )
    )
    per = truth_sizes.join(hits, on=C.CUSTOMER, how="left").fill_null(0).sort(C.CUSTOMER)
    n_truth = per.get_column("n_truth").to_numpy().astype(np.float64)
    n_hits = per.get_column("hits").to_numpy().astype(np.float64)
    ideal_hits = np.minimum(per.get_column("n_truth").to_numpy(), k).astype(np.int64)
    values = {
        "precision": n_hits / k,
        "recall": n_hits / np.maximum(n_truth, 1.0),
        "map": per.get_column("ap_sum").to_numpy().astype(np.float64) / np.maximum(ideal_hits, 1),
        "ndcg": per.get_column("dcg").to_numpy().astype(np.float64)
        / np.maximum(_ideal_dcg(k)[ideal_hits], 1e-300),
        "hit_rate": (n_hits > 0).astype(np.float64),
    }
    frame = pl.DataFrame({C.CUSTOMER: per.get_column(C.CUSTOMER), **values})
    return frame, top


def per_customer_metrics(lists: pl.DataFrame, truth: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per judged customer (|T_u| >= 1), sorted by customer: precision, recall, map,
    ndcg and hit_rate at ``k`` as defined in ``ranking_metrics`` (whose accuracy metrics are
    the means of these columns). Paired comparisons of two candidates use these rows."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _per_customer(_sorted_lists(lists), truth, k)[0]


def ranking_metrics(
    lists: pl.DataFrame,
    truth: pl.DataFrame,
    k: int,
    *,
    catalogue_size: int,
    item_popularity: pl.DataFrame,
) -> dict[str, float]:
    """Accuracy, coverage, novelty and fallback metrics of top-``k`` lists.

    Inputs:

    * ``lists``: (customer_id, product_id, rank, source), rank 1-based, in any row order.
      Only rows with ``rank <= k`` count; ``rank`` is used as the position as given (gaps are
      kept, not re-numbered). A customer may not have two rows at one rank nor one product twice
      (``ValueError``); ranks below 1 and nulls in the key columns are refused too.
    * ``truth``: (customer_id, product_id), what each customer did in the holdout window.
      Duplicate rows are collapsed first, so T_u (customer u's truth set) is a set.
    * ``catalogue_size``: number of offerable products (``coverage``'s denominator, >= 1).
    * ``item_popularity``: (product_id, count), interactions in the TRAINING window (``novelty``).
      Repeated product rows are summed.

    Who is judged: a customer is *judged* iff |T_u| >= 1. Customers with a list but no truth
    are not judged. A judged customer without a list (or with no row at rank <= k) has no hits
    and scores 0 on every accuracy metric: the list failed them. Each accuracy metric is the
    mean over judged customers U of the per-customer value below; with no judged customer each
    is 0.0. Write L_u for u's rows with rank <= k, h_u = |{i in L_u : product(i) in T_u}| for
    the hits, and m_u = min(|T_u|, k).

    * ``precision`` = h_u / k (k, not |L_u|: short lists are not excused).
    * ``recall`` = h_u / |T_u| (the standard definition; it cannot reach 1 when |T_u| > k).
    * ``hit_rate`` = 1 if h_u > 0 else 0.
    * ``map`` = (1 / m_u) * sum over hits at rank r <= k of precision@r, where precision@r =
      (hits at ranks <= r) / r.
    * ``ndcg`` = DCG / IDCG with binary relevance: DCG = sum over hits of 1 / log2(r + 1);
      IDCG = sum_{i=1}^{m_u} 1 / log2(i + 1), i.e. m_u hits at ranks 1..m_u.

    Over every list row with rank <= k (all listed customers, judged or not):

    * ``coverage`` = distinct products in those rows / ``catalogue_size`` (0.0 with no rows).
    * ``novelty`` = mean over those (customer, product) slots of -log2 p(product), with
      add-one (Laplace) smoothing over the products in ``item_popularity``::

          p(i) = (count_i + 1) / (total + n)

      where total = sum of all counts, n = number of distinct products in ``item_popularity``
      and count_i = 0 for a product it lacks (so unseen products are the most novel). If
      ``item_popularity`` is empty (total + n = 0) every p is taken as 1, so novelty is 0.0;
      novelty is also 0.0 with no rows.

    Counts and the fallback:

    * ``fallback_share`` = among customers with a list (any row in ``lists``, whatever its
      rank), the share whose first item (lowest rank, rank 1 for a well-formed list) has source
      ``popular_cold_start``; 0.0 with no lists.
    * ``customers_judged`` = |U|; ``customers_listed`` = distinct customers in ``lists``.
      Both are returned as floats to keep the value type uniform.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if catalogue_size < 1:
        raise ValueError(f"catalogue_size must be >= 1, got {catalogue_size}")
    lists = _sorted_lists(lists)
    per, top = _per_customer(lists, truth, k)
    judged = per.height
    if judged:
        means = per.select(pl.col(m).mean() for m in ACCURACY_KEYS).row(0, named=True)
        precision, recall, mean_ap, ndcg, hit_rate = (float(means[m]) for m in ACCURACY_KEYS)
    else:
        precision = recall = hit_rate = mean_ap = ndcg = 0.0

    # --- beyond accuracy: every listed customer ----------------------------------------------
    coverage = top.get_column(C.PRODUCT).n_unique() / catalogue_size if top.height else 0.0

    counts = (
        _unify(top, item_popularity.select(C.PRODUCT, _COUNT), [C.PRODUCT])
        .group_by(C.PRODUCT)
        .agg(pl.col(_COUNT).cast(pl.Float64).sum())
    )
    denominator = float(counts.get_column(_COUNT).sum()) + counts.height
    if top.height and denominator > 0:
        slot_counts = (
            top.select(C.PRODUCT)
            .join(counts, on=C.PRODUCT, how="left")
            .get_column(_COUNT)
            .fill_null(0)
            .to_numpy()
            .astype(np.float64)
        )
        novelty = float(np.mean(-np.log2((slot_counts + 1.0) / denominator)))
    else:
        novelty = 0.0

    # sorted by (customer, rank): a customer's first row is its lowest rank
    firsts = lists.filter(pl.col(C.CUSTOMER).ne_missing(pl.col(C.CUSTOMER).shift()))
    listed = firsts.height
    fallback_share = (
        float((firsts.get_column(C.SOURCE) == C.SOURCE_COLD_START).sum()) / listed
        if listed
        else 0.0
    )

    return {
        "precision": precision,
        "recall": recall,
        "map": mean_ap,
        "ndcg": ndcg,
        "hit_rate": hit_rate,
        "coverage": float(coverage),
        "novelty": novelty,
        "fallback_share": fallback_share,
        "customers_judged": float(judged),
        "customers_listed": float(listed),
    }


REPEAT_EXPLORE_KEYS = (
    "repeat_share",
    "explore_recall",
    "repeat_recall",
    "truth_repeat_share",
    "customers_explore",
    "customers_repeat",
)

_REPEAT, _HIT = "_repeat", "_hit"


def repeat_explore_metrics(
    lists: pl.DataFrame, truth: pl.DataFrame, bought: pl.DataFrame, k: int
) -> dict[str, float]:
    """How top-``k`` lists split between buying again (repeat) and buying something new.

    Inputs:

    * ``lists`` and ``truth``: as in ``ranking_metrics`` (same checks; T_u is a set, only rows
      with rank <= k count, L_u is u's top-k rows, judged customers U are those with
      |T_u| >= 1).
    * ``bought``: (customer_id, product_id), every pair bought before the cut; B_u is the set
      of u's products in it (duplicate rows collapse). Other columns are ignored.

    A truth item is a *repeat* if the customer bought it before the cut and an *explore* item
    otherwise: R_u = T_u & B_u, E_u = T_u - B_u. The hits H_u = {product(i) : i in L_u} & T_u
    (so |H_u| is ``ranking_metrics``' h_u).

    * ``repeat_share`` = sum_u |H_u & B_u| / sum_u |H_u| over U: the share of all hits that
      are repeats, pooled (not a mean of per-customer shares); 0.0 with no hits.
    * ``explore_recall`` = mean over customers with |E_u| >= 1 of |H_u & E_u| / |E_u|;
      0.0 if no customer has an explore item.
    * ``repeat_recall`` = mean over customers with |R_u| >= 1 of |H_u & R_u| / |R_u|;
      0.0 if no customer has a repeat item.
    * ``truth_repeat_share`` = sum_u |R_u| / sum_u |T_u|: how much of the truth is buying
      again, whatever the lists; 0.0 with no truth.
    * ``customers_explore`` = |{u : |E_u| >= 1}|, ``customers_repeat`` = |{u : |R_u| >= 1}|
      (a customer may count in both), as floats like ``ranking_metrics``' counts.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    key = list(_KEY)
    lists = _sorted_lists(lists)
    truth = _unify(lists, truth.select(key), key).unique()
    if truth.height == 0:
        return dict.fromkeys(REPEAT_EXPLORE_KEYS, 0.0)
    top = (
        _unify(truth, lists, key)
        .filter(pl.col(C.RANK).cast(pl.Int64) <= k)
        .select(*key, pl.lit(True).alias(_HIT))
    )
    before = (
        _unify(truth, bought.select(key), key).unique().with_columns(pl.lit(True).alias(_REPEAT))
    )
    # one row per truth pair, flagged: bought before the cut? in the top-k list? (lists hold
    # a product once per customer, so the left joins add no rows)
    flagged = (
        truth.join(before, on=key, how="left")
        .join(top, on=key, how="left")
        .with_columns(pl.col(_REPEAT).fill_null(False), pl.col(_HIT).fill_null(False))
    )
    rep, hit = pl.col(_REPEAT), pl.col(_HIT)
    per = flagged.group_by(C.CUSTOMER).agg(
        n_repeat=rep.sum().cast(pl.Float64),
        n_explore=(~rep).sum().cast(pl.Float64),
        hit_repeat=(hit & rep).sum().cast(pl.Float64),
        hit_explore=(hit & ~rep).sum().cast(pl.Float64),
    )
    n_repeat, n_explore = pl.col("n_repeat"), pl.col("n_explore")
    hit_repeat, hit_explore = pl.col("hit_repeat"), pl.col("hit_explore")
    totals = per.select(
        hit_repeat=hit_repeat.sum(),
        hits=(hit_repeat + hit_explore).sum(),
        truth_repeat=n_repeat.sum(),
        truth=(n_repeat + n_explore).sum(),
        explore_recall=(hit_explore / n_explore).filter(n_explore > 0).mean(),
        repeat_recall=(hit_repeat / n_repeat).filter(n_repeat > 0).mean(),
        customers_explore=(n_explore > 0).sum().cast(pl.Float64),
        customers_repeat=(n_repeat > 0).sum().cast(pl.Float64),
    ).row(0, named=True)
    hits, truth_pairs = totals["hits"], totals["truth"]
    return {
        "repeat_share": totals["hit_repeat"] / hits if hits else 0.0,
        "explore_recall": float(totals["explore_recall"] or 0.0),
        "repeat_recall": float(totals["repeat_recall"] or 0.0),
        "truth_repeat_share": totals["truth_repeat"] / truth_pairs if truth_pairs else 0.0,
        "customers_explore": float(totals["customers_explore"]),
        "customers_repeat": float(totals["customers_repeat"]),
    }


def lift(metrics: Mapping[str, float], baseline: Mapping[str, float], key: str = "ndcg") -> float:
    """Relative change of ``metrics[key]`` over ``baseline[key]``: (m - b) / b.

    With b == 0 there is no ratio: ``inf`` if m > 0, else 0.0.
    """
    m, b = float(metrics[key]), float(baseline[key])
    if b == 0:
        return math.inf if m > 0 else 0.0
    return (m - b) / b
