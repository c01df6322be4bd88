"""The REES46 and UCI CSV adapters (flows/adapters/) and their CLI (flows/cli/importing.py).

Small inputs are written here in the datasets' exact raw formats (CRLF, truncated last lines,
quoted fields, pandas-style float ids); the published slices in ``shared/datasets`` are used
when present. The decisive check: the output loads through the real extract with nothing
quarantined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.adapters import (
    DEFAULT_STOCK,
    INACTIVE_NOTE,
    ImportSummary,
    import_online_retail,
    import_rees46,
)
from flows.cli.importing import import_app
from flows.contract import ENTITIES
from flows.errors import SourceError
from flows.extract import extract
from flows.generate import arrow_schema

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REES46_DIR = DATASETS / "rees46-multicategory-2019oct-head"
RETAIL_DIR = DATASETS / "online-retail-uci-head10000"

REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
REES46_ROWS = (
    "2019-10-01 00:00:00 UTC,view,100,2053,electronics.smartphone,samsung,200.00,1,s1",
    "2019-10-01 00:00:05 UTC,cart,100,2053,electronics.smartphone,samsung,200.00,1,s1",
    "2019-10-01 00:01:00 UTC,purchase,100,2053,electronics.smartphone,samsung,199.00,1,s1",
    "2019-10-01 00:01:00 UTC,purchase,200,2054,,acme,10.50,1,s1",
    "2019-10-01 00:02:00 UTC,view,300,2055,kids.dolls,,0.00,2,s2",
    "2019-10-01 00:02:00 UTC,view,300,2055,kids.dolls,,0.00,2,s2",  # duplicate
    "2019-10-01 00:03:00 UTC,remove_from_cart,100,2053,electronics.smartphone,samsung,200.00,2,s2",
    "2019-10-01 00:04:00 UTC,view,100,2053,electronics.smartphone,samsung,201.00,,s3",
    "2019-10-01 00:05:00 UTC,purchase,300,2055,kids.dolls,,0.00,2,s2",
    "2019-10-02 10:00:00 UTC,purchase,100,2053,electronics.smartphone,samsung,205.00,3,s1",
    "yesterday,view,400,2056,,,1.00,4,s4",
)
REES46_DROPPED = {
    "duplicate event": 1,
    "unsupported event type: remove_from_cart": 1,
    "no customer id (user_id)": 1,
    "purchase without a positive price": 1,
    "unparseable event_time": 1,
}

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RETAIL_ROWS = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,"
    "United Kingdom",
    '536365,71053,"METAL LANTERN, WHITE",6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom',
    '536365,71053,"METAL LANTERN, WHITE",2,2010-12-01 08:26:00,3.39,17850.0,United Kingdom',
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850.0,United Kingdom",
    "536366,85123a,WHITE HANGING HEART T-LIGHT HOLDER,4,12/2/2010 9:00,2.65,13047.0,Unspecified",
    "C536367,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,2010-12-03 10:00:00,2.55,17850.0,"
    "United Kingdom",
    "536368,22633,HAND WARMER UNION JACK,6,2010-12-03 11:00:00,1.85,,United Kingdom",
    "536369,22633,damaged,-5,2010-12-03 12:00:00,0.0,13047.0,Unspecified",
    "536370,22634,FREE GIFT,1,2010-12-03 13:00:00,0.0,13047.0,Unspecified",
)
RETAIL_DROPPED = {
    "non-product stock code": 1,
    "no customer id": 1,
    "negative quantity on a sale invoice": 1,
    "non-positive price": 1,
}


def _csv(
    path: Path, header: str, rows: tuple[str, ...], *, eol: str = "\n", tail: str = ""
) -> Path:
    """Write ``header`` and ``rows`` with ``eol`` line ends, then ``tail`` unterminated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("".join(line + eol for line in (header, *rows)) + tail).encode())
    return path


def _read(out: Path) -> dict[str, pl.DataFrame]:
    return {e.name: pl.read_parquet(out / f"{e.name}.parquet") for e in ENTITIES}


def _rows(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(r) for r in frame.iter_rows()]


def _extract_clean(tmp_path: Path, out: Path, summary: ImportSummary) -> None:
    """The output loads through the real extract: nothing quarantined, every row inserted."""
    loads = extract(
        tmp_path / "db.duckdb", out, run_id="t", loaded_at=dt.datetime(2030, 1, 1, 0, 0)
    )
    by_entity = {load.entity: load for load in loads}
    for entity in ENTITIES:
        load = by_entity[entity.name]
        assert load.quarantined == 0, (entity.name, load.reasons)
        assert load.rows_read == load.inserted == summary.written[entity.name], entity.name


def _check_schema(out: Path) -> None:
    for entity in ENTITIES:
        assert (
            pq.read_schema(out / f"{entity.name}.parquet")
            .remove_metadata()
            .equals(arrow_schema(entity))
        ), entity.name


def _consents(ids: list[str], share: float) -> dict[str, bool]:
    """The documented rule, re-implemented: first 8 hex digits of md5 below share * 2^32."""
    return {i: int(hashlib.md5(i.encode()).hexdigest()[:8], 16) < share * 2**32 for i in ids}


# --- REES46 -------------------------------------------------------------------------------------


def test_rees46_maps_every_entity(tmp_path: Path) -> None:
    src = _csv(tmp_path / "2019-Oct.csv", REES46_HEADER, REES46_ROWS)
    out = tmp_path / "out"
    summary = import_rees46(src, out)
    frames = _read(out)
    _check_schema(out)

    assert summary.rows_in == len(REES46_ROWS)
    assert summary.dropped == REES46_DROPPED
    assert summary.used == 6
    assert summary.written == {
        "customers": 3,
        "products": 3,
        "orders": 2,
        "order_lines": 3,
        "events": 3,
    }
    assert summary.notes == {INACTIVE_NOTE: 1}

    customers = frames["customers"]
    assert customers["customer_id"].to_list() == ["1", "2", "3"]
    assert customers["signup_date"].to_list() == [dt.date(2019, 10, 1)] * 2 + [dt.date(2019, 10, 2)]
    assert customers["country"].null_count() == 3
    assert dict(zip(customers["customer_id"], customers["email_consent"], strict=True)) == (
        _consents(["1", "2", "3"], 0.6)
    )

    assert (
        frames["products"].select("url", "image_url").null_count().row(0)
        == (frames["products"].height,) * 2
    )  # the data has no product links
    assert _rows(frames["products"].drop("url", "image_url")) == [
        ("100", "samsung smartphone", "electronics.smartphone", 205.0, DEFAULT_STOCK, True, None),
        ("200", "acme", "2054", 10.5, DEFAULT_STOCK, True, None),
        ("300", "dolls", "kids.dolls", 0.0, DEFAULT_STOCK, False, None),
    ]
    assert _rows(frames["orders"]) == [
        ("1-s1", "1", dt.datetime(2019, 10, 1, 0, 1), "completed"),
        ("3-s1", "3", dt.datetime(2019, 10, 2, 10, 0), "completed"),
    ]
    assert _rows(frames["order_lines"]) == [
        ("1-s1", 1, "100", 1, 199.0),
        ("1-s1", 2, "200", 1, 10.5),
        ("3-s1", 1, "100", 1, 205.0),
    ]
    assert _rows(frames["events"]) == [
        ("1", "100", "view", dt.datetime(2019, 10, 1, 0, 0, 0), "s1"),
        ("1", "100", "add_to_cart", dt.datetime(2019, 10, 1, 0, 0, 5), "s1"),
        ("2", "300", "view", dt.datetime(2019, 10, 1, 0, 2, 0), "s2"),
    ]
    _extract_clean(tmp_path, out, summary)


@pytest.mark.parametrize(
    "tail",
    [
        # cut inside user_id: a field is missing, the CSV reader rejects the line
        "2019-10-01 00:06:00 UTC,view,100,2053,electronics.smartphone,samsung,200.00,5",
        # cut inside user_session: every field is there, the value is short
        "2019-10-01 00:06:00 UTC,view,100,2053,electronics.smartphone,samsung,200.00,5,s",
    ],
    ids=["missing-field", "short-last-field"],
)
def test_rees46_crlf_with_truncated_last_line(tmp_path: Path, tail: str) -> None:
    lf = import_rees46(_csv(tmp_path / "lf.csv", REES46_HEADER, REES46_ROWS), tmp_path / "lf")
    src = _csv(tmp_path / "crlf.csv", REES46_HEADER, REES46_ROWS, eol="\r\n", tail=tail)
    out = tmp_path / "crlf"
    summary = import_rees46(src, out)

    assert summary.rows_in == len(REES46_ROWS) + 1
    assert summary.dropped == {**REES46_DROPPED, "truncated line": 1}
    assert summary.written == lf.written
    frames = _read(out)
    for name, frame in _read(tmp_path / "lf").items():
        assert frames[name].equals(frame), name  # CR never leaks into a value
    assert "5" not in frames["customers"]["customer_id"].to_list()
    _extract_clean(tmp_path, out, summary)


def test_rees46_counts_malformed_lines_and_reads_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    _csv(folder / "2019-Oct.csv", REES46_HEADER, REES46_ROWS[:5])
    bad = "2019-10-01 00:07:00 UTC,view,100,2053,x,y,1.0,6,s6,EXTRA"
    _csv(folder / "2019-Nov.csv", REES46_HEADER, (*REES46_ROWS[5:], bad))
    (folder / "notes.txt").write_text("not a CSV, ignored")
    summary = import_rees46(folder, tmp_path / "out")

    assert [p.name for p in summary.files] == ["2019-Nov.csv", "2019-Oct.csv"]
    assert summary.rows_in == len(REES46_ROWS) + 1
    # the duplicate view sits in the other file than its first copy: still one event
    assert summary.dropped == {**REES46_DROPPED, "malformed line": 1}
    assert summary.written["events"] == 3
    _extract_clean(tmp_path, tmp_path / "out", summary)


def test_consent_share_is_configurable_and_stable(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", REES46_HEADER, REES46_ROWS)
    for share, expected in ((0.0, {False}), (1.0, {True})):
        import_rees46(src, tmp_path / f"out-{share}", consent_share=share)
        consent = pl.read_parquet(tmp_path / f"out-{share}" / "customers.parquet")
        assert set(consent["email_consent"]) == expected
    import_rees46(src, tmp_path / "again")
    import_rees46(src, tmp_path / "again2")
    for entity in ENTITIES:
        name = f"{entity.name}.parquet"
        assert pl.read_parquet(tmp_path / "again" / name).equals(
            pl.read_parquet(tmp_path / "again2" / name)
        )
    with pytest.raises(ValueError, match="consent_share"):
        import_rees46(src, tmp_path / "bad", consent_share=1.5)


def test_refuses_to_overwrite_and_checks_the_header(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", REES46_HEADER, REES46_ROWS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "orders.csv").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        import_rees46(src, out)
    assert sorted(p.name for p in out.iterdir()) == ["orders.csv"]

    with pytest.raises(SourceError, match="unexpected header"):
        import_online_retail(src, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    with pytest.raises(SourceError, match="does not exist"):
        import_rees46(tmp_path / "missing.csv", tmp_path / "never")


# --- UCI Online Retail --------------------------------------------------------------------------


def test_online_retail_maps_every_entity(tmp_path: Path) -> None:
    src = _csv(tmp_path / "OnlineRetail.csv", RETAIL_HEADER, RETAIL_ROWS)
    out = tmp_path / "out"
    summary = import_online_retail(src, out)
    frames = _read(out)
    _check_schema(out)

    assert summary.rows_in == len(RETAIL_ROWS)
    assert summary.dropped == RETAIL_DROPPED
    assert summary.used == summary.written["order_lines"] == 5
    assert summary.written == {
        "customers": 2,
        "products": 4,
        "orders": 3,
        "order_lines": 5,
        "events": 0,
    }
    assert summary.notes == {INACTIVE_NOTE: 1}

    assert _rows(frames["customers"].drop("email_consent")) == [
        ("13047", dt.date(2010, 12, 2), None),  # "Unspecified" is no country
        ("17850", dt.date(2010, 12, 1), "United Kingdom"),
    ]
    assert (
        frames["products"].select("url", "image_url").null_count().row(0)
        == (frames["products"].height,) * 2
    )  # the data has no product links
    assert _rows(frames["products"].drop("url", "image_url")) == [
        ("22633", "HAND WARMER UNION JACK", "all", 1.85, DEFAULT_STOCK, True, None),
        ("22634", "FREE GIFT", "all", 0.0, DEFAULT_STOCK, False, None),
        ("71053", "METAL LANTERN, WHITE", "all", 3.39, DEFAULT_STOCK, True, None),
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "all", 2.55, DEFAULT_STOCK, True, None),
    ]
    assert _rows(frames["orders"]) == [
        ("536365", "17850", dt.datetime(2010, 12, 1, 8, 26), "completed"),
        ("536366", "13047", dt.datetime(2010, 12, 2, 9, 0), "completed"),
        ("C536367", "17850", dt.datetime(2010, 12, 3, 10, 0), "return"),
    ]
    assert _rows(frames["order_lines"]) == [
        ("536365", 1, "85123A", 6, 2.55),
        ("536365", 2, "71053", 6, 3.39),
        ("536365", 3, "71053", 2, 3.39),  # the same product twice: its own line
        ("536366", 1, "85123A", 4, 2.65),  # lower-case stock code folded
        ("C536367", 1, "85123A", 2, 2.55),  # cancellation: a return of 2
    ]
    assert frames["events"].height == 0
    _extract_clean(tmp_path, out, summary)


def test_online_retail_crlf_with_truncated_quoted_last_line(tmp_path: Path) -> None:
    tail = '536372,22635,"BIG BAG'
    src = _csv(tmp_path / "in.csv", RETAIL_HEADER, RETAIL_ROWS, eol="\r\n", tail=tail)
    out = tmp_path / "out"
    summary = import_online_retail(src, out)
    assert summary.dropped == {**RETAIL_DROPPED, "truncated line": 1}
    assert summary.written["order_lines"] == 5
    assert "22635" not in _read(out)["products"]["product_id"].to_list()
    _extract_clean(tmp_path, out, summary)


def test_cli_prints_the_summary(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", RETAIL_HEADER, RETAIL_ROWS)
    runner = CliRunner()
    result = runner.invoke(import_app, ["online-retail", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "no customer id" in result.output
    assert "5 rows used + 4 dropped = 9 rows in" in result.output
    again = runner.invoke(import_app, ["online-retail", str(src), "--out", str(tmp_path / "o")])
    assert again.exit_code == 2
    wrong = runner.invoke(import_app, ["rees46", str(src), "--out", str(tmp_path / "p")])
    assert wrong.exit_code == 3


# --- the published slices -----------------------------------------------------------------------


def _slice(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"dataset slice not present: {path} (see docs/data-adapters.md)")
    return path


def test_rees46_slice(tmp_path: Path) -> None:
    clean = _slice(REES46_DIR / "2019-Oct_head17434.csv")
    raw = _slice(REES46_DIR / "2019-Oct_head_as_committed_crlf_truncated.csv")
    written = {
        "customers": 4_504,
        "products": 6_493,
        "orders": 200,
        "order_lines": 214,
        "events": 17_215,
    }
    summary = import_rees46(clean, tmp_path / "clean")
    assert (summary.rows_in, summary.used) == (17_434, 17_429)
    assert summary.written == written
    assert summary.dropped == {"duplicate event": 5}
    assert summary.notes == {INACTIVE_NOTE: 14}
    _extract_clean(tmp_path, tmp_path / "clean", summary)

    committed = import_rees46(raw, tmp_path / "raw")
    assert committed.rows_in == 17_435
    assert committed.written == written
    assert committed.dropped == {"duplicate event": 5, "truncated line": 1}
    for name, frame in _read(tmp_path / "clean").items():
        assert _read(tmp_path / "raw")[name].equals(frame), name


def test_online_retail_slice(tmp_path: Path) -> None:
    src = _slice(RETAIL_DIR / "OnlineRetail_first10000rows.csv")
    out = tmp_path / "out"
    summary = import_online_retail(src, out)
    assert (summary.rows_in, summary.used) == (10_000, 7_677)
    assert summary.written == {
        "customers": 323,
        "products": 1_982,
        "orders": 441,
        "order_lines": 7_677,
        "events": 0,
    }
    assert summary.dropped == {
        "no customer id": 2_291,
        "non-product stock code": 31,
        "non-positive price": 1,
    }
    assert summary.notes == {INACTIVE_NOTE: 15}
    orders = pl.read_parquet(out / "orders.parquet")
    assert orders.filter(pl.col("status") == "return").height == 41
    _extract_clean(tmp_path, out, summary)
