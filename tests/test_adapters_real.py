"""The multi-week real-data adapters: The Complete Journey, Tmall 2014, UCI Online Retail Parquet.

Known-answer tests on tiny inputs written here in the datasets' published shapes, then one
import per dataset in ``shared/datasets`` (skipped, saying why, where that folder is absent)
checking the figures its SOURCE.txt states, and one nightly run on the Tmall import.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.adapters import (
    DEFAULT_STOCK,
    INACTIVE_NOTE,
    ImportSummary,
    import_complete_journey,
    import_online_retail,
    import_tmall,
)
from flows.cli import app
from flows.contract import ENTITIES
from flows.errors import SourceError
from flows.extract import extract
from flows.generate import arrow_schema
from flows.publish import verify

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
JOURNEY_DIR = DATASETS / "completejourney-8451"
TMALL_DIR = DATASETS / "tmall-2014-brand-behaviour"
RETAIL_FULL_DIR = DATASETS / "online-retail-uci-full"

runner = CliRunner()


def _read(out: Path) -> dict[str, pl.DataFrame]:
    return {e.name: pl.read_parquet(out / f"{e.name}.parquet") for e in ENTITIES}


def _rows(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(r) for r in frame.iter_rows()]


def _same(a: Path, b: Path) -> None:
    frames = _read(b)
    for name, frame in _read(a).items():
        assert frames[name].equals(frame), name


def _extract_clean(tmp_path: Path, out: Path, summary: ImportSummary) -> None:
    """The output has the generator's Arrow types and loads with nothing quarantined."""
    for entity in ENTITIES:
        schema = pq.read_schema(out / f"{entity.name}.parquet").remove_metadata()
        assert schema.equals(arrow_schema(entity)), entity.name
    loads = extract(
        tmp_path / "db.duckdb", out, run_id="t", loaded_at=dt.datetime(2030, 1, 1, 0, 0)
    )
    for load in loads:
        assert load.quarantined == 0, (load.entity, load.reasons)
        assert load.rows_read == load.inserted == summary.written[load.entity], load.entity


def _dataset(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"dataset not present: {path} (shared/datasets is not mounted here)")
    return path


# --- The Complete Journey ------------------------------------------------------------------------

T = dt.datetime
JOURNEY_ROWS = [  # household, basket, product, quantity, sales_value, time
    (1, 10, 100, 2, 3.00, T(2017, 1, 2, 10, 0)),  # line, 1.50 a unit
    (1, 10, 200, 1, 0.00, T(2017, 1, 2, 10, 0)),  # line, free (a coupon): unit price 0
    (1, 10, 100, 0, 0.00, T(2017, 1, 2, 10, 0)),  # zero quantity
    (2, 20, 999, 1, 1.00, T(2017, 1, 3, 9, 0)),  # product missing from products.parquet
    (2, 21, 100, 1, 1.40, T(2017, 1, 5, 18, 30)),  # line; 100's latest price
    (2, 21, 200, 1, -0.50, T(2017, 1, 5, 18, 30)),  # negative sales_value
    (3, 30, 300, 0, 0.50, T(2017, 1, 4, 8, 0)),  # zero quantity: 300 is never priced
    (4, 40, 200, 2, 5.00, T(2017, 1, 6, 12, 0)),  # one basket, two households
    (5, 40, 200, 1, 2.00, T(2017, 1, 6, 12, 0)),  # ... still prices 200 (latest: 2.00)
]
JOURNEY_CATALOGUE = [  # product, department, category, type, package size
    (100, "GROCERY", "COLD CEREAL", "KIDS CEREAL", "14.5 OZ"),
    (200, "PRODUCE", None, None, None),
    (300, None, None, None, None),
    (400, "GROCERY", "SOUP", "CONDENSED SOUP", "10 OZ"),  # never sold: not written
]


def _journey(folder: Path, rows: list[tuple[object, ...]] = JOURNEY_ROWS) -> Path:
    folder.mkdir(parents=True)
    ids = pa.int64()
    transactions = pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], ids),
            "store_id": pa.array([330] * len(rows), ids),  # extra columns are ignored
            "basket_id": pa.array([r[1] for r in rows], ids),
            "product_id": pa.array([r[2] for r in rows], ids),
            "quantity": pa.array([r[3] for r in rows], ids),
            "sales_value": pa.array([r[4] for r in rows], pa.float64()),
            "transaction_timestamp": pa.array([r[5] for r in rows], pa.timestamp("ns")),
        }
    )
    names = ("product_id", "department", "product_category", "product_type", "package_size")
    catalogue = pa.table(
        {n: [r[i] for r in JOURNEY_CATALOGUE] for i, n in enumerate(names)},
        schema=pa.schema([(n, ids if n == "product_id" else pa.string()) for n in names]),
    )
    pq.write_table(transactions, folder / "transactions.parquet")
    pq.write_table(catalogue, folder / "products.parquet")
    pq.write_table(pa.table({"household_id": [1], "age": ["65+"]}), folder / "demographics.parquet")
    return folder


def test_complete_journey_maps_every_entity(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = import_complete_journey(_journey(tmp_path / "cj"), out)
    frames = _read(out)

    assert summary.rows_in == len(JOURNEY_ROWS)
    assert summary.dropped == {
        "zero quantity": 2,
        "product missing from products.parquet": 1,
        "negative sales_value": 1,
        "basket with several households": 2,
    }
    assert summary.used == 3
    assert summary.written == {
        "customers": 5,
        "products": 3,
        "orders": 2,
        "order_lines": 3,
        "events": 0,
    }
    assert summary.notes == {INACTIVE_NOTE: 1}
    assert _rows(frames["customers"].drop("email_consent")) == [
        ("1", dt.date(2017, 1, 2), None),
        ("2", dt.date(2017, 1, 3), None),  # first row dated, even a dropped one
        ("3", dt.date(2017, 1, 4), None),
        ("4", dt.date(2017, 1, 6), None),
        ("5", dt.date(2017, 1, 6), None),
    ]
    assert (
        frames["products"].select("url", "image_url").null_count().row(0)
        == (frames["products"].height,) * 2
    )  # the data has no product links
    assert _rows(frames["products"].drop("url", "image_url")) == [
        ("100", "KIDS CEREAL 14.5 OZ", "COLD CEREAL", 1.4, DEFAULT_STOCK, True, None),
        ("200", "PRODUCE", "PRODUCE", 2.0, DEFAULT_STOCK, True, None),
        ("300", "product 300", "unknown", 0.0, DEFAULT_STOCK, False, None),
    ]
    assert _rows(frames["orders"]) == [  # basket 20 has no usable row: no order
        ("10", "1", T(2017, 1, 2, 10, 0), "completed"),
        ("21", "2", T(2017, 1, 5, 18, 30), "completed"),
    ]
    assert _rows(frames["order_lines"]) == [
        ("10", 1, "100", 2, 1.5),
        ("10", 2, "200", 1, 0.0),
        ("21", 1, "100", 1, 1.4),
    ]
    _extract_clean(tmp_path, out, summary)


def test_complete_journey_checks_its_files(tmp_path: Path) -> None:
    folder = _journey(tmp_path / "cj")
    with pytest.raises(SourceError, match="give the folder"):
        import_complete_journey(folder / "transactions.parquet", tmp_path / "o1")
    pq.write_table(pa.table({"product_id": [1]}), folder / "products.parquet")
    with pytest.raises(SourceError, match="no column for department"):
        import_complete_journey(folder, tmp_path / "o2")
    (folder / "products.parquet").unlink()
    with pytest.raises(SourceError, match="file not found"):
        import_complete_journey(folder, tmp_path / "o3")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()


# --- Tmall 2014 ----------------------------------------------------------------------------------

TMALL_HEADER = "user_id,brand_id,type,visit_datetime"
TMALL_ROWS = (  # type: 0 click, 1 buy, 2 collect, 3 add to cart
    "1,10,0,6-4",
    "1,10,0,6-4",  # the same click again that day: one event
    "1,10,3,6-4",
    "1,10,2,6-4",  # collect: no contract event type
    "1,10,1,6-5",
    "1,10,1,6-5",  # a second buy of the brand that day: quantity 2
    "1,20,1,6-5",
    "2,30,0,4-15",
    "2,30,5,4-16",  # unknown code
    "2,30,0,2-30",  # no such day
    ",30,0,4-15",  # no user
    "2,40,1,6月4日",  # the original release's date spelling
)
TMALL_DROPPED = {
    "same view or add-to-cart again that day": 1,
    "collect (favourite): no contract event type": 1,
    "unsupported type: 5": 1,
    "unparseable visit_datetime": 1,
    "no customer id (user_id)": 1,
}


def _tmall_csv(path: Path, tail: str = "") -> Path:
    data = "".join(f"{line}\n" for line in (TMALL_HEADER, *TMALL_ROWS)) + tail
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_bytes(data.encode())
    return path


def _tmall_parquet(path: Path) -> Path:
    """The typed copy's layout (row_no, user_id, brand_id, type, event, month, day, visit_date)."""
    fields = [line.split(",") for line in TMALL_ROWS]
    month_day = [
        tuple(int(x) for x in f[3].replace("月", "-").rstrip("日").split("-")) for f in fields
    ]
    table = pa.table(
        {
            "row_no": pa.array(range(1, len(fields) + 1), pa.int32()),
            "user_id": pa.array([int(f[0]) if f[0] else None for f in fields], pa.int64()),
            "brand_id": pa.array([int(f[1]) for f in fields], pa.int64()),
            "type": pa.array([int(f[2]) for f in fields], pa.int8()),
            "event": pa.array(["?"] * len(fields)),  # derived from type; not read
            "month": pa.array([m for m, _ in month_day], pa.int8()),
            "day": pa.array([d for _, d in month_day], pa.int8()),
        }
    )
    pq.write_table(table, path)
    return path


def test_tmall_maps_every_entity(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = import_tmall(_tmall_csv(tmp_path / "t_alibaba_data.csv"), out)
    frames = _read(out)

    assert summary.rows_in == len(TMALL_ROWS)
    assert summary.dropped == TMALL_DROPPED
    assert summary.used == 3 + 4  # three events, four units bought
    assert summary.written == {
        "customers": 2,
        "products": 4,
        "orders": 2,
        "order_lines": 3,
        "events": 3,
    }
    assert summary.notes == {}
    day = dt.date
    assert _rows(frames["customers"].drop("email_consent")) == [
        ("1", day(2013, 6, 4), None),
        ("2", day(2013, 4, 15), None),
    ]
    assert (
        frames["products"].select("url", "image_url").null_count().row(0)
        == (frames["products"].height,) * 2
    )  # the data has no product links
    assert _rows(frames["products"].drop("url", "image_url")) == [
        (b, f"brand {b}", "all", 0.0, DEFAULT_STOCK, True, None) for b in ("10", "20", "30", "40")
    ]
    assert _rows(frames["orders"]) == [
        ("1-2013-06-05", "1", T(2013, 6, 5), "completed"),
        ("2-2013-06-04", "2", T(2013, 6, 4), "completed"),
    ]
    assert _rows(frames["order_lines"]) == [
        ("1-2013-06-05", 1, "10", 2, 0.0),
        ("1-2013-06-05", 2, "20", 1, 0.0),
        ("2-2013-06-04", 1, "40", 1, 0.0),
    ]
    assert _rows(frames["events"]) == [  # whole days: 00:00 UTC, one session per user and day
        ("1", "10", "add_to_cart", T(2013, 6, 4), "1-2013-06-04"),
        ("1", "10", "view", T(2013, 6, 4), "1-2013-06-04"),
        ("2", "30", "view", T(2013, 4, 15), "2-2013-04-15"),
    ]
    _extract_clean(tmp_path, out, summary)

    # the gzipped file and the typed Parquet copy give the same rows
    gz = import_tmall(_tmall_csv(tmp_path / "t.csv.gz"), tmp_path / "gz")
    assert (gz.rows_in, gz.dropped) == (summary.rows_in, summary.dropped)
    _same(out, tmp_path / "gz")
    parquet = import_tmall(_tmall_parquet(tmp_path / "t.parquet"), tmp_path / "pq")
    assert (parquet.rows_in, parquet.dropped) == (summary.rows_in, summary.dropped)
    _same(out, tmp_path / "pq")


def test_tmall_gz_truncated_line_year_and_cli(tmp_path: Path) -> None:
    src = _tmall_csv(tmp_path / "t.csv.gz", tail="3,50,0,6-")
    summary = import_tmall(src, tmp_path / "cut")
    assert summary.dropped == {**TMALL_DROPPED, "truncated line": 1}
    assert "3" not in _read(tmp_path / "cut")["customers"]["customer_id"].to_list()

    result = runner.invoke(
        app, ["import", "tmall", str(src), "--out", str(tmp_path / "y"), "--year", "2012"]
    )
    assert result.exit_code == 0, result.output
    assert "7 rows used + 6 dropped = 13 rows in" in result.output
    orders = pl.read_parquet(tmp_path / "y" / "orders.parquet")
    assert orders["order_id"].to_list() == ["1-2012-06-05", "2-2012-06-04"]

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("user_id,brand_id,visit_datetime,type\n1,10,6-4,0\n")
    result = runner.invoke(app, ["import", "tmall", str(wrong), "--out", str(tmp_path / "w")])
    assert result.exit_code == 3
    assert "unexpected header" in result.output


# --- UCI Online Retail from Parquet ---------------------------------------------------------------

RETAIL_II_NAMES = (
    "Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID",
    "Country",
)  # fmt: skip
RETAIL_NAMES = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
    "Country",
)  # fmt: skip
UK = "United Kingdom"
RETAIL_II_ROWS = [  # Online Retail II, 2009-12 .. 2010-12: its last invoice is also in the other
    ("489434", "85048", "GLASS BALL 20 LIGHTS", 12, "2009-12-01 07:45:00", 6.95, 13085.0, UK),
    ("489435", "22350", "CAT BOWL", 12, "2009-12-01 07:46:00", 2.55, None, UK),
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850.0, UK),
    ("536365", "85123A", "HANGING HEART", 6, "2010-12-01 08:26:00", 2.55, 17850.0, UK),
]
RETAIL_I_ROWS = [  # Online Retail, 2010-12 .. 2011-12
    ("536365", "85123A", "HANGING HEART", 6, "2010-12-01 08:26:00", 2.55, 17850.0, UK),
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850.0, UK),
    ("C536379", "D", "Discount", -1, "2010-12-01 09:41:00", 27.5, 14527.0, UK),
    ("536366", "22633", "HAND WARMER", 6, "2010-12-01 08:28:00", 1.85, 17850.0, UK),
    ("581587", "22138", "BAKING SET", 3, "2011-12-09 12:50:00", 4.95, 12680.0, "France"),
]
RETAIL_PARQUET_DROPPED = {
    "invoice repeated in another file": 2,
    "no customer id": 1,
    "non-product stock code": 1,
}


def _retail_frame(names: tuple[str, ...], rows: list[tuple[object, ...]]) -> pl.DataFrame:
    types = (pl.String, pl.String, pl.String, pl.Int64, pl.String, pl.Float64, pl.Float64)
    return pl.DataFrame(
        rows, schema=dict(zip(names, (*types, pl.String), strict=True)), orient="row"
    )


def _retail_files(folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True)
    for name, names, rows in (
        ("online_retail_II_2009-12_2010-12", RETAIL_II_NAMES, RETAIL_II_ROWS),
        ("online_retail_2010-12_2011-12", RETAIL_NAMES, RETAIL_I_ROWS),
    ):
        frame = _retail_frame(names, rows)
        if fmt == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:  # pandas-style: CustomerID "17850.0", empty when missing
            frame.write_csv(folder / f"{name}.csv", float_precision=None)
    return folder


def test_online_retail_reads_both_parquet_releases(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = import_online_retail(_retail_files(tmp_path / "pq", "parquet"), out)
    frames = _read(out)

    assert summary.rows_in == len(RETAIL_II_ROWS) + len(RETAIL_I_ROWS)
    assert summary.dropped == RETAIL_PARQUET_DROPPED
    assert summary.written == {
        "customers": 4,
        "products": 6,
        "orders": 4,
        "order_lines": 5,
        "events": 0,
    }
    assert _rows(frames["customers"].drop("email_consent")) == [
        ("12680", dt.date(2011, 12, 9), "France"),
        ("13085", dt.date(2009, 12, 1), UK),
        ("14527", dt.date(2010, 12, 1), UK),
        ("17850", dt.date(2010, 12, 1), UK),
    ]
    assert frames["products"]["product_id"].to_list() == [
        "22138", "22350", "22633", "71053", "85048", "85123A",
    ]  # fmt: skip
    assert _rows(frames["orders"]) == [
        ("489434", "13085", T(2009, 12, 1, 7, 45), "completed"),
        ("536365", "17850", T(2010, 12, 1, 8, 26), "completed"),
        ("536366", "17850", T(2010, 12, 1, 8, 28), "completed"),
        ("581587", "12680", T(2011, 12, 9, 12, 50), "completed"),
    ]
    assert _rows(frames["order_lines"]) == [
        ("489434", 1, "85048", 12, 6.95),
        ("536365", 1, "71053", 6, 3.39),  # the copy of the file sorting last (II) is kept
        ("536365", 2, "85123A", 6, 2.55),
        ("536366", 1, "22633", 6, 1.85),
        ("581587", 1, "22138", 3, 4.95),
    ]
    _extract_clean(tmp_path, out, summary)

    # the same files as CSV (Online Retail and Online Retail II headers) give the same rows
    csv = import_online_retail(_retail_files(tmp_path / "csv", "csv"), tmp_path / "csv-out")
    assert (csv.rows_in, csv.dropped) == (summary.rows_in, summary.dropped)
    _same(out, tmp_path / "csv-out")


def test_online_retail_parquet_columns_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    _retail_frame(RETAIL_NAMES, RETAIL_I_ROWS).drop("UnitPrice").write_parquet(folder / "a.parquet")
    with pytest.raises(SourceError, match="no column for UnitPrice / Price"):
        import_online_retail(folder / "a.parquet", tmp_path / "o")
    (folder / "b.csv").write_text(",".join(RETAIL_NAMES) + "\n")
    with pytest.raises(SourceError, match="mixes"):
        import_online_retail(folder, tmp_path / "o")
    assert not (tmp_path / "o").exists()


# --- the datasets in shared/datasets --------------------------------------------------------------


def test_complete_journey_dataset(tmp_path: Path) -> None:
    src = _dataset(JOURNEY_DIR)
    out = tmp_path / "out"
    summary = import_complete_journey(src, out)
    # SOURCE.txt: 1,469,307 rows, 2,469 households, 155,848 baskets, 8,869 rows with
    # quantity 0, 17 product ids missing from products.parquet (68,509 sold)
    assert summary.rows_in == 1_469_307
    assert summary.dropped == {"zero quantity": 8_869, "product missing from products.parquet": 32}
    assert summary.written == {
        "customers": 2_469,
        "products": 68_509 - 17,
        "orders": 155_516,  # 332 baskets hold only dropped rows
        "order_lines": 1_469_307 - 8_869 - 32,
        "events": 0,
    }
    assert summary.notes == {INACTIVE_NOTE: 303}
    assert pl.read_parquet(out / "products.parquet")["category"].n_unique() == 304
    _extract_clean(tmp_path, out, summary)


def test_tmall_dataset(tmp_path: Path) -> None:
    csv = _dataset(TMALL_DIR / "t_alibaba_data.csv.gz")
    summary = import_tmall(csv, tmp_path / "csv")
    # SOURCE.txt: 182,880 rows; 884 users, 9,531 brands; click 174,539, buy 6,984,
    # collect 1,204, cart 153; 4,978 distinct (user, brand, buy day); 2013-04-15 .. 08-15
    assert summary.rows_in == 182_880
    assert summary.written == {
        "customers": 884,
        "products": 9_531,
        "orders": 4_298,
        "order_lines": 4_978,
        "events": 79_006,
    }
    assert summary.dropped == {
        "same view or add-to-cart again that day": 174_539 + 153 - 79_006,
        "collect (favourite): no contract event type": 1_204,
    }
    assert summary.used == 79_006 + 6_984
    frames = _read(tmp_path / "csv")
    assert frames["order_lines"]["quantity"].sum() == 6_984
    assert frames["events"]["occurred_at"].min() == T(2013, 4, 15)
    assert frames["events"]["occurred_at"].max() == T(2013, 8, 15)
    _extract_clean(tmp_path, tmp_path / "csv", summary)

    parquet = import_tmall(_dataset(TMALL_DIR / "tmall_2014_brand_events.parquet"), tmp_path / "pq")
    assert parquet.dropped == summary.dropped
    _same(tmp_path / "csv", tmp_path / "pq")


def test_online_retail_full_dataset(tmp_path: Path) -> None:
    src = _dataset(RETAIL_FULL_DIR)
    out = tmp_path / "out"
    summary = import_online_retail(src, out)
    # SOURCE.txt: 541,909 + 525,461 rows; the II file's last 22,523 rows (1,088 invoices) are
    # the other file's first; combined 1,044,847 rows, 5,942 customers
    assert summary.rows_in == 541_909 + 525_461
    assert summary.dropped == {
        "no customer id": 235_287,
        "invoice repeated in another file": 22_523,
        "non-product stock code": 3_590,
        "non-positive price": 62,
    }
    assert summary.rows_in - summary.dropped["invoice repeated in another file"] == 1_044_847
    assert summary.written == {
        "customers": 5_942,
        "products": 5_111,
        "orders": 43_954,
        "order_lines": 805_908,
        "events": 0,
    }
    orders = pl.read_parquet(out / "orders.parquet")
    assert orders["ordered_at"].min() == T(2009, 12, 1, 7, 45)
    assert orders["ordered_at"].max() == T(2011, 12, 9, 12, 50)
    _extract_clean(tmp_path, out, summary)


@pytest.mark.usefixtures("prefect_server")
def test_nightly_run_on_the_tmall_import(tmp_path: Path) -> None:
    src = _dataset(TMALL_DIR / "tmall_2014_brand_events.parquet")
    source = tmp_path / "source"
    result = runner.invoke(app, ["import", "tmall", str(src), "--out", str(source)])
    assert result.exit_code == 0, result.output
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(
        "[gate]\nenabled = false\n[als]\nfactors = 8\niterations = 3\n"
    )
    args = ["run", "--home", str(home), "--source", str(source), "--as-of", "2013-08-16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "shop: 17,680 offers for 884 customers" in result.output  # 20 each
    export = home / "exports" / "2013-08-16"
    verify(export)
    shop = pl.read_parquet(export / "shop.parquet")
    assert shop["customer_id"].n_unique() == 884
    assert set(shop["product_id"]) <= set(
        pl.read_parquet(source / "products.parquet")["product_id"]
    )
