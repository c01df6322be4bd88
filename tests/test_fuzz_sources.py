"""Hostile source files at volume (tests/fuzzing.py): a clean load, quarantined rows with a
reason, or a one-line error naming the file; never a crash, a silent drop or a partial load.

CI runs a bounded number of cases; `make fuzz` runs 10,000+ (OFFERS_FUZZ_EXAMPLES) and writes
the outcomes by class to OFFERS_FUZZ_REPORT (see docs/reliability.md).
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from fuzzing import damaged
from helpers import DATA_TABLES, rows, tiny_frames, write_source
from hypothesis import HealthCheck, example, given, settings

from flows.errors import SourceError
from flows.extract import extract

EXAMPLES = int(os.environ.get("OFFERS_FUZZ_EXAMPLES", "60"))
OUTCOMES: collections.Counter[str] = collections.Counter()
VALID = {
    name: frame.write_csv(datetime_format="%Y-%m-%d %H:%M:%S")
    for name, frame in tiny_frames().items()
}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    target = os.environ.get("OFFERS_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(OUTCOMES.items())), indent=2) + "\n")


def _records(data: bytes) -> int | None:
    """Data rows of a file as Python's csv module reads the contract's dialect (None: it
    cannot, so refusing the file is right)."""
    try:
        text = data.decode("utf-8-sig")
        parsed = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return None
    return sum(1 for r in parsed[1:] if r) if parsed else None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(damaged(VALID))
@example(("customers", b"\r\x00", "bytes"))  # found by make fuzz: a header Python's csv refused
def test_a_damaged_file_loads_cleanly_or_is_refused_in_one_line(case):
    entity, data, kind = case
    with tempfile.TemporaryDirectory() as tmp:
        source = write_source(Path(tmp) / "src", tiny_frames())
        (source / f"{entity}.csv").write_bytes(data)
        db = Path(tmp) / "offers.duckdb"
        try:
            loads = {
                x.entity: x
                for x in extract(db, source, run_id="f", loaded_at=dt.datetime(2025, 4, 1))
            }
        except SourceError as exc:
            text = str(exc)
            assert "\n" not in text and len(text) < 400, text
            assert f"{entity}.csv" in text or entity in text, text
            # all or nothing: no table holds a row of this run
            assert all(rows(db, f"select count(*) from {t}") == [(0,)] for t in DATA_TABLES)
            OUTCOMES[f"{kind}: refused"] += 1
            return
        load = loads[entity]
        expected = _records(data)
        if expected is not None:
            assert load.rows_read == expected, (kind, load)  # nothing silently dropped
        stored = load.inserted + load.updated + load.unchanged + load.quarantined
        assert stored == load.rows_read, load
        assert sum(load.reasons.values()) == load.quarantined
        OUTCOMES[f"{kind}: {'quarantined' if load.quarantined else 'loaded'}"] += 1
