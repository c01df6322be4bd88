"""Hand-made hostile source files (tests/corpus/), each with its known outcome: loaded (rows
read, quarantined by reason) or refused with a one-line message naming file, line or row."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from helpers import rows, tiny_frames, write_source

from flows.errors import SourceError
from flows.extract import extract

CORPUS = Path(__file__).parent / "corpus"
LOADED = {  # file: (rows read, {reason: rows quarantined})
    "customers_extra_column.csv": (4, {"missing_value:email_consent": 1}),
    "events_bom_crlf.csv": (1, {}),
    "events_header_only.csv": (0, {}),
    "events_quoted_line_break.csv": (2, {}),
    "events_unknown_type_and_zone.csv": (2, {"unknown_value:event_type": 1}),
    "orders_far_dates.csv": (5, {"future_timestamp:ordered_at": 1}),  # 2100; 1900 loads
    "products_formula_titles.csv": (8, {}),
    "products_nan_and_negative.csv": (8, {"invalid_value:price": 2}),
}
REFUSED = {  # file: what the one-line message says
    "customers_email_in_date.csv": "row 1, column 'signup_date': a text of 16 characters is not",
    "events_empty.csv": "empty file: a header row is needed",
    "events_latin1.csv": "line 2: not UTF-8",
    "events_semicolons.csv": "the delimiter must be ','",
    "events_unterminated_quote.csv": "line 2: a quoted value is never closed",
    "orders_impossible_date.csv": "row 4, column 'ordered_at': value '2025-02-30 12:00:00'",
}


def _entity(name: str) -> str:
    return name.split("_")[0]


def test_every_corpus_file_has_a_known_outcome():
    assert {p.name for p in CORPUS.glob("*.csv")} == set(LOADED) | set(REFUSED)


def _load(tmp_path: Path, name: str):
    source = write_source(tmp_path / "src", tiny_frames())
    shutil.copy(CORPUS / name, source / f"{_entity(name)}.csv")
    db = tmp_path / "db.duckdb"
    loads = extract(db, source, run_id="c", loaded_at=dt.datetime(2025, 4, 1))
    return db, {x.entity: x for x in loads}[_entity(name)]


@pytest.mark.parametrize("name", sorted(LOADED))
def test_a_corpus_file_loads_with_every_row_counted(tmp_path, name):
    db, load = _load(tmp_path, name)
    expected_rows, reasons = LOADED[name]
    assert (load.rows_read, load.reasons) == (expected_rows, reasons)
    assert load.inserted + load.unchanged + load.updated + load.quarantined == load.rows_read
    record = str(rows(db, "select record from quarantine"))
    assert "@example.com" not in record  # an extra column is never kept, not even here


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_corpus_file_is_refused_in_one_line(tmp_path, name):
    with pytest.raises(SourceError) as info:
        _load(tmp_path, name)
    text = str(info.value)
    assert REFUSED[name] in text and f"{_entity(name)}.csv" in text and "\n" not in text
    assert "jane@example.com" not in text
