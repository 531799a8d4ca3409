"""What ``automl-fashion data verify`` reports: where the files are, digests, counts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from automl_fashion.data.dataset import load_split, load_test
from automl_fashion.data.files import FILES, digest_problem, locate, read_bytes
from automl_fashion.errors import DataError


@dataclass
class FileCheck:
    name: str
    path: str
    ok: bool
    problem: str | None


@dataclass
class DataReport:
    directory: str
    origin: str
    files: list[FileCheck]
    class_counts: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)


def verify(
    data_dir: str | os.PathLike[str] | None = None, *, val_size: int = 10_000, seed: int = 0
) -> DataReport:
    """Check the four files byte for byte and count images per class in each split."""
    source = locate(data_dir)
    checks = []
    for key, spec in FILES.items():
        path = source.path(key)
        try:
            problem = digest_problem(read_bytes(path), spec)
        except DataError as exc:
            problem = str(exc)
        checks.append(FileCheck(spec.name, str(path), problem is None, problem))
    report = DataReport(str(source.directory), source.origin, checks)
    if report.ok:
        split = load_split(val_size=val_size, seed=seed, data_dir=data_dir)
        _, y_test = load_test(data_dir)
        for name, y in (("train", split.y_train), ("val", split.y_val), ("test", y_test)):
            report.class_counts[name] = np.bincount(y, minlength=10).tolist()
    return report
