"""Writing contract files: Arrow schemas, single files, and one file streamed chunk by chunk."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.contract import ENTITIES, FILE_FORMATS, Entity

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
}
_CSV_OPTIONS = {
    "separator": ",",
    "datetime_format": "%Y-%m-%d %H:%M:%S",
    "date_format": "%Y-%m-%d",
    "null_value": "",
}


def arrow_schema(entity: Entity) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.sql_type]) for c in entity.columns])


def contract_paths(out_dir: Path) -> list[Path]:
    """Contract files or folders already present in ``out_dir``."""
    candidates = [out_dir / e.name for e in ENTITIES]
    candidates += [out_dir / f"{e.name}.{ext}" for e in ENTITIES for ext in FILE_FORMATS]
    return [p for p in candidates if p.exists()]


def _to_arrow(frame: pl.DataFrame, entity: Entity) -> pa.Table:
    return frame.to_arrow().cast(arrow_schema(entity))


def write(frame: pl.DataFrame, path: Path, entity: Entity, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(_to_arrow(frame, entity), path, compression="zstd")
    else:
        frame.write_csv(path, include_header=True, **_CSV_OPTIONS)


class SingleFileWriter:
    """Streams chunks of one entity into a single file (row groups / appended CSV rows)."""

    def __init__(self, path: Path, entity: Entity, fmt: str) -> None:
        self.entity = entity
        self.fmt = fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: IO[bytes] | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, arrow_schema(entity), compression="zstd")
        else:
            self._csv = path.open("wb")
            self._csv.write((",".join(entity.column_names) + "\n").encode())

    def write(self, frame: pl.DataFrame) -> None:
        if self._parquet is not None:
            self._parquet.write_table(_to_arrow(frame, self.entity))
        elif self._csv is not None:
            frame.write_csv(self._csv, include_header=False, **_CSV_OPTIONS)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
