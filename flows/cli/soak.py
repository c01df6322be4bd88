"""``offers soak``: N consecutive simulated nights on a shop that changes daily (flows/soak.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli import _generate, out


def soak(
    work: Annotated[Path, typer.Option(help="Working folder (replaced).")] = Path("soak-work"),
    nights: Annotated[int, typer.Option(min=2)] = 30,
    customers: Annotated[int, typer.Option(min=100)] = 3_000,
    products: Annotated[int, typer.Option(min=10)] = 500,
    history_days: Annotated[int, typer.Option(min=14)] = 90,
    seed: int = 1,
) -> None:
    """Run NIGHTS consecutive nights on a shop that changes every day and check each night:
    manifest, sort order, rules, and that memory, database and disk stay bounded."""
    from functools import partial

    from flows import orchestration
    from flows import soak as S

    nightly = partial(orchestration.run_nightly, orchestration.prepare())

    end = dt.date(2025, 6, 1)
    shutil.rmtree(work, ignore_errors=True)
    full, source, home = work / "shop", work / "source", work / "home"
    _generate(full, customers, products, history_days + nights, seed, end, "parquet")
    home.mkdir(parents=True)
    table = Table(
        "night",
        "status",
        "s",
        "shop",
        "email",
        "winback",
        "db MB",
        "exports MB",
        "models MB",
        "peak RSS MB",
        "problems",
    )
    results = []
    first = end - dt.timedelta(days=nights - 1)
    for i in range(nights):
        night = S.run_night(home, source, full, first + dt.timedelta(days=i), nightly)
        results.append(night)
        o = night.offers
        table.add_row(
            night.as_of.isoformat(),
            night.status,
            f"{night.seconds:.1f}",
            f"{o.get('shop', 0):,}",
            f"{o.get('email', 0):,}",
            f"{o.get('winback', 0):,}",
            f"{night.database_mb:.1f}",
            f"{night.exports_mb:.1f}",
            f"{night.models_mb:.1f}",
            f"{night.peak_rss_mb:.0f}",
            "; ".join(night.problems) or "-",
        )
    out.print(table)
    problems = _summary(results, nights)
    if problems:
        out.print("problems: " + "; ".join(problems))
        raise typer.Exit(1)


def _summary(results: list, nights: int) -> list[str]:
    """Print the soak's verdict; return the problems found (empty: all nights were good)."""
    problems = [p for n in results for p in n.problems] + [
        f"{n.as_of}: {n.status}" for n in results if n.status != "succeeded"
    ]
    tenth, last = results[min(9, len(results) - 1)], results[-1]
    growth = {
        "exports": last.exports_mb / max(tenth.exports_mb, 1e-9),
        "models": last.models_mb / max(tenth.models_mb, 1e-9),
        "database": last.database_mb / max(tenth.database_mb, 1e-9),
    }
    out.print(
        f"{nights} nights, {sum(1 for n in results if n.status == 'succeeded')} published; "
        f"from night {tenth.as_of} to {last.as_of}: exports x{growth['exports']:.2f}, "
        f"models x{growth['models']:.2f}, database x{growth['database']:.2f}; "
        f"peak RSS {last.peak_rss_mb:.0f} MB; median night "
        f"{sorted(n.seconds for n in results)[len(results) // 2]:.1f} s"
    )
    return problems
