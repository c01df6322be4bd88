"""Time-based holdout evaluation: would the lists we publish have matched what customers did?

``holdout(con, settings, as_of, days)`` cuts history at ``as_of - days``: the model, the
popularity, the id maps, the exclusions and the served customers see only what came before
the cut; the truth is what customers did in ``[cut, as_of)``. Stock and the active flag have
no history in the source, so they are not applied (today's stock would leak the future).
``evaluate`` then trains every candidate on the same prepared matrices and produces its lists
exactly as the nightly job would (same rules, same fallback, same channel split).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from flows import channels, sqlfiles, stages
from flows.config import Settings
from models import columns as C
from models.candidates import ModelSpec
from models.metrics import METRIC_KEYS, lift, ranking_metrics, repeat_explore_metrics
from models.recommender import Fitted, StoredModel, fit, fit_prepared, prepare
from models.refresh import refresh

TRUTH_KINDS = ("purchase", "add_to_cart", "view")


@dataclass(frozen=True)
class Holdout:
    """Everything needed to judge candidates on one time split."""

    cut: dt.date
    until: dt.date
    history: stages.History
    prepared: Fitted
    truth: dict[str, pl.DataFrame]
    item_popularity: pl.DataFrame

    @property
    def served(self) -> pl.Series:
        return self.history.inputs.customers.get_column(C.CUSTOMER)

    def metrics(self, lists: pl.DataFrame, truth: pl.DataFrame, k: int) -> dict[str, float]:
        """``ranking_metrics`` against this split's catalogue and training popularity."""
        return ranking_metrics(
            lists,
            truth,
            k,
            catalogue_size=max(self.history.inputs.offerable.height, 1),
            item_popularity=self.item_popularity,
        )

    def repeat_explore(self, lists: pl.DataFrame, truth: pl.DataFrame, k: int) -> dict[str, float]:
        """``repeat_explore_metrics``: repeat = bought before this split's cut."""
        bought = self.history.inputs.bought
        if bought is None:
            raise ValueError("the history has no purchases before the cut (inputs.bought)")
        return repeat_explore_metrics(lists, truth, bought, k)


def holdout(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: dt.date, days: int
) -> Holdout:
    """Train inputs before ``as_of - days``; truth in ``[as_of - days, as_of)``."""
    if days < 1:
        raise ValueError("the holdout window needs at least one day")
    cut = as_of - dt.timedelta(days=days)
    history = stages.read_history(con, cut, settings, use_stock=False)
    window = {"as_of": stages.as_of_timestamp(cut), "until": stages.as_of_timestamp(as_of)}
    served = history.inputs.customers.select(C.CUSTOMER)
    truth = {
        "purchase": sqlfiles.run(con, "marts/holdout_purchases", window).pl(),
        "add_to_cart": sqlfiles.run(
            con, "marts/holdout_events", {**window, "event_type": "add_to_cart"}
        ).pl(),
        "view": sqlfiles.run(con, "marts/holdout_events", {**window, "event_type": "view"}).pl(),
    }
    # only customers who would have had a list as of the cut are judged
    truth = {kind: t.join(served, on=C.CUSTOMER, how="semi") for kind, t in truth.items()}
    popularity = (
        history.inputs.interactions.group_by(C.PRODUCT).len(name="count").select(C.PRODUCT, "count")
    )
    return Holdout(
        cut=cut,
        until=as_of,
        history=history,
        prepared=prepare(history.inputs),
        truth=truth,
        item_popularity=popularity,
    )


def candidate_lists(
    data: Holdout, spec: ModelSpec, settings: Settings, *, seed: int
) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """The shop and email lists ``spec`` would have published as of the cut, and timings."""
    t0 = time.perf_counter()
    fitted = fit_prepared(data.prepared, spec, seed=seed)
    t1 = time.perf_counter()
    lists = channels.offer_lists(fitted, data.history.inputs, settings)
    t2 = time.perf_counter()
    return lists, {"fit_s": round(t1 - t0, 3), "lists_s": round(t2 - t1, 3)}


def score_lists(
    data: Holdout, lists: dict[str, pl.DataFrame], settings: Settings
) -> list[dict[str, Any]]:
    """Metrics per channel, list length and truth kind."""
    consenting = data.history.inputs.customers.filter(pl.col(C.EMAIL_CONSENT)).select(C.CUSTOMER)
    plan = [(C.CHANNEL_SHOP, k) for k in sorted({10, settings.offers.shop_k})] + [
        (C.CHANNEL_EMAIL, settings.offers.email_k)
    ]
    rows = []
    for channel, k in plan:
        for kind in TRUTH_KINDS:
            truth = data.truth[kind]
            if channel == C.CHANNEL_EMAIL:  # only consenting customers can get an email
                truth = truth.join(consenting, on=C.CUSTOMER, how="semi")
            metrics = data.metrics(lists[channel], truth, k)
            mix = data.repeat_explore(lists[channel], truth, k)
            rows.append({"channel": channel, "k": k, "truth": kind, **metrics, **mix})
    return rows


def evaluate(data: Holdout, specs: list[ModelSpec], settings: Settings) -> list[dict[str, Any]]:
    """Every candidate's metrics on the holdout (one row per candidate, channel, k, truth)."""
    rows: list[dict[str, Any]] = []
    for spec in specs:
        lists, timings = candidate_lists(data, spec, settings, seed=settings.seed)
        rows += candidate_rows(data, lists, settings, spec, spec.label, timings)
    return rows


def candidate_rows(
    data: Holdout,
    lists: dict[str, pl.DataFrame],
    settings: Settings,
    spec: ModelSpec,
    label: str,
    timings: dict[str, Any],
) -> list[dict[str, Any]]:
    """The report's rows of one candidate: who it is, each score row, its timings."""
    who = {
        "candidate": label,
        "kind": spec.kind,
        "baseline": spec.is_baseline,
        "params": spec.full_params,
    }
    return [{**who, **row, **timings} for row in score_lists(data, lists, settings)]


def refreshed_rows(
    con: duckdb.DuckDBPyConnection, data: Holdout, settings: Settings, *, days: int
) -> list[dict[str, Any]]:
    """ALS as an incremental night makes it (``als.full_retrain_days``): trained from scratch
    on the history before ``cut - days``, then refreshed on the history before the cut
    (``models.refresh``), scored like every candidate: the quality a refresh gives up against
    the full retrain at the cut (the ``als`` row)."""
    spec = stages.spec_for(settings, "als")
    since = data.cut - dt.timedelta(days=days)
    older = stages.read_history(con, since, settings, use_stock=False)
    t0 = time.perf_counter()
    base = fit(older.inputs, spec, seed=settings.seed)
    t1 = time.perf_counter()
    stored = StoredModel(spec, base.model, base.users, base.items)  # type: ignore[arg-type]
    fitted, customers, products = refresh(
        data.prepared, data.history.inputs.interactions, stored, stages.as_of_timestamp(since)
    )
    t2 = time.perf_counter()
    lists = channels.offer_lists(fitted, data.history.inputs, settings)
    timings = {
        "fit_s": round(t2 - t1, 3),
        "full_fit_s": round(t1 - t0, 3),
        "lists_s": round(time.perf_counter() - t2, 3),
        "refreshed_customers": customers,
        "refreshed_products": products,
    }
    label = f"{spec.kind} refreshed ({days} d)"  # short: the printed table cuts long labels
    return candidate_rows(data, lists, settings, spec, label, timings)


def main_score(rows: list[dict[str, Any]], candidate: str, metric: str, k: int) -> float:
    """The score that decides: shop list, purchases, ``metric``@``k``."""
    for row in rows:
        if (
            row["candidate"] == candidate
            and row["channel"] == C.CHANNEL_SHOP
            and row["k"] == k
            and row["truth"] == "purchase"
        ):
            return float(row[metric])
    raise KeyError(f"no shop@{k} purchase score for {candidate}")


def judged_scores(
    data: Holdout, specs: list[ModelSpec], settings: Settings, *, metric: str, k: int
) -> tuple[dict[str, float], int]:
    """``metric``@``k`` on purchases for each spec, listing only the judged customers.

    The search needs one number per candidate, so it skips the customers without a purchase
    in the holdout (their lists cannot change any accuracy metric). The lists are the shop
    lists as published (candidate pool, category cap). Returns the scores by spec label and
    the number of judged customers.
    """
    truth = data.truth["purchase"]
    judged = truth.select(C.CUSTOMER).unique()
    if judged.height == 0:
        return {spec.label: 0.0 for spec in specs}, 0
    users = (
        data.prepared.users.to_index(judged, C.CUSTOMER, C.USER_IDX).get_column(C.USER_IDX)
    ).to_numpy()
    scores = {}
    for spec in specs:
        fitted = fit_prepared(data.prepared, spec, seed=settings.seed)
        lists = channels.judged_shop_lists(fitted, data.history.inputs.products, settings, users, k)
        metrics = data.metrics(lists, truth, k)
        scores[spec.label] = float(metrics[metric])
    return scores, judged.height


# the report's table: who, which list, the list metrics (not the customer counts), how the
# hits split between buying again and buying new, fit time
TABLE_COLUMNS = (
    "candidate",
    "channel",
    "k",
    *METRIC_KEYS[:-2],
    "repeat_share",
    "explore_recall",
    "repeat_recall",
    "fit_s",
)
# what the judged customers bought, the same for every candidate and k: one row per channel
TRUTH_MIX_COLUMNS = ("channel", "truth_repeat_share", "customers_repeat", "customers_explore")


def build_report(
    data: Holdout,
    rows: list[dict[str, Any]],
    settings: Settings,
    *,
    seconds: float,
) -> dict[str, Any]:
    """The evaluation as one JSON-able dict: every row, the main score and lift per candidate."""
    g = settings.gate
    main = f"{g.metric}@{g.k}"
    candidates = list(dict.fromkeys(r["candidate"] for r in rows))
    scores = {c: main_score(rows, c, g.metric, g.k) for c in candidates}
    popular = scores.get("popular")
    lifts = {
        c: lift({"main": s}, {"main": popular}, key="main")
        for c, s in scores.items()
        if popular is not None
    }
    best = max(scores, key=lambda c: scores[c]) if scores else None
    baselines = [r["candidate"] for r in rows if r["baseline"]]
    best_baseline = max((scores[c] for c in set(baselines)), default=None)
    table = [{c: r[c] for c in TABLE_COLUMNS} for r in rows if r["truth"] == "purchase"]
    mix: dict[str, dict[str, Any]] = {}
    for r in rows:  # the same for every candidate judged on this split: the first one stands
        if r["truth"] == "purchase":
            mix.setdefault(r["channel"], {c: r[c] for c in TRUTH_MIX_COLUMNS})
    return {
        "as_of": data.until.isoformat(),
        "cut": data.cut.isoformat(),
        "holdout_days": (data.until - data.cut).days,
        "judged_customers": data.truth["purchase"].get_column(C.CUSTOMER).n_unique(),
        "main": main,
        "main_scores": scores,
        "lift_over_popular": lifts,
        "best": best,
        "best_is_baseline": best in set(baselines),
        "best_baseline_score": best_baseline,
        "config_hash": settings.config_hash(),
        "interactions": settings.interactions.model_dump(),
        "seconds": round(seconds, 2),
        "table_columns": list(TABLE_COLUMNS),
        "table": table,
        "truth_mix": list(mix.values()),
        "rows": rows,
    }
