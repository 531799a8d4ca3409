"""The ending every export shares: run the folder's graph once on the data set's test
images, write the model card with what was measured, and sum it up (``ExportResult``).

With ``evaluate``, the only place that reads test images (``ExportData.dataset.test()``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.artifacts import ONNX_FILE
from automl_fashion.data.info import DatasetInfo
from automl_fashion.data.spec import Dataset, DatasetSpec
from automl_fashion.errors import ConfigError
from automl_fashion.export import limits as lf
from automl_fashion.export.calibration import Calibration
from automl_fashion.export.card import write_card

#: How an export measures agreement of the graph with the native model: a number already
#: measured, or a function of the test images and the graph's probabilities.
Parity = float | Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class ExportData:
    """The data set an export measures on: as the user named it (the card records it, so
    that ``evaluate`` opens it again) and opened."""

    spec: DatasetSpec
    dataset: Dataset

    @classmethod
    def open(cls, spec: DatasetSpec | None = None, data_dir: str | None = None) -> ExportData:
        spec = spec or DatasetSpec()
        return cls(spec, spec.open(data_dir))

    @property
    def info(self) -> DatasetInfo:
        return self.dataset.info

    def check(self, info: DatasetInfo, what: str) -> None:
        """Refuse to measure a model of another data set on this one."""
        if not info.same_data(self.info):
            raise ConfigError(
                f"{what} was trained on {info.name} ({info.n_classes} classes, "
                f"{' x '.join(map(str, info.shape))}); it cannot be tested on "
                f"{self.spec.label} ({self.info.name}); pass the data set it was trained on"
            )


@dataclass
class ExportResult:
    directory: Path
    trial: int
    family: str
    val_accuracy: float | None
    test_accuracy: float
    test_interval: tuple[float, float]
    parity: float
    export_seconds: float
    fit_seconds: float
    #: what the export had to work around (a corrupt saved model, parameters rebuilt)
    notes: tuple[str, ...] = ()


def measure(
    directory: Path,
    data: ExportData,
    threads: int | None,
    parity: Parity,
    parity_on: str,
    *,
    calibration: Calibration | None,
    limits: dict[str, Any] | None,
    unloadable: Callable[[Exception], Exception] | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """Run the folder's graph once on the data set's test images, and write the card."""
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    graph = directory / ONNX_FILE
    X_test, y_test = data.dataset.test()
    try:
        session = onnx_session(graph, threads)
    except Exception as exc:  # onnxruntime raises its own exception types
        if unloadable is None:
            raise
        raise unloadable(exc) from None
    t0 = time.perf_counter()
    proba = onnx_predict_proba(session, np.asarray(X_test, dtype=np.float32))
    onnx_seconds = time.perf_counter() - t0
    agreement = parity(X_test, proba) if callable(parity) else parity
    return write_card(
        directory,
        proba,
        y_test,
        onnx_seconds,
        agreement,
        parity_on,
        calibration=calibration,
        limits=measured(limits, graph),
        info=data.info,
        spec=data.spec,
        **facts,
    )


def measured(limits: dict[str, Any] | None, graph: Path) -> dict[str, Any] | None:
    """The limit facts with the exported graph's own cost, measured."""
    if limits is None:
        return None
    cost = lf.measure(graph.read_bytes())
    return {**limits, "predict_ms_per_1000": cost.predict_ms, "size_mb": cost.size_mb}


def result(
    out: str | os.PathLike[str], card: dict[str, Any], notes: list[str] | tuple[str, ...]
) -> ExportResult:
    lo, hi = card["test_accuracy_95ci"]
    return ExportResult(
        Path(out),
        card["trial"],
        card["family"],
        card["validation_accuracy"],
        card["test_accuracy"],
        (lo, hi),
        card["onnx_native_agreement"],
        card["export_seconds"],
        card["fit_seconds"],
        tuple(notes),
    )


__all__ = ["ExportData", "ExportResult", "Parity", "measure", "measured", "result"]
