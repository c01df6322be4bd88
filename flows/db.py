"""The job's DuckDB database: one file under the home folder, opened per run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from flows import sqlfiles
from flows.errors import BusyError

_CONFIG: dict[str, str] = {}


def configure(*, memory_limit: str | None = None, threads: int | None = None) -> None:
    """Process-wide DuckDB limits for every later ``connect`` (the run's settings)."""
    _CONFIG.clear()
    if memory_limit:
        _CONFIG["memory_limit"] = memory_limit
    if threads:
        _CONFIG["threads"] = str(threads)


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database at ``path`` with the job's schema in place.

    A read-only connection gets the shared macros (sql/schema/macros.sql) but no schema
    changes: the tables are whatever the last writing run left."""
    try:
        if read_only:
            con = duckdb.connect(str(path), read_only=True, config=dict(_CONFIG))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(path), config=dict(_CONFIG))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise BusyError(
                f"{path} is open in another process (a run, a backfill, or any other reader: "
                f"DuckDB allows one writing process or several read-only ones); wait for it "
                f"to finish. DuckDB said: {exc}"
            ) from exc
        raise
    sqlfiles.run_script(con, "schema/session")
    if not read_only:
        sqlfiles.run_script(con, "schema/init")
    sqlfiles.run_script(con, "schema/macros")  # temp macros: every connection needs its own
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends normally, roll back on any error."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()
