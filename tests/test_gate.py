"""The promotion gate: its decision rule, and what the nightly run does with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from flows.publish import verify
from models import gate

runner = CliRunner()


def decide(candidate, baselines, current=None, margin=0.05, tolerance=0.1):
    return gate.decide(
        metric="ndcg@10",
        candidate=candidate,
        baselines=baselines,
        current=current,
        margin=margin,
        tolerance=tolerance,
    )


def test_promotes_only_a_clear_win_over_the_strongest_baseline():
    d = decide(0.22, {"popular": 0.10, "popular_category": 0.20})
    assert d.action == gate.PROMOTE
    assert (d.baseline_kind, d.best_baseline) == ("popular_category", 0.20)
    # 0.209 is above the baseline but not by 5%: no current model, so the baseline is published
    d = decide(0.209, {"popular": 0.10, "popular_category": 0.20})
    assert d.action == gate.BASELINE
    assert d.reason == (
        "new model ndcg@10 0.2090 does not beat popular_category 0.2000 by 5% (needs 0.2100); "
        "publishing popular_category instead"
    )


def test_keeps_the_current_model_when_the_new_one_falls_short():
    d = decide(0.15, {"popular": 0.10}, current=0.20)  # beats popularity, 25% below current
    assert d.action == gate.KEEP_CURRENT
    assert "more than 10% below the current model's 0.2000" in d.reason
    d = decide(0.185, {"popular": 0.10}, current=0.20)  # within tolerance
    assert d.action == gate.PROMOTE
    d = decide(0.05, {"popular": 0.10}, current=0.20)
    assert d.action == gate.KEEP_CURRENT
    assert d.reason.endswith("keeping the current model")


def test_a_zero_score_never_passes():
    assert decide(0.0, {"popular": 0.0}).action == gate.BASELINE
    with pytest.raises(ValueError, match="at least one baseline"):
        decide(0.1, {})


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_server")
def test_a_bad_model_is_not_promoted_and_the_run_publishes_with_the_kept_one(small_shop, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    config = home / "offers.toml"
    # night 1: gate off, a sound ALS is promoted
    config.write_text("[als]\nfactors = 16\niterations = 8\n[gate]\nenabled = false\n")
    first = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert first["gate"]["action"] == "promote"
    good = first["model_version"]

    # night 2: someone ships a broken configuration; the gate judges it
    config.write_text(
        "[als]\nfactors = 1\niterations = 1\nregularization = 100000.0\n"
        '[gate]\nbaselines = ["popular"]\n'
    )
    second = nightly(as_of=END, home=str(home), source=str(small_shop))
    verdict = second["gate"]
    assert verdict["action"] == "keep_current"
    assert "does not beat popular" in verdict["reason"]
    assert verdict["reason"].endswith("keeping the current model")
    assert verdict["scores"]["popular"] > verdict["candidate"]
    assert second["model_version"] == good != second["trained_version"]

    db = home / "offers.duckdb"
    assert rows(db, "select version, status from model_versions order by created_at, version") == [
        (good, "promoted"),
        (second["trained_version"], "rejected"),
    ]
    manifest = verify(home / "exports" / "latest")
    assert manifest["model_version"] == good
    assert manifest["gate"]["action"] == "keep_current"
    shop = pl.read_parquet(home / "exports" / "latest" / "shop.parquet")
    assert set(shop["source"]) <= {"als", "popular_fill", "popular_cold_start"}
    assert shop.height == 800 * 20
    assert rows(db, "select distinct model_version from current_offers") == [(good,)]
    summary = json.loads(
        rows(db, "select summary from runs order by started_at desc limit 1")[0][0]
    )
    assert summary["gate"]["reason"] == verdict["reason"]

    # engineers: list, promote the rejected one (pinned), roll back, unpin
    listing = runner.invoke(app, ["models", "--home", str(home)])
    assert listing.exit_code == 0, listing.output
    assert good in listing.output and "rejected" in listing.output
    assert "promoted, in charge" in listing.output
    promoted = runner.invoke(
        app, ["models", "--home", str(home), "promote", second["trained_version"]]
    )
    assert promoted.exit_code == 0, promoted.output
    assert (
        f"{second['trained_version']} is in charge (pinned); it replaced {good}" in promoted.output
    )
    third = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert third["gate"]["action"] == "keep_current"
    assert "pinned by an engineer" in third["gate"]["reason"]
    assert third["model_version"] == second["trained_version"]

    back = runner.invoke(app, ["models", "--home", str(home), "rollback"])
    assert back.exit_code == 0, back.output
    assert f"rolled back {second['trained_version']}; {good} is in charge (pinned)" in back.output
    assert runner.invoke(app, ["models", "--home", str(home), "unpin"]).exit_code == 0
    # the kept model's files disappear: the run publishes the baseline instead, and says so
    shutil.rmtree(home / "models" / good)
    fourth = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert fourth["gate"]["action"] == "baseline"
    assert "is registered but" in fourth["gate"]["reason"]
    assert fourth["gate"]["reason"].endswith("publishing popular instead")
    assert fourth["model_version"].startswith("popular-")
    assert verify(home / "exports" / "latest")["model_version"] == fourth["model_version"]
    unknown = runner.invoke(app, ["models", "--home", str(home), "promote", "nope"])
    assert unknown.exit_code == 1
    assert "no model version 'nope'" in unknown.output


def test_a_current_model_without_a_comparable_score_is_still_kept():
    d = gate.decide(
        metric="ndcg@10",
        candidate=0.01,
        baselines={"popular": 0.1},
        current=None,
        margin=0.05,
        tolerance=0.1,
        has_current=True,
    )
    assert d.action == gate.KEEP_CURRENT


@pytest.mark.usefixtures("prefect_server")
def test_a_backfill_never_takes_charge_from_a_newer_model(small_shop, tmp_path):
    import datetime as dt

    from flows import db
    from flows.stages import current_model

    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(
        "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
    )
    tonight = nightly(as_of=END, home=str(home), source=str(small_shop))
    backfill = nightly(as_of=END - dt.timedelta(days=7), home=str(home), source=str(small_shop))
    assert backfill["gate"]["action"] == "promote"
    con = db.connect(home / "offers.duckdb", read_only=True)
    try:
        current = current_model(con)
    finally:
        con.close()
    assert current is not None and current.version == tonight["model_version"]
    assert (home / "exports" / "latest").resolve().name == tonight["run_id"]
