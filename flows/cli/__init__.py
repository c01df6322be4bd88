"""The ``offers`` command line: generate a shop, run the nightly job, run the demo.

Exit codes: 0 success; 1 unexpected error; 2 bad usage or configuration; 3 bad source data
(nothing stored); 4 offer lists failed a rule check (nothing published); 5 training failed;
6 another run is using the home folder; 7 the configured Prefect server is not usable;
8 a publish check failed (nothing published); 9 the disk is full (nothing changed).

This package holds the shared pieces (``app``, the consoles, ``HomeOption``, ``_fail``); the
commands live in ``run.py`` (run, demo, generate, backfill), ``status.py`` (status, report),
``evaluate.py`` (evaluate), ``bench.py`` (bench), ``models.py`` (the registry) and
``importing.py`` (public datasets), and are registered at the bottom of this file.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from flows import progress
from flows.errors import OffersError, redact

# Prefect's anonymous usage telemetry fights the ephemeral server for its SQLite file and
# prints tracebacks; a batch job has no use for it. Explicit user settings still win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="offers",
    help="Nightly personalised offer lists: extract, learn, offer, publish.",
    no_args_is_help=True,
    add_completion=False,
)
# errors stay one greppable line; the stages' progress bars draw on the same console, so a
# bar under a spinner nests in it (flows/progress.py)
console = progress.console
# piped output (cron, CI logs) gets a wide fixed width instead of rich's 80 columns
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="OFFERS_HOME",
        help="Folder holding all state: offers.toml, offers.duckdb, models/, exports/.",
    ),
]


def _fail(exc: OffersError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(redact(str(exc)))}")
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


# The commands import the shared pieces above, so they are registered after them.
from flows.cli import bench as bench_cmds  # noqa: E402
from flows.cli import evaluate as evaluate_cmds  # noqa: E402
from flows.cli import forget as forget_cmds  # noqa: E402
from flows.cli import models as models_cmds  # noqa: E402
from flows.cli import prune as prune_cmds  # noqa: E402
from flows.cli import run as run_cmds  # noqa: E402
from flows.cli import soak as soak_cmds  # noqa: E402
from flows.cli import status as status_cmds  # noqa: E402
from flows.cli.importing import import_app  # noqa: E402

app.command()(run_cmds.generate)
app.command()(run_cmds.run)
app.command()(run_cmds.demo)
app.command()(run_cmds.backfill)
app.command()(evaluate_cmds.evaluate)
app.command()(bench_cmds.bench)
app.command()(soak_cmds.soak)
app.command()(forget_cmds.forget)
app.command()(prune_cmds.prune)
app.command()(status_cmds.status)
app.command()(status_cmds.report)
app.add_typer(models_cmds.models_app, name="models")
app.add_typer(import_app, name="import")


def main() -> None:  # pragma: no cover - console entry point
    app()
