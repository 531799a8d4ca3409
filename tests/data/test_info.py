"""The data set description read back from studies, model cards and ONNX metadata
(data/info.py): untrusted, so every field is checked, and a bad one is a DataError."""

from __future__ import annotations

import pytest

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.errors import DataError


def tampered(**changes: object) -> dict:
    return {**FASHION_MNIST.as_dict(), **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mean": [10**400]}, "mean"),  # math.isfinite(10**400) raises OverflowError
        ({"std": [-(10**400)]}, "std"),
        ({"mean": [float("nan")]}, "mean"),
        ({"std": [float("inf")]}, "std"),
        ({"classes": ["a\nb", *FASHION_MNIST.classes[1:]]}, "classes"),
        ({"classes": ["a\x1b[2Kb", *FASHION_MNIST.classes[1:]]}, "classes"),
        ({"classes": ["caf\udce9", *FASHION_MNIST.classes[1:]]}, "classes"),
        ({"source": "x" * 4097}, "source"),
    ],
)
def test_a_bad_field_is_a_one_line_data_error(changes: dict, field: str) -> None:
    with pytest.raises(DataError, match=rf"^dataset: '{field}' is ") as caught:
        DatasetInfo.from_dict(tampered(**changes))
    assert "\n" not in str(caught.value)


def test_a_folder_at_a_long_path_reads_back() -> None:
    """A folder data set's source is its absolute path, which may be up to PATH_MAX long:
    what a search records, the reader accepts."""
    info = DatasetInfo.from_dict(tampered(name="folder:shop", source="/" + "d/" * 1500))
    assert len(info.source) == 3001


def test_underscores_are_allowed_in_names() -> None:
    assert DatasetInfo.from_dict(tampered(name="folder:my_shop")).name == "folder:my_shop"
