"""Spooled lists (flows/spool.py): the offer stage writes each chunk to Parquet parts and the
export made from the parts is the export made from whole frames in memory, byte for byte."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest
from helpers import EXPORT_CATALOGUE, offer_lists
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_registry import CUSTOMERS, PRODUCTS, inputs

from flows import channels, stages
from flows.config import load_settings
from flows.manifest import write_files
from flows.spool import Lists, clear, run_folder
from models import columns as C
from models.candidates import ModelSpec


def chunks(frames: dict[str, pl.DataFrame], cuts: list[int]) -> list[dict[str, pl.DataFrame]]:
    """``frames`` cut into chunks of whole customers at the customer positions ``cuts``."""
    customers = frames[C.CHANNEL_SHOP].get_column(C.CUSTOMER).unique().sort().to_list()
    bounds = [0, *sorted(set(cuts)), len(customers)]
    found = []
    for lo, hi in itertools.pairwise(bounds):
        who = pl.Series(customers[lo:hi], dtype=pl.String).implode()
        found.append({ch: f.filter(pl.col(C.CUSTOMER).is_in(who)) for ch, f in frames.items()})
    return found


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(1, 12), st.lists(st.integers(1, 11), max_size=4))
def test_the_export_of_spooled_parts_is_the_export_of_whole_frames(tmp_path_factory, n, cuts):
    tmp = tmp_path_factory.mktemp("spool")
    frames = offer_lists(n, digits=2)
    frames[C.CHANNEL_EMAIL] = frames[C.CHANNEL_EMAIL].filter(pl.col(C.CUSTOMER) != "c01")
    spooled = Lists.spooled(tmp / "parts")
    for part in chunks(frames, [c for c in cuts if c < n]):
        spooled.add(part)
    whole, parts = tmp / "whole", tmp / "parts-export"
    whole.mkdir()
    parts.mkdir()
    write_files(whole, frames, catalogue=EXPORT_CATALOGUE)
    write_files(parts, spooled, catalogue=EXPORT_CATALOGUE)
    # the wide CSVs byte for byte; the long Parquet files row for row
    got, want = files_of(parts), files_of(whole)
    assert sorted(got) == sorted(want) == ["email.csv", "email.parquet", "shop.csv", "shop.parquet"]
    for name in ("shop.csv", "email.csv"):
        assert got[name] == want[name]
    for channel in (C.CHANNEL_SHOP, C.CHANNEL_EMAIL):
        assert pl.read_parquet(parts / f"{channel}.parquet").equals(frames[channel])
        assert spooled.frame(channel).equals(frames[channel])
    # what the run summary and the publish checks count, counted part by part
    assert spooled.rows_of == {ch: f.height for ch, f in frames.items()}
    assert spooled.customers_of == {ch: f[C.CUSTOMER].n_unique() for ch, f in frames.items()}
    assert spooled.sources_of[C.CHANNEL_SHOP] == {C.SOURCE_MODEL: 2 * n, C.SOURCE_FILL: n}
    assert spooled.customers_in(C.CHANNEL_SHOP) == n
    assert spooled.customers_in(C.CHANNEL_EMAIL) == n - (n > 1)


def test_chunks_out_of_customer_order_are_refused(tmp_path):
    first, second = chunks(offer_lists(4), [2])
    spooled = Lists.spooled(tmp_path)
    spooled.add(second)
    with pytest.raises(ValueError, match="shop lists must come in customer order"):
        spooled.add(first)
    assert spooled.rows_of == {ch: f.height for ch, f in second.items()}  # nothing of it added
    unsorted = {C.CHANNEL_SHOP: offer_lists(3)[C.CHANNEL_SHOP].reverse()}
    with pytest.raises(ValueError, match="shop lists must come in customer order"):
        Lists.spooled(tmp_path / "b").add(unsorted)
    # whole frames handed over in any order are sorted by customer and rank
    assert Lists.of(unsorted).frame(C.CHANNEL_SHOP).equals(offer_lists(3)[C.CHANNEL_SHOP])


def test_the_offer_stage_spools_one_part_per_chunk_and_channel(tmp_path):
    shop = inputs(CUSTOMERS, PRODUCTS)
    fitted = stages.train_model(shop, ModelSpec("als", {"factors": 4, "iterations": 3}), seed=0)
    cfg = load_settings(tmp_path / "home")
    folder = run_folder(cfg.home, "run-1")
    spooled = channels.spool_lists(fitted, shop, cfg, chunk=15, folder=folder)
    in_memory = channels.offer_lists(fitted, shop, cfg, chunk=15)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{ch}-{i:05d}.parquet" for ch in ("email", "shop", "winback") for i in range(3)
    ]
    for channel, frame in in_memory.items():
        assert spooled.frame(channel).equals(frame)
    assert spooled.rows_of[C.CHANNEL_SHOP] == in_memory[C.CHANNEL_SHOP].height > 0
    clear(cfg.home, "run-1")
    assert not (cfg.home / ".spool").exists()
