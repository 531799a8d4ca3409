"""The registry of data sets: built-in names, and opening a :class:`DatasetSpec`.

(First step: Fashion-MNIST only, through the existing loaders; MNIST-format sets and
folders of pictures are added here.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.data.spec import DatasetSpec


def names() -> list[str]:
    """The built-in data sets ``--dataset`` accepts."""
    return [FASHION_MNIST.name]


@dataclass
class _FashionMnist:
    info: DatasetInfo
    data_dir: str | os.PathLike[str] | None

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        from automl_fashion.data.dataset import load_train_full

        return load_train_full(self.data_dir)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        from automl_fashion.data.dataset import load_test

        return load_test(self.data_dir)


def open_dataset(
    spec: DatasetSpec, *, data_dir: str | os.PathLike[str] | None = None
) -> _FashionMnist:
    """The data set ``spec`` names, ready to read."""
    return _FashionMnist(FASHION_MNIST, data_dir)
