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

    def positions(self, ids: pl.Series) -> np.ndarray:
        """This map's index of each of ``ids`` (in their order), -1 where it lacks one.

        Translates another map's ids into this one: nothing is indexed by the other map's
        positions, so two maps built on different nights never get mixed up.
        """
        left = pl.DataFrame({"id": ids}).with_row_index("row")
        right = pl.DataFrame(
            {"id": self.ids, "pos": pl.int_range(0, len(self), dtype=pl.Int64, eager=True)}
        )
        joined = left.join(right, on="id", how="left").sort("row")
        return joined.get_column("pos").fill_null(-1).to_numpy()

    def to_external(self, idx: np.ndarray) -> pl.Series:
        """External ids for an array of indices."""
        return self.ids.gather(idx)
