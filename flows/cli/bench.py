"""``offers bench``: the whole night against the bare libraries (``flows.bench``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flows.cli import console, out


def bench(
    work: Annotated[
        Path, typer.Option(help="Working folder (the shop is kept for re-runs).")
    ] = Path("bench-work"),
    customers: Annotated[int, typer.Option(min=100)] = 100_000,
    products: Annotated[int, typer.Option(min=10)] = 20_000,
    days: Annotated[int, typer.Option(min=7)] = 60,
    seed: int = 1,
    repeat: Annotated[int, typer.Option(min=1, help="Runs per side; medians are shown.")] = 3,
    incremental: Annotated[
        bool,
        typer.Option(
            help="Two nights: a full one the day before, then the last day's files arrive and "
            "the night reads only them and refreshes the model (als.full_retrain_days = 7)."
        ),
    ] = False,
    engine: Annotated[
        str, typer.Option(help="The offer stage in this process (local) or on Dask (dask).")
    ] = "local",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Dask workers (default: one per core).")
    ] = None,
) -> None:
    """Time the whole night (gate included) against the bare libraries doing the same work,
    each side in a fresh process: seconds, peak memory and ratio per stage."""
    from flows.bench import report, shop, sides
    from flows.config import Settings

    if engine not in ("local", "dask"):
        raise typer.BadParameter("--engine must be local or dask")
    t0 = time.perf_counter()
    with console.status("generating the shop ..."):
        source = shop.ensure_shop(work, customers, products, days, seed)
    events = shop.count_events(source)
    out.print(f"shop: {source} ({events:,} events; {time.perf_counter() - t0:.1f} s)")
    split = shop.split_last_day(source, work / "split") if incremental else None
    plan = sides.JobPlan(source, work / "home", split, engine, workers)
    params = Settings().als.model_params()
    job_runs: list[list[dict[str, Any]]] = []
    bare_runs: list[dict[str, Any]] = []
    for i in range(repeat):
        if split is not None and i:  # the day has to arrive again: the same folders, refilled
            shop.split_last_day(source, work / "split")
        with console.status(f"run {i + 1}/{repeat}: the job's night(s) ..."):
            job_runs.append(sides.in_child(sides.job_nights, plan))
        with console.status(f"run {i + 1}/{repeat}: the bare libraries ..."):
            bare_runs.append(sides.in_child(sides.bare_night, source, params, seed))
    bare = report.median_stages([b["stages"] for b in bare_runs])
    results: dict[str, Any] = {
        "customers": customers, "products": products, "days": days, "events": events,
        "repeat": repeat, "engine": engine, "workers": workers, "incremental": incremental,
        "als": params, "bare": bare, "nights": [],
    }  # fmt: skip
    for n in range(len(job_runs[0])):
        night = [run[n] for run in job_runs]
        job = report.median_stages([r["stages"] for r in night])
        figures = report.compare(job, bare)
        first = night[0]
        label = f"night {n + 1} ({first['as_of']}, {first['training']} training)"
        _print_night(label, figures, first, repeat)
        results["nights"].append({"as_of": first["as_of"], "training": first["training"],
                                  "gate": first["gate"], "files_skipped": first["files_skipped"],
                                  "stages": job, **figures})  # fmt: skip
    path = work / "bench.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    out.print(f"figures: {path}")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _print_night(label: str, figures: dict[str, Any], first: dict[str, Any], repeat: int) -> None:
    table = Table(title=f"{label}, median of {repeat}; gate: {first['gate']}")
    for col in ("stage", "seconds", "peak MB", "bare", "bare s", "bare peak MB", "ratio"):
        table.add_column(col, justify="left" if col in ("stage", "bare") else "right")
    for row in figures["rows"]:
        table.add_row(
            row["stage"], _fmt(row["seconds"]), _fmt(row["peak_rss_mb"], ",.0f"), row["bare"],
            _fmt(row["bare_seconds"]), _fmt(row["bare_peak_rss_mb"], ",.0f"), _fmt(row["ratio"]),
        )  # fmt: skip
    out.print(table)
    out.print(
        f"whole night {figures['night_s']:.2f} s vs bare {figures['bare_s']:.2f} s: ratio "
        f"{figures['ratio']:.2f} (gate excluded: {figures['ratio_without_gate']:.2f}); peak "
        f"{figures['peak_rss_mb']:,.0f} MB vs bare {figures['bare_peak_rss_mb']:,.0f} MB "
        f"({figures['peak_ratio']:.2f}x); source files skipped: {first['files_skipped']}"
    )
