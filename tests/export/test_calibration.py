"""Temperature scaling and the expected calibration error (issue 15, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from automl_fashion.export import export_trial
from automl_fashion.export.calibration import (
    RELIABILITY,
    apply_temperature,
    cross_fitted_ece,
    expected_calibration_error,
    fit_temperature,
    uncalibrated,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def calibrated_world(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from the softmax of those logits: softmax(logits) is
    calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 10))
    logits[np.arange(n), rng.integers(0, 10, n)] += 2.0
    proba = _softmax(logits)
    y = (proba.cumsum(1) > rng.random((n, 1))).argmax(1)
    return logits, y


def test_temperature_scaling_fixes_an_over_confident_model_and_keeps_its_argmax() -> None:
    logits, y = calibrated_world()
    over = _softmax(3.0 * logits)  # three times too sure of itself
    fit, held = slice(0, 10_000), slice(10_000, None)
    temperature = fit_temperature(over[fit], y[fit])
    assert temperature == pytest.approx(3.0, rel=0.1)
    after = apply_temperature(over[held], temperature)
    before_ece = expected_calibration_error(over[held], y[held])
    after_ece = expected_calibration_error(after, y[held])
    assert before_ece > 0.1 and after_ece < before_ece / 4
    assert np.array_equal(after.argmax(1), over[held].argmax(1))


def test_cross_fitted_ece_shows_what_scaling_would_give_without_fitting_on_the_same_images() -> (
    None
):
    logits, y = calibrated_world(n=4000, seed=2)
    before, after = cross_fitted_ece(_softmax(0.3 * logits), y)  # under-confident
    assert before > 0.1 and after < before / 4


def test_a_calibrated_model_keeps_a_temperature_near_one() -> None:
    logits, y = calibrated_world(seed=1)
    assert fit_temperature(_softmax(logits), y) == pytest.approx(1.0, abs=0.1)


def test_the_ece_of_known_bins() -> None:
    # all at confidence 0.9: 80% right -> 0.1 off; all at 0.5 and half right -> 0
    proba = np.full((10, 10), 0.1 / 9)
    proba[:, 0] = 0.9
    y = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(proba, y) == pytest.approx(0.1)


def test_probabilities_before_scaling_are_recovered_from_those_after() -> None:
    logits, _ = calibrated_world(n=500)
    proba = _softmax(logits)
    np.testing.assert_allclose(uncalibrated(apply_temperature(proba, 2.0), 2.0), proba, atol=1e-5)


def test_an_export_fits_the_temperature_on_validation_and_draws_the_diagram(
    saved_study: optuna.Study, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    export_trial(saved_study, out, studies_dir=str(tmp_path))
    card = json.loads((out / "model_card.json").read_text())
    calibration = card["calibration"]
    assert calibration["method"] == "temperature scaling"
    assert calibration["temperature"] > 0 and "validation images" in calibration["fitted_on"]
    assert 0 <= calibration["test_ece_after"] <= 1 and 0 <= calibration["test_ece_before"] <= 1
    assert (out / RELIABILITY).stat().st_size > 1000 and RELIABILITY in card["written"]
    assert "temperature scaling" in (out / "MODEL_CARD.md").read_text()
