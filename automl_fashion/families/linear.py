"""Linear family: logistic regression trained by SGD on standardized pixels and/or HOG.

One rung is one epoch of ``SGDClassifier.partial_fit`` (one-vs-rest, one binary problem per
class, run on ``threads`` joblib threads). SGD was measured against lbfgs
``LogisticRegression`` with ``warm_start``: on the full split (1 thread) averaged SGD on
HOG+pixels reaches ~90.0% validation accuracy in 3 epochs (~2 s each), while lbfgs needs ~40 s
for 89.5% on HOG alone, and restarting lbfgs at every rung loses its curvature history.

Probabilities are a softmax over the one-vs-rest logits (one per class of the data set):
scores whose argmax is the prediction, not calibrated probabilities (sklearn's normalized
sigmoids tie at 1.0 for confident classes, see ``_predict_proba``). With two classes
sklearn fits one binary model; its logit ``d`` becomes the pair ``(0, d)``, whose softmax
is the logistic probability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families._base import Family, Report, TrainingDiverged, accuracy
from automl_fashion.families._features import featurize

if TYPE_CHECKING:
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler


class LinearFamily(Family):
    """SGD linear classifier; rungs are epochs (``epochs`` parameter)."""

    name = "linear"
    fidelity = "epochs"

    def _raw(self, X: np.ndarray) -> np.ndarray:
        hog_cell = int(self.params.get("hog_cell", 4))
        return featurize(X, self.params["features"], hog_cell=hog_cell, threads=self.threads)

    def _features(self, X: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.scaler_.transform(self._raw(X))
        return out

    def _fit(self, data: Split, report: Report) -> None:
        from sklearn.linear_model import SGDClassifier
        from sklearn.preprocessing import StandardScaler

        p = self.params
        self.scaler_: StandardScaler = StandardScaler()
        X = self.scaler_.fit_transform(self._raw(data.X_train))
        X_val = self._features(data.X_val)
        # A RandomState instance (not an int) so that each partial_fit call, which shuffles
        # the data in place of a copy, draws a new order: seeded once, different per epoch.
        self.model_: SGDClassifier = SGDClassifier(
            loss="log_loss",
            alpha=float(p["alpha"]),
            learning_rate=p["learning_rate"],
            eta0=float(p.get("eta0", 0.01)),
            average=bool(p["average"]),
            shuffle=True,
            n_jobs=self.threads,
            random_state=np.random.RandomState(self.seed),
        )
        classes = np.arange(self.info.n_classes)
        for epoch in range(1, int(p["epochs"]) + 1):
            self.before_rung()
            try:
                self.model_.partial_fit(X, data.y_train, classes=classes)
            except ValueError as exc:  # sklearn's "Floating-point under-/overflow occurred"
                if "overflow" not in str(exc):
                    raise
                raise TrainingDiverged(f"linear: SGD overflowed at epoch {epoch}") from exc
            self._check_finite(epoch)
            report(epoch, accuracy(data.y_val, self._logits(X_val)))

    def _check_finite(self, epoch: int) -> None:
        coef, bias = self.model_.coef_, self.model_.intercept_
        if not (np.isfinite(coef).all() and np.isfinite(bias).all()):
            raise TrainingDiverged(
                f"linear: weights became NaN/inf at epoch {epoch} "
                f"(learning_rate={self.params['learning_rate']!r}, "
                f"eta0={self.params.get('eta0')}, alpha={self.params['alpha']})"
            )

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(coef, intercept)`` with one row per class (two for a binary model)."""
        coef, bias = self.model_.coef_, self.model_.intercept_
        if len(coef) == 1:
            coef, bias = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, bias]
        return coef, bias

    def _logits(self, F: np.ndarray) -> np.ndarray:
        d = np.asarray(self.model_.decision_function(F), dtype=np.float64)
        return np.stack([np.zeros_like(d), d], 1) if d.ndim == 1 else d

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        # Softmax of the one-vs-rest logits, not sklearn's normalized sigmoids: once two
        # classes have logits above ~17 (float32) or ~37 (float64) their sigmoids both round
        # to 1.0 and the argmax falls to the lower class (measured: 87.2% instead of 90.2%).
        d = self._logits(self._features(X))
        e = np.exp(d - d.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    def deploy_module(self) -> object:
        from torch import nn

        from automl_fashion.families._deploy import Affine, Features, Softmax, Standardize

        return nn.Sequential(
            Features(self.params["features"], int(self.params.get("hog_cell", 4)), self.info.shape),
            Standardize(self.scaler_.mean_, self.scaler_.scale_),
            Affine(*self._weights()),
            Softmax(),
        ).eval()
