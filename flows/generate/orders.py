"""Orders: checkouts of browsing sessions (with complements added), returns, and consumables
bought again on the customer's habit; then the orders and order_lines frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.contract import ORDER_LINES, ORDER_STATUSES, ORDERS
from flows.generate import params as P
from flows.generate.arrays import (
    SECONDS_PER_DAY,
    Window,
    first_of_key,
    frame,
    group_cumsum,
    ids,
    labels,
    position_in_group,
    timestamps,
)
from flows.generate.browsing import Customers, Visits
from flows.generate.catalogue import Catalog

ORDER_ID_WIDTH = 10
_COMPLETED = ORDER_STATUSES.index("completed")
_CANCELLED = ORDER_STATUSES.index("cancelled")
_RETURN = ORDER_STATUSES.index("return")


@dataclass(frozen=True)
class Sales:
    """Orders placed at the end of browsing sessions (``o_*``) and their lines (``l_*``)."""

    o_cust: np.ndarray
    o_t: np.ndarray
    o_status: np.ndarray
    l_order: np.ndarray
    l_prod: np.ndarray
    l_qty: np.ndarray

    @property
    def completed_line(self) -> np.ndarray:
        return self.o_status[self.l_order] == _COMPLETED


@dataclass(frozen=True)
class Extra:
    """Orders that follow sales: returns (``r_*``) and habitual repurchases (``q_*``), which
    may add a complement (``k_*``) like any order."""

    r_cust: np.ndarray  # per return order
    r_t: np.ndarray
    r_line: np.ndarray  # per returned line: the sales line it gives back
    r_order: np.ndarray  # per returned line: its return order
    r_qty: np.ndarray
    q_line: np.ndarray  # per repurchase (one order each): the sales line it buys again
    q_t: np.ndarray
    k_order: np.ndarray  # per complement added to a repurchase: the repurchase
    k_prod: np.ndarray
    k_qty: np.ndarray


def checkout(
    rng: np.random.Generator, visits: Visits, catalog: Catalog, shape: P.ShopShape, end_s: int
) -> Sales:
    """Bought carts of a session form one order, one line per distinct product; each bought
    cart may add one of its product's complements. Places the sessions in time (they must
    end, checkout included, before ``end_s``)."""
    n_products = catalog.n_products
    bought = rng.random(len(visits.c_sess)) < P.BUY_RATE
    b_sess, b_prod = visits.c_sess[bought], visits.c_prod[bought]
    c_sess, complement = _complements(rng, b_sess, b_prod, catalog, shape.complement_rate)
    sess = np.concatenate((b_sess, c_sess)).astype(np.int64)
    line_key = np.unique(sess * n_products + np.concatenate((b_prod, complement)))
    o_sess, l_order = np.unique(line_key // n_products, return_inverse=True)
    n_orders = len(o_sess)
    o_off = visits.last_cart_off[o_sess] + rng.integers(*P.ORDER_DELAY_S, n_orders, endpoint=True)
    visits.span[o_sess] = o_off
    visits.place(end_s)
    cancelled = rng.random(n_orders) < P.CANCEL_RATE
    l_qty = 1 + rng.poisson(P.EXTRA_QUANTITY_MEAN, len(line_key))
    return Sales(
        o_cust=visits.s_cust[o_sess],
        o_t=visits.start[o_sess] + o_off,
        o_status=np.where(cancelled, _CANCELLED, _COMPLETED),
        l_order=l_order.ravel(),
        l_prod=line_key % n_products,
        l_qty=l_qty,
    )


def _complements(
    rng: np.random.Generator,
    order: np.ndarray,
    product: np.ndarray,
    catalog: Catalog,
    rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per line (``order``, ``product``): with ``rate``, one of the product's complements joins
    the order. Returns the added (order, product) pairs."""
    n_comp = (catalog.complements >= 0).sum(axis=1)
    add = (rng.random(len(order)) < rate) & (n_comp[product] > 0)
    pick = (rng.random(len(order)) * n_comp[product]).astype(np.int64)
    return order[add], catalog.complements[product[add], pick[add]]


def follow_up(
    rng: np.random.Generator,
    sales: Sales,
    customers: Customers,
    catalog: Catalog,
    shape: P.ShopShape,
    window: Window,
    season_origin_s: int,
) -> Extra:
    """Returns: some completed lines of the window come back days later, one return order per
    original order. Habits: see :func:`_habits`."""
    end_s = window.end_s
    n_orders = len(sales.o_t)
    return_delay = rng.integers(
        P.RETURN_DAYS[0] * SECONDS_PER_DAY, P.RETURN_DAYS[1] * SECONDS_PER_DAY + 1, n_orders
    )
    returned = sales.completed_line & (rng.random(len(sales.l_prod)) < P.RETURN_RATE)
    line_t = sales.o_t[sales.l_order]
    returned &= (line_t >= window.start_s) & (line_t + return_delay[sales.l_order] < end_s)
    r_line = np.flatnonzero(returned)
    r_source, r_order = np.unique(sales.l_order[r_line], return_inverse=True)
    r_qty = rng.integers(1, sales.l_qty[r_line] + 1) if len(r_line) else np.empty(0, np.int64)
    q_line, q_t = _habits(
        rng, sales, returned, customers, catalog, shape, (window, season_origin_s)
    )
    k_order, k_prod = _complements(
        rng, np.arange(len(q_line)), sales.l_prod[q_line], catalog, shape.complement_rate
    )
    return Extra(
        r_cust=sales.o_cust[r_source],
        r_t=sales.o_t[r_source] + return_delay[r_source],
        r_line=r_line,
        r_order=r_order.ravel(),
        r_qty=r_qty,
        q_line=q_line,
        q_t=q_t,
        k_order=k_order,
        k_prod=k_prod,
        k_qty=1 + rng.poisson(P.EXTRA_QUANTITY_MEAN, len(k_prod)),
    )


def _habits(
    rng: np.random.Generator,
    sales: Sales,
    returned: np.ndarray,
    customers: Customers,
    catalog: Catalog,
    shape: P.ShopShape,
    when: tuple[Window, int],
) -> tuple[np.ndarray, np.ndarray]:
    """A customer's first kept purchase of a consumable becomes a habit with their own
    probability; the habit comes round every interval x their pace (+- jitter per cycle) and
    goes on after each cycle with ``habit_keep``. A cycle buys when the product is in season
    (seasonal multiplier >= 1), else only with the multiplier as probability.
    ``when``: the window and the seasons' origin (epoch seconds). Returns (sales line, time)
    per repurchase inside the window."""
    window, origin_s = when
    end_s = window.end_s
    line_t = sales.o_t[sales.l_order]
    line_cust = sales.o_cust[sales.l_order]
    candidate = np.flatnonzero(
        sales.completed_line & ~returned & (catalog.interval_days[sales.l_prod] > 0)
    )
    key = line_cust[candidate].astype(np.int64) * catalog.n_products + sales.l_prod[candidate]
    candidate = candidate[first_of_key(key, line_t[candidate])]
    cust = line_cust[candidate]
    seed = candidate[rng.random(len(candidate)) < customers.habit[cust]]
    cust = line_cust[seed]
    cycle_s = catalog.interval_days[sales.l_prod[seed]] * customers.pace[cust] * SECONDS_PER_DAY
    shortest = np.maximum(cycle_s * (1 - shape.cycle_jitter), 1.0)
    room = np.maximum((end_s - line_t[seed]) // shortest, 0).astype(np.int64)
    if shape.habit_keep < 1.0:
        room = np.minimum(room, rng.geometric(1.0 - shape.habit_keep, len(seed)))
    q_seed = np.repeat(np.arange(len(seed)), room)
    jitter = 1 + shape.cycle_jitter * (2 * rng.random(len(q_seed)) - 1)
    gaps = (cycle_s[q_seed] * jitter).astype(np.int64)
    q_t = line_t[seed][q_seed] + group_cumsum(gaps, room)
    season = catalog.seasonal(sales.l_prod[seed][q_seed], (q_t - origin_s) / SECONDS_PER_DAY)
    kept = (q_t >= window.start_s) & (q_t < end_s) & (rng.random(len(q_t)) < season)
    return seed[q_seed[kept]], q_t[kept]


def order_frames(
    first_order: int,
    customer_ids: pl.Series,
    catalog: Catalog,
    sales: Sales,
    extra: Extra,
    start_s: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All orders of the chunk from ``start_s`` on (sales, returns, repurchases) numbered by
    customer then time, and their lines numbered from 1 by product."""
    n_sales, n_ret, n_q = len(sales.o_t), len(extra.r_t), len(extra.q_t)
    q_cust = sales.o_cust[sales.l_order[extra.q_line]]
    ord_cust = np.concatenate((sales.o_cust, extra.r_cust, q_cust))
    ord_t = np.concatenate((sales.o_t, extra.r_t, extra.q_t))
    ord_status = np.concatenate((sales.o_status, np.full(n_ret, _RETURN), np.full(n_q, _COMPLETED)))
    q_first = n_sales + n_ret
    line_order = np.concatenate(
        (sales.l_order, n_sales + extra.r_order, q_first + np.arange(n_q), q_first + extra.k_order)
    )
    line_prod = np.concatenate(
        (sales.l_prod, sales.l_prod[extra.r_line], sales.l_prod[extra.q_line], extra.k_prod)
    )
    line_qty = np.concatenate((sales.l_qty, extra.r_qty, sales.l_qty[extra.q_line], extra.k_qty))
    order_perm = np.lexsort((ord_t, ord_cust))
    order_perm = order_perm[ord_t[order_perm] >= start_s]  # returns and repurchases already are
    rank = np.full(len(ord_t), -1, dtype=np.int64)
    rank[order_perm] = np.arange(len(order_perm))
    line_rank = rank[line_order]
    line_perm = np.lexsort((line_prod, line_rank))
    line_perm = line_perm[line_rank[line_perm] >= 0]
    line_rank = line_rank[line_perm]
    line_prod = line_prod[line_perm]
    line_no = position_in_group(np.bincount(line_rank, minlength=len(order_perm))) + 1

    order_ids = ids("O", first_order + 1 + np.arange(len(order_perm)), ORDER_ID_WIDTH)
    orders = frame(
        ORDERS,
        order_ids,
        customer_ids.gather(ord_cust[order_perm]),
        timestamps(ord_t[order_perm]),
        labels(ORDER_STATUSES, ord_status[order_perm]),
    )
    lines = frame(
        ORDER_LINES,
        order_ids.gather(line_rank),
        line_no,
        catalog.product_ids.gather(line_prod),
        line_qty[line_perm],
        catalog.price[line_prod],
    )
    return orders, lines
