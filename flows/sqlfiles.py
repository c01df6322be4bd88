"""Load SQL statements from ``sql/`` by name and run them with bound parameters.

Values always travel as parameters (``$name`` in the file). The only text substituted into a
statement is an identifier chosen from a fixed list in code (``{{ table }}`` placeholders),
never user input.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


@cache
def sql_text(name: str) -> str:
    """Text of ``sql/<name>.sql``; ``name`` may contain a sub-folder (``marts/interactions``)."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()


def render(name: str, identifiers: dict[str, str] | None = None) -> str:
    """SQL text with ``{{ key }}`` identifier placeholders filled from a fixed list in code."""
    text = sql_text(name)
    for key, ident in (identifiers or {}).items():
        if not _IDENT.match(ident):
            raise ValueError(f"refusing unsafe SQL identifier {ident!r}")
        text = text.replace("{{ " + key + " }}", ident)
    if "{{" in text:
        raise ValueError(f"sql/{name}.sql has unfilled placeholders")
    return text


def run(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any] | None = None,
    identifiers: dict[str, str] | None = None,
) -> duckdb.DuckDBPyRelation | None:
    """Run the statements of ``sql/<name>.sql`` in order and return the last one's result.

    Statements end with ``;`` at the end of a line. Each is bound to just the parameters it
    names; a parameter a statement names but the caller did not give is an error.
    """
    given = params or {}
    result = None
    for statement in _STATEMENT_END.split(render(name, identifiers)):
        if not statement.strip() or _only_comments(statement):
            continue
        wanted = set(_PARAM.findall(statement))
        missing = wanted - given.keys()
        if missing:
            raise KeyError(f"sql/{name}.sql needs parameters {sorted(missing)}")
        bound = {k: v for k, v in given.items() if k in wanted}
        result = con.sql(statement, params=bound or None)
    return result


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def run_script(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Run a file of parameter-free statements separated by ``;`` (schema definitions)."""
    con.execute(sql_text(name))


def rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any] | None = None,
    identifiers: dict[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """All result rows of ``sql/<name>.sql`` (its last statement)."""
    rel = run(con, name, params, identifiers)
    if rel is None:
        raise ValueError(f"sql/{name}.sql returns no rows")
    return rel.fetchall()


def one(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any] | None = None,
    identifiers: dict[str, str] | None = None,
) -> tuple[Any, ...] | None:
    """The first result row of ``sql/<name>.sql``, or None when it returns none."""
    result = rows(con, name, params, identifiers)
    return result[0] if result else None
