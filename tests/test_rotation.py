"""Emails rotate: over ten nights no product is e-mailed to a customer twice within the window,
lists stay full, category caps hold, and backfills do not count as sent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from helpers import END, rows

from flows.nightly import nightly

pytestmark = pytest.mark.usefixtures("prefect_server")
CONFIG = "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"


def test_ten_nights_never_repeat_an_email_within_the_window(small_shop: Path, tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG + "[offers]\nemail_repeat_days = 14\n")
    nights = [END - dt.timedelta(days=9 - i) for i in range(10)]
    emails, shops = [], []
    for day in nights:
        summary = nightly(as_of=day, home=str(home), source=str(small_shop), record_sends=True)
        assert summary["sends_recorded"] is True
        export = home / "exports" / day.isoformat()
        for channel in ("shop", "email", "winback"):  # the contract: sorted by customer, rank
            frame = pl.read_parquet(export / f"{channel}.parquet")
            assert frame.equals(frame.sort("customer_id", "rank")), (day, channel)
        for mail in ("email", "winback"):  # both e-mails: one rotation, one e-mail a night
            emails.append(pl.read_parquet(export / f"{mail}.parquet").with_columns(day=pl.lit(day)))
        shops.append(pl.read_parquet(export / "shop.parquet").with_columns(day=pl.lit(day)))
    email, shop = pl.concat(emails), pl.concat(shops)
    assert set(email["segment"].filter(email["reason"] == "win_back")) <= {"lapsing"}
    # every (customer, product) pair is e-mailed at most once in these 10 nights (< 14 days)
    assert email.select("customer_id", "product_id").is_duplicated().sum() == 0
    # ... while every consenting customer still gets a full email every night
    per_night = email.group_by("day", "customer_id").len()
    assert per_night["len"].min() == 5
    customers = pl.read_parquet(small_shop / "customers.parquet")
    for day in nights:  # every served, consenting customer, every night
        due = customers.filter(pl.col("email_consent") & (pl.col("signup_date") < day)).height
        assert per_night.filter(pl.col("day") == day).height == due
    # the shop list may repeat (it is the same ranking every night), and does
    assert shop.select("customer_id", "product_id").is_duplicated().sum() > 0
    # emails rotate: each customer's ten emails hold 50 different products, and the shop's
    # whole email reaches well beyond one night's products (82 of 200 on night 1, 134 in all)
    first = email.filter(pl.col("day") == nights[0])["product_id"].n_unique()
    assert email["product_id"].n_unique() > 1.4 * first
    # category caps (2 per email, 5 per shop list) give way only where a customer's candidate
    # pool lacks categories: this 200-product shop has 5 categories, so 20 shop slots often
    # need a sixth product of one; 5 email slots rarely do
    products = pl.read_parquet(small_shop / "products.parquet").select("product_id", "category")
    assert products["category"].n_unique() == 5
    most = {}
    for channel, frame in (("email", email), ("shop", shop)):
        counts = frame.join(products, on="product_id").group_by("day", "customer_id", "category")
        most[channel] = counts.len().group_by("day", "customer_id").agg(pl.col("len").max())
    assert (most["email"]["len"] > 2).mean() < 0.02
    assert most["shop"]["len"].median() <= 5
    stored = rows(home / "offers.duckdb", "select count(*), count(distinct as_of) from sent_offers")
    assert stored == [(email.height, 10)]


def test_a_backfill_does_not_count_as_sent_unless_asked(small_shop: Path, tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    summary = nightly(as_of=END, home=str(home), source=str(small_shop))  # a past date
    assert summary["sends_recorded"] is False
    assert rows(home / "offers.duckdb", "select count(*) from sent_offers") == [(0,)]
    again = nightly(as_of=END, home=str(home), source=str(small_shop), record_sends=True)
    sent = rows(home / "offers.duckdb", "select count(*) from sent_offers")[0][0]
    assert sent == again["offers"]["email"] > 0
    # a re-run of the same date replaces that date's record instead of adding to it
    nightly(as_of=END, home=str(home), source=str(small_shop), record_sends=True)
    assert rows(home / "offers.duckdb", "select count(*) from sent_offers")[0][0] == sent
