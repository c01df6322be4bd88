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

The mapping decisions are documented in ``docs/data-adapters.md``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

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
from flows.generate import CONSENT_SHARE, _arrow_schema, _contract_paths

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

_NEWLINES = "chr(13) || chr(10)"
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def _load_raw(con: duckdb.DuckDBPyConnection, files: list[Path], columns: tuple[str, ...]) -> None:
    """Tables ``raw`` (every parsed row, numbered per file), ``file_info`` and ``rejected``.

    The files' headers must have been checked (the reader maps columns by position).

    ``file_info.truncated_row`` is the row number of a parsed row that is an unterminated last
    line; ``rejected`` holds one row per line the reader could not parse, with its reason.
    """
    names = [str(p) for p in files]
    tails = [_unterminated_tail(p) for p in files]
    spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    con.execute(
        f"""
        create table raw_unnumbered as
        select *
        from read_csv(
            $files,
            header = true,
            columns = {spec},
            auto_detect = false,
            delim = ',',
            quote = '"',
            escape = '"',
            filename = '_file',
            store_rejects = true,
            rejects_table = 'csv_rejects',
            rejects_scan = 'csv_reject_scans'
        )
        """,
        {"files": names},
    )
    # Insertion order is file order, so rowid numbers the rows (as flows/extract.py does).
    con.execute(
        """
        create table raw as
        select
            * exclude (_rowid),
            _rowid - min(_rowid) over (partition by _file) + 1 as _row
        from (select *, rowid as _rowid from raw_unnumbered)
        """
    )
    con.execute("drop table raw_unnumbered")
    con.execute(
        "create table tails as select unnest($files) as file, unnest($tails) as tail",
        {"files": names, "tails": tails},
    )
    con.execute(
        """
        create table reject_lines as
        select
            scans.file_path as file,
            errors.line,
            min(errors.csv_line) as csv_line
        from csv_rejects as errors
        inner join csv_reject_scans as scans
            on scans.scan_id = errors.scan_id and scans.file_id = errors.file_id
        group by all
        """
    )
    # A rejected line is the unterminated last line when it is the file's last rejected line
    # and either ends with the tail's text or is numbered as the file's last line (header +
    # parsed rows + rejected lines); otherwise the last parsed row is that line.
    con.execute(
        f"""
        create table file_info as
        with counts as (
            select _file as file, count(*) as n_rows, max(_row) as last_row
            from raw
            group by _file
        ),

        rejects as (
            select file, count(*) as n_rejected, max(line) as last_rejected_line
            from reject_lines
            group by file
        ),

        joined as (
            select
                tails.file,
                tails.tail,
                coalesce(counts.n_rows, 0) as n_rows,
                counts.last_row,
                coalesce(rejects.n_rejected, 0) as n_rejected,
                rejects.last_rejected_line
            from tails
            left join counts using (file)
            left join rejects using (file)
        ),

        flagged as (
            select
                joined.*,
                coalesce(
                    joined.tail is not null
                    and (
                        ends_with(
                            rtrim(last_reject.csv_line, {_NEWLINES}),
                            rtrim(joined.tail, {_NEWLINES})
                        )
                        or last_reject.line = 1 + joined.n_rows + joined.n_rejected
                    ),
                    false
                ) as tail_rejected
            from joined
            left join reject_lines as last_reject
                on last_reject.file = joined.file
                and last_reject.line = joined.last_rejected_line
        )

        select
            *,
            case when tail is not null and not tail_rejected then last_row end as truncated_row
        from flagged
        """
    )
    con.execute(
        """
        create table rejected as
        select
            reject_lines.file,
            reject_lines.line,
            case
                when file_info.tail_rejected and reject_lines.line = file_info.last_rejected_line
                    then 'truncated line'
                else 'malformed line'
            end as reason
        from reject_lines
        inner join file_info using (file)
        """
    )


def _truncated(alias: str = "raw") -> str:
    """SQL: whether a ``raw`` row is an unterminated last line (needs ``file_info as fi``)."""
    return f"coalesce({alias}._row = fi.truncated_row, false)"


# --- writing -------------------------------------------------------------------------------------


# Rows are written sorted by the entity's key (so files are reproducible); events by time.
_SORT = {EVENTS.name: ("customer_id", "occurred_at", "product_id", "event_type", "session_id")}


def _typed(entity: Entity, query: str) -> str:
    """``query`` with the contract's column names, order and types, sorted by the key."""
    cols = ", ".join(f"cast({c.name} as {c.sql_type}) as {c.name}" for c in entity.columns)
    order = _SORT.get(entity.name, entity.key)
    return f"select {cols} from ({query}) order by {', '.join(order)}"


def _params_for(query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters ``query`` names (DuckDB refuses parameters a statement does not use)."""
    wanted = set(_PARAM.findall(query))
    return {k: v for k, v in params.items() if k in wanted} or None


def _write_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    query: str,
    params: dict[str, Any],
    path: Path,
) -> int:
    """Stream ``query`` into ``path`` as Parquet with the generator's Arrow schema."""
    schema = _arrow_schema(entity)
    rows = 0
    sql = _typed(entity, query)
    reader = con.sql(sql, params=_params_for(sql, params)).to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            if batch.num_rows:
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                rows += batch.num_rows
    return rows


def _consent_sql(consent_share: float) -> tuple[str, int]:
    """A stable consent flag: the first 32 bits of md5(customer_id) below a threshold."""
    if not 0.0 <= consent_share <= 1.0:
        raise ValueError(f"consent_share must be within [0, 1], not {consent_share!r}")
    return (
        "(('0x' || substr(md5(customer_id), 1, 8))::ubigint < $consent_threshold)",
        round(consent_share * 2**32),
    )


def _dropped(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Drop counts per reason: unparseable lines plus rows of ``parsed`` with a ``_reason``."""
    rows = con.execute(
        """
        select reason, count(*) as n from rejected group by reason
        union all
        select _reason, count(*) from parsed where _reason is not null group by _reason
        order by n desc, reason
        """
    ).fetchall()
    return {str(reason): int(n) for reason, n in rows}


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
    if existing := _contract_paths(out_dir) if out_dir.exists() else []:
        names = ", ".join(p.name for p in existing)
        raise ValueError(f"{out_dir} already holds contract files ({names}); refusing to overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=out_dir))
    try:
        con = duckdb.connect(str(work / "import.duckdb"))
        try:
            spill = str(work / "spill").replace("'", "''")
            con.execute(f"set temp_directory = '{spill}'")
            _load_raw(con, files, columns)
            queries, params = build(con)
            written = {
                e.name: _write_entity(con, e, queries[e], params, work / f"{e.name}.parquet")
                for e in ENTITIES
            }
            (rows_in,) = con.execute(
                "select (select count(*) from raw) + (select count(*) from rejected)"
            ).fetchone() or (0,)
            dropped = _dropped(con)
            (inactive,) = con.execute(
                "select count(*) from read_parquet($path) where not active",
                {"path": str(work / f"{PRODUCTS.name}.parquet")},
            ).fetchone() or (0,)
            notes = {INACTIVE_NOTE: int(inactive)}
        finally:
            con.close()
        used = sum(written[e.name] for e in used_entities)
        if used + sum(dropped.values()) != rows_in:
            raise RuntimeError(
                f"{dataset}: {rows_in} rows in, but {used} used + "
                f"{sum(dropped.values())} dropped; an adapter rule lost rows"
            )
        if existing := _contract_paths(out_dir):
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


def _positive(column: str) -> str:
    """SQL: ``column`` is a finite number above zero (DuckDB orders NaN above everything)."""
    return f"coalesce(isfinite({column}) and {column} > 0, false)"


_LATEST = "(happened_at, _file, _row)"  # "latest" = last in time, then in file and row order


# --- REES46 --------------------------------------------------------------------------------------


def _build_rees46(
    con: duckdb.DuckDBPyConnection, consent_share: float, stock: int
) -> tuple[dict[Entity, str], dict[str, Any]]:
    known = ", ".join(f"'{t}'" for t in (*REES46_EVENT_TYPES, "purchase"))
    formats = "[" + ", ".join(f"'{f}'" for f in REES46_TIME_FORMATS) + "]"
    con.execute(
        f"""
        create table parsed as
        with typed as (
            select
                raw._file,
                raw._row,
                {_truncated()} as _truncated,
                nullif(trim(raw.user_id), '') as customer_id,
                nullif(trim(raw.product_id), '') as product_id,
                lower(nullif(trim(raw.event_type), '')) as source_type,
                try_strptime(trim(raw.event_time), {formats}) as happened_at,
                nullif(trim(raw.user_session), '') as session_id,
                try_cast(trim(raw.price) as double) as price,
                nullif(trim(raw.category_code), '') as category_code,
                nullif(trim(raw.category_id), '') as category_id,
                nullif(trim(raw.brand), '') as brand
            from raw
            left join file_info as fi on fi.file = raw._file
        ),

        checked as (
            select
                *,
                case
                    when _truncated then 'truncated line'
                    when customer_id is null then 'no customer id (user_id)'
                    when product_id is null then 'no product id'
                    when happened_at is null then 'unparseable event_time'
                    when source_type is null or source_type not in ({known})
                        then 'unsupported event type: ' || coalesce(source_type, '(empty)')
                    when session_id is null then 'no session id (user_session)'
                    when source_type = 'purchase' and not {_positive("price")}
                        then 'purchase without a positive price'
                end as _first_reason
            from typed
        ),

        final as (
            select
                * exclude (_first_reason),
                case
                    when _first_reason is null
                        and row_number() over (
                            partition by
                                customer_id, product_id, source_type, happened_at, session_id,
                                _first_reason is null
                            order by _file, _row
                        ) > 1
                        then 'duplicate event'
                    else _first_reason
                end as _reason
            from checked
        )

        select * from final
        """
    )
    consent, threshold = _consent_sql(consent_share)
    event_case = " ".join(f"when '{k}' then '{v}'" for k, v in REES46_EVENT_TYPES.items())
    queries = {
        CUSTOMERS: f"""
            select
                customer_id,
                {consent} as email_consent,
                cast(min(happened_at) as date) as signup_date,
                null as country
            from parsed
            where not _truncated and customer_id is not null and happened_at is not null
            group by customer_id
        """,
        PRODUCTS: f"""
            with latest as (
                select
                    product_id,
                    arg_max(brand, {_LATEST}) filter (where brand is not null) as brand,
                    arg_max(category_code, {_LATEST}) filter (where category_code is not null)
                        as category_code,
                    arg_max(category_id, {_LATEST}) filter (where category_id is not null)
                        as category_id,
                    arg_max(price, {_LATEST}) filter (where {_positive("price")}) as price
                from parsed
                where not _truncated and product_id is not null and happened_at is not null
                group by product_id
            )

            select
                product_id,
                coalesce(
                    nullif(
                        concat_ws(
                            ' ', brand, replace(string_split(category_code, '.')[-1], '_', ' ')
                        ),
                        ''
                    ),
                    'product ' || product_id
                ) as title,
                coalesce(category_code, category_id, 'unknown') as category,
                coalesce(price, 0.0) as price,
                $stock as stock,
                price is not null as active,
                null as repurchase_interval_days
            from latest
        """,
        ORDERS: """
            select
                customer_id || '-' || session_id as order_id,
                customer_id,
                min(happened_at) as ordered_at,
                'completed' as status
            from parsed
            where _reason is null and source_type = 'purchase'
            group by customer_id, session_id
        """,
        ORDER_LINES: """
            select
                customer_id || '-' || session_id as order_id,
                row_number() over (
                    partition by customer_id, session_id order by happened_at, _file, _row
                ) as line_no,
                product_id,
                1 as quantity,
                price as unit_price
            from parsed
            where _reason is null and source_type = 'purchase'
        """,
        EVENTS: f"""
            select
                customer_id,
                product_id,
                case source_type {event_case} end as event_type,
                happened_at as occurred_at,
                session_id
            from parsed
            where _reason is null and source_type <> 'purchase'
        """,
    }
    return queries, {"consent_threshold": threshold, "stock": stock}


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
    formats = "[" + ", ".join(f"'{f}'" for f in ONLINE_RETAIL_DATE_FORMATS) + "]"
    codes = ", ".join(f"'{c}'" for c in NON_PRODUCT_STOCK_CODES)
    prefixes = " or ".join(f"starts_with(stock_code, '{p}')" for p in NON_PRODUCT_PREFIXES)
    con.execute(
        f"""
        create table parsed as
        with cleaned as (
            select
                raw._file,
                raw._row,
                {_truncated()} as _truncated,
                nullif(trim(raw.InvoiceNo), '') as invoice,
                upper(nullif(trim(raw.StockCode), '')) as stock_code,
                nullif(trim(raw.Description), '') as description,
                trim(raw.Quantity) as quantity_text,
                try_strptime(trim(raw.InvoiceDate), {formats}) as happened_at,
                try_cast(trim(raw.UnitPrice) as double) as price,
                trim(raw.CustomerID) as customer_text,
                nullif(nullif(trim(raw.Country), ''), 'Unspecified') as country
            from raw
            left join file_info as fi on fi.file = raw._file
        ),

        typed as (
            select
                * exclude (quantity_text, customer_text),
                case
                    when regexp_full_match(quantity_text, '-?[0-9]+(\\.0+)?')
                        then try_cast(quantity_text as integer)
                end as quantity,
                case
                    when regexp_full_match(customer_text, '[0-9]+\\.0+')
                        then regexp_replace(customer_text, '\\.0+$', '')
                    else nullif(customer_text, '')
                end as customer_id,
                coalesce(upper(invoice) like 'C%', false) as is_cancellation,
                coalesce(stock_code in ({codes}) or {prefixes}, false) as is_non_product
            from cleaned
        ),

        checked as (
            select
                *,
                case
                    when _truncated then 'truncated line'
                    when customer_id is null then 'no customer id'
                    when invoice is null then 'no invoice number'
                    when happened_at is null then 'unparseable InvoiceDate'
                    when quantity is null then 'unparseable Quantity'
                    when price is null or not isfinite(price) then 'unparseable UnitPrice'
                    when stock_code is null then 'no stock code'
                    when is_non_product then 'non-product stock code'
                    when quantity = 0 then 'zero quantity'
                    when quantity < 0 and not is_cancellation
                        then 'negative quantity on a sale invoice'
                    when quantity > 0 and is_cancellation
                        then 'positive quantity on a cancellation invoice'
                    when price <= 0 then 'non-positive price'
                end as _first_reason
            from typed
        ),

        final as (
            select
                * exclude (_first_reason),
                case
                    when _first_reason is null
                        and min(customer_id) over invoice_rows
                        <> max(customer_id) over invoice_rows
                        then 'invoice with several customers'
                    else _first_reason
                end as _reason
            from checked
            window invoice_rows as (partition by invoice, _first_reason is null)
        )

        select * from final
        """
    )
    consent, threshold = _consent_sql(consent_share)
    queries = {
        CUSTOMERS: f"""
            select
                customer_id,
                {consent} as email_consent,
                cast(min(happened_at) as date) as signup_date,
                arg_max(country, {_LATEST}) filter (where country is not null) as country
            from parsed
            where not _truncated and customer_id is not null and happened_at is not null
            group by customer_id
        """,
        PRODUCTS: f"""
            with source as (
                select *
                from parsed
                where not _truncated and stock_code is not null and not is_non_product
            ),

            descriptions as (
                select
                    stock_code,
                    description,
                    count(*) filter (where {_positive("price")}) as priced,
                    count(*) as n
                from source
                where description is not null
                group by stock_code, description
            ),

            titles as (
                select stock_code, description as title
                from descriptions
                qualify row_number() over (
                    partition by stock_code order by priced desc, n desc, description
                ) = 1
            ),

            prices as (
                select
                    stock_code,
                    arg_max(price, {_LATEST}) filter (
                        where {_positive("price")} and happened_at is not null
                    ) as price
                from source
                group by stock_code
            )

            select
                prices.stock_code as product_id,
                coalesce(titles.title, 'stock code ' || prices.stock_code) as title,
                '{ONLINE_RETAIL_CATEGORY}' as category,
                coalesce(prices.price, 0.0) as price,
                $stock as stock,
                prices.price is not null as active,
                null as repurchase_interval_days
            from prices
            left join titles using (stock_code)
        """,
        ORDERS: """
            select
                invoice as order_id,
                min(customer_id) as customer_id,
                min(happened_at) as ordered_at,
                case when bool_or(is_cancellation) then 'return' else 'completed' end as status
            from parsed
            where _reason is null
            group by invoice
        """,
        ORDER_LINES: """
            select
                invoice as order_id,
                row_number() over (partition by invoice order by _file, _row) as line_no,
                stock_code as product_id,
                abs(quantity) as quantity,
                price as unit_price
            from parsed
            where _reason is null
        """,
        EVENTS: """
            select
                null as customer_id,
                null as product_id,
                null as event_type,
                null as occurred_at,
                null as session_id
            where false
        """,
    }
    return queries, {"consent_threshold": threshold, "stock": stock}


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
