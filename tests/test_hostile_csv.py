"""Source CSVs read in the contract's dialect, never a guessed one; one-line errors; no NaN."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from helpers import rows, tiny_frames, write_source

from flows.errors import SourceError
from flows.extract import extract

LOADED_AT = dt.datetime(2025, 4, 1)
HEADER = "customer_id,product_id,event_type,occurred_at,session_id\n"


def _load(db: Path, source: Path) -> dict:
    return {x.entity: x for x in extract(db, source, run_id="r1", loaded_at=LOADED_AT)}


def _source(tmp_path: Path, events: bytes) -> Path:
    source = write_source(tmp_path / "src", tiny_frames())
    (source / "events.csv").write_bytes(events)
    return source


def test_a_quoted_line_break_deep_in_a_file_loads(tmp_path):
    lines = [f"c1,p2,view,2025-03-03 10:00:00,s{i}\n" for i in range(40_000)]
    lines[34_000] = 'c2,p3,view,2025-03-04 08:00:00,"two\nlines"\n'  # past any sniffing sample
    source = _source(tmp_path, (HEADER + "".join(lines)).encode())
    loads = _load(tmp_path / "db.duckdb", source)
    assert loads["events"].rows_read == 40_000 and loads["events"].quarantined == 0
    assert rows(
        tmp_path / "db.duckdb", "select session_id from events where customer_id = 'c2'"
    ) == [("two\nlines",)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            HEADER.replace(",", ";") + "c1;p2;view;2025-03-03 10:00:00;s1\n",
            "the delimiter must be ','",
        ),
        (
            HEADER + 'c1,"P000230,view,2025-03-03 10:00:00,s1\nc2,p3,view,2025-03-04,s2\n',
            "line 2: a quoted value is never closed",
        ),
        (
            HEADER + "c1,p2,view,2025-03-03 10:00:00,s1,extra\n",
            "line 2: 6 values where the header has 5",
        ),
        ("", "empty file"),
        (HEADER.replace("session_id", "event_type"), "appear more than once in the header"),
    ],
)
def test_a_file_outside_the_dialect_is_refused_in_one_line(tmp_path, body, message):
    db = tmp_path / "db.duckdb"
    with pytest.raises(SourceError) as info:
        _load(db, _source(tmp_path, body.encode()))
    text = str(info.value)
    assert message in text and "events.csv" in text
    assert "\n" not in text and "Possible fixes" not in text
    assert not db.exists() or rows(db, "select count(*) from events") == [(0,)]


def test_a_non_utf8_byte_names_its_line(tmp_path):
    body = HEADER.encode() + "c1,p\xe9,view,2025-03-03 10:00:00,s1\n".encode("latin-1")
    with pytest.raises(SourceError, match=r"events\.csv.*line 2: not UTF-8"):
        _load(tmp_path / "db.duckdb", _source(tmp_path, body))


def test_a_byte_order_mark_is_allowed(tmp_path):
    body = ("\ufeff" + HEADER + "c1,p2,view,2025-03-03 10:00:00,s1\n").encode()
    loads = _load(tmp_path / "db.duckdb", _source(tmp_path, body))
    assert (loads["events"].rows_read, loads["events"].quarantined) == (1, 0)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinite_prices_are_quarantined(tmp_path, fmt, bad):
    frames = tiny_frames()
    frames["products"] = frames["products"].with_columns(
        pl.when(pl.col("product_id") == "p6").then(bad).otherwise(pl.col("price")).alias("price")
    )
    frames["order_lines"] = frames["order_lines"].with_columns(
        pl.when(pl.col("line_no") == 2)
        .then(bad)
        .otherwise(pl.col("unit_price"))
        .alias("unit_price")
    )
    db = tmp_path / "db.duckdb"
    loads = _load(db, write_source(tmp_path / "src", frames, fmt))
    assert loads["products"].reasons == {"invalid_value:price": 1}
    assert loads["order_lines"].reasons == {"invalid_value:unit_price": 1}
    assert rows(db, "select count(*) from products where not isfinite(price)") == [(0,)]
    assert rows(db, "select count(*) from order_lines where not isfinite(unit_price)") == [(0,)]


def test_personal_values_are_never_echoed_or_kept(tmp_path):
    frames = tiny_frames()
    # an extra column the contract does not know, and a bad row to quarantine
    frames["customers"] = frames["customers"].with_columns(
        pl.lit("jane@example.com").alias("email"),
        pl.when(pl.col("customer_id") == "c2")
        .then(None)
        .otherwise(pl.col("email_consent"))
        .alias("email_consent"),
    )
    db = tmp_path / "db.duckdb"
    loads = _load(db, write_source(tmp_path / "src", frames))
    assert loads["customers"].quarantined == 1
    (record,) = rows(db, "select record from quarantine where entity = 'customers'")[0]
    assert "jane@example.com" not in record and '"email"' not in record
    # a value of the wrong type is described, not shown, when it could identify a person
    frames = tiny_frames()
    frames["customers"] = frames["customers"].with_columns(
        pl.col("signup_date").cast(pl.String).str.replace("2025-01-01", "jane@example.com")
    )
    with pytest.raises(SourceError) as info:
        _load(tmp_path / "db2.duckdb", write_source(tmp_path / "src2", frames))
    assert "jane" not in str(info.value) and "a text of 16 characters" in str(info.value)
    frames["customers"] = tiny_frames()["customers"].with_columns(
        pl.col("signup_date").cast(pl.String).str.replace("2025-01-01", "2025-13-45")
    )
    with pytest.raises(SourceError, match="value '2025-13-45' is not a valid"):
        _load(tmp_path / "db3.duckdb", write_source(tmp_path / "src3", frames))
