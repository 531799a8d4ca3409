"""Which data set a search runs on, as the user asked for it: :class:`DatasetSpec`.

A spec is what the CLI flags say (``--dataset NAME`` or ``--data DIR``, ``--image-size``,
``--color``). It is small and JSON-ready, so it travels to worker processes and is stored
on the study (``dataset_spec`` user attr), and export, evaluate and resume reopen the same
data from it. :meth:`DatasetSpec.open` turns it into a :class:`Dataset`, whose ``info``
(:class:`DatasetInfo`) describes the data itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from automl_fashion.data.info import unprintable
from automl_fashion.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np

    from automl_fashion.data.info import DatasetInfo

DEFAULT_DATASET = "fashion-mnist"
COLORS = ("gray", "rgb")
#: The study user attr holding ``DatasetSpec.as_dict()``, and the one holding the info.
SPEC_ATTR = "dataset_spec"
INFO_ATTR = "dataset"


class Dataset(Protocol):
    """An opened data set: its description and its arrays (uint8, N x ``info.array_shape``;
    labels int64 in 0..n_classes-1)."""

    info: DatasetInfo

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """Every image the search may use (it splits off its validation part itself)."""
        ...

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The test images. Model selection never calls this: export and evaluate do."""
        ...


@dataclass(frozen=True)
class DatasetSpec:
    """``--dataset NAME`` (a built-in set) or ``--data DIR`` (a folder of pictures)."""

    name: str = DEFAULT_DATASET
    folder: str | None = None  # --data DIR; then ``name`` is ignored
    image_size: int | None = None  # --image-size (folders; default 28)
    color: str | None = None  # --color gray|rgb (folders; default gray)
    seed: int = 0  # the held-out test part of a folder without test/

    def validated(self) -> DatasetSpec:
        """Check the flags; raise ConfigError naming the flag, the value and the rule."""
        from automl_fashion.data import sets

        if self.folder is None:
            if self.name not in sets.names():
                raise ConfigError(
                    f"--dataset: {self.name[:60]!r} is not a built-in data set; expected one "
                    f"of {sets.names()} (or --data DIR for a folder of pictures)"
                )
            for flag, value in (("--image-size", self.image_size), ("--color", self.color)):
                if value is not None:
                    raise ConfigError(
                        f"{flag} {value}: only for a folder of pictures (--data DIR); "
                        f"--dataset {self.name} has a fixed shape"
                    )
            return self
        if self.name != DEFAULT_DATASET:
            raise ConfigError(
                f"--dataset {self.name} and --data {self.folder}: give one of them, not both"
            )
        if self.image_size is not None and (
            isinstance(self.image_size, bool)
            or not isinstance(self.image_size, int)
            or not 8 <= self.image_size <= 256
        ):
            raise ConfigError(f"--image-size: {self.image_size!r}; expected an integer 8 to 256")
        if self.color is not None and self.color not in COLORS:
            raise ConfigError(f"--color: {self.color!r}; expected one of {list(COLORS)}")
        return self

    def open(
        self, data_dir: str | os.PathLike[str] | None = None, *, expect: DatasetInfo | None = None
    ) -> Dataset:
        """The data set, located (downloaded if need be), verified and described. With
        ``expect`` (recorded, untrusted), a folder whose files or classes differ from it is
        refused before any picture is decoded."""
        from automl_fashion.data import sets

        return sets.open_dataset(self, data_dir=data_dir, expect=expect)

    @property
    def label(self) -> str:
        """How the data set is named in messages: its name, or the folder."""
        return f"folder {self.folder}" if self.folder is not None else self.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": self.folder,
            "image_size": self.image_size,
            "color": self.color,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "the study's data set") -> DatasetSpec:
        """Checked: read back from a study (untrusted)."""
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a JSON object; got {type(raw).__name__}")
        name, folder = raw.get("name", DEFAULT_DATASET), raw.get("folder")
        size, color, seed = raw.get("image_size"), raw.get("color"), raw.get("seed", 0)
        if not isinstance(name, str) or not 0 < len(name) <= 100 or unprintable(name):
            raise DataError(f"{where}: 'name' is {name!r:.60}; expected a data set name")
        if folder is not None and (
            not isinstance(folder, str)
            or not 0 < len(folder) <= 4096
            or unprintable(folder)  # NUL breaks paths; newlines and escapes, the terminal
            or not os.path.isabs(folder)  # recorded absolute: never relative to the reader
        ):
            raise DataError(
                f"{where}: 'folder' is {folder!r:.60}; expected an absolute path without "
                "control characters"
            )
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise DataError(f"{where}: 'image_size' is {size!r:.60}; expected an integer")
        if color is not None and color not in COLORS:
            raise DataError(f"{where}: 'color' is {color!r:.60}; expected one of {list(COLORS)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise DataError(f"{where}: 'seed' is {seed!r:.60}; expected an integer")
        spec = cls(name=name, folder=folder, image_size=size, color=color, seed=seed)
        try:
            return spec.validated()
        except ConfigError as exc:
            raise DataError(f"{where}: {exc}") from None


def study_spec(study: Any) -> DatasetSpec:
    """The data set a study was searched on (``SPEC_ATTR``, untrusted). Studies from before
    data sets were recorded searched Fashion-MNIST."""
    raw = study.user_attrs.get(SPEC_ATTR)
    if raw is None:
        return DatasetSpec()
    return DatasetSpec.from_dict(raw, where=f"study '{study.study_name}': its data set")


def study_info(study: Any) -> DatasetInfo:
    """The description of the data a study was searched on (``INFO_ATTR``, untrusted);
    Fashion-MNIST's for studies from before data sets were recorded. For class names and
    shapes in tables and reports: nothing needs to be opened or read."""
    from automl_fashion.data.info import FASHION_MNIST, DatasetInfo

    raw = study.user_attrs.get(INFO_ATTR)
    if raw is None:
        return FASHION_MNIST
    return DatasetInfo.from_dict(raw, where=f"study '{study.study_name}': its data set")
