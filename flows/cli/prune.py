"""``offers prune``: apply the retention settings now (``flows/retention.py``); ``--dry-run``
only prints what would be deleted. A nightly run does the same after it publishes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from flows.cli import HomeOption, _fail, console, out
from flows.errors import ConfigError, OffersError


def prune(
    home: HomeOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted, delete nothing.")
    ] = False,
) -> None:
    """Delete export run folders, model files and audit rows past the retention settings
    (retention.keep_exports, keep_models, runs_days, quarantine_days in offers.toml).
    Never deleted: the export `latest` shows, the model in charge, pinned models."""
    from flows import retention
    from flows.config import load_settings
    from flows.nightly import home_lock

    try:
        settings = load_settings(home)
        if not settings.database.is_file():
            raise ConfigError(f"{settings.database} does not exist; is --home right?")
        with home_lock(settings.home):
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            result = retention.apply(settings, now, dry_run=dry_run)
    except OffersError as exc:
        raise _fail(exc) from exc
    cfg = settings.retention
    out.print(
        f"retention: keep_exports {cfg.keep_exports}, keep_models {cfg.keep_models}, "
        f"runs_days {cfg.runs_days}, quarantine_days {cfg.quarantine_days} (0: keep all)",
        markup=False,
    )
    for line in result.lines():
        out.print(line, markup=False, highlight=False)
    for path, why in result.problems.items():
        console.print(f"could not remove {path}: {why}", markup=False)
    if dry_run:
        out.print("dry run: nothing deleted")
    if result.problems:
        raise typer.Exit(1)
