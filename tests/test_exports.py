"""Email-ready exports: the wide CSV per channel, the CSV dialect, CSV-injection neutralising,
and the product links (url, image_url) they show, from the source contract to the file."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import rows, tiny_frames, write_source

from flows import db
from flows import exports as E
from flows import publish as P
from flows.extract import extract
from models import columns as C

DAY = dt.date(2025, 6, 1)
LOADED_AT = dt.datetime(2025, 4, 1)
RISKY = ("=SUM(1+1)", "+1", "-2", "@cmd", "\tcmd", "\rcmd")
TRICKY_TITLE = 'Mug, "the big one"\nwith a second line'


def catalogue(titles: dict[str, str] | None = None) -> pl.DataFrame:
    ids = [f"p{i}" for i in range(1, 9)]
    names = {p: f"Product {p}" for p in ids} | (titles or {})
    return pl.DataFrame(
        {
            C.PRODUCT: ids,
            E.TITLE: [names[p] for p in ids],
            E.PRICE: [10.0, 12.499, 8.0, 3.005, 99.0, 20.0, 5.0, 7.5],
            C.CATEGORY: ["a", "a", "a", "b", "b", "b", "c", "c"],
            E.URL: [f"https://shop.example/p/{p}" if p != "p8" else None for p in ids],
            E.IMAGE_URL: [f"https://shop.example/img/{p}.jpg" for p in ids],
        }
    )


def offers(spec: dict[str, list[str]], reasons: dict[str, str] | None = None) -> pl.DataFrame:
    """Long lists with every offer column: customer -> products in rank order."""
    records = [
        {
            C.CUSTOMER: customer,
            C.RANK: rank,
            C.PRODUCT: product,
            C.SCORE: 1.0 / rank,
            C.SOURCE: C.SOURCE_MODEL,
            C.REASON: "viewed",
            C.ANCHOR: "p1" if rank == 1 else None,
            C.REASON_TEXT: (reasons or {}).get(product, f"Because you viewed {product}"),
            C.SEGMENT: "vip" if customer == "c1" else "active",
        }
        for customer, products in spec.items()
        for rank, product in enumerate(products, start=1)
    ]
    schema = {c: pl.String for c in C.OFFER_COLUMNS} | {C.RANK: pl.Int32, C.SCORE: pl.Float64}
    return pl.DataFrame(records, schema=schema).sort(C.CUSTOMER, C.RANK)


def contacts() -> pl.DataFrame:
    return pl.DataFrame({C.CUSTOMER: ["c1", "c2", "c3"], "country": ["DE", None, "GB"]})


SHOP = {"c1": ["p1", "p2", "p3", "p4"], "c2": ["p5", "p6"], "c3": ["p7", "p8", "p1"]}
EMAIL = {"c1": ["p2"], "c3": ["p8", "p7"]}


def stage(exports: Path, lists: dict[str, pl.DataFrame], **kwargs) -> Path:
    kwargs.setdefault("catalogue", catalogue())
    kwargs.setdefault("customers", contacts())
    return P.stage(exports, "run-1", DAY, lists, {"model_version": "m1"}, **kwargs)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def csv_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_wide_csv_matches_the_long_parquet_slot_by_slot(tmp_path):
    lists = {C.CHANNEL_SHOP: offers(SHOP), C.CHANNEL_EMAIL: offers(EMAIL)}
    slots = {C.CHANNEL_SHOP: 5, C.CHANNEL_EMAIL: 2}
    export = stage(tmp_path / "exports", lists, slots=slots)
    products = {r[C.PRODUCT]: r for r in catalogue().iter_rows(named=True)}
    for channel, k in slots.items():
        long = pl.read_parquet(export / f"{channel}.parquet")
        assert long.equals(lists[channel])  # every offer column, raw
        raw = (export / f"{channel}.csv").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
        header = raw.decode().split("\n", 1)[0].split(",")
        assert header == E.wide_columns(k, ("country",))
        wide = read_csv(export / f"{channel}.csv")
        assert [r[C.CUSTOMER] for r in wide] == sorted(long[C.CUSTOMER].unique())
        by_customer = {r[C.CUSTOMER]: r for r in wide}
        for customer, group in long.group_by(C.CUSTOMER):
            row = by_customer[customer[0]]
            assert row[C.SEGMENT] == group[C.SEGMENT][0]
            assert row["country"] == (contacts().filter(pl.col(C.CUSTOMER) == customer[0])[
                "country"][0] or "")  # fmt: skip
            ranked = dict(zip(group[C.RANK], group.iter_rows(named=True), strict=True))
            for i in range(1, k + 1):
                offer = ranked.get(i)
                if offer is None:  # a shorter list: empty cells
                    assert all(row[f"{f}_{i}"] == "" for f, _ in E.SLOT_FIELDS)
                    continue
                product = products[offer[C.PRODUCT]]
                assert row[f"product_id_{i}"] == offer[C.PRODUCT]
                assert row[f"title_{i}"] == product[E.TITLE]
                assert row[f"price_{i}"] == f"{round(product[E.PRICE], 2):.2f}"
                assert row[f"url_{i}"] == (product[E.URL] or "")
                assert row[f"image_url_{i}"] == product[E.IMAGE_URL]
                assert row[f"reason_{i}"] == offer[C.REASON_TEXT]
    manifest = P.verify(export)
    files = [e for e in manifest["files"] if "channel" in e]  # not serving.duckdb
    layouts = {e["file"]: (e["layout"], e["rows"], e["customers"]) for e in files}
    assert layouts == {
        "shop.csv": ("wide", 3, 3),
        "shop.parquet": ("long", 9, 3),
        "email.csv": ("wide", 2, 2),
        "email.parquet": ("long", 3, 2),
    }


@pytest.mark.parametrize("block", [1, 2, 3, 100])
@pytest.mark.parametrize("shuffled", [False, True])
def test_the_wide_csv_written_in_blocks_is_the_file_written_at_once(tmp_path, block, shuffled):
    lists = offers(SHOP | {"c0": ["=p3"], "c4": ["p2", "p3"]}, reasons={"p2": "@cmd"})
    if shuffled:
        lists = lists.sample(fraction=1.0, shuffle=True, seed=3)
    whole = tmp_path / "whole.csv"
    E.neutralise(E.wide(lists, catalogue(), contacts(), 4)).write_csv(
        whole, float_precision=E.PRICE_DECIMALS, **E.CSV_OPTIONS
    )
    blocked = tmp_path / "blocked.csv"
    written = E.write_wide_csv(lists, blocked, catalogue(), contacts(), 4, block=block)
    assert written == 5
    assert blocked.read_bytes() == whole.read_bytes()
    empty = tmp_path / "empty.csv"
    assert E.write_wide_csv(lists.clear(), empty, catalogue(), contacts(), 2) == 0
    assert empty.read_text().splitlines() == [",".join(E.wide_columns(2, ("country",)))]


def test_the_wide_header_is_fixed_by_the_slots_not_by_tonights_lists():
    lists = offers({"c2": ["p5"]})
    wide = E.wide(lists, catalogue(), None, 3)
    assert wide.columns == E.wide_columns(3)
    assert wide.row(0) == ("c2", "active", "p5", "Product p5", 99.0,
                           "https://shop.example/p/p5", "https://shop.example/img/p5.jpg",
                           "Because you viewed p5") + (None,) * 12  # fmt: skip
    assert E.wide(lists.clear(), catalogue(), contacts(), 2).columns == E.wide_columns(
        2, ("country",)
    )
    with pytest.raises(ValueError, match="rank 3, more than the wide file's 2 slots"):
        E.wide(offers({"c1": ["p1", "p2", "p3"]}), catalogue(), None, 2)


def test_formula_cells_are_neutralised_in_every_csv_and_raw_in_parquet(tmp_path):
    titles = dict(zip(("p1", "p2", "p3", "p4", "p5", "p6"), RISKY, strict=True))
    reasons = {"p7": '=HYPERLINK("http://evil")', "p8": "-1+2"}
    lists = {C.CHANNEL_SHOP: offers(SHOP, reasons), C.CHANNEL_EMAIL: offers(EMAIL, reasons)}
    goes_with = pl.DataFrame(
        {
            C.PRODUCT: ["p1", "@p2"],
            C.RANK: [1, 1],
            "goes_with_id": ["+p3", "p4"],
            "support": [3, 4],
            "confidence": [0.5, 0.25],
            "lift": [1.5, 2.0],
        }
    )
    export = stage(
        tmp_path / "exports",
        lists,
        tables={"goes_with": goes_with},
        catalogue=catalogue(titles),
        customers=pl.DataFrame({C.CUSTOMER: ["c1", "c3"], "country": ["=1+1", "\rX"]}),
    )
    for path in sorted(export.glob("*.csv")):
        for cell in csv_cells(path):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path.name, cell)
    shop = {r[C.CUSTOMER]: r for r in read_csv(export / "shop.csv")}
    assert [shop["c1"][f"title_{i}"] for i in (1, 2, 3, 4)] == ["'" + t for t in RISKY[:4]]
    assert shop["c2"]["title_1"] == "'" + RISKY[4] and shop["c2"]["title_2"] == "'" + RISKY[5]
    assert shop["c3"]["reason_1"] == "'" + reasons["p7"]
    assert shop["c1"]["country"] == "'=1+1" and shop["c3"]["country"] == "'\rX"
    goes = read_csv(export / "goes_with.csv")
    assert [(r[C.PRODUCT], r["goes_with_id"]) for r in goes] == [("p1", "'+p3"), ("'@p2", "p4")]
    # Parquet keeps the raw values
    assert pl.read_parquet(export / "shop.parquet").equals(lists[C.CHANNEL_SHOP])
    assert pl.read_parquet(export / "goes_with.parquet").equals(goes_with)
    manifest = json.loads((export / P.MANIFEST).read_text())
    assert {e["file"]: e["layout"] for e in manifest["files"]}["goes_with.csv"] == "long"


def test_neutralise_touches_only_text_that_starts_like_a_formula():
    frame = pl.DataFrame(
        {
            "text": ["=1", "a=1", "-", "'=x", None, "", " =1"],
            "number": [-1.0, 2.0, 3.0, 4.0, 5.0, None, 6.0],
            "kind": pl.Series(["+a", "b", "c", "d", "e", "f", "g"], dtype=pl.Categorical),
        }
    )
    out = E.neutralise(frame)
    assert out["text"].to_list() == ["'=1", "a=1", "'-", "'=x", None, "", " =1"]
    assert out["number"].equals(frame["number"])
    assert out["kind"].to_list() == ["'+a", "b", "c", "d", "e", "f", "g"]


def test_a_title_with_a_comma_a_quote_and_a_newline_round_trips(tmp_path):
    reasons = {"p2": 'Says "hello",\r\nthen goes on'}
    lists = {C.CHANNEL_EMAIL: offers({"c1": ["p1", "p2"]}, reasons)}
    export = stage(tmp_path / "exports", lists, catalogue=catalogue({"p1": TRICKY_TITLE}))
    (row,) = read_csv(export / "email.csv")
    assert row["title_1"] == TRICKY_TITLE
    assert row["reason_2"] == reasons["p2"]
    text = (export / "email.csv").read_text(encoding="utf-8")
    assert '"Mug, ""the big one""\nwith a second line"' in text  # quoted, quotes doubled


# --- the product links in the source contract -------------------------------------------------


def products_with_links(**override: list[str | None]) -> pl.DataFrame:
    products = tiny_frames()["products"]
    links = {
        "url": [f"https://shop.example/p/{p}" for p in products["product_id"]],
        "image_url": [f"http://cdn.example/{p}.jpg" for p in products["product_id"]],
    } | override
    return products.with_columns(pl.Series(k, v, dtype=pl.String) for k, v in links.items())


def load(database: Path, source: Path, run_id: str = "r1") -> dict:
    return {x.entity: x for x in extract(database, source, run_id=run_id, loaded_at=LOADED_AT)}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_invalid_url_is_quarantined_with_a_reason_naming_the_column(tmp_path, fmt):
    url = [f"https://shop.example/p/p{i}" for i in range(1, 9)]
    url[1] = "javascript:alert(1)"
    image = [f"HTTPS://cdn.example/p{i}.jpg" for i in range(1, 9)]
    image[2] = "cdn.example/p3.jpg"  # no scheme
    image[3] = None  # optional
    frames = tiny_frames() | {"products": products_with_links(url=url, image_url=image)}
    database = tmp_path / "offers.duckdb"
    loads = load(database, write_source(tmp_path / "src", frames, fmt))
    assert loads["products"].reasons == {"invalid_value:url": 1, "invalid_value:image_url": 1}
    assert rows(database, "select reason, record->>'product_id' from quarantine "
                "where entity = 'products' order by 2") == [
        ("invalid_value:url", "p2"), ("invalid_value:image_url", "p3")
    ]  # fmt: skip
    stored = rows(database, "select product_id, url, image_url from products order by 1")
    assert [p for p, _, _ in stored] == ["p1", "p4", "p5", "p6", "p7", "p8"]
    assert stored[1] == ("p4", "https://shop.example/p/p4", None)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_old_products_file_without_links_still_loads(tmp_path, fmt):
    database = tmp_path / "offers.duckdb"
    source = write_source(tmp_path / "src", tiny_frames(), fmt)  # no url, no image_url
    assert load(database, source)["products"].quarantined == 0
    con = db.connect(database)
    try:
        shown = E.read_catalogue(con)
    finally:
        con.close()
    assert shown.columns == list(E.CATALOGUE_COLUMNS) and shown.height == 8
    assert shown[E.URL].null_count() == shown[E.IMAGE_URL].null_count() == 8
    # a newer file with links next to the old one: both load, the newer row wins
    later = products_with_links().filter(pl.col("product_id") == "p1")
    (source / "products").mkdir()
    if fmt == "csv":
        later.write_csv(source / "products" / "2025-04-02.csv")
    else:
        later.write_parquet(source / "products" / "2025-04-02.parquet")
    again = load(database, source, run_id="r2")["products"]
    assert (again.updated, again.quarantined) == (1, 0)
    assert rows(database, "select url from products where product_id in ('p1', 'p2') "
                "order by product_id") == [("https://shop.example/p/p1",), (None,)]  # fmt: skip


def test_a_database_created_before_the_links_gains_them(tmp_path):
    database = tmp_path / "offers.duckdb"
    con = duckdb.connect(str(database))
    con.sql(
        "create table products (product_id varchar not null, title varchar not null, "
        "category varchar not null, price double not null, stock integer not null, "
        "active boolean not null, repurchase_interval_days integer, loaded_run varchar not null)"
    )
    con.sql("insert into products values ('p9', 'Old', 'a', 1.0, 1, true, null, 'r0')")
    con.close()
    frames = tiny_frames() | {"products": products_with_links()}
    load(database, write_source(tmp_path / "src", frames))
    assert rows(database, "select product_id, url, loaded_run from products "
                "where product_id in ('p1', 'p9') order by 1") == [
        ("p1", "https://shop.example/p/p1", "r1"), ("p9", None, "r0")
    ]  # fmt: skip
