"""The two sides of the bench, each run in a fresh process of its own (``in_child``)."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from flows import sqlfiles, stages
from flows.bench.memory import PeakSampler
from flows.bench.shop import END, Split, deliver_last_day
from flows.config import load_settings
from flows.nightly import run_nightly
from flows.stagetimer import watching
from models import columns as C

K = 20  # the bare side's list length (the job's shop list is offers.shop_k, 20 by default)
MB = 2**20
T = TypeVar("T")


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a fresh (spawned) process: its memory is its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


@dataclass(frozen=True)
class JobPlan:
    """What the job side runs: one full night on ``source``, or, with ``split``, a full night
    the day before on ``split.before`` and then an incremental night once the day arrives."""

    source: Path
    home: Path
    split: Split | None = None
    engine: str = "local"
    workers: int | None = None
    full_retrain_days: int = 7

    def config(self) -> str:
        lines = []
        if self.split is not None:
            lines += ["[als]", f"full_retrain_days = {self.full_retrain_days}"]
        if self.engine == "dask":
            lines += ["[scale]", 'engine = "dask"']
            if self.workers:
                lines.append(f"dask_workers = {self.workers}")
        return "\n".join(lines) + "\n"


def job_nights(plan: JobPlan) -> list[dict[str, Any]]:
    """The nightly run itself on a fresh home: per night, each stage's seconds and peak."""
    shutil.rmtree(plan.home, ignore_errors=True)
    plan.home.mkdir(parents=True)
    (plan.home / "offers.toml").write_text(plan.config())
    source = plan.split.before if plan.split is not None else plan.source
    settings = load_settings(plan.home, source_dir=source)
    stages.configure_process(settings)
    with PeakSampler(tree=plan.engine == "dask") as sampler:
        if plan.split is None:
            return [_night(settings, END, sampler)]
        first = _night(settings, plan.split.last_day, sampler)
        deliver_last_day(plan.split)
        return [first, _night(settings, END, sampler)]


def _night(settings: Any, as_of: dt.date, sampler: PeakSampler) -> dict[str, Any]:
    peaks: dict[str, float] = {}

    def watch(stage: str, started: bool) -> None:
        if started:
            sampler.reset()
        else:
            sampler.sample()
            peaks[stage] = sampler.peak / MB

    sampler.reset()
    with watching(watch):
        summary = run_nightly(
            settings, as_of=as_of, now=dt.datetime.combine(as_of, dt.time(1)), record_sends=False
        )
    meta = settings.models_dir / summary["trained_version"] / "metadata.json"
    training = json.loads(meta.read_text()).get("training", "full")
    skipped = sum(load["files_skipped"] for load in summary["extract"])
    return {
        "as_of": as_of.isoformat(),
        "stages": {
            stage: {"seconds": seconds, "peak_rss_mb": peaks.get(stage, 0.0)}
            for stage, seconds in summary["timings_s"].items()
        },
        "elapsed_s": summary["elapsed_s"],
        "peak_rss_mb": max(peaks.values(), default=0.0),
        "training": training,
        "gate": summary["gate"]["action"],
        "files_skipped": skipped,
        "shop_rows": summary["offers"].get(C.CHANNEL_SHOP, 0),
    }


def bare_night(source: Path, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Hand-glued: DuckDB aggregate -> polars id maps -> CSR -> ALS -> recommend for all."""
    steps: dict[str, dict[str, float]] = {}
    cut = dt.datetime.combine(END, dt.time())
    with PeakSampler() as sampler:

        def timed(name: str, fn: Callable[[], T]) -> T:
            sampler.reset()
            t0 = time.perf_counter()
            out = fn()
            steps[name] = {"seconds": time.perf_counter() - t0}
            sampler.sample()
            steps[name]["peak_rss_mb"] = sampler.peak / MB
            return out

        frame = timed("aggregate", lambda: _aggregate(source, cut))
        user_items = timed("matrix", lambda: _matrix(frame))
        model = timed("train", lambda: _train(user_items, params, seed))
        timed("recommend", lambda: _recommend(model, user_items))
    return {
        "stages": steps,
        "peak_rss_mb": max(s["peak_rss_mb"] for s in steps.values()),
        "users": user_items.shape[0],
    }


def _aggregate(source: Path, cut: dt.datetime) -> pl.DataFrame:
    con = duckdb.connect()
    try:
        rel = sqlfiles.run(con, "bench/bare_interactions", {"source": str(source), "as_of": cut})
        assert rel is not None
        return rel.pl()
    finally:
        con.close()


def _matrix(frame: pl.DataFrame) -> sp.csr_matrix:
    users = frame.get_column(C.CUSTOMER).cast(pl.Categorical).to_physical().to_numpy()
    items = frame.get_column(C.PRODUCT).cast(pl.Categorical).to_physical().to_numpy()
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    weights = frame.get_column(C.WEIGHT).to_numpy().astype(np.float32)
    return sp.csr_matrix((weights, (users, items)), shape=shape)


def _train(user_items: sp.csr_matrix, params: dict[str, Any], seed: int) -> AlternatingLeastSquares:
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**params, random_state=seed)
        model.fit(user_items, show_progress=False)
    return model


def _recommend(model: AlternatingLeastSquares, user_items: sp.csr_matrix) -> int:
    rows = 0
    with threadpool_limits(1, "blas"):
        for start in range(0, user_items.shape[0], 100_000):
            batch = np.arange(start, min(start + 100_000, user_items.shape[0]))
            ids, _ = model.recommend(batch, user_items[batch], N=K)
            rows += ids.size
    return rows
