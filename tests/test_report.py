"""The run report and the publish checks in the nightly run: the report is part of the export,
a failed check publishes nothing (exit 8) unless forced, and ``offers status`` / ``offers
report`` show the runs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from helpers import END, parquet_files, rows, snapshot
from typer.testing import CliRunner

from flows import db, stages
from flows import publish as P
from flows.cli import app
from flows.errors import PublishCheckError
from flows.nightly import nightly
from flows.run_report import ARTIFACT_KEY, REPORT_JSON, REPORT_MD, review
from flows.spool import Lists
from models import columns as C
from models.publish_checks import Drift, Thresholds

runner = CliRunner()
CONFIG = "[als]\nfactors = 8\niterations = 3\n"
NEXT = END + dt.timedelta(days=1)
ENTITIES = ("customers", "products", "orders", "order_lines", "events")


def _lists(pairs: dict[str, list[tuple[str, str]]]) -> dict[str, pl.DataFrame]:
    """Channel -> (customer, product) rows as offer lists, ranked in the given order."""
    out = {}
    for channel, found in pairs.items():
        frame = pl.DataFrame(found, schema=[C.CUSTOMER, C.PRODUCT], orient="row")
        out[channel] = frame.with_columns(
            pl.int_range(1, pl.len() + 1).over(C.CUSTOMER).cast(pl.Int32).alias(C.RANK),
            pl.lit(1.0).alias(C.SCORE), pl.lit("als").alias(C.SOURCE),
            pl.lit("popular").alias(C.REASON), pl.lit(None, pl.String).alias(C.ANCHOR),
            pl.lit("Popular").alias(C.REASON_TEXT), pl.lit("active").alias(C.SEGMENT),
        )  # fmt: skip
    return out


def test_drift_compares_with_the_newest_published_night_before_tonight(tmp_path):
    con = db.connect(tmp_path / "offers.duckdb")
    day = dt.date(2025, 6, 10)
    nights = {
        day - dt.timedelta(days=3): {"shop": [("a", "p9")]},
        day - dt.timedelta(days=1): {  # the previous night
            "shop": [("a", "p1"), ("a", "p2"), ("b", "p1"), ("b", "p3"), ("gone", "p1")],
            "email": [("a", "p1")],
        },
        day + dt.timedelta(days=1): {"shop": [("a", "p7")]},  # a later backfill: not previous
    }
    for as_of, pairs in nights.items():
        files = parquet_files(tmp_path / f"{as_of}", _lists(pairs))
        stages.store_offers(con, as_of=as_of, files=files, run_id=f"r{as_of:%d}", model_version="m")
    tonight = _lists(
        {
            # a keeps p1 and gets p4 new; b keeps both (reordered); c is new tonight
            "shop": [("a", "p4"), ("a", "p1"), ("b", "p3"), ("b", "p1"), ("c", "p1")],
            "email": [("a", "p2")],
            "winback": [("c", "p5")],
        }
    )
    found = review(con, day, tonight, Thresholds())
    spooled = Lists.spooled(tmp_path / "spool")  # as the offer stage hands them over
    spooled.add(tonight)
    assert review(con, day, spooled, Thresholds()) == found
    con.close()
    assert found.previous_as_of == day - dt.timedelta(days=1)
    assert {ch: (s.customers, s.rows) for ch, s in found.previous.items()} == {
        "email": (1, 1),
        "shop": (3, 5),
    }
    # shop: customers a and b listed both nights, 4 rows tonight, 1 new (a's p4): 25 %
    assert found.drift == {"shop": Drift(2, 4, 1), "email": Drift(1, 1, 1)}
    assert found.failed == []
    assert [r.name for r in found.results] == [
        "customers_served", "nonempty_shop", "nonempty_email", "nonempty_winback", "drift_shop",
    ]  # fmt: skip


def test_stage_writes_the_extra_files_into_the_checksummed_manifest(tmp_path):
    catalogue = pl.DataFrame(
        {
            C.PRODUCT: ["p1"],
            "title": ["One"],
            C.CATEGORY: ["a"],
            "price": [1.0],
            "url": [None],
            "image_url": [None],
        }
    )
    lists = _lists({"shop": [("a", "p1")]})
    extra = {REPORT_MD: b"# report\n", REPORT_JSON: b'{"ok": true}\n'}
    exports = tmp_path / "exports"
    folder = P.stage(exports, "run-1", END, lists, {}, catalogue=catalogue, extra_files=extra)
    entries = {e["file"]: e for e in P.verify(folder)["files"]}
    assert entries[REPORT_MD]["bytes"] == len(extra[REPORT_MD])
    assert entries[REPORT_JSON]["layout"] == "file"
    assert (folder / REPORT_MD).read_bytes() == extra[REPORT_MD]
    (folder / REPORT_MD).write_bytes(b"# edited\n")
    with pytest.raises(ValueError, match="checksum does not match"):
        P.verify(folder)
    for bad in ("../x.md", "shop.csv", P.MANIFEST):
        with pytest.raises(ValueError, match="cannot add"):
            P.stage(exports, "run-2", END, lists, {}, catalogue=catalogue, extra_files={bad: b""})
        assert not list((exports / "runs").glob("*run-2"))


# --- the nightly run -----------------------------------------------------------------------


def _first_night(home: Path, source: Path) -> dict:
    home.mkdir(parents=True)
    (home / "offers.toml").write_text(CONFIG)
    return nightly(as_of=END, home=str(home), source=str(source))


@pytest.fixture(scope="module")
def first(small_shop: Path, tmp_path_factory: pytest.TempPathFactory, prefect_server) -> dict:
    home = tmp_path_factory.mktemp("report") / "home"
    return {"home": home, "summary": _first_night(home, small_shop), "source": small_shop}


def _source_rows(source: Path, entity: str) -> int:
    single = source / f"{entity}.parquet"
    return (
        pl.scan_parquet(single if single.is_file() else source / entity / "*.parquet")
        .select(pl.len())
        .collect()
        .item()
    )


def _artifacts(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def test_the_report_is_part_of_the_export_and_matches_the_run(first):
    home, summary, source = first["home"], first["summary"], first["source"]
    export = home / "exports" / END.isoformat()
    files = {e["file"]: e for e in P.verify(export)["files"]}  # checksums include the report
    assert {REPORT_MD, REPORT_JSON} <= set(files)
    report = json.loads((export / REPORT_JSON).read_text())
    assert (report["run_id"], report["as_of"], report["outcome"]) == (
        summary["run_id"], END.isoformat(), "published",
    )  # fmt: skip
    loads = {load["entity"]: load for load in report["extract"]}
    assert {e: loads[e]["rows_read"] for e in ENTITIES} == {
        e: _source_rows(source, e) for e in ENTITIES
    }
    assert all(loads[e]["quarantined"] == 0 and loads[e]["reasons"] == {} for e in ENTITIES)
    for channel in ("shop", "email"):
        parquet = pl.read_parquet(export / f"{channel}.parquet")
        got = report["offers"][channel]
        assert got["offers"] == parquet.height == files[f"{channel}.parquet"]["rows"] > 0
        assert got["customers"] == parquet["customer_id"].n_unique()
        assert got["sources"] == dict(parquet.group_by("source").len().iter_rows())
    assert report["gate"] == json.loads(json.dumps(summary["gate"], default=str))
    assert report["counts"] == summary["counts"]
    served = rows(
        home / "offers.duckdb", f"select count(*) from customers where signup_date < '{END}'"
    )
    consenting = rows(
        home / "offers.duckdb",
        f"select count(*) from customers where email_consent and signup_date < '{END}'",
    )
    assert report["coverage"]["served_customers"] == served[0][0]
    assert report["coverage"]["email_eligible"] == consenting[0][0]
    assert report["coverage"]["shop"] == report["coverage"]["email"] == 1.0
    # the first night: nothing to compare with, every check passes with a note
    assert report["previous"] is None and report["drift"] == {}
    assert report["checks_failed"] == [] and summary["publish_checks"] == report["checks"]
    assert {"extract", "learn", "gate", "offer", "checks"} <= set(report["timings_s"])
    assert report["peak_memory_mb"] > 50
    text = (export / REPORT_MD).read_text()
    shop_row = f"| shop | {report['offers']['shop']['offers']:,} |"
    for part in ("**Published.**", "| customers_served | pass |", "## Extract", "## Offers",
                 shop_row, "gate: ", "Peak memory"):  # fmt: skip
        assert part in text
    artifacts = _artifacts(ARTIFACT_KEY)
    assert any(a.data == text for a in artifacts)


def _drop_customers(source: Path, dest: Path) -> Path:
    """The shop with 60 % of its customers signing up after NEXT: they are not served then."""
    shutil.copytree(source, dest)
    path = dest / "customers.parquet"
    customers = pl.read_parquet(path)
    later = pl.lit(NEXT + dt.timedelta(days=5))
    customers.with_columns(
        pl.when(pl.int_range(pl.len()) % 5 < 3).then(later).otherwise("signup_date")
        .alias("signup_date")
    ).write_parquet(path)  # fmt: skip
    return dest


def test_losing_most_customers_stops_with_exit_8_and_force_publishes(small_shop, tmp_path):
    home = tmp_path / "home"
    _first_night(home, small_shop)
    latest = (home / "exports" / "latest").resolve()
    database = home / "offers.duckdb"
    before = snapshot(database, ("offers", "model_versions", "goes_with"))
    source = _drop_customers(small_shop, tmp_path / "fewer")
    args = ["run", "--home", str(home), "--source", str(source), "--as-of", str(NEXT)]

    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    assert "customers_served" in result.output and "--force-publish" in result.output
    # nothing published: the previous export, the links and the published tables stay
    assert (home / "exports" / "latest").resolve() == latest
    P.verify(latest)
    assert not (home / "exports" / NEXT.isoformat()).exists()
    assert snapshot(database, ("offers", "model_versions", "goes_with")) == before
    status, text = rows(database, "select status, summary from runs order by started_at")[-1]
    recorded = json.loads(text)
    assert status == "failed" and recorded["error"].startswith("PublishCheckError")
    check = next(c for c in recorded["publish_checks"] if c["name"] == "customers_served")
    assert (check["passed"], check["value"], check["threshold"]) == (False, 0.6, 0.5)
    saved = home / "reports" / f"{recorded['run_id']}.md"
    assert recorded["report"] == str(saved) and str(saved) in " ".join(result.output.split())
    assert "**Stopped: nothing published**" in saved.read_text()
    assert json.loads(saved.with_suffix(".json").read_text())["outcome"] == "stopped"
    shown = runner.invoke(app, ["report", str(NEXT), "--home", str(home)])
    assert shown.exit_code == 0 and saved.read_text() in shown.stdout
    listed = runner.invoke(app, ["status", "--home", str(home)])
    assert listed.exit_code == 0
    assert "customers_served" in listed.stdout and "60.0% > 50%" in listed.stdout

    forced = runner.invoke(app, [*args, "--force-publish"])
    assert forced.exit_code == 0, forced.output
    assert "publish checks: failed customers_served, published with --force-publish" in (
        forced.output
    )
    export = home / "exports" / NEXT.isoformat()
    assert (home / "exports" / "latest").resolve() == export.resolve()
    P.verify(export)
    report = json.loads((export / REPORT_JSON).read_text())
    assert report["outcome"] == "forced" and report["checks_failed"] == ["customers_served"]
    assert report["previous"]["as_of"] == END.isoformat()
    # the same data and model one day later: the 320 customers kept (almost) their lists
    drift = report["drift"]["shop"]
    assert drift["customers"] == report["offers"]["shop"]["customers"] == 320
    assert drift["share"] < 0.05
    assert "**Published with --force-publish**" in (export / REPORT_MD).read_text()
    text = rows(database, "select summary from runs order by started_at")[-1][0]
    assert json.loads(text)["publish_forced"] == ["customers_served"]


def test_a_channel_that_empties_stops_the_publish(small_shop, tmp_path):
    home = tmp_path / "home"
    first = _first_night(home, small_shop)
    assert first["offers"]["email"] > 0
    source = shutil.copytree(small_shop, tmp_path / "no-consent")
    path = source / "customers.parquet"
    pl.read_parquet(path).with_columns(pl.lit(False).alias("email_consent")).write_parquet(path)
    with pytest.raises(PublishCheckError) as caught:
        nightly(as_of=NEXT, home=str(home), source=str(source))
    message = str(caught.value)
    assert caught.value.exit_code == 8
    assert "nonempty_email: no email lists tonight:" in message
    assert f"{first['customers_with_lists']['email']:,} customers had one the previous night" in (
        message
    )
    assert "customers_served" not in message  # only the failed checks are named
    assert not (home / "exports" / NEXT.isoformat()).exists()
    database = home / "offers.duckdb"
    assert rows(database, f"select count(*) from offers where as_of = '{NEXT}'") == [(0,)]
    # a backfill stops the same way, and --force-publish passes through it too
    backfill = ["backfill", "--home", str(home), "--source", str(source),
                "--start", str(NEXT), "--end", str(NEXT)]  # fmt: skip
    stopped = runner.invoke(app, backfill)
    assert stopped.exit_code == 8, stopped.output
    assert "backfill failed at" in stopped.output and "nonempty_email" in stopped.output
    forced = runner.invoke(app, [*backfill, "--force-publish"])
    assert forced.exit_code == 0, forced.output
    P.verify(home / "exports" / NEXT.isoformat())
    published = rows(
        database, f"select channel, count(*) from offers where as_of = '{NEXT}' group by 1"
    )
    assert dict(published) == {"shop": first["offers"]["shop"]}


def test_status_and_report_commands(first):
    home, summary = first["home"], first["summary"]
    listed = runner.invoke(app, ["status", "--home", str(home), "--last", "5"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.stdout.splitlines() if summary["run_id"] in x)
    for part in (END.isoformat(), "succeeded", f"shop {summary['offers']['shop']:,}"):
        assert part in line
    shown = runner.invoke(app, ["report", "--home", str(home)])  # default: exports/latest
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (home / "exports" / "latest" / REPORT_MD).read_text()
    missing = runner.invoke(app, ["report", "2020-01-01", "--home", str(home)])
    assert missing.exit_code == 1 and "no run as of 2020-01-01" in missing.output
    empty = runner.invoke(app, ["status", "--home", str(home / "nothing-here")])
    assert empty.exit_code == 0 and "no runs yet" in empty.stdout


def test_no_artifact_and_no_error_without_a_prefect_run():
    from flows.run_report import RunReport, artifact

    artifact(RunReport({"run_id": "r", "as_of": "2025-06-01", "outcome": "published"}, "# r\n"))
