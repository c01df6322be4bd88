"""``offers import ...``: convert public e-commerce datasets into the source contract.

Registered in :mod:`flows.cli` as a sub-command group; each command writes the five contract
files (Parquet) into ``--out`` and prints what it read, wrote and dropped. Exit codes follow
the ``offers`` CLI: 0 success, 2 bad usage (e.g. ``--out`` already holds contract files),
3 unusable input (missing file, wrong header).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flows.adapters import (
    DEFAULT_STOCK,
    DEFAULT_YEAR,
    ImportSummary,
    import_complete_journey,
    import_online_retail,
    import_rees46,
    import_tmall,
)
from flows.contract import ENTITIES
from flows.errors import OffersError
from flows.generate import CONSENT_SHARE

import_app = typer.Typer(
    name="import",
    help=(
        "Convert a public e-commerce dataset (REES46 events, UCI Online Retail, The Complete "
        "Journey, Tmall 2014) into the source contract, as Parquet files the nightly job can read."
    ),
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

SrcArgument = Annotated[
    Path,
    typer.Argument(help="A CSV file, or a folder whose *.csv files are read in name order."),
]
RetailSrcArgument = Annotated[
    Path,
    typer.Argument(
        help="A CSV or Parquet file, or a folder whose *.csv or *.parquet files are read "
        "together in name order (an invoice in several files is taken from the last)."
    ),
]
JourneySrcArgument = Annotated[
    Path,
    typer.Argument(help="The folder holding transactions.parquet and products.parquet."),
]
TmallSrcArgument = Annotated[
    Path,
    typer.Argument(help="t_alibaba_data.csv (or .csv.gz), or tmall_2014_brand_events.parquet."),
]
YearOption = Annotated[
    int,
    typer.Option(min=1900, max=2100, help="Year of the dates (the file has month and day only)."),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="Folder to write the contract files to (must not hold any already)."
    ),
]
ConsentOption = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Share of customers marked as consenting to email (the datasets have no consent; "
        "a stable md5-based draw). 0 = nobody.",
    ),
]
StockOption = Annotated[
    int,
    typer.Option(min=1, help="Stock written for every product (the datasets have none)."),
]


def print_import_summary(summary: ImportSummary, seconds: float | None = None) -> None:
    """Rows in, rows written per entity, rows dropped per reason, and caveats."""
    files = ", ".join(str(p) for p in summary.files)
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    out.print(f"{summary.dataset}: read {summary.rows_in:,} rows from {files}{took}")
    written = Table(title=f"written to {summary.out_dir}")
    written.add_column("entity")
    written.add_column("rows", justify="right")
    for entity in ENTITIES:
        written.add_row(entity.name, f"{summary.written.get(entity.name, 0):,}")
    out.print(written)
    dropped = Table(title="input rows dropped")
    dropped.add_column("reason")
    dropped.add_column("rows", justify="right")
    for reason, rows in summary.dropped.items():
        dropped.add_row(reason, f"{rows:,}")
    dropped.add_row("[bold]total[/]", f"[bold]{summary.rows_dropped:,}[/]")
    out.print(dropped)
    out.print(
        f"{summary.used:,} rows used + {summary.rows_dropped:,} dropped = "
        f"{summary.rows_in:,} rows in"
    )
    for note, rows in summary.notes.items():
        out.print(f"note: {rows:,} {note}")


def _import(
    run: Callable[..., ImportSummary],
    src: Path,
    out_dir: Path,
    consent_share: float,
    stock: int,
    **options: Any,
) -> None:
    t0 = time.perf_counter()
    try:
        with console.status(f"importing {src} ..."):
            summary = run(src, out_dir, consent_share=consent_share, stock=stock, **options)
    except OffersError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(exc.exit_code) from exc
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    print_import_summary(summary, time.perf_counter() - t0)


@import_app.command("rees46")
def rees46(
    src: SrcArgument,
    out_dir: OutOption,
    consent_share: ConsentOption = CONSENT_SHARE,
    stock: StockOption = DEFAULT_STOCK,
) -> None:
    """REES46 / Open CDP event CSVs (event_time,event_type,product_id,...,user_session)."""
    _import(import_rees46, src, out_dir, consent_share, stock)


@import_app.command("online-retail")
def online_retail(
    src: RetailSrcArgument,
    out_dir: OutOption,
    consent_share: ConsentOption = CONSENT_SHARE,
    stock: StockOption = DEFAULT_STOCK,
) -> None:
    """UCI Online Retail / Online Retail II, CSV or Parquet (InvoiceNo,StockCode,...,Country)."""
    _import(import_online_retail, src, out_dir, consent_share, stock)


@import_app.command("completejourney")
def complete_journey(
    src: JourneySrcArgument,
    out_dir: OutOption,
    consent_share: ConsentOption = CONSENT_SHARE,
    stock: StockOption = DEFAULT_STOCK,
) -> None:
    """84.51 The Complete Journey 2.0 (transactions.parquet, products.parquet)."""
    _import(import_complete_journey, src, out_dir, consent_share, stock)


@import_app.command("tmall")
def tmall(
    src: TmallSrcArgument,
    out_dir: OutOption,
    year: YearOption = DEFAULT_YEAR,
    consent_share: ConsentOption = CONSENT_SHARE,
    stock: StockOption = DEFAULT_STOCK,
) -> None:
    """Tmall Recommendation Prize 2014 brand log (user_id,brand_id,type,visit_datetime)."""
    _import(import_tmall, src, out_dir, consent_share, stock, year=year)
