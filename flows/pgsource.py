"""PostgreSQL as the source: the contract's entities read from tables into the raw shape.

``--source postgresql://user:password@host:port/db`` (or ``OFFERS_SOURCE_DIR``). Per entity,
``sql/postgres/read_<entity>.sql`` selects every contract column as text, only rows whose
watermark column (``[postgres] watermarks``, default ``updated_at``) lies above the value the
last successful load stored (``source_watermarks``) and at most the newest value when the load
started. Rows stream as Arrow record batches (ADBC, libpq; no per-row Python) into the same raw
temp table the file reader fills, ``_file`` a label ``postgresql:<table>``, so staging,
quarantine and merge run unchanged. The password is never shown, logged or stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import duckdb

from flows import contract, sqlfiles
from flows.errors import SourceError, redact

if TYPE_CHECKING:
    from flows.config import PostgresSettings

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_BEFORE_ALL = "-infinity"
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


def source_key(url: str) -> str:
    """The source database as stored beside its watermarks: scheme, host, port, database;
    no user, no password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}{parts.path}"


def statements(name: str, params: dict[str, Any], identifiers: dict[str, str]) -> list[tuple]:
    """The statements of ``sql/<name>.sql``, each with its ``$name`` parameters numbered
    ``$1, $2, ...`` as PostgreSQL wants them, and its values in that order (None: no values)."""
    out = []
    for statement in _STATEMENT_END.split(sqlfiles.render(name, identifiers)):
        if not statement.strip() or _only_comments(statement):
            continue
        order: list[str] = []

        def number(match: re.Match[str], order: list[str] = order) -> str:
            key = match.group(1)
            if key not in params:
                raise KeyError(f"sql/{name}.sql needs parameter {key!r}")
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        text = _PARAM.sub(number, statement)
        out.append((text, tuple(params[k] for k in order) or None))
    return out


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def execute(cursor: Any, name: str, params: dict[str, Any] | None = None, **identifiers: str):
    """Run the statements of ``sql/<name>.sql`` on PostgreSQL, values bound, never inlined."""
    for text, values in statements(name, params or {}, identifiers):
        cursor.execute(text, values)
    return cursor


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """An ADBC connection to ``url``; a failure names the source without its password."""
    import adbc_driver_postgresql.dbapi as pg

    try:
        con = pg.connect(url.replace("postgres://", "postgresql://", 1))
    except Exception as exc:  # the driver's own error classes
        raise SourceError(
            f"cannot connect to PostgreSQL: {redact(str(exc)).splitlines()[0]}",
            file=redact(url),
        ) from None
    try:
        yield con
    finally:
        con.close()


class PgSource:
    """One PostgreSQL source during one extract: reads entities, remembers watermarks."""

    def __init__(self, con: Any, url: str, settings: PostgresSettings) -> None:
        self.con = con
        self.key = source_key(url)
        self.settings = settings
        self.pending: dict[str, str] = {}  # entity -> watermark to store once it is merged
        with con.cursor() as cur:
            execute(cur, "postgres/session")

    def label(self, entity: contract.Entity) -> str:
        return f"postgresql:{self.settings.table(entity.name)}"

    def _check_columns(self, cur: Any, entity: contract.Entity, table: str) -> None:
        schema = self.settings.schema_name
        execute(cur, "postgres/columns", {"schema": schema, "table": table})
        present = {row[0] for row in cur.fetchall()}
        label = self.label(entity)
        if not present:
            raise SourceError(
                f"no table {schema}.{table} for {entity.name!r}; create it or set "
                f"[postgres] tables.{entity.name}",
                file=label,
            )
        needed = [c.name for c in entity.columns if not c.may_be_absent]
        watermark = self.settings.watermark(entity.name)
        for column in [*needed, watermark]:
            if column not in present:
                hint = (
                    f"set [postgres] watermarks.{entity.name}"
                    if column == watermark
                    else f"{entity.name} needs columns {', '.join(needed)}"
                )
                raise SourceError(f"missing column; {hint}", file=label, column=column)

    def load_raw(self, con: duckdb.DuckDBPyConnection, entity: contract.Entity, raw: str) -> None:
        """New rows of ``entity`` into DuckDB temp table ``raw`` (text columns, _file, _row)."""
        table = self.settings.table(entity.name)
        ids = {
            "schema": self.settings.schema_name,
            "table": table,
            "watermark": self.settings.watermark(entity.name),
        }
        after = self.last_watermark(con, entity)
        label = self.label(entity)
        batches = f"pg_{entity.name}"
        try:
            with self.con.cursor() as cur:
                self._check_columns(cur, entity, table)
                execute(cur, "postgres/high_watermark", **ids)
                (until,) = cur.fetchone()
                until = until or _BEFORE_ALL
                execute(
                    cur,
                    f"postgres/read_{entity.name}",
                    {"after": after or _BEFORE_ALL, "until": until},
                    **ids,
                )
                reader = cur.fetch_record_batch()
                con.register(batches, reader)
                try:
                    sqlfiles.run(
                        con,
                        "extract/raw_arrow",
                        {"file": label},
                        identifiers={"raw": raw, "batches": batches},
                    )
                finally:
                    con.unregister(batches)
        except SourceError:
            raise
        except duckdb.Error:
            raise
        except Exception as exc:  # the driver's errors: name the table, never the password
            message = redact(str(exc)).strip().splitlines()[0] if str(exc).strip() else "error"
            raise SourceError(f"cannot read PostgreSQL: {message}", file=label) from None
        if until != _BEFORE_ALL and (after is None or until != after):
            self.pending[entity.name] = until

    def last_watermark(self, con: duckdb.DuckDBPyConnection, entity: contract.Entity) -> str | None:
        row = sqlfiles.one(
            con, "extract/get_watermark", {"source": self.key, "entity": entity.name}
        )
        return None if row is None else str(row[0])

    def store_watermark(
        self, con: duckdb.DuckDBPyConnection, entity: contract.Entity, *, run_id: str, loaded_at
    ) -> None:
        """Remember how far ``entity`` was read; call inside the extract transaction."""
        watermark = self.pending.pop(entity.name, None)
        if watermark is None:
            return
        sqlfiles.run(
            con,
            "extract/set_watermark",
            {
                "source": self.key,
                "entity": entity.name,
                "watermark": watermark,
                "run_id": run_id,
                "loaded_at": loaded_at,
            },
        )


def load_shop(url: str, shop_dir: Path, settings: PostgresSettings | None = None) -> dict[str, int]:
    """Copy a generated shop's Parquet files into PostgreSQL tables (``offers generate --to``):
    per entity a table typed like the files plus ``updated_at`` (now()), replacing any table of
    that name; Arrow batches go in through ADBC's bulk ingest (COPY), no per-row Python."""
    import pyarrow.dataset as ds

    from flows.config import PostgresSettings

    settings = settings or PostgresSettings()
    rows: dict[str, int] = {}
    with connect(url) as con:
        try:
            with con.cursor() as cur:
                for entity in contract.ENTITIES:
                    files = sorted(shop_dir.glob(f"{entity.name}.parquet")) + sorted(
                        (shop_dir / entity.name).glob("*.parquet")
                    )
                    data = ds.dataset([str(p) for p in files], format="parquet")
                    ids = {
                        "schema": settings.schema_name,
                        "table": settings.table(entity.name),
                        "staging": f"offers_ingest_{entity.name}",
                    }
                    execute(cur, "postgres/drop_staging", **ids)
                    rows[entity.name] = cur.adbc_ingest(
                        ids["staging"],
                        data.scanner().to_reader(),
                        mode="create",
                        db_schema_name=settings.schema_name,
                    )
                    execute(cur, "postgres/create_table", **ids)
                    execute(cur, "postgres/fill_table", **ids)
            con.commit()
        except SourceError:
            raise
        except Exception as exc:
            message = redact(str(exc)).strip().splitlines()[0] if str(exc).strip() else "error"
            raise SourceError(f"cannot write to PostgreSQL: {message}", file=redact(url)) from None
    return rows
