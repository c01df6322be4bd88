"""``offers evaluate``: judge candidates offline."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer
from rich.table import Table

from flows.cli import HomeOption, _fail, console, out
from flows.errors import OffersError


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
            help="Comma-separated kinds: als, bpr, item_cosine, item_bm25, hybrid, popular, "
            "popular_all_time, popular_category, buy_again (with offers.toml's parameters)."
        ),
    ] = (
        "popular,popular_all_time,popular_category,buy_again,als,bpr,item_cosine,item_bm25,hybrid"
    ),
    search: Annotated[
        bool,
        typer.Option(help="Also search model and weighting parameters on the window before."),
    ] = False,
    budget_s: Annotated[float, typer.Option(min=1, help="Time budget of the search.")] = 120,
    trials: Annotated[int, typer.Option(min=1, help="Most configurations the search tries.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the search's draws.")] = 0,
    refresh_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Also judge ALS as an incremental night makes it: trained N days before the "
            "cut, then refreshed at the cut (the quality cost of als.full_retrain_days).",
        ),
    ] = None,
) -> None:
    """Judge candidates on a time split: train before AS_OF - N days, score the N days after.

    With --search, configurations are compared on the N days before that split (validation),
    and only the winner is scored on the test window, next to the baselines.
    """
    from flows import db, stages
    from flows.config import load_settings
    from flows.evaluate import build_report, holdout, refreshed_rows
    from flows.evaluate import evaluate as run_evaluation
    from flows.report import write_report
    from flows.search import as_toml, with_interactions
    from flows.search import search as run_search
    from models.train import TrainingError as ModelTrainingError

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    try:
        settings = load_settings(home)
        specs = [
            stages.spec_for(settings, kind.strip())
            for kind in candidates.split(",")
            if kind.strip()
        ]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except OffersError as exc:
        raise _fail(exc) from exc
    if not settings.database.is_file():
        console.print(f"[bold red]error:[/] no database at {settings.database}; run `offers run`")
        raise typer.Exit(2)
    holdout_days = holdout_days or settings.gate.holdout_days
    stages.configure_process(settings)
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
            if refresh_days:
                rows += refreshed_rows(con, data, settings, days=refresh_days)
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
            "popularity": {str(d): v for d, v in found.popularity.items()},
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
                "coverage", "novelty", "fallback", "repeat", "explore r", "repeat r",
                "fit s"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("candidate", "list") else "right")
    for r in report["table"]:
        table.add_row(
            r["candidate"], f"{r['channel']}@{r['k']}",
            *(f"{r[m]:.4f}" for m in ("precision", "recall", "map", "ndcg", "hit_rate")),
            f"{r['coverage']:.3f}", f"{r['novelty']:.2f}", f"{r['fallback_share']:.3f}",
            *(f"{r[m]:.3f}" for m in ("repeat_share", "explore_recall", "repeat_recall")),
            f"{r['fit_s']:.2f}",
        )  # fmt: skip
    out.print(table)
    out.print(
        "repeat: share of hits bought before the cut; explore r / repeat r: recall on products "
        "new to the customer / bought before. Holdout purchases that were repeats: "
        + ", ".join(
            f"{m['channel']} {m['truth_repeat_share']:.1%} ({m['customers_repeat']:,.0f} "
            f"customers bought again, {m['customers_explore']:,.0f} bought something new)"
            for m in report["truth_mix"]
        )
    )
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
        windows = ", ".join(f"{d} days {v:.4f}" for d, v in chosen["popularity"].items())
        out.print(f"recent popularity on validation: {windows}")
        out.print(chosen["toml"], markup=False, highlight=False)
    out.print(f"report: {json_path} and {html_path}")
