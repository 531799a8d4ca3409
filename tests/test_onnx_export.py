"""Native weights: a failed write is an OSError whatever the library, so export can say it
in one line and leave the earlier export whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from xgboost.core import XGBoostError

from automl_fashion.onnx_export import save_native


class _FullDisk:
    name = "boosting"

    def save_native(self, directory: Path) -> Path:
        raise XGBoostError("[12:00:00] dmlc-core: write failed: No space left on device\nStack")


class _Bug:
    name = "boosting"

    def save_native(self, directory: Path) -> Path:
        raise KeyError("a bug, not a write error")


def test_an_xgboost_write_error_becomes_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"cannot write the native model .*No space left on device"):
        save_native(_FullDisk(), tmp_path)  # type: ignore[arg-type]


def test_other_errors_of_a_family_saver_are_not_hidden(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        save_native(_Bug(), tmp_path)  # type: ignore[arg-type]
