"""A data set as arrays: the search-side split and, separately, the test set.

Search code calls :func:`load_split` (or :func:`searched_split`) only. The test images
come from :func:`load_test`, which model selection never calls: it is for export and
evaluation. Every function reads Fashion-MNIST unless it is given an opened ``dataset``
(:func:`automl_fashion.data.sets.open_dataset`).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from automl_fashion.data.builtin import FASHION_MNIST as FASHION_SET
from automl_fashion.data.files import (
    FILES,
    DataSource,
    FileSpec,
    cache_dir,
    locate,
    read_verified,
    write_atomic,
)
from automl_fashion.data.idx import parse_idx
from automl_fashion.data.idxset import IdxSet
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.errors import ConfigError, DataError

if TYPE_CHECKING:
    from automl_fashion.data.spec import Dataset

__all__ = [
    "CLASSES",
    "DEFAULT_VAL_SIZE",
    "FILES",
    "N_TRAIN",
    "Split",
    "checked_arrays",
    "default_val_size",
    "load_arrays",
    "load_idx",
    "load_split",
    "load_test",
    "load_train_full",
    "searched_split",
    "subsample",
]

CLASSES = FASHION_MNIST.classes
N_TRAIN = 60_000
DEFAULT_VAL_SIZE = 10_000


def default_val_size(n_train: int, n_classes: int = 10) -> int:
    """The validation size a search uses unless told: a fifth of the training images, at
    most 10,000 (Fashion-MNIST's 60,000 give its 10,000) and at least one per class."""
    return max(min(DEFAULT_VAL_SIZE, n_train // 5), n_classes)


@dataclass(frozen=True)
class Split:
    """Train and validation images (uint8, N x ``info.array_shape``) and labels (int64,
    0..n_classes-1), with the description of the data set they come from. No test data."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    info: DatasetInfo = FASHION_MNIST

    def __repr__(self) -> str:
        return f"Split(train={len(self.y_train)}, val={len(self.y_val)})"


def _cache_path(spec: FileSpec) -> Path:
    # keyed by the digest: a different file can never be served from the cache
    return cache_dir() / "arrays-v1" / f"{spec.name}-{spec.sha256[:16]}.npy"


def _from_cache(spec: FileSpec) -> np.ndarray | None:
    path = _cache_path(spec)
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache entry (an empty file after a crash) is rebuilt
    if not isinstance(array, np.ndarray):  # a zip archive (np.load opens those too)
        array.close()
        return None
    if array.dtype != np.uint8 or array.shape != spec.shape:
        return None
    return array


def _save_atomic(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda fh: np.save(fh, array, allow_pickle=False))


def load_arrays(
    keys: tuple[str, ...],
    data_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    *,
    dataset: IdxSet = FASHION_SET,
) -> list[np.ndarray]:
    """Parsed, verified arrays for the given file keys of a built-in IDX set.

    An explicit ``data_dir`` always reads (and verifies) that folder; otherwise the parsed
    arrays cached by an earlier verified load are used.
    """
    source: DataSource | None = None
    arrays = []
    for key in keys:
        spec = dataset.file(key)
        array = _from_cache(spec) if use_cache and data_dir is None else None
        if array is None:
            source = source or locate(data_dir, dataset=dataset)
            raw = read_verified(source.path(key), spec)
            array = parse_idx(
                raw, name=spec.name, ndim=len(spec.shape), item_shape=spec.shape[1:]
            ).copy()
            if array.shape != spec.shape:
                raise DataError(
                    f"{source.path(key)}: holds {array.shape[0]} items, expected {spec.shape[0]}"
                )
            if use_cache:
                _save_atomic(_cache_path(spec), array)
        arrays.append(array)
    return arrays


def load_idx(
    dataset: IdxSet,
    part: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels (int64) of ``part`` ("train" or "test") of a built-in set."""
    images_key, labels_key = f"{part}-images", f"{part}-labels"
    images, labels = load_arrays((images_key, labels_key), data_dir, use_cache, dataset=dataset)
    n_classes = len(dataset.classes)
    if labels.max(initial=0) >= n_classes:
        raise DataError(
            f"{dataset.file(labels_key).name}: label {labels.max()} outside 0..{n_classes - 1}"
        )
    if len(labels) != len(images):
        raise DataError(f"{dataset.name}: {len(images)} {part} images but {len(labels)} labels")
    return images, labels.astype(np.int64)


def checked_arrays(
    images: np.ndarray, labels: np.ndarray, info: DatasetInfo, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """``images`` and ``labels`` if they fit ``info`` (uint8 N x ``info.array_shape``,
    labels 0..n_classes-1, as many as images); labels as int64. DataError otherwise."""
    if images.dtype != np.uint8 or images.shape[1:] != info.array_shape:
        raise DataError(
            f"{what}: images of {images.dtype} {images.shape[1:]}, expected uint8 "
            f"{info.array_shape} ({info.name})"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{what}: {len(images)} images but labels of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what}: labels of type {labels.dtype}, expected integers")
    if len(labels) and (labels.min() < 0 or labels.max() >= info.n_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DataError(
            f"{what}: label {bad} outside 0..{info.n_classes - 1} ({info.n_classes} classes)"
        )
    return images, labels.astype(np.int64, copy=False)


def load_train_full(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    dataset: Dataset | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every training image and label (for a final refit): Fashion-MNIST's 60,000 from
    ``data_dir`` (see :func:`~automl_fashion.data.files.locate`), or ``dataset``'s
    training part (an opened data set knows where its files are: ``data_dir`` is not
    used then)."""
    if dataset is None:
        return load_idx(FASHION_SET, "train", data_dir, use_cache=use_cache)
    images, labels = dataset.train()
    return checked_arrays(images, labels, dataset.info, f"{dataset.info.name} training part")


def load_split(
    *,
    val_size: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    dataset: Dataset | None = None,
) -> Split:
    """The fixed, stratified, seeded train/validation split of the training images
    (``val_size`` defaults to :func:`default_val_size`)."""
    info = FASHION_MNIST if dataset is None else dataset.info
    if dataset is None and val_size is not None:
        _check_val_size(val_size, N_TRAIN, info.n_classes)  # before reading anything
    images, labels = load_train_full(data_dir, use_cache=use_cache, dataset=dataset)
    if val_size is None:
        val_size = default_val_size(len(labels), info.n_classes)
    _check_val_size(val_size, len(labels), info.n_classes)
    from sklearn.model_selection import train_test_split

    try:
        train_idx, val_idx = train_test_split(
            np.arange(len(labels)), test_size=val_size, stratify=labels, random_state=seed
        )
    except ValueError as exc:  # a class too small to be split
        what = f"{info.name}: cannot split off {val_size} validation images"
        raise DataError(f"{what}: {exc}") from None
    train_idx.sort()
    val_idx.sort()
    return Split(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], info)


def _check_val_size(val_size: object, n_images: int, n_classes: int) -> None:
    low, high = n_classes, n_images - n_classes
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not low <= val_size <= high:
        raise ConfigError(f"--val-size must be an integer in [{low}, {high}]; got {val_size!r}")


def searched_split(
    *,
    val_size: int | None = None,
    seed: int = 0,
    train_per_class: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    dataset: Dataset | None = None,
) -> Split:
    """The split a search's trials train and are scored on: :func:`load_split`, and with
    ``train_per_class`` (smoke runs) a balanced subset of it, validation a fifth as large
    per class (at least 10). Workers and export both build it here, so a trial retrained
    at export sees exactly the images it was searched on."""
    split = load_split(val_size=val_size, seed=seed, data_dir=data_dir, dataset=dataset)
    if not train_per_class:
        return split
    return subsample(
        split,
        train_per_class=train_per_class,
        val_per_class=max(10, train_per_class // 5),
        seed=seed,
    )


def load_test(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    dataset: Dataset | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The test images and labels (Fashion-MNIST's 10,000, or ``dataset``'s test part).
    Model selection must never call this."""
    if dataset is None:
        return load_idx(FASHION_SET, "test", data_dir, use_cache=use_cache)
    images, labels = dataset.test()
    return checked_arrays(images, labels, dataset.info, f"{dataset.info.name} test part")


def subsample(split: Split, *, train_per_class: int, val_per_class: int, seed: int = 0) -> Split:
    """A small class-balanced subset of a split (fast tests, smoke runs)."""
    rng = np.random.default_rng(seed)

    def pick(y: np.ndarray, per_class: int) -> np.ndarray:
        idx = [
            rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(split.info.n_classes)
        ]
        return np.sort(np.concatenate(idx))

    tr = pick(split.y_train, train_per_class)
    va = pick(split.y_val, val_per_class)
    return Split(split.X_train[tr], split.y_train[tr], split.X_val[va], split.y_val[va], split.info)
