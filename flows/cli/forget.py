"""``offers forget``: erase customers (GDPR right to be forgotten), see ``flows/forget.py``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import HomeOption, _fail, out
from flows.errors import ConfigError, OffersError


def _read_ids(ids: list[str] | None, file: Path | None) -> list[str]:
    """The ids from the arguments and from ``--file`` (one a line; blank and ``#`` lines
    skipped)."""
    found = [i.strip() for i in ids or [] if i.strip()]
    if file is not None:
        try:
            lines = file.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"--file {file}: cannot read it ({exc})") from exc
        found += [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]
    if not found:
        raise ConfigError("no customer ids: give CUSTOMER_ID arguments or --file ids.txt")
    return found


def forget(
    customer_ids: Annotated[
        list[str] | None, typer.Argument(help="Customer ids to erase.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A file of customer ids, one a line.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Erase customers everywhere (database, stored models, exports) and refuse their rows in
    every later load. The erasure list keeps only sha256(customer_id)."""
    from flows import forget as erasure
    from flows.config import load_settings
    from flows.nightly import home_lock, private_files

    try:
        ids = _read_ids(customer_ids, file)
        settings = load_settings(home)
        if not settings.database.is_file():
            raise ConfigError(f"{settings.database} does not exist; is --home right?")
        with private_files(settings.file_access), home_lock(settings.home):
            result = erasure.forget(settings, ids, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    except OffersError as exc:
        raise _fail(exc) from exc
    for table, rows in result.rows.items():
        out.print(f"{table}: {rows:,} {'row' if rows == 1 else 'rows'} removed")
    out.print(
        f"models: {result.model_rows:,} customer rows removed from {result.model_files:,} "
        "stored id maps (judge copies included)"
    )
    moved = ", ".join(f"runs/{old} -> runs/{new}" for old, new in result.exports.items())
    out.print(f"exports: {result.export_rows:,} rows removed{'; ' + moved if moved else ''}")
    if result.unknown:
        out.print(
            f"unknown (nothing stored; still refused from now on): {', '.join(result.unknown)}",
            markup=False,
        )
    out.print(
        f"forgot {result.customers:,} customers (run {result.run_id}, status "
        f"{erasure.STATUS}); erasure list {settings.home / erasure.ERASURES}",
        markup=False,
    )
