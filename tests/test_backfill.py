"""``offers backfill``: the plan (run or skip, and why) and the command end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END
from typer.testing import CliRunner

from flows import backfill, db, stages
from flows.cli import app
from flows.config import load_settings
from flows.errors import ConfigError, TrainingError
from flows.manifest import MANIFEST, write_files
from flows.publish import RUNS, verify

runner = CliRunner()
FAST = "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
DAYS = [END - dt.timedelta(days=2), END - dt.timedelta(days=1), END]


# --- the plan, without the CLI ----------------------------------------------------------------


def _export(exports: Path, day: dt.date, run_id: str) -> Path:
    """A complete export of one tiny list, linked as ``exports/<day>`` (as a run leaves it)."""
    folder = exports / RUNS / run_id
    folder.mkdir(parents=True)
    row = {"customer_id": "c1", "rank": 1, "product_id": "p1", "score": 1.0, "source": "model",
           "reason": "popular", "anchor_id": None, "reason_text": "Popular",
           "segment": "new"}  # fmt: skip
    lists = {"shop": pl.DataFrame([row], schema_overrides={"anchor_id": pl.String})}
    catalogue = pl.DataFrame(
        {"product_id": ["p1"], "title": ["One"], "category": ["a"], "price": [1.0]}
    ).with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("url", "image_url"))
    manifest = {"run_id": run_id, "as_of": day.isoformat(), "model_version": f"als-{run_id}",
                "gate": {"action": "promote", "reason": "test"},
                "files": write_files(folder, lists, catalogue=catalogue)}  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps(manifest))
    link = exports / day.isoformat()
    link.symlink_to(f"{RUNS}/{run_id}")
    return link


def test_date_range_is_inclusive_and_refuses_bad_ranges():
    assert backfill.date_range(DAYS[0], DAYS[-1]) == DAYS
    assert backfill.date_range(END, END) == [END]
    with pytest.raises(ConfigError, match="--end 2025-05-30 is before --start 2025-06-01"):
        backfill.date_range(END, DAYS[0])
    year = backfill.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 31))  # a leap year
    assert len(year) == backfill.MAX_DAYS
    with pytest.raises(ConfigError, match=r"367 dates, more than 366.*pass --yes"):
        backfill.date_range(dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    assert len(backfill.date_range(dt.date(2024, 1, 1), dt.date(2025, 1, 1), yes=True)) == 367


def test_plan_skips_only_dates_published_in_both_places(tmp_path):
    exports = tmp_path / "exports"
    _export(exports, DAYS[0], "r0")  # published: rows and a verified export
    _export(exports, DAYS[1], "r1")  # export but no rows in the database
    broken = _export(exports, DAYS[2], "r2")  # rows, but its files were altered
    (broken / "shop.csv").write_text("tampered\n")
    plans = backfill.plan(DAYS, in_database={DAYS[0], DAYS[2]}, exports_dir=exports)
    assert [(p.as_of, p.action) for p in plans] == [
        (DAYS[0], "skip"), (DAYS[1], "run"), (DAYS[2], "run")
    ]  # fmt: skip
    assert plans[0].describe() == "2025-05-30: skip (already published, run r0)"
    assert (plans[0].run_id, plans[0].model_version, plans[0].gate_action) == (
        "r0", "als-r0", "promote"
    )  # fmt: skip
    assert plans[1].reason == "no offers in the database"
    assert plans[2].reason == "exports/2025-06-01 is missing or does not verify"
    forced = backfill.plan(DAYS, in_database={DAYS[0]}, exports_dir=exports, force=True)
    assert [p.action for p in forced] == ["run"] * 3
    assert forced[0].reason == "--force; published by run r0"


def test_a_link_outside_the_run_folders_is_not_published(tmp_path):
    exports = tmp_path / "exports"
    real = _export(exports, END, "r0").resolve()
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    for f in real.iterdir():
        (elsewhere / f.name).write_bytes(f.read_bytes())
    (exports / END.isoformat()).unlink()
    (exports / END.isoformat()).symlink_to(elsewhere)
    assert backfill.published_export(exports, END) is None
    assert backfill.published_export(exports, DAYS[0]) is None  # no link at all


def test_published_dates_come_from_the_offers_table(tmp_path):
    settings = load_settings(tmp_path / "home")
    assert backfill.plan_backfill(settings, DAYS[0], END)[0].reason == "no offers in the database"
    assert not settings.database.exists()  # planning creates nothing
    con = db.connect(settings.database)
    for day in (DAYS[0] - dt.timedelta(days=1), DAYS[1]):
        con.execute(
            "insert into offers (as_of, channel, customer_id, rank, product_id, score, source,"
            " run_id, model_version) values (?, 'shop', 'c1', 1, 'p1', 1.0, 'model', 'r', 'v')",
            [day],
        )
    con.close()
    assert backfill.published_in_database(settings.database, DAYS[0], END) == {DAYS[1]}


def test_the_command_refuses_bad_ranges_before_running_anything(tmp_path):
    home = tmp_path / "home"
    backwards = runner.invoke(app, ["backfill", "--home", str(home), "--start", str(END),
                                    "--end", str(DAYS[0])])  # fmt: skip
    assert backwards.exit_code == 2
    assert "error: --end 2025-05-30 is before --start 2025-06-01" in backwards.output
    long = ["backfill", "--home", str(home), "--start", "2024-01-01", "--end", "2025-01-01"]
    result = runner.invoke(app, long)
    assert result.exit_code == 2
    assert "2024-01-01 to 2025-01-01 is 367 dates, more than 366" in result.output
    assert "pass --yes" in result.output
    assert not home.exists()
    dry = runner.invoke(app, [*long, "--yes", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "367 dates, 367 to run" in dry.output


# --- end to end through the CLI ---------------------------------------------------------------


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(FAST)
    return home


def _runs(home: Path) -> list[tuple[dt.date, str]]:
    con = duckdb.connect(str(home / "offers.duckdb"), read_only=True)
    try:
        return con.sql("select as_of, status from runs order by started_at, run_id").fetchall()
    finally:
        con.close()


def _table(output: str) -> list[tuple[str, str, str]]:
    """(date, status, gate action) per row of the backfill's closing table."""
    return re.findall(r"(\d{4}-\d\d-\d\d) │ (ran|skipped|failed) +│ \S* +│ (\w*) +│", output)


def _args(home: Path, source: Path, start: dt.date, end: dt.date, *extra: str) -> list[str]:
    return ["backfill", "--home", str(home), "--source", str(source),
            "--start", str(start), "--end", str(end), *extra]  # fmt: skip


@pytest.mark.usefixtures("prefect_server")
def test_backfill_runs_each_date_in_order_then_skips_them(small_shop, tmp_path):
    home = _home(tmp_path)
    args = _args(home, small_shop, DAYS[0], DAYS[-1])
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2025-05-31: run (no offers in the database)" in dry.output
    assert "dry run: nothing ran" in dry.output
    assert not (home / "offers.duckdb").exists()

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _runs(home) == [(day, "succeeded") for day in DAYS]
    for day in DAYS:
        assert verify(home / "exports" / day.isoformat())["as_of"] == day.isoformat()
    latest = home / "exports" / "latest"
    assert os.readlink(latest) == os.readlink(home / "exports" / END.isoformat())
    assert "backfill: 3 ran, 0 skipped" in result.output
    assert result.output.count(" ran ") == 3 and "promote" in result.output

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "3 dates, 0 to run, 3 already published" in again.output
    assert _table(again.output) == [(str(day), "skipped", "promote") for day in DAYS]
    assert len(_runs(home)) == 3  # nothing new ran
    run_id = verify(latest)["run_id"]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert f"2025-06-01: skip (already published, run {run_id})" in dry.output

    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "3 dates, 3 to run, 0 already published" in forced.output
    assert _runs(home)[3:] == [(day, "succeeded") for day in DAYS]
    assert verify(latest)["run_id"] != run_id
    assert verify(latest)["as_of"] == END.isoformat()


@pytest.mark.usefixtures("prefect_server")
def test_a_failed_date_stops_the_backfill_and_a_rerun_resumes(small_shop, tmp_path, monkeypatch):
    import flows.nightly as nightly_module

    home = _home(tmp_path)
    learn = nightly_module.learn_task

    def failing_learn(settings, as_of):
        if as_of == DAYS[1]:
            raise TrainingError(f"as of {as_of}: injected failure")
        return learn(settings, as_of)

    monkeypatch.setattr(nightly_module, "learn_task", failing_learn)
    args = _args(home, small_shop, DAYS[0], DAYS[-1])
    result = runner.invoke(app, args)
    assert result.exit_code == 5, result.output
    assert (
        "error: backfill failed at 2025-05-31: as of 2025-05-31: injected failure; dates before "
        "it are done, 2 left: re-run the same command to resume"
    ) in result.output
    assert _table(result.output) == [(str(DAYS[0]), "ran", "promote"), (str(DAYS[1]), "failed", "")]
    assert _runs(home) == [(DAYS[0], "succeeded"), (DAYS[1], "failed")]
    verify(home / "exports" / DAYS[0].isoformat())  # the date before stays done
    assert not (home / "exports" / DAYS[1].isoformat()).exists()

    monkeypatch.setattr(nightly_module, "learn_task", learn)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "3 dates, 2 to run, 1 already published" in again.output
    assert _runs(home)[2:] == [(DAYS[1], "succeeded"), (DAYS[2], "succeeded")]


@pytest.mark.usefixtures("prefect_server")
def test_backfilling_older_dates_keeps_latest_and_the_model_in_charge(small_shop, tmp_path):
    home = _home(tmp_path)
    newest = runner.invoke(app, _args(home, small_shop, END, END))
    assert newest.exit_code == 0, newest.output
    latest = home / "exports" / "latest"
    link = os.readlink(latest)

    older = runner.invoke(app, _args(home, small_shop, DAYS[0], DAYS[1]))
    assert older.exit_code == 0, older.output
    assert _runs(home) == [(END, "succeeded"), (DAYS[0], "succeeded"), (DAYS[1], "succeeded")]
    assert os.readlink(latest) == link
    assert verify(latest)["as_of"] == END.isoformat()
    con = db.connect(home / "offers.duckdb", read_only=True)
    try:
        in_charge = stages.current_model(con)
        shown = con.sql("select distinct as_of from current_offers").fetchall()
    finally:
        con.close()
    assert in_charge is not None and in_charge.version.startswith(f"als-{END:%Y%m%d}-")
    assert shown == [(END,)]


@pytest.mark.usefixtures("prefect_server")
def test_ctrl_c_stops_the_backfill_with_130(small_shop, tmp_path, monkeypatch):
    import flows.nightly as nightly_module

    def interrupted(settings, as_of):
        raise KeyboardInterrupt

    monkeypatch.setattr(nightly_module, "learn_task", interrupted)
    result = runner.invoke(app, _args(_home(tmp_path), small_shop, END, END))
    assert result.exit_code == 130, result.output
    assert "error: backfill interrupted at 2025-06-01" in result.output
    assert "re-run the same command to resume" in result.output
