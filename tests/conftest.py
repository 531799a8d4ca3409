"""Shared fixtures: small, class-balanced subsets of the real Fashion-MNIST files.

The subsets are built on the fly from the verified files (nothing derived is committed).
"""

from __future__ import annotations

import pytest

from automl_fashion.data import Split, load_split, subsample


@pytest.fixture(scope="session")
def full_split() -> Split:
    """The default 50,000 / 10,000 split of the real training images."""
    return load_split()


@pytest.fixture(scope="session")
def tiny_split(full_split: Split) -> Split:
    """300 training and 50 validation images per class (3,000 / 500), real data."""
    return subsample(full_split, train_per_class=300, val_per_class=50, seed=0)
