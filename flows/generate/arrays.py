"""Small vectorised helpers: groups laid back to back, contract-typed polars columns, and the
window of time a shop covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.contract import Entity

SECONDS_PER_DAY = 86_400

POLARS_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMP": pl.Datetime("us"),
    "INTEGER": pl.Int32(),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
}


@dataclass(frozen=True)
class Window:
    """The days a shop covers: ``[start_day, end_day)`` in days since the epoch (UTC)."""

    start_day: int
    end_day: int  # exclusive
    days: int

    @property
    def start_s(self) -> int:
        return self.start_day * SECONDS_PER_DAY

    @property
    def end_s(self) -> int:
        return self.end_day * SECONDS_PER_DAY


def starts(counts: np.ndarray) -> np.ndarray:
    """Offset of each group's first element when groups of ``counts`` lie back to back."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.cumsum(counts) - counts


def position_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of ``counts`` (groups back to back)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(starts(counts), counts)


def group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``values`` restarting at every group of ``counts``."""
    running = np.concatenate(([0], np.cumsum(values)))
    return running[1:] - np.repeat(running[starts(counts)], counts)


def stable_order(*keys: np.ndarray) -> np.ndarray:
    """Like ``np.lexsort(keys[::-1])`` (first key most significant, ties in index order), as one
    stable argsort of a combined int64 key when the keys' ranges fit in 62 bits."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - lo + 1 for k, lo in zip(keys, lows, strict=True)]
    if int(np.prod(np.array(spans, dtype=object))) >= 2**62:
        return np.lexsort(keys[::-1])
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key, lo, span in zip(keys, lows, spans, strict=True):
        combined = combined * span + (key.astype(np.int64) - lo)
    return np.argsort(combined, kind="stable")


def first_of_key(key: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indexes of the element with the smallest ``order`` for each distinct ``key``."""
    perm = np.lexsort((order, key))
    first = np.ones(len(perm), dtype=bool)
    first[1:] = key[perm][1:] != key[perm][:-1]
    return np.sort(perm[first])


def ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``numbers`` as a string Series."""
    digits = pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).rename("")


def timestamps(seconds: np.ndarray) -> pl.Series:
    """Naive UTC microsecond timestamps from epoch seconds."""
    return pl.Series(np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us"))


def dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def labels(values: Sequence[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(np.asarray(codes, dtype=np.int64))


def frame(entity: Entity, *columns: pl.Series | np.ndarray) -> pl.DataFrame:
    """A frame with the contract's column names, order and types."""
    if len(columns) != len(entity.columns):
        raise ValueError(f"{entity.name}: {len(columns)} columns given, contract has {entity}")
    return pl.DataFrame(
        [
            pl.Series(c.name, col).cast(POLARS_TYPES[c.sql_type])
            for c, col in zip(entity.columns, columns, strict=True)
        ]
    )
