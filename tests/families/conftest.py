"""Data sets the family tests run on besides the Fashion-MNIST subset: made here, in memory.

``rgb_split``: 3 classes of 20 x 24 colour pictures (not square, not 28, not grayscale),
each a coloured shape at a random place on a noisy dark background: a red horizontal bar,
a green vertical bar, a blue square. Colour tells the classes apart for pixel features and
orientation does for HOG (which sees luminance only), so every family can learn it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from automl_fashion.data import FASHION_MNIST, DatasetInfo, Split

RGB_SHAPE = (3, 20, 24)
RGB_TRAIN_PER_CLASS = 400  # the svm family needs 1,000 images for two rungs
RGB_VAL_PER_CLASS = 60


def shapes_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 N x 20 x 24 x 3: for each label, its shape in its colour, placed at random."""
    _, h, w = RGB_SHAPE
    out = rng.integers(0, 40, (len(labels), h, w, 3)).astype(np.int64)
    sizes = {0: (3, 12), 1: (12, 3), 2: (7, 7)}  # rows x columns of each class's shape
    for i, label in enumerate(labels):
        rows, cols = sizes[int(label)]
        top, left = rng.integers(0, h - rows + 1), rng.integers(0, w - cols + 1)
        colour = rng.integers(20, 70, 3)
        colour[int(label)] = rng.integers(170, 256)
        out[i, top : top + rows, left : left + cols] = colour
    return out.clip(0, 255).astype(np.uint8)


def synthetic_rgb(seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    y_train = np.repeat(np.arange(3), RGB_TRAIN_PER_CLASS)
    y_val = np.repeat(np.arange(3), RGB_VAL_PER_CLASS)
    rng.shuffle(y_train)
    X_train, X_val = shapes_images(y_train, rng), shapes_images(y_val, rng)
    scaled = X_train.reshape(-1, 3) / 255.0
    info = DatasetInfo(
        name="test:shapes-rgb",
        classes=("red bar", "green bar", "blue square"),
        shape=RGB_SHAPE,
        mean=tuple(float(m) for m in scaled.mean(0)),
        std=tuple(float(s) for s in scaled.std(0)),
        source="made by tests/families/conftest.py",
        flips=True,
        reading="resize",
        test="held out 20%, seed 0",
    )
    return Split(X_train, y_train.astype(np.int64), X_val, y_val.astype(np.int64), info)


@pytest.fixture(scope="session")
def rgb_split() -> Split:
    return synthetic_rgb()


@pytest.fixture(scope="session")
def digits_like_split(tiny_split: Split) -> Split:
    """The Fashion-MNIST subset described as a data set whose labels a mirror changes."""
    info = dataclasses.replace(FASHION_MNIST, name="test:digits-like", flips=False)
    return dataclasses.replace(tiny_split, info=info)
