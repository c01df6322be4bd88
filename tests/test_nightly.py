"""The nightly flow end to end, on Prefect (a temporary server for the test session)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import polars as pl
import polars.selectors as cs
import pytest
from helpers import END, rows, snapshot

from flows.config import load_settings
from flows.errors import BusyError, SourceError, TrainingError
from flows.nightly import home_lock, nightly
from flows.publish import verify
from models import columns as C

pytestmark = pytest.mark.usefixtures("prefect_server")

CONFIG = """
[als]
factors = 8
iterations = 3
"""


@pytest.fixture(scope="module")
def published(small_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One successful nightly run on the small generated shop."""
    home = tmp_path_factory.mktemp("nightly") / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    summary = nightly(as_of=END, home=str(home), source=str(small_shop))
    return {"home": home, "summary": summary, "source": small_shop}


def test_run_publishes_a_verified_export_that_matches_the_offers_table(published):
    home, summary = published["home"], published["summary"]
    assert summary["status"] == "succeeded"
    export = home / "exports" / END.isoformat()
    assert Path(summary["export"]) == export
    assert (home / "exports" / "latest").resolve() == export.resolve()
    manifest = verify(export)
    settings = load_settings(home)
    assert manifest["as_of"] == END.isoformat()
    assert manifest["model_version"] == summary["model_version"]
    assert manifest["config_hash"] == settings.config_hash()
    assert manifest["columns"] == list(C.OFFER_COLUMNS)

    db = home / "offers.duckdb"
    for channel in ("shop", "email"):
        parquet = pl.read_parquet(export / f"{channel}.parquet")
        wide = pl.read_csv(export / f"{channel}.csv", infer_schema=False)  # one row a customer
        slots = (
            wide.unpivot(index="customer_id", on=cs.starts_with("product_id_"), value_name="pid")
            .drop_nulls("pid")
            .select(
                "customer_id",
                pl.col("variable").str.strip_prefix("product_id_").cast(pl.Int32).alias("rank"),
                pl.col("pid").alias("product_id"),
            )
        )
        long = parquet.select("customer_id", "rank", "product_id")
        assert slots.sort("customer_id", "rank").equals(long.sort("customer_id", "rank"))
        files = {f["file"]: f for f in manifest["files"]}
        assert files[f"{channel}.parquet"]["rows"] == parquet.height == summary["offers"][channel]
        stored = rows(
            db,
            f"select {', '.join(C.OFFER_COLUMNS)} from offers "
            f"where channel = '{channel}' and as_of = '{END}' order by customer_id, rank",
        )
        assert parquet.sort("customer_id", "rank").rows() == stored


def test_every_served_customer_gets_lists_by_the_rules(published):
    db = published["home"] / "offers.duckdb"
    served = rows(db, f"select count(*) from customers where signup_date < '{END}'")[0][0]
    per_channel = dict(
        rows(db, "select channel, count(distinct customer_id) from current_offers group by 1")
    )
    assert per_channel["shop"] == served
    consenting = rows(
        db,
        f"select count(*) from customers where email_consent and signup_date < '{END}'",
    )[0][0]
    # one e-mail a customer: lapsing customers get the winback list instead of the email
    assert per_channel["email"] + per_channel.get("winback", 0) == consenting
    lapsing = rows(db, "select distinct segment from offers where channel = 'winback'")
    assert lapsing in ([], [("lapsing",)])
    # lengths: 20 in the shop, 5 by email; nothing else in the source column
    assert (
        rows(db, "select channel, max(rank) from offers group by 1 order by 1")
        == [
            ("email", 5),
            ("shop", 20),
            ("winback", 5),
        ][: len(per_channel)]
    )
    assert {r[0] for r in rows(db, "select distinct source from offers")} <= {
        "als",
        "popular",
        "popular_category",
        "buy_again",
        "popular_fill",
        "popular_cold_start",
        "new",
    }
    assert rows(
        db,
        "select count(*) from offers o join products p using (product_id) "
        "where p.stock <= 0 or not p.active",
    ) == [(0,)]


def test_every_offer_explains_itself_with_an_anchor_from_the_customers_history(published):
    db = published["home"] / "offers.duckdb"
    offers = pl.DataFrame(
        rows(db, "select customer_id, product_id, reason, anchor_id, reason_text from offers"),
        schema=["customer_id", "product_id", "reason", "anchor_id", "reason_text"],
        orient="row",
    )
    assert offers["reason"].null_count() == 0 and offers["reason_text"].null_count() == 0
    codes = set(offers["reason"])
    # the hybrid is in charge here: its ALS picks are anchored, its due purchases restocked
    assert {"restock", "popular"} <= codes and codes & {"bought", "viewed", "goes_with"}
    bought = set(
        rows(
            db,
            "select distinct o.customer_id, l.product_id from orders o join order_lines l "
            f"using (order_id) where o.ordered_at < '{END}'",
        )
    )
    seen = set(
        rows(db, f"select distinct customer_id, product_id from events where occurred_at < '{END}'")
    )
    titles = dict(rows(db, "select product_id, title from products"))
    for customer, product, reason, anchor, text in offers.rows():
        if reason == "restock":
            assert (customer, product) in bought and anchor is None
        elif reason in ("bought", "goes_with"):
            assert (customer, anchor) in bought and anchor != product
            assert titles[anchor] in text
        elif reason == "viewed":  # browsed (or an order that was cancelled or returned)
            assert (customer, anchor) in seen | bought and anchor != product
            assert titles[anchor] in text
        else:
            assert anchor is None
    pairs = set(rows(db, "select product_id, goes_with_id from goes_with"))
    together = offers.filter(pl.col("reason") == "goes_with")
    assert all((a, p) in pairs for a, p in together.select("anchor_id", "product_id").rows())


def test_model_is_saved_with_its_metadata(published):
    home, summary = published["home"], published["summary"]
    version = summary["trained_version"]
    folder = home / "models" / version
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["version"] == version
    assert meta["params"] == {"factors": 8, "regularization": 0.05, "alpha": 2.0, "iterations": 3}
    assert meta["seed"] == 42
    assert meta["as_of"] == END.isoformat()
    window = meta["data_window"]
    assert window["first_at"] < window["last_at"] < END.isoformat()
    assert window["events_used"] > 0 and window["orders_used"] > 0
    assert meta["counts"]["interactions"] == summary["counts"]["interactions"] > 0
    assert set(meta["libraries"]) == {"implicit", "numpy", "scipy", "polars", "duckdb"}
    assert {p.name for p in folder.iterdir()} == {
        "model.npz",
        "users.parquet",
        "items.parquet",
        "metadata.json",
    }
    users = pl.read_parquet(folder / "users.parquet")
    assert users.height == summary["counts"]["customers"]
    db = home / "offers.duckdb"
    registered = rows(db, "select version, kind, status from model_versions order by kind")
    verdict = summary["gate"]
    # on this shop about 40 % of what customers buy are repeats: buying again is the strongest
    # baseline, and the hybrid (due purchases first, then ALS's new products, category caps
    # applied) beats it clearly and significantly: it takes charge, ALS alone is rejected
    assert (verdict["action"], verdict["chosen"]) == ("promote", "hybrid")
    baselines = {k: verdict["scores"][k] for k in load_settings(home).gate.baselines}
    assert max(baselines, key=baselines.get) == "buy_again"
    assert verdict["scores"]["hybrid"] >= 1.05 * verdict["scores"]["buy_again"]
    assert verdict["test"]["incumbent"] == "buy_again" and verdict["test"]["p_value"] < 0.05
    assert verdict["reason"].endswith("hybrid takes charge")
    assert registered == [
        (summary["trained_version"], "als", "rejected"),
        (summary["model_version"], "hybrid", "promoted"),
    ]
    hybrid = home / "models" / summary["model_version"]
    assert (hybrid / "model.npz").is_file() and (hybrid / "judge" / "model.npz").is_file()
    assert summary["trained_version"] == version
    assert rows(db, "select status from runs") == [("succeeded",)]


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def _missing_file(src: Path) -> None:
    (src / "customers.parquet").unlink()


def _missing_column(src: Path) -> None:
    path = src / "products.parquet"
    pl.read_parquet(path).drop("stock").write_parquet(path)


def _wrong_type(src: Path) -> None:
    products = pl.read_parquet(src / "products.parquet")
    products = products.with_columns(pl.col("price").cast(pl.String))
    products = products.with_columns(
        pl.when(pl.int_range(pl.len()) == 6).then(pl.lit("12,99")).otherwise("price").alias("price")
    )
    (src / "products.parquet").unlink()
    products.write_csv(src / "products.csv")


def _unreadable(src: Path) -> None:
    (src / "events" / "part-00000.parquet").write_bytes(b"PAR1 this is not parquet")


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_missing_file, ["missing source file for 'customers'", "customers.parquet"]),
        (_missing_column, ["products.parquet", "column 'stock'", "missing column"]),
        (_wrong_type, ["products.csv", "row 7", "column 'price'", "'12,99'", "DOUBLE"]),
        (_unreadable, ["part-00000.parquet", "cannot read PARQUET"]),
    ],
    ids=["missing-file", "missing-column", "wrong-type", "unreadable-file"],
)
def test_bad_source_stops_the_run_and_leaves_everything_as_it_was(
    published, tmp_path, corrupt, expected
):
    home = published["home"]
    db = home / "offers.duckdb"
    before = snapshot(db)
    latest = (home / "exports" / "latest").resolve()
    manifest_before = (latest / "manifest.json").read_text()
    runs_before = rows(db, "select count(*) from runs")[0][0]

    bad = _copy(published["source"], tmp_path / "bad")
    corrupt(bad)
    with pytest.raises(SourceError) as caught:
        nightly(as_of=END, home=str(home), source=str(bad))
    for part in expected:
        assert part in str(caught.value)

    assert snapshot(db) == before
    assert (home / "exports" / "latest").resolve() == latest
    assert (latest / "manifest.json").read_text() == manifest_before
    verify(latest)
    assert not [p for p in (home / "exports" / "runs").iterdir() if p.name.startswith(".tmp")]
    failed = rows(db, "select status, summary->>'error' from runs order by started_at desc")
    assert len(failed) == runs_before + 1
    assert failed[0][0] == "failed"
    assert "SourceError" in failed[0][1]


def test_nothing_to_train_on_is_a_training_error_and_publishes_nothing(published):
    home = published["home"]
    before = snapshot(home / "offers.duckdb")
    too_early = END - dt.timedelta(days=365)
    with pytest.raises(TrainingError, match="no interactions before the as-of date"):
        nightly(as_of=too_early, home=str(home), source=str(published["source"]))
    assert snapshot(home / "offers.duckdb") == before
    assert not (home / "exports" / too_early.isoformat()).exists()


def test_a_second_run_on_the_same_home_is_refused_while_one_holds_it(tmp_path):
    with home_lock(tmp_path), pytest.raises(BusyError, match="another run is using") as caught:
        nightly(as_of=END, home=str(tmp_path), source=str(tmp_path / "unused"))
    assert f"pid {os.getpid()}" in str(caught.value)
    with home_lock(tmp_path):  # released afterwards
        pass


def test_goes_with_lists_are_exported_and_stored_for_product_pages(published):
    home, summary = published["home"], published["summary"]
    export = home / "exports" / END.isoformat()
    manifest = verify(export)
    files = {f["file"]: f for f in manifest["files"]}
    goes = pl.read_parquet(export / "goes_with.parquet")
    assert files["goes_with.parquet"]["rows"] == goes.height == summary["goes_with"]["rows"] > 0
    assert files["goes_with.csv"]["table"] == "goes_with"
    assert goes.columns == ["product_id", "rank", "goes_with_id", "support", "confidence", "lift"]
    assert (goes["product_id"] != goes["goes_with_id"]).all()
    assert (goes["lift"] > 1).all() and (goes["support"] >= 3).all()
    assert goes.group_by("product_id").agg(pl.col("rank").max())["rank"].max() <= 10
    db = home / "offers.duckdb"
    offerable = {
        r[0] for r in rows(db, "select product_id from products where active and stock > 0")
    }
    assert set(goes["product_id"]) | set(goes["goes_with_id"]) <= offerable
    stored = rows(
        db,
        "select product_id, rank, goes_with_id from goes_with "
        f"where as_of = '{END}' order by product_id, rank",
    )
    assert (
        stored
        == goes.sort("product_id", "rank").select("product_id", "rank", "goes_with_id").rows()
    )
