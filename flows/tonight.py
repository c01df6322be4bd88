"""What the offer stage reads and writes besides the model: the email history (rotation),
"goes with" lists, the catalogue (titles for reasons), new products and tonight's segments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from flows import sqlfiles
from flows.config import Settings
from flows.exports import read_catalogue
from flows.segmenting import customer_segments
from flows.stages import as_of_timestamp
from models import columns as C
from models import crosssell
from models.recommender import Inputs

EMAIL_CHANNELS = (C.CHANNEL_EMAIL, C.CHANNEL_WINBACK)  # both e-mail: one rotation history


@dataclass(frozen=True)
class Tonight:
    """The offer stage's inputs besides the model (None: not used, e.g. in evaluation).

    recently_sent: (customer_id, product_id) e-mailed within the repeat window.
    goes_with: "goes with" pairs (``models.crosssell``). segments: (customer_id, segment,
    days_since_visit). catalogue: ``flows.exports.read_catalogue`` (titles, prices, links).
    new_products: (product_id, category, price) offerable products nobody has interacted with.
    """

    recently_sent: pl.DataFrame | None = None
    goes_with: pl.DataFrame | None = None
    segments: pl.DataFrame | None = None
    catalogue: pl.DataFrame | None = None
    new_products: pl.DataFrame | None = None


def _frame(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> pl.DataFrame:
    rel = sqlfiles.run(con, name, params)
    assert rel is not None
    return rel.pl()


def goes_with_lists(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, inputs: Inputs, settings: Settings
) -> pl.DataFrame:
    """Per offerable product, the offerable products bought with it (``models.crosssell``)."""
    o = settings.offers
    params = {"as_of": as_of_timestamp(as_of), "lookback_days": settings.interactions.lookback_days}
    baskets = _frame(con, "marts/order_baskets", params)
    if o.goes_with == 0 or baskets.height == 0:
        return crosssell.goes_with(baskets.head(0), top=1)
    offerable = inputs.offerable.select(C.PRODUCT)
    lists = crosssell.goes_with(baskets, min_support=o.goes_with_min_support, top=10 * o.goes_with)
    return (
        lists.join(offerable, on=C.PRODUCT, how="semi")
        .join(offerable.rename({C.PRODUCT: crosssell.OTHER}), on=crosssell.OTHER, how="semi")
        .sort(C.PRODUCT, C.RANK)
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.PRODUCT).cast(pl.Int32).alias(C.RANK))
        .filter(pl.col(C.RANK) <= o.goes_with)
    )


def store_goes_with(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date, lists: pl.DataFrame, run_id: str
) -> None:
    """Replace the ``goes_with`` rows of ``as_of`` (what the shop's product pages read)."""
    con.register("new_goes_with", lists.to_arrow())
    try:
        sqlfiles.run(con, "publish/replace_goes_with", {"as_of": as_of, "run_id": run_id})
    finally:
        con.unregister("new_goes_with")


def recent_sends(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: Settings
) -> pl.DataFrame | None:
    """Email pairs sent in the ``email_repeat_days`` before ``as_of`` (None: no such rule)."""
    days = settings.offers.email_repeat_days
    if days == 0:
        return None
    params = {"channels": list(EMAIL_CHANNELS), "as_of": as_of, "days": days}
    return _frame(con, "marts/recent_sends", params)


def record_sends(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date, files: Mapping[str, Path], run_id: str
) -> None:
    """Remember tonight's e-mails (email and winback) as sent, replacing this date's record;
    ``files``: channel -> the export's ``<channel>.parquet`` (``flows.stages.store_offers``)."""
    for channel in EMAIL_CHANNELS:
        path = files.get(channel)
        if path is None:
            continue
        params = {"channel": channel, "as_of": as_of, "run_id": run_id, "path": str(path)}
        sqlfiles.run(con, "publish/record_sends", params)


def new_products(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """(product_id, category, price): active, in stock, and nobody's interaction before
    ``as_of``. Only for tonight's lists: the stock snapshot says nothing about the past."""
    return _frame(con, "marts/new_products", {"as_of": as_of_timestamp(as_of)})


def read_tonight(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, inputs: Inputs, settings: Settings
) -> Tonight:
    """Everything the offer stage reads for tonight's lists besides the model."""
    return Tonight(
        recently_sent=recent_sends(con, as_of, settings),
        goes_with=goes_with_lists(con, as_of, inputs, settings),
        segments=customer_segments(con, as_of, settings),
        catalogue=read_catalogue(con),
        new_products=new_products(con, as_of),
    )
