"""Which data set a study searched (data/spec.py): read back from a study or a model card,
untrusted."""

from __future__ import annotations

import pytest

from automl_fashion.data.spec import DatasetSpec
from automl_fashion.errors import DataError


@pytest.mark.parametrize(
    "folder",
    [
        "/a\0b",  # Path.resolve raised ValueError (a traceback) on resume
        "/x\n\x1b[2K\rautoml-fashion: test accuracy 99.9%",  # rewrote the terminal
        "/caf\udce9",
        "relative/shop",  # recorded absolute; never resolved against the reader's folder
        "../..",
    ],
)
def test_a_recorded_folder_must_be_an_absolute_path_without_control_characters(
    folder: str,
) -> None:
    with pytest.raises(DataError, match=r"'folder' is .*; expected an absolute path") as caught:
        DatasetSpec.from_dict({"folder": folder, "image_size": 28, "color": "gray"})
    assert "\n" not in str(caught.value) and "\0" not in str(caught.value)


def test_a_name_with_control_characters_is_refused() -> None:
    with pytest.raises(DataError, match=r"'name' is 'fashion-mnist\\n'"):
        DatasetSpec.from_dict({"name": "fashion-mnist\n"})


def test_a_recorded_folder_reads_back() -> None:
    raw = {"folder": "/data/my shop", "image_size": 32, "color": "rgb", "seed": 3}
    assert DatasetSpec.from_dict(raw).as_dict() == {"name": "fashion-mnist", **raw}
