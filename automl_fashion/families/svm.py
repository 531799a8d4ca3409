"""SVM family: RBF support-vector classifier on PCA-reduced pixels and/or HOG features.

Kernel SVMs scale about quadratically with the number of training images, so the fidelity
is the training-set size: the rungs fit on nested, class-balanced subsets that double up to
``train_size`` (capped by the data), e.g. 6,250 / 12,500 / 25,000 / 50,000, and report the
validation accuracy of each. PCA keeps the kernel evaluations cheap: on the full split
(1 thread) HOG+pixels -> PCA(128) -> SVC(C=10) scores 92.3%; all four rungs take ~42 s.

``gamma`` is searched as a multiple of sklearn's ``"scale"`` heuristic, 1 / (d * Var(X)),
so that one range fits every feature set and PCA size.

Probabilities: ``SVC(probability=True)`` runs a 5-fold Platt calibration (about 5x the fit
time). Instead the one-vs-rest decision values (votes of the one-vs-one classifiers plus a
confidence term in (-1/3, 1/3)) go through a softmax. These are scores, not calibrated
probabilities; their argmax is the prediction. With two classes, where sklearn gives one
binary decision value, the scores are built the same way from its one pair, so that they
match the exported graph (``_deploy.RBFOneVsRest``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families._base import Family, Report, accuracy
from automl_fashion.families._features import featurize
from automl_fashion.threads import map_threads

if TYPE_CHECKING:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

#: Number of rungs (each double the previous size) and the smallest rung worth fitting.
RUNGS = 4
MIN_RUNG = 500
#: PCA (and the gamma heuristic) is fitted on at most this many training images.
PCA_FIT = 10_000
#: Predictions are split across threads in parts of at least this many rows.
PARALLEL_ROWS = 1_000


def rung_sizes(train_size: int, available: int) -> list[int]:
    """Doubling training-subset sizes ending at ``min(train_size, available)``."""
    final = min(train_size, available)
    sizes = [final >> k for k in range(RUNGS - 1, 0, -1) if final >> k >= MIN_RUNG]
    return [*sizes, final]


def balanced_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation whose every prefix keeps the class proportions of ``y``."""
    order = rng.permutation(len(y))
    rank = np.empty(len(y))
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return order[np.argsort(rank[order], kind="stable")]


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


class SVMFamily(Family):
    """Scaler (optional) + PCA + RBF SVC; rungs are training-subset sizes."""

    name = "svm"
    fidelity = "train_size"

    def _project(self, X: np.ndarray) -> np.ndarray:
        hog_cell = int(self.params.get("hog_cell", 4))
        F = featurize(X, self.params["features"], hog_cell=hog_cell, threads=self.threads)
        if self.scaler_ is not None:
            F = self.scaler_.transform(F)
        out: np.ndarray = self.pca_.transform(F)
        return out

    def _fit(self, data: Split, report: Report) -> None:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        p = self.params
        rng = np.random.default_rng(self.seed)
        sizes = rung_sizes(int(p["train_size"]), len(data.y_train))
        order = balanced_order(data.y_train, rng)[: sizes[-1]]
        # features of the whole training set, then the rows: HOG of it is cached per worker
        hog_cell = int(p.get("hog_cell", 4))
        X_raw = featurize(data.X_train, p["features"], hog_cell=hog_cell, threads=self.threads)
        X_raw = X_raw[order]
        y = data.y_train[order]
        sample = X_raw[:PCA_FIT]
        self.scaler_: StandardScaler | None = None
        if p["standardize"]:
            self.scaler_ = StandardScaler().fit(sample)
            sample = self.scaler_.transform(sample)
        n_comp = min(int(p["pca_components"]), *sample.shape)
        self.pca_: PCA = PCA(n_comp, svd_solver="randomized", random_state=self.seed).fit(sample)
        reduced = self.pca_.transform(sample)
        gamma = float(p["gamma_scale"]) / (reduced.shape[1] * float(reduced.var()))
        X = self.pca_.transform(X_raw if self.scaler_ is None else self.scaler_.transform(X_raw))
        del X_raw, sample, reduced
        X_val = self._project(data.X_val)
        for size in sizes:
            self.before_rung(growing=True)  # one SVC fit cannot be stopped once started
            self.model_: SVC = SVC(
                C=float(p["C"]),
                kernel="rbf",
                gamma=gamma,
                decision_function_shape="ovr",
                cache_size=500,
                random_state=self.seed,
            ).fit(X[:size], y[:size])
            report(size, accuracy(data.y_val, self._scores(X_val)))

    def _scores(self, Z: np.ndarray) -> np.ndarray:
        """One-vs-rest decision values in the columns of the data set's classes (-inf for a
        class the model never saw). Rows are split across the model's threads (libsvm
        releases the GIL: 10,000 images in 4.6 s on two threads here, 9.7 s on one)."""
        parts = np.array_split(Z, max(1, min(self.threads, len(Z) // PARALLEL_ROWS)))
        d = np.concatenate(map_threads(self.model_.decision_function, parts, self.threads))
        if d.ndim == 1:  # two classes: sklearn's value is > 0 for the second
            votes = (d >= 0).astype(np.float64)
            conf = np.stack([-d, d], 1)
            d = np.stack([1.0 - votes, votes], 1) + conf / (3.0 * (np.abs(conf) + 1.0))
        scores = np.full((len(Z), self.info.n_classes), -np.inf)
        scores[:, self.model_.classes_] = d
        return scores

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self._scores(self._project(X)))

    def deploy_module(self) -> object:
        import numpy as np
        from torch import nn

        from automl_fashion.families._deploy import (
            Affine,
            Features,
            RBFOneVsRest,
            Softmax,
            Standardize,
        )

        layers: list[nn.Module] = [
            Features(self.params["features"], int(self.params.get("hog_cell", 4)), self.info.shape)
        ]
        if self.scaler_ is not None:
            layers.append(Standardize(self.scaler_.mean_, self.scaler_.scale_))
        components = self.pca_.components_
        layers += [
            Affine(components, -np.asarray(self.pca_.mean_) @ components.T),
            RBFOneVsRest(self.model_, self.info.n_classes),
            Softmax(),
        ]
        return nn.Sequential(*layers).eval()
