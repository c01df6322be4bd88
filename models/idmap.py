"""External ids <-> contiguous integer indices, validated at the boundary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class IdMap:
    """A sorted, unique set of external ids; index ``i`` is the i-th id."""

    ids: pl.Series

    @classmethod
    def from_ids(cls, ids: pl.Series) -> IdMap:
        """Map the distinct non-null values of ``ids`` (sorted, so the map is deterministic)."""
        if ids.null_count():
            raise ValueError(f"id column {ids.name!r} has {ids.null_count()} null values")
        return cls(ids.unique().sort().rename("external_id"))

    def __len__(self) -> int:
        return self.ids.len()

    def frame(self, id_column: str, idx_column: str) -> pl.DataFrame:
        """Two-column frame ``id_column -> idx_column`` to join against."""
        return pl.DataFrame(
            {
                id_column: self.ids,
                idx_column: pl.int_range(0, len(self), dtype=pl.Int32, eager=True),
            }
        )

    def to_index(self, frame: pl.DataFrame, id_column: str, idx_column: str) -> pl.DataFrame:
        """Add ``idx_column`` to ``frame``; unknown ids raise, naming one."""
        joined = frame.join(self.frame(id_column, idx_column), on=id_column, how="left")
        unknown = joined.filter(pl.col(idx_column).is_null())
        if unknown.height:
            example = unknown.get_column(id_column)[0]
            raise KeyError(
                f"{unknown.height} rows have {id_column} not in the id map, e.g. {example!r}"
            )
        return joined

    def to_external(self, idx: np.ndarray) -> pl.Series:
        """External ids for an array of indices."""
        return self.ids.gather(idx)
