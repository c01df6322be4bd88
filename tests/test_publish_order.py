"""Publish order: stage and verify the export, commit, then swap the links, then delete.

A failure is injected at each step of a real nightly run on a copy of a published home. After
it (and after the recovery the design promises), ``exports/latest`` is a complete export that
verifies and is the run the committed ``offers`` table publishes for its newest date, and no
``.tmp-`` folder is left.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END, rows

import flows.delivery
from flows import db
from flows import publish as P
from flows.errors import DiskFullError
from flows.nightly import nightly

pytestmark = pytest.mark.usefixtures("prefect_server")

CONFIG = "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"


def newest_published(home: Path) -> tuple[str, str]:
    """(run_id, model_version) of the committed offers of the newest as-of date."""
    found = rows(
        home / "offers.duckdb",
        "select distinct run_id, model_version from offers "
        "where as_of = (select max(as_of) from offers)",
    )
    assert len(found) == 1
    return found[0]


def assert_latest_follows_the_database(home: Path) -> dict:
    exports = home / "exports"
    manifest = P.verify(exports / "latest")
    assert (manifest["run_id"], manifest["model_version"]) == newest_published(home)
    assert P.linked_run(exports / END.isoformat()) == manifest["run_id"]
    assert not [p.name for p in (exports / "runs").iterdir() if p.name.startswith(".tmp-")]
    assert not (home / ".spool").exists()  # the run's spooled lists went with it
    return manifest


def run_folders(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "exports" / "runs").iterdir())


@pytest.fixture(scope="module")
def base(small_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A home with one published run (gate off, a small ALS: fast)."""
    home = tmp_path_factory.mktemp("order") / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    summary = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert summary["status"] == "succeeded"
    return {"home": home, "source": str(small_shop), "run_id": summary["run_id"]}


@pytest.fixture
def home(base: dict, tmp_path: Path) -> Path:
    """A private copy of the published home (links copied as links)."""
    copy = tmp_path / "home"
    shutil.copytree(base["home"], copy, symlinks=True)
    assert P.linked_run(copy / "exports" / "latest") == base["run_id"]
    return copy


def rerun(home: Path, base: dict) -> dict:
    return nightly(as_of=END, home=str(home), source=base["source"])


def assert_nothing_changed(home: Path, base: dict) -> None:
    """The failed run left the previous export live and the database on the previous run."""
    assert newest_published(home)[0] == base["run_id"]
    assert assert_latest_follows_the_database(home)["run_id"] == base["run_id"]
    assert run_folders(home) == [base["run_id"]]
    status = rows(home / "offers.duckdb", "select status from runs order by started_at")
    assert status == [("succeeded",), ("failed",)]


def test_failure_while_writing_files(home, base, monkeypatch):
    real = pl.DataFrame.write_csv

    def disk_full(self, path=None, *args, **kwargs):
        if f"{os.sep}.tmp-" in str(getattr(path, "name", path)):
            if hasattr(path, "write"):  # the wide file is written block by block to a handle
                path.write(b"customer_id,ra")
            else:
                Path(path).write_text("customer_id,ra")
            raise OSError(28, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_csv", disk_full)
    killed = home / ".spool" / "run-killed-mid-offer"  # parts a killed run left behind
    killed.mkdir(parents=True)
    (killed / "shop-00000.parquet").write_bytes(b"PAR1")
    with pytest.raises(DiskFullError, match="no space left writing") as info:
        rerun(home, base)
    assert info.value.exit_code == 9 and isinstance(info.value.__cause__, OSError)
    assert_nothing_changed(home, base)


def test_failure_in_verify(home, base, monkeypatch):
    real = P.verify

    def bit_flip(export: Path) -> dict:
        shop = export / "shop.csv"
        shop.write_text(shop.read_text().replace(",", ";", 1))
        return real(export)

    monkeypatch.setattr(P, "verify", bit_flip)
    with pytest.raises(ValueError, match="checksum does not match"):
        rerun(home, base)
    monkeypatch.undo()
    assert_nothing_changed(home, base)


def test_failure_at_commit(home, base, monkeypatch):
    staged: list[str] = []
    real_stage = flows.delivery.stage

    def stage(exports_dir, run_id, *args, **kwargs):
        staged.append(run_id)
        return real_stage(exports_dir, run_id, *args, **kwargs)

    @contextmanager
    def commit_fails(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        if staged:  # the publish transaction: the commit fails, nothing is committed
            raise duckdb.IOException("could not write the WAL: disk full")
        con.commit()

    monkeypatch.setattr(flows.delivery, "stage", stage)
    monkeypatch.setattr(db, "transaction", commit_fails)
    with pytest.raises(duckdb.IOException, match="disk full"):
        rerun(home, base)
    assert len(staged) == 1
    assert_nothing_changed(home, base)
    models = rows(home / "offers.duckdb", "select path from model_versions")
    assert sorted(p.name for p in (home / "models").iterdir()) == sorted(
        Path(p).name for (p,) in models
    )


def test_one_failed_link_swap_is_repaired_by_the_run_itself(home, base, monkeypatch):
    real = P._swap_link
    calls: list[str] = []

    def swap(link: Path, run_id: str) -> None:
        calls.append(link.name)
        if len(calls) == 2:  # the date link moved; latest does not
            raise OSError(5, "Input/output error")
        real(link, run_id)

    monkeypatch.setattr(P, "_swap_link", swap)
    summary = rerun(home, base)
    assert summary["status"] == "succeeded"
    assert calls == [END.isoformat(), "latest", "latest"]
    assert assert_latest_follows_the_database(home)["run_id"] == summary["run_id"]
    assert run_folders(home) == [summary["run_id"]]  # the superseded folder went too


def test_persistent_link_swap_failure_is_repaired_by_the_next_run(home, base, monkeypatch):
    def broken(link: Path, run_id: str) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(P, "_swap_link", broken)
    with pytest.raises(OSError, match="Read-only"):
        rerun(home, base)
    monkeypatch.undo()
    committed, _ = newest_published(home)
    assert committed != base["run_id"]  # the offers are committed; the links lag behind
    assert P.linked_run(home / "exports" / "latest") == base["run_id"]
    dead = home / "exports" / "runs" / ".tmp-19990101T000000Z-dead00"  # a killed run's
    dead.mkdir()
    (dead / "shop.csv").write_text("customer_id,rank")
    os.utime(dead, (0, 0))

    empty = home.parent / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="missing source file"):  # fails after reconcile
        nightly(as_of=END, home=str(home), source=str(empty))
    assert assert_latest_follows_the_database(home)["run_id"] == committed
    assert run_folders(home) == [committed]
    (summary,) = rows(
        home / "offers.duckdb", "select summary from runs order by started_at desc limit 1"
    )[0]
    assert f"latest -> runs/{committed}" in summary


def test_failure_deleting_the_superseded_folder_leaves_the_new_export_live(home, base, monkeypatch):
    real = shutil.rmtree
    superseded = home / "exports" / "runs" / base["run_id"]

    def busy(path, *args, **kwargs):
        if Path(path) == superseded:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", busy)
    summary = rerun(home, base)
    monkeypatch.undo()
    assert summary["status"] == "succeeded"
    assert assert_latest_follows_the_database(home)["run_id"] == summary["run_id"]
    assert superseded.is_dir()  # left over, harmless; the next reconcile removes it
    published = dict(rows(home / "offers.duckdb", "select distinct as_of, run_id from offers"))
    result = P.reconcile(home / "exports", published)
    assert result.removed == [f"runs/{base['run_id']}"]
    assert run_folders(home) == [summary["run_id"]]
