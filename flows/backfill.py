"""Backfill planning: which as-of dates a backfill runs, which it skips, and why.

A backfill runs the nightly flow once per date, oldest first. A date is *published* when the
database's ``offers`` table holds rows for it and ``exports/<date>`` is a link to a run folder
whose manifest verifies; published dates are skipped unless forced, which is what makes an
interrupted backfill resumable: the same command again runs only what is left. Nothing here
runs the flow or touches the database or the exports beyond reading them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import db, sqlfiles
from flows.config import Settings
from flows.errors import ConfigError
from flows.publish import RUNS, verify

MAX_DAYS = 366  # longer ranges need --yes
RUN = "run"
SKIP = "skip"


@dataclass(frozen=True)
class DatePlan:
    """What a backfill does for one as-of date, and why."""

    as_of: dt.date
    action: str  # RUN or SKIP
    reason: str
    run_id: str | None = None  # the published run, when there is one
    model_version: str | None = None
    gate_action: str | None = None

    def describe(self) -> str:
        return f"{self.as_of}: {self.action} ({self.reason})"


def date_range(start: dt.date, end: dt.date, *, yes: bool = False) -> list[dt.date]:
    """Every date from ``start`` to ``end`` inclusive, oldest first.

    Refuses (``ConfigError``, exit 2) an end before the start, and more than ``MAX_DAYS``
    dates unless ``yes``: each date is a whole nightly run.
    """
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    days = (end - start).days + 1
    if days > MAX_DAYS and not yes:
        raise ConfigError(
            f"{start} to {end} is {days} dates, more than {MAX_DAYS}: each date is a whole "
            "nightly run; pass --yes if you mean it"
        )
    return [start + dt.timedelta(days=i) for i in range(days)]


def published_in_database(database: Path, start: dt.date, end: dt.date) -> set[dt.date]:
    """As-of dates between ``start`` and ``end`` that have rows in ``offers`` (read-only)."""
    if not database.is_file():
        return set()
    con = db.connect(database, read_only=True)
    try:
        found = sqlfiles.rows(con, "publish/published_dates", {"start": start, "end": end})
    finally:
        con.close()
    return {row[0] for row in found}


def published_export(exports_dir: Path, as_of: dt.date) -> dict[str, Any] | None:
    """The manifest of ``exports/<as_of>`` if it links to a run folder that verifies."""
    link = exports_dir / as_of.isoformat()
    if not link.is_symlink():
        return None
    target = link.resolve()
    if target.parent != (exports_dir / RUNS).resolve() or not target.is_dir():
        return None
    try:
        manifest = verify(link)
    except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable or altered files
        return None
    return manifest if str(manifest.get("as_of")) == as_of.isoformat() else None


def plan(
    dates: list[dt.date],
    *,
    in_database: set[dt.date],
    exports_dir: Path,
    force: bool = False,
) -> list[DatePlan]:
    """Run or skip each date: skip a published one unless ``force``; say why either way."""
    plans = []
    for day in dates:
        manifest = published_export(exports_dir, day) if day in in_database else None
        if manifest is None:
            reason = (
                "no offers in the database"
                if day not in in_database
                else f"exports/{day} is missing or does not verify"
            )
            plans.append(DatePlan(day, RUN, reason))
            continue
        run_id = str(manifest.get("run_id"))
        details = {
            "run_id": run_id,
            "model_version": manifest.get("model_version"),
            "gate_action": (manifest.get("gate") or {}).get("action"),
        }
        if force:
            plans.append(DatePlan(day, RUN, f"--force; published by run {run_id}", **details))
        else:
            plans.append(DatePlan(day, SKIP, f"already published, run {run_id}", **details))
    return plans


def plan_backfill(
    settings: Settings, start: dt.date, end: dt.date, *, force: bool = False, yes: bool = False
) -> list[DatePlan]:
    """The plan for ``start``..``end`` against the home folder's database and exports.

    The database is read under the home folder's lock, so a run in progress makes this fail
    at once (``BusyError``) instead of reading half-written state. A home without a database
    has nothing published and is not created.
    """
    from flows.nightly import home_lock  # the flow module (Prefect) only when planning for real

    dates = date_range(start, end, yes=yes)
    in_database: set[dt.date] = set()
    if settings.database.is_file():
        with home_lock(settings.home):
            in_database = published_in_database(settings.database, start, end)
    return plan(dates, in_database=in_database, exports_dir=settings.exports_dir, force=force)
