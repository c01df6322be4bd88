"""Tonight's customer segments, read from DuckDB: the activity mart cut at the as-of date,
segmented by ``models.segments`` with the configured rules."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from flows import sqlfiles
from flows.config import Settings
from flows.stages import as_of_timestamp
from models import segments as seg


def customer_activity(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """One row per customer signed up before ``as_of``: orders, revenue and visits before it
    (``sql/marts/customer_activity.sql``)."""
    rel = sqlfiles.run(con, "marts/customer_activity", {"as_of": as_of_timestamp(as_of)})
    assert rel is not None
    return rel.pl()


def customer_segments(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: Settings
) -> pl.DataFrame:
    """customer_id, segment, days_since_order, days_since_visit per customer known at
    ``as_of`` (nothing at or after it is read), sorted by customer_id."""
    return seg.segments(customer_activity(con, as_of), as_of, settings.segments.rules())
