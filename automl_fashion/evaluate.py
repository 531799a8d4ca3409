"""Recompute an exported model's test accuracy from ``model.onnx`` alone."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from automl_fashion.data import load_test
from automl_fashion.leaderboard import wilson_interval
from automl_fashion.model import load_model


def evaluate(directory: str | os.PathLike[str], data_dir: str | None = None) -> dict[str, Any]:
    """Test accuracy (with its 95% interval) of the ONNX model, and the card's claim."""
    model = load_model(directory)
    X, y = load_test(data_dir)
    pred = model.predict(X.astype(np.float32))
    acc = float(np.mean(pred == y))
    lo, hi = wilson_interval(acc, len(y))
    return {
        "test_accuracy": acc,
        "test_accuracy_95ci": [lo, hi],
        "card_test_accuracy": model.card.get("test_accuracy"),
        "family": model.card.get("family"),
        "images": len(y),
    }
