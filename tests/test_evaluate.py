"""Time-based evaluation: no leaks from the holdout window, reproducible scores, a report."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import END, assert_same_lists
from typer.testing import CliRunner

from flows import db
from flows.cli import app
from flows.config import load_settings
from flows.evaluate import TABLE_COLUMNS, build_report, evaluate, holdout
from flows.extract import extract
from flows.report import write_report
from models.candidates import ModelSpec
from models.metrics import REPEAT_EXPLORE_KEYS
from models.recommender import fit_prepared, recommend

DAYS = 14
CUT = dt.datetime.combine(END - dt.timedelta(days=DAYS), dt.time())
NOW = dt.datetime.combine(END, dt.time())
SPECS = [
    ModelSpec("popular"),
    ModelSpec("popular_category"),
    ModelSpec("als", {"factors": 8, "iterations": 4}),
    ModelSpec("bpr", {"factors": 8, "iterations": 20}),
    ModelSpec("item_cosine"),
    ModelSpec("item_bm25"),
]


def load(home: Path, source: Path) -> Path:
    extract(home / "offers.duckdb", source, run_id="r1", loaded_at=NOW)
    return home


def with_holdout_only_newcomers(source: Path, dest: Path) -> Path:
    """``source`` plus a customer and a product that exist only inside the holdout window,
    busy enough to move any model that saw them; and a product sold out since the cut."""
    shutil.copytree(source, dest)
    customers = pl.read_parquet(dest / "customers.parquet")
    newcomer = customers.head(1).with_columns(
        customer_id=pl.lit("c-new"), signup_date=pl.lit(CUT.date() + dt.timedelta(days=1))
    )
    pl.concat([customers, newcomer]).write_parquet(dest / "customers.parquet")
    products = pl.read_parquet(dest / "products.parquet")
    top = products.get_column("product_id")[0]
    newbie = products.head(1).with_columns(product_id=pl.lit("p-new"), stock=pl.lit(50))
    products = products.with_columns(
        stock=pl.when(pl.col("product_id") == top).then(0).otherwise(pl.col("stock"))
    )
    pl.concat([products, newbie]).write_parquet(dest / "products.parquet")
    old_customers = customers.get_column("customer_id").head(300)
    at = CUT + dt.timedelta(days=2)
    events = pl.DataFrame(
        {
            "customer_id": [*old_customers, *(["c-new"] * 5)],
            "product_id": ["p-new"] * 300 + [top] * 5,
            "event_type": ["add_to_cart"] * 305,
            "occurred_at": [at + dt.timedelta(minutes=i) for i in range(305)],
            "session_id": [f"holdout-{i}" for i in range(305)],
        },
        schema=pl.read_parquet(next((dest / "events").glob("*.parquet"))).schema,
    )
    events.write_parquet(dest / "events" / "part-99999.parquet")
    return dest


def lists_for(home: Path, spec: ModelSpec) -> tuple[pl.DataFrame, object]:
    settings = load_settings(home)
    con = db.connect(settings.database, read_only=True)
    try:
        data = holdout(con, settings, as_of=END, days=DAYS)
    finally:
        con.close()
    fitted = fit_prepared(data.prepared, spec, seed=settings.seed)
    return recommend(fitted, 20), data


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_holdout_only_customers_products_and_stock_never_reach_training(small_shop, tmp_path, spec):
    plain = load(tmp_path / "plain", small_shop)
    busy = load(tmp_path / "busy", with_holdout_only_newcomers(small_shop, tmp_path / "src"))
    lists_plain, data_plain = lists_for(plain, spec)
    lists_busy, data_busy = lists_for(busy, spec)
    # same id maps, same matrices, same popularity, same lists
    assert data_busy.prepared.users.ids.equals(data_plain.prepared.users.ids)
    assert data_busy.prepared.items.ids.equals(data_plain.prepared.items.ids)
    assert "p-new" not in data_busy.prepared.items.ids.to_list()
    difference = abs(data_busy.prepared.user_items - data_plain.prepared.user_items)
    assert difference.max() < 1e-9
    # (sums of floats: equal up to summation order)
    assert np.allclose(data_busy.prepared.popularity, data_plain.prepared.popularity, rtol=1e-12)
    assert_same_lists(lists_busy, lists_plain)
    # ... while the truth does see the holdout: carts of the new product by customers who
    # were already served are judged; the customer who signed up inside the window is not
    carts = data_busy.truth["add_to_cart"]
    served = set(data_busy.served)
    expected = sum(1 for c in pl.read_parquet(small_shop / "customers.parquet")["customer_id"][:300]
                   if c in served)  # fmt: skip
    assert carts.filter(pl.col("product_id") == "p-new").height == expected > 200
    assert "c-new" not in set(carts["customer_id"])


def test_scores_are_reproducible(small_shop, tmp_path):
    home = load(tmp_path / "home", small_shop)
    settings = load_settings(home)
    runs = []
    for _ in range(2):
        con = db.connect(settings.database, read_only=True)
        try:
            data = holdout(con, settings, as_of=END, days=DAYS)
        finally:
            con.close()
        rows = evaluate(data, SPECS, settings)
        runs.append(
            [{k: v for k, v in r.items() if not k.endswith("_s") and k != "params"} for r in rows]
        )
    # identical lists; the metric means agree to the last bits of float summation order
    assert len(runs[0]) == len(runs[1]) == len(SPECS) * 3 * 3
    for first, second in zip(*runs, strict=True):
        numbers = {k for k, v in first.items() if isinstance(v, float)}
        assert {k: first[k] for k in numbers} == pytest.approx(
            {k: second[k] for k in numbers}, rel=1e-12
        )
        assert {k: v for k, v in first.items() if k not in numbers} == {
            k: v for k, v in second.items() if k not in numbers
        }
    kinds = {r["kind"] for r in runs[0]}
    assert kinds == {s.kind for s in SPECS}
    assert all(0 <= r["ndcg"] <= 1 for r in runs[0])


def test_report_names_the_best_candidate_and_its_lift(small_shop, tmp_path):
    home = load(tmp_path / "home", small_shop)
    settings = load_settings(home)
    con = db.connect(settings.database, read_only=True)
    try:
        data = holdout(con, settings, as_of=END, days=DAYS)
    finally:
        con.close()
    rows = evaluate(data, SPECS[:3], settings)
    report = build_report(data, rows, settings, seconds=1.0)
    scores = report["main_scores"]
    assert report["main"] == "ndcg@10"
    assert report["best"] == max(scores, key=scores.get)
    assert report["lift_over_popular"]["popular"] == 0.0
    expected = (scores["als(factors=8,iterations=4)"] - scores["popular"]) / scores["popular"]
    assert report["lift_over_popular"]["als(factors=8,iterations=4)"] == pytest.approx(expected)
    json_path, html_path = write_report(tmp_path / "report", report)
    assert json.loads(json_path.read_text())["main_scores"] == scores
    page = html_path.read_text()
    assert page.count("<svg") == 2
    assert f"{scores['popular']:.4f}" in page


def test_report_splits_hits_into_repeat_and_explore(small_shop, tmp_path):
    home = load(tmp_path / "home", small_shop)
    settings = load_settings(home)
    con = db.connect(settings.database, read_only=True)
    try:
        data = holdout(con, settings, as_of=END, days=DAYS)
    finally:
        con.close()
    assert data.history.inputs.bought is not None and data.history.inputs.bought.height > 0
    rows = evaluate(data, SPECS[:3], settings)
    report = build_report(data, rows, settings, seconds=1.0)
    json_path, html_path = write_report(tmp_path / "report", report)
    saved = json.loads(json_path.read_text())
    assert len(saved["rows"]) == 3 * 3 * 3  # candidates x (shop@10, shop@20, email@5) x truths
    for row in saved["rows"]:
        for key in REPEAT_EXPLORE_KEYS:
            assert isinstance(row[key], float), (row["candidate"], key)
        for key in ("repeat_share", "explore_recall", "repeat_recall", "truth_repeat_share"):
            assert 0.0 <= row[key] <= 1.0, (row["candidate"], key, row[key])
        # every judged customer has a repeat or an explore item (or both)
        assert max(row["customers_repeat"], row["customers_explore"]) <= row["customers_judged"]
        assert row["customers_repeat"] + row["customers_explore"] >= row["customers_judged"]
    # the shop's purchases hold both kinds, so the split says something
    purchases = [r for r in saved["rows"] if r["truth"] == "purchase"]
    assert all(r["customers_explore"] > 0 and r["customers_repeat"] > 0 for r in purchases)
    assert all(0.0 < r["truth_repeat_share"] < 1.0 for r in purchases)
    for key in ("repeat_share", "explore_recall", "repeat_recall"):
        assert key in saved["table_columns"] and key in TABLE_COLUMNS
        assert all(key in r for r in saved["table"])
    # what customers bought is the same whatever the candidate: one row per channel
    assert [m["channel"] for m in saved["truth_mix"]] == ["shop", "email"]
    shop = next(r for r in purchases if r["channel"] == "shop")
    assert saved["truth_mix"][0]["truth_repeat_share"] == shop["truth_repeat_share"]
    page = html_path.read_text()
    assert "<th>repeat_share</th>" in page and "<th>explore_recall</th>" in page
    assert f"<td>{shop['truth_repeat_share']:.4f}</td>" in page


def test_evaluate_command_prints_a_table_and_writes_the_report(small_shop, tmp_path):
    home = load(tmp_path / "home", small_shop)
    result = CliRunner().invoke(
        app,
        ["evaluate", "--home", str(home), "--as-of", str(END), "--holdout-days", "14",
         "--candidates", "popular,item_bm25"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ndcg@10 lift over recent popularity: popular +0.0%, item_bm25" in result.output
    assert "best on ndcg@10:" in result.output
    header = next(line for line in result.output.splitlines() if "precision" in line)
    for column in ("repeat", "explore r", "repeat r"):
        assert f" {column} " in header, header
    assert "Holdout purchases that were repeats: shop " in result.output
    reports = list((home / "reports").glob("evaluate-2025-06-01-14d-*/report.json"))
    assert len(reports) == 1
    bad = CliRunner().invoke(app, ["evaluate", "--home", str(home), "--candidates", "magic"])
    assert bad.exit_code == 2
    assert "unknown model kind 'magic'" in bad.output


def test_evaluate_judges_the_refreshed_model_next_to_the_full_retrain(small_shop, tmp_path):
    """--refresh-days N: ALS trained N days before the cut and refreshed at it, as an
    incremental night makes it, scored on the same holdout as the full retrain (``als``)."""
    home = load(tmp_path / "home", small_shop)
    result = CliRunner().invoke(
        app,
        ["evaluate", "--home", str(home), "--as-of", str(END), "--holdout-days", "14",
         "--candidates", "popular,als", "--refresh-days", "7"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (path,) = (home / "reports").glob("evaluate-2025-06-01-14d-*/report.json")
    report = json.loads(path.read_text())
    label = "als refreshed (7 d)"
    assert label in report["main_scores"]
    assert label in result.output
    rows = [r for r in report["rows"] if r["candidate"] == label]
    assert {r["channel"] for r in rows} == {"shop", "email"}
    # only customers with an interaction in the 7 days before the cut (or new) were solved
    first = rows[0]
    assert 0 < first["refreshed_customers"] < first["customers_listed"]
    assert first["fit_s"] < first["full_fit_s"] + 1.0
    full = next(c for c in report["main_scores"] if c.startswith("als(") and c != label)
    # a week-old model refreshed is a real model: scores in the same range as the full retrain
    assert report["main_scores"][label] > 0.5 * report["main_scores"][full]


def test_search_is_seeded_budgeted_and_its_choice_loads_as_config(small_shop, tmp_path):
    from flows.search import as_toml, search

    home = load(tmp_path / "home", small_shop)
    settings = load_settings(home)
    con = db.connect(settings.database, read_only=True)
    try:
        runs = [
            search(con, settings, as_of=END, holdout_days=7, budget_s=600, max_trials=6, seed=5)
            for _ in range(2)
        ]
        cut_short = search(
            con, settings, as_of=END, holdout_days=7, budget_s=1e-9, max_trials=6, seed=5
        )
    finally:
        con.close()
    first, second = ([t.as_dict() for t in r.trials] for r in runs)
    for one, two in zip(first, second, strict=True):
        assert (one["candidate"], one["interactions"]) == (two["candidate"], two["interactions"])
        assert one["score"] == pytest.approx(two["score"], rel=1e-12)
    assert len(first) == 6 and runs[0].stopped_by == "trial count (6)"
    assert first[0]["candidate"].startswith("als(")  # the configured model is tried first
    assert runs[0].best is not None
    assert runs[0].best.score == max(t["score"] for t in first)
    assert cut_short.trials == [] and cut_short.stopped_by.startswith("time budget")

    # the recent-popularity window is chosen on the same validation window
    assert set(runs[0].popularity) == {7, 14, 28, 56}
    window = runs[0].best.interactions["popularity_days"]
    assert runs[0].popularity[window] == max(runs[0].popularity.values())

    (home / "offers.toml").write_text(as_toml(runs[0].best))
    chosen = load_settings(home)
    best = runs[0].best.spec
    if best.kind == "hybrid":  # a hybrid mixes the configured model; its section holds the mix
        assert chosen.hybrid.repeat_weight == best.full_params["repeat_weight"]
    else:
        assert chosen.model == best.kind
    assert chosen.interactions.model_dump() == runs[0].best.interactions
    assert chosen.interactions.popularity_days == window
