"""The lists each customer gets, per channel: candidate pools made in chunks, the channel
policy (``models.channels``: eligibility, rotation, variety, discovery, segments), a reason on
every row (``models.reasons``), and the rule check before anything is published. What the
stage reads besides the model is in ``flows.tonight``."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from flows.config import Settings
from flows.errors import DataQualityError
from flows.progress import stage_progress
from flows.spool import Lists
from flows.tonight import Tonight
from models import channels as policy
from models import columns as C
from models import discovery, reasons, rules
from models.anchors import anchors
from models.recommender import Fitted, Inputs, recommend
from models.variety import cap_categories

# customers whose candidate pools one thread holds at once (about 0.5 GB at 1M); with
# ``scale.offer_threads`` = 2, two chunks are made at once
OFFER_CHUNK = 25_000
NO_TONIGHT = Tonight()
A = TypeVar("A")
R = TypeVar("R")


def pool_size(settings: Settings) -> int:
    """Candidates ranked per customer before the channel rules pick each list."""
    return settings.offers.shop_k * settings.offers.pool_factor


def channel_rules(settings: Settings) -> policy.ChannelRules:
    o, s = settings.offers, settings.segments
    return policy.ChannelRules(
        shop_k=o.shop_k,
        email_k=o.email_k,
        shop_per_category=o.shop_per_category,
        email_per_category=o.email_per_category,
        email_min_days_since_visit=s.email_min_days_since_visit,
        winback_k=s.winback_k,
        new_slots_shop=o.new_slots_shop,
        new_slots_email=o.new_slots_email,
    )


def channel_lists(
    pool: pl.DataFrame,
    inputs: Inputs,
    settings: Settings,
    *,
    tonight: Tonight = NO_TONIGHT,
    fitted: Fitted | None = None,
) -> dict[str, pl.DataFrame]:
    """Every channel's lists from each customer's ranked candidate pool, each row with its
    reason, checked against every rule; raises DataQualityError (nothing published) if one
    is broken. ``fitted`` (the model that made the pool) anchors the model's picks."""
    lists = _lists(pool, inputs, settings, tonight, fitted)
    check_lists(lists, inputs, settings, tonight)
    return lists


def offer_lists(
    fitted: Fitted,
    inputs: Inputs,
    settings: Settings,
    *,
    tonight: Tonight = NO_TONIGHT,
    chunk: int = OFFER_CHUNK,
) -> dict[str, pl.DataFrame]:
    """``spool_lists`` kept in memory, whole frames per channel (small shops, evaluation)."""
    return spool_lists(fitted, inputs, settings, tonight=tonight, chunk=chunk).as_dict()


def spool_lists(
    fitted: Fitted,
    inputs: Inputs,
    settings: Settings,
    *,
    tonight: Tonight = NO_TONIGHT,
    chunk: int = OFFER_CHUNK,
    folder: Path | None = None,
) -> Lists:
    """``channel_lists`` for every served customer, ``chunk`` customers at a time: a pool of
    ``pool_size`` candidates per customer for a million customers would not fit in memory.
    Each checked chunk goes to ``folder`` as Parquet parts (``flows.spool``; None: kept)."""
    lists = Lists() if folder is None else Lists.spooled(folder)
    if settings.scale.engine == "dask":
        from flows.scaling import offer_lists_sharded  # dask is imported only when configured

        return offer_lists_sharded(fitted, inputs, settings, tonight, lists)
    served = served_users(fitted)
    starts = range(0, max(len(served), 1), chunk)

    def made(lo: int) -> dict[str, pl.DataFrame]:
        part = chunk_lists(fitted, inputs, settings, tonight, served[lo : lo + chunk])
        # every rule is per customer and a chunk holds whole customers: checked chunk by
        # chunk, the rule check never joins a million customers' lists at once
        check_lists(part, inputs, settings, tonight)
        return part

    threads = settings.scale.offer_threads
    # one BLAS thread, set once for the whole stage: threadpoolctl's limits are process wide,
    # and the scorers' own nested limits then change nothing while threads run
    label = f"offer lists, {len(served):,} customers"
    with threadpool_limits(1, "blas"), stage_progress(label, len(starts)) as advance:
        for part in ordered_map(made, starts, threads=threads):
            lists.add(part)
            advance()
    return lists


def ordered_map(make: Callable[[A], R], items: Iterable[A], *, threads: int) -> Iterator[R]:
    """``make(item)`` for each item, yielded in the items' order, up to ``threads`` made at
    once (polars, numpy and implicit release the GIL for their work: on 2 cores, 2 threads
    made the 1M offer stage 1.3x faster). At most ``threads`` results are held besides the
    one the caller has; the first error is raised once the running ones are done, and
    nothing after the failed item is yielded."""
    if threads == 1:
        yield from map(make, items)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="offer") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(make, item))
                if len(pending) == threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def served_users(fitted: Fitted) -> np.ndarray:
    """Positions of the customers who get lists tonight."""
    return fitted.served if fitted.served is not None else np.arange(len(fitted.users))


def chunk_lists(
    fitted: Fitted, inputs: Inputs, settings: Settings, tonight: Tonight, users: np.ndarray
) -> dict[str, pl.DataFrame]:
    """Every channel's lists of one chunk of customers (``users``: positions in the model),
    not yet checked: their candidate pool, the channel policy and the reasons."""
    pool = recommend(fitted, pool_size(settings), users=users)
    return _lists(pool, inputs, settings, tonight, fitted)


def shop_list(
    pool: pl.DataFrame, products: pl.DataFrame, settings: Settings, k: int | None = None
) -> pl.DataFrame:
    """The shop channel's model pick from candidate pools: the best ``k`` (default
    ``shop_k``) per customer with at most ``shop_per_category`` of one category."""
    o = settings.offers
    return cap_categories(pool, products, cap=o.shop_per_category, k=k or o.shop_k)


def judged_shop_lists(
    fitted: Fitted, products: pl.DataFrame, settings: Settings, users: np.ndarray, k: int
) -> pl.DataFrame:
    """The shop lists of ``users`` as the model makes them (at least ``k`` long), for judging
    them; discovery slots are left out: they are the same whichever model is in charge."""
    pool = recommend(fitted, pool_size(settings), users=users)
    return shop_list(pool, products, settings, k=max(k, settings.offers.shop_k))


def _lists(
    pool: pl.DataFrame,
    inputs: Inputs,
    settings: Settings,
    tonight: Tonight,
    fitted: Fitted | None,
) -> dict[str, pl.DataFrame]:
    # the chunk's customers only: every rule is per customer, and a million customers'
    # consent, segments and sends need not be joined again for each chunk
    who = pool.select(C.CUSTOMER).unique()

    def theirs(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if frame is None else frame.join(who, on=C.CUSTOMER, how="semi")

    audience = policy.Audience(
        customers=inputs.customers.join(who, on=C.CUSTOMER, how="semi"),
        products=inputs.products,
        segments=theirs(tonight.segments),
        recently_sent=theirs(tonight.recently_sent),
        discovery=_discovery(pool, inputs, settings, tonight),
    )
    lists = policy.select(pool, audience, channel_rules(settings))
    return _explain(lists, inputs, settings, tonight, fitted)


def _discovery(
    pool: pl.DataFrame, inputs: Inputs, settings: Settings, tonight: Tonight
) -> pl.DataFrame | None:
    """New-product candidates for the pool's customers (None: no slots, or nothing new)."""
    o = settings.offers
    slots = max(o.new_slots_shop, o.new_slots_email)
    new, shelf = tonight.new_products, tonight.catalogue
    if slots == 0 or new is None or new.height == 0 or shelf is None:
        return None
    who = pool.select(C.CUSTOMER).unique()
    history = inputs.interactions.join(who, on=C.CUSTOMER, how="semi")
    return discovery.discovery_candidates(
        history, shelf, new, per_customer=slots + settings.offers.email_k
    )


def _explain(
    lists: dict[str, pl.DataFrame],
    inputs: Inputs,
    settings: Settings,
    tonight: Tonight,
    fitted: Fitted | None,
) -> dict[str, pl.DataFrame]:
    """A reason code, anchor and text on every row (``models.reasons``)."""
    rows = pl.concat([f.select(C.CUSTOMER, C.PRODUCT, C.SOURCE) for f in lists.values()])
    rows = rows.unique([C.CUSTOMER, C.PRODUCT], keep="first")
    bought = inputs.bought if inputs.bought is not None else inputs.exclusions
    goes_with = tonight.goes_with
    if goes_with is None:
        goes_with = pl.DataFrame(
            schema={C.PRODUCT: pl.String, "goes_with_id": pl.String, C.RANK: pl.Int32}
        )
    found = _anchors(rows, fitted)
    shelf = tonight.catalogue
    if shelf is None:
        shelf = inputs.products.with_columns(pl.lit(None, dtype=pl.String).alias("title"))
    labels = settings.offers.reasons

    def explain(frame: pl.DataFrame, winback: bool = False) -> pl.DataFrame:
        coded = reasons.assign(
            frame, anchors=found, bought=bought, goes_with=goes_with, winback=winback
        )
        return reasons.texts(coded, shelf, labels)

    # a (customer, product) pair has the same reason on every channel (one candidate pool),
    # so it is worked out once; the winback list has its own reason (a small frame)
    once = explain(rows).select(C.CUSTOMER, C.PRODUCT, C.REASON, C.ANCHOR, C.REASON_TEXT)
    out = {}
    for channel, frame in lists.items():
        if channel == C.CHANNEL_WINBACK:
            explained = explain(frame, winback=True)
        else:
            explained = frame.join(once, on=[C.CUSTOMER, C.PRODUCT], how="left")
        out[channel] = explained.select(*C.OFFER_COLUMNS).sort(C.CUSTOMER, C.RANK)
    return out


def _anchors(rows: pl.DataFrame, fitted: Fitted | None) -> pl.DataFrame:
    """(customer_id, product_id, anchor_id) of the model's picks among ``rows``."""
    empty = pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String, C.ANCHOR: pl.String})
    if fitted is None or fitted.model is None:
        return empty
    picks = rows.filter(pl.col(C.SOURCE).is_in(list(reasons.ANCHOR_SOURCES)))
    if picks.height == 0:
        return empty
    users = fitted.users.positions(picks.get_column(C.CUSTOMER))
    items = fitted.items.positions(picks.get_column(C.PRODUCT))
    known = (users >= 0) & (items >= 0)
    found = np.full(picks.height, -1, dtype=np.int64)
    found[known] = anchors(fitted.model, fitted.user_items, users[known], items[known])
    has = found >= 0
    return (
        picks.filter(pl.Series(has))
        .select(C.CUSTOMER, C.PRODUCT)
        .with_columns(fitted.items.to_external(found[has]).alias(C.ANCHOR))
    )


def check_lists(
    lists: dict[str, pl.DataFrame], inputs: Inputs, settings: Settings, tonight: Tonight
) -> None:
    """Every rule on the final lists; DataQualityError (nothing published) if one is broken."""
    offerable = inputs.offerable.select(C.PRODUCT)
    if tonight.new_products is not None:
        offerable = pl.concat([offerable, tonight.new_products.select(C.PRODUCT)]).unique()
    recent = tonight.recently_sent
    problems = rules.violations(
        lists,
        offerable=offerable,
        exclusions=inputs.exclusions,
        customers=inputs.customers,
        limits={
            C.CHANNEL_SHOP: settings.offers.shop_k,
            C.CHANNEL_EMAIL: settings.offers.email_k,
            C.CHANNEL_WINBACK: settings.segments.winback_k,
        },
        not_again={C.CHANNEL_EMAIL: recent, C.CHANNEL_WINBACK: recent}
        if recent is not None
        else None,
    )
    if problems:
        raise DataQualityError(
            "offer lists break the rules; nothing published:\n- " + "\n- ".join(problems)
        )
