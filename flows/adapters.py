"""Real-data adapters: public e-commerce datasets -> the source data contract (Parquet).

Two formats are supported, each read as it is published (one CSV file or a folder of them):

* REES46 / Open CDP "eCommerce behavior data" (``event_time,event_type,product_id,...``):
  browsing events and purchases of a multi-category or cosmetics shop;
* UCI "Online Retail" (``InvoiceNo,StockCode,...``): invoice lines of a UK gift wholesaler.

Everything runs in DuckDB (set-based SQL, spilling to disk for large inputs; no pandas, no
Python loops over rows) and is written as the five contract entities with exactly the Arrow
types :mod:`flows.generate` uses. Every input row either becomes an event / an order line or is
counted under one drop reason in :class:`ImportSummary`; the counts are checked to add up.

Lines the CSV reader cannot parse (wrong number of fields, unterminated quotes, bad encoding)
are counted as ``malformed line``. A file whose last byte is not a newline has an unterminated
last line: it is counted as ``truncated line`` and never used, whether or not it happens to
parse - a line cut inside its last field still has every field, with a shortened value.

The mapping decisions are documented in ``docs/data-adapters.md``; the SQL lives in
``sql/adapters/*.sql``.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from flows import sqlfiles
from flows.contract import (
    CUSTOMERS,
    ENTITIES,
    EVENT_TYPES,
    EVENTS,
    ORDER_LINES,
    ORDER_STATUSES,
    ORDERS,
    PRODUCTS,
    Entity,
)
from flows.errors import SourceError
from flows.generate import CONSENT_SHARE, arrow_schema, contract_paths

DEFAULT_STOCK = 1_000  # neither dataset has stock: every product with a price is offerable
BATCH_ROWS = 256_000  # rows per Arrow batch / Parquet row group when writing
TAIL_BYTES = 8 * 1024 * 1024  # how far back from the end a last line is looked for

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
# REES46 event types -> contract event types; purchases become orders, anything else is dropped.
REES46_EVENT_TYPES = {"view": "view", "cart": "add_to_cart"}
# UCI Online Retail stock codes that are charges, fees or adjustments, not goods (upper-cased).
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
INACTIVE_NOTE = "products without a positive price (written inactive, price 0)"
ONLINE_RETAIL_CATEGORY = "all"  # the dataset has no categories
ONLINE_RETAIL_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",  # pandas re-exports of the xlsx
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M",  # the common CSV copies: 12/1/2010 8:26 (month first)
    "%m/%d/%Y %H:%M:%S",
)
REES46_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S")

assert set(REES46_EVENT_TYPES.values()) <= set(EVENT_TYPES)
assert {"completed", "return"} <= set(ORDER_STATUSES)


@dataclass(frozen=True)
class ImportSummary:
    """What an import read, wrote and dropped.

    ``rows_in`` counts data lines of the input files (headers excluded). Every one of them is
    either used (``used``: it became an event or an order line) or counted in ``dropped`` under
    exactly one reason. ``notes`` counts rows written with a caveat (e.g. inactive products).
    """

    dataset: str
    files: tuple[Path, ...]
    out_dir: Path
    rows_in: int
    used: int
    written: dict[str, int]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "files": [str(p) for p in self.files],
            "out_dir": str(self.out_dir),
            "rows_in": self.rows_in,
            "used": self.used,
            "written": dict(self.written),
            "dropped": dict(self.dropped),
            "notes": dict(self.notes),
        }


# --- input files --------------------------------------------------------------------------------


def _csv_files(src: Path) -> list[Path]:
    """``src`` itself, or the ``*.csv`` files of the folder ``src`` in name order."""
    src = Path(src)
    if src.is_file():
        return [src]
    if src.is_dir():
        files = sorted(p for p in src.glob("*.csv") if p.is_file())
        if files:
            return files
        raise SourceError("no *.csv files in the folder", file=src)
    raise SourceError("input does not exist; give a CSV file or a folder of CSV files", file=src)


def _check_header(path: Path, expected: tuple[str, ...]) -> None:
    """The first line must name exactly ``expected``, in order (the reader maps by position)."""
    with path.open("rb") as fh:
        first = fh.readline(1024 * 1024)
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    found = tuple(name.strip() for name in next(csv.reader([text]), []))
    if tuple(n.lower() for n in found) != tuple(n.lower() for n in expected):
        raise SourceError(
            f"unexpected header {','.join(found)!r}; expected {','.join(expected)!r}", file=path
        )


def _unterminated_tail(path: Path) -> str | None:
    """Text of the last line when the file does not end with a newline, else None.

    Only the data after the header counts: a file holding nothing but an unterminated header
    has no truncated row. Whitespace-only tails are ignored.
    """
    size = path.stat().st_size
    if size == 0:
        return None
    with path.open("rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        chunk = fh.read()
    if chunk.endswith(b"\n"):
        return None
    cut = chunk.rfind(b"\n")
    if cut < 0:
        if size > len(chunk):
            raise SourceError(f"last line is longer than {TAIL_BYTES:,} bytes", file=path)
        return None  # the whole file is one line: the header
    tail = chunk[cut + 1 :].decode("utf-8", errors="replace")
    return tail if tail.strip() else None


# --- reading: raw rows, rejected lines, truncated last lines ------------------------------------


def _load_raw(con: duckdb.DuckDBPyConnection, files: list[Path], columns: tuple[str, ...]) -> None:
    """Tables ``raw`` (every parsed row, numbered per file), ``file_info`` and ``rejected``.

    The files' headers must have been checked (the reader maps columns by position).

    ``file_info.truncated_row`` is the row number of a parsed row that is an unterminated last
    line; ``rejected`` holds one row per line the reader could not parse, with its reason.
    """
    names = [str(p) for p in files]
    params = {
        "files": names,
        "columns": dict.fromkeys(columns, "VARCHAR"),  # a STRUCT: name -> type, in order
        "tails": [_unterminated_tail(p) for p in files],
    }
    sqlfiles.run(con, "adapters/raw_rows", params)
    sqlfiles.run(con, "adapters/rejected_lines")


# --- writing -------------------------------------------------------------------------------------


def _check_shape(entity: Entity, rel: duckdb.DuckDBPyRelation, name: str) -> None:
    """``rel`` has the contract's column names, order and DuckDB types for ``entity``."""
    found = [(column, str(type_)) for column, type_ in zip(rel.columns, rel.types, strict=True)]
    expected = [(c.name, c.sql_type) for c in entity.columns]
    if found != expected:
        raise RuntimeError(f"sql/{name}.sql returns {found}; the contract has {expected}")


def _write_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    name: str,
    params: dict[str, Any],
    path: Path,
) -> int:
    """Stream ``sql/<name>.sql`` into ``path`` as Parquet with the generator's Arrow schema.

    The statement returns the contract's columns, cast to their types and sorted by the key.
    """
    schema = arrow_schema(entity)
    rows = 0
    rel = sqlfiles.run(con, name, params)
    if rel is None:
        raise ValueError(f"sql/{name}.sql returns no rows")
    _check_shape(entity, rel, name)
    reader = rel.to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            if batch.num_rows:
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                rows += batch.num_rows
    return rows


def _consent_threshold(consent_share: float) -> int:
    """A stable consent flag: the first 32 bits of md5(customer_id) below this threshold."""
    if not 0.0 <= consent_share <= 1.0:
        raise ValueError(f"consent_share must be within [0, 1], not {consent_share!r}")
    return round(consent_share * 2**32)


def _dropped(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Drop counts per reason: unparseable lines plus rows of ``parsed`` with a ``_reason``."""
    return {str(reason): int(n) for reason, n in sqlfiles.rows(con, "adapters/dropped")}


def _run_import(
    dataset: str,
    src: Path,
    out_dir: Path,
    columns: tuple[str, ...],
    build: Callable[[duckdb.DuckDBPyConnection], tuple[dict[Entity, str], dict[str, Any]]],
    used_entities: tuple[Entity, ...],
) -> ImportSummary:
    """Shared frame: check paths, read, build ``parsed``, write the five files, account."""
    files = _csv_files(src)
    for path in files:
        _check_header(path, columns)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    if existing := contract_paths(out_dir) if out_dir.exists() else []:
        names = ", ".join(p.name for p in existing)
        raise ValueError(f"{out_dir} already holds contract files ({names}); refusing to overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=out_dir))
    try:
        con = duckdb.connect(str(work / "import.duckdb"))
        try:
            sqlfiles.run(con, "adapters/spill_directory", {"path": str(work / "spill")})
            _load_raw(con, files, columns)
            queries, params = build(con)
            written = {
                e.name: _write_entity(con, e, queries[e], params, work / f"{e.name}.parquet")
                for e in ENTITIES
            }
            (rows_in,) = sqlfiles.one(con, "adapters/rows_in") or (0,)
            dropped = _dropped(con)
            (inactive,) = sqlfiles.one(
                con,
                "adapters/inactive_products",
                {"path": str(work / f"{PRODUCTS.name}.parquet")},
            ) or (0,)
            notes = {INACTIVE_NOTE: int(inactive)}
        finally:
            con.close()
        used = sum(written[e.name] for e in used_entities)
        if used + sum(dropped.values()) != rows_in:
            raise RuntimeError(
                f"{dataset}: {rows_in} rows in, but {used} used + "
                f"{sum(dropped.values())} dropped; an adapter rule lost rows"
            )
        if existing := contract_paths(out_dir):
            names = ", ".join(p.name for p in existing)
            raise ValueError(f"{out_dir} gained contract files ({names}) during the import")
        for entity in ENTITIES:
            os.replace(work / f"{entity.name}.parquet", out_dir / f"{entity.name}.parquet")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ImportSummary(
        dataset=dataset,
        files=tuple(files),
        out_dir=out_dir,
        rows_in=int(rows_in),
        used=used,
        written=written,
        dropped=dropped,
        notes={k: v for k, v in notes.items() if v},
    )


# --- REES46 --------------------------------------------------------------------------------------


def _build_rees46(
    con: duckdb.DuckDBPyConnection, consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Table ``parsed``; the SQL file per entity and the parameters they take."""
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
        "consent_threshold": _consent_threshold(consent_share),
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
    if stock < 1:
        raise ValueError("stock must be positive, or nothing would be offerable")
    return _run_import(
        "rees46",
        src,
        out_dir,
        REES46_COLUMNS,
        lambda con: _build_rees46(con, consent_share, stock),
        used_entities=(ORDER_LINES, EVENTS),
    )


# --- UCI Online Retail ---------------------------------------------------------------------------


def _build_online_retail(
    con: duckdb.DuckDBPyConnection, consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    """Table ``parsed``; the SQL file per entity and the parameters they take."""
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
        EVENTS: "adapters/online_retail_events",
    }
    params = {
        "consent_threshold": _consent_threshold(consent_share),
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
    """Convert UCI Online Retail CSVs (a file or a folder of them) into ``out_dir``.

    Each invoice becomes an order ("C..." invoices: status return, quantities made positive),
    each usable invoice line an order line; there are no browsing events, so ``events.parquet``
    is empty. See ``docs/data-adapters.md``.

    Raises:
        SourceError: the input is missing or a file's header is not the Online Retail header.
        ValueError: ``out_dir`` already holds contract files, or a bad argument.
    """
    if stock < 1:
        raise ValueError("stock must be positive, or nothing would be offerable")
    return _run_import(
        "online-retail",
        src,
        out_dir,
        ONLINE_RETAIL_COLUMNS,
        lambda con: _build_online_retail(con, consent_share, stock),
        used_entities=(ORDER_LINES,),
    )
