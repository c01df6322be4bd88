"""Extract: validated, incremental, idempotent, all-or-nothing loading into DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END, snapshot, tiny_frames, ts, write_source

from flows.errors import SourceError
from flows.extract import extract

LOADED_AT = dt.datetime(2025, 4, 1)


def load(
    db: Path,
    source: Path,
    run_id: str = "r1",
    loaded_at: dt.datetime = LOADED_AT,
    incremental: bool = True,
):
    loads = extract(db, source, run_id=run_id, loaded_at=loaded_at, incremental=incremental)
    return {x.entity: x for x in loads}


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_generated_shop_loads_completely_and_twice_equals_once(small_shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    now = dt.datetime.combine(END, dt.time())
    first = load(db, small_shop, loaded_at=now)
    after_first = snapshot(db)
    # every file read again (tests/test_incremental_extract.py: skipping unchanged files)
    second = load(db, small_shop, run_id="r2", loaded_at=now, incremental=False)

    assert snapshot(db) == after_first
    for entity, stats in first.items():
        assert stats.quarantined == 0, (entity, stats.reasons)
        assert stats.inserted == stats.rows_read > 0
        assert len(after_first[entity]) == stats.rows_read
        again = second[entity]
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, stats.rows_read)
    log = query(db, "select run_id, entity, inserted from load_log order by run_id, entity")
    assert [r for r in log if r[0] == "r2"] == [
        ("r2", e, 0) for e in sorted(("customers", "products", "orders", "order_lines", "events"))
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tiny_shop_rows_arrive_typed(tmp_path, fmt):
    db = tmp_path / "offers.duckdb"
    load(db, write_source(tmp_path / "src", tiny_frames(), fmt))
    assert query(
        db, "select customer_id, email_consent, signup_date, country from customers order by 1"
    ) == [
        ("c1", True, dt.date(2025, 1, 1), "DE"),
        ("c2", False, dt.date(2025, 1, 1), "FR"),
        ("c3", True, dt.date(2025, 1, 1), None),
        ("c4", True, dt.date(2025, 3, 25), "GB"),
    ]
    assert query(
        db,
        "select product_id, stock, active, repurchase_interval_days from products "
        "where product_id in ('p4', 'p5') order by 1",
    ) == [
        ("p4", 100, True, 14),
        ("p5", 0, True, None),
    ]
    assert query(db, "select order_id, ordered_at, status from orders where order_id = 'o3'") == [
        ("o3", ts("2025-03-10 09:00:00"), "return")
    ]


def test_new_day_adds_only_new_rows_and_updates_changed_ones(tmp_path):
    frames = tiny_frames()
    source = write_source(tmp_path / "src", frames)
    db = tmp_path / "offers.duckdb"
    load(db, source)

    # the next day's drop: one event already delivered, two new; p1's stock changed
    day2 = pl.concat(
        [
            frames["events"].head(1),
            pl.DataFrame(
                {
                    "customer_id": ["c4", "c4"],
                    "product_id": ["p1", "p2"],
                    "event_type": ["view", "add_to_cart"],
                    "occurred_at": [ts("2025-03-26 10:00:00"), ts("2025-03-26 10:05:00")],
                    "session_id": ["s9", "s9"],
                }
            ),
        ]
    )
    (source / "events").mkdir()
    day2.write_csv(source / "events" / "2025-03-26.csv", datetime_format="%Y-%m-%d %H:%M:%S")
    (source / "products").mkdir()
    frames["products"].filter(pl.col("product_id") == "p1").with_columns(
        stock=pl.lit(0, pl.Int32)
    ).write_csv(source / "products" / "2025-03-26.csv")

    stats = load(db, source, run_id="r2")
    # events.csv was loaded before and is skipped: only the new day's file is read
    assert stats["events"].files_skipped == 1 and stats["events"].rows_read == 3
    assert (stats["events"].inserted, stats["events"].unchanged) == (2, 1)
    assert (stats["products"].updated, stats["products"].inserted) == (1, 0)
    assert query(db, "select count(*) from events") == [(8,)]
    assert query(db, "select stock from products where product_id = 'p1'") == [(0,)]
    assert query(db, "select count(*) from events where loaded_run = 'r2'") == [(2,)]


def test_bad_rows_are_quarantined_with_their_reason(tmp_path):
    frames = tiny_frames()
    frames["customers"] = pl.concat(
        [
            frames["customers"],
            pl.DataFrame(
                {
                    "customer_id": ["c1", None],  # c1 repeated with other values; no id
                    "email_consent": [False, True],
                    "signup_date": [dt.date(2025, 2, 2)] * 2,
                    "country": ["DE", "DE"],
                }
            ),
        ]
    )
    frames["orders"] = pl.concat(
        [
            frames["orders"],
            pl.DataFrame(
                {
                    "order_id": ["o8", "o9"],
                    "customer_id": ["c404", "c2"],
                    "ordered_at": [ts("2025-03-20 10:00:00"), ts("2025-05-01 10:00:00")],
                    "status": ["completed", "completed"],
                }
            ),
        ]
    )
    frames["events"] = pl.concat(
        [
            frames["events"],
            frames["events"].head(1),  # exact duplicate
            pl.DataFrame(
                {
                    "customer_id": ["c1", "c1"],
                    "product_id": ["p3", "p999"],
                    "event_type": ["purchase", "view"],
                    "occurred_at": [ts("2025-03-03 10:00:00")] * 2,
                    "session_id": ["s1", "s1"],
                }
            ),
        ]
    )
    db = tmp_path / "offers.duckdb"
    stats = load(db, write_source(tmp_path / "src", frames))

    assert stats["customers"].reasons == {"duplicate_key": 1, "missing_value:customer_id": 1}
    assert stats["orders"].reasons == {
        "unknown_reference:customer_id": 1,
        "future_timestamp:ordered_at": 1,
    }
    assert stats["events"].reasons == {
        "duplicate_row": 1,
        "unknown_value:event_type": 1,
        "unknown_reference:product_id": 1,
    }
    assert stats["events"].inserted == 6
    # a key repeated within one file: the first row is loaded, the repeat quarantined
    assert query(db, "select email_consent from customers where customer_id = 'c1'") == [(True,)]
    quarantined = query(
        db, "select entity, reason, source_row from quarantine where entity = 'orders' order by 3"
    )
    assert quarantined == [
        ("orders", "unknown_reference:customer_id", 6),
        ("orders", "future_timestamp:ordered_at", 7),
    ]
    # loading the same files again quarantines nothing new
    load(db, tmp_path / "src", run_id="r2")
    assert query(db, "select count(*) from quarantine") == [(7,)]


def test_values_are_not_silently_changed(tmp_path):
    frames = tiny_frames()
    source = write_source(tmp_path / "src", frames)
    lines = (source / "order_lines.csv").read_text().splitlines()
    assert lines[1] == "o1,1,p1,2,10.0"
    lines[1] = "o1,1,p1,1.5,10.0"  # a plain cast would round this to 2
    (source / "order_lines.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError, match=r"row 1, column 'quantity': value '1.5' is not"):
        load(tmp_path / "offers.duckdb", source)

    lines[1] = "o1,1,p1,2.0,10.0"  # a whole number written as 2.0 is fine
    (source / "order_lines.csv").write_text("\n".join(lines) + "\n")
    orders = (
        (source / "orders.csv")
        .read_text()
        .replace("2025-03-01 10:00:00", "2025-03-01 12:00:00+02:00")
    )
    (source / "orders.csv").write_text(orders)
    db = tmp_path / "offers.duckdb"
    load(db, source)
    assert query(db, "select quantity from order_lines where order_id = 'o1' order by line_no") == [
        (2,),
        (1,),
    ]
    # an offset is converted to UTC, not dropped
    assert query(db, "select ordered_at from orders where order_id = 'o1'") == [
        (ts("2025-03-01 10:00:00"),)
    ]


def test_a_database_held_by_another_process_is_a_clear_busy_error(tmp_path):
    import subprocess
    import sys

    from flows import db as dbmod
    from flows.errors import BusyError

    path = tmp_path / "offers.duckdb"
    dbmod.connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(BusyError, match="is open in another process"):
            dbmod.connect(path)
    finally:
        holder.kill()
        holder.wait()


def test_duckdb_limits_come_from_the_settings(tmp_path):
    from flows import db as dbmod

    dbmod.configure(memory_limit="300MB", threads=1)
    try:
        con = dbmod.connect(tmp_path / "offers.duckdb")
        limits = con.sql(
            "select current_setting('memory_limit'), current_setting('threads')"
        ).fetchall()
        con.close()
    finally:
        dbmod.configure()
    assert limits == [("286.1 MiB", 1)]
