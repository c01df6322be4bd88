"""Tests for the synthetic shop generator (flows/generate/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from flows.contract import (
    ENTITIES,
    EVENT_TYPES,
    EVENTS,
    ORDER_LINES,
    ORDER_STATUSES,
    ORDERS,
)
from flows.generate import GenerationSummary, ShopShape, generate_shop, planted_products
from flows.generate.params import MAX_INTERVAL_DAYS, MIN_INTERVAL_DAYS

END = dt.date(2025, 3, 1)
DAYS = 60
WINDOW_START = dt.datetime(2025, 3, 1) - dt.timedelta(days=DAYS)
WINDOW_END = dt.datetime(2025, 3, 1)
ARGS = {"customers": 2_000, "products": 500, "days": DAYS, "seed": 11, "end": END}
CHUNK = 700  # 3 chunks: 700, 700, 600
PART_ENTITIES = (ORDERS, ORDER_LINES, EVENTS)

_ARROW_TYPE_NAMES = {
    "VARCHAR": "string",
    "BOOLEAN": "bool",
    "DATE": "date32[day]",
    "TIMESTAMP": "timestamp[us]",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "double",
}


def _read(out_dir: Path, fmt: str) -> dict[str, pl.DataFrame]:
    """All five entities, cast to the contract's types where the format is CSV."""
    frames: dict[str, pl.DataFrame] = {}
    for entity in ENTITIES:
        single = out_dir / f"{entity.name}.{fmt}"
        paths = [single] if single.exists() else sorted((out_dir / entity.name).glob(f"*.{fmt}"))
        if fmt == "parquet":
            frames[entity.name] = pl.concat([pl.read_parquet(p) for p in paths])
            continue
        raw = pl.concat([pl.read_csv(p, infer_schema=False) for p in paths])
        frames[entity.name] = raw.select(_cast_csv(c.name, c.sql_type) for c in entity.columns)
    return frames


def _cast_csv(name: str, sql_type: str) -> pl.Expr:
    col = pl.col(name)
    if sql_type == "BOOLEAN":
        return col.replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean)
    if sql_type == "DATE":
        return col.str.to_date("%Y-%m-%d", strict=True)
    if sql_type == "TIMESTAMP":
        return col.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", strict=True)
    dtype = {"INTEGER": pl.Int32, "BIGINT": pl.Int64, "DOUBLE": pl.Float64}.get(sql_type)
    return col.cast(dtype, strict=True) if dtype is not None else col


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary, list]:
    out = tmp_path_factory.mktemp("gen") / "shop"
    calls: list[tuple[int, int]] = []
    summary = generate_shop(
        out, **ARGS, chunk_customers=CHUNK, progress=lambda d, t: calls.append((d, t))
    )
    return out, summary, calls


@pytest.fixture(scope="module")
def data(shop: tuple[Path, GenerationSummary, list]) -> dict[str, pl.DataFrame]:
    return _read(shop[0], "parquet")


# --- layout, schema, determinism ----------------------------------------------------------------


def test_layout_summary_and_progress(shop: tuple[Path, GenerationSummary, list], data) -> None:
    out, summary, calls = shop
    assert (out / "customers.parquet").is_file()
    assert (out / "products.parquet").is_file()
    for entity in PART_ENTITIES:
        parts = sorted(p.name for p in (out / entity.name).iterdir())
        assert parts == [f"part-{i:05d}.parquet" for i in range(3)]
    assert calls == [(700, 2_000), (1_400, 2_000), (2_000, 2_000)]
    assert summary.out_dir == out
    assert summary.customers == data["customers"].height == 2_000
    assert summary.products == data["products"].height == 500
    assert summary.orders == data["orders"].height > 0
    assert summary.order_lines == data["order_lines"].height >= summary.orders
    assert summary.events == data["events"].height > 10 * summary.orders


def test_parquet_schema_matches_contract(shop: tuple[Path, GenerationSummary, list]) -> None:
    out = shop[0]
    for entity in ENTITIES:
        path = out / f"{entity.name}.parquet"
        if not path.exists():
            path = out / entity.name / "part-00000.parquet"
        schema = pq.read_schema(path)
        assert tuple(schema.names) == entity.column_names
        for column in entity.columns:
            assert str(schema.field(column.name).type) == _ARROW_TYPE_NAMES[column.sql_type]


def test_same_seed_same_bytes_other_seed_other_data(
    shop: tuple[Path, GenerationSummary, list], tmp_path: Path
) -> None:
    first = shop[0]
    again = generate_shop(tmp_path / "again", **ARGS, chunk_customers=CHUNK).out_dir
    files = sorted(p.relative_to(first) for p in first.rglob("*.parquet"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.parquet"))
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel

    other = generate_shop(tmp_path / "other", **{**ARGS, "seed": 12}, chunk_customers=CHUNK)
    a, b = _read(first, "parquet"), _read(other.out_dir, "parquet")
    assert not a["events"].equals(b["events"])
    assert not a["products"].equals(b["products"])


def test_csv_and_parquet_hold_the_same_data(data, tmp_path: Path) -> None:
    out = generate_shop(tmp_path / "csv", **ARGS, chunk_customers=CHUNK, fmt="csv").out_dir
    assert (out / "customers.csv").is_file()
    assert (out / "events" / "part-00000.csv").is_file()
    header = (out / "orders" / "part-00000.csv").read_text().splitlines()[0]
    assert header == ",".join(ORDERS.column_names)
    csv = _read(out, "csv")
    for entity in ENTITIES:
        assert csv[entity.name].columns == list(entity.column_names)
        assert csv[entity.name].equals(data[entity.name]), entity.name


def test_csv_text_formats(tmp_path: Path) -> None:
    out = generate_shop(tmp_path / "s", **{**ARGS, "customers": 300}, fmt="csv").out_dir
    orders = (out / "orders" / "part-00000.csv").read_text().splitlines()
    assert len(orders[1].split(",")[2]) == len("2025-01-01 00:00:00")
    customers = (out / "customers.csv").read_text()
    assert ",true," in customers and ",false," in customers
    products = (out / "products.csv").read_text().splitlines()
    assert any(",," in line for line in products[1:])  # null interval: empty field
    assert products[1].endswith(
        ",https://shop.example/p/P000001,https://shop.example/img/P000001.jpg"
    )


def test_refuses_to_overwrite_contract_files(tmp_path: Path) -> None:
    out = tmp_path / "shop"
    out.mkdir()
    (out / "notes.txt").write_text("not a contract file")
    generate_shop(out, **{**ARGS, "customers": 50, "products": 20})  # empty-ish folder is fine
    with pytest.raises(ValueError, match="contract files"):
        generate_shop(out, **{**ARGS, "customers": 50, "products": 20})
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "products.csv").write_text("product_id\n")
    with pytest.raises(ValueError, match=r"products\.csv"):
        generate_shop(lone, **{**ARGS, "customers": 50, "products": 20}, fmt="parquet")
    assert (lone / "products.csv").read_text() == "product_id\n"


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        generate_shop(tmp_path / "a", **ARGS, fmt="json")
    with pytest.raises(ValueError):
        generate_shop(tmp_path / "b", **{**ARGS, "customers": 0})


def test_empty_parts_are_skipped(tmp_path: Path) -> None:
    summary = generate_shop(
        tmp_path / "s", **{**ARGS, "customers": 40, "products": 30, "seed": 3}, chunk_customers=1
    )
    events = _read(summary.out_dir, "parquet")["events"]
    parts = sorted((summary.out_dir / "events").iterdir())
    active = events["customer_id"].unique().sort()
    assert 0 < len(parts) < 40  # some single-customer chunks had no activity
    assert len(parts) == len(active)
    expected = [f"part-{int(c[1:]) - 1:05d}.parquet" for c in active]
    assert [p.name for p in parts] == expected


# --- contract values, ids, references, time ----------------------------------------------------


def test_ids_are_unique_and_well_formed(data) -> None:
    customers, products = data["customers"], data["products"]
    orders, lines, events = data["orders"], data["order_lines"], data["events"]
    assert customers["customer_id"].is_unique().all()
    assert products["product_id"].is_unique().all()
    assert orders["order_id"].is_unique().all()
    assert lines.select("order_id", "line_no").is_unique().all()
    assert events.select(EVENTS.key).is_unique().all()
    assert customers["customer_id"].head(2).to_list() == ["C0000001", "C0000002"]
    assert customers["customer_id"].str.contains(r"^C\d{7}$").all()
    assert products["product_id"].head(2).to_list() == ["P000001", "P000002"]
    assert products["product_id"].str.contains(r"^P\d{6}$").all()
    assert orders["order_id"].str.starts_with("O").all()
    # A session belongs to one customer.
    per_session = events.group_by("session_id").agg(pl.col("customer_id").n_unique())
    assert (per_session["customer_id"] == 1).all()


def test_line_numbers_run_from_one(data) -> None:
    lines = data["order_lines"]
    check = lines.group_by("order_id").agg(
        pl.col("line_no").min().alias("lo"),
        pl.col("line_no").max().alias("hi"),
        pl.len().alias("n"),
    )
    assert (check["lo"] == 1).all()
    assert (check["hi"] == check["n"]).all()


def test_values_within_contract(data) -> None:
    assert set(data["orders"]["status"].unique()) == set(ORDER_STATUSES)
    assert set(data["events"]["event_type"].unique()) == set(EVENT_TYPES)
    lines = data["order_lines"]
    assert (lines["quantity"] > 0).all()
    priced = lines.join(data["products"], on="product_id")
    assert (priced["unit_price"] == priced["price"]).all()
    products = data["products"]
    assert (products["price"] > 0).all()
    assert (products["stock"] >= 0).all()
    intervals = products["repurchase_interval_days"].drop_nulls()
    assert intervals.min() >= MIN_INTERVAL_DAYS and intervals.max() <= MAX_INTERVAL_DAYS
    assert intervals.n_unique() > 5  # each consumable has its own interval
    for entity in ENTITIES:
        frame = data[entity.name]
        for column in entity.columns:
            if column.required:
                assert frame[column.name].null_count() == 0, (entity.name, column.name)


def test_references_resolve(data) -> None:
    customers = set(data["customers"]["customer_id"])
    products = set(data["products"]["product_id"])
    orders = data["orders"]
    lines = data["order_lines"]
    events = data["events"]
    assert set(events["customer_id"]) <= customers
    assert set(events["product_id"]) <= products
    assert set(orders["customer_id"]) <= customers
    assert set(lines["product_id"]) <= products
    assert set(lines["order_id"]) <= set(orders["order_id"])
    assert set(orders["order_id"]) == set(lines["order_id"])  # every order has a line


def test_timestamps_inside_window(data) -> None:
    for frame, column in ((data["events"], "occurred_at"), (data["orders"], "ordered_at")):
        assert frame[column].min() >= WINDOW_START
        assert frame[column].max() < WINDOW_END
    assert data["customers"]["signup_date"].max() < END


def test_signup_precedes_first_activity(data) -> None:
    first = (
        pl.concat(
            [
                data["events"].select("customer_id", t="occurred_at"),
                data["orders"].select("customer_id", t="ordered_at"),
            ]
        )
        .group_by("customer_id")
        .agg(pl.col("t").min())
    )
    joined = first.join(data["customers"], on="customer_id")
    assert (joined["signup_date"] <= joined["t"].dt.date()).all()
    signups = data["customers"]["signup_date"]
    assert (signups < WINDOW_START.date()).mean() > 0.2  # some before the window
    assert (signups >= WINDOW_START.date()).mean() > 0.4  # many during it


def test_sessions_are_short_and_carts_follow_views(data) -> None:
    events = data["events"]
    spans = events.group_by("session_id").agg(
        (pl.col("occurred_at").max() - pl.col("occurred_at").min()).alias("span")
    )
    assert spans["span"].max() < dt.timedelta(hours=12)
    views = events.filter(pl.col("event_type") == "view").select(
        "session_id", "product_id", viewed=pl.col("occurred_at")
    )
    carts = events.filter(pl.col("event_type") == "add_to_cart")
    cart_share = carts.height / views.height
    assert 0.10 < cart_share < 0.20
    first_view = views.group_by("session_id", "product_id").agg(pl.col("viewed").min())
    matched = carts.join(first_view, on=["session_id", "product_id"], how="left")
    assert matched["viewed"].null_count() == 0
    assert (matched["occurred_at"] > matched["viewed"]).all()


def test_every_purchase_was_carted_or_is_a_habit_or_a_complement(data) -> None:
    """A line the customer did not add to the cart before the order is a consumable bought
    again on a habit (possibly one from before the window) or a complement of another line of
    the same order (a checkout suggestion)."""
    truth = planted_products(products=ARGS["products"], seed=ARGS["seed"])
    sales = (
        data["order_lines"]
        .join(data["orders"], on="order_id")
        .filter(pl.col("status") != "return")
        .join(truth.select("product_id", "consumable"), on="product_id")
    )
    carted = (
        data["events"]
        .filter(pl.col("event_type") == "add_to_cart")
        .group_by("customer_id", "product_id")
        .agg(pl.col("occurred_at").min().alias("carted"))
    )
    joined = sales.join(carted, on=["customer_id", "product_id"], how="left")
    not_carted = joined.filter(
        pl.col("carted").is_null() | (pl.col("carted") > pl.col("ordered_at"))
    )
    pairs = truth.select("product_id", complement=pl.col("complements")).explode("complement")
    suggested = (
        sales.select("order_id", "product_id")
        .join(pairs, on="product_id")
        .select("order_id", product_id="complement")
        .unique()
        .with_columns(suggested=pl.lit(True))
    )
    explained = not_carted.join(suggested, on=["order_id", "product_id"], how="left")
    unexplained = explained.filter(~pl.col("consumable") & pl.col("suggested").is_null())
    assert unexplained.height == 0, unexplained.head()
    # both causes occur, and most purchases still come from carts
    assert explained.filter(pl.col("suggested").is_null()).height > 50  # habits
    assert explained.filter(pl.col("suggested").is_not_null()).height > 50  # complements
    assert not_carted.height < 0.6 * sales.height


# --- planted realism ----------------------------------------------------------------------------


def test_catalogue_shares(data) -> None:
    products = data["products"]
    assert products["category"].n_unique() == 5  # clip(500 // 100, 5, 60)
    out_of_stock = (products["stock"] == 0).mean()
    assert 0.03 <= out_of_stock <= 0.12
    assert 0.005 <= (~products["active"]).mean() <= 0.08
    # 30 % consumables, a fifth of them with the interval in the file
    assert 0.03 <= products["repurchase_interval_days"].is_not_null().mean() <= 0.10
    title_word = products["title"].str.split(" ").list.first().str.to_lowercase()
    assert (products["category"].str.split("-").list.first() == title_word).all()
    # Category medians differ.
    medians = products.group_by("category").agg(pl.col("price").median())["price"]
    assert medians.max() / medians.min() > 1.5


def test_customer_shares(data) -> None:
    customers = data["customers"]
    assert 0.50 <= customers["email_consent"].mean() <= 0.70
    assert customers["country"].drop_nulls().n_unique() >= 6
    active = pl.concat(
        [data["events"].select("customer_id"), data["orders"].select("customer_id")]
    ).unique()
    inactive_share = 1 - active.height / customers.height
    assert 0.04 <= inactive_share <= 0.15
    cold = customers.join(active, on="customer_id", how="anti")
    recent = (WINDOW_END.date() - cold["signup_date"]).dt.total_days() <= 7
    assert recent.sum() > 0  # some cold-start customers signed up in the last days


def test_order_statuses_and_returns(data) -> None:
    orders, lines = data["orders"], data["order_lines"]
    shares = orders["status"].value_counts(normalize=True)
    share = dict(zip(shares["status"], shares["proportion"], strict=True))
    assert share["completed"] > 0.85
    assert 0.003 <= share["cancelled"] <= 0.05
    assert share["return"] > 0.01
    # A return gives back something the same customer bought 3+ days earlier.
    sold = (
        lines.join(orders.filter(pl.col("status") == "completed"), on="order_id")
        .group_by("customer_id", "product_id")
        .agg(pl.col("ordered_at").min().alias("bought"), pl.col("quantity").max())
    )
    returns = lines.join(orders.filter(pl.col("status") == "return"), on="order_id")
    matched = returns.join(sold, on=["customer_id", "product_id"], how="left", suffix="_sold")
    assert matched["bought"].null_count() == 0
    assert (matched["ordered_at"] - matched["bought"] >= dt.timedelta(days=3)).all()
    assert (matched["quantity"] <= matched["quantity_sold"]).all()


def test_consumables_are_bought_again(data) -> None:
    consumables = data["products"].filter(pl.col("repurchase_interval_days").is_not_null())
    bought = (
        data["order_lines"]
        .join(data["orders"].filter(pl.col("status") == "completed"), on="order_id")
        .join(consumables, on="product_id")
    )
    again = bought.group_by("customer_id", "product_id").agg(
        pl.len().alias("n"),
        pl.col("ordered_at").sort().diff().dt.total_days().min().alias("gap"),
        pl.col("repurchase_interval_days").first(),
    )
    repeated = again.filter(pl.col("n") >= 2)
    assert repeated.height >= 5
    # Repeat buys follow the product's cycle (with jitter) at least for most pairs.
    on_cycle = repeated["gap"] >= 0.75 * repeated["repurchase_interval_days"]
    assert on_cycle.mean() > 0.5


def test_taste_concentrates_on_few_categories(data) -> None:
    views = (
        data["events"]
        .filter(pl.col("event_type") == "view")
        .join(data["products"].select("product_id", "category"), on="product_id")
    )
    global_share = views.group_by("category").agg((pl.len() / views.height).alias("global"))
    per_customer = (
        views.group_by("customer_id", "category")
        .agg(pl.len().alias("n"))
        .with_columns(
            share=pl.col("n") / pl.col("n").sum().over("customer_id"),
            total=pl.col("n").sum().over("customer_id"),
        )
        .filter(pl.col("total") >= 10)
    )
    top = (
        per_customer.sort("share", descending=True)
        .group_by("customer_id")
        .first()
        .join(global_share, on="category")
    )
    assert top.height > 300
    assert top["share"].mean() > 0.5
    assert top["share"].mean() > 2 * top["global"].mean()


def test_popularity_is_skewed_within_categories(data) -> None:
    views = data["events"].filter(pl.col("event_type") == "view")
    counts = views.group_by("product_id").len().sort("len", descending=True)
    top_share = counts["len"].head(10).sum() / views.height
    assert 0.15 < top_share < 0.8  # 10 of 500 products draw a large share, not everything
    assert counts.height > 250  # yet the long tail gets views too


# --- the shape of a real shop under a time split (a 90-day shop) -------------------------------

SHAPED = {"customers": 3_000, "products": 600, "days": 90, "seed": 11, "end": END}
SHAPED_END = dt.datetime.combine(END, dt.time())


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    out = generate_shop(tmp_path_factory.mktemp("shaped") / "shop", **SHAPED).out_dir
    return _read(out, "parquet")


def _sales(data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Completed order lines with their customer and time."""
    completed = data["orders"].filter(pl.col("status") == "completed")
    return data["order_lines"].join(completed, on="order_id")


def _top_sellers(sales: pl.DataFrame, first: dt.datetime, days: int, k: int = 20) -> set[str]:
    until = first + dt.timedelta(days=days)
    window = sales.filter(pl.col("ordered_at").is_between(first, until, closed="left"))
    counts = (
        window.group_by("product_id").len().sort(["len", "product_id"], descending=[True, False])
    )
    return set(counts["product_id"].head(k))


def _top20_overlap(data: dict[str, pl.DataFrame], days: int) -> float:
    """Share of the top-20 sellers (order lines) of the first 30 days that are among the top 20
    of the last 30 days."""
    sales = _sales(data)
    start = SHAPED_END - dt.timedelta(days=days)
    first = _top_sellers(sales, start, 30)
    last = _top_sellers(sales, SHAPED_END - dt.timedelta(days=30), 30)
    return len(first & last) / 20


def test_many_purchases_of_the_last_two_weeks_are_repeats(shaped) -> None:
    """Of the (customer, product) pairs bought in the last 14 days, 30-60 % had been bought by
    that customer before those 14 days (grocery shows 40-90 %; ours measured 0.43)."""
    sales = _sales(shaped).select("customer_id", "product_id", "ordered_at")
    cut = SHAPED_END - dt.timedelta(days=14)
    before = sales.filter(pl.col("ordered_at") < cut).select("customer_id", "product_id").unique()
    last = sales.filter(pl.col("ordered_at") >= cut).select("customer_id", "product_id").unique()
    assert last.height > 500
    repeats = last.join(before, on=["customer_id", "product_id"], how="semi").height
    assert 0.3 <= repeats / last.height <= 0.6, repeats / last.height


def test_complements_are_bought_together(shaped) -> None:
    """Complement pairs share orders at least 5 times as often as independent products of the
    same popularity would (expected orders with both: n_a * n_b / orders; measured 21x)."""
    truth = planted_products(products=SHAPED["products"], seed=SHAPED["seed"])
    pairs = (
        truth.select("product_id", complement=pl.col("complements"))
        .explode("complement")
        .drop_nulls()
        .unique()
    )
    assert 1 <= pairs.height / truth.height <= 3
    other = pairs.join(truth.select("product_id", "category"), on="product_id").join(
        truth.select(complement="product_id", c_category="category"), on="complement"
    )
    assert (other["category"] != other["c_category"]).mean() > 0.4  # often another category
    baskets = _sales(shaped).select("order_id", "product_id").unique()
    n_orders = baskets["order_id"].n_unique()
    sold = baskets.group_by("product_id").agg(n=pl.len())
    together = (
        baskets.join(baskets.rename({"product_id": "complement"}), on="order_id")
        .group_by("product_id", "complement")
        .agg(both=pl.len())
    )
    scored = (
        pairs.join(sold, on="product_id")
        .join(sold.rename({"product_id": "complement", "n": "n_c"}), on="complement")
        .join(together, on=["product_id", "complement"], how="left")
        .with_columns(pl.col("both").fill_null(0))
    )
    expected = (scored["n"] * scored["n_c"]).sum() / n_orders
    assert scored["both"].sum() > 200
    assert scored["both"].sum() / expected >= 5, scored["both"].sum() / expected


def test_bestsellers_churn_with_the_seasons(shaped, tmp_path: Path) -> None:
    """The top-20 sellers of the first and the last 30 days overlap by less than 60 % (measured
    0.45); without seasons the same shop keeps most of them (measured 0.80)."""
    assert _top20_overlap(shaped, SHAPED["days"]) < 0.6
    still = ShopShape(season_amplitude=(0.0, 0.0))
    flat = generate_shop(tmp_path / "flat", **SHAPED, shape=still).out_dir
    assert _top20_overlap(_read(flat, "parquet"), SHAPED["days"]) >= 0.7


def test_consumables_mostly_lack_a_configured_interval(shaped) -> None:
    """30 % of the products are consumables; only about a fifth of them carry their interval in
    the products file, the job must learn the others, and history shows them."""
    truth = planted_products(products=SHAPED["products"], seed=SHAPED["seed"])
    products = shaped["products"].join(truth, on="product_id")
    assert (products["category"] == products["category_right"]).all()
    consumables = products.filter("consumable")
    assert 0.22 <= consumables.height / products.height <= 0.38
    configured = consumables["repurchase_interval_days"].is_not_null()
    assert 0.1 <= configured.mean() <= 0.3
    shown = consumables.filter(pl.col("repurchase_interval_days").is_not_null())
    assert (shown["repurchase_interval_days"] == shown["interval_days"]).all()
    assert products.filter(~pl.col("consumable"))["repurchase_interval_days"].null_count() == (
        products.height - consumables.height
    )
    assert consumables["interval_days"].min() >= MIN_INTERVAL_DAYS
    assert consumables["interval_days"].n_unique() > 10
    # the unconfigured ones: the median gap between a customer's purchases follows the product's
    # interval (customers' pace and jitter around it, skipped cycles above it)
    gaps = (
        _sales(shaped)
        .sort("ordered_at")
        .group_by("customer_id", "product_id")
        .agg(gap=pl.col("ordered_at").diff().dt.total_seconds().drop_nulls() / 86_400)
        .explode("gap")
        .drop_nulls()
        .group_by("product_id")
        .agg(pl.col("gap").median(), gaps=pl.len())
        .join(consumables.filter(~configured), on="product_id")
        .filter(pl.col("gaps") >= 5)
    )
    assert gaps.height >= 30
    ratio = gaps["gap"] / gaps["interval_days"]
    assert ((ratio > 0.7) & (ratio < 1.6)).mean() > 0.7, ratio.describe()


def test_the_shape_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ShopShape"):
        ShopShape(consumable_share=1.5)
    with pytest.raises(ValueError, match="complements"):
        ShopShape(complements=(3, 1))
    plain = ShopShape(consumable_share=0.0, complement_rate=0.0, warm_up_days=0)
    args = {**ARGS, "customers": 300}
    data = _read(generate_shop(tmp_path / "plain", **args, shape=plain).out_dir, "parquet")
    assert data["products"]["repurchase_interval_days"].null_count() == ARGS["products"]
    assert not planted_products(products=ARGS["products"], seed=ARGS["seed"], shape=plain)[
        "consumable"
    ].any()
    carted = data["events"].filter(pl.col("event_type") == "add_to_cart")
    sales = _sales(data).join(carted, on=["customer_id", "product_id"], how="anti")
    assert sales.height == 0  # no habits, no complements: every purchase was carted
