"""Tonight's lists between the offer stage and the export: per channel, one part per chunk of
customers, in customer order.

The offer stage makes the lists 25,000 customers at a time (``flows.channels``). Kept in
memory, a million customers' lists held 1.8 GB through the publish stage, and the allocator
kept about as much again. Spooled, each checked chunk goes to a Parquet part in the run's spool
folder (``<home>/.spool/<run_id>``) and leaves memory; the publish stage reads the parts back
one at a time (the wide CSV), streams them into the export's long Parquet file, and DuckDB
reads that file (``flows.stages.store_offers``). What the run summary and the publish checks
count is counted as each part is added.

A chunk holds whole customers and every channel gets a part for every chunk (empty or not), so
part ``i`` of every channel is the same customers: a count over customers is the sum over
chunks. ``Lists.of`` holds frames in memory instead (tests, ``offers evaluate``, small callers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from models import columns as C
from models.rank import in_order

SPOOL = ".spool"  # under the home folder: one sub-folder per run, removed when it ends

Part = Path | pl.DataFrame
OFFER_SCHEMA = {
    C.CUSTOMER: pl.String, C.RANK: pl.Int32, C.PRODUCT: pl.String, C.SCORE: pl.Float64,
    C.SOURCE: pl.String, C.REASON: pl.String, C.ANCHOR: pl.String, C.REASON_TEXT: pl.String,
    C.SEGMENT: pl.String,
}  # fmt: skip


@dataclass
class Lists:
    """Per channel, its parts in customer order (Parquet files or frames) and their counts."""

    parts: dict[str, list[Part]] = field(default_factory=dict)
    rows_of: dict[str, int] = field(default_factory=dict)
    customers_of: dict[str, int] = field(default_factory=dict)
    sources_of: dict[str, dict[str, int]] = field(default_factory=dict)
    folder: Path | None = None  # where parts are written; None: kept in memory
    _last: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, frames: Mapping[str, pl.DataFrame]) -> Lists:
        """Whole lists in memory, one part per channel (sorted by customer and rank)."""
        found = cls()
        found.add({channel: in_order(frame, C.CUSTOMER) for channel, frame in frames.items()})
        return found

    @classmethod
    def spooled(cls, folder: Path) -> Lists:
        """An empty spool writing its parts under ``folder`` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder=folder)

    @property
    def channels(self) -> list[str]:
        return sorted(self.parts)

    def add(self, chunk: Mapping[str, pl.DataFrame]) -> None:
        """One chunk's checked lists (every channel, whole customers, sorted by customer and
        rank, after the chunks before it): counted, then written out or kept."""
        chunk = {channel: frame.select(*C.OFFER_COLUMNS) for channel, frame in chunk.items()}
        for channel, frame in chunk.items():  # all checked before any is added
            self._in_order(channel, frame)
        for channel, frame in chunk.items():
            if frame.height:
                self._last[channel] = frame.item(-1, C.CUSTOMER)
            parts = self.parts.setdefault(channel, [])
            self.rows_of[channel] = self.rows_of.get(channel, 0) + frame.height
            customers = frame.get_column(C.CUSTOMER).n_unique()
            self.customers_of[channel] = self.customers_of.get(channel, 0) + customers
            sources = self.sources_of.setdefault(channel, {})
            for source, n in frame.group_by(C.SOURCE).len().iter_rows():
                sources[source] = sources.get(source, 0) + n
            if self.folder is None:
                parts.append(frame)
            else:
                path = self.folder / f"{channel}-{len(parts):05d}.parquet"
                frame.write_parquet(path, compression="lz4")
                parts.append(path)

    def _in_order(self, channel: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        before = self._last.get(channel)
        first = frame.item(0, C.CUSTOMER)
        if in_order(frame, C.CUSTOMER) is not frame or (before is not None and first <= before):
            raise ValueError(f"{channel} lists must come in customer order, chunk after chunk")

    def scan(self, channel: str) -> pl.LazyFrame:
        """The channel's whole list, lazily (OFFER_COLUMNS, customer and rank order)."""
        files = self.files(channel)
        if files is not None:
            return pl.scan_parquet(files)
        frames = [p.lazy() for p in self.parts.get(channel, []) if isinstance(p, pl.DataFrame)]
        return pl.concat(frames) if frames else _empty().lazy()

    def frame(self, channel: str) -> pl.DataFrame:
        """The channel's whole list in memory (small lists only)."""
        return self.scan(channel).collect()

    def blocks(self, channel: str) -> Iterator[pl.DataFrame]:
        """The channel's parts one at a time, each whole customers, in customer order."""
        for part in self.parts.get(channel, []):
            yield pl.read_parquet(part) if isinstance(part, Path) else part

    def files(self, channel: str) -> list[Path] | None:
        """The channel's part files, in customer order; None when it is held in memory."""
        files = [p for p in self.parts.get(channel, []) if isinstance(p, Path)]
        return files if files and len(files) == len(self.parts[channel]) else None

    def customers_in(self, *channels: str) -> int:
        """Customers with a list in any of ``channels``."""
        found = 0
        for i in range(max((len(self.parts.get(c, [])) for c in channels), default=0)):
            ids = [_customers(self.parts[c][i]) for c in channels if i < len(self.parts.get(c, []))]
            found += pl.concat(ids).n_unique() if ids else 0
        return found

    def as_dict(self) -> dict[str, pl.DataFrame]:
        return {channel: self.frame(channel) for channel in self.channels}


def as_lists(lists: Lists | Mapping[str, pl.DataFrame]) -> Lists:
    """``lists`` as ``Lists`` (whole frames are kept in memory, sorted by customer, rank)."""
    return lists if isinstance(lists, Lists) else Lists.of(lists)


def _customers(part: Part) -> pl.Series:
    if isinstance(part, Path):
        return pl.read_parquet(part, columns=[C.CUSTOMER]).get_column(C.CUSTOMER)
    return part.get_column(C.CUSTOMER)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=OFFER_SCHEMA)


def run_folder(home: Path, run_id: str) -> Path:
    """The spool folder of one run."""
    return home / SPOOL / run_id


def clear(home: Path, run_id: str | None = None) -> None:
    """Remove the spool of ``run_id`` (None: every run's, left by runs that were killed; call
    it holding the home lock)."""
    target = home / SPOOL if run_id is None else run_folder(home, run_id)
    shutil.rmtree(target, ignore_errors=True)
    if run_id is not None and (home / SPOOL).is_dir() and not os.listdir(home / SPOOL):
        (home / SPOOL).rmdir()
