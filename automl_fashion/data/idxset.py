"""What describes an MNIST-format data set: four IDX files at an official location.

A built-in data set is one :class:`IdxSet` entry in :mod:`automl_fashion.data.builtin`;
locating, downloading, verifying, parsing and caching are the same code for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automl_fashion.data.info import DatasetInfo

#: The keys of the four files every IDX set has.
KEYS = ("train-images", "train-labels", "test-images", "test-labels")


@dataclass(frozen=True)
class FileSpec:
    """One official file: its name, decompressed size, SHA-256 and array shape.

    ``sha256`` is the digest of the decompressed bytes (the same however a mirror
    compressed them), unless ``gz_size`` is set: then only the digest of the official
    ``.gz`` file is published, ``sha256`` is that digest, and the decompressed bytes are
    checked by their size.
    """

    key: str
    name: str
    size: int
    sha256: str
    shape: tuple[int, ...]
    gz_size: int | None = None

    @property
    def digest_name(self) -> str:
        """The file the digest is of: ``name``, or ``name.gz``."""
        return f"{self.name}.gz" if self.gz_size is not None else self.name


@dataclass(frozen=True)
class IdxSet:
    """A built-in data set: its description, official location and files."""

    name: str  # what --dataset takes
    title: str  # how messages name it
    classes: tuple[str, ...]
    mean: float  # of the training pixels, on the 0..1 scale
    std: float
    flips: bool  # whether a horizontal flip keeps the label
    url: str  # official base URL: the files are ``url + name + ".gz"``
    files: tuple[FileSpec, ...]  # one per KEYS entry, in that order
    raw_dir: str  # downloads go to cache_dir() / raw_dir
    #: Fashion-MNIST only, as it always was: an environment variable naming a folder of
    #: the files, one naming a mirror, and a system folder (Debian's package)
    data_env: str | None = None
    mirror_env: str | None = None
    system_dir: Path | None = None
    hint: str = ""  # what to do when the files cannot be found or downloaded

    def file(self, key: str) -> FileSpec:
        for spec in self.files:
            if spec.key == key:
                return spec
        raise KeyError(key)

    @property
    def info(self) -> DatasetInfo:
        height, width = self.file("train-images").shape[1:]
        return DatasetInfo(
            name=self.name,
            classes=self.classes,
            shape=(1, height, width),
            mean=(self.mean,),
            std=(self.std,),
            source=self.url,
            digests={spec.digest_name: spec.sha256 for spec in self.files},
            flips=self.flips,
            reading="fashion-mnist",
            test="official",
        )

    @property
    def help(self) -> str:
        return self.hint or (
            f"go online, or pass --data-dir DIR holding the four official {self.title} "
            f".gz files from {self.url}"
        )
