"""The frame every adapter shares: read the input, build ``parsed``, write five files, account.

An adapter checks its input files first (headers, Parquet columns), then calls
:func:`run_import` with a ``build`` callable that creates, in a temporary DuckDB database:

* ``raw``: one row per input row, with ``_file`` (path) and ``_row`` (1-based, per file);
* ``rejected``: one row per input line the CSV reader could not parse (``file, line, reason``);
* ``file_info``: per file, ``truncated_row`` (the row that is an unterminated last line, or null);
* ``parsed``: one row per ``raw`` row, with ``_reason`` (null: the row is used);

and returns the SQL file per entity plus their parameters. :func:`run_import` streams each
entity into Parquet with the generator's Arrow types, checks that every input row is used or
counted under one drop reason, and only then moves the five files into ``out_dir``.
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from flows import sqlfiles
from flows.contract import ENTITIES, EVENTS, ORDER_LINES, PRODUCTS, Entity
from flows.errors import SourceError
from flows.generate import arrow_schema, contract_paths

DEFAULT_STOCK = 1_000  # no dataset has stock: every product with a price is offerable
BATCH_ROWS = 256_000  # rows per Arrow batch / Parquet row group when writing
TAIL_BYTES = 8 * 1024 * 1024  # how far back from the end a last line is looked for
INACTIVE_NOTE = "products without a positive price (written inactive, price 0)"

Build = Callable[[duckdb.DuckDBPyConnection], tuple[dict[Entity, str], dict[str, Any]]]


@dataclass(frozen=True)
class ImportSummary:
    """What an import read, wrote and dropped.

    ``rows_in`` counts input rows (CSV data lines, headers excluded; Parquet rows of the main
    table). Every one of them is either used (``used``: it became an event or an order line, or
    was counted into a line's quantity) or counted in ``dropped`` under exactly one reason.
    ``notes`` counts rows written with a caveat (e.g. inactive products).
    """

    dataset: str
    files: tuple[Path, ...]
    out_dir: Path
    rows_in: int
    used: int
    written: dict[str, int]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "files": [str(p) for p in self.files],
            "out_dir": str(self.out_dir),
            "rows_in": self.rows_in,
            "used": self.used,
            "written": dict(self.written),
            "dropped": dict(self.dropped),
            "notes": dict(self.notes),
        }


# --- input files --------------------------------------------------------------------------------


def input_files(src: Path, suffixes: tuple[str, ...] = (".csv",)) -> list[Path]:
    """``src`` itself, or the files of the folder ``src`` ending in ``suffixes``, in name order.

    A folder must hold files of one kind only (the first suffix that matches decides).
    """
    src = Path(src)
    kinds = " or ".join(f"*{s}" for s in suffixes)
    if src.is_file():
        return [src]
    if src.is_dir():
        found = {s: sorted(p for p in src.glob(f"*{s}") if p.is_file()) for s in suffixes}
        present = [s for s, files in found.items() if files]
        if len(present) > 1:
            raise SourceError(f"the folder mixes {' and '.join(present)} files", file=src)
        if present:
            return found[present[0]]
        raise SourceError(f"no {kinds} files in the folder", file=src)
    raise SourceError(f"input does not exist; give a file or a folder of {kinds} files", file=src)


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def check_header(path: Path, *expected: tuple[str, ...]) -> tuple[str, ...]:
    """The first line must name exactly one of ``expected``, in order; returns that one.

    The CSV reader maps columns by position, so a reordered file must not be read silently.
    """
    try:
        with _open(path) as fh:
            first = fh.readline(1024 * 1024)
    except (OSError, EOFError) as exc:
        raise SourceError(f"cannot read the file: {exc}", file=path) from exc
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    found = tuple(name.strip().lower() for name in next(csv.reader([text]), []))
    for names in expected:
        if found == tuple(n.lower() for n in names):
            return names
    wanted = " or ".join(repr(",".join(names)) for names in expected)
    raise SourceError(f"unexpected header {text[:200]!r}; expected {wanted}", file=path)


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file; SourceError when it is not readable as Parquet."""
    try:
        return list(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"not a readable Parquet file: {exc}", file=path) from exc


def match_columns(path: Path, spellings: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Per wanted column, the one Parquet column that spells it (case-insensitive).

    ``spellings`` maps a column to the names it may have. SourceError when a column is missing
    or spelled twice, naming the file and what is wanted.
    """
    names = parquet_columns(path)
    found: dict[str, str] = {}
    for column, options in spellings.items():
        hits = [n for n in names if n.lower() in {o.lower() for o in options}]
        if len(hits) != 1:
            what = "no column" if not hits else f"several columns ({', '.join(hits)})"
            raise SourceError(
                f"{what} for {' / '.join(options)}; it has {', '.join(names)}", file=path
            )
        found[column] = hits[0]
    return found


def column_regex(options: Iterable[str]) -> str:
    """A DuckDB ``COLUMNS`` regular expression matching exactly one of ``options``, any case."""
    return "(?i)^(" + "|".join(_re2_escape(o) for o in options) + ")$"


def _re2_escape(text: str) -> str:
    return "".join(f"\\{c}" if not c.isalnum() and c != "_" else c for c in text)


def _last_bytes(path: Path) -> tuple[bytes, bool]:
    """Up to TAIL_BYTES from the end of the (decompressed) file; whether that is all of it."""
    if path.name.lower().endswith(".gz"):  # no seeking: stream through, keep the end
        kept, total = bytearray(), 0
        try:
            with gzip.open(path, "rb") as fh:
                while block := fh.read(1024 * 1024):
                    kept += block
                    total += len(block)
                    if len(kept) > 2 * TAIL_BYTES:
                        del kept[:-TAIL_BYTES]
        except (OSError, EOFError) as exc:
            raise SourceError(f"cannot decompress the file: {exc}", file=path) from exc
        return bytes(kept[-TAIL_BYTES:]), total <= TAIL_BYTES
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        return fh.read(), size <= TAIL_BYTES


def unterminated_tail(path: Path) -> str | None:
    """Text of the last line when the file does not end with a newline, else None.

    Only the data after the header counts: a file holding nothing but an unterminated header
    has no truncated row. Whitespace-only tails are ignored. ``.gz`` files are decompressed.
    """
    chunk, whole = _last_bytes(path)
    if not chunk or chunk.endswith(b"\n"):
        return None
    cut = chunk.rfind(b"\n")
    if cut < 0:
        if not whole:
            raise SourceError(f"last line is longer than {TAIL_BYTES:,} bytes", file=path)
        return None  # the whole file is one line: the header
    tail = chunk[cut + 1 :].decode("utf-8", errors="replace")
    return tail if tail.strip() else None


def load_csv(con: duckdb.DuckDBPyConnection, files: list[Path], columns: tuple[str, ...]) -> None:
    """Tables ``raw`` (every parsed row as text, numbered per file), ``file_info``, ``rejected``.

    The files' headers must have been checked (the reader maps columns by position).
    ``file_info.truncated_row`` is the row number of a parsed row that is an unterminated last
    line; ``rejected`` holds one row per line the reader could not parse, with its reason.
    """
    params = {
        "files": [str(p) for p in files],
        "columns": dict.fromkeys(columns, "VARCHAR"),  # a STRUCT: name -> type, in order
        "tails": [unterminated_tail(p) for p in files],
    }
    sqlfiles.run(con, "adapters/raw_rows", params)
    sqlfiles.run(con, "adapters/rejected_lines")


def no_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """``rejected`` (empty) and ``file_info`` (nothing truncated) for Parquet input in ``raw``."""
    sqlfiles.run(con, "adapters/no_rejects")


# --- writing -------------------------------------------------------------------------------------


def _check_shape(entity: Entity, rel: duckdb.DuckDBPyRelation, name: str) -> None:
    """``rel`` has the contract's column names, order and DuckDB types for ``entity``."""
    found = [(column, str(type_)) for column, type_ in zip(rel.columns, rel.types, strict=True)]
    expected = [(c.name, c.sql_type) for c in entity.columns]
    if found != expected:
        raise RuntimeError(f"sql/{name}.sql returns {found}; the contract has {expected}")


def _write_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    name: str,
    params: dict[str, Any],
    path: Path,
) -> int:
    """Stream ``sql/<name>.sql`` into ``path`` as Parquet with the generator's Arrow schema.

    The statement returns the contract's columns, cast to their types and sorted by the key.
    """
    schema = arrow_schema(entity)
    rows = 0
    rel = sqlfiles.run(con, name, params)
    if rel is None:
        raise ValueError(f"sql/{name}.sql returns no rows")
    _check_shape(entity, rel, name)
    reader = rel.to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            if batch.num_rows:
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                rows += batch.num_rows
    return rows


def consent_threshold(consent_share: float) -> int:
    """A stable consent flag: the first 32 bits of md5(customer_id) below this threshold."""
    if not 0.0 <= consent_share <= 1.0:
        raise ValueError(f"consent_share must be within [0, 1], not {consent_share!r}")
    return round(consent_share * 2**32)


def check_stock(stock: int) -> None:
    if stock < 1:
        raise ValueError("stock must be positive, or nothing would be offerable")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    if existing := contract_paths(out_dir) if out_dir.exists() else []:
        names = ", ".join(p.name for p in existing)
        raise ValueError(f"{out_dir} already holds contract files ({names}); refusing to overwrite")


def run_import(
    dataset: str,
    files: list[Path],
    out_dir: Path,
    build: Build,
    *,
    lines_hold_units: bool = False,
) -> ImportSummary:
    """Shared frame: check ``out_dir``, build ``parsed``, write the five files, account.

    Used rows are the events written plus the order lines written, or, with
    ``lines_hold_units``, the lines' quantities (an adapter that folds several input rows into
    one line, one row per unit).
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=out_dir))
    try:
        con = duckdb.connect(str(work / "import.duckdb"))
        try:
            sqlfiles.run(con, "adapters/spill_directory", {"path": str(work / "spill")})
            sqlfiles.run_script(con, "adapters/macros")
            queries, params = build(con)
            written = {
                e.name: _write_entity(con, e, queries[e], params, work / f"{e.name}.parquet")
                for e in ENTITIES
            }
            (rows_in,) = sqlfiles.one(con, "adapters/rows_in") or (0,)
            dropped = {str(r): int(n) for r, n in sqlfiles.rows(con, "adapters/dropped")}
            paths = {e.name: str(work / f"{e.name}.parquet") for e in ENTITIES}
            (inactive,) = sqlfiles.one(
                con, "adapters/inactive_products", {"path": paths[PRODUCTS.name]}
            ) or (0,)
            (units,) = sqlfiles.one(
                con, "adapters/line_units", {"path": paths[ORDER_LINES.name]}
            ) or (0,)
        finally:
            con.close()
        lines = int(units) if lines_hold_units else written[ORDER_LINES.name]
        used = lines + written[EVENTS.name]
        if used + sum(dropped.values()) != rows_in:
            raise RuntimeError(
                f"{dataset}: {rows_in} rows in, but {used} used + "
                f"{sum(dropped.values())} dropped; an adapter rule lost rows"
            )
        if existing := contract_paths(out_dir):
            names = ", ".join(p.name for p in existing)
            raise ValueError(f"{out_dir} gained contract files ({names}) during the import")
        for entity in ENTITIES:
            os.replace(work / f"{entity.name}.parquet", out_dir / f"{entity.name}.parquet")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ImportSummary(
        dataset=dataset,
        files=tuple(files),
        out_dir=out_dir,
        rows_in=int(rows_in),
        used=used,
        written=written,
        dropped=dropped,
        notes={INACTIVE_NOTE: int(inactive)} if inactive else {},
    )
