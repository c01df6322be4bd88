"""Training: implicit's ALS on a weighted user-item CSR matrix, on the CPU (default) or, where
implicit sees a CUDA device, on the GPU (``use_device``). Either way the model handed on is
implicit's CPU model: scoring, anchors, refreshes and the registry never see a GPU object."""

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


DEVICES = ("cpu", "gpu")
_device = "cpu"  # where this process trains ALS (``use_device``)


def gpu_available() -> bool:
    """Whether implicit can train on a GPU here: its CUDA extension loaded (it needs the
    ``rmm-cu13`` package) and sees a device."""
    try:
        import implicit.gpu
    except ImportError:  # pragma: no cover - implicit always ships the module
        return False
    return bool(implicit.gpu.HAS_CUDA)


def use_device(requested: str) -> str:
    """Train ALS on ``requested`` ("cpu" or "gpu") from now on in this process; return the
    device it will use: "gpu" only where ``gpu_available()``, else "cpu" (an unattended night
    falls back instead of failing; the caller says so)."""
    global _device
    if requested not in DEVICES:
        raise ValueError(f"unknown training device {requested!r}; use one of {DEVICES}")
    _device = "gpu" if requested == "gpu" and gpu_available() else "cpu"
    return _device


def training_device() -> str:
    """The device ALS trains on in this process (recorded with every model)."""
    return _device


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
    if _device == "gpu":
        model = _fit_on_gpu(user_items, params, seed=seed, init=init, progress=progress)
        check_factors(model)
        return model
    # implicit checks the BLAS thread count when the model is built, so build it inside too
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**_arguments(params, seed), num_threads=num_threads)
        if init is not None:
            model.user_factors, model.item_factors = _start(user_items, params, init)
        # never implicit's own bar: the caller decides whether and where progress is drawn
        model.fit(user_items, show_progress=False, callback=per_iteration(progress))
    check_factors(model)
    return model


def _arguments(params: ALSParams, seed: int) -> dict[str, Any]:
    """What implicit's CPU and GPU ALS classes both take."""
    return {
        "factors": params.factors,
        "regularization": params.regularization,
        "alpha": params.alpha,
        "iterations": params.iterations,
        "random_state": seed,
    }


def _start(
    user_items: sp.csr_matrix, params: ALSParams, init: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The warm-start factors, checked against the matrix and ``params.factors``."""
    users, items = init
    if users.shape != (user_items.shape[0], params.factors) or items.shape != (
        user_items.shape[1],
        params.factors,
    ):
        raise TrainingError("warm-start factors do not match the matrix and factors")
    return (
        np.ascontiguousarray(users, dtype=np.float32),
        np.ascontiguousarray(items, dtype=np.float32),
    )


def _fit_on_gpu(
    user_items: sp.csr_matrix,
    params: ALSParams,
    *,
    seed: int,
    init: tuple[np.ndarray, np.ndarray] | None,
    progress: Callable[[], None] | None,
) -> AlternatingLeastSquares:
    """ALS fitted with implicit's CUDA backend, returned as its CPU model (``to_cpu``).
    Factors are close to, not bit-identical with, the CPU fit's (another summation order)."""
    import implicit.gpu
    from implicit.gpu.als import AlternatingLeastSquares as GpuALS

    model = GpuALS(**_arguments(params, seed))
    if init is not None:
        users, items = _start(user_items, params, init)
        model.user_factors, model.item_factors = (
            implicit.gpu.Matrix(users),
            implicit.gpu.Matrix(items),
        )
    model.fit(user_items, show_progress=False, callback=per_iteration(progress))
    return model.to_cpu()


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
