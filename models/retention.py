"""Retention: which export run folders, date links and stored model versions may go.

Storage would otherwise grow every night (a run folder per run, a model folder per registered
version). ``plan`` decides what to delete from plain descriptions of what is stored; it reads
and deletes nothing (``flows/retention.py`` does the I/O). The rules:

* **Run folders** (``exports/runs/<run_id>``) are ordered newest first by their as-of date, then
  their creation time, then run id (descending: a fixed order for ties). The first
  ``keep_exports`` are kept. Of the rest every one is deleted except the one ``latest`` points
  to and any run named in ``protect`` (the run that was just published).
* **Date links** (every link but ``latest``) that point at a deleted run folder are deleted
  with it. ``latest`` itself is never deleted.
* **Model versions** still stored (status not ``pruned``) are ordered newest first by
  ``created_at``, then version (descending). The first ``keep_models`` are kept. Of the rest a
  version is deleted only if its status is ``promoted`` or ``rejected`` (``rolled_back``, an
  engineer's decision, and ``pruned``, already gone, are left alone), it is not pinned and it
  is not the version in charge now.
* ``keep_exports = 0`` or ``keep_models = 0`` keeps all of that kind.

The same inputs give the same plan whatever order they come in; each list in the plan is
sorted (run folders and versions oldest first, links by name).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

LATEST = "latest"
PRUNED = "pruned"
PRUNABLE = frozenset({"promoted", "rejected"})  # statuses whose files retention may delete


@dataclass(frozen=True)
class RunFolder:
    """One export run folder: its run id, the as-of date it publishes, when it was made."""

    run_id: str
    as_of: dt.date
    created: dt.datetime


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version as the registry describes it."""

    version: str
    as_of: dt.date
    created_at: dt.datetime
    status: str | None
    pinned: bool = False


@dataclass(frozen=True)
class Limits:
    """How much to keep: run folders and model versions (0: keep all)."""

    keep_exports: int = 7
    keep_models: int = 5

    def __post_init__(self) -> None:
        if self.keep_exports < 0 or self.keep_models < 0:
            raise ValueError("keep_exports and keep_models must be >= 0 (0: keep all)")


@dataclass(frozen=True)
class Plan:
    """What to delete: run folders (run ids), date links (names) and model versions."""

    run_folders: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    model_versions: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.run_folders or self.links or self.model_versions)


def _newest_first_runs(runs: Iterable[RunFolder]) -> list[RunFolder]:
    return sorted(runs, key=lambda r: (r.as_of, r.created, r.run_id), reverse=True)


def _newest_first_models(models: Iterable[ModelVersion]) -> list[ModelVersion]:
    return sorted(models, key=lambda m: (m.created_at, m.version), reverse=True)


def expired_runs(
    runs: Iterable[RunFolder],
    links: Mapping[str, str],
    keep: int,
    protect: Collection[str] = (),
) -> list[str]:
    """Run ids beyond the newest ``keep`` (0: none), never ``latest``'s or a protected one;
    oldest first."""
    if keep == 0:
        return []
    shown = links.get(LATEST)
    beyond = _newest_first_runs(runs)[keep:]
    gone = [r.run_id for r in beyond if r.run_id != shown and r.run_id not in protect]
    return gone[::-1]


def expired_links(links: Mapping[str, str], deleted_runs: Collection[str]) -> list[str]:
    """Date links (not ``latest``) that point at a deleted run folder, by name."""
    gone = set(deleted_runs)
    return sorted(name for name, run in links.items() if name != LATEST and run in gone)


def expired_models(models: Iterable[ModelVersion], in_charge: str | None, keep: int) -> list[str]:
    """Versions beyond the newest ``keep`` stored ones (0: none) that may be pruned: promoted
    or rejected, not pinned, not in charge; oldest first."""
    if keep == 0:
        return []
    stored = [m for m in models if m.status != PRUNED]
    beyond = _newest_first_models(stored)[keep:]
    gone = [
        m.version
        for m in beyond
        if m.status in PRUNABLE and not m.pinned and m.version != in_charge
    ]
    return gone[::-1]


def plan(
    runs: Iterable[RunFolder],
    links: Mapping[str, str],
    models: Iterable[ModelVersion],
    in_charge: str | None,
    limits: Limits,
    *,
    protect: Collection[str] = (),
) -> Plan:
    """What to delete (see the module docstring for the rules).

    ``links``: link name (an as-of date or ``latest``) -> the run id it points at;
    ``in_charge``: the version in charge now (None: none); ``protect``: run ids to keep
    whatever their age (the run that was just published).
    """
    doomed = expired_runs(runs, links, limits.keep_exports, protect)
    return Plan(
        run_folders=tuple(doomed),
        links=tuple(expired_links(links, doomed)),
        model_versions=tuple(expired_models(models, in_charge, limits.keep_models)),
    )
