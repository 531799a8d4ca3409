"""The registry of data sets: built-in names, and opening a :class:`DatasetSpec`.

Built-in sets are the :class:`~automl_fashion.data.idxset.IdxSet` entries of
:mod:`automl_fashion.data.builtin`; ``--data DIR`` opens a folder of pictures
(:mod:`automl_fashion.data.folder`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from automl_fashion.data.builtin import BUILT_IN
from automl_fashion.data.idxset import IdxSet
from automl_fashion.data.info import DatasetInfo
from automl_fashion.data.spec import Dataset, DatasetSpec
from automl_fashion.errors import ConfigError


def names() -> list[str]:
    """The built-in data sets ``--dataset`` accepts (the default first)."""
    return list(BUILT_IN)


def builtin(name: str) -> IdxSet:
    """The registry entry of a built-in data set."""
    try:
        return BUILT_IN[name]
    except KeyError:
        raise ConfigError(
            f"--dataset: {name[:60]!r} is not a built-in data set; expected one of {names()}"
        ) from None


@dataclass
class IdxDataset:
    """A built-in MNIST-format data set: located (downloaded if need be) and verified when
    its arrays are first asked for, then served from the array cache."""

    entry: IdxSet
    data_dir: str | os.PathLike[str] | None = None
    info: DatasetInfo = field(init=False)

    def __post_init__(self) -> None:
        self.info = self.entry.info

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        from automl_fashion.data.dataset import load_idx

        return load_idx(self.entry, "train", self.data_dir)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        from automl_fashion.data.dataset import load_idx

        return load_idx(self.entry, "test", self.data_dir)


def open_dataset(
    spec: DatasetSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    expect: DatasetInfo | None = None,
) -> Dataset:
    """The data set ``spec`` names, ready to read. ``data_dir`` (``--data-dir``) is where a
    built-in set's files are; a folder of pictures is read (or taken from its cache) here,
    after its listing is compared with ``expect`` (what a study or model card recorded)."""
    spec = spec.validated()
    if spec.folder is not None:
        from automl_fashion.data.folder import open_folder

        return open_folder(
            spec.folder,
            size=spec.image_size or 28,
            color=spec.color or "gray",
            seed=spec.seed,
            expect=expect,
        )
    return IdxDataset(builtin(spec.name), data_dir)
