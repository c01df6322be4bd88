"""Which customer gets which list on which channel: the policy, on frames (no I/O).

From each customer's ranked candidate pool, in this order:

1. **Eligibility.** Everyone served gets a shop list. Email needs consent and, when
   ``email_min_days_since_visit`` > 0, a customer who has not visited the shop for that many
   days (one who never visited qualifies). Consenting *lapsing* customers get the
   re-engagement list (``winback``) instead of the regular email, so nobody gets two emails a
   night.
2. **Rotation.** Email and winback skip products e-mailed to the customer within the repeat
   window; the shop list may repeat.
3. **Variety.** At most ``*_per_category`` items of one category per list (``models.variety``);
   lists stay full wherever the pool has enough other categories.
4. **Discovery.** ``new_slots_*`` slots per list go to products nobody has interacted with yet,
   matched to the customer's categories and price band (``models.discovery``).
5. **Segment.** Every row carries the customer's segment tonight (``models.segments``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from models import columns as C
from models import discovery
from models import segments as seg
from models.variety import cap_categories

NO_SEGMENT = seg.PROSPECT  # a customer the activity mart does not know (no order, no visit)


@dataclass(frozen=True)
class ChannelRules:
    """The per-channel settings of the offer stage (``flows.config.OfferSettings``)."""

    shop_k: int = 20
    email_k: int = 5
    shop_per_category: int | None = 5
    email_per_category: int | None = 2
    email_min_days_since_visit: int = 0
    winback_k: int = 5
    new_slots_shop: int = 2
    new_slots_email: int = 0


@dataclass(frozen=True)
class Audience:
    """Who is who tonight.

    customers: (customer_id, email_consent). products: (product_id, category).
    segments: (customer_id, segment, days_since_visit) or None (nobody segmented).
    recently_sent: (customer_id, product_id) e-mailed within the repeat window, or None.
    discovery: (customer_id, product_id, score, source) new-product candidates, or None.
    """

    customers: pl.DataFrame
    products: pl.DataFrame
    segments: pl.DataFrame | None = None
    recently_sent: pl.DataFrame | None = None
    discovery: pl.DataFrame | None = None


def select(pool: pl.DataFrame, audience: Audience, rules: ChannelRules) -> dict[str, pl.DataFrame]:
    """Per channel, the ranked lists (customer_id, rank, product_id, score, source, segment)."""
    email_ids, winback_ids = recipients(audience, rules)
    shop = cap_categories(pool, audience.products, cap=rules.shop_per_category, k=rules.shop_k)
    shop = _discover(shop, audience, rules.shop_k, rules.new_slots_shop, rules.shop_per_category)
    lists = {
        C.CHANNEL_SHOP: shop,
        C.CHANNEL_EMAIL: _email(pool, email_ids, audience, rules, rules.email_k),
    }
    if rules.winback_k > 0:
        lists[C.CHANNEL_WINBACK] = _email(pool, winback_ids, audience, rules, rules.winback_k)
    return {channel: _with_segment(frame, audience) for channel, frame in lists.items()}


def recipients(audience: Audience, rules: ChannelRules) -> tuple[pl.Series, pl.Series]:
    """(regular email, winback) customer ids: e-mail eligible (``models.segments``), and the
    lapsing ones taken out of the regular email when the winback list is on."""
    segments = _segments(audience)
    eligible = seg.email_eligible(audience.customers, segments, rules.email_min_days_since_visit)
    if rules.winback_k == 0:
        return eligible, eligible.clear()
    lapsing = seg.winback_customers(segments, audience.customers)
    winback = eligible.filter(eligible.is_in(lapsing.implode()))
    return eligible.filter(~eligible.is_in(lapsing.implode())), winback


def _email(
    pool: pl.DataFrame, ids: pl.Series, audience: Audience, rules: ChannelRules, k: int
) -> pl.DataFrame:
    chosen = pool.filter(pl.col(C.CUSTOMER).is_in(ids.implode()))
    sent = audience.recently_sent
    if sent is not None and sent.height:
        chosen = chosen.join(sent, on=[C.CUSTOMER, C.PRODUCT], how="anti")
        chosen = _renumber(chosen)
    capped = cap_categories(chosen, audience.products, cap=rules.email_per_category, k=k)
    fresh = audience.discovery
    if fresh is not None and sent is not None and sent.height:
        fresh = fresh.join(sent, on=[C.CUSTOMER, C.PRODUCT], how="anti")
    audience = replace(audience, discovery=fresh)
    return _discover(capped, audience, k, rules.new_slots_email, rules.email_per_category)


def _discover(
    lists: pl.DataFrame, audience: Audience, k: int, slots: int, cap: int | None
) -> pl.DataFrame:
    """``slots`` new products into each list (``models.discovery``), only as many of a
    category as the list's category cap still has room for."""
    fresh = audience.discovery
    if slots == 0 or fresh is None or fresh.height == 0:
        return lists
    if cap is not None:
        held = (
            lists.join(audience.products, on=C.PRODUCT, how="left")
            .group_by(C.CUSTOMER, C.CATEGORY)
            .agg(pl.len().alias("_held"))
        )
        fresh = (
            fresh.join(held, on=[C.CUSTOMER, C.CATEGORY], how="left")
            .sort(C.CUSTOMER, C.SCORE, C.PRODUCT, descending=[False, True, False])
            .with_columns(pl.int_range(1, pl.len() + 1).over(C.CUSTOMER, C.CATEGORY).alias("_nth"))
            .filter(pl.col("_nth") + pl.col("_held").fill_null(0) <= cap)
            .drop("_held", "_nth")
        )
    return discovery.insert_discovery(lists, fresh, k=k, slots=slots)


def _segments(audience: Audience) -> pl.DataFrame:
    if audience.segments is None:
        return pl.DataFrame(
            schema={C.CUSTOMER: pl.String, C.SEGMENT: pl.String, seg.DAYS_SINCE_VISIT: pl.Int32}
        )
    return audience.segments.select(C.CUSTOMER, C.SEGMENT, seg.DAYS_SINCE_VISIT)


def _with_segment(frame: pl.DataFrame, audience: Audience) -> pl.DataFrame:
    segments = _segments(audience).select(C.CUSTOMER, C.SEGMENT)
    return frame.join(segments, on=C.CUSTOMER, how="left").with_columns(
        pl.col(C.SEGMENT).fill_null(NO_SEGMENT)
    )


def _renumber(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(C.CUSTOMER, C.RANK).with_columns(
        pl.int_range(1, pl.len() + 1).over(C.CUSTOMER).cast(pl.Int32).alias(C.RANK)
    )
