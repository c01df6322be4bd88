"""``offers bench``: time the job's stages against the bare libraries doing the same work.

The job side runs the stage functions the flow runs (without Prefect, whose overhead is fixed
and reported by every ``offers run``): extract into a fresh database, learn (marts + ALS), offer
(ranked lists for every customer with the rules) and publish (model files, offers table,
export). The bare side is what a team would glue together by hand: one DuckDB aggregate of
weighted events and purchases over the same Parquet files, polars id maps, a scipy CSR, the
same ALS, and ``model.recommend`` for every customer. Both sides run in the same process, one
after the other, ``repeat`` times; medians and the job/bare ratio are reported. Peak memory is
sampled from /proc (resident set size) while each step runs.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from flows import channels, db, exports, judge, sqlfiles, stages, tonight
from flows.config import Settings, load_settings
from flows.extract import extract
from flows.publish import activate, stage
from models import columns as C
from models import gate
from models.recommender import fit

K = 20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Sample the resident set size every 20 ms; ``out['peak']`` holds the highest seen."""
    out = {"peak": _rss_bytes()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], _rss_bytes())
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["peak"] = max(out["peak"], _rss_bytes())


def timed(steps: dict[str, dict[str, float]], name: str, fn: Callable[[], Any]) -> Any:
    with peak_rss() as mem:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    steps[name] = {"seconds": seconds, "peak_rss_mb": mem["peak"] / 2**20}
    return result


def job_once(source: Path, home: Path, as_of: dt.date) -> tuple[dict[str, Any], int]:
    """The job's stages on a fresh home; returns step figures and the number of list rows."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "offers.toml").write_text("[gate]\nenabled = false\n")
    settings = load_settings(home, source_dir=source)
    now = dt.datetime.combine(as_of, dt.time())
    steps: dict[str, dict[str, float]] = {}
    timed(steps, "extract", lambda: extract(settings.database, source, run_id="b", loaded_at=now))

    def learn() -> Any:
        con = db.connect(settings.database)
        try:
            history = stages.read_history(con, as_of, settings)
        finally:
            con.close()
        return history, fit(history.inputs, stages.model_spec(settings), seed=settings.seed)

    history, fitted = timed(steps, "learn", learn)
    timed(steps, "gate", lambda: judge_night(settings, as_of))

    def offer() -> dict[str, Any]:
        con = db.connect(settings.database)
        try:
            extras = tonight.read_tonight(con, as_of, history.inputs, settings)
        finally:
            con.close()
        return channels.offer_lists(fitted, history.inputs, settings, tonight=extras)

    lists = timed(steps, "offer", offer)

    def deliver() -> None:
        con = db.connect(settings.database)
        try:
            with db.transaction(con):
                stages.save_model(
                    con,
                    settings.models_dir,
                    version="bench",
                    as_of=as_of,
                    created_at=now,
                    fitted=fitted,
                    metadata={},
                    status="promoted",
                )
                stages.store_offers(
                    con, as_of=as_of, lists=lists, run_id="b", model_version="bench"
                )
                stage(
                    settings.exports_dir,
                    "b",
                    as_of,
                    lists,
                    {"model_version": "bench"},
                    catalogue=exports.read_catalogue(con),
                    customers=exports.read_contacts(con),
                    slots=exports.slot_counts(settings),
                )
        finally:
            con.close()
        activate(settings.exports_dir, "b", as_of)

    timed(steps, "publish", deliver)
    return steps, lists[C.CHANNEL_SHOP].height


def judge_night(settings: Settings, as_of: dt.date) -> gate.GateDecision:
    """The nightly gate as the flow runs it: every candidate on the same windows."""
    con = db.connect(settings.database)
    try:
        data = judge.gate_data(con, settings, as_of)
    finally:
        con.close()
    return judge.verdict(data, settings, stages.model_spec(settings))[0]


def bare_once(source: Path, as_of: dt.date, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Hand-glued: DuckDB aggregate -> polars id maps -> CSR -> ALS -> recommend for all."""
    steps: dict[str, dict[str, float]] = {}
    cut = dt.datetime.combine(as_of, dt.time())

    def aggregate() -> pl.DataFrame:
        con = duckdb.connect()
        try:
            rel = sqlfiles.run(
                con, "bench/bare_interactions", {"source": str(source), "as_of": cut}
            )
            assert rel is not None
            return rel.pl()
        finally:
            con.close()

    frame = timed(steps, "aggregate", aggregate)

    def matrix() -> tuple[sp.csr_matrix, int]:
        users = frame.get_column(C.CUSTOMER).cast(pl.Categorical).to_physical().to_numpy()
        items = frame.get_column(C.PRODUCT).cast(pl.Categorical).to_physical().to_numpy()
        shape = (int(users.max()) + 1, int(items.max()) + 1)
        weights = frame.get_column(C.WEIGHT).to_numpy().astype(np.float32)
        return sp.csr_matrix((weights, (users, items)), shape=shape), shape[0]

    user_items, n_users = timed(steps, "matrix", matrix)

    def train() -> AlternatingLeastSquares:
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(**params, random_state=seed)
            model.fit(user_items, show_progress=False)
        return model

    model = timed(steps, "train", train)

    def top_k() -> int:
        rows = 0
        with threadpool_limits(1, "blas"):
            for start in range(0, n_users, 100_000):
                batch = np.arange(start, min(start + 100_000, n_users))
                ids, _ = model.recommend(batch, user_items[batch], N=K)
                rows += ids.size
        return rows

    timed(steps, "recommend", top_k)
    return steps


def summarise(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Median seconds and peak memory per step over repeated runs."""
    names = list(runs[0])
    return {
        n: {
            "seconds": statistics.median(r[n]["seconds"] for r in runs),
            "peak_rss_mb": max(r[n]["peak_rss_mb"] for r in runs),
        }
        for n in names
    }
