"""Tmall Recommendation Prize 2014 (``t_alibaba_data.csv``): 884 users' brand-level behaviour.

Read as published (``user_id,brand_id,type,visit_datetime``, dates "M-D" without a year, CSV or
gzipped CSV) or as the typed Parquet copy in ``shared/datasets`` (``user_id, brand_id, type,
month, day, ...``). Brands are the products; clicks become views and add-to-carts
add_to_cart events; buys become one completed order per user and day, one line per brand
(quantity = that day's buy rows); collects (favourites) have no contract event type and are
dropped. Dates only: everything happens at 00:00 UTC of its day. The mapping is documented in
``docs/data-adapters.md``; the SQL is ``sql/adapters/tmall_*.sql``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from flows import sqlfiles
from flows.adapters.core import (
    DEFAULT_STOCK,
    ImportSummary,
    check_header,
    check_stock,
    consent_threshold,
    is_parquet,
    load_csv,
    match_columns,
    no_rejects,
    run_import,
)
from flows.contract import CUSTOMERS, EVENT_TYPES, EVENTS, ORDER_LINES, ORDERS, PRODUCTS, Entity
from flows.errors import SourceError
from flows.generate import CONSENT_SHARE

TMALL_COLUMNS = ("user_id", "brand_id", "type", "visit_datetime")
TMALL_PARQUET_COLUMNS = ("user_id", "brand_id", "type", "month", "day")
DEFAULT_YEAR = 2013  # the file has no year; Apr-Aug data released in March 2014
# "6-4" (this copy) or "6月4日" (the original release), read with the year put in front.
TMALL_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m月%d日")
# The competition's behaviour codes -> contract event types; buys become orders.
TMALL_EVENT_TYPES = {"0": "view", "3": "add_to_cart"}  # click, add to cart
TMALL_BUY = "1"
TMALL_COLLECT = "2"  # collect (favourite): no contract event type, dropped
TMALL_CATEGORY = "all"  # the data has no categories
TMALL_PRICE = 0.0  # the data has no prices; the contract allows 0 (>= 0; stored, not used)

assert set(TMALL_EVENT_TYPES.values()) <= set(EVENT_TYPES)


def _check_input(src: Path) -> Path:
    src = Path(src)
    if not src.is_file():
        raise SourceError(
            "give the file t_alibaba_data.csv[.gz] or tmall_2014_brand_events.parquet", file=src
        )
    if is_parquet(src):
        match_columns(src, {c: (c,) for c in TMALL_PARQUET_COLUMNS})
    else:
        check_header(src, TMALL_COLUMNS)
    return src


def _build(
    con: duckdb.DuckDBPyConnection, src: Path, year: int, consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Tables ``raw`` .. ``parsed``; the SQL file per entity and the parameters they take."""
    if is_parquet(src):
        sqlfiles.run(con, "adapters/tmall_parquet", {"file": str(src)})
        no_rejects(con)
    else:
        load_csv(con, [src], TMALL_COLUMNS)
    sqlfiles.run(
        con,
        "adapters/tmall_parse",
        {
            "year": year,
            "date_formats": list(TMALL_DATE_FORMATS),
            "known_codes": [*TMALL_EVENT_TYPES, TMALL_BUY],
            "collect_code": TMALL_COLLECT,
            "buy_code": TMALL_BUY,
        },
    )
    queries = {
        CUSTOMERS: "adapters/tmall_customers",
        PRODUCTS: "adapters/tmall_products",
        ORDERS: "adapters/tmall_orders",
        ORDER_LINES: "adapters/tmall_order_lines",
        EVENTS: "adapters/tmall_events",
    }
    params = {
        "consent_threshold": consent_threshold(consent_share),
        "stock": stock,
        "category": TMALL_CATEGORY,
        "price": TMALL_PRICE,
        "buy_code": TMALL_BUY,
        "source_codes": list(TMALL_EVENT_TYPES),
        "event_types": list(TMALL_EVENT_TYPES.values()),
    }
    return queries, params


def import_tmall(
    src: Path,
    out_dir: Path,
    *,
    year: int = DEFAULT_YEAR,
    consent_share: float = CONSENT_SHARE,
    stock: int = DEFAULT_STOCK,
) -> ImportSummary:
    """Convert the Tmall 2014 brand log (CSV, gzipped CSV or the Parquet copy) into ``out_dir``.

    ``year`` completes the dates (the file has month and day only). Every buy row counts as a
    unit on its day's order line, so ``used`` is events plus units.

    Raises:
        SourceError: the input is missing, or its header / columns are not the dataset's.
        ValueError: ``out_dir`` already holds contract files, or a bad argument.
    """
    check_stock(stock)
    consent_threshold(consent_share)
    if not 1900 <= year <= 2100:
        raise ValueError(f"year must be within 1900..2100, not {year}")
    path = _check_input(src)
    return run_import(
        "tmall",
        [path],
        out_dir,
        lambda con: _build(con, path, year, consent_share, stock),
        lines_hold_units=True,
    )
