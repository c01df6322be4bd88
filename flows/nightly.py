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
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import db, judge, sqlfiles, stages
from flows.config import Settings, load_settings
from flows.errors import BusyError, OffersError, TrainingError
from flows.extract import EntityLoad, extract
from flows.publish import LATEST, Reconciled, activate, discard, linked_run, reconcile, stage
from models import columns as C
from models import gate
from models.candidates import ModelSpec
from models.recommender import Fitted, StoredModel, fit, fit_prepared, recommend, reuse
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


@dataclass(frozen=True)
class GateOutcome:
    """The gate's decision and what the publish stage keeps of the gate's work."""

    decision: gate.GateDecision
    cut: dt.date | None = None
    trained: dict[str, Fitted] = field(default_factory=dict)  # candidates trained at the cut
    seconds: dict[str, float] = field(default_factory=dict)


@task(name="gate", **TASK)
def gate_task(settings: Settings, as_of: dt.date, spec: ModelSpec) -> GateOutcome:
    """Judge every candidate and the current model on the windows before ``as_of``."""
    con = db.connect(settings.database)
    try:
        current = stages.current_model(con, as_of)
        version = current.version if current else None
        if current is not None and current.pinned:
            return GateOutcome(gate.pinned(current.version, current.kind))
        if not settings.gate.enabled:
            return GateOutcome(gate.disabled(spec.kind, version))
        data = judge.gate_data(con, settings, as_of)
    finally:
        con.close()
    log = get_run_logger()
    entry, incumbent, note = _current_entry(current, data.cut)
    if note:
        log.info("gate: %s", note)
    decision, judged = judge.verdict(
        data, settings, spec, entry, incumbent=incumbent, current_version=version
    )
    for line in gate.describe(decision):
        log.info("%s", line)
    if judged is None:
        return GateOutcome(decision)
    return GateOutcome(decision, data.cut, judged.trained, judged.seconds)


def _current_entry(
    current: stages.CurrentModel | None, cut: dt.date
) -> tuple[tuple[str, StoredModel] | None, str | None, str]:
    """How the model in charge is judged tonight: (label, stored copy), its label, a note.

    A popularity baseline in charge is judged as that baseline (rebuilt tonight). A model is
    re-scored from its judge copy (trained at its own night's cut) or, for a model older than
    tonight's cut, from its production factors; one that saw tonight's windows cannot be.
    """
    if current is None:
        return None, None, ""
    if judge.is_baseline(current.kind):
        return None, current.kind, ""
    meta = stages.model_metadata(current)
    if meta is None:
        return None, None, f"{current.version}'s files are missing; it cannot be judged"
    judge_cut = meta.get("judge_cut")
    if judge_cut is not None and dt.date.fromisoformat(judge_cut) <= cut:
        return (gate.CURRENT_LABEL, stages.load_model(current, judge=True)), gate.CURRENT_LABEL, ""
    if current.as_of is not None and current.as_of <= cut:
        return (gate.CURRENT_LABEL, stages.load_model(current)), gate.CURRENT_LABEL, ""
    return (
        None,
        None,
        (
            f"{current.version} has no judge copy trained before {cut}: it cannot be re-scored "
            "without seeing the judged windows; it stays unless a challenger beats the baselines"
        ),
    )


@task(name="choose", **TASK)
def choose_task(
    settings: Settings, as_of: dt.date, fitted: Fitted, decision: gate.GateDecision
) -> tuple[Fitted, str | None, gate.GateDecision]:
    """The model that makes tonight's lists: the new one, an alternative, the current one or a
    baseline, on tonight's id maps.

    Returns it, the registered version in charge (None: a version registered tonight) and
    the decision (a new one when the current model's files turn out to be missing).
    """
    if decision.action == gate.PROMOTE:
        if fitted.spec is None or decision.kind == fitted.spec.kind:  # the new model
            return fitted, None, decision
        spec = stages.spec_for(settings, decision.kind or "")
        return fit_prepared(fitted, spec, seed=settings.seed), None, decision
    if decision.action == gate.KEEP_CURRENT:
        con = db.connect(settings.database)
        try:
            current = stages.current_model(con, as_of)
        finally:
            con.close()
        assert current is not None
        try:
            stored = stages.load_model(current)
        except OffersError as exc:
            if current.pinned:  # pinned by an engineer: do not second-guess
                raise
            kind = _strongest_baseline(decision, settings)
            decision = decision.fall_back(kind, f"{exc}; publishing {kind} instead")
            get_run_logger().warning("gate: %s", decision.reason)
        else:
            return reuse(fitted, stored), current.version, decision
    spec = ModelSpec(decision.kind or settings.gate.baselines[0])
    return fit_prepared(fitted, spec, seed=settings.seed), None, decision


def _strongest_baseline(decision: gate.GateDecision, settings: Settings) -> str:
    judged = [k for k, role in decision.roles.items() if role == gate.BASELINE_ROLE]
    if not judged:
        return settings.gate.baselines[0]
    return min(judged, key=lambda k: (-decision.scores[k], judged.index(k)))


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
    outcome: GateOutcome,
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
    decision = outcome.decision
    con = db.connect(settings.database)
    written: list[Path] = []
    try:
        with db.transaction(con):
            trained, version = _register_models(
                con,
                settings,
                as_of=as_of,
                run_id=run_id,
                now=now,
                models=(fitted, chosen),
                in_charge=in_charge,
                outcome=outcome,
                metadata=metadata,
                written=written,
            )
            stages.store_offers(con, as_of=as_of, lists=lists, run_id=run_id, model_version=version)
            # the export is complete and verified before the commit; no link points at it yet
            stage(
                settings.exports_dir,
                run_id,
                as_of,
                lists,
                {
                    "run_id": run_id,
                    "as_of": as_of.isoformat(),
                    "created_at": now.isoformat(),
                    "model_version": version,
                    "trained_version": trained,
                    "gate": {
                        "action": decision.action,
                        "chosen": decision.chosen,
                        "reason": decision.reason,
                    },
                    "config_hash": settings.config_hash(),
                    "data_window": data_window,
                    "columns": list(C.OFFER_COLUMNS),
                },
            )
    except BaseException:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
        discard(settings.exports_dir, run_id)
        raise
    finally:
        con.close()
    # committed: only now do the links move (and the superseded run folder go)
    export = _activate(settings, run_id=run_id, as_of=as_of, now=now)
    return {
        "export": str(export),
        "model_version": version,
        "trained_version": trained,
        "counts": counts,
    }


def _activate(settings: Settings, *, run_id: str, as_of: dt.date, now: dt.datetime) -> Path:
    """Swap the links to the committed export; if that fails, reconcile them once with the
    database (which now publishes this run) and fail only if the links still show another."""
    try:
        return activate(settings.exports_dir, run_id, as_of)
    except Exception as exc:
        get_run_logger().warning(
            "publish: moving the links to %s failed (%s: %s); reconciling with the database",
            run_id,
            type(exc).__name__,
            exc,
        )
        published, _ = _reconcile(settings, older_than=now)
        wanted = [as_of.isoformat()]
        if as_of >= max(published, default=as_of):
            wanted.append(LATEST)
        if any(linked_run(settings.exports_dir / name) != run_id for name in wanted):
            raise
        return settings.exports_dir / as_of.isoformat()


def _reconcile(
    settings: Settings, *, older_than: dt.datetime
) -> tuple[dict[dt.date, str], Reconciled]:
    """Make the export links follow the committed ``offers`` table (per as-of date, its run)."""
    con = db.connect(settings.database)
    try:
        published: dict[dt.date, str] = dict(sqlfiles.rows(con, "publish/published_runs"))
    finally:
        con.close()
    result = reconcile(settings.exports_dir, published, older_than=older_than)
    log = get_run_logger()
    for line in [*result.changed, *(f"removed {name}" for name in result.removed)]:
        log.warning("reconcile: %s", line)
    for name, why in result.problems.items():
        log.warning("reconcile: %s: %s", name, why)
    return published, result


def _register_models(
    con: Any,
    settings: Settings,
    *,
    as_of: dt.date,
    run_id: str,
    now: dt.datetime,
    models: tuple[Fitted, Fitted],
    in_charge: str | None,
    outcome: GateOutcome,
    metadata: dict[str, Any],
    written: list[Path],
) -> tuple[str, str]:
    """Register tonight's model (promoted or rejected) and, when an alternative or a baseline
    takes charge, that one too; returns (tonight's version, the version making the lists).

    A promoted model keeps the gate's copy of it (trained at the gate's cut) as its judge copy.
    """
    fitted, chosen = models
    decision = outcome.decision
    assert fitted.spec is not None and chosen.spec is not None
    trained = _version(fitted, as_of, run_id)
    new_in_charge = in_charge is None and chosen is fitted

    def save(version: str, model: Fitted, status: str) -> None:
        label = model.spec.kind if model.spec is not None else ""
        copy = outcome.trained.get(label) if status == "promoted" else None
        written.append(
            stages.save_model(
                con,
                settings.models_dir,
                version=version,
                as_of=as_of,
                created_at=now,
                fitted=model,
                metadata=metadata,
                status=status,
                scores=decision.registry_entry(label),
                judge=(outcome.cut, copy) if copy is not None and outcome.cut else None,
            )
        )

    save(trained, fitted, "promoted" if new_in_charge else "rejected")
    if in_charge is not None:
        return trained, in_charge
    if new_in_charge:
        return trained, trained
    version = _version(chosen, as_of, run_id)
    save(version, chosen, "promoted")
    return trained, version


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
        _, reconciled = _reconcile(settings, older_than=now)  # links follow the committed DB
        if reconciled.changed or reconciled.removed or reconciled.problems:
            summary["reconciled"] = dataclasses.asdict(reconciled)
        timings["reconcile"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        loads = extract_task(settings, run_id, now)
        timings["extract"] = round(time.perf_counter() - t0, 2)
        summary["extract"] = [load.as_dict() for load in loads]
        t0 = time.perf_counter()
        history, fitted = learn_task(settings, as_of)
        timings["learn"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        assert fitted.spec is not None
        outcome = gate_task(settings, as_of, fitted.spec)
        chosen, in_charge, decision = choose_task(settings, as_of, fitted, outcome.decision)
        outcome = replace(outcome, decision=decision)
        summary["gate"] = decision.as_dict()
        summary["gate"]["seconds"] = outcome.seconds
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
                outcome=outcome,
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
