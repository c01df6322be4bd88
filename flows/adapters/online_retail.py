"""UCI "Online Retail" and "Online Retail II": invoice lines of a UK gift wholesaler.

Read as published: CSV files with the Online Retail header (``InvoiceNo,StockCode,...``) or
the Online Retail II one (``Invoice,...,Price,Customer ID,Country``), or Parquet files with
either set of column names (matched by name). Each invoice becomes an order ("C..." invoices:
status return, quantities made positive), each usable invoice line an order line; there are no
browsing events. An invoice found in several input files (the two UCI releases share
2010-12-01 .. 2010-12-09) is taken from the file whose path sorts last. The mapping is
documented in ``docs/data-adapters.md``; the SQL is ``sql/adapters/online_retail_*.sql``.
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
    column_regex,
    consent_threshold,
    input_files,
    is_parquet,
    load_csv,
    match_columns,
    no_rejects,
    run_import,
)
from flows.contract import CUSTOMERS, EVENTS, ORDER_LINES, ORDER_STATUSES, ORDERS, PRODUCTS, Entity
from flows.generate import CONSENT_SHARE

ONLINE_RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
# Online Retail II spells three columns differently; same positions, same meanings.
ONLINE_RETAIL_II_COLUMNS = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)
# Parquet: SQL parameter -> the names that column may have (either release).
ONLINE_RETAIL_PARQUET_COLUMNS = {
    param: tuple(dict.fromkeys(names))
    for param, names in zip(
        (
            "invoice_no",
            "stock_code",
            "description",
            "quantity",
            "invoice_date",
            "unit_price",
            "customer_id",
            "country",
        ),
        zip(ONLINE_RETAIL_COLUMNS, ONLINE_RETAIL_II_COLUMNS, strict=True),
        strict=True,
    )
}
# Stock codes that are charges, fees or adjustments, not goods (upper-cased).
NON_PRODUCT_STOCK_CODES = (
    "POST",  # postage
    "DOT",  # dotcom postage
    "C2",  # carriage
    "D",  # discount
    "M",  # manual adjustment
    "S",  # samples
    "B",  # adjust bad debt
    "CRUK",  # CRUK commission
    "PADS",  # pads to match all cushions (a fee line at 0.001)
    "BANK CHARGES",
    "AMAZONFEE",
)
NON_PRODUCT_PREFIXES = ("GIFT_",)  # gift vouchers: gift_0001_10, ...
ONLINE_RETAIL_CATEGORY = "all"  # the dataset has no categories
ONLINE_RETAIL_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",  # pandas re-exports of the xlsx (and the Parquet copies)
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M",  # the common CSV copies: 12/1/2010 8:26 (month first)
    "%m/%d/%Y %H:%M:%S",
)

assert {"completed", "return"} <= set(ORDER_STATUSES)


def _load_parquet(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Table ``raw`` from Parquet files: the eight columns as text, under the CSV names."""
    params = {param: column_regex(names) for param, names in ONLINE_RETAIL_PARQUET_COLUMNS.items()}
    sqlfiles.run(
        con, "adapters/online_retail_parquet", {"files": [str(p) for p in files], **params}
    )
    no_rejects(con)


def _build(
    con: duckdb.DuckDBPyConnection, files: list[Path], consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Tables ``raw`` .. ``parsed``; the SQL file per entity and the parameters they take."""
    if is_parquet(files[0]):
        _load_parquet(con, files)
    else:
        load_csv(con, files, ONLINE_RETAIL_COLUMNS)
    sqlfiles.run(
        con,
        "adapters/online_retail_parse",
        {
            "date_formats": list(ONLINE_RETAIL_DATE_FORMATS),
            "non_product_codes": list(NON_PRODUCT_STOCK_CODES),
            "non_product_prefixes": list(NON_PRODUCT_PREFIXES),
        },
    )
    queries = {
        CUSTOMERS: "adapters/online_retail_customers",
        PRODUCTS: "adapters/online_retail_products",
        ORDERS: "adapters/online_retail_orders",
        ORDER_LINES: "adapters/online_retail_order_lines",
        EVENTS: "adapters/no_events",
    }
    params = {
        "consent_threshold": consent_threshold(consent_share),
        "stock": stock,
        "category": ONLINE_RETAIL_CATEGORY,
    }
    return queries, params


def import_online_retail(
    src: Path,
    out_dir: Path,
    *,
    consent_share: float = CONSENT_SHARE,
    stock: int = DEFAULT_STOCK,
) -> ImportSummary:
    """Convert UCI Online Retail (I or II) files into ``out_dir``.

    ``src`` is a CSV or Parquet file, or a folder of ``*.csv`` or of ``*.parquet`` files (not
    both), read together in name order. See ``docs/data-adapters.md``.

    Raises:
        SourceError: the input is missing, a CSV header is neither release's header, or a
            Parquet file lacks a column.
        ValueError: ``out_dir`` already holds contract files, or a bad argument.
    """
    check_stock(stock)
    consent_threshold(consent_share)
    files = input_files(src, (".csv", ".parquet"))
    for path in files:
        if is_parquet(path):
            match_columns(path, ONLINE_RETAIL_PARQUET_COLUMNS)
        else:
            check_header(path, ONLINE_RETAIL_COLUMNS, ONLINE_RETAIL_II_COLUMNS)
    return run_import(
        "online-retail", files, out_dir, lambda con: _build(con, files, consent_share, stock)
    )
