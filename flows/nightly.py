"""The nightly flow: extract -> learn -> gate -> offer -> publish, as Prefect tasks.

Each task is a thin wrapper around a plain function in ``flows.stages`` / ``flows.extract`` /
``models``; tests exercise those directly. The flow computes the clock once (``now``) and passes
it down: no stage reads the time itself, so a backfill is the same flow with another as-of date.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import db, stages
from flows.config import Settings, load_settings
from flows.errors import BusyError, OffersError, TrainingError
from flows.evaluate import holdout, judged_scores
from flows.extract import EntityLoad, extract
from flows.publish import publish
from models import columns as C
from models import gate
from models.candidates import ModelSpec
from models.recommender import Fitted, fit, fit_prepared, prepare, recommend, reuse
from models.train import TrainingError as ModelTrainingError

TASK = {"cache_policy": NO_CACHE, "persist_result": False}
LOCK_FILE = ".run.lock"


@task(name="extract", **TASK)
def extract_task(settings: Settings, run_id: str, loaded_at: dt.datetime) -> list[EntityLoad]:
    loads = extract(settings.database, settings.source, run_id=run_id, loaded_at=loaded_at)
    log = get_run_logger()
    for load in loads:
        log.info(
            "%s: read %d, inserted %d, updated %d, unchanged %d, quarantined %d %s",
            load.entity,
            load.rows_read,
            load.inserted,
            load.updated,
            load.unchanged,
            load.quarantined,
            load.reasons or "",
        )
    return loads


@task(name="learn", **TASK)
def learn_task(settings: Settings, as_of: dt.date) -> tuple[stages.History, Fitted]:
    con = db.connect(settings.database)
    try:
        history = stages.read_history(con, as_of, settings)
    finally:
        con.close()
    spec = stages.model_spec(settings)
    try:
        fitted = fit(history.inputs, spec, seed=settings.seed)
    except ModelTrainingError as exc:
        raise TrainingError(f"as of {as_of}: {exc}") from exc
    get_run_logger().info(
        "trained %s on %d customers x %d products, %d interactions",
        spec.label,
        len(fitted.users),
        len(fitted.items),
        fitted.user_items.nnz,
    )
    return history, fitted


@task(name="gate", **TASK)
def gate_task(settings: Settings, as_of: dt.date, spec: ModelSpec) -> dict[str, Any]:
    """Judge the configured model against the baselines on the last days before ``as_of``."""
    g = settings.gate
    con = db.connect(settings.database)
    try:
        current = stages.current_model(con)
        info: dict[str, Any] = {
            "metric": g.metric,
            "k": g.k,
            "holdout_days": g.holdout_days,
            "current_version": current.version if current else None,
        }
        if current is not None and current.pinned:
            reason = (
                f"{current.version} is pinned by an engineer (offers models promote/rollback); "
                "keeping it. `offers models unpin` lets the gate decide again"
            )
            return {**info, "action": gate.KEEP_CURRENT, "reason": reason}
        if not g.enabled:
            return {**info, "action": gate.PROMOTE, "reason": "gate disabled in settings"}
        specs = [spec, *(ModelSpec(kind) for kind in g.baselines)]
        cut = as_of - dt.timedelta(days=g.holdout_days)
        try:
            data = holdout(con, settings, as_of=as_of, days=g.holdout_days)
            scores, judged = judged_scores(data, specs, settings, metric=g.metric, k=g.k)
            short = (
                f"only {judged} customers with lists at the cut bought in the "
                f"{g.holdout_days} holdout days (fewer than {g.min_customers})"
            )
        except ModelTrainingError:
            scores, judged = {}, 0
            short = f"no history before the holdout window (cut {cut})"
    finally:
        con.close()
    info.update(scores=scores, judged_customers=judged)
    if judged < g.min_customers:
        reason = f"{short}: too little evidence to judge, promoted unjudged"
        return {**info, "action": gate.PROMOTE, "reason": reason}
    # the current model's score counts only if it was judged the same way
    comparable = (
        current is not None
        and "candidate" in current.scores
        and (current.scores.get("metric"), current.scores.get("k")) == (g.metric, g.k)
    )
    decision = gate.decide(
        metric=f"{g.metric}@{g.k}",
        candidate=scores[spec.label],
        baselines={kind: scores[kind] for kind in g.baselines},
        current=float(current.scores["candidate"]) if comparable else None,  # type: ignore[union-attr]
        margin=g.margin,
        tolerance=g.tolerance,
        has_current=current is not None,
    )
    if decision.action == gate.KEEP_CURRENT and current is None:  # pragma: no cover - guard
        raise AssertionError("keep_current without a current model")
    get_run_logger().info("gate: %s: %s", decision.action, decision.reason)
    return {**info, **decision.as_dict(), "metric": g.metric}


@task(name="choose", **TASK)
def choose_task(
    settings: Settings, history: stages.History, fitted: Fitted, verdict: dict[str, Any]
) -> tuple[Fitted, str | None, dict[str, Any]]:
    """The model that makes tonight's lists: the new one, the current one, or a baseline.

    Returns it, the registered version in charge (None: a version registered tonight) and
    the verdict (amended when the current model's files turn out to be missing).
    """
    verdict = dict(verdict)
    if verdict["action"] == gate.PROMOTE:
        return fitted, None, verdict
    if verdict["action"] == gate.KEEP_CURRENT:
        con = db.connect(settings.database)
        try:
            current = stages.current_model(con)
        finally:
            con.close()
        assert current is not None
        try:
            stored = stages.load_model(current)
        except OffersError as exc:
            if "baseline_kind" not in verdict:  # pinned by an engineer: do not second-guess
                raise
            # the gate chose the current model but its files are gone: publish the baseline
            verdict["action"] = gate.BASELINE
            verdict["reason"] += f"; but {exc}; publishing {verdict['baseline_kind']} instead"
            get_run_logger().warning("gate: %s", verdict["reason"])
        else:
            return reuse(history.inputs, stored), current.version, verdict
    baseline = ModelSpec(verdict["baseline_kind"])
    return fit_prepared(prepare(history.inputs), baseline, seed=settings.seed), None, verdict


@task(name="offer", **TASK)
def offer_task(
    settings: Settings, history: stages.History, fitted: Fitted
) -> dict[str, pl.DataFrame]:
    shop = recommend(fitted, settings.offers.shop_k)
    return stages.channel_lists(shop, history.inputs, settings)


def _version(fitted: Fitted, as_of: dt.date, run_id: str) -> str:
    assert fitted.spec is not None
    return f"{fitted.spec.kind}-{as_of:%Y%m%d}-{run_id}"


@task(name="publish", **TASK)
def publish_task(
    settings: Settings,
    *,
    as_of: dt.date,
    run_id: str,
    now: dt.datetime,
    history: stages.History,
    fitted: Fitted,
    chosen: Fitted,
    in_charge: str | None,
    verdict: dict[str, Any],
    lists: dict[str, pl.DataFrame],
) -> dict[str, Any]:
    """Register tonight's models, store the offers and publish the export, all or nothing."""
    data_window = {
        k: v.isoformat() if isinstance(v, dt.date) else v for k, v in history.window.items()
    }
    counts = {
        "customers": len(fitted.users),
        "products": len(fitted.items),
        "interactions": int(fitted.user_items.nnz),
        "warm_customers": len(fitted.warm_users),
    }
    metadata = {
        "interactions": settings.interactions.model_dump(),
        "seed": settings.seed,
        "data_window": data_window,
        "counts": counts,
        "config_hash": settings.config_hash(),
    }
    action = verdict["action"]
    trained = _version(fitted, as_of, run_id)
    scores = {k: v for k, v in verdict.items() if k != "current_version"}
    con = db.connect(settings.database)
    written: list[Path] = []
    try:
        with db.transaction(con):
            written.append(
                stages.save_model(
                    con,
                    settings.models_dir,
                    version=trained,
                    as_of=as_of,
                    created_at=now,
                    fitted=fitted,
                    metadata=metadata,
                    status="promoted" if action == gate.PROMOTE else "rejected",
                    scores=scores,
                )
            )
            version = in_charge or trained
            if action == gate.BASELINE:
                version = _version(chosen, as_of, run_id)
                baseline_scores = {**scores, "candidate": verdict["best_baseline"]}
                written.append(
                    stages.save_model(
                        con,
                        settings.models_dir,
                        version=version,
                        as_of=as_of,
                        created_at=now,
                        fitted=chosen,
                        metadata=metadata,
                        status="promoted",
                        scores=baseline_scores,
                    )
                )
            stages.store_offers(con, as_of=as_of, lists=lists, run_id=run_id, model_version=version)
            export = publish(
                settings.exports_dir,
                run_id=run_id,
                as_of=as_of,
                lists=lists,
                manifest={
                    "run_id": run_id,
                    "as_of": as_of.isoformat(),
                    "created_at": now.isoformat(),
                    "model_version": version,
                    "trained_version": trained,
                    "gate": {"action": action, "reason": verdict["reason"]},
                    "config_hash": settings.config_hash(),
                    "data_window": data_window,
                    "columns": list(C.OFFER_COLUMNS),
                },
            )
    except BaseException:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        con.close()
    return {
        "export": str(export),
        "model_version": version,
        "trained_version": trained,
        "counts": counts,
    }


def _sources(lists: dict[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    return {
        channel: dict(frame.group_by(C.SOURCE).len().sort(C.SOURCE).iter_rows())
        for channel, frame in lists.items()
    }


@flow(name="nightly")
def nightly(
    as_of: dt.date | None = None, home: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """Run the whole job for one as-of date (default: today, UTC); return the run summary."""
    settings = load_settings(Path(home) if home else None, source_dir=source)
    db.configure(memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return run_nightly(settings, as_of=as_of or now.date(), now=now)


def run_nightly(settings: Settings, *, as_of: dt.date, now: dt.datetime) -> dict[str, Any]:
    """The flow body (call inside a flow run): every stage, timed, and the run recorded.

    Only one run at a time may use a home folder (a backfill must not race the nightly run).
    """
    with home_lock(settings.home):
        return _run_stages(settings, as_of=as_of, now=now)


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


def _run_stages(settings: Settings, *, as_of: dt.date, now: dt.datetime) -> dict[str, Any]:
    run_id = stages.new_run_id(now)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"run_id": run_id, "as_of": as_of.isoformat(), "timings_s": timings}
    status = "failed"
    try:
        t0 = time.perf_counter()
        loads = extract_task(settings, run_id, now)
        timings["extract"] = round(time.perf_counter() - t0, 2)
        summary["extract"] = [load.as_dict() for load in loads]
        t0 = time.perf_counter()
        history, fitted = learn_task(settings, as_of)
        timings["learn"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        assert fitted.spec is not None
        verdict = gate_task(settings, as_of, fitted.spec)
        chosen, in_charge, verdict = choose_task(settings, history, fitted, verdict)
        summary["gate"] = verdict
        timings["gate"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        lists = offer_task(settings, history, chosen)
        timings["offer"] = round(time.perf_counter() - t0, 2)
        summary["offers"] = {ch: frame.height for ch, frame in lists.items()}
        summary["sources"] = _sources(lists)
        summary["customers_with_lists"] = {
            ch: frame.get_column(C.CUSTOMER).n_unique() for ch, frame in lists.items()
        }
        t0 = time.perf_counter()
        summary.update(
            publish_task(
                settings,
                as_of=as_of,
                run_id=run_id,
                now=now,
                history=history,
                fitted=fitted,
                chosen=chosen,
                in_charge=in_charge,
                verdict=verdict,
                lists=lists,
            )
        )
        timings["publish"] = round(time.perf_counter() - t0, 2)
        status = "succeeded"
        return summary
    except Exception as exc:
        summary["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary["status"] = status
        summary["elapsed_s"] = round(time.perf_counter() - started, 2)
        _record(settings, summary, as_of=as_of, started_at=now, status=status)


def _record(
    settings: Settings,
    summary: dict[str, Any],
    *,
    as_of: dt.date,
    started_at: dt.datetime,
    status: str,
) -> None:
    elapsed = summary["elapsed_s"]
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
