"""``offers status`` (the last runs) and ``offers report`` (a run report, flows/run_report.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.cli import HomeOption, _fail, console, out
from flows.errors import OffersError
from models.publish_checks import NONEMPTY


def _open(home: Path | None) -> tuple[Any, Any]:
    """(settings, a read-only connection or None when there is no database yet)."""
    from flows import db
    from flows.config import load_settings

    try:
        settings = load_settings(home)
        if not settings.database.is_file():
            return settings, None
        return settings, db.connect(settings.database, read_only=True)
    except OffersError as exc:
        raise _fail(exc) from exc


def _summary(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def problem(status: str, summary: dict[str, Any]) -> str:
    """What went wrong: the failed publish checks, else the error's first line."""
    failed = [c for c in summary.get("publish_checks") or [] if not c.get("passed")]
    if failed:
        named = ", ".join(_check(c) for c in failed)
        return f"checks failed, forced: {named}" if status == "succeeded" else f"check {named}"
    error = str(summary.get("error") or "")
    return error.strip().splitlines()[0] if error.strip() else ""


def _check(check: dict[str, Any]) -> str:
    """``drift_shop 97.0% > 95%``, ``nonempty_email empty``."""
    name, value, threshold = str(check["name"]), check.get("value"), check.get("threshold")
    if name.startswith(NONEMPTY):
        return f"{name} empty"
    if value is None or threshold is None:
        return name
    return f"{name} {value:.1%} > {threshold:.0%}"


def _seconds(summary: dict[str, Any], started: Any, finished: Any) -> str:
    if summary.get("elapsed_s") is not None:
        return f"{summary['elapsed_s']:.1f}"
    if started is not None and finished is not None:
        return f"{(finished - started).total_seconds():.1f}"
    return ""


def status(
    home: HomeOption = None,
    last: Annotated[int, typer.Option("--last", min=1, help="How many runs, newest first.")] = 10,
) -> None:
    """List the last runs: date, status, time, offers per channel, model, what failed."""
    from flows import sqlfiles

    settings, con = _open(home)
    if con is None:
        out.print(f"no runs yet in {settings.home}")
        return
    try:
        found = sqlfiles.rows(con, "report/recent_runs", {"n": last})
    finally:
        con.close()
    if not found:
        out.print(f"no runs yet in {settings.home}")
        return
    table = Table(title=f"last {len(found)} runs in {settings.home}")
    for col in ("run", "as of", "status", "started (UTC)", "seconds", "offers", "model in charge",
                "failed check or error"):  # fmt: skip
        wraps = col in ("offers", "model in charge", "failed check or error")
        table.add_column(
            col,
            justify="right" if col == "seconds" else "left",
            no_wrap=not wraps or col == "model in charge",
        )
    for run_id, as_of, started, finished, state, text in found:
        summary = _summary(text)
        offers = ", ".join(f"{ch} {n:,}" for ch, n in (summary.get("offers") or {}).items())
        table.add_row(
            run_id, str(as_of), state, f"{started:%Y-%m-%d %H:%M:%S}",
            _seconds(summary, started, finished), offers, summary.get("model_version") or "",
            escape(problem(state, summary)),
        )  # fmt: skip
    # piped (cron, CI): wide enough for whole version names; a terminal keeps its width
    wide = out if out.is_terminal else Console(width=max(out.width, 240), file=out.file)
    wide.print(table)


def _default_day(settings: Any, con: Any) -> dt.date | None:
    """The as-of date ``exports/latest`` shows; without one, the newest run's."""
    from flows import sqlfiles
    from flows.publish import LATEST, MANIFEST

    try:
        return dt.date.fromisoformat(
            json.loads((settings.exports_dir / LATEST / MANIFEST).read_text())["as_of"]
        )
    except (OSError, ValueError, KeyError):
        row = sqlfiles.one(con, "report/last_run", {"as_of": None})
        return row[1] if row else None


def _report_path(settings: Any, con: Any, day: dt.date | None) -> Path:
    """The report of ``day``'s last run: its export's report.md, or, if that run failed, the
    one the publish checks left under reports/. Raises OffersError when there is none."""
    from flows import sqlfiles
    from flows.run_report import REPORT_MD, REPORTS

    row = sqlfiles.one(con, "report/last_run", {"as_of": day})
    if row is None:
        raise OffersError(f"no run as of {day} in {settings.home}; `offers status` lists the runs")
    run_id, as_of, state, text = row
    if state == "succeeded":
        path = settings.exports_dir / as_of.isoformat() / REPORT_MD
        if not path.is_file():
            raise OffersError(
                f"{path} does not exist: the export as of {as_of} has no run report (published "
                "before run reports existed, or removed)"
            )
        return path
    path = settings.home / REPORTS / f"{run_id}.md"
    if not path.is_file():
        why = problem(state, _summary(text)) or "no error recorded"
        raise OffersError(
            f"the last run as of {as_of} ({run_id}) failed before its publish checks, so it has "
            f"no report: {why}"
        )
    return path


def report(
    day: Annotated[
        dt.datetime | None,
        typer.Argument(
            formats=["%Y-%m-%d"],
            help="As-of date (default: the one exports/latest shows).",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print the run report (markdown) of an as-of date: its export's report.md, or the
    report a failed publish check left under reports/ when that date's last run failed."""
    from flows import sqlfiles

    settings, con = _open(home)
    if con is None:
        raise _fail(OffersError(f"no runs yet in {settings.home}"))
    try:
        wanted = day.date() if day else _default_day(settings, con)
        if wanted is None:
            raise OffersError(f"no runs yet in {settings.home}")
        path = _report_path(settings, con, wanted)
        newest = sqlfiles.one(con, "report/last_run", {"as_of": None})
    except OffersError as exc:
        raise _fail(exc) from exc
    finally:
        con.close()
    console.print(f"report: {path}", highlight=False)
    typer.echo(path.read_text(), nl=False)
    if day is None and newest is not None and newest[1] != wanted and newest[2] == "failed":
        console.print(
            f"note: the newest run ({newest[0]}, as of {newest[1]}) failed; "
            f"`offers report {newest[1]}` shows its report",
            highlight=False,
        )
