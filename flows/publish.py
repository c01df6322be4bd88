"""Deliver: versioned export files with a manifest, published atomically.

Layout under ``<home>/exports``::

    runs/<run_id>/shop.csv, shop.parquet, email.csv, email.parquet, manifest.json
                  (<channel>.csv: wide, one row per customer, for email tools;
                   <channel>.parquet: long, one row per offer; see flows/exports.py;
                   serving.duckdb: the same lists as DuckDB tables for the shop, flows/serving.py)
    <as_of>   -> runs/<run_id>    (symlink: the list marketing pulls for that date)
    latest    -> runs/<run_id>    (symlink: the newest as-of date published)

Publishing is split around the database commit (the database is the source of truth):

- ``stage`` writes ``runs/.tmp-<run_id>``, fsyncs it, renames it to ``runs/<run_id>`` and
  verifies it against its manifest (before the commit; nothing links to it yet);
- ``discard`` removes a staged folder when the commit fails;
- ``activate`` swaps the date link (and ``latest``, unless this is a backfill) with an atomic
  ``os.replace``, then deletes the run folder the date link superseded (after the commit);
- ``reconcile`` makes the links follow what the database says is published, and removes
  leftovers of runs that died half-way.

A reader therefore sees the previous complete export or the new complete export, never a
partial one, and never an export whose offers were rolled back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from flows import serving
from flows.manifest import (
    MANIFEST,
    long_files,
    plain_name,
    sha256_file,
    write_extra,
    write_files,
    write_serving,
    write_tables,
)
from flows.spool import Lists, as_lists

FORMAT_VERSION = 1
RUNS = "runs"
LATEST = "latest"
TMP = ".tmp-"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_run_id(name: str | None) -> bool:
    """A run id is a plain folder name under ``runs/``: not ``..``, a path or a temp name."""
    return plain_name(name)


def _check_run_id(run_id: str) -> str:
    if not _is_run_id(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return run_id


def _swap_link(link: Path, run_id: str) -> None:
    """Point ``link`` at ``runs/<run_id>`` atomically: a new link renamed over the old one."""
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(f"{RUNS}/{run_id}")
    os.replace(tmp, link)


def linked_run(link: Path) -> str | None:
    """The run folder ``link`` points at, or None when it is not a link."""
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _referenced(exports_dir: Path) -> set[str]:
    """Run folders that a link (a date or ``latest``) points at."""
    if not exports_dir.is_dir():
        return set()
    names = (linked_run(p) for p in exports_dir.iterdir() if not p.name.startswith("."))
    return {name for name in names if name}


def _shown_as_of(link: Path) -> str | None:
    """The as-of date of the export ``link`` shows; None if there is none or it is unreadable."""
    try:
        return str(json.loads((link / MANIFEST).read_text())["as_of"])
    except (OSError, ValueError, KeyError):
        return None


def stage(
    exports_dir: Path,
    run_id: str,
    as_of: dt.date,
    lists: Lists | Mapping[str, pl.DataFrame],
    manifest: dict[str, Any],
    tables: dict[str, pl.DataFrame] | None = None,
    *,
    catalogue: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    slots: dict[str, int] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write the complete export of ``run_id`` to ``runs/<run_id>``, verified; return the folder.

    ``tables``: other files of the export besides the channel lists (``goes_with``).
    ``catalogue``, ``customers``, ``slots``: what the wide channel files show (``write_files``).
    ``extra_files``: other files by name, written as given and checksummed (the run report).

    The files are written to ``runs/.tmp-<run_id>`` and fsynced, the folder is renamed, and its
    checksums are re-read against the manifest (which records ``run_id`` and ``as_of``). No link
    points at it yet. On any error nothing of this run is left behind.
    """
    lists = as_lists(lists)
    runs = exports_dir / RUNS
    staging = runs / f"{TMP}{_check_run_id(run_id)}"
    final = runs / run_id
    runs.mkdir(parents=True, exist_ok=True)
    if final.exists() or final.is_symlink():
        raise FileExistsError(f"{final} already exists: run ids are unique")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = write_files(
            staging, lists, catalogue=catalogue, customers=customers, slots=slots
        ) + write_tables(staging, tables or {})
        files += write_extra(staging, extra_files or {})
        meta = serving.meta_frame(run_id, as_of, manifest)
        long = long_files(staging, lists.channels)
        files.append(write_serving(staging, long, tables or {}, meta))
        body = {
            "format_version": FORMAT_VERSION,
            **manifest,
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "files": files,
        }
        with (staging / MANIFEST).open("w") as handle:
            handle.write(json.dumps(body, indent=2, sort_keys=True, default=str))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(staging)
        os.rename(staging, final)
        _fsync_dir(runs)
        verify(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    return final


def discard(exports_dir: Path, run_id: str) -> None:
    """Remove what ``stage`` wrote for ``run_id`` (its commit failed); best effort.

    A folder that a link points at is never removed. Whatever cannot be removed here is an
    orphan that the next ``reconcile`` removes.
    """
    runs = exports_dir / RUNS
    shutil.rmtree(runs / f"{TMP}{_check_run_id(run_id)}", ignore_errors=True)
    if run_id not in _referenced(exports_dir):
        shutil.rmtree(runs / run_id, ignore_errors=True)


def activate(exports_dir: Path, run_id: str, as_of: dt.date) -> Path:
    """Make the staged ``runs/<run_id>`` live for ``as_of``; return the date link.

    The date link moves to it; ``latest`` moves only if ``as_of`` is not older than the date
    ``latest`` shows (a backfill never moves it back). Then the run folder that the date link
    showed before is deleted, unless a link (``latest``) still points at it. Call it after the
    database committed; if it raises, ``reconcile`` repairs the links.
    """
    folder = exports_dir / RUNS / _check_run_id(run_id)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} holds no staged export")
    date_link = exports_dir / as_of.isoformat()
    previous = linked_run(date_link)
    _swap_link(date_link, run_id)
    latest = exports_dir / LATEST
    shown = _shown_as_of(latest)
    if shown is None or shown <= as_of.isoformat():
        _swap_link(latest, run_id)
    _fsync_dir(exports_dir)
    if _is_run_id(previous) and previous != run_id and previous not in _referenced(exports_dir):
        shutil.rmtree(exports_dir / RUNS / str(previous))
    return date_link


@dataclass
class Reconciled:
    """What ``reconcile`` did: links moved, folders removed, and what it could not fix."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # link or folder name -> why


def reconcile(
    exports_dir: Path,
    published: dict[dt.date, str],
    *,
    older_than: dt.datetime | None = None,
) -> Reconciled:
    """Make the links follow the committed database; ``published`` maps as-of date -> run id.

    Each published date's link points at its run and ``latest`` at the run of the greatest
    published date. A link moves only to a run folder that exists, verifies and whose manifest
    names that run and date; otherwise it stays as it is and the reason is reported. Links of
    dates the database does not publish are left alone. Then leftovers go: ``runs/.tmp-*``
    folders (a kill during publish leaves one) and run folders that no link points at and the
    database does not name, if last modified before ``older_than`` (naive means UTC; None: any).
    Only call it while holding the home (no other run may be publishing).
    """
    result = Reconciled()
    verified: set[str] = set()
    for as_of, run_id in sorted(published.items()):
        _follow(exports_dir, as_of.isoformat(), as_of, run_id, result, verified)
    if published:
        newest = max(published)
        _follow(exports_dir, LATEST, newest, published[newest], result, verified)
    if result.changed:
        _fsync_dir(exports_dir)
    _remove_leftovers(exports_dir, set(published.values()), older_than, result)
    return result


def _follow(
    exports_dir: Path,
    name: str,
    as_of: dt.date,
    run_id: str,
    result: Reconciled,
    verified: set[str],
) -> None:
    """Point the link ``name`` at ``runs/<run_id>`` if that export is complete and is that run."""
    link = exports_dir / name
    if linked_run(link) == run_id:
        if not (link / MANIFEST).is_file():
            result.problems[name] = f"points at {run_id}, whose export is missing"
        return
    try:
        if run_id not in verified:
            manifest = verify(exports_dir / RUNS / _check_run_id(run_id))
            named = (manifest.get("run_id"), manifest.get("as_of"))
            if named != (run_id, as_of.isoformat()):
                raise ValueError(f"its manifest names run {named[0]} of {named[1]}")
            verified.add(run_id)
        _swap_link(link, run_id)
    except (OSError, ValueError, KeyError) as exc:
        result.problems[name] = f"cannot point at {run_id}: {exc}"
        return
    result.changed.append(f"{name} -> {RUNS}/{run_id}")


def _remove_leftovers(
    exports_dir: Path, published: set[str], older_than: dt.datetime | None, result: Reconciled
) -> None:
    """Remove dead runs' ``.tmp-`` folders and run folders nothing links to or publishes."""
    runs = exports_dir / RUNS
    if not runs.is_dir():
        return
    if older_than is not None and older_than.tzinfo is None:
        older_than = older_than.replace(tzinfo=dt.UTC)
    cutoff = older_than.timestamp() if older_than is not None else None
    keep = _referenced(exports_dir) | published
    for folder in sorted(runs.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        if not folder.name.startswith(TMP) and folder.name in keep:
            continue
        if cutoff is not None and folder.stat().st_mtime >= cutoff:
            continue
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            result.problems[f"{RUNS}/{folder.name}"] = f"cannot remove: {exc}"
            continue
        result.removed.append(f"{RUNS}/{folder.name}")


def verify(export: Path) -> dict[str, Any]:
    """Re-read an export's manifest and check every file's size and sha256; return it."""
    manifest = json.loads((export / MANIFEST).read_text())
    for entry in manifest["files"]:
        path = export / entry["file"]
        if not path.is_file():
            raise ValueError(f"{export}: manifest lists {entry['file']} but it is missing")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise ValueError(f"{path}: checksum does not match the manifest")
    return manifest
