"""The serving copy: ``serving.duckdb`` in every export run folder, the file the shop reads.

The shop never opens the job's working database (``offers.duckdb``): a read-only connection from
another process locks it against the nightly run, which then exits 6. Instead each export holds
a small DuckDB database written from the export's own files (the channels' long Parquet files,
read by DuckDB; never read back from the working database) and published with the rest of the
export, atomically, by the link swap:

- one table per channel (``shop``, ``email``, ``winback`` when present): the long list, every
  column of ``models.columns.OFFER_COLUMNS``, sorted by customer_id, rank, indexed on
  customer_id;
- ``goes_with`` (when the export has it): sorted by product_id, rank, indexed on product_id;
- ``meta``: one row, run_id, as_of, model_version, created_at.

The file is checkpointed and closed before the manifest is written (no ``.wal`` beside it), made
read-only on disk, and listed in ``manifest.json`` with its sha256 like every other file
(``flows.publish.verify`` checks it). The shop opens ``exports/latest/serving.duckdb`` with
``read_only=True`` and reopens it to pick up a new night (docs/operations.md, "Serving copy").
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows import db, sqlfiles
from models import columns as C
from models.rank import in_order

FILE = "serving.duckdb"
FORMAT = "duckdb"
LAYOUT = "tables"
META = "meta"
GOES_WITH = "goes_with"
# Per table, its key (sorted by key then rank, and indexed); tables not named here are channel
# lists keyed on customer_id. ``meta`` has no key.
KEYS: dict[str, str | None] = {GOES_WITH: C.PRODUCT, META: None}
_FRAME = "serving_frame"  # the name a frame is registered under while its table is created
BLOCK = 2_000_000  # rows handed to DuckDB at once


def key_of(table: str) -> str | None:
    """The column ``table`` is sorted by (then rank) and indexed on; None: neither."""
    return KEYS.get(table, C.CUSTOMER)


def meta_frame(run_id: str, as_of: dt.date, manifest: dict[str, Any]) -> pl.DataFrame:
    """The ``meta`` row of an export: its run, as-of date, the model version that made the lists
    and when the run started (the manifest's ``created_at``; missing: now, UTC)."""
    created = manifest.get("created_at")
    created_at = (
        dt.datetime.fromisoformat(str(created))
        if created
        else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    )
    if created_at.tzinfo is not None:
        created_at = created_at.astimezone(dt.UTC).replace(tzinfo=None)
    return pl.DataFrame(
        {
            "run_id": [run_id],
            "as_of": [as_of],
            "model_version": [manifest.get("model_version")],
            "created_at": [created_at],
        },
        schema={
            "run_id": pl.String,
            "as_of": pl.Date,
            "model_version": pl.String,
            "created_at": pl.Datetime("us"),
        },
    )


def export_tables(
    files: Mapping[str, Path], tables: dict[str, pl.DataFrame], meta: pl.DataFrame
) -> dict[str, pl.DataFrame | Path]:
    """What the serving copy of an export holds: each channel's long list (OFFER_COLUMNS,
    ``files``: channel -> the export's ``<channel>.parquet``, sorted by customer_id, rank), the
    export's ``goes_with`` when it has one, and ``meta``."""
    found: dict[str, pl.DataFrame | Path] = dict(files)
    if GOES_WITH in tables:
        found[GOES_WITH] = tables[GOES_WITH]
    found[META] = meta
    return found


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Categorical and enum columns as text: the shop reads plain VARCHAR columns."""
    text = [n for n, t in frame.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    return frame.with_columns(pl.col(text).cast(pl.String)) if text else frame


def write(path: Path, tables: Mapping[str, pl.DataFrame | Path]) -> dict[str, dict[str, Any]]:
    """Create the database ``path`` (it must not exist) with one table per frame or Parquet
    file, keyed tables sorted by key then rank (a file must already be) and indexed on the key
    (``key_of``); checkpoint it, close it, fsync it and make it read-only on disk. Returns per
    table its columns and rows (the manifest's ``tables``)."""
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    described: dict[str, dict[str, Any]] = {}
    con = duckdb.connect(str(path), config=dict(db._CONFIG))
    sqlfiles.run_script(con, "schema/session")
    try:
        for table, source in sorted(tables.items()):
            if isinstance(source, Path):
                # DuckDB reads the file itself: a million customers' lists never pass
                # through Python
                sqlfiles.run(
                    con, "serving/create_table_from_file", {"path": str(source)}, {"table": table}
                )
                columns = list(con.table(table).columns)
                found = sqlfiles.one(con, "serving/count_rows", identifiers={"table": table})
                rows = int(found[0]) if found else 0
            else:
                columns, rows = _create_from_frame(con, table, source)
            key = key_of(table)
            if key is not None and {key, C.RANK} <= set(columns):
                sqlfiles.run(con, "serving/create_index", identifiers={"table": table, "key": key})
            described[table] = {"columns": columns, "rows": rows}
        sqlfiles.run(con, "serving/checkpoint")
    except BaseException:
        con.close()
        path.unlink(missing_ok=True)
        path.with_name(f"{path.name}.wal").unlink(missing_ok=True)
        raise
    con.close()
    wal = path.with_name(f"{path.name}.wal")
    if wal.exists():
        raise RuntimeError(f"{wal} is left after the checkpoint: the copy is not self-contained")
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    mask = os.umask(0)
    os.umask(mask)  # read-only for whoever the run's file access allows (flows/nightly.py)
    path.chmod((stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) & ~mask)
    return described


def _create_from_frame(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame
) -> tuple[list[str], int]:
    """Table ``table`` from ``frame`` (sorted by its key then rank when it has both), handed
    to DuckDB in blocks; (its columns, its rows)."""
    key = key_of(table)
    if key is not None and {key, C.RANK} <= set(frame.columns):
        frame = in_order(frame, key)
    for lo in range(0, max(frame.height, 1), BLOCK):
        con.register(_FRAME, _plain(frame.slice(lo, BLOCK)).to_arrow())
        try:
            names = {"table": table, "frame": _FRAME}
            statement = "serving/create_table" if lo == 0 else "serving/append_rows"
            sqlfiles.run(con, statement, identifiers=names)
        finally:
            con.unregister(_FRAME)
    return frame.columns, frame.height


def read(path: Path) -> dict[str, pl.DataFrame]:
    """Every table of the serving copy ``path`` (opened read-only), in stored order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [row[0] for row in sqlfiles.rows(con, "serving/tables")]
        return {
            name: _relation(sqlfiles.run(con, "serving/read_table", identifiers={"table": name}))
            for name in names
        }
    finally:
        con.close()


def _relation(rel: duckdb.DuckDBPyRelation | None) -> pl.DataFrame:
    assert rel is not None
    return rel.pl()
