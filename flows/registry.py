"""The model registry in DuckDB: list versions, promote one, roll back, unpin.

A version is ``promoted`` (it was in charge at some point; the most recent one is in charge),
``rejected`` (the gate refused it) or ``rolled_back``. An engineer's promote or rollback pins
the version in charge: the nightly gate then keeps it, whatever it trains, until
``offers models unpin``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from flows import db, sqlfiles, stages
from flows.errors import OffersError


def list_models(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    rel = sqlfiles.run(con, "registry/list_models")
    assert rel is not None
    return rel.pl()


def promote(database: Path, version: str, *, now: dt.datetime) -> str:
    """Put ``version`` in charge (pinned); returns the version it replaced, if any."""
    con = db.connect(database)
    try:
        row = sqlfiles.one(con, "registry/model_row", {"version": version})
        if row is None:
            raise OffersError(f"no model version {version!r}; see `offers models`")
        _, _, _, path = row
        if not (Path(path) / "metadata.json").is_file():
            raise OffersError(f"model {version} has no files at {path}; it cannot be promoted")
        before = stages.current_model(con)
        with db.transaction(con):
            sqlfiles.run(con, "registry/unpin")
            sqlfiles.run(
                con,
                "registry/set_status",
                {"version": version, "status": "promoted", "now": now, "pinned": True},
            )
        return before.version if before else ""
    finally:
        con.close()


def rollback(database: Path, *, now: dt.datetime) -> tuple[str, str]:
    """Retire the version in charge; the previously promoted one takes over (pinned)."""
    con = db.connect(database)
    try:
        current = stages.current_model(con)
        if current is None:
            raise OffersError("no model is in charge: nothing to roll back")
        with db.transaction(con):
            sqlfiles.run(con, "registry/unpin")
            sqlfiles.run(
                con,
                "registry/set_status",
                {"version": current.version, "status": "rolled_back", "now": now, "pinned": False},
            )
            previous = stages.current_model(con)
            if previous is None:
                raise OffersError(
                    f"{current.version} is the only promoted model: nothing to roll back to"
                )
            sqlfiles.run(
                con,
                "registry/set_status",
                {"version": previous.version, "status": "promoted", "now": now, "pinned": True},
            )
        return current.version, previous.version
    finally:
        con.close()


def unpin(database: Path) -> None:
    con = db.connect(database)
    try:
        sqlfiles.run(con, "registry/unpin")
    finally:
        con.close()
