"""The run report and the publish checks, between the offer stage and the publish stage.

``before_publish`` gathers the previous published night from the ``offers`` table (its channel
statistics and tonight's drift against it, ``sql/report/``), runs the publish checks
(``models/publish_checks.py``) and builds the report: rows loaded and quarantined, history
counts, the gate's verdict, offers per channel and source, coverage, drift, every check,
stage timings and peak memory. It returns the report as ``report.json`` and ``report.md`` for
the export (``flows.publish.stage(extra_files=...)``: written and checksummed with the lists,
so the report is part of the export it describes), or, when a check fails and the run is not
forced, writes them to ``<home>/reports/<run_id>.{md,json}`` and raises ``PublishCheckError``:
nothing is published. Inside a Prefect flow run the report is also a markdown artifact
(key ``offers-report``); without a run context (stages run without Prefect) it is skipped.

The markdown is made by ``flows.report_markdown``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows import db, sqlfiles
from flows.config import Settings
from flows.errors import PublishCheckError
from flows.report_markdown import render
from flows.spool import Lists, as_lists
from models import columns as C
from models import publish_checks as checks
from models import segments as seg
from models.recommender import Fitted

REPORT_MD, REPORT_JSON = "report.md", "report.json"
REPORTS = "reports"  # <home>/reports/<run_id>.md: the report of a run the checks stopped
ARTIFACT_KEY = "offers-report"


@dataclass(frozen=True)
class Review:
    """Tonight against the previous published night, and the publish checks' results."""

    previous_as_of: dt.date | None
    tonight: dict[str, checks.ChannelStats]
    previous: dict[str, checks.ChannelStats] | None
    drift: dict[str, checks.Drift]
    results: list[checks.CheckResult]

    @property
    def failed(self) -> list[checks.CheckResult]:
        return checks.failed(self.results)


@dataclass(frozen=True)
class RunReport:
    """The report as data (``report.json``) and as markdown (``report.md``)."""

    data: dict[str, Any]
    markdown: str

    def files(self) -> dict[str, bytes]:
        """The export's report files, by name."""
        text = json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n"
        return {REPORT_JSON: text.encode(), REPORT_MD: self.markdown.encode()}


def _logger() -> logging.Logger | logging.LoggerAdapter:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def channel_stats(lists: Lists) -> dict[str, checks.ChannelStats]:
    """Customers with a list and rows, per channel of tonight's lists (empty ones left out)."""
    return {
        channel: checks.ChannelStats(lists.customers_of[channel], lists.rows_of[channel])
        for channel in lists.channels
        if lists.rows_of[channel]
    }


def _drift(
    con: duckdb.DuckDBPyConnection, previous: dt.date, lists: Lists
) -> dict[str, checks.Drift]:
    found = []
    for channel in lists.channels:  # one channel at a time
        files = lists.files(channel)
        # spooled parts are read by DuckDB's own Parquet reader (columns pushed down, within
        # its memory limit); with a pyarrow dataset over them a 1M night's drift check hit
        # DuckDB's 2 GB limit
        tonight = (
            con.read_parquet([str(f) for f in files])
            if files is not None
            else lists.frame(channel).select(C.CUSTOMER, C.PRODUCT).to_arrow()
        )
        con.register("report_tonight", tonight)
        try:
            found += sqlfiles.rows(con, "report/drift", {"previous": previous, "channel": channel})
        finally:
            con.unregister("report_tonight")
    return {channel: checks.Drift(c, n, new) for channel, c, n, new in found}


def review(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    lists: Lists | Mapping[str, pl.DataFrame],
    thresholds: checks.Thresholds,
) -> Review:
    """Tonight's lists against the newest published night before ``as_of``, and the checks."""
    lists = as_lists(lists)
    row = sqlfiles.one(con, "report/previous_night", {"as_of": as_of})
    before: dt.date | None = row[0] if row else None
    tonight = channel_stats(lists)
    previous, drift = None, {}
    if before is not None:
        stats = sqlfiles.rows(con, "report/channel_stats", {"as_of": before})
        previous = {ch: checks.ChannelStats(c, n) for ch, c, n in stats}
        drift = _drift(con, before, lists)
    results = checks.evaluate(tonight, previous, drift, thresholds)
    return Review(before, tonight, previous, drift, results)


def email_eligible(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, customers: pl.DataFrame, settings: Settings
) -> int:
    """Served ``customers`` (customer_id, email_consent) the email may go to
    (``models.segments.email_eligible``)."""
    days = settings.segments.email_min_days_since_visit
    if days > 0:
        from flows.segmenting import customer_segments

        segments = customer_segments(con, as_of, settings)
    else:  # consent alone decides: the segments are not read
        segments = pl.DataFrame(schema={C.CUSTOMER: pl.String, seg.DAYS_SINCE_VISIT: pl.Int64})
    return seg.email_eligible(customers, segments, days).len()


def coverage(
    lists: Lists | Mapping[str, pl.DataFrame], served: int, eligible: int
) -> dict[str, Any]:
    """Share of served customers with a shop list; of e-mail eligible ones with an email or
    a winback list (None where there is nobody to cover)."""
    customers = as_lists(lists).customers_in
    shop = customers(C.CHANNEL_SHOP)
    emailed = customers(C.CHANNEL_EMAIL, C.CHANNEL_WINBACK)
    return {
        "served_customers": served,
        "shop_customers": shop,
        "shop": shop / served if served else None,
        "email_eligible": eligible,
        "emailed_customers": emailed,
        "email": emailed / eligible if eligible else None,
    }


def history_counts(fitted: Fitted) -> dict[str, int]:
    """Tonight's training data, as the publish stage records it in ``summary["counts"]``."""
    return {
        "customers": len(fitted.users),
        "products": len(fitted.items),
        "interactions": int(fitted.user_items.nnz),
        "warm_customers": len(fitted.warm_users),
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``: KB on Linux), in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build(
    summary: dict[str, Any],
    found: Review,
    *,
    counts: dict[str, int],
    covered: dict[str, Any],
    outcome: str,
) -> dict[str, Any]:
    """The report as a dict (``report.json``); ``outcome``: published, forced or stopped."""
    offers = {
        channel: {
            "offers": rows,
            "customers": summary["customers_with_lists"][channel],
            "sources": summary["sources"][channel],
        }
        for channel, rows in summary["offers"].items()
    }
    previous = None
    if found.previous_as_of is not None and found.previous is not None:
        previous = {
            "as_of": found.previous_as_of.isoformat(),
            "channels": {ch: vars(s) for ch, s in found.previous.items()},
        }
    return {
        "run_id": summary["run_id"],
        "as_of": summary["as_of"],
        "outcome": outcome,
        "extract": summary.get("extract", []),
        "counts": counts,
        "gate": summary.get("gate"),
        "offers": offers,
        "goes_with": summary.get("goes_with"),
        "coverage": covered,
        "previous": previous,
        "drift": {ch: d.as_dict() for ch, d in found.drift.items()},
        "checks": [r.as_dict() for r in found.results],
        "checks_failed": [r.name for r in found.failed],
        "timings_s": dict(summary.get("timings_s", {})),
        "peak_memory_mb": peak_memory_mb(),
    }


def before_publish(
    settings: Settings,
    summary: dict[str, Any],
    *,
    as_of: dt.date,
    customers: pl.DataFrame,
    fitted: Fitted,
    lists: Lists,
    force: bool = False,
) -> RunReport:
    """Run the publish checks and build the report (see the module doc); records the checks
    in ``summary``. ``customers``: tonight's served customers (``Inputs.customers``). A
    failed check without ``force``: the report goes to ``reports/`` and ``PublishCheckError``
    is raised, naming each failed check and where the report is."""
    t0 = time.perf_counter()
    p = settings.publish
    con = db.connect(settings.database)
    try:
        found = review(con, as_of, lists, checks.Thresholds(p.max_customer_drop, p.max_drift))
        eligible = email_eligible(con, as_of, customers, settings)
    finally:
        con.close()
    summary["publish_checks"] = [r.as_dict() for r in found.results]
    summary["timings_s"]["checks"] = round(time.perf_counter() - t0, 2)
    failed = found.failed
    outcome = "stopped" if failed and not force else "forced" if failed else "published"
    data = build(
        summary,
        found,
        counts=history_counts(fitted),
        covered=coverage(lists, customers.height, eligible),
        outcome=outcome,
    )
    report = RunReport(data, render(data))
    _log(found)
    if outcome != "stopped":
        if failed:  # published anyway, with --force-publish
            summary["publish_forced"] = [r.name for r in failed]
        return report
    where = save(settings.home / REPORTS, summary["run_id"], report)
    summary["report"] = str(where)
    artifact(report)
    raise PublishCheckError(stopped_message(failed, where))


def stopped_message(failed: list[checks.CheckResult], where: Path) -> str:
    named = "; ".join(f"{r.name}: {r.message}" for r in failed)
    return (
        f"publish checks failed, nothing published ({named}); the previous export stays. "
        f"Report: {where}. Re-run with --force-publish to publish anyway"
    )


def _log(found: Review) -> None:
    log = _logger()
    for r in found.results:
        if r.passed:
            log.info("publish check %s passed: %s", r.name, r.message)
        else:
            log.warning("publish check %s FAILED: %s", r.name, r.message)


def save(folder: Path, run_id: str, report: RunReport) -> Path:
    """Write ``<folder>/<run_id>.md`` and ``.json``; return the markdown file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = report.files()
    (folder / f"{run_id}.json").write_bytes(files[REPORT_JSON])
    path = folder / f"{run_id}.md"
    path.write_bytes(files[REPORT_MD])
    return path


def artifact(report: RunReport) -> None:
    """The report as a Prefect markdown artifact, inside a flow run only (silently skipped
    without a run context); a failure to create it is logged, never fails the run."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    data = report.data
    try:
        create_markdown_artifact(
            markdown=report.markdown,
            key=ARTIFACT_KEY,
            description=f"offers run {data['run_id']} as of {data['as_of']}: {data['outcome']}",
        )
    except Exception as exc:  # the report is in the export or reports/ anyway
        _logger().warning("run report: no Prefect artifact (%s: %s)", type(exc).__name__, exc)
