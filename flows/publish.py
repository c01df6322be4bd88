"""Deliver: versioned export files with a manifest, published atomically.

Layout under ``<home>/exports``::

    runs/<run_id>/shop.csv, shop.parquet, email.csv, email.parquet, manifest.json
    <as_of>   -> runs/<run_id>    (symlink: the list marketing pulls for that date)
    latest    -> runs/<run_id>    (symlink: the newest as-of date published)

A run writes its folder under ``runs/.tmp-<run_id>``, fsyncs it, renames it to
``runs/<run_id>`` and only then swaps the date link with an atomic ``os.replace``. A reader
therefore sees the previous complete export or the new complete export, never a partial one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from models import columns as C

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
RUNS = "runs"
LATEST = "latest"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(folder: Path, lists: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Write each channel as CSV and Parquet; return one manifest entry per file."""
    entries = []
    for channel, frame in sorted(lists.items()):
        frame = frame.select(*C.OFFER_COLUMNS)
        for fmt in ("csv", "parquet"):
            path = folder / f"{channel}.{fmt}"
            if fmt == "csv":
                frame.write_csv(path)
            else:
                frame.write_parquet(path, statistics=True)
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            entries.append(
                {
                    "file": path.name,
                    "channel": channel,
                    "format": fmt,
                    "rows": frame.height,
                    "customers": frame.get_column(C.CUSTOMER).n_unique(),
                    "bytes": path.stat().st_size,
                    "sha256": sha256_file(path),
                }
            )
    return entries


def _swap_link(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _linked_run(link: Path) -> str | None:
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _read_manifest(link: Path) -> dict[str, Any] | None:
    path = link / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def publish(
    exports_dir: Path,
    *,
    run_id: str,
    as_of: dt.date,
    lists: dict[str, pl.DataFrame],
    manifest: dict[str, Any],
) -> Path:
    """Write a complete export for ``as_of`` and make it visible atomically; return its link."""
    runs = exports_dir / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    staging = runs / f".tmp-{run_id}"
    final = runs / run_id
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        files = write_files(staging, lists)
        body = {"format_version": FORMAT_VERSION, **manifest, "files": files}
        (staging / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True, default=str))
        _fsync_dir(staging)
        os.rename(staging, final)
        _fsync_dir(runs)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    date_link = exports_dir / as_of.isoformat()
    previous = _linked_run(date_link)
    _swap_link(date_link, f"{RUNS}/{run_id}")
    latest = exports_dir / LATEST
    current = _read_manifest(latest) if latest.is_symlink() else None
    if current is None or str(current.get("as_of")) <= as_of.isoformat():
        _swap_link(latest, f"{RUNS}/{run_id}")
    _fsync_dir(exports_dir)
    if previous and previous != run_id and previous != _linked_run(latest):
        shutil.rmtree(runs / previous, ignore_errors=True)
    return date_link


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
