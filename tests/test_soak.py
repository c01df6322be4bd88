"""offers soak: nights on a shop that changes daily, checked after each (flows/soak.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from typer.testing import CliRunner

from flows import soak
from flows.cli import app
from flows.generate import generate_shop

runner = CliRunner()


def test_each_night_sees_the_shop_of_that_night(tmp_path):
    full = tmp_path / "shop"
    generate_shop(full, customers=400, products=80, days=40, seed=3, end=dt.date(2025, 6, 1))
    first, second = tmp_path / "a", tmp_path / "b"
    soak.snapshot(full, first, dt.date(2025, 5, 20))
    soak.snapshot(full, second, dt.date(2025, 5, 21))
    a, b = (
        {n: pl.read_parquet(d / f"{n}.parquet") for n in ("customers", "events", "orders")}
        for d in (first, second)
    )
    assert (a["customers"]["signup_date"] < dt.date(2025, 5, 20)).all()
    assert b["customers"].height >= a["customers"].height  # sign-ups arrive
    assert (a["events"]["occurred_at"] < dt.datetime(2025, 5, 20)).all()
    late = a["events"].filter(pl.col("occurred_at") >= dt.datetime(2025, 5, 19))
    arrived = b["events"].filter(pl.col("occurred_at").is_between(
        dt.datetime(2025, 5, 19), dt.datetime(2025, 5, 20), closed="left"))  # fmt: skip
    assert late.height < arrived.height  # a fifth of the last day comes a night late
    stock = pl.read_parquet(first / "products.parquet")["stock"]
    assert 0 < (stock == 0).sum() < stock.len()  # some products out of stock tonight


def test_the_soak_command_runs_and_checks_every_night(tmp_path):
    result = runner.invoke(
        app,
        ["soak", "--work", str(tmp_path / "soak"), "--nights", "3", "--customers", "300",
         "--products", "60", "--history-days", "30"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 nights, 3 published" in result.output and "problems:" not in result.output
