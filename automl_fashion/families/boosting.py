"""Boosting family: XGBoost ``hist`` trees (multi:softprob) on pixels and/or HOG features.

One rung is ``REPORT_EVERY`` boosting rounds. Early stopping on the validation log-loss ends
training when it has not improved for ``early_stopping_rounds`` rounds, and the booster is cut
back to its best round; so what a rung reports is the validation accuracy (1 - merror) of the
model that would be kept if training ended there: the best round's so far, not the last's.
Raw pixels need ~250 s for 100 rounds on one thread; HOG (7-pixel cells) + pixels with
32 bins and 30% of the columns per tree reaches ~90.5% validation accuracy in 50 rounds
(~0.85 s each on one thread). The trained booster is ``booster_`` (export saves it as UBJSON).

Two classes train as ``binary:logistic`` (error and logloss): XGBoost's usual binary model,
which onnxmltools converts right (a two-class ``multi:softprob`` booster comes out of it
with other probabilities).

Trees need no schedule, so a booster that cannot train all its rounds before the search's
deadline ends early with the trees it has (``n_rounds`` in ``params`` becomes the rounds
trained, as a network's shortened ``epochs``), rather than being stopped at the deadline and
thrown away: in a 1-hour search a 397-round booster (depth 10, ~3.7 s a round on one
thread) ran 1,154 s until the deadline cut it, and nothing of it was kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families._base import Family, Report, TrainingDiverged
from automl_fashion.families._features import featurize

if TYPE_CHECKING:
    import xgboost as xgb

#: Rounds per rung (a final, shorter rung is reported when training ends in between).
REPORT_EVERY = 10
#: Seconds kept before the deadline, when training ends early for it, for what follows the
#: last round: the kept model's prediction of the validation images (HOG features and a few
#: thousand trees: a few seconds on one thread) and saving it.
FINISH_SECONDS = 10.0


def ends_past(deadline: float | None, now: float, per_round: float) -> bool:
    """Whether one more round (``per_round`` seconds) and :data:`FINISH_SECONDS` would end
    past ``deadline`` (a ``time.time()`` value; None: no deadline)."""
    return deadline is not None and now + per_round + FINISH_SECONDS > deadline


def _deadline_stop(deadline: float | None, stopped: list[int]) -> xgb.callback.TrainingCallback:
    """A callback that ends training, keeping the trees so far, when the next round would
    end too close to ``deadline`` (:func:`ends_past`), appending the rounds trained to
    ``stopped``. A round is predicted to last as long as the slowest of the last
    :data:`REPORT_EVERY` (a rung's report can take longer)."""
    import xgboost as xgb

    class DeadlineStop(xgb.callback.TrainingCallback):
        def before_training(self, model: Any) -> Any:
            self.times = [time.time()]
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            self.times.append(time.time())
            recent = self.times[-REPORT_EVERY - 1 :]
            per_round = max(b - a for a, b in pairwise(recent))
            if ends_past(deadline, self.times[-1], per_round):
                stopped.append(epoch + 1)
                return True
            return False

    return DeadlineStop()


def _reporter(
    report: Report,
    seen: list[tuple[int, float]],
    check_deadline: Callable[[], None],
    metrics: tuple[str, str] = ("merror", "mlogloss"),
) -> xgb.callback.TrainingCallback:
    """A callback reporting validation accuracy every REPORT_EVERY rounds.

    The accuracy is the best round's so far by validation log-loss, the round that
    ``EarlyStopping(save_best=True)`` keeps. Every round's ``(round, accuracy)`` is appended
    to ``seen``, and every round checks the deadline (a round takes well under a second; a
    rung can take ten).

    ``xgboost.train`` runs callbacks in Python, so an exception raised by ``report``
    (pruning, budget) propagates out of training unchanged.
    """
    import xgboost as xgb

    class Reporter(xgb.callback.TrainingCallback):
        best_loss, best_accuracy = math.inf, math.nan

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            error = float(evals_log["val"][metrics[0]][-1])
            loss = float(evals_log["val"][metrics[1]][-1])
            if not (np.isfinite(error) and np.isfinite(loss)):
                raise TrainingDiverged(f"boosting: validation loss is {loss} at round {epoch + 1}")
            if loss < self.best_loss:  # strictly, as EarlyStopping: the first best round
                self.best_loss, self.best_accuracy = loss, 1.0 - error
            seen.append((epoch + 1, self.best_accuracy))
            if (epoch + 1) % REPORT_EVERY == 0:
                report(epoch + 1, self.best_accuracy)
            else:
                check_deadline()
            return False

    return Reporter()


class BoostingFamily(Family):
    """XGBoost with validation early stopping; rungs are boosting rounds (``n_rounds``)."""

    name = "boosting"
    fidelity = "rounds"

    def _features(self, X: np.ndarray) -> np.ndarray:
        hog_cell = int(self.params.get("hog_cell", 4))
        return featurize(X, self.params["features"], hog_cell=hog_cell, threads=self.threads)

    def metrics(self) -> tuple[str, str]:
        """The validation error and loss XGBoost computes: ``(error, log-loss)``."""
        return ("error", "logloss") if self.info.n_classes == 2 else ("merror", "mlogloss")

    def booster_params(self) -> dict[str, Any]:
        """The parameters passed to ``xgboost.train``."""
        p = self.params
        n_classes = self.info.n_classes
        objective: dict[str, Any] = {"objective": "multi:softprob", "num_class": n_classes}
        if n_classes == 2:
            objective = {"objective": "binary:logistic"}
        return {
            **objective,
            "tree_method": "hist",
            "eval_metric": list(self.metrics()),
            "eta": float(p["eta"]),
            "max_depth": int(p["max_depth"]),
            "min_child_weight": float(p["min_child_weight"]),
            "subsample": float(p["subsample"]),
            "colsample_bytree": float(p["colsample_bytree"]),
            "lambda": float(p["lambda"]),
            "max_bin": int(p["max_bin"]),
            "nthread": self.threads,
            "seed": self.seed,
            "device": "cpu",
        }

    def _fit(self, data: Split, report: Report) -> None:
        import xgboost as xgb

        params = self.booster_params()
        bins, threads = params["max_bin"], self.threads
        train = xgb.QuantileDMatrix(
            self._features(data.X_train), data.y_train, max_bin=bins, nthread=threads
        )
        val = xgb.QuantileDMatrix(
            self._features(data.X_val), data.y_val, ref=train, max_bin=bins, nthread=threads
        )
        seen: list[tuple[int, float]] = []
        stopper = xgb.callback.EarlyStopping(
            rounds=int(self.params["early_stopping_rounds"]),
            metric_name=self.metrics()[1],
            data_name="val",
            save_best=True,
        )
        # The reporter goes first (CallbackContainer stops asking callbacks once one says
        # stop), the deadline's stop last: early stopping has seen every round trained.
        callbacks = [_reporter(report, seen, self.check_deadline, self.metrics()), stopper]
        planned, stopped = int(self.params["n_rounds"]), list[int]()
        self.booster_: xgb.Booster = xgb.train(
            params,
            train,
            num_boost_round=planned,
            evals=[(val, "val")],
            callbacks=[*callbacks, _deadline_stop(self.deadline, stopped)],
            verbose_eval=False,
        )
        rounds, kept_accuracy = seen[-1]
        self.rounds_trained_ = rounds
        if stopped and stopped[-1] < planned:
            self.params["n_rounds"] = rounds  # ended early for the deadline
        if rounds % REPORT_EVERY:
            report(rounds, kept_accuracy)

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.booster_.inplace_predict(self._features(X)), dtype=np.float64)
        if proba.ndim == 1:  # binary:logistic: the second class's probability
            proba = np.stack([1.0 - proba, proba], 1)
        out: np.ndarray = proba / proba.sum(axis=1, keepdims=True)
        return out

    def to_onnx(self) -> Any:
        """Feature graph (traced from torch) joined to the trees (onnxmltools)."""
        import onnx
        import torch
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        from automl_fashion.families._deploy import Features
        from automl_fashion.onnx_export import OPSET, torch_to_onnx

        shape = self.info.shape
        features = Features(self.params["features"], int(self.params.get("hog_cell", 4)), shape)
        width = int(features.eval()(torch.zeros(1, *shape)).shape[1])
        head = torch_to_onnx(features, "features", shape)
        trees = convert_xgboost(
            self.booster_,
            initial_types=[("features", FloatTensorType([None, width]))],
            target_opset=OPSET,
        )
        head.ir_version = trees.ir_version = min(head.ir_version, trees.ir_version)
        merged = onnx.compose.merge_models(
            head,
            trees,
            io_map=[("features", "features")],
            prefix2="xgb_",
            outputs=["xgb_probabilities"],
        )
        merged.graph.output[0].name = "probabilities"
        for node in merged.graph.node:
            node.output[:] = [
                "probabilities" if o == "xgb_probabilities" else o for o in node.output
            ]
        return merged

    def save_native(self, directory: Path) -> Path:
        """XGBoost's own UBJSON: trees and parameters, no code."""
        path = directory / "model.ubj"
        self.booster_.save_model(str(path))
        return path
