"""Incremental extract: only files new or changed since the last load are read, and the result
equals a full load (flows/sourcefiles.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from helpers import rows, snapshot, tiny_frames, ts, write_source
from typer.testing import CliRunner

from flows.config import load_settings
from flows.errors import SourceError
from flows.extract import EntityLoad, extract

LOADED_AT = dt.datetime(2025, 4, 1)
DT = "%Y-%m-%d %H:%M:%S"


def load(db: Path, source: Path, run_id: str = "r1", incremental: bool = True):
    loads = extract(db, source, run_id=run_id, loaded_at=LOADED_AT, incremental=incremental)
    return {x.entity: x for x in loads}


def write_part(source: Path, entity: str, name: str, frame: pl.DataFrame) -> Path:
    folder = source / entity
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / name, datetime_format=DT)
    return folder / name


def new_events(n: int, day: str = "2025-03-20") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["c4"] * n,
            "product_id": [f"p{i % 8 + 1}" for i in range(n)],
            "event_type": ["view"] * n,
            "occurred_at": [ts(f"{day} 10:{i:02d}:00") for i in range(n)],
            "session_id": [f"s-{day}"] * n,
        }
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The tiny shop with its events as two part files (3 rows each)."""
    frames = tiny_frames()
    events = frames.pop("events")
    source = write_source(tmp_path / "src", frames)
    write_part(source, "events", "part-00000.csv", events.head(3))
    write_part(source, "events", "part-00001.csv", events.tail(3))
    return source


def recorded(db: Path) -> list[tuple]:
    return rows(db, "select entity, path from source_files order by entity, path")


def test_nothing_new_reads_nothing_and_changes_nothing(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    first = load(db, shop)
    assert first["events"].rows_read == 6 and first["events"].files == 2
    assert all(x.files_skipped == 0 for x in first.values())
    after_first = snapshot(db)
    assert ("events", "events/part-00001.csv") in recorded(db)
    assert len(recorded(db)) == 6

    second = load(db, shop, run_id="r2")
    assert all(x.rows_read == 0 and x.files == 0 for x in second.values())
    assert second["events"].files_skipped == 2 and second["customers"].files_skipped == 1
    assert snapshot(db) == after_first
    assert rows(db, "select count(*) from load_log where run_id = 'r2'") == [(5,)]


def test_new_part_is_the_only_file_read(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    load(db, shop)
    bad = new_events(4).with_columns(
        event_type=pl.Series(["view", "view", "view", "teleport"])
    )  # one row breaks a rule: quarantined on an incremental load too
    write_part(shop, "events", "part-00002.csv", bad)

    stats = load(db, shop, run_id="r2")
    assert (stats["events"].rows_read, stats["events"].files) == (4, 1)
    assert stats["events"].files_skipped == 2
    assert (stats["events"].inserted, stats["events"].quarantined) == (3, 1)
    assert stats["customers"].rows_read == 0
    assert rows(db, "select count(*) from events") == [(9,)]
    assert rows(db, "select count(*) from quarantine") == [(1,)]


def test_changed_file_with_the_same_name_is_read_again(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    load(db, shop)
    customers = tiny_frames()["customers"].with_columns(country=pl.Series(["DE", "IT", None, "GB"]))
    customers.write_csv(shop / "customers.csv", datetime_format=DT)

    stats = load(db, shop, run_id="r2")
    assert (stats["customers"].rows_read, stats["customers"].updated) == (4, 1)
    assert stats["events"].rows_read == 0
    assert rows(db, "select country from customers where customer_id = 'c2'") == [("IT",)]


def test_new_file_sorting_before_loaded_ones_reloads_the_entity(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    # customers as parts: part-00002 updates c1 after part-00001
    (shop / "customers.csv").unlink()
    write_part(shop, "customers", "part-00001.csv", tiny_frames()["customers"])
    c1 = tiny_frames()["customers"].head(1)
    write_part(shop, "customers", "part-00002.csv", c1.with_columns(country=pl.lit("AT")))
    load(db, shop)

    # an older file arrives late: on its own it would set c1 back to US; later files win
    late = pl.concat([c1.with_columns(country=pl.lit("US")), tiny_frames()["customers"].tail(1)])
    write_part(
        shop, "customers", "part-00000.csv", late.with_columns(customer_id=pl.Series(["c1", "c5"]))
    )
    write_part(shop, "events", "part-0000.csv", new_events(2))  # sorts before part-00000

    stats = load(db, shop)
    assert stats["customers"].rows_read == 4 + 1 + 2 and stats["customers"].files_skipped == 0
    assert stats["events"].rows_read == 8 and stats["events"].files == 3
    assert rows(db, "select country from customers where customer_id = 'c1'") == [("AT",)]

    fresh = tmp_path / "fresh.duckdb"
    load(fresh, shop)
    assert snapshot(db) == snapshot(fresh)


def test_missing_file_keeps_its_rows_and_loses_its_record(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    load(db, shop)
    (shop / "events" / "part-00000.csv").unlink()
    stats = load(db, shop, run_id="r2")
    assert stats["events"].rows_read == 0 and stats["events"].files_skipped == 1
    assert rows(db, "select count(*) from events") == [(6,)]
    assert ("events", "events/part-00000.csv") not in recorded(db)


def test_failed_extract_records_nothing_and_the_next_run_retries(shop, tmp_path):
    db = tmp_path / "offers.duckdb"
    load(db, shop)
    before, records = snapshot(db), recorded(db)
    write_part(shop, "events", "part-00002.csv", new_events(2, "2025-03-21"))
    broken = shop / "events" / "part-00003.csv"
    broken.write_text(
        "customer_id,product_id,event_type,occurred_at,session_id\nc1,p1,view,yesterday,s\n"
    )
    with pytest.raises(SourceError, match=r"part-00003\.csv"):
        load(db, shop, run_id="r2")
    assert snapshot(db) == before and recorded(db) == records

    write_part(shop, "events", "part-00003.csv", new_events(3, "2025-03-22"))
    stats = load(db, shop, run_id="r3")
    assert (stats["events"].rows_read, stats["events"].files) == (5, 2)
    assert rows(db, "select count(*) from events") == [(11,)]


def test_full_extract_reads_every_file(shop, tmp_path, monkeypatch):
    db = tmp_path / "offers.duckdb"
    load(db, shop)
    before = snapshot(db)
    stats = load(db, shop, run_id="r2", incremental=False)
    assert stats["events"].rows_read == 6 and stats["events"].files_skipped == 0
    assert stats["events"].unchanged == 6
    assert snapshot(db) == before

    assert load_settings(tmp_path).extract.incremental is True
    monkeypatch.setenv("OFFERS_EXTRACT__INCREMENTAL", "false")
    assert load_settings(tmp_path).extract.incremental is False


def test_cli_full_extract_flag_is_passed_and_skips_are_shown(monkeypatch, tmp_path):
    import flows.orchestration as orchestration
    from flows.cli import app

    seen: dict[str, object] = {}

    def fake_run_nightly(api, **params):
        seen.update(params)
        load = EntityLoad("events", 1, 3, 3, 0, 0, 0, files_skipped=41)
        return {"run_id": "x", "as_of": "2025-06-01", "extract": [load.as_dict()]}

    monkeypatch.setattr(orchestration, "prepare", lambda: None)
    monkeypatch.setattr(orchestration, "run_nightly", fake_run_nightly)
    result = CliRunner().invoke(app, ["run", "--home", str(tmp_path), "--full-extract"])
    assert result.exit_code == 0, result.output
    assert seen["full_extract"] is True
    assert "41 files" in result.output


def test_the_same_event_in_two_files_of_one_load_is_stored_once(tmp_path):
    frames = tiny_frames()
    events = frames.pop("events")
    source = write_source(tmp_path / "src", frames)
    write_part(source, "events", "part-00000.csv", events)
    write_part(source, "events", "part-00001.csv", pl.concat([events.head(2), new_events(1)]))
    db = tmp_path / "offers.duckdb"
    first = load(db, source)
    # a repeat across files is not a bad row: it is simply already known
    assert first["events"].rows_read == events.height + 3
    assert first["events"].inserted == events.height + 1 and first["events"].quarantined == 0
    assert rows(db, "select count(*) from events") == [(events.height + 1,)]
    again = load(db, source, run_id="r2", incremental=False)  # every file read again
    assert again["events"].inserted == 0
    assert rows(db, "select count(*) from events") == [(events.height + 1,)]
