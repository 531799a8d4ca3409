"""Recompute an exported model's test accuracy and calibration error from ``model.onnx``,
on the test images of the data set the model was trained on (its card's ``dataset_spec``;
Fashion-MNIST for cards from before data sets were recorded), read once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data.spec import DatasetSpec
from automl_fashion.errors import DataError
from automl_fashion.leaderboard import wilson_interval
from automl_fashion.model import ModelError, load_model, printable


def card_spec(card: dict[str, Any], path: Path) -> DatasetSpec:
    """The data set a card's model was searched on, as the user named it (checked)."""
    raw = card.get("dataset_spec")
    if raw is None:
        if card.get("dataset") is not None:
            raise ModelError(
                f"{path}: field 'dataset_spec' is missing; expected the data set the model "
                "was searched on (the card has a 'dataset' without it)"
            )
        return DatasetSpec()
    try:
        return DatasetSpec.from_dict(raw, where=f"{path}: field 'dataset_spec'")
    except DataError as exc:
        raise ModelError(printable(str(exc))) from None


def evaluate(directory: str | os.PathLike[str], data_dir: str | None = None) -> dict[str, Any]:
    """Test accuracy (with its 95% interval) and expected calibration error of the ONNX
    model on its data set's test images, and the card's claims."""
    from automl_fashion.export.calibration import ECE_BINS, expected_calibration_error

    model = load_model(directory)
    card_path = Path(directory) / "model_card.json"
    dataset = card_spec(model.card, card_path).open(data_dir, expect=model.info)
    if not dataset.info.same_data(model.info):
        raise ModelError(
            f"{card_path}: the model was trained on {printable(model.info.name)} "
            f"({model.info.n_classes} classes, {' x '.join(map(str, model.info.shape))}), but "
            f"its data set now opens as {printable(dataset.info.name)} "
            f"({dataset.info.n_classes} classes, {' x '.join(map(str, dataset.info.shape))}, "
            "or other files); expected the same data"
        )
    X, y = dataset.test()
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
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
        "dataset": model.info.name,
        "images": len(y),
    }
