"""``offers forget``: a customer erased from the database, the stored models and the exports,
and refused by every later load; all or nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import END, rows, snapshot, tiny_frames, write_source
from typer.testing import CliRunner

from flows import forget as erasure
from flows.cli import app
from flows.extract import extract
from flows.publish import verify

runner = CliRunner()
TABLES = ("customers", "orders", "events", "offers", "sent_offers")
ALL_TABLES = (
    *TABLES, "products", "order_lines", "quarantine", "model_versions", "runs", "goes_with",
    "load_log",
)  # fmt: skip
BAD_ORDER = "BAD-ORDER-1"


def _pick_customer(source: Path) -> str:
    """A customer with email consent, orders and browsing in the generated shop."""
    customers = pl.read_parquet(source / "customers.parquet").filter(pl.col("email_consent"))
    for entity in ("orders", "events"):
        found = pl.read_parquet(source / entity / "*.parquet")
        customers = customers.join(found, on="customer_id", how="semi")
    return str(customers.get_column("customer_id").sort()[3])


def _add_bad_rows(source: Path, customer: str) -> None:
    """An order of ``customer`` with an unknown status and a line of it: both quarantined,
    both carrying the customer's data."""
    orders = pl.read_parquet(source / "orders" / "*.parquet")
    bad = orders.head(1).with_columns(
        pl.lit(BAD_ORDER).alias("order_id"),
        pl.lit(customer).alias("customer_id"),
        pl.lit("lost-in-post").alias("status"),
    )
    bad.write_parquet(source / "orders" / "part-99999.parquet")
    lines = pl.read_parquet(source / "order_lines" / "*.parquet")
    lines.head(1).with_columns(pl.lit(BAD_ORDER).alias("order_id")).write_parquet(
        source / "order_lines" / "part-99999.parquet"
    )


def _run(home: Path, source: Path, *extra: str) -> str:
    result = runner.invoke(
        app,
        ["run", "--home", str(home), "--source", str(source), "--as-of", str(END),
         "--record-sends", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def shop(small_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small shop plus a quarantined order (and line) of the customer to be erased."""
    source = tmp_path_factory.mktemp("forget-shop") / "source"
    shutil.copytree(small_shop, source)
    customer = _pick_customer(source)
    _add_bad_rows(source, customer)
    return source, customer


@pytest.fixture(scope="module")
def published(
    shop: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory, prefect_server: None
) -> Path:
    """A home after one ``offers run``, with a judge copy beside each factor model."""
    home = tmp_path_factory.mktemp("forget-home") / "home"
    home.mkdir()
    (home / "offers.toml").write_text("[als]\nfactors = 8\niterations = 3\n")
    _run(home, shop[0])
    for model in (home / "models").glob("*/model.npz"):
        judge = model.parent / "judge"
        if not judge.exists():  # the gate promoted nothing with evidence: make one to erase
            judge.mkdir()
            for name in ("model.npz", "users.parquet", "items.parquet"):
                shutil.copyfile(model.parent / name, judge / name)
    return home


def _count(database: Path, customer: str, source: Path) -> dict[str, int]:
    """Rows anywhere in the database that belong to ``customer`` (its orders' lines too)."""
    orders = pl.read_parquet(source / "orders" / "*.parquet").filter(
        pl.col("customer_id") == customer
    )
    order_ids = ", ".join(f"'{o}'" for o in orders["order_id"])
    found = {
        t: rows(database, f"select count(*) from {t} where customer_id = '{customer}'")[0][0]
        for t in TABLES
    }
    found["quarantine"] = rows(
        database,
        f"select count(*) from quarantine where record::varchar like '%{customer}%' "
        f"or record::varchar like '%{BAD_ORDER}%'",
    )[0][0]
    found["order_lines"] = rows(
        database, f"select count(*) from order_lines where order_id in ({order_ids})"
    )[0][0]
    return found


def _factors(home: Path) -> dict[Path, tuple[list[str], np.ndarray | None]]:
    """Per stored id map: its customers and, where there is one, its user factor matrix."""
    found = {}
    for users in sorted((home / "models").rglob("users.parquet")):
        model = users.parent / "model.npz"
        factors = np.load(model)["user_factors"] if model.is_file() else None
        found[users.parent] = (pl.read_parquet(users)["customer_id"].to_list(), factors)
    return found


def _export_files(home: Path) -> dict[str, bytes]:
    latest = home / "exports" / "latest"
    return {p.name: p.read_bytes() for p in sorted(latest.iterdir())}


def _stored_offers(database: Path, customer: str) -> int:
    query = f"select count(*) from current_offers where customer_id = '{customer}'"
    return rows(database, query)[0][0]


def test_forget_erases_everywhere_and_later_loads_refuse_the_customer(published, shop, tmp_path):
    home, (source, customer) = published, shop
    database = home / "offers.duckdb"
    before = _count(database, customer, source)
    assert all(n > 0 for n in before.values()), before
    other = rows(database, f"select min(customer_id) from offers where customer_id <> '{customer}'")
    other = other[0][0]
    old_files, old_models = _export_files(home), _factors(home)
    assert any(customer in ids for ids, _ in old_models.values())
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# erasure requests\n{customer}\n\n")

    result = runner.invoke(
        app, ["forget", "NOBODY-1", "--file", str(ids_file), "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    assert "customers: 1 row removed" in result.output
    assert f"offers: {before['offers']:,} rows removed" in result.output
    assert "unknown (nothing stored; still refused from now on): NOBODY-1" in result.output
    for table in (*TABLES, "order_lines", "quarantine"):
        assert f"{table}: " in result.output

    assert _count(database, customer, source) == dict.fromkeys(before, 0)
    assert _stored_offers(database, other) > 0
    # the export latest shows: filtered byte for byte, checksums recomputed
    manifest = verify(home / "exports" / "latest")
    new_files = _export_files(home)
    for name, data in new_files.items():
        if name.endswith(".csv"):
            prefix = f"{customer},".encode()
            kept = [ln for ln in old_files[name].split(b"\n") if not ln.startswith(prefix)]
            assert data.split(b"\n") == kept, name
        elif name.endswith(".parquet") and "customer_id" in pl.read_parquet(data).columns:
            got = pl.read_parquet(data)
            assert customer not in got["customer_id"].to_list()
            want = pl.read_parquet(old_files[name]).filter(pl.col("customer_id") != customer)
            assert got.equals(want), name
    assert manifest["erasures"][0]["replaces"] != manifest["run_id"]
    assert rows(database, "select distinct run_id from offers") == [(manifest["run_id"],)]
    assert sorted(p.name for p in (home / "exports" / "runs").iterdir()) == [manifest["run_id"]]
    # models: the id and its factor row gone, every other row as it was
    for folder, (ids, factors) in _factors(home).items():
        old_ids, old_factors = old_models[folder]
        assert ids == [i for i in old_ids if i != customer]
        if factors is not None:
            assert old_factors is not None
            assert np.array_equal(factors, old_factors[np.array(old_ids) != customer])
    assert not list((home / "models").rglob(".forget-*"))
    # audit: one runs row without the ids; the erasure list holds only the hash
    audit = rows(database, "select summary::varchar from runs where status = 'forgotten'")
    assert len(audit) == 1
    assert customer not in audit[0][0] and "NOBODY-1" not in audit[0][0]
    summary = json.loads(audit[0][0])
    assert summary["customers"] == 2 and summary["unknown"] == 1
    assert summary["rows"]["offers"] == before["offers"]
    assert summary["model_rows"] >= 2 and summary["export_rows"] > 0  # a model and its judge copy
    listed = (home / erasure.ERASURES).read_text()
    assert customer not in listed
    assert hashlib.sha256(customer.encode()).hexdigest() in listed

    # the next run skips the unchanged source files (incremental extract): nothing comes back
    assert "refused (erased)" not in _run(home, source)
    assert _count(database, customer, source) == dict.fromkeys(before, 0)
    # a run reading the same source files again: the customer does not come back either
    assert "refused (erased)" in _run(home, source, "--full-extract")  # the summary's count
    assert _count(database, customer, source) == dict.fromkeys(before, 0)
    assert _stored_offers(database, other) > 0
    latest = home / "exports" / "latest"
    verify(latest)
    for name in ("shop.parquet", "email.parquet"):
        assert customer not in pl.read_parquet(latest / name)["customer_id"].to_list()
    assert all(customer not in ids for ids, _ in _factors(home).values())
    ((summary,),) = rows(database, "select summary from runs order by started_at desc limit 1")
    refused = {load["entity"]: load["refused"] for load in json.loads(summary)["extract"]}
    assert refused["customers"] == 1 and refused["products"] == 0
    assert refused["orders"] == before["orders"] + 1  # the quarantined order too
    assert refused["events"] == before["events"]
    assert refused["order_lines"] >= 1


def _copy_home(home: Path, dest: Path) -> Path:
    shutil.copytree(home, dest, symlinks=True)
    return dest


def _home_state(home: Path) -> dict[str, object]:
    files = {
        str(p.relative_to(home)): p.read_bytes()
        for folder in ("models", "exports")
        for p in sorted((home / folder).rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    links = {p.name: str(p.readlink()) for p in (home / "exports").iterdir() if p.is_symlink()}
    listed = home / erasure.ERASURES
    return {
        "files": files,
        "links": links,
        "db": snapshot(home / "offers.duckdb", ALL_TABLES),
        "erasures": listed.read_bytes() if listed.exists() else None,
    }


@pytest.mark.parametrize(
    "step",
    [
        "flows.publish.verify",  # checking a staged export, after the models' files are prepared
        "flows.forget._append_erasures",  # the last step before the commit: rows deleted by then
    ],
)
def test_a_failure_before_the_commit_changes_nothing(published, tmp_path, monkeypatch, step):
    home = _copy_home(published, tmp_path / "home")
    customer = rows(home / "offers.duckdb", "select min(customer_id) from offers")[0][0]
    state = _home_state(home)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{step} failed")

    monkeypatch.setattr(step, broken)
    result = runner.invoke(app, ["forget", customer, "--home", str(home)])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert _home_state(home) == state  # the erasure list too (put back as it was)
    verify(home / "exports" / "latest")


def test_a_database_open_in_another_process_exits_6(published, tmp_path):
    home = _copy_home(published, tmp_path / "home")
    state = _home_state(home)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
         "time.sleep(60)", str(home / "offers.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = runner.invoke(app, ["forget", "C0000001", "--home", str(home)])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 6, result.output
    assert "is open in another process" in result.output
    assert _home_state(home) == state


def test_no_ids_or_no_database_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["forget", "--home", str(tmp_path / "home")])
    assert result.exit_code == 2
    assert "no customer ids" in result.output
    result = runner.invoke(app, ["forget", "C0000001", "--home", str(tmp_path / "home")])
    assert result.exit_code == 2
    assert "offers.duckdb does not exist; is --home right?" in result.output
    assert not (tmp_path / "home").exists()  # nothing created


def test_extract_refuses_erased_customers_without_quarantining_them(tmp_path):
    frames = tiny_frames()
    frames["customers"] = frames["customers"].with_columns(
        pl.col("customer_id").str.replace("^c1$", "  c1 ")  # read as staging trims it
    )
    source = write_source(tmp_path / "src", frames)
    database = tmp_path / "home" / "offers.duckdb"
    database.parent.mkdir()
    (database.parent / erasure.ERASURES).write_text(
        f"customer_hash,erased_at\n{erasure.customer_hash('c1')},2025-04-01\n"
    )
    loads = extract(database, source, run_id="r1", loaded_at=dt.datetime(2025, 4, 1))
    refused = {load.entity: load.refused for load in loads}
    assert refused == {"customers": 1, "products": 0, "orders": 2, "order_lines": 3, "events": 2}
    by_entity = {load.entity: load for load in loads}
    assert by_entity["orders"].rows_read == 5 and by_entity["orders"].inserted == 3
    assert rows(database, "select count(*) from quarantine") == [(0,)]
    assert rows(database, "select count(*) from orders where order_id in ('o1', 'o3')") == [(0,)]
    assert rows(database, "select count(*) from order_lines where order_id = 'o1'") == [(0,)]
    assert rows(database, "select list_sort(list(customer_id)) from customers") == [
        (["c2", "c3", "c4"],)
    ]
    assert rows(database, "select count(*) from events where customer_id = 'c1'") == [(0,)]


def test_every_table_with_a_customer_id_is_erased(tmp_path):
    """A table added to the schema with customer data must be added to forget's deletes."""
    from flows import db

    con = db.connect(tmp_path / "offers.duckdb")
    try:
        holding = {
            row[0]
            for row in con.sql(
                "select table_name from information_schema.columns c "
                "join information_schema.tables t using (table_schema, table_name) "
                "where column_name = 'customer_id' and table_type = 'BASE TABLE'"
            ).fetchall()
        }
    finally:
        con.close()
    assert "customers" in holding
    assert holding <= {table for table, _ in erasure._DELETES}
