"""The publish task: register tonight's models, store the offers, stage the export, commit,
then move the export links (reconciling them with the database if that fails).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from flows import db, exports, sqlfiles, stages, tonight
from flows.config import Settings
from flows.gating import GateOutcome
from flows.manifest import long_files
from flows.publish import LATEST, Reconciled, activate, discard, linked_run, reconcile, stage
from flows.spool import Lists
from flows.tasks import run_logger, stage_task
from models import columns as C
from models.recommender import Fitted


def _version(fitted: Fitted, as_of: dt.date, run_id: str) -> str:
    assert fitted.spec is not None
    return f"{fitted.spec.kind}-{as_of:%Y%m%d}-{run_id}"


@stage_task("publish")
def publish_task(
    settings: Settings,
    *,
    as_of: dt.date,
    run_id: str,
    now: dt.datetime,
    window: dict[str, Any],
    fitted: Fitted,
    chosen: Fitted,
    in_charge: str | None,
    outcome: GateOutcome,
    lists: Lists,
    record_sends: bool = False,
    goes_with: pl.DataFrame | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Register tonight's models, store the offers (and, for tonight's run, the email as
    sent) and publish the export, all or nothing. ``window``: the data window of tonight's
    history (``stages.History.window``; the history itself is not needed any more).
    ``extra_files``: more files of the export, by name (the run report, ``flows.run_report``)."""
    metadata = _model_metadata(settings, window, fitted)
    data_window, counts = metadata["data_window"], metadata["counts"]
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
            tables = {} if goes_with is None else {"goes_with": goes_with}
            # the export is complete and verified before the commit; no link points at it
            # yet. DuckDB then reads tonight's rows from its Parquet files
            staged = stage(
                settings.exports_dir,
                run_id,
                as_of,
                lists,
                _manifest_fields(
                    settings,
                    run_id=run_id,
                    as_of=as_of,
                    now=now,
                    versions=(version, trained),
                    decision=decision,
                    data_window=data_window,
                ),
                tables=tables,
                catalogue=exports.read_catalogue(con),
                customers=exports.read_contacts(con),
                slots=exports.slot_counts(settings),
                extra_files=extra_files,
            )
            files = long_files(staged, lists.channels)
            stages.store_offers(con, as_of=as_of, files=files, run_id=run_id, model_version=version)
            if record_sends:
                tonight.record_sends(con, as_of=as_of, files=files, run_id=run_id)
            if goes_with is not None:
                tonight.store_goes_with(con, as_of=as_of, lists=goes_with, run_id=run_id)
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


def _model_metadata(settings: Settings, window: dict[str, Any], fitted: Fitted) -> dict[str, Any]:
    """What tonight's model files record: settings, seed, data window and counts."""
    return {
        "interactions": settings.interactions.model_dump(),
        "seed": settings.seed,
        "data_window": {
            k: v.isoformat() if isinstance(v, dt.date) else v for k, v in window.items()
        },
        "counts": {
            "customers": len(fitted.users),
            "products": len(fitted.items),
            "interactions": int(fitted.user_items.nnz),
            "warm_customers": len(fitted.warm_users),
        },
        "config_hash": settings.config_hash(),
    }


def _manifest_fields(
    settings: Settings,
    *,
    run_id: str,
    as_of: dt.date,
    now: dt.datetime,
    versions: tuple[str, str],
    decision: Any,
    data_window: dict[str, Any],
) -> dict[str, Any]:
    """The export manifest's description of the run (besides its files)."""
    version, trained = versions
    return {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "created_at": now.isoformat(),
        "model_version": version,
        "trained_version": trained,
        "gate": {"action": decision.action, "chosen": decision.chosen, "reason": decision.reason},
        "config_hash": settings.config_hash(),
        "data_window": data_window,
        "columns": list(C.OFFER_COLUMNS),
    }


def _activate(settings: Settings, *, run_id: str, as_of: dt.date, now: dt.datetime) -> Path:
    """Swap the links to the committed export; if that fails, reconcile them once with the
    database (which now publishes this run) and fail only if the links still show another.
    After a successful swap, retention (``flows/retention.py``) deletes what expired."""
    from flows import retention  # deletes what expired once this export is live

    try:
        export = activate(settings.exports_dir, run_id, as_of)
    except Exception as exc:
        run_logger().warning(
            "publish: moving the links to %s failed (%s: %s); reconciling with the database",
            run_id,
            type(exc).__name__,
            exc,
        )
        published, _ = reconcile_links(settings, older_than=now)
        wanted = [as_of.isoformat()]
        if as_of >= max(published, default=as_of):
            wanted.append(LATEST)
        if any(linked_run(settings.exports_dir / name) != run_id for name in wanted):
            raise
        return settings.exports_dir / as_of.isoformat()
    retention.after_publish(settings, run_id=run_id, now=now)  # never fails the run
    return export


def reconcile_links(
    settings: Settings, *, older_than: dt.datetime
) -> tuple[dict[dt.date, str], Reconciled]:
    """Make the export links follow the committed ``offers`` table (per as-of date, its run)."""
    con = db.connect(settings.database)
    try:
        published: dict[dt.date, str] = dict(sqlfiles.rows(con, "publish/published_runs"))
    finally:
        con.close()
    result = reconcile(settings.exports_dir, published, older_than=older_than)
    log = run_logger()
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
                metadata={**metadata, **(model.training or {})} if model is fitted else metadata,
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
