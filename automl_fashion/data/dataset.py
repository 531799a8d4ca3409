"""Fashion-MNIST as arrays: the search-side split and, separately, the test set.

Search code calls :func:`load_split` only. The 10,000 test images come from
:func:`load_test`, which model selection never calls: it is for export and evaluation.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl_fashion.data.files import (
    FILES,
    DataSource,
    FileSpec,
    cache_dir,
    locate,
    read_verified,
)
from automl_fashion.data.idx import parse_idx
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.errors import ConfigError, DataError

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
N_TRAIN = 60_000
DEFAULT_VAL_SIZE = 10_000


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
    except (OSError, ValueError):
        return None  # a damaged cache entry is rebuilt from the files
    if array.dtype != np.uint8 or array.shape != spec.shape:
        return None
    return array


def _save_atomic(path: Path, array: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation: a read-only home must not stop a search


def load_arrays(
    keys: tuple[str, ...], data_dir: str | os.PathLike[str] | None = None, use_cache: bool = True
) -> list[np.ndarray]:
    """Parsed, verified arrays for the given file keys (see ``FILES``).

    An explicit ``data_dir`` always reads (and verifies) that folder; otherwise the parsed
    arrays cached by an earlier verified load are used.
    """
    source: DataSource | None = None
    arrays = []
    for key in keys:
        spec = FILES[key]
        array = _from_cache(spec) if use_cache and data_dir is None else None
        if array is None:
            source = source or locate(data_dir)
            raw = read_verified(source.path(key), spec)
            array = parse_idx(
                raw, name=spec.name, ndim=len(spec.shape), item_shape=spec.shape[1:]
            ).copy()
            if use_cache:
                _save_atomic(_cache_path(spec), array)
        arrays.append(array)
    return arrays


def _load_pair(
    images_key: str, labels_key: str, data_dir: str | os.PathLike[str] | None, use_cache: bool
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_arrays((images_key, labels_key), data_dir, use_cache)
    if labels.max(initial=0) > 9:
        raise DataError(f"{FILES[labels_key].name}: label {labels.max()} outside 0..9")
    return images, labels.astype(np.int64)


def load_train_full(
    data_dir: str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """All 60,000 training images and labels (for a final refit)."""
    return _load_pair("train-images", "train-labels", data_dir, use_cache)


def load_split(
    *,
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> Split:
    """The fixed, stratified, seeded train/validation split of the 60,000 training images."""
    if not isinstance(val_size, int) or not 10 <= val_size <= N_TRAIN - 10:
        raise ConfigError(f"val_size must be an integer in [10, {N_TRAIN - 10}]; got {val_size!r}")
    from sklearn.model_selection import train_test_split

    images, labels = load_train_full(data_dir, use_cache=use_cache)
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=val_size, stratify=labels, random_state=seed
    )
    train_idx.sort()
    val_idx.sort()
    return Split(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx])


def searched_split(
    *,
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
    train_per_class: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Split:
    """The split a search's trials train and are scored on: :func:`load_split`, and with
    ``train_per_class`` (smoke runs) a balanced subset of it, validation a fifth as large
    per class (at least 10). Workers and export both build it here, so a trial retrained
    at export sees exactly the images it was searched on."""
    split = load_split(val_size=val_size, seed=seed, data_dir=data_dir)
    if not train_per_class:
        return split
    return subsample(
        split,
        train_per_class=train_per_class,
        val_per_class=max(10, train_per_class // 5),
        seed=seed,
    )


def load_test(
    data_dir: str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images and labels. Model selection must never call this."""
    return _load_pair("test-images", "test-labels", data_dir, use_cache)


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
