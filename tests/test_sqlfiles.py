"""SQL lives in sql/*.sql, loaded by name; values are bound as parameters, never formatted."""

from __future__ import annotations

import re

import duckdb
import pytest

from flows import sqlfiles


def test_values_are_bound_not_spliced():
    con = duckdb.connect()
    con.sql("create table customers (customer_id varchar, email_consent boolean, signup_date date)")
    con.sql("insert into customers values ('c1', true, date '2024-12-31')")
    hostile = "2025-01-01'; drop table customers; --"
    # the whole string is one value: it fails to be a date instead of running as SQL
    with pytest.raises(duckdb.ConversionException, match="drop table customers"):
        sqlfiles.run(con, "marts/served_customers", {"as_of": hostile}).fetchall()
    assert con.sql("select count(*) from customers").fetchall() == [(1,)]
    rows = sqlfiles.rows(con, "marts/served_customers", {"as_of": "2025-01-01"})
    assert rows == [("c1", True)]


def test_missing_parameter_is_named():
    con = duckdb.connect()
    with pytest.raises(KeyError, match=r"marts/served_customers.sql needs parameters \['as_of'\]"):
        sqlfiles.run(con, "marts/served_customers", {})


def test_identifiers_come_from_a_safe_alphabet():
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        sqlfiles.render("extract/drop_temp", {"table": "x; drop table offers"})
    with pytest.raises(ValueError, match="unfilled placeholders"):
        sqlfiles.render("extract/drop_temp", {})
    with pytest.raises(FileNotFoundError, match="no SQL file"):
        sqlfiles.sql_text("marts/nope")


def test_every_sql_file_is_used():
    code = "\n".join(
        p.read_text() for folder in ("flows", "models", "tests") for p in
        (sqlfiles.SQL_DIR.parent / folder).rglob("*.py")  # packages too (flows/adapters/)
    )  # fmt: skip
    names = {
        str(p.relative_to(sqlfiles.SQL_DIR).with_suffix(""))
        for p in sqlfiles.SQL_DIR.rglob("*.sql")
    }
    referenced = set(re.findall(r'"([a-z_]+/[a-z0-9_]+)"', code))
    dynamic = {
        n for n in names if re.match(r"(staging/stg_|merge/|extract/(raw|peek)_|postgres/read_)", n)
    }
    assert names - dynamic <= referenced


def test_the_jobs_connections_draw_no_progress_bar(tmp_path):
    """DuckDB draws a progress bar on stdout for queries over 2 s; unattended logs get none."""
    from flows import db

    con = db.connect(tmp_path / "offers.duckdb")
    try:
        assert con.sql("select current_setting('enable_progress_bar')").fetchall() == [(False,)]
    finally:
        con.close()
    reader = db.connect(tmp_path / "offers.duckdb", read_only=True)
    try:
        assert reader.sql("select current_setting('enable_progress_bar')").fetchall() == [(False,)]
    finally:
        reader.close()
