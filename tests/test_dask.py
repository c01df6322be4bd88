"""The offer stage sharded on Dask ([scale] engine = "dask") makes exactly the lists the
single-process path makes (flows/scaling.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import END

from flows.config import load_settings
from flows.errors import ConfigError
from flows.nightly import nightly
from flows.scaling import shards
from models import columns as C

CONFIG = """
[als]
factors = 8
iterations = 3
"""

DASK = """
[scale]
engine = "dask"
dask_workers = 2
shard_customers = 200
"""


def _run(root: Path, name: str, config: str, source: Path) -> tuple[dict, Path]:
    home = root / name
    home.mkdir()
    (home / "offers.toml").write_text(config)
    summary = nightly.fn(as_of=END, home=str(home), source=str(source))
    return summary, home / "exports" / "latest"


def test_dask_shards_make_exactly_the_single_process_lists(small_shop: Path, tmp_path: Path):
    local, local_out = _run(tmp_path, "local", CONFIG, small_shop)
    sharded, dask_out = _run(tmp_path, "dask", CONFIG + DASK, small_shop)
    assert local["status"] == sharded["status"] == "succeeded"
    assert sharded["offers"] == local["offers"]
    assert sharded["sources"] == local["sources"]
    channels = sorted(p.name for p in local_out.glob("*.parquet"))
    assert channels == sorted(p.name for p in dask_out.glob("*.parquet"))
    assert "shop.parquet" in channels
    assert pl.read_parquet(local_out / "shop.parquet").height > 0
    for name in channels:
        expected = pl.read_parquet(local_out / name)
        got = pl.read_parquet(dask_out / name)
        assert got.height == expected.height, name
        assert got.columns == expected.columns
        key = [c for c in expected.columns if c != C.SCORE]
        got, expected = got.sort(key), expected.sort(key)
        # exactly equal: customers, products, ranks, sources, reasons, anchors, texts
        assert got.select(key).equals(expected.select(key)), name
        if C.SCORE in expected.columns:
            # scores to the last bits: a new product's score sums a customer's weights per
            # category in polars' group order, which differs in the last bit between two
            # single-process runs as well (docs/scaling.md)
            assert np.allclose(got[C.SCORE], expected[C.SCORE], rtol=1e-12, atol=0), name


def test_shards_cover_every_served_customer_once_in_order():
    served = np.arange(7) * 3
    parts = shards(served, 3)
    assert [len(p) for p in parts] == [3, 3, 1]
    assert np.array_equal(np.concatenate(parts), served)
    assert [len(p) for p in shards(served[:0], 3)] == [0]


def test_scale_settings_default_to_this_process_and_refuse_two_clusters(tmp_path: Path):
    assert load_settings(tmp_path).scale.engine == "local"
    (tmp_path / "offers.toml").write_text(
        '[scale]\nengine = "dask"\ndask_address = "tcp://x:8786"\ndask_workers = 2\n'
    )
    with pytest.raises(ConfigError, match="not both"):
        load_settings(tmp_path)
