"""Source CSV files read in exactly the contract's dialect, never a guessed one.

The dialect (docs/data-contract.md): UTF-8 (a BOM is allowed), `,` delimiter, `"` quote with
`""` inside quoted values, a header row, `\\n` or `\\r\\n` line ends; quoted values may span
lines. DuckDB's sniffer is off: it guesses from a sample, so a `;` file would load as one column
and a quoted newline deep in a file would stop the run. Every parser error becomes one line
naming the file, the line and what to do.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb

from flows import sqlfiles
from flows.errors import SourceError

DIALECT_HINT = "the contract's CSV dialect: UTF-8, ',' delimiter, '\"' quote, a header row"
INTERNAL = ("_file", "_row")  # columns the loader adds to every row
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def read_header(path: Path) -> list[str]:
    """The column names of a CSV file's header row, lower-cased; SourceError if unusable."""
    with path.open("rb") as handle:
        first = handle.readline()
    if not first.strip():
        raise SourceError(f"empty file: a header row is needed ({DIALECT_HINT})", file=path)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(
            "the header is not UTF-8; re-export the file as UTF-8", file=path
        ) from None
    try:
        fields = next(csv.reader([text.rstrip("\r\n")], strict=True))
    except csv.Error as exc:
        what = "a line break" if "new-line" in str(exc) else "an unclosed quote"
        raise SourceError(
            f"the header is not a CSV row: {what} in it ({DIALECT_HINT})", file=path
        ) from None
    names = [name.strip().lower() for name in fields]
    if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
        raise SourceError(
            f"the header has one column {names[0]!r}: the delimiter must be ','", file=path
        )
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise SourceError(
            f"column(s) {sorted(seen)} appear more than once in the header", file=path
        )
    if "" in names:
        raise SourceError("the header has an empty column name", file=path)
    return names


def load_raw(con: duckdb.DuckDBPyConnection, files: list[Path], raw: str) -> None:
    """Every value of ``files`` as text into temp table ``raw`` (with _file, _row), files with
    the same header read together, different headers united by name."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in files:
        # an extra column named like the job's own (_file, _row) is renamed; it is dropped
        names = [f"_source{n}" if n in INTERNAL else n for n in read_header(path)]
        groups.setdefault(tuple(names), []).append(path)
    first = True
    for names, paths in groups.items():
        params = {"files": [str(p) for p in paths], "columns": dict.fromkeys(names, "VARCHAR")}
        try:
            sqlfiles.run(
                con,
                "extract/raw_csv" if first else "extract/raw_csv_more",
                params,
                identifiers={"raw": raw},
            )
        except duckdb.Error as exc:
            raise parse_error(exc, paths) from None
        first = False
    sqlfiles.run(con, "extract/raw_csv_number", identifiers={"raw": raw})


def parse_error(exc: duckdb.Error, paths: list[Path]) -> SourceError:
    """One line for a DuckDB CSV error: the file, the line, what is wrong, what to do."""
    text = str(exc)
    file = next((str(p) for p in paths if str(p) in text), ", ".join(str(p) for p in paths))
    line = _LINE.search(text)
    where = f"line {line.group(1)}: " if line else ""
    counts = _COLUMNS.search(text)
    if "unterminated quote" in text:
        what = "a quoted value is never closed; a '\"' inside a value must be written '\"\"'"
    elif counts:
        expected, found = counts.groups()
        what = (
            f"{found} values where the header has {expected}; "
            "a value holding ',' or a line break must be quoted"
        )
    elif "unicode" in text.lower() or "utf-8" in text.lower():
        what = "not UTF-8; re-export the file as UTF-8"
    elif "Maximum line size" in text:
        what = "a line longer than 2,000,000 bytes; no value of the contract is that long"
    else:
        what = text.strip().splitlines()[0]
    return SourceError(f"{where}{what} ({DIALECT_HINT})", file=file)
