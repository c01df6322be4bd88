"""Real-data adapters: public e-commerce datasets -> the source data contract (Parquet).

One module per dataset, each read as it is published:

* :mod:`~flows.adapters.rees46`: REES46 / Open CDP "eCommerce behavior data" (event CSVs);
* :mod:`~flows.adapters.online_retail`: UCI "Online Retail" and "Online Retail II" (CSV or
  Parquet);
* :mod:`~flows.adapters.complete_journey`: 84.51 "The Complete Journey" 2.0 (Parquet);
* :mod:`~flows.adapters.tmall`: the Tmall Recommendation Prize 2014 brand log (CSV or Parquet).

Everything runs in DuckDB (set-based SQL in ``sql/adapters/``, spilling to disk for large
inputs; no pandas, no Python loops over rows) and is written as the five contract entities with
exactly the Arrow types :mod:`flows.generate` uses. Every input row either becomes an event / an
order line or is counted under one drop reason in :class:`ImportSummary`; the counts are
checked to add up (:mod:`flows.adapters.core`, the shared frame).

CSV lines the reader cannot parse (wrong number of fields, unterminated quotes, bad encoding)
are counted as ``malformed line``. A file whose last byte is not a newline has an unterminated
last line: it is counted as ``truncated line`` and never used, whether or not it happens to
parse - a line cut inside its last field still has every field, with a shortened value.

The mapping decisions are documented in ``docs/data-adapters.md``.
"""

from __future__ import annotations

from flows.adapters.complete_journey import import_complete_journey
from flows.adapters.core import DEFAULT_STOCK, INACTIVE_NOTE, ImportSummary
from flows.adapters.online_retail import (
    NON_PRODUCT_PREFIXES,
    NON_PRODUCT_STOCK_CODES,
    ONLINE_RETAIL_COLUMNS,
    ONLINE_RETAIL_II_COLUMNS,
    import_online_retail,
)
from flows.adapters.rees46 import REES46_COLUMNS, REES46_EVENT_TYPES, import_rees46
from flows.adapters.tmall import DEFAULT_YEAR, TMALL_COLUMNS, import_tmall

__all__ = [
    "DEFAULT_STOCK",
    "DEFAULT_YEAR",
    "INACTIVE_NOTE",
    "NON_PRODUCT_PREFIXES",
    "NON_PRODUCT_STOCK_CODES",
    "ONLINE_RETAIL_COLUMNS",
    "ONLINE_RETAIL_II_COLUMNS",
    "REES46_COLUMNS",
    "REES46_EVENT_TYPES",
    "TMALL_COLUMNS",
    "ImportSummary",
    "import_complete_journey",
    "import_online_retail",
    "import_rees46",
    "import_tmall",
]
