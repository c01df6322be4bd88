"""Shared fixtures: small generated shops, hand-written sources, a Prefect server per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before Prefect is imported anywhere: no telemetry, quiet logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from helpers import END

from flows.generate import generate_shop


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated shop of 800 customers x 200 products over 60 days (Parquet)."""
    out = tmp_path_factory.mktemp("small-shop") / "source"
    generate_shop(out, customers=800, products=200, days=60, seed=3, end=END)
    return out


@pytest.fixture(scope="session")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's shape: 5,000 customers x 1,000 products over 90 days."""
    out = tmp_path_factory.mktemp("demo-shop") / "source"
    generate_shop(out, customers=5_000, products=1_000, days=90, seed=7, end=END)
    return out


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole session (starting one takes ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
