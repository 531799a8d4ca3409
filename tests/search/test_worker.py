"""A worker's sampler seed: its own, derived from the study's, never another worker's."""

from __future__ import annotations

from automl_fashion.search.config import MAX_SEED
from automl_fashion.search.worker import sampler_seed


def test_sampler_seeds_are_distinct_per_worker_and_per_start() -> None:
    seeds = [sampler_seed(0, index) for index in range(50)] + [
        sampler_seed(0, 0) for _ in range(50)
    ]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s <= MAX_SEED for s in seeds)


def test_one_worker_per_gpu() -> None:
    from automl_fashion.search.worker import worker_device

    assert [worker_device("auto", i, 2) for i in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert worker_device("cuda", 1, 4) == "cuda:1"
    assert worker_device("auto", 1, 1) == "auto"  # one GPU: auto picks it
    assert worker_device("cpu", 1, 2) == "cpu"
    assert worker_device("cuda:1", 0, 2) == "cuda:1"  # a named device stays


def test_no_gpu_count_without_a_torch_family_or_on_the_cpu() -> None:
    from automl_fashion.search.worker import cuda_devices

    assert cuda_devices("cpu", ["cnn"]) == 0
    assert cuda_devices("auto", ["svm", "linear"]) == 0
