"""Relative folders are resolved where the settings are built (the registry stores paths)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import END, rows

from flows.config import load_settings
from flows.nightly import nightly


def test_relative_home_and_source_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("home"), source_dir="shop")
    assert settings.home == tmp_path / "home" and settings.source == tmp_path / "shop"
    monkeypatch.setenv("OFFERS_SOURCE_DIR", "elsewhere")
    assert load_settings(Path("home")).source == tmp_path / "elsewhere"


@pytest.mark.usefixtures("prefect_server")
def test_a_model_saved_from_a_relative_home_is_found_from_another_directory(
    small_shop, tmp_path, monkeypatch
):
    home = tmp_path / "work" / "home"
    home.mkdir(parents=True)
    (home / "offers.toml").write_text("[als]\nfactors = 8\niterations = 3\n")
    monkeypatch.chdir(tmp_path / "work")
    nightly(as_of=END, home="home", source=str(small_shop))
    paths = rows(home / "offers.duckdb", "select path from model_versions")
    assert paths and all(Path(p).is_absolute() and Path(p).is_dir() for (p,) in paths)
    monkeypatch.chdir(tmp_path)  # the next night starts elsewhere and still finds the model
    second = nightly(as_of=END + dt.timedelta(days=1), home=str(home), source=str(small_shop))
    assert "current" in second["gate"]["scores"]  # the model in charge was loaded and judged
