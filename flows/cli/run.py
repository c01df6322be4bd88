"""``offers run``, ``demo``, ``generate`` and ``backfill``: make a shop, run the nightly job."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from flows.cli import HomeOption, _fail, _generate, console, out
from flows.errors import OffersError, redact
from models import gate

if TYPE_CHECKING:
    from flows.backfill import DatePlan

SourceOption = Annotated[
    str | None,
    typer.Option(
        envvar="OFFERS_SOURCE_DIR",
        help="Shop export folder (default <home>/source), or postgresql://user:pass@host:port/db.",
    ),
]


def generate(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the shop's files to.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="postgresql://user:pass@host:port/db: load the shop into tables there "
            "(replacing tables of the entities' names) instead of writing files.",
        ),
    ] = None,
    customers: Annotated[int, typer.Option(min=1)] = 5_000,
    products: Annotated[int, typer.Option(min=10)] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 90,
    seed: int = 42,
    end: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day NOT covered (default: today, UTC)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Write a realistic synthetic shop in the source contract format."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv")
    if (out_dir is None) == (to is None):
        raise typer.BadParameter("give either --out FOLDER or --to postgresql://...")
    end_day = end.date() if end else dt.datetime.now(dt.UTC).date()
    t0 = time.perf_counter()
    if to is not None:
        _generate_to(to, customers, products, days, seed, end_day, t0)
        return
    assert out_dir is not None
    try:
        summary = _generate(out_dir, customers, products, days, seed, end_day, fmt)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    out.print(
        f"wrote {summary.customers:,} customers, {summary.products:,} products, "
        f"{summary.orders:,} orders, {summary.order_lines:,} order lines, "
        f"{summary.events:,} events to {summary.out_dir} in {time.perf_counter() - t0:.1f} s"
    )


def _generate_to(
    url: str, customers: int, products: int, days: int, seed: int, end: dt.date, t0: float
) -> None:
    """``generate --to``: the shop as Parquet in a temporary folder, then into PostgreSQL."""
    import tempfile

    from flows.config import is_source_url
    from flows.pgsource import load_shop

    if not is_source_url(url):
        raise typer.BadParameter("--to must be a postgresql:// or postgres:// URL")
    with tempfile.TemporaryDirectory(prefix="offers-generate-") as tmp:
        try:
            _generate(Path(tmp) / "shop", customers, products, days, seed, end, "parquet")
            rows = load_shop(url, Path(tmp) / "shop")
        except OffersError as exc:
            raise _fail(exc) from None
    counts = ", ".join(f"{n:,} {entity}" for entity, n in rows.items())
    out.print(f"loaded {counts} into {escape(redact(url))} in {time.perf_counter() - t0:.1f} s")


def _run(
    home: Path | None,
    source: Path | None,
    as_of: dt.date,
    record_sends: bool | None = None,
    force_publish: bool = False,
    full_extract: bool = False,
) -> dict[str, Any]:
    from flows.config import load_settings
    from flows.orchestration import run_nightly

    load_settings(home, source_dir=source)  # a bad configuration fails here, before Prefect
    api = _prefect_api()  # unreachable: exit 7 here, before anything runs

    with console.status(f"running the nightly flow for {as_of} ..."):
        return run_nightly(
            api,
            as_of=as_of,
            home=str(home) if home else None,
            source=str(source) if source else None,
            record_sends=record_sends,
            force_publish=force_publish,
            full_extract=full_extract,
        )


def _prefect_api() -> str | None:
    """The Prefect API runs report to, checked (``OrchestrationError``, exit 7, if it does not
    answer); None, with one line saying so: the stages run without Prefect."""
    from flows.orchestration import NO_SERVER, prepare

    api = prepare()
    if api is None:
        console.print(NO_SERVER, highlight=False)
    return api


ForcePublishOption = Annotated[
    bool,
    typer.Option(
        "--force-publish",
        help="Publish even if a publish check against the previous night fails "
        "(publish.max_customer_drop, publish.max_drift, an empty channel).",
    ),
]

FullExtractOption = Annotated[
    bool,
    typer.Option(
        "--full-extract",
        help="Read every source file, not only those new or changed since the last load "
        "(extract.incremental = false for this run).",
    ),
]

RecordSendsOption = Annotated[
    bool | None,
    typer.Option(
        "--record-sends/--no-record-sends",
        help="Remember the email as sent, so it is not repeated within offers.email_repeat_days "
        "(default: yes for today, no for a past date).",
    ),
]


def print_summary(summary: dict[str, Any]) -> None:
    """A short human summary of a run: counts per stage and where the files are."""
    table = Table(title=f"run {summary['run_id']} as of {summary['as_of']}", show_lines=False)
    loads = summary.get("extract", [])
    refused = any(load.get("refused") for load in loads)  # erased customers (offers forget)
    for col in ("entity", "read", "inserted", "updated", "unchanged", "quarantined", "skipped"):
        table.add_column(col, justify="right" if col != "entity" else "left")
    if refused:
        table.add_column("refused (erased)", justify="right")
    for load in loads:
        table.add_row(
            load["entity"],
            f"{load['rows_read']:,}",
            f"{load['inserted']:,}",
            f"{load['updated']:,}",
            f"{load['unchanged']:,}",
            f"{load['quarantined']:,}",
            f"{load.get('files_skipped', 0):,} files",
            *([f"{load.get('refused', 0):,}"] if refused else []),
        )
    out.print(table)
    counts = summary.get("counts", {})
    out.print(
        f"history: {counts.get('customers', 0):,} customers "
        f"({counts.get('warm_customers', 0):,} with history) x {counts.get('products', 0):,} "
        f"products, {counts.get('interactions', 0):,} interactions; trained "
        f"{summary.get('trained_version')}"
    )
    for channel, rows in summary.get("offers", {}).items():
        sources = ", ".join(f"{k} {v:,}" for k, v in summary["sources"][channel].items())
        out.print(
            f"{channel}: {rows:,} offers for {summary['customers_with_lists'][channel]:,} "
            f"customers ({sources})"
        )
    verdict = summary.get("gate")
    if verdict:
        for line in gate.describe(verdict):
            out.print(line, markup=False, highlight=False)
    out.print(f"lists made by {summary.get('model_version')}")
    failed = [c["name"] for c in summary.get("publish_checks", []) if not c["passed"]]
    if "publish_checks" in summary:
        forced = f"failed {', '.join(failed)}, published with --force-publish"
        out.print(f"publish checks: {forced if failed else 'all passed'}")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in summary.get("timings_s", {}).items())
    out.print(f"stages: {timings}")
    out.print(f"exports: {summary.get('export')}")


def run(
    home: HomeOption = None,
    source: SourceOption = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Only history before this date is used (default: today, UTC).",
        ),
    ] = None,
    record_sends: RecordSendsOption = None,
    force_publish: ForcePublishOption = False,
    full_extract: FullExtractOption = False,
) -> None:
    """Run the nightly flow once: extract, learn, offer, publish."""
    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    try:
        summary = _run(home, source, day, record_sends, force_publish, full_extract)
    except OffersError as exc:
        raise _fail(exc) from exc
    print_summary(summary)


def demo(
    home: Annotated[Path, typer.Option(help="Working folder for the demo.")] = Path("demo-home"),
    customers: Annotated[int, typer.Option(min=100)] = 5_000,
    products: Annotated[int, typer.Option(min=10)] = 1_000,
    days: Annotated[int, typer.Option(min=7)] = 90,
    seed: int = 42,
) -> None:
    """Generate a small shop into HOME/source, run the nightly flow on it, print a summary."""
    from flows.publish import verify

    as_of = dt.datetime.now(dt.UTC).date()
    source = home / "source"
    if not source.exists():
        console.print(f"generating a shop of {customers:,} customers into {source}")
        _generate(source, customers, products, days, seed, as_of, "parquet")
    else:
        console.print(f"using the shop already in {source}")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        summary = _run(home, None, as_of)
    except OffersError as exc:
        raise _fail(exc) from exc
    print_summary(summary)
    manifest = verify(Path(summary["export"]))
    out.print(
        f"manifest checked: {len(manifest['files'])} files, checksums match "
        f"({Path(summary['export']).resolve()})"
    )


def backfill(
    start: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First as-of date.")],
    end: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Last as-of date (inclusive).")
    ],
    home: HomeOption = None,
    source: SourceOption = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run dates already published.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, run nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Allow a range over 366 dates.")] = False,
    force_publish: ForcePublishOption = False,
) -> None:
    """Run the nightly flow for every as-of date from START to END, oldest first.

    Each date sees only history before it. Dates already published (offers in
    the database and an export whose manifest verifies) are skipped unless
    --force, so re-running an interrupted or failed backfill finishes the rest.
    """
    from flows.backfill import RUN, plan_backfill
    from flows.config import load_settings

    try:
        settings = load_settings(home, source_dir=source)  # bad configuration: exit 2 here
        plans = plan_backfill(settings, start.date(), end.date(), force=force, yes=yes)
    except OffersError as exc:
        raise _fail(exc) from exc
    todo = sum(p.action == RUN for p in plans)
    out.print(
        f"backfill {plans[0].as_of} to {plans[-1].as_of}: {len(plans)} dates, {todo} to run, "
        f"{len(plans) - todo} already published"
    )
    if dry_run:
        for p in plans:
            out.print(p.describe(), highlight=False)
        out.print("dry run: nothing ran")
        return
    try:
        api = _prefect_api() if todo else None  # checked once, before the first date
    except OffersError as exc:
        raise _fail(exc) from exc
    t0 = time.perf_counter()
    rows, failure = _backfill_dates(plans, home, source, force_publish, api=api)
    out.print(_backfill_table(rows))
    ran = sum(r["status"] == "ran" for r in rows)
    skipped = sum(r["status"] == "skipped" for r in rows)
    out.print(f"backfill: {ran} ran, {skipped} skipped in {time.perf_counter() - t0:.1f} s")
    if failure is not None:
        _backfill_failed(*failure, left=len(plans) - len(rows) + 1)


def _backfill_dates(
    plans: list[DatePlan],
    home: Path | None,
    source: Path | None,
    force_publish: bool = False,
    *,
    api: str | None,
) -> tuple[list[dict[str, Any]], tuple[dt.date, BaseException] | None]:
    """Run the planned dates in order under a progress bar; stop at the first failure."""
    from flows.backfill import SKIP
    from flows.orchestration import run_nightly

    rows: list[dict[str, Any]] = []
    todo = sum(p.action != SKIP for p in plans)
    seconds: list[float] = []
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(),
               "{task.fields[left]} left, last {task.fields[last]}, mean {task.fields[mean]}",
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=todo == 0) as progress:
        bar = progress.add_task("backfill", total=todo, left=todo, last="-", mean="-")
        for p in plans:
            row = {"date": p.as_of, "status": "skipped", "model_version": p.model_version,
                   "gate_action": p.gate_action, "seconds": None}  # fmt: skip
            rows.append(row)
            if p.action == SKIP:
                continue
            progress.update(bar, description=f"as of {p.as_of}")
            t0 = time.perf_counter()
            try:
                summary = run_nightly(
                    api,
                    as_of=p.as_of,
                    home=str(home) if home else None,
                    source=str(source) if source else None,
                    force_publish=force_publish,
                )
            except (Exception, KeyboardInterrupt) as exc:
                row.update(status="failed", model_version=None, gate_action=None,
                           seconds=time.perf_counter() - t0)  # fmt: skip
                return rows, (p.as_of, exc)
            seconds.append(time.perf_counter() - t0)
            row.update(status="ran", model_version=summary.get("model_version"),
                       gate_action=(summary.get("gate") or {}).get("action"),
                       seconds=seconds[-1])  # fmt: skip
            progress.update(bar, advance=1, left=todo - len(seconds), last=f"{seconds[-1]:.1f} s",
                            mean=f"{sum(seconds) / len(seconds):.1f} s")  # fmt: skip
    return rows, None


def _backfill_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="backfill")
    for col in ("date", "status", "model version", "gate action", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in rows:
        secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        table.add_row(str(r["date"]), r["status"], r["model_version"] or "",
                      r["gate_action"] or "", secs)  # fmt: skip
    return table


def _backfill_failed(day: dt.date, exc: BaseException, *, left: int) -> None:
    """One line naming the failed date; exit with its code (OffersError), 130 or re-raise."""
    what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    detail = escape(" ".join(str(exc).split()) or type(exc).__name__)
    console.print(
        f"[bold red]error:[/] backfill {what} at {day}: {detail}; dates before it are done, "
        f"{left} left: re-run the same command to resume",
        highlight=False,
    )
    if isinstance(exc, OffersError):
        raise typer.Exit(exc.exit_code) from exc
    if isinstance(exc, KeyboardInterrupt):
        raise typer.Exit(130) from exc
    raise exc
