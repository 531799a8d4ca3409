"""Calibrated probabilities: temperature scaling, measured by the expected calibration error.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
divides the log-probabilities by one number T fitted on held-out images (T > 1 softens an
over-confident model, T < 1 sharpens an under-confident one) and takes the softmax again:
the predicted class never changes, only how sure the model says it is. The exported graph
carries it (``onnx_export.calibrate``); the model card gives the expected calibration error
(``ECE_BINS`` equal-width confidence bins) before and after, and draws the reliability
diagram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Confidence bins of the expected calibration error (Guo et al. use 15).
ECE_BINS = 15
#: Probabilities are floored here before their logarithm (in the graph too).
EPS = 1e-7
#: The reliability diagram in an exported folder.
RELIABILITY = "reliability.png"
#: T is searched in [1 / BETA_MAX, 1 / BETA_MIN].
BETA_MIN, BETA_MAX = 0.01, 20.0


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and where it was fitted."""

    temperature: float
    #: e.g. "10000 validation images (the split the models were selected on)"
    fitted_on: str
    val_ece_before: float
    val_ece_after: float


def _log(proba: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(proba, dtype=np.float64) + EPS)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p + EPS) / T): what the exported graph computes."""
    z = _log(proba) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(log_p: np.ndarray, y: np.ndarray, beta: float) -> float:
    z = beta * log_p
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The T that minimises the negative log-likelihood of ``y`` under
    ``apply_temperature(proba, T)``. The loss is convex in 1 / T: SciPy's bounded scalar
    minimiser (Brent's method) on log(1 / T) finds the optimum."""
    from scipy.optimize import minimize_scalar

    log_p, y = _log(proba), np.asarray(y, dtype=np.int64)
    found = minimize_scalar(
        lambda log_beta: _nll(log_p, y, math.exp(log_beta)),
        bounds=(math.log(BETA_MIN), math.log(BETA_MAX)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return 1.0 / math.exp(float(found.x))


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by the
    share of images in the bin (Naeini et al. 2015; Guo et al. 2017)."""
    confidence, accuracy, counts = reliability(proba, y, bins)
    return float(np.sum(counts * np.abs(accuracy - confidence)) / max(1, counts.sum()))


def reliability(
    proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: mean confidence, accuracy and number of images (0 where empty)."""
    proba = np.asarray(proba, dtype=np.float64)
    confidence = proba.max(axis=1)
    hit = (proba.argmax(axis=1) == np.asarray(y)).astype(np.float64)
    # bins (k/B, (k+1)/B], the first one closed at 0
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(np.float64)
    safe = np.maximum(counts, 1)
    mean_conf = np.bincount(which, confidence, minlength=bins) / safe
    mean_acc = np.bincount(which, hit, minlength=bins) / safe
    return mean_conf, mean_acc, counts


def calibrate_on(proba_val: np.ndarray, y_val: np.ndarray, what: str) -> Calibration:
    """Fit T on held-out probabilities and say how much it helps there."""
    temperature = fit_temperature(proba_val, y_val)
    return Calibration(
        temperature=temperature,
        fitted_on=f"{len(y_val)} {what}",
        val_ece_before=expected_calibration_error(proba_val, y_val),
        val_ece_after=expected_calibration_error(apply_temperature(proba_val, temperature), y_val),
    )


def cross_fitted_ece(proba: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(ECE as it is, ECE after temperature scaling) of validation probabilities, the
    temperature fitted on one half and measured on the other, both ways round: what a
    leaderboard can show per trial without flattering it."""
    proba, y = np.asarray(proba), np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    after = np.zeros(proba.shape)
    for fit, score in (halves, halves[::-1]):
        after[score] = apply_temperature(proba[score], fit_temperature(proba[fit], y[fit]))
    return expected_calibration_error(proba, y), expected_calibration_error(after, y)


def uncalibrated(proba_after: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before temperature scaling, from the ones after it: softmax(T *
    log p_after) is (p + EPS) normalised, so the graph need not run twice."""
    with np.errstate(divide="ignore"):
        z = temperature * np.log(np.asarray(proba_after, dtype=np.float64))
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reliability_png(
    before: np.ndarray, after: np.ndarray | None, y: np.ndarray, path: Path
) -> None:
    """The reliability diagram: accuracy against confidence per bin, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    curves = [("before", before)] + (
        [("after temperature scaling", after)] if after is not None else []
    )
    for label, proba in curves:
        conf, acc, counts = reliability(proba, y)
        seen = counts > 0
        ece = expected_calibration_error(proba, y)
        ax.plot(conf[seen], acc[seen], marker="o", label=f"{label} (ECE {ece:.2%})")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability on the test set ({ECE_BINS} bins)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
