"""Customers and their browsing: who they are, which categories they like, and the sessions of
views and add-to-cart events they leave (placed in time, for the seasons, before any product is
drawn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.contract import CUSTOMERS, EVENT_TYPES, EVENTS
from flows.generate import params as P
from flows.generate.arrays import (
    SECONDS_PER_DAY,
    Window,
    dates,
    frame,
    group_cumsum,
    ids,
    labels,
    position_in_group,
    stable_order,
    timestamps,
)
from flows.generate.catalogue import Catalog, Popularity

SESSION_NO_WIDTH = 7
PART_WIDTH = 5
_VIEW = EVENT_TYPES.index("view")
_ADD_TO_CART = EVENT_TYPES.index("add_to_cart")


@dataclass(frozen=True)
class Customers:
    """One chunk of customers; arrays are per customer."""

    ids: pl.Series
    consent: np.ndarray
    country: np.ndarray  # index into COUNTRIES, -1 for unknown
    signup: np.ndarray  # days since the epoch
    available_from: np.ndarray  # first second they can be active in the window
    active_from: np.ndarray  # first second they were active, warm-up before the window included
    n_sessions: np.ndarray
    taste: np.ndarray  # (customers, categories), rows sum to 1
    habit: np.ndarray  # chance that a first purchase of a consumable becomes a habit
    pace: np.ndarray  # their repurchase intervals are the product's times this

    def frame(self) -> pl.DataFrame:
        country = labels(P.COUNTRIES, np.maximum(self.country, 0))
        return frame(
            CUSTOMERS,
            self.ids,
            self.consent,
            dates(self.signup),
            country.set(pl.Series(self.country < 0), None),
        )


def draw_customers(
    rng: np.random.Generator,
    *,
    first_customer: int,
    n: int,
    id_width: int,
    catalog: Catalog,
    window: Window,
    shape: P.ShopShape,
) -> Customers:
    """Consent, country, sign-up, activity, taste and buying-again habits of ``n`` customers."""
    customer_ids = ids("C", np.arange(first_customer + 1, first_customer + n + 1), id_width)
    consent = rng.random(n) < P.CONSENT_SHARE
    country = rng.choice(len(P.COUNTRIES), size=n, p=P.COUNTRY_WEIGHTS)
    country = np.where(rng.random(n) < P.COUNTRY_NULL_SHARE, -1, country)
    cold = rng.random(n) < P.COLD_SHARE
    signup = np.where(
        rng.random(n) < P.SIGNUP_BEFORE_WINDOW_SHARE,
        window.start_day - rng.integers(1, P.SIGNUP_HISTORY_DAYS + 1, n),
        window.start_day + rng.integers(0, window.days, n),
    )
    recent = cold & (rng.random(n) < P.COLD_RECENT_SHARE)
    signup = np.where(
        recent, window.end_day - rng.integers(1, min(P.RECENT_DAYS, window.days) + 1, n), signup
    )
    activity = P.ACTIVITY_MEDIAN * np.exp(P.ACTIVITY_SIGMA * rng.standard_normal(n))
    taste = rng.dirichlet(P.TASTE_CONCENTRATION * catalog.category_weight, size=n)
    taste[~np.isfinite(taste).all(axis=1)] = catalog.category_weight

    # The first session falls in the window; the others anywhere since the customer became
    # active, up to warm_up_days before it (those leave only their habits in the files).
    available_from = np.maximum(signup, window.start_day).astype(np.int64) * SECONDS_PER_DAY
    active_from = np.maximum(signup, window.start_day - shape.warm_up_days).astype(np.int64)
    active_from *= SECONDS_PER_DAY
    active_days = (window.end_s - active_from) / SECONDS_PER_DAY
    n_sessions = np.where(cold, 0, 1 + rng.poisson(activity * active_days / 30.0))
    return Customers(
        ids=customer_ids,
        consent=consent,
        country=country,
        signup=signup,
        available_from=available_from,
        active_from=active_from,
        n_sessions=n_sessions,
        taste=taste,
        habit=rng.beta(*shape.habit_beta, n),
        pace=np.exp(shape.pace_sigma * rng.standard_normal(n)),
    )


@dataclass
class Visits:
    """Sessions (``s_*``), their views (``v_*``) and add-to-cart events (``c_*``). Offsets are
    seconds from the session's start; ``start`` is drawn first and may move earlier once the
    session's length is known (:meth:`place`)."""

    s_cust: np.ndarray
    start: np.ndarray
    lo: np.ndarray  # earliest start
    span: np.ndarray  # session length so far
    v_sess: np.ndarray
    v_prod: np.ndarray
    v_off: np.ndarray
    c_sess: np.ndarray
    c_prod: np.ndarray
    c_off: np.ndarray
    last_cart_off: np.ndarray  # per session, -1 without a cart

    def place(self, end_s: int) -> None:
        """Pull each session back so that it (and its checkout) ends before ``end_s``."""
        self.start = np.maximum(self.lo, np.minimum(self.start, end_s - 1 - self.span))


def _session_categories(
    rng: np.random.Generator, customers: Customers, s_cust: np.ndarray, catalog: Catalog
) -> np.ndarray:
    """A category per session: from the customer's taste or (noise) from global popularity."""
    n, k = customers.taste.shape
    u = rng.random(len(s_cust))
    taste_cdf = np.cumsum(customers.taste, axis=1)
    taste_cdf[:, -1] = 1.0
    taste_cdf += np.arange(n)[:, None]
    from_taste = np.searchsorted(taste_cdf.ravel(), s_cust + u, side="right") - s_cust * k
    from_global = np.searchsorted(catalog.category_cdf, u, side="right")
    noise = rng.random(len(s_cust)) < P.TASTE_NOISE
    return np.clip(np.where(noise, from_global, from_taste), 0, k - 1)


def browse(
    rng: np.random.Generator,
    customers: Customers,
    catalog: Catalog,
    popularity: Popularity,
    window: Window,
) -> Visits:
    """Sessions of views (1 + Poisson, seconds to minutes apart, products from the session's
    category as popular at the session's time) and add-to-cart events between them. A
    customer's first session lies in the window, the others may lie in the warm-up before it."""
    s_cust = np.repeat(np.arange(len(customers.n_sessions)), customers.n_sessions)
    n_sess = len(s_cust)
    s_cat = _session_categories(rng, customers, s_cust, catalog)
    first = position_in_group(customers.n_sessions) == 0
    lo = np.where(first, customers.available_from[s_cust], customers.active_from[s_cust])
    start = lo + (rng.random(n_sess) * (window.end_s - lo)).astype(np.int64)

    n_views = np.minimum(1 + rng.poisson(P.EXTRA_VIEWS_MEAN, n_sess), P.MAX_VIEWS_PER_SESSION)
    v_sess = np.repeat(np.arange(n_sess), n_views)
    n_v = len(v_sess)
    v_u = rng.random(n_v)
    gap = P.VIEW_GAP_MIN_S + np.minimum(
        rng.exponential(P.VIEW_GAP_MEAN_S, n_v).astype(np.int64), P.VIEW_GAP_MAX_S
    )
    v_pos = position_in_group(n_views)
    gap[v_pos == 0] = 0
    v_off = group_cumsum(gap, n_views)
    is_last_view = v_pos == n_views[v_sess] - 1
    next_gap = np.full(n_v, P.LAST_CART_WINDOW_S, dtype=np.int64)
    next_gap[:-1] = np.where(is_last_view[:-1], P.LAST_CART_WINDOW_S, np.diff(v_off))

    # Add to cart: strictly between the view and the next view, so times never collide.
    carted = rng.random(n_v) < P.CART_RATE
    delay = 1 + (rng.random(n_v) * (next_gap - 1)).astype(np.int64)
    c_view = np.flatnonzero(carted)
    # Products only where they can show: views near or in the window, and every cart.
    v_prod = np.full(n_v, -1, dtype=np.int64)
    shown = np.flatnonzero(carted | (start[v_sess] >= window.start_s - SECONDS_PER_DAY))
    step = popularity.step(start)[v_sess[shown]]
    v_prod[shown] = popularity.sample(s_cat[v_sess[shown]], step, v_u[shown])
    c_sess = v_sess[c_view]
    c_off = v_off[c_view] + delay[c_view]
    last_cart = np.flatnonzero(np.append(c_sess[1:] != c_sess[:-1], len(c_sess) > 0))
    last_cart_off = np.full(n_sess, -1, dtype=np.int64)
    last_cart_off[c_sess[last_cart]] = c_off[last_cart]
    span = np.maximum(v_off[is_last_view], last_cart_off)
    return Visits(
        s_cust=s_cust, start=start, lo=lo, span=span,
        v_sess=v_sess, v_prod=v_prod, v_off=v_off,
        c_sess=c_sess, c_prod=v_prod[c_view], c_off=c_off, last_cart_off=last_cart_off,
    )  # fmt: skip


def event_frame(
    chunk_no: int, customer_ids: pl.Series, product_ids: pl.Series, visits: Visits, start_s: int
) -> pl.DataFrame:
    """Views and add-to-cart events from ``start_s`` on, by customer then time."""
    n_sess = len(visits.s_cust)
    session_no = np.empty(n_sess, dtype=np.int64)  # numbered by customer, then start time
    session_no[np.lexsort((visits.start, visits.s_cust))] = np.arange(1, n_sess + 1)
    e_sess = np.concatenate((visits.v_sess, visits.c_sess))
    e_t = visits.start[e_sess] + np.concatenate((visits.v_off, visits.c_off))
    n_v, n_c = len(visits.v_sess), len(visits.c_sess)
    e_type = np.concatenate((np.full(n_v, _VIEW), np.full(n_c, _ADD_TO_CART)))
    e_cust = visits.s_cust[e_sess]
    kept = np.flatnonzero(e_t >= start_s)
    e_perm = kept[stable_order(e_cust[kept], e_t[kept], e_type[kept])]
    session_ids = ids(f"S{chunk_no:0{PART_WIDTH}d}-", session_no[e_sess[e_perm]], SESSION_NO_WIDTH)
    return frame(
        EVENTS,
        customer_ids.gather(e_cust[e_perm]),
        product_ids.gather(np.concatenate((visits.v_prod, visits.c_prod))[e_perm]),
        labels(EVENT_TYPES, e_type[e_perm]),
        timestamps(e_t[e_perm]),
        session_ids,
    )
