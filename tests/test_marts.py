"""The SQL marts: what history a run as of a date sees, and with which weights."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl
import pytest
from helpers import END, assert_same_lists, tiny_frames, truncate, ts, write_source

from flows import db, stages
from flows.config import load_settings
from flows.extract import extract
from models.recommender import fit, recommend

AS_OF = dt.date(2025, 4, 1)


def history(home: Path, as_of: dt.date, **overrides):
    settings = load_settings(home, **overrides)
    con = db.connect(settings.database)
    try:
        return stages.read_history(con, as_of, settings)
    finally:
        con.close()


@pytest.fixture
def tiny_home(tmp_path: Path) -> Path:
    frames = tiny_frames()
    # events at the cut: exactly at AS_OF (not seen) and one microsecond before (seen)
    frames["events"] = pl.concat(
        [
            frames["events"],
            pl.DataFrame(
                {
                    "customer_id": ["c2", "c2"],
                    "product_id": ["p8", "p7"],
                    "event_type": ["view", "view"],
                    "occurred_at": [ts("2025-04-01 00:00:00"), ts("2025-03-31 23:59:59.999999")],
                    "session_id": ["s7", "s7"],
                }
            ),
        ]
    )
    home = tmp_path / "home"
    source = write_source(tmp_path / "src", frames, fmt="parquet")
    extract(home / "offers.duckdb", source, run_id="r1", loaded_at=dt.datetime(2025, 4, 2))
    return home


def decay(at: str, half_life: float = 30.0) -> float:
    age_days = (dt.datetime.combine(AS_OF, dt.time()) - ts(at)).total_seconds() / 86_400
    return 0.5 ** (age_days / half_life)


def weights(frame: pl.DataFrame) -> dict[tuple[str, str], float]:
    return {(c, p): w for c, p, w in frame.select("customer_id", "product_id", "weight").rows()}


def test_interaction_weights_decay_and_returns(tiny_home):
    got = weights(history(tiny_home, AS_OF).inputs.interactions)
    expected = {
        # view (1) + add-to-cart (4), each decayed by its own age
        ("c1", "p2"): 1 * decay("2025-03-03 10:00:00") + 4 * decay("2025-03-03 10:01:00"),
        # bought 2 units, returned 1: the purchase keeps half its credit (10 / 2)
        ("c1", "p1"): 5 * decay("2025-03-01 10:00:00"),
        ("c1", "p4"): 10 * decay("2025-03-01 10:00:00"),
        ("c2", "p2"): 10 * decay("2025-03-02 11:00:00"),
        ("c2", "p3"): decay("2025-03-04 08:00:00"),
        ("c2", "p1"): decay("2025-03-04 08:02:00"),
        ("c2", "p7"): decay("2025-03-31 23:59:59.999999"),
        ("c3", "p3"): 10 * decay("2025-03-05 12:00:00"),
        # the cancelled order of p7 earns nothing; only the view counts
        ("c3", "p7"): decay("2025-03-08 19:00:00"),
        ("c3", "p8"): decay("2025-03-08 19:03:00"),
    }
    assert got.keys() == expected.keys()  # the view at exactly AS_OF (c2, p8) is not seen
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_weights_and_half_life_are_configurable(tiny_home):
    got = weights(
        history(
            tiny_home,
            AS_OF,
            interactions={"half_life_days": 10, "weights": {"view": 2, "add_to_cart": 3}},
        ).inputs.interactions
    )
    assert got[("c3", "p8")] == pytest.approx(2 * decay("2025-03-08 19:03:00", 10))
    assert got[("c1", "p2")] == pytest.approx(
        2 * decay("2025-03-03 10:00:00", 10) + 3 * decay("2025-03-03 10:01:00", 10)
    )


def test_a_fully_returned_purchase_loses_all_credit(tmp_path):
    frames = tiny_frames()
    # c2 returns the one p2 it bought
    frames["orders"] = pl.concat(
        [
            frames["orders"],
            pl.DataFrame(
                {
                    "order_id": ["o6"],
                    "customer_id": ["c2"],
                    "ordered_at": [ts("2025-03-12 10:00:00")],
                    "status": ["return"],
                }
            ),
        ]
    )
    frames["order_lines"] = pl.concat(
        [
            frames["order_lines"],
            pl.DataFrame(
                {
                    "order_id": ["o6"],
                    "line_no": [1],
                    "product_id": ["p2"],
                    "quantity": [1],
                    "unit_price": [12.5],
                },
                schema_overrides={"line_no": pl.Int32, "quantity": pl.Int32},
            ),
        ]
    )
    home = tmp_path / "home"
    extract(
        home / "offers.duckdb",
        write_source(tmp_path / "src", frames),
        run_id="r1",
        loaded_at=dt.datetime(2025, 4, 2),
    )
    inputs = history(home, AS_OF).inputs
    assert ("c2", "p2") not in weights(inputs.interactions)
    # ... but a returned product is still never offered back to the customer who had it
    assert ("c2", "p2") in set(inputs.exclusions.rows())


def test_exclusions_offerable_and_served_customers(tiny_home):
    inputs = history(tiny_home, AS_OF).inputs
    # p4 is a consumable (14 days) bought 31 days ago: offerable again; o5 was cancelled
    assert sorted(inputs.exclusions.rows()) == [("c1", "p1"), ("c2", "p2"), ("c3", "p3")]
    assert sorted(inputs.offerable.get_column("product_id")) == ["p1", "p2", "p3", "p4", "p7", "p8"]
    assert inputs.customers.rows() == [
        ("c1", True),
        ("c2", False),
        ("c3", True),
        ("c4", True),
    ]
    earlier = history(tiny_home, dt.date(2025, 3, 10)).inputs
    # nine days after buying it the consumable is still excluded; c4 has not signed up yet
    assert ("c1", "p4") in set(earlier.exclusions.rows())
    assert earlier.customers.get_column("customer_id").to_list() == ["c1", "c2", "c3"]
    # the return on 2025-03-10 09:00 is not visible before its day: full purchase credit
    assert weights(earlier.interactions)[("c1", "p1")] == pytest.approx(
        10
        * 0.5 ** ((dt.datetime(2025, 3, 10) - ts("2025-03-01 10:00:00")).days / 30 + 14 / 24 / 30)
    )


def test_nothing_at_or_after_the_as_of_date_influences_the_offers(small_shop, tmp_path):
    as_of = END - dt.timedelta(days=10)
    cut = dt.datetime.combine(as_of, dt.time())
    now = dt.datetime.combine(END, dt.time())
    full, before = tmp_path / "full", tmp_path / "before"
    extract(full / "offers.duckdb", small_shop, run_id="r1", loaded_at=now)
    truncated = truncate(small_shop, tmp_path / "truncated", cut)
    extract(before / "offers.duckdb", truncated, run_id="r1", loaded_at=now)

    lists = {}
    for name, home in (("full", full), ("before", before)):
        settings = load_settings(home, als={"factors": 8, "iterations": 5})
        inputs = history(home, as_of, als={"factors": 8, "iterations": 5}).inputs
        fitted = fit(inputs, stages.model_spec(settings), seed=settings.seed)
        lists[name] = recommend(fitted, 20)
    # the full history really has later data that could have leaked
    late = pl.read_parquet(small_shop / "events" / "*.parquet").filter(pl.col("occurred_at") >= cut)
    assert late.height > 1000
    assert lists["full"].height > 0
    assert_same_lists(lists["full"], lists["before"])
    assert not math.isnan(lists["full"].get_column("score").sum())


def test_a_customer_who_signs_up_after_the_as_of_date_gets_no_list(tmp_path):
    frames = tiny_frames()
    # c4 signed up on 2025-03-25 but browsed on 2025-03-20 (a guest checkout, say)
    frames["events"] = pl.concat(
        [
            frames["events"],
            pl.DataFrame(
                {
                    "customer_id": ["c4"],
                    "product_id": ["p1"],
                    "event_type": ["view"],
                    "occurred_at": [ts("2025-03-20 10:00:00")],
                    "session_id": ["s9"],
                }
            ),
        ]
    )
    home = tmp_path / "home"
    extract(
        home / "offers.duckdb",
        write_source(tmp_path / "src", frames),
        run_id="r1",
        loaded_at=dt.datetime(2025, 4, 2),
    )
    settings = load_settings(home, als={"factors": 4, "iterations": 2})
    for as_of, expected in (
        (dt.date(2025, 3, 22), {"c1", "c2", "c3"}),
        (AS_OF, {"c1", "c2", "c3", "c4"}),
    ):
        inputs = history(home, as_of).inputs
        lists = recommend(fit(inputs, stages.model_spec(settings), seed=1), 3)
        assert set(lists["customer_id"]) == expected, as_of


def test_purchase_history_counts_orders_returns_and_decayed_frequency(tiny_home):
    from flows import sqlfiles

    settings = load_settings(tiny_home)
    con = db.connect(settings.database)
    try:
        params = {"as_of": dt.datetime.combine(AS_OF, dt.time()), "half_life_days": 60.0}
        rel = sqlfiles.run(con, "marts/purchase_history", params)
        assert rel is not None
        rows = {(r["customer_id"], r["product_id"]): r for r in rel.pl().iter_rows(named=True)}
    finally:
        con.close()
    # completed orders only (c3's cancelled p7 is not a purchase); c1 returned p1 on 03-10
    assert set(rows) == {("c1", "p1"), ("c1", "p4"), ("c2", "p2"), ("c3", "p3")}
    assert rows[("c1", "p1")]["returned"] and not rows[("c2", "p2")]["returned"]
    assert rows[("c1", "p4")]["override_days"] == 14 and rows[("c3", "p3")]["override_days"] is None
    assert all(r["orders"] == 1 for r in rows.values())
    assert rows[("c2", "p2")]["frequency"] == pytest.approx(decay("2025-03-02 11:00:00", 60.0))
    assert rows[("c2", "p2")]["last_at"] == ts("2025-03-02 11:00:00")
