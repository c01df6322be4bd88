"""``offers models``: the model registry (list, promote, roll back, unpin).

A version is named by any unique prefix. After a promote or a rollback the newest published
date is re-published with the version put in charge (``--no-publish``: not now).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from flows.cli import HomeOption, _fail, console, out
from flows.errors import OffersError

models_app = typer.Typer(
    help="The model registry: list versions and scores, promote, roll back, unpin.",
    add_completion=False,
)

PublishOption = Annotated[
    bool,
    typer.Option(
        "--publish/--no-publish",
        help="Re-publish the newest published date with the version put in charge (a run of "
        "that date, like `offers run --as-of D`), so the exports show it at once.",
    ),
]
SourceOption = Annotated[
    Path | None,
    typer.Option(
        envvar="OFFERS_SOURCE_DIR",
        help="Shop export folder the re-publishing run reads (default <home>/source).",
    ),
]


def _database(home: Path | None) -> Path:
    from flows.config import load_settings

    try:
        return load_settings(home).database
    except OffersError as exc:
        raise _fail(exc) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


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
    rows = []
    for r in frame.iter_rows(named=True):
        status = r["status"] + (" (pinned)" if r["pinned"] else "")
        if r["forced_at"]:
            status += ", forced"
        if current is not None and r["version"] == current.version:
            status += ", in charge"
        fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        rows.append((r["version"], r["kind"], str(r["as_of"]), status, r["metric"] or "",
                     fmt(r["score"]), fmt(r["baseline"]), r["reason"] or ""))  # fmt: skip
    _print_models(f"models in {settings.home}", rows)


COLUMNS = ("version", "kind", "as of", "status", "metric", "score", "baseline", "reason")
REASON_MIN = 24  # columns the reason needs in a table; narrower: plain rows


def _print_models(title: str, rows: list[tuple[str, ...]]) -> None:
    """A table when every column but the reason fits unwrapped, else plain rows: a version
    is what `promote` takes, so it is never cut or folded."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS[:-1])]
    if sum(widths) + 3 * len(COLUMNS) + 1 + REASON_MIN <= out.width:
        table = Table(title=title)
        for col in COLUMNS[:-1]:
            table.add_column(col, no_wrap=True)
        table.add_column("reason", ratio=1, min_width=REASON_MIN)
        for r in rows:
            table.add_row(*r[:-1], escape(r[-1]))
        out.print(table)
        return
    out.print(title, markup=False, highlight=False)
    for r in [COLUMNS, *rows]:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        out.print("  ".join([*cells, r[-1]]), markup=False, highlight=False)


@models_app.command("promote")
def models_promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="A version, or any unique prefix of one.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote it even though the gate rejected it.")
    ] = False,
    publish: PublishOption = True,
    source: SourceOption = None,
) -> None:
    """Put VERSION in charge and pin it: the nightly gate keeps it until `models unpin`."""
    from flows import registry

    try:
        done = registry.promote(_database(ctx.obj), version, now=_now(), force=force)
    except OffersError as exc:
        raise _fail(exc) from exc
    if done.forced:
        console.print(
            f"[bold yellow]warning:[/] {done.version} was rejected by the gate; promoted "
            "anyway (--force), recorded in its scores as forced",
            highlight=False,
        )
    out.print(f"{done.version} is in charge (pinned); it replaced {done.replaced or 'nothing'}")
    _republish(ctx.obj, source, done.version, publish)


@models_app.command("rollback")
def models_rollback(
    ctx: typer.Context, publish: PublishOption = True, source: SourceOption = None
) -> None:
    """Retire the version in charge; the previously promoted one takes over, pinned."""
    from flows import registry

    try:
        old, new = registry.rollback(_database(ctx.obj), now=_now())
    except OffersError as exc:
        raise _fail(exc) from exc
    out.print(f"rolled back {old}; {new} is in charge (pinned)")
    _republish(ctx.obj, source, new, publish)


@models_app.command("unpin")
def models_unpin(ctx: typer.Context) -> None:
    """Let the nightly gate decide again."""
    from flows import registry

    registry.unpin(_database(ctx.obj))
    out.print("unpinned: the nightly gate decides again")


def _republish(home: Path | None, source: Path | None, version: str, publish: bool) -> None:
    """Re-publish the newest published date with ``version`` (a nightly run of that date:
    the pinned version makes its lists), recording e-mail sends only if that date's run did.
    Otherwise say what the exports show until the next run."""
    from flows import registry
    from flows.cli.run import _run

    latest = registry.latest_published(_database(home))
    if latest is None:
        out.print("nothing is published yet: the next run publishes the lists of " + version)
        return
    day = latest.as_of
    later = (
        f"the exports keep the lists of {latest.model_version} for {day} until the next run "
        f"(offers run --as-of {day} re-publishes now)"
    )
    if latest.model_version == version:
        out.print(f"the lists published for {day} are already {version}'s: nothing to re-publish")
        return
    if not publish:
        out.print(later)
        return
    if latest.in_charge != version:  # e.g. trained after that date: it cannot make its lists
        out.print(f"{version} cannot make the lists for {day}: {later}")
        return
    try:
        summary = _run(home, source, day, latest.sends_recorded)
    except OffersError as exc:
        message = escape(" ".join(str(exc).split()))
        console.print(
            f"[bold red]error:[/] {version} is in charge, but re-publishing {day} failed: "
            f"{message}; {later}",
            highlight=False,
        )
        raise typer.Exit(exc.exit_code) from exc
    made_by = summary.get("model_version")
    offers = ", ".join(f"{ch} {n:,}" for ch, n in summary.get("offers", {}).items())
    out.print(
        f"re-published {day} with the lists of {made_by} (run {summary['run_id']}: {offers} "
        f"offers; e-mail sends {'recorded' if latest.sends_recorded else 'not recorded'}, as "
        f"by the run it replaces): {summary.get('export')}",
        highlight=False,
    )
    if made_by != version:
        console.print(
            f"[bold yellow]warning:[/] the run published {made_by}'s lists, not {version}'s",
            highlight=False,
        )
