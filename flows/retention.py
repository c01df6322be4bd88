"""Retention: delete what the policy (``models/retention.py``) says has expired.

``apply`` reads what is stored (export run folders and their manifests, the export links, the
model registry), asks ``models.retention.plan`` what may go, and then, unless ``dry_run``:

1. in one database transaction: records each deleted export in ``pruned_exports`` (its offers
   rows stay; ``sql/publish/published_runs.sql`` leaves the run out, so ``reconcile`` does not
   try to link it again), marks each expired model version ``pruned`` with ``pruned_at``
   (``sql/registry/prune.sql``: the audit row stays, ``current_model`` never picks it), and
   deletes ``runs`` rows older than ``retention.runs_days`` and ``quarantine`` rows older than
   ``retention.quarantine_days`` (0: keep all);
2. after the commit: removes the date links of the deleted run folders (a link first, so no
   reader follows one into a folder being deleted), the run folders, and the folders of the
   pruned versions (also those of versions pruned earlier whose folder is still there).

The nightly publish calls ``after_publish`` once the links moved to the new export (a newer
run is complete); it never fails the run. ``offers prune`` calls ``apply`` directly. Both hold
the home folder's lock, so no other run is publishing meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from flows import db, sqlfiles, stages
from flows.config import Settings
from flows.manifest import MANIFEST
from flows.publish import RUNS, _fsync_dir, linked_run
from models import retention
from models.retention import ModelVersion, RunFolder


@dataclass
class RetentionResult:
    """What ``apply`` deleted (or, with ``dry_run``, would delete), and what it could not."""

    dry_run: bool = False
    exports: dict[str, dt.date] = field(default_factory=dict)  # run id -> its as-of date
    export_sizes: dict[str, int] = field(default_factory=dict)  # run id -> bytes
    links: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # versions pruned now
    leftovers: list[str] = field(default_factory=list)  # folders of versions pruned earlier
    export_bytes: int = 0
    model_bytes: int = 0
    runs_rows: int = 0
    quarantine_rows: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # path -> why it is still there

    @property
    def bytes_freed(self) -> int:
        return self.export_bytes + self.model_bytes

    @property
    def empty(self) -> bool:
        return not (self.exports or self.models or self.leftovers or self.links) and not (
            self.runs_rows or self.quarantine_rows
        )

    def lines(self) -> list[str]:
        """One line per deleted thing, then the totals (for the CLI and the run log); the
        problems are in ``problems``."""
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb} {RUNS}/{run} (as of {day})" for run, day in self.exports.items()]
        out += [f"{verb} link {name}" for name in self.links]
        out += [f"{verb} model {v} (status pruned)" for v in self.models]
        out += [f"{verb} models/{v} (pruned earlier)" for v in self.leftovers]
        out.append(
            f"{verb}: {len(self.exports)} export run folders, {len(self.links)} date links, "
            f"{len(self.models) + len(self.leftovers)} model folders "
            f"({_mb(self.bytes_freed)} MB), {self.runs_rows} runs rows, "
            f"{self.quarantine_rows} quarantine rows"
        )
        return out


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f}"


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed); 0 when it does not exist."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _created(manifest: dict, folder: Path) -> dt.datetime:
    """When a run folder was made: its manifest's ``created_at`` (naive UTC), else its mtime."""
    try:
        created = dt.datetime.fromisoformat(str(manifest["created_at"]))
    except (KeyError, ValueError):
        return dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    return created.astimezone(dt.UTC).replace(tzinfo=None) if created.tzinfo else created


def read_run_folders(exports_dir: Path) -> list[RunFolder]:
    """Every complete run folder under ``exports/runs`` with its manifest's as-of date.

    ``.tmp-`` folders (a run writing or a dead one) and folders without a readable manifest
    are left out: ``publish.reconcile`` deals with those.
    """
    runs = exports_dir / RUNS
    found = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            as_of = dt.date.fromisoformat(str(manifest["as_of"]))
            found.append(RunFolder(folder.name, as_of, _created(manifest, folder)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def read_links(exports_dir: Path) -> dict[str, str]:
    """Export links (an as-of date or ``latest``) -> the run folder each points at."""
    if not exports_dir.is_dir():
        return {}
    links = {p.name: linked_run(p) for p in exports_dir.iterdir() if not p.name.startswith(".")}
    return {name: run for name, run in sorted(links.items()) if run}


def read_models(con: duckdb.DuckDBPyConnection) -> list[ModelVersion]:
    rows = sqlfiles.rows(con, "retention/model_versions")
    return [ModelVersion(v, a, c, s, bool(p)) for v, a, c, s, p in rows]


def _cutoffs(settings: Settings, now: dt.datetime) -> dict[str, dt.datetime | None]:
    cfg = settings.retention

    def before(days: int) -> dt.datetime | None:
        return now - dt.timedelta(days=days) if days else None

    return {
        "runs_before": before(cfg.runs_days),
        "quarantine_before": before(cfg.quarantine_days),
    }


def _model_folder(models_dir: Path, version: str) -> Path | None:
    """``models/<version>`` when the version is a plain folder name, else None."""
    if not version or version.startswith(".") or os.sep in version or version == "..":
        return None
    return models_dir / version


def _decide(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    now: dt.datetime,
    result: RetentionResult,
    protect: Collection[str],
) -> None:
    """Fill ``result`` with what expired (nothing is deleted here)."""
    cfg = settings.retention
    exports_dir, models_dir = settings.exports_dir, settings.models_dir
    runs = read_run_folders(exports_dir)
    models = read_models(con)
    current = stages.current_model(con)
    decided = retention.plan(
        runs,
        read_links(exports_dir),
        models,
        current.version if current else None,
        retention.Limits(cfg.keep_exports, cfg.keep_models),
        protect=protect,
    )
    as_of = {r.run_id: r.as_of for r in runs}
    result.exports = {run: as_of[run] for run in decided.run_folders}
    result.links = list(decided.links)
    result.models = list(decided.model_versions)
    result.leftovers = [
        m.version
        for m in models
        if m.status == retention.PRUNED
        and (folder := _model_folder(models_dir, m.version)) is not None
        and folder.is_dir()
    ]
    result.export_sizes = {r: folder_bytes(exports_dir / RUNS / r) for r in result.exports}
    result.export_bytes = sum(result.export_sizes.values())
    result.model_bytes = sum(
        folder_bytes(folder)
        for v in (*result.models, *result.leftovers)
        if (folder := _model_folder(models_dir, v)) is not None
    )
    counts = sqlfiles.one(con, "retention/old_rows", _cutoffs(settings, now))
    result.runs_rows, result.quarantine_rows = (int(n) for n in counts) if counts else (0, 0)


def _record(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    now: dt.datetime,
    result: RetentionResult,
    protect: Collection[str] = (),
) -> None:
    """The database side, one transaction: pruned exports and versions, old audit rows."""
    with db.transaction(con):
        for run, as_of in result.exports.items():
            size = result.export_sizes.get(run, 0)
            params = {"run_id": run, "as_of": as_of, "bytes": size, "now": now}
            sqlfiles.run(con, "retention/record_export", params)
        for version in result.models:
            sqlfiles.run(con, "registry/prune", {"version": version, "now": now})
        cutoffs = _cutoffs(settings, now)
        days = settings.retention.offers_days
        if days:  # the rotation needs the e-mail history of its window
            days = max(days, settings.offers.email_repeat_days)
            params = {"days": days, "keep_runs": list(protect)}
            sqlfiles.run(con, "retention/delete_old_lists", params)
        sqlfiles.run(con, "retention/delete_runs", {"runs_before": cutoffs["runs_before"]})
        sqlfiles.run(
            con, "retention/delete_quarantine", {"quarantine_before": cutoffs["quarantine_before"]}
        )


def _remove(path: Path, name: str, result: RetentionResult) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        result.problems[name] = str(exc)


def _delete_files(settings: Settings, result: RetentionResult) -> None:
    """After the commit: the links first, then the run folders, then the model folders."""
    exports_dir = settings.exports_dir
    for name in result.links:
        link = exports_dir / name
        if linked_run(link) not in result.exports:  # moved meanwhile: not ours to delete
            continue
        try:
            link.unlink()
        except OSError as exc:
            result.problems[name] = str(exc)
    if result.links:
        _fsync_dir(exports_dir)
    for run in result.exports:
        _remove(exports_dir / RUNS / run, f"{RUNS}/{run}", result)
    for version in (*result.models, *result.leftovers):
        folder = _model_folder(settings.models_dir, version)
        if folder is not None:
            _remove(folder, f"models/{version}", result)


def apply(
    settings: Settings,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    protect: Collection[str] = (),
) -> RetentionResult:
    """Delete what expired under ``settings.retention`` as of ``now`` (naive UTC); with
    ``dry_run`` only say what would go. ``protect``: run ids whose folders stay (the run that
    was just published). Call it holding the home folder's lock."""
    result = RetentionResult(dry_run=dry_run)
    con = db.connect(settings.database, read_only=dry_run and settings.database.is_file())
    try:
        _decide(con, settings, now, result, protect)
        if dry_run:
            return result
        _record(con, settings, now, result, protect)
    finally:
        con.close()
    _delete_files(settings, result)
    return result


def after_publish(settings: Settings, *, run_id: str, now: dt.datetime) -> RetentionResult | None:
    """Retention once a run's export is live: logs what it deleted; a failure is logged as a
    warning and never fails the run (the next run tries again)."""
    from flows.tasks import run_logger  # Prefect's logger: only when called from a run

    log = run_logger()
    try:
        result = apply(settings, now, protect={run_id})
    except Exception as exc:
        log.warning(
            "retention failed (%s: %s); nothing fails, the next run retries",
            type(exc).__name__,
            exc,
        )
        return None
    if not result.empty:
        for line in result.lines():
            log.info("retention: %s", line)
    for name, why in result.problems.items():
        log.warning("retention: could not remove %s: %s", name, why)
    return result
