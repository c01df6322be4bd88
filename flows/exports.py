"""Email-ready export files: the wide layout an email tool imports (one row per customer, one
group of columns per list slot), the CSV dialect every CSV of the export is written in, and the
neutralising of text cells a spreadsheet would run as a formula.

CSV dialect (docs/data-contract.md, "Export"): UTF-8 without BOM, comma delimiter, ``"`` as
quote (a field is quoted when it holds a comma, a quote or a line break; quotes inside are
doubled), a header row, ``\\n`` line ends, an empty field for null.

CSV injection (OWASP): a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is written with a leading apostrophe, so a spreadsheet shows it as text instead
of evaluating it. Parquet files keep the raw values: programs read them, spreadsheets do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows import sqlfiles
from flows.config import Settings
from flows.spool import OFFER_SCHEMA
from models import columns as C
from models.rank import in_order

TITLE = "title"
PRICE = "price"
URL = "url"
IMAGE_URL = "image_url"
SLOT_REASON = "reason"  # a slot's reason in the wide file: the reason text a customer reads

# What read_catalogue returns, one row per product.
CATALOGUE_COLUMNS = (C.PRODUCT, TITLE, C.CATEGORY, PRICE, URL, IMAGE_URL)
# Per list slot i, in file order: (wide column without the ``_i``, its type).
SLOT_FIELDS: tuple[tuple[str, pl.DataType], ...] = (
    (C.PRODUCT, pl.String()),
    (TITLE, pl.String()),
    (PRICE, pl.Float64()),
    (URL, pl.String()),
    (IMAGE_URL, pl.String()),
    (SLOT_REASON, pl.String()),
)
PRICE_DECIMALS = 2

FORMULA_START = r"^[=+\-@\t\r]"  # OWASP: cells a spreadsheet may evaluate
NEUTRALISER = "'"
CSV_OPTIONS: dict[str, Any] = {
    "include_bom": False,
    "include_header": True,
    "separator": ",",
    "quote_char": '"',
    "quote_style": "necessary",
    "line_terminator": "\n",
    "null_value": "",
}


def read_catalogue(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every stored product with what an email shows of it (``CATALOGUE_COLUMNS``): the latest
    snapshot loaded. The same mart the offer stage reads for reason texts."""
    rel = sqlfiles.run(con, "marts/catalogue")
    assert rel is not None
    return rel.pl()


def read_contacts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """customer_id and the optional contact fields of the customers contract (today: country)."""
    rel = sqlfiles.run(con, "marts/contacts")
    assert rel is not None
    return rel.pl()


def slot_counts(settings: Settings) -> dict[str, int]:
    """Slots per channel in the wide file: the channel's list length, so the header is the
    same every night (an email tool maps its columns once)."""
    return {
        C.CHANNEL_SHOP: settings.offers.shop_k,
        C.CHANNEL_EMAIL: settings.offers.email_k,
        C.CHANNEL_WINBACK: settings.segments.winback_k,
    }


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that begins with ``= + - @``, a tab or a carriage return
    prefixed by an apostrophe (OWASP CSV injection); other cells and columns as they are."""
    text = [name for name, dtype in frame.schema.items() if _is_text(dtype)]
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(FORMULA_START))
        .then(NEUTRALISER + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text
    )


def write_csv(frame: pl.DataFrame, path: Path, *, float_precision: int | None = None) -> None:
    """``frame`` neutralised, in the export's CSV dialect (``float_precision``: decimals of
    every float column; None: as many as the value needs)."""
    neutralise(frame).write_csv(path, float_precision=float_precision, **CSV_OPTIONS)


WIDE_BLOCK = 100_000  # customers pivoted at once into a wide file


def write_wide_csv(
    lists_long: pl.DataFrame | Iterable[pl.DataFrame],
    path: Path,
    catalogue: pl.DataFrame,
    customers: pl.DataFrame | None,
    k: int,
    *,
    block: int = WIDE_BLOCK,
) -> int:
    """``wide(lists_long, ...)`` written to ``path`` as ``write_csv`` writes it (prices to
    ``PRICE_DECIMALS``), ``block`` customers pivoted at a time so that a million customers'
    wide rows are never in memory at once; returns the number of rows (customers).
    ``lists_long`` may come as parts (``flows.spool.Lists.blocks``): each holds whole
    customers, after those of the part before it."""
    parts = [lists_long] if isinstance(lists_long, pl.DataFrame) else lists_long
    options = {**CSV_OPTIONS, "float_precision": PRICE_DECIMALS}
    written, first = 0, True
    with path.open("wb") as handle:
        for part in parts:
            for rows in _customer_blocks(part, block):
                if rows.height == 0 and not first:
                    continue
                flat = wide(rows, catalogue, customers, k)
                neutralise(flat).write_csv(handle, **{**options, "include_header": first})
                written += flat.height
                first = False
        if first:  # no part at all: the header alone
            flat = wide(pl.DataFrame(schema=OFFER_SCHEMA), catalogue, customers, k)
            neutralise(flat).write_csv(handle, **options)
    return written


def _customer_blocks(lists_long: pl.DataFrame, block: int) -> Iterator[pl.DataFrame]:
    """``lists_long`` sorted by customer, cut into row ranges of ``block`` whole customers
    (one, empty, if it has none)."""
    ordered = lists_long
    if not ordered.get_column(C.CUSTOMER).cast(pl.String).is_sorted():
        ordered = ordered.sort(C.CUSTOMER, maintain_order=True)
    runs = ordered.get_column(C.CUSTOMER).rle().struct.field("len").cum_sum().to_numpy()
    ends = [int(e) for e in runs[block - 1 :: block]]
    if not ends or ends[-1] != ordered.height:
        ends.append(ordered.height)
    lo = 0
    for hi in ends:
        yield ordered.slice(lo, hi - lo)
        lo = hi


def wide_columns(k: int, contacts: tuple[str, ...] = ()) -> list[str]:
    """The wide file's header: customer_id, segment, the contact fields, then per slot
    1..k product_id_i, title_i, price_i, url_i, image_url_i, reason_i."""
    slots = [f"{field}_{i}" for i in range(1, k + 1) for field, _ in SLOT_FIELDS]
    return [C.CUSTOMER, C.SEGMENT, *contacts, *slots]


def wide(
    lists_long: pl.DataFrame,
    catalogue: pl.DataFrame,
    customers: pl.DataFrame | None,
    k: int,
) -> pl.DataFrame:
    """One row per customer of ``lists_long`` (OFFER_COLUMNS), sorted by customer_id:
    customer_id, segment, the contact fields of ``customers`` (every column but customer_id;
    None: none), then slots 1..k with the product, its title, price (rounded to 2 decimals),
    url and image_url from ``catalogue`` and the reason text. A shorter list leaves its last
    slots empty; a product missing from the catalogue leaves its title, price and links empty.
    """
    if k < 1:
        raise ValueError(f"a wide file needs at least one slot, not {k}")
    longest = lists_long.get_column(C.RANK).max()
    if longest is not None and int(longest) > k:
        raise ValueError(f"a list has rank {longest}, more than the wide file's {k} slots")
    contacts = (
        tuple(c for c in customers.columns if c != C.CUSTOMER) if customers is not None else ()
    )
    ordered = in_order(lists_long.with_columns(pl.col(C.CUSTOMER).cast(pl.String)), C.CUSTOMER)
    rows = ordered.filter(pl.col(C.CUSTOMER).is_first_distinct()).select(
        C.CUSTOMER, pl.col(C.SEGMENT).cast(pl.String)
    )
    if customers is not None:
        rows = rows.join(
            customers, on=C.CUSTOMER, how="left", validate="1:1", maintain_order="left"
        )
    slots = _slot_columns(ordered, catalogue, rows.height, k)
    return rows.with_columns(*slots).select(wide_columns(k, contacts))


def _slot_columns(
    ordered: pl.DataFrame, catalogue: pl.DataFrame, n: int, k: int
) -> list[pl.Series]:
    """``<field>_<i>`` for slots 1..k of the ``n`` customers of ``ordered`` (sorted by
    customer, then rank): each slot's values put at its customers' rows (no pivot), null
    where a list is shorter."""
    types = dict(SLOT_FIELDS)
    shown = catalogue.select(
        *(pl.col(c).cast(types[c]) for c in (C.PRODUCT, TITLE, URL, IMAGE_URL)),
        pl.col(PRICE).cast(pl.Float64).round(PRICE_DECIMALS),
    )
    slots = ordered.select(
        pl.col(C.CUSTOMER).rle_id().alias("_row"),
        C.RANK,
        pl.col(C.PRODUCT).cast(pl.String),
        pl.col(C.REASON_TEXT).cast(pl.String).alias(SLOT_REASON),
    ).join(shown, on=C.PRODUCT, how="left", validate="m:1", maintain_order="left")
    columns = []
    for i in range(1, k + 1):
        at = slots.filter(pl.col(C.RANK) == i)
        where = at.get_column("_row")
        for field, dtype in SLOT_FIELDS:
            empty = pl.repeat(None, n, dtype=dtype, eager=True).alias(f"{field}_{i}")
            columns.append(empty.scatter(where, at.get_column(field)) if at.height else empty)
    return columns
