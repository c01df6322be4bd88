"""Retention: the policy's known answers, the deletions it drives, and disk use that stays
bounded over many nights while latest, the model in charge and backfills keep working."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest
from helpers import END, EXPORT_CATALOGUE, offer_lists, rows
from typer.testing import CliRunner

from flows import db, publish, sqlfiles, stages
from flows import retention as io
from flows.cli import app
from flows.config import load_settings
from flows.manifest import long_files
from models import columns as C
from models import retention as policy
from models.candidates import ModelSpec
from models.recommender import Inputs, fit
from models.retention import Limits, ModelVersion, RunFolder

DAY0 = dt.date(2025, 5, 1)
T0 = dt.datetime(2025, 5, 1, 3, 0)


def day(i: int) -> dt.date:
    return DAY0 + dt.timedelta(days=i)


def at(i: int, minutes: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=i, minutes=minutes)


# --- the policy (models/retention.py): known answers ------------------------------------------


def runs_and_links(n: int) -> tuple[list[RunFolder], dict[str, str]]:
    runs = [RunFolder(f"r{i}", day(i), at(i)) for i in range(1, n + 1)]
    links = {r.as_of.isoformat(): r.run_id for r in runs}
    return runs, {**links, "latest": runs[-1].run_id}


def test_runs_beyond_the_newest_n_go_with_their_date_links():
    runs, links = runs_and_links(6)
    got = policy.plan(runs, links, [], None, Limits(keep_exports=2, keep_models=0))
    assert got.run_folders == ("r1", "r2", "r3", "r4")  # oldest first
    assert got.links == tuple(day(i).isoformat() for i in range(1, 5))
    assert got.model_versions == ()


def test_latest_and_the_run_just_published_are_never_deleted():
    runs, links = runs_and_links(6)
    links["latest"] = "r3"  # latest shows an older date (whatever the reason): it stays
    got = policy.plan(runs, links, [], None, Limits(2, 0), protect={"r1"})
    assert got.run_folders == ("r2", "r4")
    assert "latest" not in got.links and got.links == (day(2).isoformat(), day(4).isoformat())
    # a backfill's run (an old date, just published) survives until the next run's retention
    old = RunFolder("backfill", day(0), at(7))
    got = policy.plan([*runs, old], {**links, "latest": "r6"}, [], None, Limits(3, 0))
    assert "backfill" in got.run_folders
    got = policy.plan([*runs, old], links, [], None, Limits(3, 0), protect={"backfill"})
    assert "backfill" not in got.run_folders


def test_run_ties_break_by_created_then_run_id_whatever_the_input_order():
    runs = [
        RunFolder("b", day(5), at(5)),  # a re-run of day 5, made at the same moment
        RunFolder("a", day(5), at(5)),
        RunFolder("c", day(5), at(4)),  # an earlier run of day 5
        RunFolder("z", day(4), at(9)),  # created later, but an older as-of date
    ]
    links = {"latest": "b", day(5).isoformat(): "b"}
    want = ("z", "c", "a")  # newest first: b (latest), then a, c, z
    for seed in range(5):
        shuffled = random.Random(seed).sample(runs, len(runs))
        got = policy.plan(shuffled, links, [], None, Limits(1, 0))
        assert got.run_folders == want
    assert policy.plan(runs, links, [], None, Limits(2, 0)).run_folders == ("z", "c")


def test_zero_keeps_everything():
    runs, links = runs_and_links(10)
    models = [ModelVersion(f"v{i}", day(i), at(i), "rejected") for i in range(10)]
    got = policy.plan(runs, links, models, None, Limits(keep_exports=0, keep_models=0))
    assert got.empty
    with pytest.raises(ValueError, match="keep all"):
        Limits(keep_exports=-1)


def test_models_beyond_the_newest_m_go_except_pinned_in_charge_and_not_prunable():
    models = [
        ModelVersion("v1", day(1), at(1), "promoted", pinned=True),  # pinned: stays
        ModelVersion("v2", day(2), at(2), "promoted"),  # in charge: stays
        ModelVersion("v3", day(3), at(3), "rolled_back"),  # an engineer's decision: stays
        ModelVersion("v4", day(4), at(4), "pruned"),  # already pruned: not again
        ModelVersion("v5", day(5), at(5), "rejected"),
        ModelVersion("v6", day(6), at(6), "promoted"),
        ModelVersion("v7", day(7), at(7), "rejected"),
        ModelVersion("v8", day(8), at(8), "promoted"),
    ]
    got = policy.plan([], {}, models, "v2", Limits(keep_exports=0, keep_models=2))
    assert got.model_versions == ("v5", "v6")  # v7, v8 are the newest 2 still stored
    # the pruned one does not take a place among the newest M
    assert policy.expired_models(models, "v2", 3) == ["v5"]
    # nothing protected: everything beyond the newest M that is promoted or rejected
    assert policy.expired_models(models, None, 1) == ["v2", "v5", "v6", "v7"]


def test_model_ties_break_by_version_whatever_the_input_order():
    same = at(3)  # one run registers the trained model and the one it promoted together
    models = [
        ModelVersion("als-x", day(3), same, "rejected"),
        ModelVersion("popular-x", day(3), same, "promoted"),
        ModelVersion("als-w", day(2), at(2), "promoted"),
    ]
    for seed in range(5):
        shuffled = random.Random(seed).sample(models, len(models))
        assert policy.expired_models(shuffled, None, 1) == ["als-w", "als-x"]
    assert policy.expired_models(models, "popular-x", 2) == ["als-w"]


# --- the I/O (flows/retention.py) on fabricated nights -----------------------------------------


def tiny_inputs() -> Inputs:
    """30 customers who each interacted with the three products of ``EXPORT_CATALOGUE``."""
    customers = [f"c{i:03d}" for i in range(30)]
    products = ["p3", "p5", "p7"]
    pairs = pl.DataFrame(
        {
            C.CUSTOMER: [c for c in customers for _ in products],
            C.PRODUCT: products * len(customers),
            C.WEIGHT: [1.0, 2.0, 3.0] * len(customers),
        }
    )
    catalogue = EXPORT_CATALOGUE.select(C.PRODUCT, C.CATEGORY)
    empty = pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String})
    return Inputs(
        interactions=pairs,
        recent=pairs,
        exclusions=empty,
        customers=pl.DataFrame({C.CUSTOMER: customers, C.EMAIL_CONSENT: [True] * 30}),
        products=catalogue,
        offerable=catalogue,
        buy_again=pairs.head(0),
        bought=empty.with_columns(orders=pl.lit(1, pl.Int64)),
    )


def tiny_model():
    return fit(tiny_inputs(), ModelSpec("als", {"factors": 4, "iterations": 2}), seed=0)


def home_with(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(config)
    return home


def fabricated_night(settings, i: int, fitted) -> str:
    """What a night's publish stores: the model (promoted), the offers, the export; then the
    links move and retention runs, as ``flows.delivery._activate`` does."""
    now, as_of = at(i), day(i)
    run_id = stages.new_run_id(now)
    lists = offer_lists(30, digits=3)  # the customers of tiny_inputs
    con = db.connect(settings.database)
    try:
        with db.transaction(con):
            stages.save_model(
                con, settings.models_dir, version=f"als-{as_of:%Y%m%d}-{run_id}", as_of=as_of,
                created_at=now, fitted=fitted, metadata={}, status="promoted",
            )  # fmt: skip
            manifest = {"created_at": now.isoformat()}
            staged = publish.stage(
                settings.exports_dir, run_id, as_of, lists, manifest, catalogue=EXPORT_CATALOGUE
            )
            files = long_files(staged, lists)
            stages.store_offers(con, as_of=as_of, files=files, run_id=run_id, model_version="m")
    finally:
        con.close()
    publish.activate(settings.exports_dir, run_id, as_of)
    io.apply(settings, now, protect={run_id})
    return run_id


def sizes(home: Path) -> tuple[int, int]:
    return io.folder_bytes(home / "exports" / "runs"), io.folder_bytes(home / "models")


def test_thirty_fabricated_nights_keep_disk_use_bounded(tmp_path: Path):
    home = home_with(tmp_path, "[retention]\nkeep_exports = 3\nkeep_models = 2\n")
    settings = load_settings(home)
    fitted = tiny_model()
    used, run_ids = {}, []
    for i in range(1, 31):
        run_ids.append(fabricated_night(settings, i, fitted))
        used[i] = sizes(home)
    exports, models = used[30]
    assert exports <= used[5][0] and models <= used[5][1]  # no growth after night 5
    assert used[30] == used[3]  # identical nights: the same bytes once the limits are reached
    assert used[1][0] * 3 == exports  # exactly three nights' exports
    runs = sorted(p.name for p in (home / "exports" / "runs").iterdir())
    assert runs == sorted(run_ids[-3:])
    links = sorted(p.name for p in (home / "exports").iterdir() if p.is_symlink())
    assert links == sorted([day(i).isoformat() for i in (28, 29, 30)] + ["latest"])
    assert publish.verify(home / "exports" / "latest")["run_id"] == run_ids[-1]
    database = settings.database
    assert rows(database, "select status, count(*) from model_versions group by 1 order by 1") == [
        ("promoted", 2),
        ("pruned", 28),
    ]
    assert rows(database, "select count(*) from model_versions where status = 'pruned' "
                "and pruned_at is not null") == [(28,)]  # fmt: skip
    assert sorted(p.name for p in settings.models_dir.iterdir()) == sorted(
        f"als-{day(i):%Y%m%d}-{run_ids[i - 1]}" for i in (29, 30)
    )
    # the registry's audit rows stay, and the lists of the last offers_days (14) days before
    # the newest date stay in the database ...
    assert rows(database, "select count(distinct as_of) from offers") == [(15,)]
    assert rows(database, "select count(*), sum(bytes) > 0 from pruned_exports") == [(27, True)]
    # ... but the links follow only what still has an export: reconcile finds nothing to fix
    con = db.connect(database)
    try:
        published = dict(sqlfiles.rows(con, "publish/published_runs"))
    finally:
        con.close()
    assert sorted(published) == [day(i) for i in (28, 29, 30)]
    fixed = publish.reconcile(settings.exports_dir, published)
    assert not (fixed.changed or fixed.removed or fixed.problems)
    con = db.connect(database)
    try:
        current = stages.current_model(con)
        assert current is not None and current.version == f"als-{day(30):%Y%m%d}-{run_ids[-1]}"
        # a date whose model was pruned falls back like a date without a model
        assert stages.current_model(con, day(10)) is None
    finally:
        con.close()


def test_a_pruned_version_is_never_in_charge_and_a_pinned_one_is_never_pruned(tmp_path: Path):
    fitted = fit(tiny_inputs(), ModelSpec("popular"), seed=0)
    con = db.connect(tmp_path / "offers.duckdb")
    try:
        for version, i in (("early", 1), ("middle", 5), ("late", 9)):
            stages.save_model(
                con, tmp_path / "models", version=version, as_of=day(i), created_at=at(i),
                fitted=fitted, metadata={}, status="promoted",
            )  # fmt: skip

        def in_charge(d: dt.date | None) -> str | None:
            found = stages.current_model(con, d)
            return found.version if found else None

        assert in_charge(day(6)) == "middle"
        sqlfiles.run(con, "registry/prune", {"version": "middle", "now": at(10)})
        assert in_charge(day(6)) == "early"  # an older unpruned model takes over
        assert in_charge(None) == "late"
        sqlfiles.run(con, "registry/prune", {"version": "early", "now": at(10)})
        assert in_charge(day(6)) is None  # like a date without a model
        con.execute("update model_versions set pinned = true where version = 'late'")
        sqlfiles.run(con, "registry/prune", {"version": "late", "now": at(10)})
        assert in_charge(None) == "late"  # the SQL refuses to prune a pinned version too
        got = con.sql("select version, status, pruned_at from model_versions order by 1").fetchall()
        assert got == [
            ("early", "pruned", at(10)),
            ("late", "promoted", None),
            ("middle", "pruned", at(10)),
        ]
    finally:
        con.close()


def test_old_runs_and_quarantine_rows_go_after_their_days(tmp_path: Path):
    home = home_with(tmp_path, "[retention]\nruns_days = 365\nquarantine_days = 90\n")
    settings = load_settings(home)
    now = dt.datetime(2026, 6, 1, 3, 0)
    con = db.connect(settings.database)
    try:
        for run_id, age in (("old", 400), ("edge", 365), ("new", 10)):
            started = now - dt.timedelta(days=age)
            con.execute(
                "insert into runs values (?, ?, ?, ?, 'succeeded', '{}')",
                [run_id, started.date(), started, started],
            )
            con.execute(
                "insert into quarantine values (?, 'orders', 'orders.csv', 1, 'bad', '{}', ?)",
                [run_id, started],
            )
    finally:
        con.close()
    dry = io.apply(settings, now, dry_run=True)
    assert (dry.runs_rows, dry.quarantine_rows) == (1, 2)  # older than 365 / 90 days
    assert rows(settings.database, "select count(*) from runs") == [(3,)]  # dry: nothing gone
    done = io.apply(settings, now)
    assert (done.runs_rows, done.quarantine_rows) == (1, 2)
    assert rows(settings.database, "select run_id from runs order by 1") == [("edge",), ("new",)]
    assert rows(settings.database, "select run_id from quarantine") == [("new",)]
    (home / "offers.toml").write_text("[retention]\nruns_days = 0\nquarantine_days = 0\n")
    keep_all = io.apply(load_settings(home), now + dt.timedelta(days=3650))
    assert (keep_all.runs_rows, keep_all.quarantine_rows) == (0, 0)
    assert rows(settings.database, "select count(*) from runs") == [(2,)]


def test_prune_command_prints_what_would_go_then_deletes_it(tmp_path: Path):
    home = home_with(tmp_path, "[retention]\nkeep_exports = 7\nkeep_models = 5\n")
    settings = load_settings(home)
    fitted = tiny_model()
    run_ids = [fabricated_night(settings, i, fitted) for i in range(1, 5)]  # below the limits
    (home / "offers.toml").write_text("[retention]\nkeep_exports = 2\nkeep_models = 1\n")
    before = sizes(home)
    runner = CliRunner()
    dry = runner.invoke(app, ["prune", "--home", str(home), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove runs/{run_ids[0]} (as of {day(1)})" in dry.output
    assert f"would remove link {day(2)}" in dry.output
    assert "would remove: 2 export run folders, 2 date links, 3 model folders" in dry.output
    assert "dry run: nothing deleted" in dry.output
    assert sizes(home) == before
    done = runner.invoke(app, ["prune", "--home", str(home)])
    assert done.exit_code == 0, done.output
    assert "removed: 2 export run folders, 2 date links, 3 model folders" in done.output
    assert sorted(p.name for p in (home / "exports" / "runs").iterdir()) == sorted(run_ids[2:])
    assert len(list(settings.models_dir.iterdir())) == 1
    again = runner.invoke(app, ["prune", "--home", str(home)])
    assert "removed: 0 export run folders, 0 date links, 0 model folders" in again.output
    missing = runner.invoke(app, ["prune", "--home", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_failing_retention_only_logs_a_warning(tmp_path: Path, monkeypatch, caplog):
    settings = load_settings(home_with(tmp_path, ""))

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(io, "apply", broken)
    with caplog.at_level("WARNING", logger="prefect.offers"):
        assert io.after_publish(settings, run_id="r1", now=T0) is None
    assert "retention failed (OSError: disk on fire)" in caplog.text


# --- real nights end to end (the nightly flow's functions, without a Prefect server) ----------

REAL = "[als]\nfactors = 8\niterations = 3\n[retention]\nkeep_exports = 3\nkeep_models = 2\n"


def test_real_nights_stay_bounded_and_a_backfill_to_a_pruned_date_still_runs(
    small_shop: Path, tmp_path: Path
):
    from flows.nightly import nightly

    home = home_with(tmp_path, REAL + "[gate]\nenabled = false\n")
    database = home / "offers.duckdb"

    def night(as_of: dt.date) -> dict:
        summary = nightly.fn(as_of=as_of, home=str(home), source=str(small_shop))
        assert "reconciled" not in summary  # the links never needed repairing
        return summary

    nights = [END - dt.timedelta(days=8 - i) for i in range(8)]  # END-8 .. END-1
    used, own, summaries = {}, {}, []
    for n, as_of in enumerate(nights, 1):
        summary = night(as_of)
        summaries.append(summary)
        used[n] = sizes(home)
        own[n] = (  # what this night added: its export and its model (one a night, gate off)
            io.folder_bytes(home / "exports" / "runs" / summary["run_id"]),
            io.folder_bytes(home / "models" / summary["model_version"]),
        )
    # from night 4 on the folders hold exactly the newest 3 exports and 2 models: each night
    # deletes as much as it adds (the shop's history grows, so each export is a bit larger)
    for n in range(4, 9):
        assert used[n][0] == sum(own[k][0] for k in range(n - 2, n + 1))
        assert used[n][1] == sum(own[k][1] for k in range(n - 1, n + 1))
    assert used[8][0] <= 3 * max(e for e, _ in own.values())
    assert used[8][0] < 0.4 * sum(e for e, _ in own.values())  # 8 nights kept would be 8 exports
    exports = home / "exports"
    runs = sorted(p.name for p in (exports / "runs").iterdir())
    assert runs == sorted(s["run_id"] for s in summaries[-3:])
    links = sorted(p.name for p in exports.iterdir() if p.is_symlink())
    assert links == sorted([d.isoformat() for d in nights[-3:]] + ["latest"])
    assert publish.verify(exports / "latest")["run_id"] == summaries[-1]["run_id"]
    assert len(list((home / "models").iterdir())) == 2
    # night 2's model was pruned: a backfill of that date runs like a date without a model
    old, pruned = nights[1], summaries[1]["model_version"]
    assert rows(database, f"select status from model_versions where version = '{pruned}'") == [
        ("pruned",)
    ]
    (home / "offers.toml").write_text(REAL)  # the gate decides the backfill
    backfill = night(old)
    assert backfill["gate"]["current_version"] is None  # no unpruned model as of that date
    used_version = backfill["model_version"]
    assert used_version != pruned and (home / "models" / used_version).is_dir()
    status = f"select status from model_versions where version = '{used_version}'"
    assert rows(database, status) == [("promoted",)]
    assert publish.verify(exports / old.isoformat())["run_id"] == backfill["run_id"]
    assert publish.verify(exports / "latest")["run_id"] == summaries[-1]["run_id"]
    # the next night: the backfill's folder (an old date) goes, and nothing needs repairing
    last = night(END)
    runs = sorted(p.name for p in (exports / "runs").iterdir())
    assert runs == sorted([summaries[-2]["run_id"], summaries[-1]["run_id"], last["run_id"]])
    assert not (exports / old.isoformat()).exists()
    assert publish.verify(exports / "latest")["run_id"] == last["run_id"]
    gone = rows(database, "select count(*) from pruned_exports")[0][0]
    assert gone == 5 + 2  # nights 1-5 by night 8; night 6 and the backfill by END's run
    print("exports/runs, models bytes per night:", used, "added:", own, "after END:", sizes(home))


def test_lists_older_than_offers_days_go_but_not_the_run_just_published(tmp_path):
    from flows import db
    from flows import retention as flows_retention

    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text("[retention]\noffers_days = 30\n")
    settings = load_settings(home)
    con = db.connect(settings.database)
    for day, run in (
        (dt.date(2025, 1, 1), "old"),
        (dt.date(2025, 1, 2), "backfill"),
        (dt.date(2025, 5, 20), "recent"),
    ):
        con.execute(
            "insert into offers (as_of, channel, customer_id, rank, product_id, score, source, "
            "run_id, model_version) values (?, 'email', 'c1', 1, 'p1', 1.0, 'als', ?, 'v')",
            [day, run],
        )
        con.execute("insert into sent_offers values ('email', 'c1', 'p1', ?, ?)", [day, run])
    con.close()
    flows_retention.apply(settings, dt.datetime(2026, 11, 30), protect=("backfill",))
    con = db.connect(settings.database)
    try:
        assert con.sql("select run_id from offers order by 1").fetchall() == [
            ("backfill",),
            ("recent",),
        ]
        assert con.sql("select run_id from sent_offers order by 1").fetchall() == [
            ("backfill",),
            ("recent",),
        ]
    finally:
        con.close()
