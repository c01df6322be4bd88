"""Test helpers: hand-written tiny sources and database snapshots."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from models import columns as C

END = dt.date(2025, 6, 1)  # generated shops cover [END - days, END)

DATA_TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "events",
    "quarantine",
    "offers",
    "model_versions",
)


def snapshot(database: Path, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, list[tuple]]:
    """Every row of ``tables``, sorted: equal snapshots mean equal contents."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return {t: sorted(con.sql(f"select * from {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def rows(database: Path, sql: str) -> list[tuple]:
    """The result rows of ``sql`` on ``database``, opened read-only."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


# --- hand-written sources -------------------------------------------------------------------


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def tiny_frames() -> dict[str, pl.DataFrame]:
    """A shop small enough to reason about row by row (all valid)."""
    customers = pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "email_consent": [True, False, True, True],
            "signup_date": [dt.date(2025, 1, 1)] * 3 + [dt.date(2025, 3, 25)],
            "country": ["DE", "FR", None, "GB"],
        }
    )
    products = pl.DataFrame(
        {
            "product_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
            "title": [f"Product {i}" for i in range(1, 9)],
            "category": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "price": [10.0, 12.5, 8.0, 3.0, 99.0, 20.0, 5.0, 7.5],
            "stock": [5, 3, 10, 100, 0, 4, 8, 9],
            "active": [True, True, True, True, True, False, True, True],
            "repurchase_interval_days": [None, None, None, 14, None, None, None, None],
        },
        schema_overrides={"stock": pl.Int32, "repurchase_interval_days": pl.Int32},
    )
    orders = pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5"],
            "customer_id": ["c1", "c2", "c1", "c3", "c3"],
            "ordered_at": [
                ts("2025-03-01 10:00:00"),
                ts("2025-03-02 11:00:00"),
                ts("2025-03-10 09:00:00"),
                ts("2025-03-05 12:00:00"),
                ts("2025-03-06 12:00:00"),
            ],
            "status": ["completed", "completed", "return", "completed", "cancelled"],
        }
    )
    order_lines = pl.DataFrame(
        {
            "order_id": ["o1", "o1", "o2", "o3", "o4", "o5"],
            "line_no": [1, 2, 1, 1, 1, 1],
            "product_id": ["p1", "p4", "p2", "p1", "p3", "p7"],
            "quantity": [2, 1, 1, 1, 1, 1],
            "unit_price": [10.0, 3.0, 12.5, 10.0, 8.0, 5.0],
        },
        schema_overrides={"line_no": pl.Int32, "quantity": pl.Int32},
    )
    events = pl.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2", "c2", "c3", "c3"],
            "product_id": ["p2", "p2", "p3", "p1", "p7", "p8"],
            "event_type": ["view", "add_to_cart", "view", "view", "view", "view"],
            "occurred_at": [
                ts("2025-03-03 10:00:00"),
                ts("2025-03-03 10:01:00"),
                ts("2025-03-04 08:00:00"),
                ts("2025-03-04 08:02:00"),
                ts("2025-03-08 19:00:00"),
                ts("2025-03-08 19:03:00"),
            ],
            "session_id": ["s1", "s1", "s2", "s2", "s3", "s3"],
        }
    )
    return {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_lines": order_lines,
        "events": events,
    }


def write_source(folder: Path, frames: dict[str, pl.DataFrame], fmt: str = "csv") -> Path:
    """Write ``frames`` as ``<entity>.<fmt>`` files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.write_csv(folder / f"{name}.csv", datetime_format="%Y-%m-%d %H:%M:%S")
        else:
            frame.write_parquet(folder / f"{name}.parquet")
    return folder


def assert_same_lists(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Same customers, ranks, products and sources; scores equal up to float summation order
    (DuckDB and polars may add the same numbers in a different order run to run)."""
    keys = ["customer_id", "rank", "product_id", "source"]
    assert got.select(keys).equals(want.select(keys))
    assert np.allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-5)


def truncate(source: Path, dest: Path, cut: dt.datetime) -> Path:
    """A copy of ``source`` without any order, order line or event at or after ``cut``."""
    dest.mkdir()
    orders = pl.read_parquet(source / "orders" / "*.parquet")
    kept = orders.filter(pl.col("ordered_at") < cut)
    kept.write_parquet(dest / "orders.parquet")
    pl.read_parquet(source / "order_lines" / "*.parquet").join(
        kept.select("order_id"), on="order_id", how="semi"
    ).write_parquet(dest / "order_lines.parquet")
    pl.read_parquet(source / "events" / "*.parquet").filter(
        pl.col("occurred_at") < cut
    ).write_parquet(dest / "events.parquet")
    for name in ("customers", "products"):
        pl.read_parquet(source / f"{name}.parquet").write_parquet(dest / f"{name}.parquet")
    return dest


# --- export folders (tests/test_publish.py, tests/test_retention.py) -----------------------


def offer_lists(n_customers: int, tag: str = "", *, digits: int = 1) -> dict[str, pl.DataFrame]:
    """Shop lists of three offers per customer (``c<i><tag>``, ``i`` zero-padded to ``digits``)
    and the email lists (each customer's first offer), as a run hands them to an export."""
    customers = [f"c{i:0{digits}d}{tag}" for i in range(n_customers)]
    shop = pl.DataFrame(
        {
            C.CUSTOMER: [c for c in customers for _ in range(3)],
            C.RANK: [r for _ in range(n_customers) for r in (1, 2, 3)],
            C.PRODUCT: [f"p{r}" for _ in range(n_customers) for r in (7, 3, 5)],
            C.SCORE: [0.9, 0.5, 0.25] * n_customers,
            C.SOURCE: [C.SOURCE_MODEL, C.SOURCE_MODEL, C.SOURCE_FILL] * n_customers,
            C.REASON: ["viewed", "viewed", "popular"] * n_customers,
            C.ANCHOR: ["p1", "p1", None] * n_customers,
            C.REASON_TEXT: ["Because you viewed p1", "Because you viewed p1", "Popular"]
            * n_customers,
            C.SEGMENT: ["active"] * 3 * n_customers,
        },
        schema_overrides={C.RANK: pl.Int32},
    )
    return {C.CHANNEL_SHOP: shop, C.CHANNEL_EMAIL: shop.filter(pl.col(C.RANK) == 1)}


def parquet_files(folder: Path, lists: dict[str, pl.DataFrame]) -> dict[str, Path]:
    """Each channel's lists (OFFER_COLUMNS) as ``<folder>/<channel>.parquet``, as an export
    holds them for ``flows.stages.store_offers``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for channel, frame in lists.items():
        files[channel] = folder / f"{channel}.parquet"
        frame.select(*C.OFFER_COLUMNS).write_parquet(files[channel])
    return files


# The products of ``offer_lists``, with the columns an export joins onto the lists.
EXPORT_CATALOGUE = pl.DataFrame(
    {
        C.PRODUCT: ["p3", "p5", "p7"],
        "title": ["Three", "Five", "Seven"],
        C.CATEGORY: ["a", "a", "b"],
        "price": [3.0, 5.5, 7.25],
        "url": [f"https://shop.example/p/p{i}" for i in (3, 5, 7)],
        "image_url": [f"https://shop.example/img/p{i}.jpg" for i in (3, 5, 7)],
    }
)
