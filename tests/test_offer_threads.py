"""The offer stage's chunks made on several threads (``scale.offer_threads``): the lists are
the ones made one chunk after another, in the same order, with a bounded number held."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_registry import CUSTOMERS, PRODUCTS, inputs

from flows import channels, stages
from flows.channels import ordered_map
from flows.config import load_settings
from models.candidates import ModelSpec


class Tracker:
    """Counts how many ``make`` calls run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[int] = []

    def make(self, item: int) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(item)
        time.sleep(random.Random(item).random() * 0.004)  # later items may finish first
        with self.lock:
            self.running -= 1
        return item * 10


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 12), st.integers(1, 4))
def test_results_come_in_the_items_order_with_at_most_threads_at_once(n, threads):
    tracker = Tracker()
    assert list(ordered_map(tracker.make, range(n), threads=threads)) == [i * 10 for i in range(n)]
    assert tracker.most <= threads
    assert sorted(tracker.started) == list(range(n))


def test_a_failed_item_raises_and_nothing_after_it_is_yielded():
    def make(item: int) -> int:
        if item == 3:
            raise ValueError("chunk 3 broke a rule")
        return item

    seen = []
    with pytest.raises(ValueError, match="chunk 3 broke a rule"):
        for value in ordered_map(make, range(50), threads=2):
            seen.append(value)
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_early_leaves_no_work_running():
    tracker = Tracker()
    made = ordered_map(tracker.make, range(100), threads=3)
    assert [next(made), next(made)] == [0, 10]
    made.close()
    # what was queued but not started is cancelled; what ran has finished
    assert tracker.running == 0
    assert len(tracker.started) <= 2 + 3


def test_two_threads_make_the_same_spooled_lists_as_one(tmp_path):
    shop = inputs(CUSTOMERS, PRODUCTS)
    fitted = stages.train_model(shop, ModelSpec("als", {"factors": 4, "iterations": 3}), seed=0)
    made = {}
    for threads in (1, 2):
        home = tmp_path / f"home{threads}"
        home.mkdir()
        (home / "offers.toml").write_text(f"[scale]\noffer_threads = {threads}\n")
        cfg = load_settings(home)
        assert cfg.scale.offer_threads == threads
        folder = home / "spool"
        made[threads] = channels.spool_lists(fitted, shop, cfg, chunk=7, folder=folder)
        assert len(list(folder.glob("shop-*.parquet"))) == -(-len(CUSTOMERS) // 7)
    one, two = made[1], made[2]
    assert one.channels == two.channels
    for channel in one.channels:
        assert two.frame(channel).equals(one.frame(channel))
        assert two.rows_of[channel] == one.rows_of[channel]
        assert two.customers_of[channel] == one.customers_of[channel]
