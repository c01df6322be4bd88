"""Publishing: complete exports appear atomically, with a manifest that proves their content."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from flows import publish as P
from models import columns as C

DAY = dt.date(2025, 6, 1)


def lists(n_customers: int, tag: str = "") -> dict[str, pl.DataFrame]:
    shop = pl.DataFrame(
        {
            C.CUSTOMER: [f"c{i}{tag}" for i in range(n_customers) for _ in range(3)],
            C.RANK: [r for _ in range(n_customers) for r in (1, 2, 3)],
            C.PRODUCT: [f"p{r}" for _ in range(n_customers) for r in (7, 3, 5)],
            C.SCORE: [0.9, 0.5, 0.25] * n_customers,
            C.SOURCE: [C.SOURCE_MODEL, C.SOURCE_MODEL, C.SOURCE_FILL] * n_customers,
        },
        schema_overrides={C.RANK: pl.Int32},
    )
    return {C.CHANNEL_SHOP: shop, C.CHANNEL_EMAIL: shop.filter(pl.col(C.RANK) == 1)}


def run(exports: Path, run_id: str, as_of: dt.date = DAY, n: int = 4, tag: str = "") -> Path:
    return P.publish(
        exports,
        run_id=run_id,
        as_of=as_of,
        lists=lists(n, tag),
        manifest={"run_id": run_id, "as_of": as_of.isoformat(), "model_version": "m1"},
    )


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
        "shop.csv",
        "shop.parquet",
    ]
    manifest = P.verify(link)
    assert manifest["format_version"] == 1
    assert manifest["model_version"] == "m1"
    entries = {e["file"]: e for e in manifest["files"]}
    assert entries["shop.csv"]["rows"] == 12 and entries["shop.csv"]["customers"] == 4
    assert entries["email.parquet"]["rows"] == 4
    for name, entry in entries.items():
        assert entry["sha256"] == P.sha256_file(link / name)
    assert (link / "email.csv").read_text().splitlines()[:2] == [
        "customer_id,rank,product_id,score,source",
        "c0,1,p7,0.9,als",
    ]
    assert pl.read_parquet(link / "shop.parquet").equals(lists(4)[C.CHANNEL_SHOP])


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
