"""The serving copy: the shop reads ``exports/latest/serving.duckdb``, never the job's database.

A reader process holding the copy open read-only does not stop a nightly run; after reopening
it sees the new night. The copy holds what the Parquet files hold, is checksummed like them,
and an erasure rewrites it without the customer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END

from flows import forget as erasure
from flows import publish as P
from flows import serving
from flows.nightly import nightly
from models import columns as C

CONFIG = "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
FIRST = END - dt.timedelta(days=7)  # the first night; the reader test runs END on a copy

# Holds one read-only connection on argv[1] (exports/latest/serving.duckdb) and queries one
# customer's shop list in a loop until argv[3] exists; counts the queries answered while the
# file it opened (argv[4]) had been deleted; then reopens the same path and prints the night
# it sees now and that customer's list. Any error ends it with a traceback and exit 1.
READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    path, customer, stop, opened = sys.argv[1:5]
    LIST = "select * from shop where customer_id = $c order by rank"
    META = "select run_id, cast(as_of as varchar) from meta"
    con = duckdb.connect(path, read_only=True)
    first = con.sql(META).fetchall()[0]
    print(json.dumps({"opened": first}), flush=True)
    queries = after_delete = 0
    while not os.path.exists(stop):
        assert con.sql(META).fetchall()[0] == first, "an open connection changed night"
        assert con.sql(LIST, params={"c": customer}).fetchall(), "no list"
        queries += 1
        after_delete += not os.path.exists(opened)
        time.sleep(0.01)
    con.close()
    con = duckdb.connect(path, read_only=True)
    meta = con.sql(META).fetchall()[0]
    rows = con.sql(LIST, params={"c": customer}).fetchall()
    con.close()
    print(json.dumps({"queries": queries, "after_delete": after_delete, "meta": meta,
                      "rows": rows}), flush=True)
    """
)


@pytest.fixture(scope="module")
def published(
    small_shop: Path, tmp_path_factory: pytest.TempPathFactory, prefect_server: None
) -> dict:
    """One nightly run (gate off, a small ALS) on the small shop, as of a week before END."""
    home = tmp_path_factory.mktemp("serving") / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    summary = nightly(as_of=FIRST, home=str(home), source=str(small_shop))
    assert summary["status"] == "succeeded"
    export = (home / "exports" / "latest").resolve()
    return {"home": home, "source": small_shop, "summary": summary, "export": export}


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def test_a_reader_holding_the_copy_open_does_not_stop_the_run_and_reopens_to_the_new_night(
    published, tmp_path
):
    home = tmp_path / "home"
    shutil.copytree(published["home"], home, symlinks=True)
    latest = home / "exports" / "latest"
    old = latest.resolve()
    customer = pl.read_parquet(old / "shop.parquet").get_column(C.CUSTOMER)[0]
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(latest / serving.FILE), customer, str(stop),
         str(old / serving.FILE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None
        opened = json.loads(reader.stdout.readline() or "null")
        assert opened == {"opened": [published["summary"]["run_id"], FIRST.isoformat()]}, (
            reader.stderr.read() if reader.stderr else ""
        )
        summary = nightly(as_of=END, home=str(home), source=str(published["source"]))
        assert summary["status"] == "succeeded"
        assert reader.poll() is None  # still open, still reading the first night
        # the superseded folder goes (as a re-run of its date deletes it): the open file stays
        shutil.rmtree(old)
        time.sleep(0.3)
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["queries"] > 10 and seen["after_delete"] > 0
    assert seen["meta"] == [summary["run_id"], END.isoformat()]
    new = P.verify(latest)
    assert (new["run_id"], new["as_of"]) == (summary["run_id"], END.isoformat())
    want = pl.read_parquet(latest / "shop.parquet").filter(pl.col(C.CUSTOMER) == customer)
    assert want.height > 0
    assert [tuple(r) for r in seen["rows"]] == _plain(want).rows()


def test_the_copy_holds_the_parquet_files_table_for_table(published):
    export, summary = published["export"], published["summary"]
    manifest = P.verify(export)
    entry = next(f for f in manifest["files"] if f["file"] == serving.FILE)
    assert (entry["format"], entry["layout"]) == ("duckdb", "tables")
    assert not (export / f"{serving.FILE}.wal").exists()
    assert not os.access(export / serving.FILE, os.W_OK) or os.geteuid() == 0
    tables = serving.read(export / serving.FILE)
    parquets = {p.stem for p in export.glob("*.parquet")}
    assert C.CHANNEL_SHOP in parquets and "goes_with" in parquets
    assert set(tables) == parquets | {serving.META}
    for name in sorted(parquets):
        want = _plain(pl.read_parquet(export / f"{name}.parquet"))
        key = C.PRODUCT if name == "goes_with" else C.CUSTOMER
        got = tables[name]
        assert got.equals(want.sort(key, C.RANK)), name  # stored sorted by key, rank
        assert entry["tables"][name] == {"columns": want.columns, "rows": want.height}
    for channel in set(parquets) - {"goes_with"}:
        assert tables[channel].columns == list(C.OFFER_COLUMNS)
    assert tables[serving.META].to_dicts() == [
        {
            "run_id": summary["run_id"],
            "as_of": FIRST,
            "model_version": manifest["model_version"],
            "created_at": dt.datetime.fromisoformat(manifest["created_at"]),
        }
    ]
    con = duckdb.connect(str(export / serving.FILE), read_only=True)
    try:
        indexed = set(con.sql("select table_name from duckdb_indexes()").fetchall())
    finally:
        con.close()
    assert indexed == {(name,) for name in parquets}


def test_verify_catches_a_changed_serving_copy(published, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(published["export"], export)
    path = export / serving.FILE
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"serving\.duckdb: checksum does not match"):
        P.verify(export)


def test_forget_rewrites_the_copy_without_the_customer(published, tmp_path):
    exports = tmp_path / "exports"
    (exports / "runs").mkdir(parents=True)
    run_id = published["export"].name
    shutil.copytree(published["export"], exports / "runs" / run_id)
    before = serving.read(exports / "runs" / run_id / serving.FILE)
    customer = before[C.CHANNEL_SHOP].get_column(C.CUSTOMER)[0]
    ids = pl.Series(C.CUSTOMER, [customer, "NOBODY"])
    result = erasure.Erasure(run_id="forget-1", customers=2)

    found = erasure._stage_exports(exports, ids, result, dt.datetime(2025, 6, 2))

    assert found == {customer} and result.exports == {run_id: "forget-1-1"}
    folder = exports / "runs" / "forget-1-1"
    manifest = P.verify(folder)  # re-checksummed
    after = serving.read(folder / serving.FILE)
    assert set(after) == set(before)
    entry = next(f for f in manifest["files"] if f["file"] == serving.FILE)
    removed = 0
    for name, frame in before.items():
        if C.CUSTOMER in frame.columns:
            want = frame.filter(pl.col(C.CUSTOMER) != customer)
            removed += frame.height - want.height
        else:
            want = frame
        assert after[name].equals(want), name
        assert entry["tables"][name]["rows"] == want.height
    assert customer.encode() not in (folder / serving.FILE).read_bytes()  # written anew
    old = next(f for f in P.verify(published["export"])["files"] if f["file"] == serving.FILE)
    assert removed > 0 and entry["rows"] == old["rows"] - removed
    con = duckdb.connect(str(folder / serving.FILE), read_only=True)
    try:
        assert con.sql("select count(*) from duckdb_indexes()").fetchall()[0] == (
            len(before) - 1,  # every table but meta
        )
    finally:
        con.close()


def test_the_copy_is_sorted_whatever_order_the_frames_come_in(tmp_path):
    shop = pl.DataFrame(
        {C.CUSTOMER: ["c2", "c1", "c2", "c1"], C.RANK: [2, 2, 1, 1], C.PRODUCT: list("wxyz")},
        schema_overrides={C.RANK: pl.Int32, C.PRODUCT: pl.Categorical},
    )
    meta = serving.meta_frame("r1", END, {"model_version": "m1"})
    path = tmp_path / serving.FILE
    described = serving.write(path, {C.CHANNEL_SHOP: shop, serving.META: meta})
    assert described[C.CHANNEL_SHOP] == {"columns": shop.columns, "rows": 4}
    tables = serving.read(path)
    assert tables[C.CHANNEL_SHOP].rows() == [
        ("c1", 1, "z"), ("c1", 2, "x"), ("c2", 1, "y"), ("c2", 2, "w"),
    ]  # fmt: skip
    assert tables[serving.META].select("run_id", "as_of", "model_version").rows() == [
        ("r1", END, "m1")
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [serving.FILE]  # no .wal
    with pytest.raises(FileExistsError):
        serving.write(path, {serving.META: meta})
