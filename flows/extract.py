"""Extract: load the shop's source files into DuckDB, validated, incremental and idempotent.

Per entity, in contract order (references are checked against entities loaded before):
read the files as they are into a raw temp table -> ``sql/staging/stg_<entity>.sql`` casts and
flags -> a value that does not cast stops the run (SourceError naming file, row, column) ->
rows breaking a rule go to ``quarantine`` with the reason -> clean rows are upserted by
``sql/merge/<entity>.sql``. All of it runs in one transaction: a failed load changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from flows import contract, csvfiles, db, forget, pgsource, sourcefiles, sqlfiles
from flows.config import PostgresSettings, is_source_url
from flows.errors import SourceError
from flows.pgsource import PgSource


@dataclass(frozen=True)
class EntityLoad:
    """What loading one entity did."""

    entity: str
    files: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # rows of erased customers (flows/forget.py): dropped, not quarantined
    files_skipped: int = 0  # loaded before and unchanged (flows/sourcefiles.py): not read

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def find_source_files(source_dir: Path, entity: contract.Entity) -> tuple[list[Path], str]:
    """Files of one entity: ``<entity>.csv|parquet`` and/or ``<entity>/*.csv|parquet``.

    Files are applied in name order (later files update earlier ones), so daily drops named
    by date sort correctly. All files of one entity must share one format.
    """
    if not source_dir.is_dir():
        raise SourceError(
            "source folder does not exist; point --source (or OFFERS_SOURCE_DIR) at the shop's "
            "export folder",
            file=source_dir,
        )
    found: list[Path] = []
    for fmt in contract.FILE_FORMATS:
        single = source_dir / f"{entity.name}.{fmt}"
        if single.is_file():
            found.append(single)
        folder = source_dir / entity.name
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"*.{fmt}")))
    if not found:
        expected = " or ".join(
            f"{entity.name}.{fmt}, {entity.name}/*.{fmt}" for fmt in contract.FILE_FORMATS
        )
        raise SourceError(
            f"missing source file for {entity.name!r}: expected {expected}", file=source_dir
        )
    formats = {p.suffix.lstrip(".") for p in found}
    if len(formats) > 1:
        raise SourceError(
            f"{entity.name!r} has both CSV and Parquet files; keep one format per entity",
            file=source_dir,
        )
    # plain string order of the full path, the same order the merge SQL applies (by _file):
    # `<entity>.csv` comes before `<entity>/...`, so files in the folder override it
    return sorted(found, key=str), formats.pop()


def check_columns(
    con: duckdb.DuckDBPyConnection, entity: contract.Entity, files: list[Path], fmt: str
) -> None:
    """Every file must have every contract column, except those that may be absent (extra
    columns are ignored)."""
    for path in files:
        if fmt == "csv":
            present = set(csvfiles.read_header(path))
        else:
            try:
                rel = sqlfiles.run(con, f"extract/peek_{fmt}", {"file": str(path)})
            except duckdb.Error as exc:
                raise SourceError(f"cannot read {fmt.upper()}: {exc}", file=path) from exc
            assert rel is not None
            present = {c.lower() for c in rel.columns}
        for column in entity.columns:
            if column.name not in present and not column.may_be_absent:
                raise SourceError(
                    f"missing column; {entity.name} files need columns "
                    f"{', '.join(c.name for c in entity.columns if not c.may_be_absent)}",
                    file=path,
                    column=column.name,
                )


def _raise_type_error(
    con: duckdb.DuckDBPyConnection, entity: contract.Entity, ids: dict[str, str]
) -> None:
    first = sqlfiles.one(con, "extract/first_type_error", identifiers={"stg": ids["stg"]})
    if first is None:
        return
    file, row, column, error_rows = first
    (value,) = sqlfiles.one(
        con,
        "extract/raw_value",
        {"file": file, "row": row},
        identifiers={"column": column, "raw": ids["raw"]},
    ) or (None,)
    expected = next(c.sql_type for c in entity.columns if c.name == column)
    more = f" ({error_rows - 1} more rows like it)" if error_rows > 1 else ""
    raise SourceError(
        f"{shown_value(value)} is not a valid {expected}{more}; fix the export and re-run",
        file=file,
        row=int(row),
        column=column,
    )


_HARMLESS = re.compile(r"[0-9 .,:+\-/TZtz]{0,40}")


def shown_value(value: object) -> str:
    """A bad value as a message may show it: numbers, dates and times as they are; any other
    text (it could be an e-mail address or a name) only as its length."""
    if value is None:
        return "an empty value"
    text = str(value)
    if _HARMLESS.fullmatch(text):
        return f"value {text!r}"
    return f"a text of {len(text)} character{'s' if len(text) != 1 else ''}"


def _keep_contract_columns(
    con: duckdb.DuckDBPyConnection, entity: contract.Entity, raw: str
) -> None:
    keep = [c.name for c in entity.columns] + ["_file", "_row"]
    sqlfiles.run(con, "extract/keep_contract_columns", {"keep": keep}, identifiers={"raw": raw})


def _load_files(
    con: duckdb.DuckDBPyConnection,
    source_dir: Path,
    entity: contract.Entity,
    ids: dict[str, str],
    incremental: bool,
) -> sourcefiles.Plan:
    """Read the entity's new or changed files (all with ``incremental`` off) into the raw
    table; nothing when every file was loaded before."""
    found, fmt = find_source_files(source_dir, entity)
    plan = sourcefiles.plan(con, source_dir, entity, found, incremental=incremental)
    files = plan.load
    if not files:
        return plan
    check_columns(con, entity, files, fmt)
    if fmt == "csv":
        csvfiles.load_raw(con, files, ids["raw"])
    else:
        try:
            sqlfiles.run(
                con, "extract/raw_parquet", {"files": [str(p) for p in files]}, identifiers=ids
            )
        except duckdb.Error as exc:
            names = ", ".join(str(p) for p in files)
            raise SourceError(f"cannot read Parquet ({exc})", file=names) from exc
    return plan


def _finish(
    con: duckdb.DuckDBPyConnection,
    source_dir: Path,
    entity: contract.Entity,
    load: EntityLoad,
    params: dict[str, object],
    *,
    pg: PgSource | None,
    plan: sourcefiles.Plan | None,
) -> EntityLoad:
    """Log the load and remember what was read (watermark or file records)."""
    logged = {k: v for k, v in load.as_dict().items() if k not in ("reasons", "files_skipped")}
    sqlfiles.run(con, "extract/log_load", {**params, **logged})
    run_id, loaded_at = str(params["run_id"]), params["loaded_at"]
    assert isinstance(loaded_at, dt.datetime)
    if pg is not None:
        pg.store_watermark(con, entity, run_id=run_id, loaded_at=loaded_at)
    if plan is not None:
        sourcefiles.record(con, source_dir, entity, plan.states, run_id=run_id, loaded_at=loaded_at)
    return load


def load_entity(
    con: duckdb.DuckDBPyConnection,
    source_dir: Path,
    entity: contract.Entity,
    *,
    run_id: str,
    loaded_at: dt.datetime,
    erasing: bool = False,
    pg: PgSource | None = None,
    incremental: bool = True,
) -> EntityLoad:
    """Load one entity inside the caller's transaction (``erasing``: ``forget.register`` ran,
    erased customers' rows are refused before staging; ``pg``: read from PostgreSQL, not
    from ``source_dir``; ``incremental``: skip files loaded before and unchanged)."""
    ids = {"raw": f"raw_{entity.name}", "stg": f"stg_{entity.name}"}
    params = {
        "loaded_at": loaded_at,
        "statuses": list(contract.ORDER_STATUSES),
        "event_types": list(contract.EVENT_TYPES),
        "run_id": run_id,
        "entity": entity.name,
    }
    plan = None
    if pg is not None:
        pg.load_raw(con, entity, ids["raw"])
    else:
        plan = _load_files(con, source_dir, entity, ids, incremental)
        if not plan.load:  # every file loaded before: nothing to read
            nothing = EntityLoad(entity.name, 0, 0, 0, 0, 0, 0, files_skipped=plan.skipped)
            return _finish(con, source_dir, entity, nothing, params, pg=None, plan=plan)
    _keep_contract_columns(con, entity, ids["raw"])
    for column in entity.columns:  # no file has it: it reads as empty
        if column.may_be_absent:
            sqlfiles.run(
                con,
                "extract/add_absent_column",
                identifiers={"raw": ids["raw"], "column": column.name},
            )
    refused = forget.refuse(con, entity.name, ids["raw"]) if erasing else 0
    sqlfiles.run(con, f"staging/stg_{entity.name}", params, identifiers=ids)
    _raise_type_error(con, entity, ids)
    sqlfiles.run(con, "extract/quarantine_rows", params, identifiers=ids)
    rows_read, quarantined, n_files = sqlfiles.one(
        con, "extract/batch_counts", identifiers=ids
    ) or (0, 0, 0)
    changed, updated = sqlfiles.one(con, f"merge/{entity.name}", params, identifiers=ids) or (0, 0)
    load = EntityLoad(
        entity=entity.name,
        files=int(n_files),
        rows_read=int(rows_read) + refused,
        inserted=int(changed - updated),
        updated=int(updated),
        unchanged=int(rows_read - quarantined - changed),
        quarantined=int(quarantined),
        reasons={
            str(r): int(n) for r, n in sqlfiles.rows(con, "extract/reason_counts", identifiers=ids)
        },
        refused=refused,
        files_skipped=plan.skipped if plan is not None else 0,
    )
    for table in ids.values():
        sqlfiles.run(con, "extract/drop_temp", identifiers={"table": table})
    return _finish(con, source_dir, entity, load, params, pg=pg, plan=plan)


def extract(
    database: Path,
    source_dir: Path | str,
    *,
    run_id: str,
    loaded_at: dt.datetime,
    postgres: PostgresSettings | None = None,
    incremental: bool = True,
) -> list[EntityLoad]:
    """Load every entity in one transaction; on any error the database is left as it was.

    ``source_dir`` is a folder, or a ``postgresql://`` URL (flows/pgsource.py; ``postgres``
    names tables and watermark columns). Customers on the erasure list beside the database are
    refused (``flows/forget.py``). ``incremental``: per entity, read only the files that are new
    or changed since the last load (``flows/sourcefiles.py``); False reads every file."""
    if is_source_url(str(source_dir)):
        url = str(source_dir)
        with pgsource.connect(url) as pg_con:
            pg = PgSource(pg_con, url, postgres or PostgresSettings())
            return _extract(database, Path(), run_id=run_id, loaded_at=loaded_at, pg=pg)
    return _extract(
        database, Path(source_dir), run_id=run_id, loaded_at=loaded_at, incremental=incremental
    )


def _extract(
    database: Path,
    source_dir: Path,
    *,
    run_id: str,
    loaded_at: dt.datetime,
    pg: PgSource | None = None,
    incremental: bool = True,
) -> list[EntityLoad]:
    con = db.connect(database)
    try:
        with db.transaction(con):
            erasing = forget.register(con, database.with_name(forget.ERASURES))
            loads = []
            for entity in contract.ENTITIES:
                loads.append(
                    load_entity(
                        con,
                        source_dir,
                        entity,
                        run_id=run_id,
                        loaded_at=loaded_at,
                        erasing=erasing,
                        pg=pg,
                        incremental=incremental,
                    )
                )
            return loads
    except SourceError as exc:
        # the message names file, row and column; the frames below would only keep the closed
        # connection alive until exit (and DuckDB's bindings then report it as leaked)
        raise exc.with_traceback(None) from None
    finally:
        con.close()
        del con
