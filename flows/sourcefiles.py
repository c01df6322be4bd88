"""Incremental extract from a source folder: which files are new or changed since the last load.

Each loaded file is recorded in ``source_files`` (path relative to the source folder, size,
mtime in ns and a cheap fingerprint: sha256 of the size, the first and the last 64 KiB). The
next extract, per entity, skips files whose record matches and loads the others, keeping the
result of a full load:

- files apply in name order, later ones updating earlier ones: when a new or changed file sorts
  before a file that is loaded already, the entity is read again in full (all its files);
- a file gone from the folder loses its record; the rows it loaded stay (the merge never deletes
  source rows, on a full read either);
- the records are written in the extract transaction, so a failed load records nothing and the
  next run reads the same files again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from flows import contract, sqlfiles

EDGE = 64 * 1024  # bytes hashed at each end of a file


@dataclass(frozen=True)
class FileState:
    """One source file as found now."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    fingerprint: str

    def key(self) -> tuple[str, int, int, str]:
        return (self.rel, self.size, self.mtime_ns, self.fingerprint)


@dataclass(frozen=True)
class Plan:
    """What to read of one entity: ``load`` (in name order) and how many files are skipped."""

    load: list[Path]
    skipped: int
    states: list[FileState]


def fingerprint(path: Path, size: int) -> str:
    """sha256 of the size and the first and last 64 KiB: cheap, and it changes when an export
    is rewritten with other content even if size and mtime were kept."""
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(EDGE))
        if size > EDGE:
            handle.seek(max(EDGE, size - EDGE))
            digest.update(handle.read(EDGE))
    return digest.hexdigest()


def file_state(source_dir: Path, path: Path) -> FileState:
    stat = path.stat()
    return FileState(
        path=path,
        rel=path.relative_to(source_dir).as_posix(),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        fingerprint=fingerprint(path, stat.st_size),
    )


def source_key(source_dir: Path) -> str:
    """The source folder as stored beside its file records."""
    return str(source_dir.resolve())


def plan(
    con: duckdb.DuckDBPyConnection,
    source_dir: Path,
    entity: contract.Entity,
    files: list[Path],
    *,
    incremental: bool = True,
) -> Plan:
    """Which of ``files`` (in name order) to read; all of them when not ``incremental``."""
    states = [file_state(source_dir, p) for p in files]
    if not incremental:
        return Plan(load=list(files), skipped=0, states=states)
    recorded = {
        tuple(row)
        for row in sqlfiles.rows(
            con,
            "extract/get_source_files",
            {"source": source_key(source_dir), "entity": entity.name},
        )
    }
    known = [s.key() in recorded for s in states]
    todo = [i for i, k in enumerate(known) if not k]
    if not todo:
        return Plan(load=[], skipped=len(states), states=states)
    last_known = max((i for i, k in enumerate(known) if k), default=-1)
    seen_paths = {row[0] for row in recorded}
    rewritten = any(states[i].key()[0] in seen_paths for i in todo)
    # a new file sorting before a loaded one, or a loaded file rewritten (a row it dropped
    # must fall back to an earlier file's value): read all, so the result equals a full load
    if todo[0] < last_known or rewritten:
        return Plan(load=list(files), skipped=0, states=states)
    return Plan(load=[states[i].path for i in todo], skipped=len(states) - len(todo), states=states)


def record(
    con: duckdb.DuckDBPyConnection,
    source_dir: Path,
    entity: contract.Entity,
    states: list[FileState],
    *,
    run_id: str,
    loaded_at: dt.datetime,
) -> None:
    """Record the entity's files as loaded (inside the caller's transaction)."""
    sqlfiles.run(
        con,
        "extract/set_source_files",
        {
            "source": source_key(source_dir),
            "entity": entity.name,
            "paths": [s.rel for s in states],
            "sizes": [s.size for s in states],
            "mtimes": [s.mtime_ns for s in states],
            "fingerprints": [s.fingerprint for s in states],
            "run_id": run_id,
            "loaded_at": loaded_at,
        },
    )
