"""The source data contract: entities, their columns, types and accepted values.

This module is the one place that names source columns. The extract stage checks files against
it, the shop generator writes it, and ``docs/data-contract.md`` describes it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One source column: its name, DuckDB type, whether a value is required, and whether a
    file may lack the column altogether (columns added to the contract later: files written
    before them still load, the column reads as empty)."""

    name: str
    sql_type: str
    required: bool = True
    may_be_absent: bool = False


@dataclass(frozen=True)
class Entity:
    """One source entity (a file, or a folder of files, in the source directory)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


CUSTOMERS = Entity(
    "customers",
    (
        Column("customer_id", "VARCHAR"),
        Column("email_consent", "BOOLEAN"),
        Column("signup_date", "DATE"),
        Column("country", "VARCHAR", required=False),
    ),
    key=("customer_id",),
)

PRODUCTS = Entity(
    "products",
    (
        Column("product_id", "VARCHAR"),
        Column("title", "VARCHAR"),
        Column("category", "VARCHAR"),
        Column("price", "DOUBLE"),
        Column("stock", "INTEGER"),
        Column("active", "BOOLEAN"),
        Column("repurchase_interval_days", "INTEGER", required=False),
        Column("url", "VARCHAR", required=False, may_be_absent=True),
        Column("image_url", "VARCHAR", required=False, may_be_absent=True),
    ),
    key=("product_id",),
)

ORDERS = Entity(
    "orders",
    (
        Column("order_id", "VARCHAR"),
        Column("customer_id", "VARCHAR"),
        Column("ordered_at", "TIMESTAMP"),
        Column("status", "VARCHAR"),
    ),
    key=("order_id",),
)

ORDER_LINES = Entity(
    "order_lines",
    (
        Column("order_id", "VARCHAR"),
        Column("line_no", "INTEGER"),
        Column("product_id", "VARCHAR"),
        Column("quantity", "INTEGER"),
        Column("unit_price", "DOUBLE"),
    ),
    key=("order_id", "line_no"),
)

EVENTS = Entity(
    "events",
    (
        Column("customer_id", "VARCHAR"),
        Column("product_id", "VARCHAR"),
        Column("event_type", "VARCHAR"),
        Column("occurred_at", "TIMESTAMP"),
        Column("session_id", "VARCHAR"),
    ),
    key=("customer_id", "product_id", "event_type", "occurred_at", "session_id"),
)

# Load order matters: references are checked against entities loaded before.
ENTITIES: tuple[Entity, ...] = (CUSTOMERS, PRODUCTS, ORDERS, ORDER_LINES, EVENTS)
BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}

ORDER_STATUSES = ("completed", "cancelled", "return")
EVENT_TYPES = ("view", "add_to_cart")
FILE_FORMATS = ("csv", "parquet")
