"""The Fashion-MNIST data layer: locate, verify, parse, cache, split.

Search code uses :func:`load_split`; only export and evaluation call :func:`load_test`.
"""

from automl_fashion.data.dataset import (
    CLASSES,
    DEFAULT_VAL_SIZE,
    Split,
    load_split,
    load_test,
    load_train_full,
    searched_split,
    subsample,
)
from automl_fashion.data.files import FILES, DataSource, locate
from automl_fashion.data.idx import IdxError, parse_idx
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo

__all__ = [
    "CLASSES",
    "DEFAULT_VAL_SIZE",
    "FASHION_MNIST",
    "FILES",
    "DataSource",
    "DatasetInfo",
    "IdxError",
    "Split",
    "load_split",
    "load_test",
    "load_train_full",
    "locate",
    "parse_idx",
    "searched_split",
    "subsample",
]
