"""The bench's shop: generated once into ``<work>/source`` and kept for re-runs; for the
incremental night, a copy whose last day's rows are held back to arrive as new files."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from flows.generate import generate_shop

END = dt.date(2025, 6, 1)  # the generated history ends the day before; the night is for END
# the entities with a time, and the column that dates each (order lines by their order's)
DATED = {"events": "occurred_at", "orders": "ordered_at"}
LAST_DAY_FILE = "part-99999-last-day.parquet"  # sorts after the generator's part files


@dataclass(frozen=True)
class Split:
    """``before``: a source folder with every row dated before ``day``; ``day``: that day's
    rows, per entity folder, to copy into ``before`` between the two nights."""

    before: Path
    day: Path
    last_day: dt.date


def ensure_shop(work: Path, customers: int, products: int, days: int, seed: int) -> Path:
    """``<work>/source``, generated (Parquet, ending at END) unless it is already there."""
    source = work / "source"
    if not (source / "customers.parquet").exists():
        shutil.rmtree(source, ignore_errors=True)
        generate_shop(
            source, customers=customers, products=products, days=days, seed=seed, end=END,
            fmt="parquet",
        )  # fmt: skip
    return source


def count_events(source: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in (source / "events").glob("*.parquet"))


def split_last_day(
    source: Path, out: Path, last_day: dt.date = END - dt.timedelta(days=1)
) -> Split:
    """Copy ``source`` to ``out/before`` without the rows of ``last_day``; those go to
    ``out/day/<entity>/LAST_DAY_FILE`` (order lines with their orders)."""
    shutil.rmtree(out, ignore_errors=True)
    before, day = out / "before", out / "day"
    for name in ("customers.parquet", "products.parquet"):
        (before / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, before / name)
    cut = dt.datetime.combine(last_day, dt.time())
    orders = pl.scan_parquet(source / "orders" / "*.parquet")
    late = orders.filter(pl.col("ordered_at") >= cut).select("order_id")
    frames = {
        "events": pl.scan_parquet(source / "events" / "*.parquet"),
        "orders": orders,
        "order_lines": pl.scan_parquet(source / "order_lines" / "*.parquet"),
    }
    for entity, frame in frames.items():
        if entity in DATED:
            is_late = pl.col(DATED[entity]) >= cut
            old, new = frame.filter(~is_late), frame.filter(is_late)
        else:
            old, new = frame.join(late, on="order_id", how="anti"), frame.join(late, on="order_id")
        (before / entity).mkdir(parents=True)
        (day / entity).mkdir(parents=True)
        old.sink_parquet(before / entity / "part-00000.parquet")
        new.sink_parquet(day / entity / LAST_DAY_FILE)
    return Split(before, day, last_day)


def deliver_last_day(split: Split) -> None:
    """The last day's files arrive in the source folder (a new file per entity)."""
    for folder in split.day.iterdir():
        shutil.copy2(folder / LAST_DAY_FILE, split.before / folder.name / LAST_DAY_FILE)
