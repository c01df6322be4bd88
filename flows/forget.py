"""Erasure ("right to be forgotten"): remove customers from the database, the stored models and
the exports, and refuse their source rows on every later load.

The database part is one transaction. Everything outside it is prepared first (filtered copies
of the model files beside them, filtered exports staged as new run folders, the erasure list
rewritten), so a failure before the commit leaves the database, models and exports as they
were. After the commit the prepared files replace the old ones (``os.replace``) and the export
links move to the new run folders the way ``flows.publish`` moves them after a publish; the old
folders are then deleted. Erasing is idempotent: a second ``forget`` of the same ids finishes
whatever an interrupted one left.

The erasure list (``<home>/erasures.csv``) keeps ``sha256(customer_id)`` and the date, never
the id; ``extract`` drops source rows whose hashed customer is on it (``refuse``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from flows import db, publish, serving, sqlfiles
from flows.config import Settings
from flows.errors import OffersError
from flows.manifest import MANIFEST, sha256_file
from flows.publish import RUNS, TMP, linked_run

ERASURES = "erasures.csv"
STATUS = "forgotten"  # runs.status of an erasure
CUSTOMER = "customer_id"
_DELETES = (  # every table holding customer data, in the order the summary lists them
    ("customers", "forget/delete_customer_rows"),
    ("orders", "forget/delete_orders"),
    ("order_lines", "forget/delete_order_lines"),
    ("events", "forget/delete_customer_rows"),
    ("offers", "forget/delete_customer_rows"),
    ("sent_offers", "forget/delete_customer_rows"),
    ("quarantine", "forget/delete_quarantine"),
)
_PART = ".forget-"  # prefix of a prepared file beside the one it replaces
_REFUSE = {
    "customers": "forget/refuse_customer_rows",
    "orders": "forget/refuse_orders",
    "order_lines": "forget/refuse_order_lines",
    "events": "forget/refuse_customer_rows",
}


def customer_hash(customer_id: str) -> str:
    """What the erasure list stores for a customer: the hex sha256 of the (trimmed) id."""
    return hashlib.sha256(customer_id.strip().encode()).hexdigest()


def read_erasures(path: Path) -> pl.DataFrame:
    """The erasure list: (customer_hash, erased_at), empty when there is none."""
    if not path.is_file():
        return pl.DataFrame(schema={"customer_hash": pl.String, "erased_at": pl.String})
    return pl.read_csv(path, infer_schema=False)


def register(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Load the erasure list into this connection for ``refuse``; False when it is empty."""
    hashes = read_erasures(path).select(
        pl.col("customer_hash").str.strip_chars().str.to_lowercase()
    )
    con.register("erasure_list", hashes.to_arrow())
    try:
        sqlfiles.run(con, "forget/erased_customers")
    finally:
        con.unregister("erasure_list")
    return hashes.height > 0


def refuse(con: duckdb.DuckDBPyConnection, entity: str, raw: str) -> int:
    """Drop erased customers' rows (and their orders' lines) from a raw batch; how many."""
    if entity not in _REFUSE:
        return 0
    found = sqlfiles.one(con, _REFUSE[entity], identifiers={"raw": raw})
    return int(found[0]) if found else 0


@dataclass
class Erasure:
    """What one ``forget`` did (counts only, ids stay out of it except ``unknown``)."""

    run_id: str
    customers: int
    unknown: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    model_rows: int = 0  # customer rows removed from stored models (judge copies included)
    model_files: int = 0
    export_rows: int = 0
    exports: dict[str, str] = field(default_factory=dict)  # old run folder -> new one

    def summary(self) -> dict[str, Any]:
        """The audit record (``runs.summary``): counts and run folders, never the ids."""
        return {"command": "forget", **asdict(self), "unknown": len(self.unknown)}


def forget(settings: Settings, customer_ids: list[str], *, now: dt.datetime) -> Erasure:
    """Erase ``customer_ids`` from ``settings.home``; hold the home lock while calling."""
    from flows.stages import new_run_id, record_run

    ids = sorted({i.strip() for i in customer_ids if i.strip()})
    result = Erasure(run_id=new_run_id(now), customers=len(ids))
    id_series = pl.Series(CUSTOMER, ids, dtype=pl.String)
    files: list[tuple[Path, Path]] = []  # prepared file -> the file it replaces
    erasures = settings.home / ERASURES
    before = erasures.read_bytes() if erasures.is_file() else None
    con = db.connect(settings.database)
    committed = False
    try:
        found = _prepare_models(settings.models_dir, id_series, files, result)
        found |= _stage_exports(settings.exports_dir, id_series, result, now)
        with db.transaction(con):
            found |= _delete_rows(con, id_series, result)
            for old, new in result.exports.items():
                sqlfiles.run(con, "forget/move_run", {"old_run": old, "new_run": new})
            result.unknown = sorted(set(ids) - found)
            record_run(
                con, run_id=result.run_id, as_of=now.date(), started_at=now,
                finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), status=STATUS,
                summary=result.summary(),
            )  # fmt: skip
            _append_erasures(erasures, ids, now.date())  # before the commit: never lost
        committed = True
        _finish(con, settings, files, result.exports)
    except BaseException:
        if not committed:
            _undo(files, settings.exports_dir, result.exports, erasures, before)
        raise
    finally:
        con.close()
    return result


def _finish(
    con: duckdb.DuckDBPyConnection, settings: Settings, files: list[tuple[Path, Path]],
    moved: dict[str, str],
) -> None:  # fmt: skip
    """After the commit: the prepared model files replace the old ones and every export link to
    an old run folder moves to its filtered copy (as ``publish.activate`` moves them after a
    publish; if one cannot, the links are reconciled with the committed database once). Then the
    old folders and leftovers of dead runs (``.tmp-`` folders, which may hold customers) go."""
    exports = settings.exports_dir
    links = [p for p in exports.iterdir() if p.is_symlink()] if moved else []
    try:
        for prepared, final in files:
            os.replace(prepared, final)
        for link in links:
            if linked_run(link) in moved:
                publish._swap_link(link, moved[str(linked_run(link))])
        if links:
            publish._fsync_dir(exports)
    except OSError as exc:
        published = dict(sqlfiles.rows(con, "publish/published_runs"))
        problems = publish.reconcile(exports, published).problems
        if problems or any(prepared.exists() for prepared, _ in files):
            raise OffersError(
                f"erased from the database, but {exc} {problems or ''}; run `offers forget` "
                "with the same ids again to finish"
            ) from exc
    for old in moved:
        if not any(linked_run(link) == old for link in links):
            shutil.rmtree(exports / RUNS / old, ignore_errors=True)
    for folder in (settings.models_dir, exports / RUNS):
        for leftover in folder.glob(f"{TMP}*") if folder.is_dir() else []:
            shutil.rmtree(leftover, ignore_errors=True)


def _undo(
    files: list[tuple[Path, Path]], exports: Path, staged: dict[str, str], erasures: Path,
    before: bytes | None,
) -> None:  # fmt: skip
    """Remove what was prepared and put the erasure list back (the commit did not happen)."""
    for prepared, _ in files:
        prepared.unlink(missing_ok=True)
    for new in staged.values():
        shutil.rmtree(exports / RUNS / new, ignore_errors=True)
        shutil.rmtree(exports / RUNS / f"{TMP}{new}", ignore_errors=True)
    if before is None:
        erasures.unlink(missing_ok=True)
    else:
        _write_atomic(erasures, before)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{_PART}{path.name}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _append_erasures(path: Path, ids: list[str], day: dt.date) -> None:
    """Add the ids' hashes (not already listed) to the erasure list, rewritten atomically."""
    listed = read_erasures(path)
    new = pl.DataFrame(
        {"customer_hash": [customer_hash(i) for i in ids], "erased_at": day.isoformat()}
    ).filter(~pl.col("customer_hash").is_in(listed.get_column("customer_hash").implode()))
    _write_atomic(path, pl.concat([listed, new]).write_csv().encode())


def _delete_rows(con: duckdb.DuckDBPyConnection, ids: pl.Series, result: Erasure) -> set[str]:
    """Delete the customers' rows from every table (inside the caller's transaction); the ids
    that had any."""
    con.register("forget_request", pl.DataFrame(ids).to_arrow())
    try:
        sqlfiles.run(con, "forget/targets")
    finally:
        con.unregister("forget_request")
    found = {row[0] for row in sqlfiles.rows(con, "forget/known_ids")}
    for table, name in _DELETES:
        row = sqlfiles.one(con, name, identifiers={"table": table})
        result.rows[table] = int(row[0]) if row else 0
    return found


def _prepare_models(
    models_dir: Path, ids: pl.Series, files: list[tuple[Path, Path]], result: Erasure
) -> set[str]:
    """Write every stored model's id map (``users.parquet``) and user factor rows without the
    customers beside the files (``.forget-<name>``), judge copies included; the ids found."""
    found: set[str] = set()
    maps = [*models_dir.glob("*/users.parquet"), *models_dir.glob("*/judge/users.parquet")]
    for users_path in sorted(p for p in maps if p.relative_to(models_dir).parts[0][0] != "."):
        users = pl.read_parquet(users_path)
        drop = users.get_column(CUSTOMER).is_in(ids.implode()).fill_null(False)
        if not drop.any():
            continue
        model_path = users_path.with_name("model.npz")  # none for popularity baselines
        if model_path.is_file():
            with np.load(model_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            factors = arrays.get("user_factors")  # item-item models hold no customer rows
            if factors is not None:
                if factors.shape[0] != users.height:
                    raise OffersError(
                        f"{model_path}: {factors.shape[0]} user factor rows but {users.height} "
                        "customers in users.parquet; cannot remove customers consistently"
                    )
                arrays["user_factors"] = factors[(~drop).to_numpy()]
                with _prepared(model_path, files).open("wb") as handle:
                    np.savez(handle, **arrays)
        users.filter(~drop).write_parquet(_prepared(users_path, files))
        result.model_rows += int(drop.sum())
        result.model_files += 1
        found.update(users.filter(drop).get_column(CUSTOMER).to_list())
    for prepared, _ in files:
        _fsync(prepared)
    return found


def _prepared(final: Path, files: list[tuple[Path, Path]]) -> Path:
    """The path of the file prepared to replace ``final`` after the commit (remembered)."""
    files.append((final.with_name(f"{_PART}{final.name}"), final))
    return files[-1][0]


def _fsync(path: Path) -> Path:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return path


def _stage_exports(
    exports_dir: Path, ids: pl.Series, result: Erasure, now: dt.datetime
) -> set[str]:
    """Stage a filtered copy of every run folder that holds the customers, as a new run folder
    (``runs/<forget run>-<n>``, verified; nothing links to it yet); the ids found."""
    runs = exports_dir / RUNS
    found: set[str] = set()
    if not runs.is_dir():
        return found
    for folder in sorted(runs.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        new = f"{result.run_id}-{len(result.exports) + 1}"
        staged = _filter_export(folder, runs / f"{TMP}{new}", ids, found)
        if staged is None:
            continue
        removed, manifest = staged
        result.exports[folder.name] = new
        erasure = {"replaces": folder.name, "run_id": result.run_id, "at": now.isoformat()}
        manifest.update(run_id=new, erasures=[*manifest.get("erasures", []), erasure])
        _finish_stage(runs, new, manifest)
        result.export_rows += removed
    return found


def _filter_export(
    folder: Path, staging: Path, ids: pl.Series, found: set[str]
) -> tuple[int, dict[str, Any]] | None:
    """Write the manifest's files without the customers to ``staging``; (rows removed, the new
    manifest), or None (nothing staged) when no file holds them."""
    if not (folder / MANIFEST).is_file():
        raise OffersError(f"{folder} has no {MANIFEST}: cannot rewrite it; nothing was erased")
    manifest = json.loads((folder / MANIFEST).read_text())
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    removed, entries = 0, []
    try:
        for entry in manifest["files"]:
            src, dst = folder / entry["file"], staging / entry["file"]
            if entry.get("format") == serving.FORMAT:
                n, entry, kept = *_filter_serving(src, dst, entry, ids, found), None
            else:
                n, kept = _filter_file(src, dst, ids, found)
            removed += n
            path = _fsync(staging / entry["file"])
            new = {**entry, "bytes": path.stat().st_size}
            if "rows" in entry:  # a table (not the run report)
                new["rows"] = entry["rows"] - n
            new["sha256"] = sha256_file(path)
            if "customers" in entry and kept is not None:
                new["customers"] = kept.get_column(CUSTOMER).n_unique()
            entries.append(new)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if removed == 0:
        shutil.rmtree(staging, ignore_errors=True)
        return None
    return removed, {**manifest, "files": entries}


def _filter_file(
    src: Path, dst: Path, ids: pl.Series, found: set[str]
) -> tuple[int, pl.DataFrame | None]:
    """Copy ``src`` to ``dst`` without the customers' rows; (rows removed, rows kept). CSV is
    read as text and written back in the same dialect (refused unless that is byte-faithful);
    a file without a customer_id column, or without the customers, is copied as it is."""
    if src.suffix not in (".csv", ".parquet"):  # the run report: counts, no customer rows
        shutil.copyfile(src, dst)
        return 0, None
    csv = src.suffix == ".csv"
    data = src.read_bytes() if csv else b""
    frame = pl.read_csv(data, infer_schema=False) if csv else pl.read_parquet(src)
    if CUSTOMER not in frame.columns:
        shutil.copyfile(src, dst)
        return 0, None
    drop = frame.get_column(CUSTOMER).is_in(ids.implode()).fill_null(False)
    if not drop.any():
        shutil.copyfile(src, dst)
        return 0, frame
    found.update(frame.filter(drop).get_column(CUSTOMER).unique().to_list())
    kept = frame.filter(~drop)
    if csv:
        if frame.write_csv().encode() != data:
            raise OffersError(f"{src}: cannot rewrite this CSV byte for byte; nothing was erased")
        dst.write_bytes(kept.write_csv().encode())
    else:
        kept.write_parquet(dst, statistics=True)
    return int(drop.sum()), kept


def _filter_serving(
    src: Path, dst: Path, entry: dict[str, Any], ids: pl.Series, found: set[str]
) -> tuple[int, dict[str, Any]]:
    """The serving copy (``serving.duckdb``, ``flows.serving``) without the customers: every
    table holding customer_id filtered and the database written anew (a DELETE in place could
    leave their rows in the file's free blocks); (rows removed, its manifest entry with the
    tables' new row counts). Copied as it is when it does not hold them."""
    tables = serving.read(src)
    removed = 0
    for name, frame in tables.items():
        if CUSTOMER not in frame.columns:
            continue
        drop = frame.get_column(CUSTOMER).is_in(ids.implode()).fill_null(False)
        found.update(frame.filter(drop).get_column(CUSTOMER).unique().to_list())
        removed += int(drop.sum())
        tables[name] = frame.filter(~drop)
    if removed == 0:
        shutil.copyfile(src, dst)
        return 0, entry
    return removed, {**entry, "tables": serving.write(dst, tables)}


def _finish_stage(runs: Path, new: str, manifest: dict[str, Any]) -> None:
    """Write the manifest, fsync, rename ``.tmp-<new>`` to ``<new>`` and verify it."""
    staging, final = runs / f"{TMP}{new}", runs / new
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
    _write_atomic(staging / MANIFEST, text.encode())
    publish._fsync_dir(staging)
    os.rename(staging, final)
    publish._fsync_dir(runs)
    publish.verify(final)
