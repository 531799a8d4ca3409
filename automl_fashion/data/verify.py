"""What ``automl-fashion data verify`` reports: where the data is, digests, counts per class."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from automl_fashion.data.dataset import load_split, load_test
from automl_fashion.data.files import file_problem, locate
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.data.spec import Dataset, DatasetSpec


@dataclass
class FileCheck:
    name: str
    path: str
    ok: bool
    problem: str | None


@dataclass
class DataReport:
    """Where the data is, each file's check (IDX sets), and images per class (in the order
    of ``info.classes``) of the train, val and test parts."""

    directory: str
    origin: str  # IDX: "argument", "environment", "cache", "system", "downloaded";
    # a folder: "read" or "cache" (its arrays were cached)
    files: list[FileCheck]
    class_counts: dict[str, list[int]] = field(default_factory=dict)
    info: DatasetInfo = FASHION_MNIST
    ignored: int = 0  # a folder's files that are not pictures

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def test(self) -> str:
        """Where the test part is: "official", "folder" or "held out 20%, seed S"."""
        return self.info.test


def verify(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    dataset: DatasetSpec | None = None,
    val_size: int | None = None,
    seed: int = 0,
) -> DataReport:
    """Check a data set and count its images per class in each part.

    A built-in set (``dataset`` None: Fashion-MNIST): its four files byte for byte
    (``data_dir`` is ``--data-dir``), then the counts if they are all right. A folder
    (``DatasetSpec(folder=...)``): every check of the folder loader (a problem is a
    :class:`DataError`), then the counts, with what was held out as the test part.
    ``val_size`` defaults to :func:`~automl_fashion.data.dataset.default_val_size`.
    """
    from automl_fashion.data import sets
    from automl_fashion.data.folder import FolderDataset

    spec = (dataset or DatasetSpec()).validated()
    opened: Dataset
    if spec.folder is not None:
        opened = sets.open_dataset(spec)
        assert isinstance(opened, FolderDataset)
        report = DataReport(
            str(opened.scan.root),
            "cache" if opened.from_cache else "read",
            [],
            info=opened.info,
            ignored=opened.scan.ignored,
        )
    else:
        entry = sets.builtin(spec.name)
        source = locate(data_dir, dataset=entry)
        checks = []
        for file in entry.files:
            path = source.path(file.key)
            problem = file_problem(path, file)
            checks.append(FileCheck(file.digest_name, str(path), problem is None, problem))
        report = DataReport(str(source.directory), source.origin, checks, info=entry.info)
        if not report.ok:
            return report
        opened = sets.IdxDataset(entry, data_dir)
    split = load_split(val_size=val_size, seed=seed, dataset=opened)
    _, y_test = load_test(dataset=opened)
    n = report.info.n_classes
    for part, y in (("train", split.y_train), ("val", split.y_val), ("test", y_test)):
        report.class_counts[part] = np.bincount(y, minlength=n).tolist()
    return report
