"""The data layer: built-in MNIST-format sets and folders of pictures; locate, verify,
parse, cache, split.

Search code uses :func:`load_split` / :func:`searched_split`; only export and evaluation
call :func:`load_test`. Open a data set with :func:`open_dataset` (``DatasetSpec``); the
functions read Fashion-MNIST when they are given none.
"""

from automl_fashion.data.dataset import (
    CLASSES,
    DEFAULT_VAL_SIZE,
    Split,
    default_val_size,
    load_split,
    load_test,
    load_train_full,
    searched_split,
    subsample,
)
from automl_fashion.data.files import FILES, DataSource, locate
from automl_fashion.data.idx import IdxError, parse_idx
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.data.sets import names, open_dataset
from automl_fashion.data.spec import Dataset, DatasetSpec

__all__ = [
    "CLASSES",
    "DEFAULT_VAL_SIZE",
    "FASHION_MNIST",
    "FILES",
    "DataSource",
    "Dataset",
    "DatasetInfo",
    "DatasetSpec",
    "IdxError",
    "Split",
    "default_val_size",
    "load_split",
    "load_test",
    "load_train_full",
    "locate",
    "names",
    "open_dataset",
    "parse_idx",
    "searched_split",
    "subsample",
]
