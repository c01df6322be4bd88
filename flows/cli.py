"""The ``offers`` command line: generate a shop, run the nightly job, run the demo.

Exit codes: 0 success; 1 unexpected error; 2 bad usage or configuration; 3 bad source data
(nothing stored); 4 offer lists failed a rule check (nothing published); 5 training failed;
6 another run is using the home folder.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from flows.errors import OffersError

# Prefect's anonymous usage telemetry fights the ephemeral server for its SQLite file and
# prints tracebacks; a batch job has no use for it. Explicit user settings still win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="offers",
    help="Nightly personalised offer lists: extract, learn, offer, publish.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)  # errors stay one greppable line
out = Console(soft_wrap=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="OFFERS_HOME",
        help="Folder holding all state: offers.toml, offers.duckdb, models/, exports/.",
    ),
]


def _fail(exc: OffersError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(exc.exit_code)


def _generate(
    out_dir: Path, customers: int, products: int, days: int, seed: int, end: dt.date, fmt: str
) -> Any:
    from flows.generate import generate_shop

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("generating customers", total=customers)
        return generate_shop(
            out_dir,
            customers=customers,
            products=products,
            days=days,
            seed=seed,
            end=end,
            fmt=fmt,
            progress=lambda done, total: progress.update(bar, completed=done),
        )


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the shop's files to.")],
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
    end_day = end.date() if end else dt.datetime.now(dt.UTC).date()
    t0 = time.perf_counter()
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


def _run(home: Path | None, source: Path | None, as_of: dt.date) -> dict[str, Any]:
    from flows.config import load_settings
    from flows.nightly import nightly

    load_settings(home, source_dir=source)  # a bad configuration fails here, before Prefect

    with console.status(f"running the nightly flow for {as_of} ..."):
        return nightly(
            as_of=as_of,
            home=str(home) if home else None,
            source=str(source) if source else None,
        )


def print_summary(summary: dict[str, Any]) -> None:
    """A short human summary of a run: counts per stage and where the files are."""
    table = Table(title=f"run {summary['run_id']} as of {summary['as_of']}", show_lines=False)
    for col in ("entity", "read", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(col, justify="right" if col != "entity" else "left")
    for load in summary.get("extract", []):
        table.add_row(
            load["entity"],
            f"{load['rows_read']:,}",
            f"{load['inserted']:,}",
            f"{load['updated']:,}",
            f"{load['unchanged']:,}",
            f"{load['quarantined']:,}",
        )
    out.print(table)
    counts = summary.get("counts", {})
    out.print(
        f"model {summary.get('model_version')}: {counts.get('customers', 0):,} customers "
        f"({counts.get('warm_customers', 0):,} with history) x {counts.get('products', 0):,} "
        f"products, {counts.get('interactions', 0):,} interactions"
    )
    for channel, rows in summary.get("offers", {}).items():
        sources = ", ".join(f"{k} {v:,}" for k, v in summary["sources"][channel].items())
        out.print(
            f"{channel}: {rows:,} offers for {summary['customers_with_lists'][channel]:,} "
            f"customers ({sources})"
        )
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in summary.get("timings_s", {}).items())
    out.print(f"stages: {timings}")
    out.print(f"exports: {summary.get('export')}")


@app.command()
def run(
    home: HomeOption = None,
    source: Annotated[
        Path | None,
        typer.Option(
            envvar="OFFERS_SOURCE_DIR", help="Shop export folder (default <home>/source)."
        ),
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Only history before this date is used (default: today, UTC).",
        ),
    ] = None,
) -> None:
    """Run the nightly flow once: extract, learn, offer, publish."""
    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    try:
        summary = _run(home, source, day)
    except OffersError as exc:
        raise _fail(exc) from exc
    print_summary(summary)


@app.command()
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


def main() -> None:  # pragma: no cover - console entry point
    app()
