"""REES46 / Open CDP "eCommerce behavior data" (``event_time,event_type,product_id,...``).

Browsing events and purchases of a multi-category or cosmetics shop, as published (one CSV file
or a folder of monthly files): views and carts become events, purchases become completed
orders (one per user and session, one line of quantity 1 per purchase event). The mapping is
documented in ``docs/data-adapters.md``; the SQL is ``sql/adapters/rees_*.sql``.
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
    input_files,
    load_csv,
    run_import,
)
from flows.contract import CUSTOMERS, EVENT_TYPES, EVENTS, ORDER_LINES, ORDERS, PRODUCTS, Entity
from flows.generate import CONSENT_SHARE

REES46_COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
# REES46 event types -> contract event types; purchases become orders, anything else is dropped.
REES46_EVENT_TYPES = {"view": "view", "cart": "add_to_cart"}
REES46_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S")

assert set(REES46_EVENT_TYPES.values()) <= set(EVENT_TYPES)


def _build(
    con: duckdb.DuckDBPyConnection, files: list[Path], consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Tables ``raw`` .. ``parsed``; the SQL file per entity and the parameters they take."""
    load_csv(con, files, REES46_COLUMNS)
    sqlfiles.run(
        con,
        "adapters/rees_parse",
        {
            "time_formats": list(REES46_TIME_FORMATS),
            "known_types": [*REES46_EVENT_TYPES, "purchase"],
        },
    )
    queries = {
        CUSTOMERS: "adapters/rees_customers",
        PRODUCTS: "adapters/rees_products",
        ORDERS: "adapters/rees_orders",
        ORDER_LINES: "adapters/rees_order_lines",
        EVENTS: "adapters/rees_events",
    }
    params = {
        "consent_threshold": consent_threshold(consent_share),
        "stock": stock,
        "source_types": list(REES46_EVENT_TYPES),
        "event_types": list(REES46_EVENT_TYPES.values()),
    }
    return queries, params


def import_rees46(
    src: Path,
    out_dir: Path,
    *,
    consent_share: float = CONSENT_SHARE,
    stock: int = DEFAULT_STOCK,
) -> ImportSummary:
    """Convert REES46 / Open CDP event CSVs (a file or a folder of them) into ``out_dir``.

    Views and carts become events, purchases become completed orders (one per user and
    session, one line of quantity 1 per purchase event). See ``docs/data-adapters.md``.

    Raises:
        SourceError: the input is missing or a file's header is not the REES46 header.
        ValueError: ``out_dir`` already holds contract files, or a bad argument.
    """
    check_stock(stock)
    consent_threshold(consent_share)
    files = input_files(src)
    for path in files:
        check_header(path, REES46_COLUMNS)
    return run_import(
        "rees46", files, out_dir, lambda con: _build(con, files, consent_share, stock)
    )
