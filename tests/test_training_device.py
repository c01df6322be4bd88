"""Where ALS trains (``[als] device``, models/train.py): the CPU by default; a GPU asked for
where implicit sees none falls back to the CPU, says so, and records it with the model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import END

from flows import stages
from flows.config import Settings, load_settings
from flows.errors import ConfigError
from flows.nightly import nightly
from flows.tasks import LOGGER
from models.train import ALSParams, gpu_available, train_als, training_device, use_device

GPU_REASON = "no CUDA device here: implicit.gpu.HAS_CUDA is false (a GPU and rmm-cu13 needed)"


@pytest.fixture(autouse=True)
def _back_to_the_cpu():
    yield
    use_device("cpu")


def test_the_cpu_is_the_default_and_an_unknown_device_is_refused(tmp_path):
    assert Settings().als.device == "cpu"
    with pytest.raises(ValueError, match="unknown training device 'tpu'"):
        use_device("tpu")
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text('[als]\ndevice = "tpu"\n')
    with pytest.raises(ConfigError, match="device"):
        load_settings(home)


def test_the_device_is_not_part_of_the_model():
    # a model trained on the GPU warm-starts a CPU night and the other way round
    assert Settings(als={"device": "gpu"}).als.model_params() == Settings().als.model_params()


@pytest.mark.skipif(gpu_available(), reason="a CUDA device is present: no fallback to see")
def test_a_gpu_asked_for_without_one_means_the_cpu_with_a_warning():
    found: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = found.append  # type: ignore[method-assign]
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        device = stages.configure_process(Settings(als={"device": "gpu"}))
    finally:
        logger.removeHandler(handler)
    assert device == training_device() == "cpu"
    assert [r.getMessage() for r in found] == [
        "als.device = 'gpu', but implicit sees no CUDA device (is the rmm-cu13 package "
        "installed, and a GPU visible?): training on the cpu"
    ]
    assert stages.configure_process(Settings()) == "cpu"


@pytest.mark.usefixtures("prefect_server")
def test_a_night_records_where_its_model_trained(small_shop, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    config = '[als]\nfactors = 8\niterations = 4\ndevice = "gpu"\n[gate]\nenabled = false\n'
    (home / "offers.toml").write_text(config)
    run = nightly(as_of=END, home=str(home), source=str(small_shop))
    assert run["status"] == "succeeded"
    meta = json.loads((home / "models" / run["trained_version"] / "metadata.json").read_text())
    assert meta["training"] == "full"
    assert meta["device"] == ("gpu" if gpu_available() else "cpu")


def _matrix(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((300, 80)) < 0.08) * rng.integers(1, 5, (300, 80))
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.mark.skipif(not gpu_available(), reason=GPU_REASON)
def test_gpu_training_gives_a_cpu_model_close_to_the_cpu_fit():
    user_items = _matrix()
    params = ALSParams(factors=16, iterations=10)
    use_device("cpu")
    on_cpu = train_als(user_items, params, seed=3)
    assert use_device("gpu") == "gpu"
    on_gpu = train_als(user_items, params, seed=3)
    assert isinstance(on_gpu.user_factors, np.ndarray)  # the CPU model, not a GPU object
    cpu_scores = on_cpu.user_factors @ on_cpu.item_factors.T
    gpu_scores = on_gpu.user_factors @ on_gpu.item_factors.T
    # another random start and summation order: close scores, not equal factors
    assert np.corrcoef(cpu_scores.ravel(), gpu_scores.ravel())[0, 1] > 0.9
    warm = train_als(user_items, params, seed=3, init=(on_gpu.user_factors, on_gpu.item_factors))
    assert warm.user_factors.shape == on_gpu.user_factors.shape
