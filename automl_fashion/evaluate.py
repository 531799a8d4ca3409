"""Recompute an exported model's test accuracy and calibration error from ``model.onnx``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from automl_fashion.data import load_test
from automl_fashion.leaderboard import wilson_interval
from automl_fashion.model import load_model


def evaluate(directory: str | os.PathLike[str], data_dir: str | None = None) -> dict[str, Any]:
    """Test accuracy (with its 95% interval) and expected calibration error of the ONNX
    model, and the card's claims."""
    from automl_fashion.export.calibration import ECE_BINS, expected_calibration_error

    model = load_model(directory)
    X, y = load_test(data_dir)
    proba = model.predict_proba(X.astype(np.float32))
    pred = proba.argmax(axis=1)
    acc = float(np.mean(pred == y))
    calibration = model.card.get("calibration")
    claimed = calibration.get("test_ece_after") if isinstance(calibration, dict) else None
    lo, hi = wilson_interval(acc, len(y))
    return {
        "test_accuracy": acc,
        "test_accuracy_95ci": [lo, hi],
        "card_test_accuracy": model.card.get("test_accuracy"),
        "test_ece": expected_calibration_error(proba, y),
        "ece_bins": ECE_BINS,
        "card_test_ece": claimed if isinstance(claimed, int | float) else None,
        "family": model.card.get("family"),
        "images": len(y),
    }
