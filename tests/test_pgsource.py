"""PostgreSQL as the source: same tables, same quarantine, same offers as files; incremental."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import END
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import SourceError
from flows.extract import extract

PASSWORD = "s3cret-pw"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ENTITIES = ("customers", "products", "orders", "order_lines", "events")
LOADED_AT = dt.datetime.combine(END, dt.time())


def _pg_bin() -> Path:
    """The PostgreSQL server binaries; installed from Debian packages once if missing."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    if not (PG_BIN / "pg_ctl").exists() and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "postgresql"], capture_output=True, check=False)
    if (PG_BIN / "pg_ctl").exists():
        return PG_BIN
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throw-away PostgreSQL server on a free loopback port; yields the URL of database
    ``shop`` (user ``offers``, password PASSWORD). As root, the server runs as ``postgres``
    (initdb refuses root), in a folder that user owns."""
    bindir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="offers-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _has_user("postgres") else "nobody"
        for path in (base, sock, pwfile):
            shutil.chown(path, user)
        prefix = ["runuser", "-u", user, "--"]
    env = {**os.environ, "LC_ALL": "C", "PGPASSWORD": PASSWORD}

    def run(*args: str | Path) -> None:
        command = [*prefix, *(str(a) for a in args)]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=base)
        if result.returncode != 0:
            pytest.fail(f"{args[0]} failed: {result.stderr or result.stdout}")

    pg_ctl = bindir / "pg_ctl"
    run(
        bindir / "initdb",
        "-D",
        data,
        "-U",
        "offers",
        "--auth=md5",
        f"--pwfile={pwfile}",
        "-E",
        "UTF8",
        "--no-sync",
    )
    port = _free_port()
    options = f"-k {sock} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        run(pg_ctl, "-D", data, "-l", base / "log", "-w", "-o", options, "start")
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "offers", "shop")
        yield f"postgresql://offers:{PASSWORD}@127.0.0.1:{port}/shop"
    finally:
        subprocess.run(
            [*prefix, str(pg_ctl), "-D", str(data), "stop", "-m", "immediate"],
            capture_output=True,
            check=False,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def sql(url: str, *statements: str) -> None:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url, autocommit=True) as con, con.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def load(db: Path, source: str | Path, run_id: str = "r1"):
    return {x.entity: x for x in extract(db, source, run_id=run_id, loaded_at=LOADED_AT)}


def tables(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: sorted(con.sql(f"select * exclude (loaded_run) from {t}").fetchall(), key=repr)
            for t in ENTITIES
        }
    finally:
        con.close()


def everything(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return repr(
            [con.sql(f"select * from {t}").fetchall() for t in ("quarantine", "runs", "load_log")]
        )
    finally:
        con.close()


@pytest.fixture(scope="session")
def pg_shop(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The same small shop in PostgreSQL (through ``offers generate --to``) and as files."""
    args = [
        "--customers",
        "300",
        "--products",
        "60",
        "--days",
        "40",
        "--seed",
        "5",
        "--end",
        END.isoformat(),
    ]
    files = tmp_path_factory.mktemp("pg-files") / "source"
    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--to", pg_server, *args])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "loaded" in result.output
    result = runner.invoke(app, ["generate", "--out", str(files), *args])
    assert result.exit_code == 0, result.output
    return pg_server, files


def test_postgres_and_files_give_the_same_tables(pg_shop, tmp_path):
    url, files = pg_shop
    from_pg = load(tmp_path / "pg.duckdb", url)
    load(tmp_path / "files.duckdb", files)
    assert all(x.rows_read > 0 and x.quarantined == 0 for x in from_pg.values()), from_pg
    assert tables(tmp_path / "pg.duckdb") == tables(tmp_path / "files.duckdb")
    # nothing new since: the second run reads nothing
    again = load(tmp_path / "pg.duckdb", url, run_id="r2")
    assert {e: x.rows_read for e, x in again.items()} == dict.fromkeys(ENTITIES, 0)


def test_postgres_and_files_give_the_same_offers(pg_shop, tmp_path):
    from flows.nightly import nightly

    url, files = pg_shop
    lists = {}
    for name, source in (("pg", url), ("files", str(files))):
        home = tmp_path / name
        home.mkdir()
        (home / "offers.toml").write_text("[als]\nfactors = 8\niterations = 3\n")
        summary = nightly.fn(as_of=END, home=str(home), source=source)
        assert summary.get("status") != "failed", summary
        assert PASSWORD not in repr(summary)
        lists[name] = pl.read_parquet(home / "exports" / "latest" / "shop.parquet")
        assert PASSWORD not in everything(home / "offers.duckdb")
    cols = lists["files"].columns
    assert lists["pg"].height > 0
    assert lists["pg"].sort(cols).equals(lists["files"].sort(cols))


def test_bad_row_is_quarantined_with_a_label_and_no_password(pg_server, tmp_path):
    base = pg_server.rsplit("/", 1)[0]
    sql(f"{base}/postgres", "drop database if exists bad", "create database bad")
    url = f"{base}/bad"
    sql(
        url,
        "create table customers (customer_id text, email_consent boolean, signup_date date, "
        "country text, updated_at timestamptz default now())",
        "insert into customers values ('c1', true, '2025-01-01', 'DE')",
        "create table products (product_id text, title text, category text, price float8, "
        "stock int, active boolean, repurchase_interval_days int, "
        "updated_at timestamptz default now())",
        "insert into products values ('p1', 'Tea', 'food', 2.5, 3, true, null), "
        "('p2', 'Pan', 'kitchen', -4, 1, true, null)",
        "create table orders (order_id text, customer_id text, ordered_at timestamp, "
        "status text, updated_at timestamptz default now())",
        "create table order_lines (order_id text, line_no int, product_id text, quantity int, "
        "unit_price float8, updated_at timestamptz default now())",
        "create table events (customer_id text, product_id text, event_type text, "
        "occurred_at timestamp, session_id text, updated_at timestamptz default now())",
    )
    db = tmp_path / "offers.duckdb"
    loads = load(db, url)
    assert loads["products"].quarantined == 1
    assert loads["products"].reasons == {"invalid_value:price": 1}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql("select entity, reason, source_file, record from quarantine").fetchall()
    finally:
        con.close()
    assert [(e, r, f) for e, r, f, _ in rows] == [
        ("products", "invalid_value:price", "postgresql:products")
    ]
    assert PASSWORD not in everything(db)
    # a missing column stops the run, naming the table, never the password
    sql(url, "alter table events rename column session_id to session")
    with pytest.raises(SourceError) as info:
        load(db, url, run_id="r2")
    assert "postgresql:events" in str(info.value) and "session_id" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_incremental_reads_only_new_rows_and_a_failed_run_keeps_the_watermark(pg_shop, tmp_path):
    shop_url, _ = pg_shop
    base = shop_url.rsplit("/", 1)[0]
    sql(f"{base}/postgres", "drop database if exists inc", "create database inc template shop")
    url = f"{base}/inc"
    db = tmp_path / "offers.duckdb"
    load(db, url)
    later = "now() + interval '1 hour'"
    sql(
        url,
        "insert into events (customer_id, product_id, event_type, occurred_at, session_id, "
        f"updated_at) select customer_id, product_id, 'view', occurred_at + interval '1 second', "
        f"'s-new-' || session_id, {later} from events order by occurred_at desc limit 7",
    )
    second = load(db, url, run_id="r2")
    assert second["events"].rows_read == 7 and second["events"].inserted == 7
    assert second["customers"].rows_read == 0
    # new customers, then a run that fails at events: the customers' watermark stays
    sql(
        url,
        "insert into customers (customer_id, email_consent, signup_date, country, updated_at) "
        f"values ('pg-new-1', true, '2025-01-01', 'DE', {later}), "
        f"('pg-new-2', false, '2025-01-02', null, {later})",
        "alter table events rename column session_id to session",
    )
    try:
        with pytest.raises(SourceError):
            load(db, url, run_id="r3")
    finally:
        sql(url, "alter table events rename column session to session_id")
    third = load(db, url, run_id="r4")
    assert third["customers"].rows_read == 2 and third["customers"].inserted == 2
    assert third["events"].rows_read == 0


def test_a_source_url_is_a_url_not_a_folder_and_never_shown(tmp_path, monkeypatch):
    from flows.config import load_settings

    url = f"postgresql://offers:{PASSWORD}@db.example:5432/shop"
    settings = load_settings(tmp_path, source_dir=url)
    assert settings.source_url == url and settings.source_dir is None
    assert PASSWORD not in settings.source_label and PASSWORD not in repr(settings)
    assert "source_url" not in settings.model_dump(mode="json", exclude={"source_url"})
    monkeypatch.setenv("OFFERS_SOURCE_DIR", url.replace("postgresql", "postgres"))
    assert load_settings(tmp_path).source_url.startswith("postgres://")
    (tmp_path / "offers.toml").write_text('[postgres]\ntables = { products = "Products;" }\n')
    with pytest.raises(Exception, match=r"postgres\.tables"):
        load_settings(tmp_path)


@pytest.mark.usefixtures("prefect_server")
def test_a_source_password_never_reaches_the_prefect_server(pg_shop, tmp_path, monkeypatch):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from flows import orchestration

    url, _ = pg_shop
    monkeypatch.delenv("OFFERS_SOURCE_DIR", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(
        "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
    )
    api = PREFECT_API_URL.value()
    assert api, "the harness serves an API"
    summary = orchestration.run_nightly(api, as_of=END, home=str(home), source=url)
    assert summary["status"] == "succeeded"
    monkeypatch.delenv("OFFERS_SOURCE_DIR", raising=False)

    async def parameters() -> list[dict]:
        async with get_client() as client:
            return [run.parameters for run in await client.read_flow_runs()]

    stored = asyncio.run(parameters())
    assert stored and all(PASSWORD not in repr(p) for p in stored)


def test_offers_run_reads_postgres_through_the_cli(pg_shop, tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    url, _ = pg_shop
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(
        "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"
    )
    result = CliRunner().invoke(
        app, ["run", "--home", str(home), "--source", url, "--as-of", str(END)]
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "customers" in result.output
    assert pl.read_parquet(home / "exports" / "latest" / "shop.parquet").height > 0
