"""The nightly flow: extract -> learn -> gate -> offer -> publish, as Prefect tasks.

Each task is a thin wrapper around a plain function in ``flows.stages`` / ``flows.extract`` /
``models``; tests exercise those directly. The flow computes the clock once (``now``) and passes
it down: no stage reads the time itself, so a backfill is the same flow with another as-of date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow

from flows import channels, db, run_report, spool, stages, tonight
from flows.config import Settings, load_settings
from flows.delivery import publish_task, reconcile_links
from flows.errors import BusyError, TrainingError, disk_full, redact
from flows.extract import EntityLoad, extract
from flows.gating import GateOutcome, choose_task, gate_task
from flows.spool import Lists
from flows.stagetimer import timed_stage, watched_stage
from flows.tasks import run_logger, stage_task
from models import columns as C
from models.recommender import Fitted
from models.train import TrainingError as ModelTrainingError

LOCK_FILE = ".run.lock"


@stage_task("extract")
def extract_task(settings: Settings, run_id: str, loaded_at: dt.datetime) -> list[EntityLoad]:
    loads = extract(
        settings.database,
        settings.source_url or settings.source,
        run_id=run_id,
        loaded_at=loaded_at,
        postgres=settings.postgres,
        incremental=settings.extract.incremental,
    )
    log = run_logger()
    for load in loads:
        log.info(
            "%s: read %d, inserted %d, updated %d, unchanged %d, quarantined %d, skipped %d "
            "files %s",
            load.entity,
            load.rows_read,
            load.inserted,
            load.updated,
            load.unchanged,
            load.quarantined,
            load.files_skipped,
            load.reasons or "",
        )
    return loads


@stage_task("learn")
def learn_task(settings: Settings, as_of: dt.date) -> tuple[stages.History, Fitted]:
    con = db.connect(settings.database)
    try:
        history = stages.read_history(con, as_of, settings)
        stages.require_history(con, history, as_of, settings)  # says when the data ends
        spec = stages.model_spec(settings)
        base = stages.refresh_base(con, settings, as_of, spec)  # None: a full retrain
    finally:
        con.close()
    try:
        fitted = stages.build_model(
            history.inputs, spec, seed=settings.seed, as_of=as_of, base=base
        )  # progress bar
    except ModelTrainingError as exc:
        raise TrainingError(f"as of {as_of}: {exc}") from exc
    # recent popularity is in the model now (``Fitted.popularity``): its rows (6M at 1M
    # customers) are not held through the gate and the offer stage
    inputs = replace(history.inputs, recent=history.inputs.recent.clear())
    history = replace(history, inputs=inputs)
    run_logger().info(
        "trained %s (%s) on %d customers x %d products, %d interactions",
        spec.label,
        (fitted.training or {}).get("training", "full"),
        len(fitted.users),
        len(fitted.items),
        fitted.user_items.nnz,
    )
    return history, fitted


@stage_task("offer")
def offer_task(
    settings: Settings,
    as_of: dt.date,
    history: stages.History,
    fitted: Fitted,
    spool_folder: Path | None = None,
) -> tuple[Lists, pl.DataFrame]:
    """The channel lists (spooled to ``spool_folder``, ``flows.spool``; None: in memory), and
    the "goes with" lists for product pages."""
    con = db.connect(settings.database)
    try:
        extras = tonight.read_tonight(con, as_of, history.inputs, settings)
    finally:
        con.close()
    lists = channels.spool_lists(
        fitted, history.inputs, settings, tonight=extras, folder=spool_folder
    )
    assert extras.goes_with is not None
    return lists, extras.goes_with


@flow(name="nightly")
def nightly(
    as_of: dt.date | None = None,
    home: str | None = None,
    source: str | None = None,
    record_sends: bool | None = None,
    force_publish: bool = False,
    full_extract: bool = False,
) -> dict[str, Any]:
    """Run the whole job for one as-of date (default: today, UTC); return the run summary.

    ``record_sends``: remember tonight's email as sent (no repeats within
    ``offers.email_repeat_days``); default: only for today or later, not for a backfill.
    ``force_publish``: publish even if a publish check fails (``models/publish_checks.py``).
    ``full_extract``: read every source file, not only new or changed ones.
    """
    settings = load_settings(
        Path(home) if home else None,
        source_dir=source,
        extract={"incremental": False} if full_extract else None,
    )
    stages.configure_process(settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day = as_of or now.date()
    record = day >= now.date() if record_sends is None else record_sends
    return run_nightly(
        settings, as_of=day, now=now, record_sends=record, force_publish=force_publish
    )


def run_nightly(
    settings: Settings,
    *,
    as_of: dt.date,
    now: dt.datetime,
    record_sends: bool = True,
    force_publish: bool = False,
) -> dict[str, Any]:
    """The flow body (call inside a flow run): every stage, timed, and the run recorded.

    Only one run at a time may use a home folder (a backfill must not race the nightly run).
    """
    with private_files(settings.file_access), home_lock(settings.home):
        return _run_stages(
            settings, as_of=as_of, now=now, record_sends=record_sends, force_publish=force_publish
        )


UMASKS = {"owner": 0o077, "group": 0o027, "all": 0o022}


@contextmanager
def private_files(access: str) -> Iterator[None]:
    """Files and folders the run creates are readable by ``access`` only (settings.file_access:
    exports can hold e-mail lists of named customers)."""
    previous = os.umask(UMASKS[access])
    try:
        yield
    finally:
        os.umask(previous)


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<home>/.run.lock`` or fail at once naming the holder."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise BusyError(
                f"another run is using {home} ({holder}); wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_stages(
    settings: Settings,
    *,
    as_of: dt.date,
    now: dt.datetime,
    record_sends: bool,
    force_publish: bool = False,
) -> dict[str, Any]:
    run_id = stages.new_run_id(now)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"run_id": run_id, "as_of": as_of.isoformat(), "timings_s": timings}
    status = "failed"
    spool.clear(settings.home)  # parts left by a run that was killed (this run holds the lock)
    try:
        with timed_stage(timings, "reconcile"):
            _, reconciled = reconcile_links(settings, older_than=now)  # links follow the DB
        if reconciled.changed or reconciled.removed or reconciled.problems:
            summary["reconciled"] = dataclasses.asdict(reconciled)
        with timed_stage(timings, "extract"):
            loads = extract_task(settings, run_id, now)
        summary["extract"] = [load.as_dict() for load in loads]
        with timed_stage(timings, "learn"):
            history, fitted = learn_task(settings, as_of)
        with timed_stage(timings, "gate"):
            chosen, in_charge, outcome = _gate(settings, as_of, fitted, summary)
        with timed_stage(timings, "offer"):
            folder = spool.run_folder(settings.home, run_id)
            lists, goes_with = offer_task(settings, as_of, history, chosen, folder)
        summary.update(_list_counts(lists, goes_with))
        # the history's frames are done with (the lists are spooled): not held while DuckDB
        # works through the checks and publishing (at 1M about 1 GB, once the allocator
        # returns it)
        window, customers = history.window, history.inputs.customers
        del history
        # publish checks against the previous night; a failure stops here, nothing published
        with watched_stage("checks"):  # timed by the checks themselves, for their report
            report = run_report.before_publish(
                settings, summary, as_of=as_of, customers=customers, fitted=fitted,
                lists=lists, force=force_publish,
            )  # fmt: skip
        with timed_stage(timings, "publish"):
            summary.update(
                publish_task(
                    settings,
                    as_of=as_of,
                    run_id=run_id,
                    now=now,
                    window=window,
                    fitted=fitted,
                    chosen=chosen,
                    in_charge=in_charge,
                    outcome=outcome,
                    lists=lists,
                    record_sends=record_sends,
                    goes_with=goes_with,
                    extra_files=report.files(),
                )
            )
            run_report.artifact(report)
        summary["sends_recorded"] = record_sends
        status = "succeeded"
        return summary
    except Exception as exc:
        full = disk_full(exc, settings.home)
        summary["error"] = redact(f"{type(full or exc).__name__}: {full or exc}")
        if full is not None:
            raise full from exc
        raise
    finally:
        spool.clear(settings.home, run_id)
        summary["status"] = status
        summary["elapsed_s"] = round(time.perf_counter() - started, 2)
        _record(settings, summary, as_of=as_of, started_at=now, status=status)


def _gate(
    settings: Settings, as_of: dt.date, fitted: Fitted, summary: dict[str, Any]
) -> tuple[Fitted, str | None, GateOutcome]:
    """The gate's verdict and the model that makes tonight's lists; the verdict goes into
    ``summary["gate"]``."""
    assert fitted.spec is not None
    outcome = gate_task(settings, as_of, fitted.spec)
    chosen, in_charge, decision = choose_task(settings, as_of, fitted, outcome.decision)
    # a model registered tonight in charge keeps the gate's copy of it; the others go now
    promoted = chosen.spec.kind if in_charge is None and chosen.spec is not None else None
    outcome = replace(outcome.keeping(promoted), decision=decision)
    summary["gate"] = decision.as_dict()
    summary["gate"]["seconds"] = outcome.seconds
    summary["gate"]["warm_started"] = list(outcome.warm_started)
    return chosen, in_charge, outcome


def _list_counts(lists: Lists, goes_with: pl.DataFrame) -> dict[str, Any]:
    """What the run summary says of tonight's lists."""
    return {
        "goes_with": {
            "products": goes_with.get_column(C.PRODUCT).n_unique(),
            "rows": goes_with.height,
        },
        "offers": {ch: lists.rows_of[ch] for ch in lists.channels},
        "sources": {ch: dict(sorted(lists.sources_of[ch].items())) for ch in lists.channels},
        "customers_with_lists": {ch: lists.customers_of[ch] for ch in lists.channels},
    }


def _record(
    settings: Settings,
    summary: dict[str, Any],
    *,
    as_of: dt.date,
    started_at: dt.datetime,
    status: str,
) -> None:
    elapsed = summary["elapsed_s"]
    try:
        con = db.connect(settings.database)
        try:
            stages.record_run(
                con,
                run_id=summary["run_id"],
                as_of=as_of,
                started_at=started_at,
                finished_at=started_at + dt.timedelta(seconds=elapsed),
                status=status,
                summary=summary,
            )
        finally:
            con.close()
    except Exception as exc:
        if status == "succeeded":
            raise
        # a failed run (e.g. the disk is full) must surface its own error, not this one
        run_logger().warning("could not record run %s: %s", summary["run_id"], exc)
