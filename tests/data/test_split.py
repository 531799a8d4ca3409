"""The search-side split: stratified, seeded, disjoint, and without the test set."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import automl_fashion
from automl_fashion.data import (
    FASHION_MNIST,
    DatasetInfo,
    Split,
    default_val_size,
    load_split,
    load_train_full,
    subsample,
)
from automl_fashion.errors import ConfigError, DataError


def _rows(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X.reshape(len(X), -1)}


def test_default_split_is_stratified_and_complete(full_split: Split) -> None:
    assert len(full_split.y_train) == 50_000 and len(full_split.y_val) == 10_000
    assert np.bincount(full_split.y_train).tolist() == [5000] * 10
    assert np.bincount(full_split.y_val).tolist() == [1000] * 10


def test_split_is_disjoint_and_covers_the_training_set(full_split: Split) -> None:
    X_all, _ = load_train_full()
    # index-level disjointness via exact reconstruction of the multiset of images
    joined = np.concatenate([full_split.X_train, full_split.X_val])
    assert sorted(_rows(joined)) == sorted(_rows(X_all))
    assert len(joined) == len(X_all)


def test_split_is_deterministic_per_seed(full_split: Split) -> None:
    again = load_split()
    np.testing.assert_array_equal(again.y_val, full_split.y_val)
    np.testing.assert_array_equal(again.X_val, full_split.X_val)
    other = load_split(seed=1)
    assert not np.array_equal(other.X_val, full_split.X_val)


def test_val_size_is_validated() -> None:
    expected = r"^--val-size must be an integer in \[10, 59990\]; got 0"
    with pytest.raises(ConfigError, match=expected):
        load_split(val_size=0)


def test_split_exposes_no_test_data(full_split: Split) -> None:
    assert set(vars(full_split)) == {"X_train", "y_train", "X_val", "y_val", "info"}
    assert full_split.info == FASHION_MNIST


def test_search_side_code_never_reads_the_test_set() -> None:
    """Only export/evaluation modules may call load_test or a data set's test(); selection
    code must not. (The data layer defines and serves them.)"""
    allowed = {"export/measure.py", "evaluate.py"}
    root = Path(automl_fashion.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in allowed or rel.startswith("data/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            name = getattr(node, "id", None) or getattr(node, "attr", None)
            if name == "load_test" or (isinstance(node, ast.alias) and node.name == "load_test"):
                offenders.append(rel)
            if (  # dataset.test()
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "test"
            ):
                offenders.append(rel)
    assert offenders == []


def test_subsample_is_balanced(full_split: Split) -> None:
    small = subsample(full_split, train_per_class=30, val_per_class=5)
    assert np.bincount(small.y_train).tolist() == [30] * 10
    assert np.bincount(small.y_val).tolist() == [5] * 10


def test_default_val_size_follows_the_data_set() -> None:
    assert default_val_size(60_000) == 10_000  # Fashion-MNIST as always
    assert default_val_size(1_000) == 200
    assert default_val_size(12, n_classes=3) == 3  # at least one per class


@dataclass
class _Made:
    """A data set made in the test (anything with info, train() and test())."""

    info: DatasetInfo
    labels: np.ndarray

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(self.labels), 28, 28), np.uint8), self.labels

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.train()


def test_val_size_is_checked_against_the_data_set() -> None:
    made = _Made(FASHION_MNIST, np.arange(100) % 10)
    assert len(load_split(dataset=made).y_val) == 20
    with pytest.raises(ConfigError, match=r"^--val-size must be an integer in \[10, 90\]; got 95"):
        load_split(dataset=made, val_size=95)


def test_labels_must_be_classes_of_the_data_set() -> None:
    made = _Made(FASHION_MNIST, np.arange(100) % 11)
    with pytest.raises(DataError, match=r"training part: label 10 outside 0..9 \(10 classes\)"):
        load_split(dataset=made)
    made = _Made(FASHION_MNIST, np.arange(100) % 10 - 1)
    with pytest.raises(DataError, match=r"label -1 outside 0..9"):
        load_split(dataset=made)
