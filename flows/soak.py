"""``offers soak``: consecutive simulated nights on a shop that changes every day.

A shop is generated once for the whole period; each night the source folder is rewritten as
the shop's export would look that night: customers who signed up by then (new ones every day),
products seen by then plus a few not yet bought or viewed (new products), 5 % of products out
of stock and 1 % of customers with their consent flipped (both re-drawn each night), and
orders and events before the night, except a fifth of the last day's events, which arrive a
night late. After each night: the manifest verifies, every channel file is sorted by customer
and rank, the rules held (the run refuses to publish otherwise), and the sizes of the
database, exports and models and the process's peak memory are recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from flows.publish import verify

NEW_PRODUCT_DAYS = 7  # products first seen within this many days after the night are listed


@dataclass(frozen=True)
class Night:
    as_of: dt.date
    seconds: float
    status: str
    offers: dict[str, int]
    database_mb: float
    exports_mb: float
    models_mb: float
    peak_rss_mb: float
    problems: tuple[str, ...]


def folder_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_size / 2**20
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    )


def _draw(keys: pl.Expr, night: dt.date, salt: str) -> pl.Expr:
    """A uniform draw in [0, 1) per row, fixed for (row key, night, salt)."""
    seed = int(hashlib.sha256(f"{night}{salt}".encode()).hexdigest()[:8], 16)
    return (keys.hash(seed) % 1_000_000) / 1_000_000


def snapshot(full: Path, dest: Path, night: dt.date) -> None:
    """Rewrite ``dest`` as the shop's export of ``night`` (see the module docstring)."""
    cut = dt.datetime.combine(night, dt.time())
    late_from = cut - dt.timedelta(days=1)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    orders = pl.read_parquet(full / "orders" / "*.parquet").filter(pl.col("ordered_at") < cut)
    orders.write_parquet(dest / "orders.parquet")
    lines = pl.read_parquet(full / "order_lines" / "*.parquet")
    lines.join(orders.select("order_id"), on="order_id", how="semi").write_parquet(
        dest / "order_lines.parquet"
    )
    events = pl.read_parquet(full / "events" / "*.parquet").filter(pl.col("occurred_at") < cut)
    late = (pl.col("occurred_at") >= late_from) & (
        _draw(pl.concat_str("customer_id", "session_id"), night, "late") < 0.2
    )
    events.filter(~late).write_parquet(dest / "events.parquet")
    customers = pl.read_parquet(full / "customers.parquet").filter(pl.col("signup_date") < night)
    flip = _draw(pl.col("customer_id"), night, "consent") < 0.01
    customers.with_columns(
        pl.when(flip)
        .then(~pl.col("email_consent"))
        .otherwise("email_consent")
        .alias("email_consent")
    ).write_parquet(dest / "customers.parquet")
    _products(full, lines, events, night).write_parquet(dest / "products.parquet")


def _products(
    full: Path, lines: pl.DataFrame, events: pl.DataFrame, night: dt.date
) -> pl.DataFrame:
    soon = dt.datetime.combine(night + dt.timedelta(days=NEW_PRODUCT_DAYS), dt.time())
    every_event = pl.read_parquet(full / "events" / "*.parquet")
    listed = every_event.filter(pl.col("occurred_at") < soon).select("product_id").unique()
    listed = pl.concat([listed, lines.select("product_id").unique()]).unique()
    products = pl.read_parquet(full / "products.parquet").join(listed, on="product_id", how="semi")
    gone = _draw(pl.col("product_id"), night, "stock") < 0.05
    return products.with_columns(
        pl.when(gone).then(0).otherwise("stock").cast(products.schema["stock"]).alias("stock")
    )


def check_export(export: Path) -> list[str]:
    """What is wrong with a published export (empty: nothing)."""
    problems = []
    try:
        manifest = verify(export)
    except Exception as exc:  # a failed check is a finding, not a crash
        return [f"manifest: {exc}"]
    for entry in manifest["files"]:
        if entry.get("channel") and entry["file"].endswith(".parquet"):
            frame = pl.read_parquet(export / entry["file"])
            if not frame.equals(frame.sort("customer_id", "rank")):
                problems.append(f"{entry['file']}: not sorted by customer and rank")
    return problems


def run_night(home: Path, source: Path, full: Path, night: dt.date, nightly: Any) -> Night:
    """One night: the day's export, the nightly run, the checks and the sizes."""
    snapshot(full, source, night)
    t0 = time.perf_counter()
    summary = nightly(as_of=night, home=str(home), source=str(source), record_sends=True)
    seconds = time.perf_counter() - t0
    problems = check_export(home / "exports" / "latest")
    return Night(
        as_of=night,
        seconds=seconds,
        status=summary.get("status", "?"),
        offers=dict(summary.get("offers", {})),
        database_mb=folder_mb(home / "offers.duckdb"),
        exports_mb=folder_mb(home / "exports"),
        models_mb=folder_mb(home / "models"),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        problems=tuple(problems),
    )
