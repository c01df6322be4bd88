"""The ``offers`` command line: generate a shop, run the nightly job, run the demo.

Exit codes: 0 success; 1 unexpected error; 2 bad usage or configuration; 3 bad source data
(nothing stored); 4 offer lists failed a rule check (nothing published); 5 training failed;
6 another run is using the home folder.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from flows.cli_import import import_app
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
        out.print(f"gate: {verdict['action']}: {verdict['reason']}")
    out.print(f"lists made by {summary.get('model_version')}")
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


def _database(home: Path | None) -> Path:
    from flows.config import load_settings

    try:
        return load_settings(home).database
    except OffersError as exc:
        raise _fail(exc) from exc


@app.command()
def evaluate(
    home: HomeOption = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="End of the holdout (default: today, UTC)."),
    ] = None,
    holdout_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days judged before --as-of (default: gate.holdout_days)."),
    ] = None,
    candidates: Annotated[
        str,
        typer.Option(
            help="Comma-separated kinds: als, bpr, item_cosine, item_bm25, popular, "
            "popular_category."
        ),
    ] = "popular,popular_category,als,bpr,item_cosine,item_bm25",
    search: Annotated[
        bool,
        typer.Option(help="Also search model and weighting parameters on the window before."),
    ] = False,
    budget_s: Annotated[float, typer.Option(min=1, help="Time budget of the search.")] = 120,
    trials: Annotated[int, typer.Option(min=1, help="Most configurations the search tries.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the search's draws.")] = 0,
) -> None:
    """Judge candidates on a time split: train before AS_OF - N days, score the N days after.

    With --search, configurations are compared on the N days before that split (validation),
    and only the winner is scored on the test window, next to the baselines.
    """
    from flows import db
    from flows.config import load_settings
    from flows.evaluate import build_report, holdout
    from flows.evaluate import evaluate as run_evaluation
    from flows.report import write_report
    from flows.search import as_toml, with_interactions
    from flows.search import search as run_search
    from models.candidates import ModelSpec
    from models.train import TrainingError as ModelTrainingError

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    try:
        settings = load_settings(home)
        specs = [ModelSpec(kind.strip()) for kind in candidates.split(",") if kind.strip()]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except OffersError as exc:
        raise _fail(exc) from exc
    if not settings.database.is_file():
        console.print(f"[bold red]error:[/] no database at {settings.database}; run `offers run`")
        raise typer.Exit(2)
    holdout_days = holdout_days or settings.gate.holdout_days
    db.configure(memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)
    t0 = time.perf_counter()
    con = db.connect(settings.database, read_only=True)
    found = None
    try:
        if search:
            with console.status(f"searching for up to {budget_s:.0f} s ..."):
                found = run_search(
                    con,
                    settings,
                    as_of=day,
                    holdout_days=holdout_days,
                    budget_s=budget_s,
                    max_trials=trials,
                    seed=seed,
                )
        with console.status(f"training and judging {len(specs)} candidates ..."):
            data = holdout(con, settings, as_of=day, days=holdout_days)
            rows = run_evaluation(data, specs, settings)
            if found is not None and found.best is not None:
                best = found.best
                variant = with_interactions(settings, best.interactions)
                tuned = holdout(con, variant, as_of=day, days=holdout_days)
                for row in run_evaluation(tuned, [best.spec], variant):
                    rows.append({**row, "candidate": f"searched {row['candidate']}"})
    except ModelTrainingError as exc:
        console.print(
            f"[bold red]error:[/] cannot evaluate as of {day} with {holdout_days} holdout days: "
            f"{exc} (the history must start before {day - dt.timedelta(days=holdout_days)})"
        )
        raise typer.Exit(5) from exc
    finally:
        con.close()
    report = build_report(data, rows, settings, seconds=time.perf_counter() - t0)
    if found is not None and found.best is not None:
        report["search"] = {
            "seed": seed,
            "validation": f"trained before {day - dt.timedelta(days=2 * holdout_days)}, judged "
            f"to {day - dt.timedelta(days=holdout_days)}",
            "stopped_by": found.stopped_by,
            "trials": [t.as_dict() for t in found.trials],
            "best": found.best.as_dict(),
            "toml": as_toml(found.best),
        }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = settings.home / "reports" / f"evaluate-{day}-{holdout_days}d-{stamp}"
    json_path, html_path = write_report(folder, report)
    table = Table(
        title=f"trained before {report['cut']}, judged {report['holdout_days']} days to "
        f"{report['as_of']} ({report['judged_customers']:,} customers bought)"
    )
    for col in ("candidate", "list", "precision", "recall", "map", "ndcg", "hit_rate",
                "coverage", "novelty", "fallback", "fit s"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("candidate", "list") else "right")
    for r in report["table"]:
        table.add_row(
            r["candidate"], f"{r['channel']}@{r['k']}",
            *(f"{r[m]:.4f}" for m in ("precision", "recall", "map", "ndcg", "hit_rate")),
            f"{r['coverage']:.3f}", f"{r['novelty']:.2f}", f"{r['fallback_share']:.3f}",
            f"{r['fit_s']:.2f}",
        )  # fmt: skip
    out.print(table)
    lifts = ", ".join(f"{c} {v:+.1%}" for c, v in report["lift_over_popular"].items())
    out.print(f"{report['main']} lift over recent popularity: {lifts}")
    verdict = "a popularity baseline" if report["best_is_baseline"] else "a personalised model"
    out.print(f"best on {report['main']}: {report['best']} ({verdict})")
    if "search" in report:
        chosen = report["search"]
        out.print(
            f"search: {len(chosen['trials'])} configurations, stopped by {chosen['stopped_by']}; "
            f"best on validation {chosen['best']['candidate']} "
            f"({report['main']} {chosen['best']['score']:.4f}). To use it, put in offers.toml:"
        )
        out.print(chosen["toml"], markup=False, highlight=False)
    out.print(f"report: {json_path} and {html_path}")


@app.command()
def bench(
    work: Annotated[
        Path, typer.Option(help="Working folder (the shop is kept for re-runs).")
    ] = Path("bench-work"),
    customers: Annotated[int, typer.Option(min=100)] = 100_000,
    products: Annotated[int, typer.Option(min=10)] = 20_000,
    days: Annotated[int, typer.Option(min=7)] = 60,
    seed: int = 1,
    repeat: Annotated[int, typer.Option(min=1, help="Runs per side; medians are shown.")] = 3,
) -> None:
    """Time the job's stages against the bare libraries doing the same work, same process."""
    import pyarrow.parquet as pq

    from flows import bench as B
    from flows.config import Settings

    end = dt.date(2025, 6, 1)
    source = work / "source"
    if not source.exists():
        t0 = time.perf_counter()
        made = _generate(source, customers, products, days, seed, end, "parquet")
        out.print(
            f"generated {made.customers:,} customers, {made.events:,} events, "
            f"{made.order_lines:,} order lines in {time.perf_counter() - t0:.1f} s"
        )
    events = sum(pq.ParquetFile(p).metadata.num_rows for p in (source / "events").glob("*.parquet"))
    params = Settings().als.model_dump()
    job_runs, bare_runs = [], []
    rows = 0
    for i in range(repeat):
        with console.status(f"run {i + 1}/{repeat}: the job's stages ..."):
            steps, rows = B.job_once(source, work / "home", end)
            job_runs.append(steps)
        with console.status(f"run {i + 1}/{repeat}: the bare libraries ..."):
            bare_runs.append(B.bare_once(source, end, params, seed))
    job, bare = B.summarise(job_runs), B.summarise(bare_runs)
    table = Table(title=f"median of {repeat} runs, {events:,} events, ALS {params['factors']} "
                  f"factors x {params['iterations']} iterations, top-{B.K}")  # fmt: skip
    for col in ("side", "step", "seconds", "peak RSS MB", "throughput"):
        table.add_column(col, justify="left" if col in ("side", "step") else "right")
    rate = {
        "extract": f"{events / job['extract']['seconds']:,.0f} events/s",
        "offer": f"{rows / B.K / job['offer']['seconds']:,.0f} customers/s",
        "aggregate": f"{events / bare['aggregate']['seconds']:,.0f} events/s",
    }
    for side, figures in (("job", job), ("bare", bare)):
        for step, f in figures.items():
            table.add_row(side, step, f"{f['seconds']:.2f}", f"{f['peak_rss_mb']:,.0f}",
                          rate.get(step, ""))  # fmt: skip
    out.print(table)
    job_core = sum(job[s]["seconds"] for s in ("extract", "learn", "offer"))
    bare_all = sum(f["seconds"] for f in bare.values())
    job_all = job_core + job["publish"]["seconds"]
    out.print(
        f"job extract+learn+offer {job_core:.2f} s vs bare {bare_all:.2f} s: ratio "
        f"{job_core / bare_all:.2f} (the job also validates, quarantines, decays, applies "
        f"returns, exclusions, stock and consent); with publish {job_all:.2f} s, ratio "
        f"{job_all / bare_all:.2f}"
    )


models_app = typer.Typer(
    help="The model registry: list versions and scores, promote, roll back, unpin.",
    add_completion=False,
)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context, home: HomeOption = None) -> None:
    """List registered model versions, newest first, with the gate's scores."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = home
        return
    from flows import db, registry, stages
    from flows.config import load_settings

    try:
        settings = load_settings(home)
    except OffersError as exc:
        raise _fail(exc) from exc
    if not settings.database.is_file():
        out.print("no models yet")
        return
    con = db.connect(settings.database, read_only=True)
    try:
        frame = registry.list_models(con)
        current = stages.current_model(con)
    finally:
        con.close()
    table = Table(title=f"models in {settings.home}")
    for col in ("version", "kind", "as of", "status", "metric", "score", "baseline", "reason"):
        table.add_column(col)
    for r in frame.iter_rows(named=True):
        status = r["status"] + (" (pinned)" if r["pinned"] else "")
        if current is not None and r["version"] == current.version:
            status += ", in charge"
        fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        table.add_row(
            r["version"], r["kind"], str(r["as_of"]), status, r["metric"] or "",
            fmt(r["score"]), fmt(r["baseline"]), r["reason"] or "",
        )  # fmt: skip
    out.print(table)


@models_app.command("promote")
def models_promote(ctx: typer.Context, version: str) -> None:
    """Put VERSION in charge and pin it: the nightly gate keeps it until `models unpin`."""
    from flows import registry

    try:
        before = registry.promote(
            _database(ctx.obj),
            version,
            now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
    except OffersError as exc:
        raise _fail(exc) from exc
    out.print(f"{version} is in charge (pinned); it replaced {before or 'nothing'}")


@models_app.command("rollback")
def models_rollback(ctx: typer.Context) -> None:
    """Retire the version in charge; the previously promoted one takes over, pinned."""
    from flows import registry

    try:
        old, new = registry.rollback(
            _database(ctx.obj), now=dt.datetime.now(dt.UTC).replace(tzinfo=None)
        )
    except OffersError as exc:
        raise _fail(exc) from exc
    out.print(f"rolled back {old}; {new} is in charge (pinned)")


@models_app.command("unpin")
def models_unpin(ctx: typer.Context) -> None:
    """Let the nightly gate decide again."""
    from flows import registry

    registry.unpin(_database(ctx.obj))
    out.print("unpinned: the nightly gate decides again")


app.add_typer(import_app, name="import")


def main() -> None:  # pragma: no cover - console entry point
    app()
