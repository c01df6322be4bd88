"""Customer segments and channel eligibility, from one row of activity per customer.

The input (``sql/marts/customer_activity.sql``) holds, per customer known at the as-of date
D: ``signup_date``, ``first_order_at``, ``last_order_at`` (completed orders), ``orders_365``,
``revenue_365`` (net of returns) and ``last_visit_at``, all from history before D.

Ages are whole calendar days before D: anything on D - 1 is 1 day old. With the defaults of
``SegmentRules``, each customer gets the first segment whose rule holds, in this order:

1. ``vip``: last order at most ``active_days`` ago (the *active pool*), ranked by
   ``revenue_365`` descending, ties by ``customer_id`` ascending; the first
   ``floor(vip_share x pool size)`` of the pool who also have at least ``vip_min_orders``
   ``orders_365`` (a top customer with fewer orders is not VIP and the slot is not refilled).
2. ``new``: first order, or signup when the customer never ordered, at most ``new_days`` ago.
3. ``active``: last order at most ``active_days`` ago.
4. ``lapsing``: last order more than ``active_days`` and at most ``lapsing_days`` ago.
5. ``lost``: last order more than ``lapsing_days`` ago.
6. ``prospect``: never ordered (and signed up more than ``new_days`` ago).

So exactly 30 days is still new, exactly 60 still active, exactly 180 still lapsing.

Eligibility: the email goes to consenting customers, optionally only to those who have not
visited for a while (``email_eligible``); the re-engagement (win-back) email to consenting
lapsing customers (``winback_customers``).

Pure functions on polars frames: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from models import columns as C

VIP = "vip"
NEW = "new"
ACTIVE = "active"
LAPSING = "lapsing"
LOST = "lost"
PROSPECT = "prospect"
SEGMENTS = (VIP, NEW, ACTIVE, LAPSING, LOST, PROSPECT)  # in the order the rules apply

DAYS_SINCE_ORDER = "days_since_order"
DAYS_SINCE_VISIT = "days_since_visit"
_EPS = 1e-9  # floor(0.29 * 100) must be 29, not 28


@dataclass(frozen=True)
class SegmentRules:
    """Thresholds of the segment rules (days are whole calendar days before the as-of date)."""

    new_days: int = 30
    active_days: int = 60
    lapsing_days: int = 180
    vip_share: float = 0.05
    vip_min_orders: int = 3

    def __post_init__(self) -> None:
        if min(self.new_days, self.active_days, self.lapsing_days, self.vip_min_orders) < 0:
            raise ValueError("segment days and vip_min_orders must not be negative")
        if self.active_days > self.lapsing_days:
            raise ValueError("active_days must not exceed lapsing_days")
        if not 0.0 <= self.vip_share <= 1.0:
            raise ValueError("vip_share must be within [0, 1]")


def _days_before(as_of: dt.date, column: str) -> pl.Expr:
    """Whole calendar days from the date of ``column`` (a date or timestamp) to ``as_of``."""
    return (pl.lit(as_of, dtype=pl.Date) - pl.col(column).cast(pl.Date)).dt.total_days()


def _vip_flag(frame: pl.DataFrame, rules: SegmentRules) -> pl.Expr:
    """True for the VIPs: the top ``vip_share`` of the active pool by revenue_365 (ties by
    customer_id) with at least ``vip_min_orders`` orders_365."""
    in_pool = pl.col(DAYS_SINCE_ORDER).is_not_null() & (
        pl.col(DAYS_SINCE_ORDER) <= rules.active_days
    )
    pool_size = frame.select(in_pool.sum()).item()
    slots = int(rules.vip_share * pool_size + _EPS)
    ranked = frame.filter(in_pool).sort(
        [pl.col("revenue_365"), pl.col(C.CUSTOMER)], descending=[True, False]
    )
    top = ranked.head(slots).filter(pl.col("orders_365") >= rules.vip_min_orders)
    return pl.col(C.CUSTOMER).is_in(top.get_column(C.CUSTOMER).implode())


def segments(activity: pl.DataFrame, as_of: dt.date, settings: SegmentRules) -> pl.DataFrame:
    """Per customer of ``activity``: ``segment`` and the whole days since their last order and
    last visit (Int32, null where there was none), sorted by customer_id. The rules and their
    order are in the module docstring."""
    rules = settings
    aged = activity.with_columns(
        _days_before(as_of, "last_order_at").cast(pl.Int32).alias(DAYS_SINCE_ORDER),
        _days_before(as_of, "last_visit_at").cast(pl.Int32).alias(DAYS_SINCE_VISIT),
        pl.coalesce(_days_before(as_of, "first_order_at"), _days_before(as_of, "signup_date"))
        .cast(pl.Int32)
        .alias("_days_since_first"),
        pl.col("revenue_365").fill_null(0.0),
        pl.col("orders_365").fill_null(0),
    )
    since_order = pl.col(DAYS_SINCE_ORDER)
    segment = (
        pl.when(_vip_flag(aged, rules))
        .then(pl.lit(VIP))
        .when(pl.col("_days_since_first") <= rules.new_days)
        .then(pl.lit(NEW))
        .when(since_order <= rules.active_days)
        .then(pl.lit(ACTIVE))
        .when(since_order <= rules.lapsing_days)
        .then(pl.lit(LAPSING))
        .when(since_order.is_not_null())
        .then(pl.lit(LOST))
        .otherwise(pl.lit(PROSPECT))
    )
    return aged.select(
        C.CUSTOMER,
        segment.alias(C.SEGMENT),
        DAYS_SINCE_ORDER,
        DAYS_SINCE_VISIT,
    ).sort(C.CUSTOMER)


def _consenting(customers: pl.DataFrame) -> pl.DataFrame:
    return customers.filter(pl.col(C.EMAIL_CONSENT).fill_null(False)).select(C.CUSTOMER)


def email_eligible(
    customers: pl.DataFrame, activity_segments: pl.DataFrame, min_days_since_visit: int = 0
) -> pl.Series:
    """Customer ids that may get the email, sorted: consenting (``customers``: customer_id,
    email_consent) and, when ``min_days_since_visit > 0``, not seen for at least that many days
    (``activity_segments``: customer_id, days_since_visit); never seen counts as eligible."""
    eligible = _consenting(customers)
    if min_days_since_visit > 0:
        seen = activity_segments.select(C.CUSTOMER, DAYS_SINCE_VISIT)
        eligible = eligible.join(seen, on=C.CUSTOMER, how="left").filter(
            pl.col(DAYS_SINCE_VISIT).is_null() | (pl.col(DAYS_SINCE_VISIT) >= min_days_since_visit)
        )
    return eligible.get_column(C.CUSTOMER).unique().sort()


def winback_customers(segments_frame: pl.DataFrame, customers: pl.DataFrame) -> pl.Series:
    """Customer ids for the re-engagement email, sorted: consenting and in segment lapsing."""
    lapsing = segments_frame.filter(pl.col(C.SEGMENT) == LAPSING).select(C.CUSTOMER)
    return (
        _consenting(customers)
        .join(lapsing, on=C.CUSTOMER, how="semi")
        .get_column(C.CUSTOMER)
        .unique()
        .sort()
    )
