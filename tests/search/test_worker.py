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
