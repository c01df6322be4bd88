"""The model registry in DuckDB: list versions, promote one, roll back, unpin.

A version is ``promoted`` (it was in charge at some point; the most recent one is in charge),
``rejected`` (the gate refused it) or ``rolled_back``. An engineer's promote or rollback pins
the version in charge: the nightly gate then keeps it, whatever it trains, until
``offers models unpin``.

Commands name a version by any unique prefix (``resolve``). Promoting a version the gate
rejected needs ``force`` and is recorded in its scores (``forced``). After a promote or a
rollback the CLI re-publishes the newest published date with the version put in charge
(``latest_published`` says which date, and whether its run recorded its e-mail as sent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from flows import db, sqlfiles, stages
from flows.errors import OffersError, UsageError

SHOWN_CANDIDATES = 10  # versions an ambiguous prefix lists
REASON_CHARS = 160  # of the gate's reason in a refusal (it stays one line)


def list_models(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    rel = sqlfiles.run(con, "registry/list_models")
    assert rel is not None
    return rel.pl()


def resolve(con: duckdb.DuckDBPyConnection, prefix: str) -> str:
    """The registered version named ``prefix``, or the only one starting with it.

    Unknown or ambiguous: UsageError (exit 2) naming the candidates.
    """
    found = [v for (v,) in sqlfiles.rows(con, "registry/find_versions", {"prefix": prefix})]
    if found and (found[0] == prefix or len(found) == 1):
        return found[0]
    if not found:
        raise UsageError(f"no model version {prefix!r}; see `offers models`")
    shown = ", ".join(found[:SHOWN_CANDIDATES])
    more = f" and {len(found) - SHOWN_CANDIDATES} more" if len(found) > SHOWN_CANDIDATES else ""
    raise UsageError(
        f"{prefix!r} matches {len(found)} model versions: {shown}{more}; give more of the name"
    )


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: the full version, the one it replaced, and its status before."""

    version: str
    replaced: str
    was: str | None

    @property
    def forced(self) -> bool:
        return self.was == "rejected"


def promote(database: Path, version: str, *, now: dt.datetime, force: bool = False) -> Promotion:
    """Put ``version`` (a unique prefix will do) in charge, pinned.

    A version the gate rejected is refused (UsageError, exit 2) unless ``force``; forced, the
    promotion is recorded in its scores (``forced``: when, and its status before).
    """
    con = db.connect(database)
    try:
        version = resolve(con, version)
        row = sqlfiles.one(con, "registry/model_row", {"version": version})
        assert row is not None
        _, _, status, path, reason = row
        if status == "rejected" and not force:
            why = " ".join((reason or "no reason recorded").split())
            if len(why) > REASON_CHARS:
                why = why[: REASON_CHARS - 3] + "..."
            raise UsageError(
                f"refusing to promote {version}: the gate rejected it ({why}); "
                "pass --force to put it in charge anyway"
            )
        if not (Path(path) / "metadata.json").is_file():
            raise OffersError(f"model {version} has no files at {path}; it cannot be promoted")
        before = stages.current_model(con)
        with db.transaction(con):
            if status == "rejected":
                sqlfiles.run(con, "registry/record_forced", {"version": version, "now": now})
            sqlfiles.run(con, "registry/unpin")
            sqlfiles.run(
                con,
                "registry/set_status",
                {"version": version, "status": "promoted", "now": now, "pinned": True},
            )
        return Promotion(version, before.version if before else "", status)
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


@dataclass(frozen=True)
class Published:
    """The newest published as-of date: its run, whose lists they are, whether the run
    recorded its e-mail as sent, and the version in charge for that date now."""

    as_of: dt.date
    run_id: str
    model_version: str
    sends_recorded: bool
    in_charge: str | None


def latest_published(database: Path) -> Published | None:
    """What a re-publish after a promote or rollback would replace (None: nothing yet)."""
    if not database.is_file():
        return None
    con = db.connect(database)
    try:
        row = sqlfiles.one(con, "registry/latest_published")
        if row is None:
            return None
        as_of, run_id, model_version, sends_recorded = row
        current = stages.current_model(con, as_of)
        return Published(
            as_of, run_id, model_version, bool(sends_recorded), current.version if current else None
        )
    finally:
        con.close()


def unpin(database: Path) -> None:
    con = db.connect(database)
    try:
        sqlfiles.run(con, "registry/unpin")
    finally:
        con.close()
