"""A full disk gets its own exit code and one line; passwords never reach output or runs."""

from __future__ import annotations

import errno
import shutil

import pytest
from helpers import END, rows
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import DiskFullError, disk_full, redact
from flows.publish import verify

runner = CliRunner()
CONFIG = "[als]\nfactors = 8\niterations = 3\n[gate]\nenabled = false\n"


def test_redact_hides_passwords_in_urls_and_paths():
    assert redact("postgresql://shop:s3cr3t@db:5432/shop") == "postgresql://shop:***@db:5432/shop"
    assert redact("/srv/postgresql:/shop:s3cr3t@db/shop") == "/srv/postgresql:/shop:***@db/shop"
    assert redact("file 12:30 at https://example.com/a") == "file 12:30 at https://example.com/a"


def test_out_of_space_errors_are_recognised_from_the_os_duckdb_and_polars(tmp_path):
    assert isinstance(disk_full(OSError(errno.ENOSPC, "No space", "/x/y"), tmp_path), DiskFullError)
    assert isinstance(disk_full(OSError(errno.EFBIG, "too large"), tmp_path), DiskFullError)
    assert disk_full(RuntimeError("IO Error: No space left on device"), tmp_path) is not None
    assert disk_full(OSError(errno.ENOENT, "missing"), tmp_path) is None


def test_a_full_disk_exits_9_in_one_line_and_keeps_the_last_export(
    small_shop, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    args = ["run", "--home", str(home), "--source", str(small_shop)]
    first = runner.invoke(app, [*args, "--as-of", str(END)])
    assert first.exit_code == 0, first.output
    before = (home / "exports" / "latest").resolve()
    offers_before = rows(home / "offers.duckdb", "select count(*), max(run_id) from offers")

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(home / "exports" / "x.csv"))

    with monkeypatch.context() as patch:
        patch.setattr("flows.exports.write_csv", no_space)
        second = runner.invoke(app, [*args, "--as-of", "2025-05-31"])
    assert second.exit_code == 9, second.output
    (line,) = [x for x in second.output.splitlines() if x.startswith("error:")]
    assert "no space left writing" in line and "x.csv" in line and "MB free" in line
    # (under a Prefect flow run, Prefect's own log may show the task's traceback above it)
    assert (home / "exports" / "latest").resolve() == before
    verify(home / "exports" / "latest")
    assert rows(home / "offers.duckdb", "select count(*), max(run_id) from offers") == offers_before
    assert not list((home / "exports" / "runs").glob(".tmp-*"))
    # what a run writes is the owner's only (settings.file_access = "owner")
    written = [home / "offers.duckdb", *(home / "exports" / "runs").rglob("*")]
    assert written and all(p.stat().st_mode & 0o077 == 0 for p in written), [
        (p, oct(p.stat().st_mode)) for p in written if p.stat().st_mode & 0o077
    ]
    # a run killed while publishing leaves a staging folder: the next run removes it
    dead = home / "exports" / "runs" / ".tmp-20250530T000000Z-dead00"
    (dead / "shop.csv").parent.mkdir(parents=True)
    (dead / "shop.csv").write_text("half a file")
    third = runner.invoke(app, [*args, "--as-of", "2025-05-31"])
    assert third.exit_code == 0, third.output
    assert not dead.exists()


def test_a_password_in_the_source_is_neither_printed_nor_stored(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    result = runner.invoke(
        app, ["run", "--home", str(home), "--source", "postgresql://shop:s3cr3t@db/shop"]
    )
    assert result.exit_code == 3, result.output
    assert "s3cr3t" not in result.output and "***" in result.output
    if (home / "offers.duckdb").exists():
        assert "s3cr3t" not in str(rows(home / "offers.duckdb", "select summary from runs"))
    shutil.rmtree(home)


@pytest.fixture(autouse=True)
def _no_prefect(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
