"""Publishing: complete exports appear atomically, with a manifest that proves their content."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
from helpers import EXPORT_CATALOGUE, offer_lists

from flows import publish as P
from models import columns as C

DAY = dt.date(2025, 6, 1)


def stage(exports: Path, run_id: str, as_of: dt.date, lists: dict, manifest: dict) -> Path:
    return P.stage(exports, run_id, as_of, lists, manifest, catalogue=EXPORT_CATALOGUE)


def run(exports: Path, run_id: str, as_of: dt.date = DAY, n: int = 4, tag: str = "") -> Path:
    """Stage and activate, as a run does around its commit."""
    stage(exports, run_id, as_of, offer_lists(n, tag), {"model_version": "m1"})
    return P.activate(exports, run_id, as_of)


def test_export_holds_both_formats_and_a_manifest_that_matches(tmp_path):
    exports = tmp_path / "exports"
    link = run(exports, "run-1")
    assert link == exports / "2025-06-01"
    assert os.readlink(link) == "runs/run-1"
    assert os.readlink(exports / "latest") == "runs/run-1"
    assert sorted(p.name for p in link.iterdir()) == [
        "email.csv",
        "email.parquet",
        "manifest.json",
        "serving.duckdb",
        "shop.csv",
        "shop.parquet",
    ]
    manifest = P.verify(link)
    assert manifest["format_version"] == 1
    assert manifest["model_version"] == "m1"
    entries = {e["file"]: e for e in manifest["files"]}
    # the CSV is wide (one row per customer), the Parquet long (one row per offer)
    assert entries["shop.csv"]["rows"] == 4 and entries["shop.csv"]["customers"] == 4
    assert entries["shop.csv"]["layout"] == "wide"
    assert entries["shop.parquet"]["rows"] == 12 and entries["shop.parquet"]["layout"] == "long"
    assert entries["email.parquet"]["rows"] == 4
    assert entries["shop.parquet"]["columns"] == list(C.OFFER_COLUMNS)
    for name, entry in entries.items():
        assert entry["sha256"] == P.sha256_file(link / name)
    assert (link / "email.csv").read_text().splitlines()[:2] == [
        "customer_id,segment,product_id_1,title_1,price_1,url_1,image_url_1,reason_1",
        "c0,active,p7,Seven,7.25,https://shop.example/p/p7,https://shop.example/img/p7.jpg,"
        "Because you viewed p1",
    ]
    assert pl.read_parquet(link / "shop.parquet").equals(offer_lists(4)[C.CHANNEL_SHOP])


def test_verify_detects_a_changed_file(tmp_path):
    link = run(tmp_path / "exports", "run-1")
    target = link.resolve() / "shop.csv"
    target.write_text(target.read_text().replace("p7", "p8"))
    with pytest.raises(ValueError, match=r"shop\.csv: checksum does not match"):
        P.verify(link)


def test_a_failed_write_leaves_the_previous_export_in_place(tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    run(exports, "run-1")
    before = (exports / "latest" / "manifest.json").read_text()

    real_write_csv = pl.DataFrame.write_csv
    calls = {"n": 0}

    def flaky_write_csv(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # email written, shop half-way: the disk fills up
            if hasattr(path, "write"):  # the wide file is written block by block to a handle
                path.write(b"customer_id,rank")
            else:
                Path(path).write_text("customer_id,rank")
            raise OSError(28, "No space left on device")
        return real_write_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_csv", flaky_write_csv)
    with pytest.raises(OSError, match="No space left"):
        run(exports, "run-2", n=5)
    assert os.readlink(exports / "latest") == "runs/run-1"
    assert os.readlink(exports / "2025-06-01") == "runs/run-1"
    assert (exports / "latest" / "manifest.json").read_text() == before
    assert sorted(p.name for p in (exports / "runs").iterdir()) == ["run-1"]
    P.verify(exports / "latest")


def test_rerun_replaces_the_day_and_backfill_does_not_move_latest(tmp_path):
    exports = tmp_path / "exports"
    run(exports, "run-1")
    run(exports, "run-2", tag="x")  # same day again: replaces, the old run folder goes
    assert os.readlink(exports / "2025-06-01") == "runs/run-2"
    assert sorted(p.name for p in (exports / "runs").iterdir()) == ["run-2"]
    older = DAY - dt.timedelta(days=3)
    run(exports, "run-3", as_of=older)  # a backfill of an older date
    assert os.readlink(exports / older.isoformat()) == "runs/run-3"
    assert os.readlink(exports / "latest") == "runs/run-2"
    manifest = json.loads((exports / "latest" / "manifest.json").read_text())
    assert manifest["as_of"] == "2025-06-01"
    assert pl.read_csv(exports / "latest" / "shop.csv")[C.CUSTOMER][0] == "c0x"


def folders(exports: Path) -> list[str]:
    return sorted(p.name for p in (exports / "runs").iterdir())


def test_a_staged_export_is_verified_but_not_linked_and_discard_removes_it(tmp_path):
    exports = tmp_path / "exports"
    run(exports, "run-1")
    staged = stage(exports, "run-2", DAY, offer_lists(5), {"model_version": "m2"})
    assert staged == exports / "runs" / "run-2"
    assert P.verify(staged)["run_id"] == "run-2"
    assert os.readlink(exports / "latest") == "runs/run-1"
    assert os.readlink(exports / "2025-06-01") == "runs/run-1"
    P.discard(exports, "run-2")
    assert folders(exports) == ["run-1"]
    P.discard(exports, "run-1")  # linked: kept
    assert folders(exports) == ["run-1"]
    with pytest.raises(ValueError, match="not a run id"):
        P.discard(exports, "..")


def test_a_failed_verify_leaves_nothing_staged(tmp_path, monkeypatch):
    exports = tmp_path / "exports"

    def corrupted(export: Path) -> dict:
        raise ValueError(f"{export}: checksum does not match the manifest")

    monkeypatch.setattr(P, "verify", corrupted)
    with pytest.raises(ValueError, match="checksum does not match"):
        stage(exports, "run-1", DAY, offer_lists(2), {})
    assert folders(exports) == []


def test_reconcile_points_the_links_at_what_the_database_publishes(tmp_path):
    exports = tmp_path / "exports"
    nxt = DAY + dt.timedelta(days=1)
    run(exports, "run-1")
    run(exports, "run-2", as_of=nxt)
    stage(exports, "run-3", nxt, offer_lists(5), {})  # committed, then the link swap failed
    dead = exports / "runs" / ".tmp-run-0"  # a run killed while writing
    dead.mkdir()
    (dead / "shop.csv").write_text("customer_id")
    result = P.reconcile(exports, {DAY: "run-1", nxt: "run-3"})
    assert result.changed == ["2025-06-02 -> runs/run-3", "latest -> runs/run-3"]
    assert result.removed == ["runs/.tmp-run-0", "runs/run-2"]
    assert result.problems == {}
    assert os.readlink(exports / "latest") == "runs/run-3"
    assert os.readlink(exports / "2025-06-01") == "runs/run-1"
    assert folders(exports) == ["run-1", "run-3"]
    assert P.reconcile(exports, {DAY: "run-1", nxt: "run-3"}) == P.Reconciled()


def test_reconcile_only_links_exports_that_verify_and_are_that_run(tmp_path):
    exports = tmp_path / "exports"
    nxt = DAY + dt.timedelta(days=1)
    run(exports, "run-1")
    stage(exports, "run-2", nxt, offer_lists(3), {})
    shop = exports / "runs" / "run-2" / "shop.csv"
    shop.write_text(shop.read_text() + "c9,4,p1,0.1,als\n")
    result = P.reconcile(exports, {DAY: "run-1", nxt: "run-2"})
    assert result.changed == []
    assert set(result.problems) == {"2025-06-02", "latest"}
    assert "checksum does not match" in result.problems["latest"]
    assert os.readlink(exports / "latest") == "runs/run-1"
    assert not (exports / "2025-06-02").exists()
    assert folders(exports) == ["run-1", "run-2"]  # published: kept for an engineer to see
    # a folder whose manifest is another date's is not linked either
    result = P.reconcile(exports, {nxt: "run-1"})
    assert "manifest names run run-1 of 2025-06-01" in result.problems["2025-06-02"]


def test_reconcile_keeps_latest_on_the_newest_published_date_and_recent_leftovers(tmp_path):
    exports = tmp_path / "exports"
    older = DAY - dt.timedelta(days=3)
    run(exports, "run-1")
    run(exports, "run-2", as_of=older)  # a backfill: latest stays
    assert os.readlink(exports / "latest") == "runs/run-1"
    fresh = exports / "runs" / ".tmp-run-3"
    fresh.mkdir()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    result = P.reconcile(exports, {DAY: "run-1", older: "run-2"}, older_than=old)
    assert result == P.Reconciled()
    assert os.readlink(exports / "latest") == "runs/run-1"
    assert fresh.is_dir()  # newer than the cut-off: not a dead run's leftover


def test_activate_refuses_a_folder_that_was_not_staged(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no staged export"):
        P.activate(tmp_path / "exports", "run-9", DAY)
