"""The generator's realism parameters: module constants for the basic shape, and
:class:`ShopShape` for what makes the shop look like a real one under a time split (buying again,
complements, seasonal bestsellers), which callers may change."""

from __future__ import annotations

from dataclasses import dataclass

# --- catalogue ----------------------------------------------------------------------------------

PRODUCTS_PER_CATEGORY = 100
MIN_CATEGORIES, MAX_CATEGORIES = 5, 60
CATEGORY_POPULARITY_CONCENTRATION = 2.0  # Dirichlet over categories: global category popularity
CATEGORY_SIZE_CONCENTRATION = 3.0  # Dirichlet over categories: share of the catalogue
CATEGORY_SIZE_PULL = 1.0  # category popularity is the Dirichlet draw times size ** this
ZIPF_EXPONENT = (1.0, 1.2)  # per category, uniform in this range
PRICE_MEDIAN = 25.0
PRICE_CATEGORY_SIGMA = 0.8  # log-spread of category medians
PRICE_ITEM_SIGMA = 0.5  # log-spread of prices inside a category
OUT_OF_STOCK_SHARE = 0.07
STOCK_GEOMETRIC_P = 0.02  # in-stock quantities are geometric with mean 1 / p
INACTIVE_SHARE = 0.03
MIN_INTERVAL_DAYS, MAX_INTERVAL_DAYS = 5, 180  # product repurchase intervals are clipped to this
SEASON_STEP_DAYS = 4  # popularity is recomputed every this many days ...
MAX_SEASON_STEPS = 64  # ... or in at most this many steps over the window

# --- customers ----------------------------------------------------------------------------------

CONSENT_SHARE = 0.60
COUNTRIES = ("GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE")
COUNTRY_WEIGHTS = (0.22, 0.20, 0.16, 0.08, 0.11, 0.10, 0.08, 0.05)
COUNTRY_NULL_SHARE = 0.02
SIGNUP_BEFORE_WINDOW_SHARE = 0.40
SIGNUP_HISTORY_DAYS = 730  # how far before the window early sign-ups go
COLD_SHARE = 0.09  # customers with no activity at all
COLD_RECENT_SHARE = 0.40  # of those, the share that signed up in the last days
RECENT_DAYS = 7

TASTE_CONCENTRATION = 0.8  # total Dirichlet mass; small, so taste sits on 1-3 categories
TASTE_NOISE = 0.15  # share of sessions whose category follows global popularity instead
ACTIVITY_MEDIAN = 1.0  # sessions per 30 days, besides the first one
ACTIVITY_SIGMA = 0.9  # lognormal spread of activity

# --- sessions, carts, orders --------------------------------------------------------------------

EXTRA_VIEWS_MEAN = 3.0  # views per session: 1 + Poisson(this), capped
MAX_VIEWS_PER_SESSION = 30
VIEW_GAP_MIN_S, VIEW_GAP_MEAN_S, VIEW_GAP_MAX_S = 2, 45.0, 900
LAST_CART_WINDOW_S = 240  # a cart on the session's last view comes within this many seconds
CART_RATE = 0.15
BUY_RATE = 0.45
CANCEL_RATE = 0.02
EXTRA_QUANTITY_MEAN = 0.3
ORDER_DELAY_S = (30, 600)  # checkout after the session's last add-to-cart
RETURN_RATE = 0.07
RETURN_DAYS = (3, 20)


@dataclass(frozen=True)
class ShopShape:
    """Buying again, complements and seasons: the shape real shops show under a time split.

    Consumables: ``consumable_share`` of the products (more in some categories, fewer in
    others) are bought again on a cycle. Each category has a median interval, log-uniform in
    ``interval_median_days``; a product's interval is log-normal around it (``interval_sigma``).
    Only ``configured_interval_share`` of the consumables carry it in the products file
    (``repurchase_interval_days``); the job has to learn the others from history. Everyday
    items sell more: a consumable's popularity is ``consumable_popularity`` times the power
    law's.

    Habits: a customer's first purchase of a consumable (kept, not returned) becomes a habit
    with the customer's own probability, Beta(``habit_beta``) over customers. A habit comes
    round every interval times the customer's pace (log-normal, ``pace_sigma``), each cycle
    +- ``cycle_jitter``, and goes on after each cycle with ``habit_keep``. A cycle buys the
    product again (an order of its own) when the product is in season, else only with its
    seasonal multiplier as probability.

    Complements: every product has ``complements`` (low, high) complement products, each from
    another category with ``complement_other_category`` (then one drawn by global category
    popularity), any product of that category. Each bought line (browsing orders and habits
    alike) adds one of its complements to the order with ``complement_rate`` (a checkout
    suggestion: no event).

    Seasons: each product's popularity is multiplied by ``exp(a * sin(2 pi t / period + phase))``
    with ``a`` uniform in ``season_amplitude`` and ``period`` in ``season_period_days``, so
    bestsellers rise and fall over the window (and habits skip cycles out of season).

    Warm-up: the shop is older than its files. Customers who signed up before the window were
    already active up to ``warm_up_days`` before it; only what falls inside the window is
    written, so their habits carry into it (a repurchase may be the first row of its product).
    """

    consumable_share: float = 0.30
    configured_interval_share: float = 0.20
    consumable_popularity: float = 2.0
    interval_median_days: tuple[float, float] = (7.0, 45.0)
    interval_sigma: float = 0.35
    habit_beta: tuple[float, float] = (6.0, 1.0)
    habit_keep: float = 0.97
    pace_sigma: float = 0.2
    cycle_jitter: float = 0.15
    complements: tuple[int, int] = (1, 3)
    complement_other_category: float = 0.7
    complement_rate: float = 0.25
    season_period_days: tuple[float, float] = (60.0, 180.0)
    season_amplitude: tuple[float, float] = (1.2, 2.4)
    warm_up_days: int = 120

    def __post_init__(self) -> None:
        shares = (
            self.consumable_share,
            self.configured_interval_share,
            self.habit_keep,
            self.cycle_jitter,
            self.complement_other_category,
            self.complement_rate,
        )
        if not all(0.0 <= s <= 1.0 for s in shares) or self.cycle_jitter >= 1.0:
            raise ValueError("ShopShape shares must lie in [0, 1] (cycle_jitter below 1)")
        lo, hi = self.complements
        if not 0 <= lo <= hi:
            raise ValueError("ShopShape.complements must be (low, high) with 0 <= low <= high")
        if self.warm_up_days < 0:
            raise ValueError("ShopShape.warm_up_days must not be negative")
        if min(*self.interval_median_days, *self.season_period_days, *self.habit_beta) <= 0:
            raise ValueError("ShopShape intervals, periods and habit_beta must be positive")
