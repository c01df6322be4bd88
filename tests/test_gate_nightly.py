"""The gate and the registry inside nightly runs: what is judged, kept, published, and when."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from helpers import END, assert_same_lists, rows, truncate
from typer.testing import CliRunner

from flows import db
from flows.cli import app
from flows.config import load_settings
from flows.nightly import nightly
from flows.publish import verify
from flows.stages import current_model

pytestmark = pytest.mark.usefixtures("prefect_server")
runner = CliRunner()
FAST = "[als]\nfactors = 16\niterations = 8\n"


def home_with(tmp_path: Path, config: str, name: str = "home") -> Path:
    home = tmp_path / name
    home.mkdir()
    (home / "offers.toml").write_text(config)
    return home


def test_a_bad_model_is_not_promoted_and_the_run_publishes_with_the_kept_one(small_shop, tmp_path):
    home = home_with(tmp_path, FAST + "[gate]\nenabled = false\n")
    config = home / "offers.toml"
    first = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert first["gate"]["action"] == "promote"
    good = first["model_version"]

    # night 2: someone ships a broken configuration; the gate judges it and keeps the model
    config.write_text("[als]\nfactors = 1\niterations = 1\nregularization = 100000.0\n")
    second = nightly(as_of=END, home=str(home), source=str(small_shop))
    verdict = second["gate"]
    assert verdict["action"] == "keep_current"
    assert verdict["reason"].endswith(f"keeping the current model {good}")
    assert verdict["scores"]["als"] < verdict["scores"]["popular"]
    # the kept model saw the judged windows (gate was off, no judge copy): it is not scored
    assert "current" not in verdict["scores"]
    assert set(verdict["scores"]) == {
        "als", "item_cosine", "item_bm25", "popular", "popular_all_time", "popular_category",
        "buy_again", "hybrid",
    }  # fmt: skip
    assert len(verdict["windows"]) == 3 and verdict["judged_customers"] >= 100
    assert second["model_version"] == good != second["trained_version"]

    database = home / "offers.duckdb"
    assert rows(database, "select version, status from model_versions order by created_at") == [
        (good, "promoted"),
        (second["trained_version"], "rejected"),
    ]
    manifest = verify(home / "exports" / "latest")
    assert (manifest["model_version"], manifest["gate"]["action"]) == (good, "keep_current")
    shop = pl.read_parquet(home / "exports" / "latest" / "shop.parquet")
    assert set(shop["source"]) <= {"als", "popular_fill", "popular_cold_start", "new"}
    assert shop.height == 800 * 20
    summary = json.loads(
        rows(database, "select summary from runs order by started_at desc limit 1")[0][0]
    )
    assert summary["gate"]["reason"] == verdict["reason"]
    assert summary["gate"]["test"]["p_value"] >= 0.05

    # engineers: list, promote the rejected one (pinned), roll back, unpin
    listing = runner.invoke(app, ["models", "--home", str(home)])
    assert listing.exit_code == 0, listing.output
    assert good in listing.output and "rejected" in listing.output
    assert "promoted, in charge" in listing.output
    rejected = second["trained_version"]
    refused = runner.invoke(app, ["models", "--home", str(home), "promote", rejected])
    assert refused.exit_code == 2 and "the gate rejected it" in refused.output
    promoted = runner.invoke(
        app, ["models", "--home", str(home), "promote", rejected, "--force", "--no-publish"]
    )
    assert promoted.exit_code == 0, promoted.output
    assert f"{rejected} is in charge (pinned); it replaced {good}" in promoted.output
    third = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert third["gate"]["action"] == "keep_current"
    assert "pinned by an engineer" in third["gate"]["reason"]
    assert third["model_version"] == rejected

    back = runner.invoke(app, ["models", "--home", str(home), "rollback", "--no-publish"])
    assert back.exit_code == 0, back.output
    assert f"rolled back {rejected}; {good} is in charge (pinned)" in back.output
    assert runner.invoke(app, ["models", "--home", str(home), "unpin"]).exit_code == 0
    # the kept model's files disappear: the strongest baseline publishes instead, saying so
    shutil.rmtree(home / "models" / good)
    fourth = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert fourth["gate"]["action"] == "baseline"
    assert "is registered but" in fourth["gate"]["reason"]
    kind = fourth["gate"]["kind"]
    assert fourth["gate"]["reason"].endswith(f"publishing {kind} instead")
    configured = load_settings(home).gate.baselines  # buy_again is one too
    baselines = {k: s for k, s in fourth["gate"]["scores"].items() if k in configured}
    assert baselines[kind] == max(baselines.values())
    assert fourth["model_version"].startswith(f"{kind}-")
    assert verify(home / "exports" / "latest")["model_version"] == fourth["model_version"]
    unknown = runner.invoke(app, ["models", "--home", str(home), "promote", "nope"])
    assert unknown.exit_code == 2
    assert "no model version 'nope'" in unknown.output


def test_the_current_model_is_re_scored_on_tonights_windows_and_decisions_repeat(
    small_shop, tmp_path
):
    # a lenient gate so that the new model takes charge on night 1
    lenient = FAST + '[gate]\nbaselines = ["popular"]\nalternatives = []\n'
    lenient += "margin = 0.0\nalpha = 0.5\nwarm_iterations = 0\n"
    home = home_with(tmp_path, lenient)
    first = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert first["gate"]["action"] == "promote", first["gate"]["reason"]
    version = first["model_version"]
    meta = json.loads((home / "models" / version / "metadata.json").read_text())
    assert meta["judge_cut"] == str(END - dt.timedelta(days=42))
    assert (home / "models" / version / "judge" / "model.npz").is_file()

    second = nightly(as_of=END, home=str(home), source=str(small_shop))
    verdict = second["gate"]
    # the stored judge copy re-scored on the same windows scores what it scored when trained
    assert verdict["scores"]["current"] == first["gate"]["scores"]["als"]
    assert verdict["scores"]["current"] == verdict["scores"]["als"]
    assert verdict["action"] == "keep_current" and second["model_version"] == version
    assert verdict["test"] == {
        "challenger": "als", "incumbent": "current", "difference": 0.0,
        "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "lift": 0.0,
    }  # fmt: skip
    third = nightly(as_of=END, home=str(home), source=str(small_shop))
    same = {k: v for k, v in third["gate"].items() if k != "seconds"}
    assert same == {k: v for k, v in verdict.items() if k != "seconds"}
    assert verdict["warm_started"] == []
    # with warm starts on, tonight's ALS starts from the current model's judge copy
    (home / "offers.toml").write_text(lenient.replace("warm_iterations = 0", "warm_iterations = 2"))
    warm = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert warm["gate"]["warm_started"] == ["als"]
    assert warm["gate"]["scores"]["current"] == verdict["scores"]["current"]


def test_a_kept_model_from_an_earlier_night_serves_through_its_own_id_maps(small_shop, tmp_path):
    """Regression: reusing a model whose id maps differ from tonight's crashed (matmul
    dimension mismatch) or misaligned per-item arrays such as item categories."""
    home = home_with(tmp_path, FAST + "[gate]\nenabled = false\n")
    early = END - dt.timedelta(days=20)
    first = nightly(as_of=early, home=str(home), source=str(small_shop))
    (home / "offers.toml").write_text(FAST + "[gate]\nmargin = 1000.0\n")  # nothing can win
    tonight = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert tonight["gate"]["action"] == "keep_current"
    assert tonight["model_version"] == first["model_version"]
    assert tonight["counts"]["products"] > first["counts"]["products"]  # the maps differ
    shop = pl.read_parquet(home / "exports" / "latest" / "shop.parquet")
    assert shop.height == 800 * 20 and shop["source"].value_counts()["count"].min() > 0
    assert "als" in set(shop["source"])
    # every model-sourced offer is a product the earlier model knew
    known = set(pl.read_parquet(home / "models" / first["model_version"] / "items.parquet")[
        "product_id"
    ])  # fmt: skip
    assert set(shop.filter(pl.col("source") == "als")["product_id"]) <= known


def test_a_backfill_sees_only_the_past_models_included(small_shop, tmp_path):
    config = FAST + "[gate]\nwindows = 2\nholdout_days = 7\nmin_customers = 20\n"
    day = END - dt.timedelta(days=12)
    full = home_with(tmp_path, config, "full")
    tonight = nightly(as_of=END, home=str(full), source=str(small_shop))
    backfill = nightly(as_of=day, home=str(full), source=str(small_shop))
    fresh = home_with(tmp_path, config, "fresh")
    before = truncate(small_shop, tmp_path / "before", dt.datetime.combine(day, dt.time()))
    alone = nightly(as_of=day, home=str(fresh), source=str(before))

    assert backfill["gate"]["current_version"] is None  # tonight's model is from the future
    same = ("action", "chosen", "scores", "window_scores", "judged_customers", "test")
    assert {k: backfill["gate"][k] for k in same} == {k: alone["gate"][k] for k in same}
    for channel in ("shop", "email"):
        got = pl.read_parquet(full / "exports" / day.isoformat() / f"{channel}.parquet")
        want = pl.read_parquet(fresh / "exports" / day.isoformat() / f"{channel}.parquet")
        assert_same_lists(got, want)
    # and the backfill took nothing over: tonight's lists and model stay in charge
    assert (full / "exports" / "latest").resolve().name == tonight["run_id"]
    con = db.connect(full / "offers.duckdb", read_only=True)
    try:
        now, then = current_model(con), current_model(con, day)
    finally:
        con.close()
    assert now is not None and now.version == tonight["model_version"]
    assert then is not None and then.version == backfill["model_version"]
