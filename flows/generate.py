"""A realistic synthetic shop: customers, products, orders, order lines and browsing events.

The generator writes source files that follow :mod:`flows.contract`, with planted structure that
a recommender can learn:

* products belong to categories; inside a category, popularity follows a Zipf-like power law;
* every customer has a taste (a sparse Dirichlet over categories) and an activity level; each
  browsing session picks one category from that taste (or, now and then, from global category
  popularity) and views products from that category's popularity distribution;
* views turn into add-to-cart events, carts into orders; some order lines are returned later and
  consumable products are bought again on their cycle.

Customers are processed in chunks (one part file per chunk and entity), all work inside a chunk is
vectorised with numpy, and every chunk draws from its own generator spawned from the seed, so the
same arguments give byte-identical files and memory stays bounded whatever the customer count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.contract import (
    CUSTOMERS,
    ENTITIES,
    EVENT_TYPES,
    EVENTS,
    FILE_FORMATS,
    ORDER_LINES,
    ORDER_STATUSES,
    ORDERS,
    PRODUCTS,
    Entity,
)

# --- realism parameters -------------------------------------------------------------------------

PRODUCTS_PER_CATEGORY = 100
MIN_CATEGORIES, MAX_CATEGORIES = 5, 60
CATEGORY_POPULARITY_CONCENTRATION = 2.0  # Dirichlet over categories: global category popularity
CATEGORY_SIZE_CONCENTRATION = 3.0  # Dirichlet over categories: share of the catalogue
ZIPF_EXPONENT = (1.0, 1.2)  # per category, uniform in this range
PRICE_MEDIAN = 25.0
PRICE_CATEGORY_SIGMA = 0.8  # log-spread of category medians
PRICE_ITEM_SIGMA = 0.5  # log-spread of prices inside a category
OUT_OF_STOCK_SHARE = 0.07
STOCK_GEOMETRIC_P = 0.02  # in-stock quantities are geometric with mean 1 / p
INACTIVE_SHARE = 0.03
CONSUMABLE_SHARE = 0.10
REPURCHASE_INTERVALS = (14, 30, 60)
REPURCHASE_INTERVAL_WEIGHTS = (0.3, 0.4, 0.3)

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
REPURCHASE_PROB = 0.6  # chance of buying again each cycle; the first miss ends the habit
REPURCHASE_JITTER = 0.2

CATEGORY_WORDS = (
    "kitchen", "garden", "books", "toys", "beauty", "sports", "electronics", "pets", "baby",
    "office", "outdoor", "tools", "music", "games", "fashion", "shoes", "jewellery", "health",
    "grocery", "home", "lighting", "bath", "bedding", "crafts", "automotive", "cycling",
    "camping", "fitness", "coffee", "tea", "wine", "snacks", "cleaning", "laundry", "storage",
    "decor", "furniture", "rugs", "art", "stationery", "phones", "computers", "audio", "cameras",
    "watches", "bags", "luggage", "eyewear", "skincare", "haircare", "fragrance", "vitamins",
    "party", "seasonal", "baking", "cookware", "tableware", "plants", "diy", "smart-home",
)  # fmt: skip

SECONDS_PER_DAY = 86_400
ORDER_ID_WIDTH = 10
SESSION_NO_WIDTH = 7
PART_WIDTH = 5

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMP": pl.Datetime("us"),
    "INTEGER": pl.Int32(),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
}
_CSV_OPTIONS = {
    "separator": ",",
    "datetime_format": "%Y-%m-%d %H:%M:%S",
    "date_format": "%Y-%m-%d",
    "null_value": "",
}
_STATUS_COMPLETED = ORDER_STATUSES.index("completed")
_STATUS_CANCELLED = ORDER_STATUSES.index("cancelled")
_STATUS_RETURN = ORDER_STATUSES.index("return")
_VIEW = EVENT_TYPES.index("view")
_ADD_TO_CART = EVENT_TYPES.index("add_to_cart")


@dataclass(frozen=True)
class GenerationSummary:
    """Row counts written by :func:`generate_shop`, and where."""

    customers: int
    products: int
    orders: int
    order_lines: int
    events: int
    out_dir: Path


# --- small vectorised helpers ---------------------------------------------------------------------


def _starts(counts: np.ndarray) -> np.ndarray:
    """Offset of each group's first element when groups of ``counts`` lie back to back."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.cumsum(counts) - counts


def _position_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of ``counts`` (groups back to back)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_starts(counts), counts)


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``values`` restarting at every group of ``counts``."""
    running = np.concatenate(([0], np.cumsum(values)))
    return running[1:] - np.repeat(running[_starts(counts)], counts)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``numbers`` as a string Series."""
    digits = pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).rename("")


def _timestamps(seconds: np.ndarray) -> pl.Series:
    """Naive UTC microsecond timestamps from epoch seconds."""
    return pl.Series(np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us"))


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def _labels(values: Sequence[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(np.asarray(codes, dtype=np.int64))


def _frame(entity: Entity, *columns: pl.Series | np.ndarray) -> pl.DataFrame:
    """A frame with the contract's column names, order and types."""
    if len(columns) != len(entity.columns):
        raise ValueError(f"{entity.name}: {len(columns)} columns given, contract has {entity}")
    return pl.DataFrame(
        [
            pl.Series(c.name, col).cast(_POLARS_TYPES[c.sql_type])
            for c, col in zip(entity.columns, columns, strict=True)
        ]
    )


def arrow_schema(entity: Entity) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.sql_type]) for c in entity.columns])


def _to_arrow(frame: pl.DataFrame, entity: Entity) -> pa.Table:
    return frame.to_arrow().cast(arrow_schema(entity))


def _write(frame: pl.DataFrame, path: Path, entity: Entity, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(_to_arrow(frame, entity), path, compression="zstd")
    else:
        frame.write_csv(path, include_header=True, **_CSV_OPTIONS)


class _SingleFileWriter:
    """Streams chunks of one entity into a single file (row groups / appended CSV rows)."""

    def __init__(self, path: Path, entity: Entity, fmt: str) -> None:
        self.entity = entity
        self.fmt = fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: IO[bytes] | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, arrow_schema(entity), compression="zstd")
        else:
            self._csv = path.open("wb")
            self._csv.write((",".join(entity.column_names) + "\n").encode())

    def write(self, frame: pl.DataFrame) -> None:
        if self._parquet is not None:
            self._parquet.write_table(_to_arrow(frame, self.entity))
        elif self._csv is not None:
            frame.write_csv(self._csv, include_header=False, **_CSV_OPTIONS)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()


# --- catalogue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    """Products plus what sampling needs: category popularity and per-category CDFs."""

    frame: pl.DataFrame
    product_ids: pl.Series
    category: np.ndarray  # category index per product
    price: np.ndarray
    interval_days: np.ndarray  # 0 for products that are not consumables
    category_weight: np.ndarray  # global popularity of each category (sums to 1)
    category_cdf: np.ndarray  # cumulative category_weight, last value exactly 1
    by_category: np.ndarray  # product indexes sorted by category
    cdf: np.ndarray  # category index + within-category cumulative popularity, aligned with above
    category_first: np.ndarray  # first position of each category in by_category
    category_last: np.ndarray  # last position of each category in by_category

    @property
    def n_categories(self) -> int:
        return len(self.category_weight)

    def sample(self, categories: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Products drawn from each category's popularity (inverse CDF, one searchsorted)."""
        pos = np.searchsorted(self.cdf, categories + u, side="right")
        pos = np.clip(pos, self.category_first[categories], self.category_last[categories])
        return self.by_category[pos]


def _build_catalog(rng: np.random.Generator, n_products: int) -> _Catalog:
    n_cat = min(
        int(np.clip(n_products // PRODUCTS_PER_CATEGORY, MIN_CATEGORIES, MAX_CATEGORIES)),
        n_products,
    )
    category_weight = rng.dirichlet(np.full(n_cat, CATEGORY_POPULARITY_CONCENTRATION))
    size_share = rng.dirichlet(np.full(n_cat, CATEGORY_SIZE_CONCENTRATION))
    sizes = 1 + rng.multinomial(n_products - n_cat, size_share)
    category = rng.permutation(np.repeat(np.arange(n_cat), sizes))

    # Popularity: Zipf over a random rank order inside each category.
    by_category = np.lexsort((rng.random(n_products), category))
    cat_sorted = np.repeat(np.arange(n_cat), sizes)
    exponent = rng.uniform(*ZIPF_EXPONENT, size=n_cat)
    weight = (_position_in_group(sizes) + 1.0) ** -exponent[cat_sorted]
    within = _group_cumsum(weight, sizes)
    first = _starts(sizes)
    last = first + sizes - 1
    within /= np.repeat(within[last], sizes)
    within[last] = 1.0
    cdf = within + cat_sorted
    category_cdf = np.cumsum(category_weight)
    category_cdf[-1] = 1.0

    # Prices, stock, activity flag, consumables.
    median = PRICE_MEDIAN * np.exp(PRICE_CATEGORY_SIGMA * rng.standard_normal(n_cat))
    price = median[category] * np.exp(PRICE_ITEM_SIGMA * rng.standard_normal(n_products))
    price = np.maximum(np.round(price, 2), 0.5)
    stock = np.where(
        rng.random(n_products) < OUT_OF_STOCK_SHARE, 0, rng.geometric(STOCK_GEOMETRIC_P, n_products)
    )
    active = rng.random(n_products) >= INACTIVE_SHARE
    consumable = rng.random(n_products) < CONSUMABLE_SHARE
    interval = rng.choice(
        np.array(REPURCHASE_INTERVALS), size=n_products, p=REPURCHASE_INTERVAL_WEIGHTS
    )
    interval_days = np.where(consumable, interval, 0)

    words = [CATEGORY_WORDS[k % len(CATEGORY_WORDS)] for k in range(n_cat)]
    names = [f"{w}-{k:02d}" for k, w in enumerate(words)]
    titles = [w.replace("-", " ").capitalize() for w in words]
    number_in_category = np.empty(n_products, dtype=np.int64)
    number_in_category[np.argsort(category, kind="stable")] = _position_in_group(sizes) + 1
    title = _labels(titles, category) + " item " + pl.Series(number_in_category).cast(pl.String)

    product_ids = _ids("P", np.arange(1, n_products + 1), max(6, len(str(n_products))))
    frame = _frame(
        PRODUCTS,
        product_ids,
        title,
        _labels(names, category),
        price,
        stock,
        active,
        pl.Series(interval_days).replace(0, None),
    )
    return _Catalog(
        frame=frame,
        product_ids=product_ids,
        category=category,
        price=price,
        interval_days=interval_days,
        category_weight=category_weight,
        category_cdf=category_cdf,
        by_category=by_category,
        cdf=cdf,
        category_first=first,
        category_last=last,
    )


# --- one chunk of customers ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    start_day: int  # days since epoch of the window's first day
    end_day: int  # exclusive
    days: int

    @property
    def start_s(self) -> int:
        return self.start_day * SECONDS_PER_DAY

    @property
    def end_s(self) -> int:
        return self.end_day * SECONDS_PER_DAY


@dataclass(frozen=True)
class _ChunkFrames:
    customers: pl.DataFrame
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    events: pl.DataFrame


def _generate_chunk(
    rng: np.random.Generator,
    *,
    chunk_no: int,
    first_customer: int,
    n: int,
    customer_id_width: int,
    first_order: int,
    catalog: _Catalog,
    window: _Window,
) -> _ChunkFrames:
    """All rows belonging to customers ``first_customer .. first_customer + n - 1``."""
    end_s = window.end_s
    n_products = len(catalog.price)

    # Customers: consent, country, sign-up, activity, taste.
    customer_ids = _ids(
        "C", np.arange(first_customer + 1, first_customer + n + 1), customer_id_width
    )
    consent = rng.random(n) < CONSENT_SHARE
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    country_null = rng.random(n) < COUNTRY_NULL_SHARE
    cold = rng.random(n) < COLD_SHARE
    signup = np.where(
        rng.random(n) < SIGNUP_BEFORE_WINDOW_SHARE,
        window.start_day - rng.integers(1, SIGNUP_HISTORY_DAYS + 1, n),
        window.start_day + rng.integers(0, window.days, n),
    )
    recent = cold & (rng.random(n) < COLD_RECENT_SHARE)
    signup = np.where(
        recent, window.end_day - rng.integers(1, min(RECENT_DAYS, window.days) + 1, n), signup
    )
    activity = ACTIVITY_MEDIAN * np.exp(ACTIVITY_SIGMA * rng.standard_normal(n))
    taste = rng.dirichlet(TASTE_CONCENTRATION * catalog.category_weight, size=n)
    taste[~np.isfinite(taste).all(axis=1)] = catalog.category_weight

    available_from = np.maximum(signup, window.start_day).astype(np.int64) * SECONDS_PER_DAY
    available_days = (end_s - available_from) / SECONDS_PER_DAY
    n_sessions = np.where(cold, 0, 1 + rng.poisson(activity * available_days / 30.0))

    # Sessions: a category each, from the customer's taste or (noise) from global popularity.
    s_cust = np.repeat(np.arange(n), n_sessions)
    n_sess = len(s_cust)
    u = rng.random(n_sess)
    taste_cdf = np.cumsum(taste, axis=1)
    taste_cdf[:, -1] = 1.0
    taste_cdf += np.arange(n)[:, None]
    k = catalog.n_categories
    from_taste = np.searchsorted(taste_cdf.ravel(), s_cust + u, side="right") - s_cust * k
    from_global = np.searchsorted(catalog.category_cdf, u, side="right")
    s_cat = np.clip(np.where(rng.random(n_sess) < TASTE_NOISE, from_global, from_taste), 0, k - 1)
    del taste_cdf, from_taste, from_global

    # Views: 1 + Poisson products from the session's category, a few seconds to minutes apart.
    n_views = np.minimum(1 + rng.poisson(EXTRA_VIEWS_MEAN, n_sess), MAX_VIEWS_PER_SESSION)
    v_sess = np.repeat(np.arange(n_sess), n_views)
    n_v = len(v_sess)
    v_prod = catalog.sample(s_cat[v_sess], rng.random(n_v))
    gap = VIEW_GAP_MIN_S + np.minimum(
        rng.exponential(VIEW_GAP_MEAN_S, n_v).astype(np.int64), VIEW_GAP_MAX_S
    )
    v_pos = _position_in_group(n_views)
    gap[v_pos == 0] = 0
    v_off = _group_cumsum(gap, n_views)
    is_last_view = v_pos == n_views[v_sess] - 1
    next_gap = np.full(n_v, LAST_CART_WINDOW_S, dtype=np.int64)
    next_gap[:-1] = np.where(is_last_view[:-1], LAST_CART_WINDOW_S, np.diff(v_off))
    span = v_off[is_last_view].copy()  # session length so far, per session

    # Add to cart: strictly between the view and the next view, so times never collide.
    carted = rng.random(n_v) < CART_RATE
    delay = 1 + (rng.random(n_v) * (next_gap - 1)).astype(np.int64)
    c_view = np.flatnonzero(carted)
    c_sess = v_sess[c_view]
    c_prod = v_prod[c_view]
    c_off = v_off[c_view] + delay[c_view]
    last_cart = np.flatnonzero(np.append(c_sess[1:] != c_sess[:-1], len(c_sess) > 0))
    last_cart_off = np.full(n_sess, -1, dtype=np.int64)
    last_cart_off[c_sess[last_cart]] = c_off[last_cart]
    span = np.maximum(span, last_cart_off)

    # Purchases: bought carts of a session form one order, one line per distinct product.
    bought = rng.random(len(c_sess)) < BUY_RATE
    line_key = np.unique(c_sess[bought].astype(np.int64) * n_products + c_prod[bought])
    l_sess = line_key // n_products
    l_prod = line_key % n_products
    o_sess, l_order = np.unique(l_sess, return_inverse=True)
    n_orders = len(o_sess)
    o_off = last_cart_off[o_sess] + rng.integers(ORDER_DELAY_S[0], ORDER_DELAY_S[1] + 1, n_orders)
    span[o_sess] = o_off

    # Place sessions in time: uniform over the customer's window, pulled back to end in time.
    lo = available_from[s_cust]
    start = lo + (rng.random(n_sess) * (end_s - lo)).astype(np.int64)
    start = np.maximum(lo, np.minimum(start, end_s - 1 - span))
    session_no = np.empty(n_sess, dtype=np.int64)  # numbered by customer, then start time
    session_no[np.lexsort((start, s_cust))] = np.arange(1, n_sess + 1)
    v_t = start[v_sess] + v_off
    c_t = start[c_sess] + c_off
    o_t = start[o_sess] + o_off
    o_cust = s_cust[o_sess]
    o_status = np.where(rng.random(n_orders) < CANCEL_RATE, _STATUS_CANCELLED, _STATUS_COMPLETED)
    l_qty = 1 + rng.poisson(EXTRA_QUANTITY_MEAN, len(l_prod))
    completed_line = o_status[l_order] == _STATUS_COMPLETED

    # Returns: some completed lines come back days later, one return order per original order.
    return_delay = rng.integers(
        RETURN_DAYS[0] * SECONDS_PER_DAY, RETURN_DAYS[1] * SECONDS_PER_DAY + 1, n_orders
    )
    returned = completed_line & (rng.random(len(l_prod)) < RETURN_RATE)
    returned &= o_t[l_order] + return_delay[l_order] < end_s
    r_line = np.flatnonzero(returned)
    r_source, r_l_order = np.unique(l_order[r_line], return_inverse=True)
    r_cust = o_cust[r_source]
    r_t = o_t[r_source] + return_delay[r_source]
    r_prod = l_prod[r_line]
    r_qty = rng.integers(1, l_qty[r_line] + 1) if len(r_line) else np.empty(0, np.int64)

    # Consumables: re-bought every cycle (+- jitter) until the customer skips one.
    seed_line = np.flatnonzero(completed_line & (catalog.interval_days[l_prod] > 0))
    cycle_s = catalog.interval_days[l_prod[seed_line]].astype(np.int64) * SECONDS_PER_DAY
    seed_t = o_t[l_order[seed_line]]
    max_cycles = (end_s - seed_t) // (cycle_s * (1 - REPURCHASE_JITTER)).astype(np.int64)
    max_cycles = np.maximum(max_cycles, 0)
    q_seed = np.repeat(np.arange(len(seed_line)), max_cycles)
    n_cycles = len(q_seed)
    jitter = 1 + REPURCHASE_JITTER * (2 * rng.random(n_cycles) - 1)
    q_t = seed_t[q_seed] + _group_cumsum((cycle_s[q_seed] * jitter).astype(np.int64), max_cycles)
    skipped = (rng.random(n_cycles) >= REPURCHASE_PROB).astype(np.int64)
    keep = (_group_cumsum(skipped, max_cycles) == 0) & (q_t < end_s)
    q_seed = q_seed[keep]
    q_t = q_t[keep]
    q_line = seed_line[q_seed]
    q_cust = o_cust[l_order[q_line]]
    n_q = len(q_t)

    # All orders of the chunk, numbered by customer then time.
    ord_cust = np.concatenate((o_cust, r_cust, q_cust))
    ord_t = np.concatenate((o_t, r_t, q_t))
    ord_status = np.concatenate(
        (o_status, np.full(len(r_t), _STATUS_RETURN), np.full(n_q, _STATUS_COMPLETED))
    )
    line_order = np.concatenate(
        (l_order, n_orders + r_l_order, n_orders + len(r_t) + np.arange(n_q))
    )
    line_prod = np.concatenate((l_prod, r_prod, l_prod[q_line]))
    line_qty = np.concatenate((l_qty, r_qty, l_qty[q_line]))
    order_perm = np.lexsort((ord_t, ord_cust))
    rank = np.empty_like(order_perm)
    rank[order_perm] = np.arange(len(order_perm))
    line_rank = rank[line_order]
    line_perm = np.lexsort((line_prod, line_rank))
    line_rank = line_rank[line_perm]
    line_prod = line_prod[line_perm]
    line_no = _position_in_group(np.bincount(line_rank, minlength=len(ord_t))) + 1

    order_ids = _ids("O", first_order + 1 + np.arange(len(ord_t)), ORDER_ID_WIDTH)
    orders = _frame(
        ORDERS,
        order_ids,
        customer_ids.gather(ord_cust[order_perm]),
        _timestamps(ord_t[order_perm]),
        _labels(ORDER_STATUSES, ord_status[order_perm]),
    )
    order_lines = _frame(
        ORDER_LINES,
        order_ids.gather(line_rank),
        line_no,
        catalog.product_ids.gather(line_prod),
        line_qty[line_perm],
        catalog.price[line_prod],
    )

    # Events, by customer then time.
    e_sess = np.concatenate((v_sess, c_sess))
    e_t = np.concatenate((v_t, c_t))
    e_type = np.concatenate((np.full(n_v, _VIEW), np.full(len(c_sess), _ADD_TO_CART)))
    e_cust = s_cust[e_sess]
    e_perm = np.lexsort((e_type, e_t, e_cust))
    session_ids = _ids(f"S{chunk_no:0{PART_WIDTH}d}-", session_no[e_sess[e_perm]], SESSION_NO_WIDTH)
    events = _frame(
        EVENTS,
        customer_ids.gather(e_cust[e_perm]),
        catalog.product_ids.gather(np.concatenate((v_prod, c_prod))[e_perm]),
        _labels(EVENT_TYPES, e_type[e_perm]),
        _timestamps(e_t[e_perm]),
        session_ids,
    )

    customers = _frame(
        CUSTOMERS,
        customer_ids,
        consent,
        _dates(signup),
        _labels(COUNTRIES, country).set(pl.Series(country_null), None),
    )
    return _ChunkFrames(customers, orders, order_lines, events)


# --- entry point --------------------------------------------------------------------------------


def contract_paths(out_dir: Path) -> list[Path]:
    """Contract files or folders already present in ``out_dir``."""
    candidates = [out_dir / e.name for e in ENTITIES]
    candidates += [out_dir / f"{e.name}.{ext}" for e in ENTITIES for ext in FILE_FORMATS]
    return [p for p in candidates if p.exists()]


def generate_shop(
    out_dir: Path,
    *,
    customers: int,
    products: int,
    days: int,
    seed: int,
    end: dt.date,
    fmt: str = "parquet",
    progress: Callable[[int, int], None] | None = None,
    chunk_customers: int = 50_000,
) -> GenerationSummary:
    """Write a synthetic shop (all five contract entities) under ``out_dir``.

    Layout: ``customers.<fmt>`` and ``products.<fmt>`` are single files; ``orders/``,
    ``order_lines/`` and ``events/`` hold ``part-00000.<fmt>``, ``part-00001.<fmt>``, ... with
    one part per chunk of ``chunk_customers`` customers (empty parts are not written).

    Every timestamp lies in ``[end - days, end)``, midnight UTC, as naive datetimes. The same
    arguments always give byte-identical files. ``progress(done, total)`` is called after each
    chunk of customers.

    Raises:
        ValueError: on invalid arguments, or when ``out_dir`` already holds contract files.
    """
    if fmt not in FILE_FORMATS:
        raise ValueError(f"fmt must be one of {FILE_FORMATS}, not {fmt!r}")
    if customers < 1 or products < 1 or days < 1 or chunk_customers < 1:
        raise ValueError("customers, products, days and chunk_customers must be positive")
    if isinstance(end, dt.datetime):
        if end.time() != dt.time(0):
            raise ValueError(f"end must be a date (midnight), not {end!r}")
        end = end.date()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    if existing := contract_paths(out_dir) if out_dir.exists() else []:
        names = ", ".join(p.name for p in existing)
        raise ValueError(f"{out_dir} already holds contract files ({names}); refusing to overwrite")

    end_day = (end - dt.date(1970, 1, 1)).days
    window = _Window(start_day=end_day - days, end_day=end_day, days=days)
    n_chunks = -(-customers // chunk_customers)
    catalog_seed, *chunk_seeds = np.random.SeedSequence(seed).spawn(n_chunks + 1)
    catalog = _build_catalog(np.random.default_rng(catalog_seed), products)

    out_dir.mkdir(parents=True, exist_ok=True)
    folders = {e.name: out_dir / e.name for e in (ORDERS, ORDER_LINES, EVENTS)}
    for folder in folders.values():
        folder.mkdir()
    _write(catalog.frame, out_dir / f"{PRODUCTS.name}.{fmt}", PRODUCTS, fmt)

    counts = {e.name: 0 for e in ENTITIES}
    counts[PRODUCTS.name] = catalog.frame.height
    customer_writer = _SingleFileWriter(out_dir / f"{CUSTOMERS.name}.{fmt}", CUSTOMERS, fmt)
    try:
        for chunk_no, chunk_seed in enumerate(chunk_seeds):
            first = chunk_no * chunk_customers
            chunk = _generate_chunk(
                np.random.default_rng(chunk_seed),
                chunk_no=chunk_no,
                first_customer=first,
                n=min(chunk_customers, customers - first),
                customer_id_width=max(7, len(str(customers))),
                first_order=counts[ORDERS.name],
                catalog=catalog,
                window=window,
            )
            customer_writer.write(chunk.customers)
            counts[CUSTOMERS.name] += chunk.customers.height
            for entity, frame in (
                (ORDERS, chunk.orders),
                (ORDER_LINES, chunk.order_lines),
                (EVENTS, chunk.events),
            ):
                if frame.height:
                    part = folders[entity.name] / f"part-{chunk_no:0{PART_WIDTH}d}.{fmt}"
                    _write(frame, part, entity, fmt)
                    counts[entity.name] += frame.height
            del chunk
            if progress is not None:
                progress(counts[CUSTOMERS.name], customers)
    finally:
        customer_writer.close()

    return GenerationSummary(
        customers=counts[CUSTOMERS.name],
        products=counts[PRODUCTS.name],
        orders=counts[ORDERS.name],
        order_lines=counts[ORDER_LINES.name],
        events=counts[EVENTS.name],
        out_dir=out_dir,
    )
