"""The ``offers`` command line: what it prints and which exit code it returns."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import polars as pl
import pytest
from helpers import END, rows, tiny_frames, write_source
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
    # the channels' csv+parquet, goes_with, report.md/json (flows/run_report.py), serving.duckdb
    assert "manifest checked: 11 files, checksums match" in result.output
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


def test_bench_compares_the_whole_night_with_the_bare_libraries(tmp_path):
    work = tmp_path / "bench"
    result = runner.invoke(
        app,
        ["bench", "--work", str(work), "--customers", "300", "--products", "60",
         "--days", "20", "--repeat", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for stage in ("extract", "learn", "gate", "offer", "checks", "publish"):
        assert f" {stage} " in result.output
    for step in ("aggregate", "matrix+train", "recommend"):
        assert f" {step} " in result.output
    assert "whole night" in result.output and "(gate excluded:" in result.output
    figures = json.loads((work / "bench.json").read_text())
    (night,) = figures["nights"]
    assert night["training"] == "full" and night["files_skipped"] == 0
    assert set(figures["bare"]) == {"aggregate", "matrix", "train", "recommend"}
    by_stage = {row["stage"]: row for row in night["rows"]}
    assert by_stage["learn"]["bare"] == "matrix+train"
    bare_learn = figures["bare"]["matrix"]["seconds"] + figures["bare"]["train"]["seconds"]
    assert by_stage["learn"]["ratio"] == pytest.approx(by_stage["learn"]["seconds"] / bare_learn)
    assert night["ratio"] == pytest.approx(night["night_s"] / night["bare_s"])
    assert night["peak_rss_mb"] > 0 and night["bare_peak_rss_mb"] > 0
    published = work / "home" / "exports" / "latest" / "shop.parquet"
    assert pl.read_parquet(published).height > 0


def test_bench_incremental_night_reads_only_the_new_day_and_refreshes_the_model(tmp_path):
    work = tmp_path / "bench"
    result = runner.invoke(
        app,
        ["bench", "--work", str(work), "--customers", "300", "--products", "60",
         "--days", "20", "--repeat", "1", "--incremental"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    first, second = json.loads((work / "bench.json").read_text())["nights"]
    assert (first["as_of"], first["training"], first["files_skipped"]) == ("2025-05-31", "full", 0)
    # the second night: every file of the first night skipped, only the last day's files read
    assert (second["as_of"], second["training"]) == ("2025-06-01", "incremental")
    assert second["files_skipped"] == 5
    assert "night 2 (2025-06-01, incremental training)" in result.output


def _manifest_version(home: Path) -> str:
    return verify(home / "exports" / "latest")["model_version"]


@pytest.mark.usefixtures("prefect_server")
def test_promote_and_rollback_re_publish_the_latest_date_with_the_version_in_charge(
    small_shop, tmp_path
):
    home = tmp_path / "home"
    home.mkdir()
    # the gate off: each night's model is promoted, so two nights leave two promoted versions
    (home / "offers.toml").write_text(
        "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
    )
    run = ["run", "--home", str(home), "--source", str(small_shop), "--as-of", str(END)]
    assert runner.invoke(app, run).exit_code == 0
    first = _manifest_version(home)
    second_run = runner.invoke(app, [*run, "--record-sends"])
    assert second_run.exit_code == 0, second_run.output
    for bar in ("training als", "offer lists, ", "\x1b[", "\r"):  # no progress bars off a tty
        assert bar not in second_run.output
    second = _manifest_version(home)
    assert first != second
    database = home / "offers.duckdb"
    models = ["models", "--home", str(home)]

    promoted = runner.invoke(app, [*models, "promote", first[:-3], "--source", str(small_shop)])
    assert promoted.exit_code == 0, promoted.output
    assert f"{first} is in charge (pinned); it replaced {second}" in promoted.output
    assert f"re-published {END} with the lists of {first}" in promoted.output
    assert "e-mail sends recorded, as by the run it replaces" in promoted.output
    assert _manifest_version(home) == first
    # the sends of that date were replaced by the re-publishing run's, not recorded twice
    sent = rows(database, "select count(*), count(distinct run_id) from sent_offers")[0]
    email = pl.read_parquet(home / "exports" / "latest" / "email.parquet")
    assert sent[1] == 1 and sent[0] >= email.height > 0
    assert (
        rows(database, "select run_id from sent_offers limit 1")[0][0]
        == (verify(home / "exports" / "latest")["run_id"])
    )

    back = runner.invoke(app, [*models, "rollback", "--source", str(small_shop)])
    assert back.exit_code == 0, back.output
    assert f"rolled back {first}; {second} is in charge (pinned)" in back.output
    assert f"re-published {END} with the lists of {second}" in back.output
    assert _manifest_version(home) == second

    # each re-publishing run trained tonight's model too, rejected (a pinned version stays)
    rejected = rows(
        database,
        "select version from model_versions where status = 'rejected' order by created_at",
    )[0][0]
    refused = runner.invoke(app, [*models, "promote", rejected])
    assert refused.exit_code == 2
    assert f"error: refusing to promote {rejected}: the gate rejected it (" in refused.output
    assert "pass --force to put it in charge anyway" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    forced = runner.invoke(app, [*models, "promote", rejected, "--force", "--no-publish"])
    assert forced.exit_code == 0, forced.output
    assert f"warning: {rejected} was rejected by the gate; promoted anyway (--force)" in (
        forced.output
    )
    assert (
        f"the exports keep the lists of {second} for {END} until the next run "
        f"(offers run --as-of {END} re-publishes now)"
    ) in forced.output
    assert _manifest_version(home) == second
    listing = runner.invoke(app, models)
    assert listing.exit_code == 0, listing.output
    assert "promoted (pinned), forced, in charge" in listing.output
    for version in (first, second, rejected):  # whole names, never cut
        assert version in listing.output

    ambiguous = runner.invoke(app, [*models, "promote", "als-"])
    assert ambiguous.exit_code == 2
    assert "'als-' matches " in ambiguous.output and first in ambiguous.output
    assert "give more of the name" in ambiguous.output
    unknown = runner.invoke(app, [*models, "promote", "nope"])
    assert unknown.exit_code == 2
    assert "no model version 'nope'; see `offers models`" in unknown.output


@pytest.mark.usefixtures("prefect_server")
def test_data_older_than_the_lookback_names_its_end_and_the_as_of_to_use(tmp_path):
    source = write_source(tmp_path / "source", tiny_frames())  # March 2025
    home = tmp_path / "home"
    result = runner.invoke(
        app, ["run", "--home", str(home), "--source", str(source), "--as-of", "2026-06-01"]
    )
    assert result.exit_code == 5, result.output
    assert (
        "error: as of 2026-06-01: no interactions before the as-of date: the data ends on "
        "2025-03-10 (newest order or event in the database), more than "
        "interactions.lookback_days (365) days before 2026-06-01; run with --as-of 2025-03-11 "
        "(just after the data), or raise interactions.lookback_days"
    ) in " ".join(result.output.split())


def test_the_model_list_never_cuts_a_version(monkeypatch):
    from rich.console import Console

    from flows.cli import models as models_cmds

    version = "popular_category-20261130-20261130T023000Z-a1b2c3"
    row = (version, "popular_category", "2026-11-30", "promoted (pinned), forced, in charge",
           "ndcg@10", "0.2030", "0.2030", "a long reason " * 8)  # fmt: skip
    for width, table in ((200, True), (80, False)):  # narrow: plain rows, one per version
        screen = Console(width=width, record=True, file=io.StringIO())
        monkeypatch.setattr(models_cmds, "out", screen)
        models_cmds._print_models("models", [row])
        text = screen.export_text()
        assert version in text and ("┃" in text) == table
        assert any(line.startswith(version) for line in text.splitlines()) != table
