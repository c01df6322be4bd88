"""The night's stages timed, and seen by whoever watches them (``offers bench`` measures each
stage's peak memory this way). A watcher is called with (stage, started): True when the stage
starts, False when it ends, failed or not. Seconds are recorded only for a stage that ends
normally."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Watcher = Callable[[str, bool], None]
WATCHERS: list[Watcher] = []


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Call ``watcher`` at every stage start and end while the block runs."""
    WATCHERS.append(watcher)
    try:
        yield
    finally:
        WATCHERS.remove(watcher)


@contextmanager
def watched_stage(name: str) -> Iterator[None]:
    """Tell the watchers that stage ``name`` starts, and that it ends (failed or not)."""
    for watcher in list(WATCHERS):
        watcher(name, True)
    try:
        yield
    finally:
        for watcher in list(WATCHERS):
            watcher(name, False)


@contextmanager
def timed_stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """A watched stage, timed into ``timings`` (seconds, 2 decimals) when it ends normally."""
    with watched_stage(name):
        t0 = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t0, 2)
