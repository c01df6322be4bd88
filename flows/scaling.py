"""The offer stage on Dask (``[scale] engine = "dask"``, docs/scaling.md): the served customers
in shards, each shard's lists made on a Dask worker by the very function the single-process
path loops over (``flows.channels.chunk_lists``), put back together in shard order and checked
by the same rules. The lists are the same as without Dask.

Where the workers come from: an existing scheduler (``dask_address``), or a local cluster of
``dask_workers`` processes started for the stage and closed afterwards. The model, the inputs
and tonight's extras are sent to every worker once (``scatter(..., broadcast=True)``); a shard
is only an array of customer positions. Each worker runs BLAS on one thread (threadpoolctl):
the parallelism is the workers, not BLAS threads fighting over the same cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
from threadpoolctl import threadpool_limits

from flows.channels import OFFER_CHUNK, check_lists, chunk_lists, served_users
from flows.config import Settings
from flows.config_sections import ScaleSettings
from flows.progress import stage_progress
from flows.spool import Lists
from flows.tasks import run_logger
from flows.tonight import Tonight
from models.recommender import Fitted, Inputs

if TYPE_CHECKING:
    from distributed import Client

# what a worker process's BLAS/OpenMP libraries read when they load (a local cluster's workers)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
D = TypeVar("D")


def shards(served: np.ndarray, size: int) -> list[np.ndarray]:
    """``served`` cut into consecutive shards of ``size`` customers (one, empty, if none)."""
    return [served[lo : lo + size] for lo in range(0, max(len(served), 1), size)]


def offer_lists_sharded(
    fitted: Fitted, inputs: Inputs, settings: Settings, tonight: Tonight, lists: Lists
) -> Lists:
    """``flows.channels.spool_lists`` with the customers' shards made on Dask workers; each
    shard checked and added to ``lists`` in shard order as it arrives."""
    scale = settings.scale
    parts = shards(served_users(fitted), scale.shard_customers or OFFER_CHUNK)
    with dask_client(scale) as client:
        run_logger().info(
            "offer lists on Dask (%s, %d workers): %d shards",
            client.scheduler.address,
            len(client.scheduler_info(n_workers=-1)["workers"]),
            len(parts),
        )
        shared = {
            "fitted": client.scatter(pack(fitted), broadcast=True),
            "inputs": client.scatter(pack(inputs), broadcast=True),
            "tonight": client.scatter(pack(tonight), broadcast=True),
        }
        futures = client.map(
            shard_lists,
            parts,
            settings=settings,
            key=[f"offer-shard-{i}" for i in range(len(parts))],
            pure=False,
            **shared,
        )
        total = sum(len(p) for p in parts)
        with stage_progress(f"offer lists, {total:,} customers", len(parts)) as advance:
            for future in futures:  # in shard order: the lists stay in customer order
                part = future.result()
                future.release()
                check_lists(part, inputs, settings, tonight)
                lists.add(part)
                advance()
    return lists


def shard_lists(
    users: np.ndarray, *, fitted: Fitted, inputs: Inputs, settings: Settings, tonight: Tonight
) -> dict[str, pl.DataFrame]:
    """One shard's lists, on a worker: BLAS on one thread in this process."""
    with threadpool_limits(1, "blas"):
        return chunk_lists(unpack(fitted), unpack(inputs), settings, unpack(tonight), users)


@dataclasses.dataclass(frozen=True)
class _Chunked:
    """A polars frame or series on its way to a worker as Arrow, its chunks kept as they are."""

    table: pa.Table
    series: bool = False


def pack(obj: D) -> D:
    """``obj`` (a dataclass holding polars frames, series or such dataclasses, e.g. ``Fitted``
    with its id maps) ready to send. A pickled polars frame arrives as one chunk, and polars
    sums groups and orders join results following the chunks, so a float sum (a customer's
    weight per category) could differ in its last bit from this process's: Arrow keeps them."""
    changed: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, pl.DataFrame):
            changed[f.name] = _Chunked(value.to_arrow())
        elif isinstance(value, pl.Series):
            changed[f.name] = _Chunked(value.to_frame().to_arrow(), series=True)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type) and f.init:
            changed[f.name] = pack(value)
    return dataclasses.replace(obj, **changed) if changed else obj  # type: ignore[type-var]


def unpack(obj: D) -> D:
    """``pack`` undone on the worker: the same frames, chunk for chunk."""
    changed: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, _Chunked):
            frame = pl.from_arrow(value.table, rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            changed[f.name] = frame.to_series() if value.series else frame
        elif dataclasses.is_dataclass(value) and not isinstance(value, type) and f.init:
            changed[f.name] = unpack(value)
    return dataclasses.replace(obj, **changed) if changed else obj  # type: ignore[type-var]


@contextmanager
def dask_client(scale: ScaleSettings) -> Iterator[Client]:
    """A client of the configured scheduler, or of a local cluster started here and closed
    on the way out (also when the stage fails)."""
    from distributed import Client, LocalCluster

    if scale.dask_address is not None:
        with Client(scale.dask_address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=scale.dask_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=ONE_THREAD,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
