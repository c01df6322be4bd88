"""Training: implicit's ALS on a weighted user-item CSR matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits


class TrainingError(ValueError):
    """The matrix cannot be trained on, or the fitted factors are unusable."""


@dataclass(frozen=True)
class ALSParams:
    """ALS hyper-parameters. Confidence of an observed cell is ``1 + alpha * weight``."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 2.0
    iterations: int = 15


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model (recorded with every model)."""
    return {name: version(name) for name in ("implicit", "numpy", "scipy", "polars", "duckdb")}


def train_als(
    user_items: sp.csr_matrix,
    params: ALSParams,
    *,
    seed: int,
    num_threads: int = 0,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[], None] | None = None,
) -> AlternatingLeastSquares:
    """Fit ALS; BLAS is pinned to one thread (implicit parallelises itself).

    ``init`` (user factors, item factors) warm-starts the fit instead of implicit's random
    start; rows must match ``user_items``' shape and ``params.factors`` columns.
    ``progress`` is called once per iteration (the caller draws it, or not).
    """
    if not sp.issparse(user_items) or user_items.format != "csr":
        raise TrainingError("user_items must be a scipy CSR matrix")
    if user_items.nnz == 0:
        raise TrainingError("no interactions before the as-of date: nothing to train on")
    if user_items.dtype != np.float32:
        user_items = user_items.astype(np.float32)
    # implicit checks the BLAS thread count when the model is built, so build it inside too
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=seed,
            num_threads=num_threads,
        )
        if init is not None:
            users, items = init
            if users.shape != (user_items.shape[0], params.factors) or items.shape != (
                user_items.shape[1],
                params.factors,
            ):
                raise TrainingError("warm-start factors do not match the matrix and factors")
            model.user_factors = np.ascontiguousarray(users, dtype=np.float32)
            model.item_factors = np.ascontiguousarray(items, dtype=np.float32)
        # never implicit's own bar: the caller decides whether and where progress is drawn
        model.fit(user_items, show_progress=False, callback=per_iteration(progress))
    check_factors(model)
    return model


def per_iteration(progress: Callable[[], None] | None) -> Callable[..., None] | None:
    """implicit's fit callback (iteration, elapsed, loss) calling ``progress()``."""
    if progress is None:
        return None

    def callback(*_: Any) -> None:
        progress()

    return callback


def check_factors(model: AlternatingLeastSquares) -> None:
    """Refuse a model whose factors contain NaN or infinity."""
    for name in ("user_factors", "item_factors"):
        factors = np.asarray(getattr(model, name))
        bad = ~np.isfinite(factors)
        if bad.any():
            raise TrainingError(
                f"{name} has {int(bad.sum())} non-finite values; lower alpha or raise "
                "regularization, and check interaction weights for extreme values"
            )
