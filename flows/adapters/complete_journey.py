"""84.51 "The Complete Journey" 2.0 (2017): a US grocer's baskets, 2,469 households.

Read as the ``completejourney`` R / Python packages ship it: a folder with
``transactions.parquet`` (one row per product in a basket) and ``products.parquet`` (the
catalogue); ``demographics.parquet`` is not read (the contract has no column for it).
Households become customers, baskets completed orders, rows with a positive quantity order
lines; there are no browsing events and no returns. The mapping is documented in
``docs/data-adapters.md``; the SQL is ``sql/adapters/complete_journey_*.sql``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from flows import sqlfiles
from flows.adapters.core import (
    DEFAULT_STOCK,
    ImportSummary,
    check_stock,
    consent_threshold,
    match_columns,
    no_rejects,
    run_import,
)
from flows.contract import CUSTOMERS, EVENTS, ORDER_LINES, ORDERS, PRODUCTS, Entity
from flows.errors import SourceError
from flows.generate import CONSENT_SHARE

TRANSACTIONS_FILE = "transactions.parquet"
PRODUCTS_FILE = "products.parquet"
TRANSACTION_COLUMNS = (
    "household_id",
    "basket_id",
    "product_id",
    "quantity",
    "sales_value",
    "transaction_timestamp",
)
CATALOGUE_COLUMNS = ("product_id", "department", "product_category", "product_type", "package_size")
UNKNOWN_CATEGORY = "unknown"  # a product with neither product_category nor department


def _files(src: Path) -> tuple[Path, Path]:
    """``transactions.parquet`` and ``products.parquet`` of the folder ``src``, checked."""
    src = Path(src)
    if not src.is_dir():
        raise SourceError(
            f"give the folder holding {TRANSACTIONS_FILE} and {PRODUCTS_FILE}", file=src
        )
    files = (src / TRANSACTIONS_FILE, src / PRODUCTS_FILE)
    for path, columns in zip(files, (TRANSACTION_COLUMNS, CATALOGUE_COLUMNS), strict=True):
        if not path.is_file():
            raise SourceError("file not found", file=path)
        match_columns(path, {c: (c,) for c in columns})
    return files


def _build(
    con: duckdb.DuckDBPyConnection,
    files: tuple[Path, Path],
    consent_share: float,
    stock: int,
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Tables ``raw``, ``catalogue`` .. ``parsed``; the SQL file per entity and parameters."""
    transactions, products = files
    sqlfiles.run(
        con,
        "adapters/complete_journey_load",
        {"transactions": str(transactions), "products": str(products)},
    )
    no_rejects(con)
    sqlfiles.run(con, "adapters/complete_journey_parse")
    queries = {
        CUSTOMERS: "adapters/complete_journey_customers",
        PRODUCTS: "adapters/complete_journey_products",
        ORDERS: "adapters/complete_journey_orders",
        ORDER_LINES: "adapters/complete_journey_order_lines",
        EVENTS: "adapters/no_events",
    }
    params = {
        "consent_threshold": consent_threshold(consent_share),
        "stock": stock,
        "unknown_category": UNKNOWN_CATEGORY,
    }
    return queries, params


def import_complete_journey(
    src: Path,
    out_dir: Path,
    *,
    consent_share: float = CONSENT_SHARE,
    stock: int = DEFAULT_STOCK,
) -> ImportSummary:
    """Convert The Complete Journey (a folder of its Parquet files) into ``out_dir``.

    Input rows are the rows of ``transactions.parquet``; ``products.parquet`` describes them.

    Raises:
        SourceError: the folder or a file is missing, or a file lacks a column.
        ValueError: ``out_dir`` already holds contract files, or a bad argument.
    """
    check_stock(stock)
    consent_threshold(consent_share)
    files = _files(src)
    return run_import(
        "completejourney",
        list(files),
        out_dir,
        lambda con: _build(con, files, consent_share, stock),
    )
