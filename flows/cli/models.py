"""``offers models``: the model registry (list, promote, roll back, unpin)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from flows.cli import HomeOption, _fail, out
from flows.errors import OffersError

models_app = typer.Typer(
    help="The model registry: list versions and scores, promote, roll back, unpin.",
    add_completion=False,
)


def _database(home: Path | None) -> Path:
    from flows.config import load_settings

    try:
        return load_settings(home).database
    except OffersError as exc:
        raise _fail(exc) from exc


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
