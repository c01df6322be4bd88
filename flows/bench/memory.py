"""Peak resident memory of this process (and, for Dask, of the worker processes it started),
sampled from /proc every 20 ms."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def tree_rss_bytes() -> int:
    """Resident set size of this process and every process it started."""
    me = os.getpid()
    return rss_bytes(me) + sum(rss_bytes(pid) for pid in descendants(me))


class PeakSampler:
    """A thread that keeps the highest resident size seen since the last ``reset``."""

    def __init__(self, *, tree: bool = False, every_s: float = 0.02) -> None:
        self._measure = tree_rss_bytes if tree else rss_bytes
        self._every = every_s * (5 if tree else 1)  # walking /proc costs more: sample less often
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.peak = self._measure()
        self.overall = self.peak
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def sample(self) -> int:
        now = self._measure()
        with self._lock:
            self.peak = max(self.peak, now)
            self.overall = max(self.overall, now)
        return now

    def reset(self) -> None:
        with self._lock:
            self.peak = 0
        self.sample()

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
