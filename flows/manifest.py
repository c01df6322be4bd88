"""The files of one export and their manifest entries: each file written, fsynced and
checksummed (file, format, layout, bytes, sha256, ...). ``flows.publish`` stages them in a run
folder, writes the manifest that lists them and checks them with ``verify``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from flows import exports, serving
from flows.spool import Lists, as_lists
from models import columns as C

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plain_name(name: str | None) -> bool:
    """A plain name inside a folder: not empty, not hidden or temporary (``.``), not a path."""
    return name is not None and name != "" and not name.startswith(".") and os.sep not in name


def _write(
    folder: Path, name: str, frame: pl.DataFrame, *, layout: str, float_precision: int | None = None
) -> dict[str, Any]:
    """``name`` (``.csv``: neutralised, the export dialect; ``.parquet``: raw), fsynced; its
    manifest entry (file, format, layout, columns, rows, bytes, sha256)."""
    path = folder / name
    if path.suffix == ".csv":
        exports.write_csv(frame, path, float_precision=float_precision)
    else:
        frame.write_parquet(path, statistics=True)
    return _entry(path, layout=layout, columns=frame.columns, rows=frame.height)


def _entry(path: Path, *, layout: str, columns: list[str], rows: int) -> dict[str, Any]:
    """The written file ``path`` fsynced; its manifest entry."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return {
        "file": path.name,
        "format": path.suffix.lstrip("."),
        "layout": layout,
        "columns": columns,
        "rows": rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def _write_wide(
    folder: Path,
    name: str,
    blocks: Iterable[pl.DataFrame],
    catalogue: pl.DataFrame,
    customers: pl.DataFrame | None,
    k: int,
) -> dict[str, Any]:
    """The wide CSV of one channel (``exports.write_wide_csv``), fsynced; its manifest entry."""
    path = folder / name
    rows = exports.write_wide_csv(blocks, path, catalogue, customers, k)
    contacts = (
        tuple(c for c in customers.columns if c != C.CUSTOMER) if customers is not None else ()
    )
    return _entry(path, layout="wide", columns=exports.wide_columns(k, contacts), rows=rows)


def write_tables(folder: Path, tables: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Write other tables of the export (e.g. ``goes_with``), long, as CSV and Parquet."""
    return [
        {**_write(folder, f"{name}.{fmt}", frame, layout="long"), "table": name}
        for name, frame in sorted(tables.items())
        for fmt in ("csv", "parquet")
    ]


def write_extra(folder: Path, extra: dict[str, bytes]) -> list[dict[str, Any]]:
    """Write other files of the export byte for byte (e.g. the run report), fsynced; their
    manifest entries (file, format, layout ``file``, bytes, sha256)."""
    entries = []
    for name, data in sorted(extra.items()):
        path = folder / name
        if not plain_name(name) or name == MANIFEST or path.exists():
            raise ValueError(f"cannot add {name!r} to the export")
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fmt = path.suffix.lstrip(".")
        digest = hashlib.sha256(data).hexdigest()
        entries.append(
            {"file": name, "format": fmt, "layout": "file", "bytes": len(data), "sha256": digest}
        )
    return entries


def write_serving(
    folder: Path,
    files: Mapping[str, Path],
    tables: dict[str, pl.DataFrame],
    meta: pl.DataFrame,
) -> dict[str, Any]:
    """Write ``serving.duckdb``, the shop's copy of the lists (``flows.serving``; ``files``:
    channel -> its long Parquet file, written by ``write_files``), checkpointed and closed;
    its manifest entry (file, format, layout ``tables``, tables, rows, bytes, sha256)."""
    path = folder / serving.FILE
    described = serving.write(path, serving.export_tables(files, tables, meta))
    return {
        "file": path.name,
        "format": serving.FORMAT,
        "layout": serving.LAYOUT,
        "tables": described,
        "rows": sum(t["rows"] for t in described.values()),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def long_files(folder: Path, channels: Iterable[str]) -> dict[str, Path]:
    """Channel -> its long list's Parquet file in the export ``folder`` (``write_files``)."""
    return {channel: folder / f"{channel}.parquet" for channel in channels}


def write_files(
    folder: Path,
    lists: Lists | Mapping[str, pl.DataFrame],
    *,
    catalogue: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    slots: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Write each channel as ``<channel>.csv``, the wide file an email tool imports (one row
    per customer, ``flows.exports.wide``), and ``<channel>.parquet``, the long list with every
    offer column sorted by customer and rank; return one manifest entry per file. Spooled
    lists are read a part at a time (``flows.spool``).

    ``catalogue``: the products' titles, prices and links (``exports.read_catalogue``);
    ``customers``: customer_id and the contact fields to carry (None: none); ``slots``: list
    slots of a channel's wide file (a channel not in it: its longest list).
    """
    lists = as_lists(lists)
    entries = []
    for channel in lists.channels:
        k = (slots or {}).get(channel) or max(_longest(lists, channel), 1)
        blocks = lists.blocks(channel)
        csv = _write_wide(folder, f"{channel}.csv", blocks, catalogue, customers, k)
        meta = {"channel": channel, "customers": csv["rows"]}
        entries.append({**csv, **meta})
        entries.append({**_write_long(folder, f"{channel}.parquet", lists, channel), **meta})
    return entries


def _longest(lists: Lists, channel: str) -> int:
    return int(lists.scan(channel).select(pl.col(C.RANK).max()).collect().item() or 0)


def _write_long(folder: Path, name: str, lists: Lists, channel: str) -> dict[str, Any]:
    """A channel's long list as one Parquet file, streamed from its parts; fsynced; its
    manifest entry. The serving copy and the database read this file as it is."""
    path = folder / name
    lists.scan(channel).sink_parquet(path, statistics=True)
    return _entry(path, layout="long", columns=list(C.OFFER_COLUMNS), rows=lists.rows_of[channel])
