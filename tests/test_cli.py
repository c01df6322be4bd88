"""The ``offers`` command line: what it prints and which exit code it returns."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from helpers import END
from typer.testing import CliRunner

from flows.cli import app
from flows.exports import wide_columns
from flows.publish import verify

runner = CliRunner()


def test_generate_writes_the_contract_files(tmp_path):
    out = tmp_path / "shop"
    result = runner.invoke(
        app,
        ["generate", "--out", str(out), "--customers", "300", "--products", "50",
         "--days", "20", "--end", "2025-06-01", "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 300 customers, 50 products" in result.output
    assert pl.read_csv(out / "customers.csv").height == 300
    again = runner.invoke(app, ["generate", "--out", str(out), "--customers", "10"])
    assert again.exit_code == 2
    assert "already holds contract files" in again.output


@pytest.mark.usefixtures("prefect_server")
def test_run_prints_the_summary_and_bad_source_exits_3(small_shop, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text("[als]\nfactors = 8\niterations = 3\n")
    args = ["run", "--home", str(home), "--source", str(small_shop), "--as-of", str(END)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "shop: 16,000 offers for 800 customers" in result.output  # 20 each
    email = pl.read_parquet(home / "exports" / END.isoformat() / "email.parquet")
    customers = email["customer_id"].n_unique()
    assert f"email: {email.height:,} offers for {customers:,} customers" in result.output
    assert email.height == 5 * customers
    assert f"exports: {home / 'exports' / END.isoformat()}" in result.output
    verify(home / "exports" / END.isoformat())

    missing = tmp_path / "nowhere"
    result = runner.invoke(app, [*args[:3], "--source", str(missing), "--as-of", str(END)])
    assert result.exit_code == 3
    assert "source folder does not exist" in result.output
    assert f"error: file {missing}: source folder does not exist" in result.output


@pytest.mark.usefixtures("prefect_server")
def test_demo_generates_runs_and_checks_its_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["demo", "--home", "demo", "--customers", "400", "--products", "60", "--days", "30"]
    )
    assert result.exit_code == 0, result.output
    assert "manifest checked: 8 files, checksums match" in result.output  # + winback, goes_with
    latest = Path("demo/exports/latest")
    assert os.readlink(latest).startswith("runs/")
    # the CSV is the wide file email tools import: one row per customer, 20 slots
    assert pl.read_csv(latest / "shop.csv").columns == wide_columns(20, ("country",))


def test_invalid_configuration_exits_2_naming_the_setting(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text("[offers]\nshop_k = 3\nemail_k = 10\n")
    result = runner.invoke(app, ["run", "--home", str(home), "--as-of", "2025-06-01"])
    assert result.exit_code == 2
    assert "invalid configuration (offers: Value error, offers.email_k must not exceed" in (
        result.output
    )
    assert str(home / "offers.toml") in result.output
    (home / "offers.toml").write_text("[als\n")
    result = runner.invoke(app, ["run", "--home", str(home)])
    assert result.exit_code == 2
    assert "offers.toml is not valid TOML" in result.output


def test_a_typo_in_the_configuration_is_an_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text('[gate]\nmetrik = "ndcg"\n')
    result = runner.invoke(app, ["run", "--home", str(home)])
    assert result.exit_code == 2
    assert "gate.metrik: Extra inputs are not permitted" in result.output


def test_bench_compares_the_job_with_the_bare_libraries(tmp_path):
    result = runner.invoke(
        app,
        ["bench", "--work", str(tmp_path / "bench"), "--customers", "300", "--products", "60",
         "--days", "20", "--repeat", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for step in ("extract", "learn", "gate", "offer", "publish", "aggregate", "matrix", "train"):
        assert f" {step} " in result.output
    assert " x learn (every candidate judged on the gate's windows)" in result.output
    assert "events/s" in result.output and "customers/s" in result.output
    assert "job extract+learn+offer" in result.output and "ratio" in result.output
    published = tmp_path / "bench" / "home" / "exports" / "latest" / "shop.parquet"
    assert pl.read_parquet(published).height > 0
