"""The contract every model family implements.

A family turns a parameter dict (validated against ``search_spaces/<name>.yaml``) into a
trained classifier. ``fit`` trains on the train part of a :class:`~automl_fashion.data.Split`
and calls ``report(step, val_accuracy)`` after every rung of the family's natural fidelity
(epochs, boosting rounds, training-subset size), so that a pruner can stop it early. The
callback may raise (``optuna.TrialPruned``, a budget stop): the family lets it propagate.

Nothing here assumes Fashion-MNIST: ``fit`` keeps the split's :class:`DatasetInfo` as
``info_`` (shape, number of classes, pixel statistics, whether flips keep labels), and
prediction and export follow it, so a model kept or copied after fit predicts on its own
data set's images.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np

from automl_fashion.budget import BudgetExhausted
from automl_fashion.data import Split
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.errors import AutoMLFashionError, ConfigError
from automl_fashion.threads import limit_threads

Report = Callable[[int, float], None]


class TrainingDiverged(AutoMLFashionError):
    """The loss became NaN or infinite: the trial fails with this reason."""


class NotLearning(AutoMLFashionError):
    """After enough training, validation accuracy is no better than always answering the
    commonest class: the search stops the trial as it stops a pruned one."""


def _no_report(step: int, accuracy: float) -> None:
    return None


def accuracy(y_true: np.ndarray, proba_or_pred: np.ndarray) -> float:
    pred = proba_or_pred.argmax(axis=1) if proba_or_pred.ndim == 2 else proba_or_pred
    return float(np.mean(pred == y_true))


def _size_of(obj: Any, depth: int, seen: set[int]) -> int:
    if id(obj) in seen or depth > 6:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if hasattr(obj, "save_raw"):  # xgboost.Booster
        return len(obj.save_raw("ubj"))
    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):  # torch.nn.Module
        return sum(int(t.numel() * t.element_size()) for t in obj.state_dict().values())
    if isinstance(obj, dict):
        return sum(_size_of(v, depth + 1, seen) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_size_of(v, depth + 1, seen) for v in obj)
    if hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in (
        "sklearn",
        "automl_fashion",
    ):
        return _size_of(vars(obj), depth + 1, seen)
    return 0


class Family(ABC):
    """Base class of a model family.

    Subclasses set ``name`` and ``fidelity`` and implement ``_fit`` and ``_predict_proba``.
    The constructor only stores its arguments (scikit-learn style); work happens in ``fit``.

    Args:
        params: A configuration from the family's search space.
        seed: Seed for every random choice inside the family.
        threads: CPU threads this model may use (BLAS, OpenMP, torch, XGBoost).
        device: ``"auto"`` (GPU when present), ``"cpu"`` or a torch device string.
    """

    name: ClassVar[str]
    #: What one rung is: "epochs", "rounds" or "train_size".
    fidelity: ClassVar[str]
    #: Whether the family trains with torch (its thread pool is then capped too).
    uses_torch: ClassVar[bool] = False
    #: The first rung successive halving may prune at ("auto": Optuna's estimate).
    min_resource: ClassVar[int | str] = "auto"

    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        seed: int = 0,
        threads: int = 1,
        device: str = "auto",
    ) -> None:
        self.params = dict(params)
        self.seed = seed
        self.threads = threads
        self.device = device
        self.deadline: float | None = None
        self._rung_times: list[float] = []

    # -- called by the orchestrator, tests and export ---------------------------------
    def fit(
        self, data: Split, report: Report | None = None, *, deadline: float | None = None
    ) -> Self:
        """Train on ``data.X_train`` and report validation accuracy after each rung.

        ``deadline`` (a ``time.time()`` value) is when the caller will stop this fit at a
        rung; families whose training follows a schedule fixed in advance (the torch
        families' learning rate over epochs) shorten it to end in time instead, and record
        the shortened parameters in ``params``.
        """
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1; got {self.threads}")
        self.info_: DatasetInfo = data.info
        self.deadline = deadline
        self.history_: list[tuple[int, float]] = []
        self._rung_times = [time.time()]  # fit start, then the end of each rung
        outer = report or _no_report

        def checked(step: int, acc: float) -> None:
            if not math.isfinite(acc):
                raise TrainingDiverged(f"{self.name}: validation accuracy is {acc} at step {step}")
            if self.history_ and step <= self.history_[-1][0]:
                raise RuntimeError(f"{self.name}: report steps must increase; got {step}")
            self.history_.append((step, acc))
            self._rung_times.append(time.time())
            outer(step, acc)

        start = time.perf_counter()
        with limit_threads(self.threads, torch=self.uses_torch):
            self._fit(data, checked)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def before_rung(self, *, growing: bool = False) -> None:
        """Raise :class:`BudgetExhausted` when a rung started now would end past the deadline.

        Families whose rungs cannot be interrupted (one SVC fit, one SGD epoch) call it at
        the start of each rung: stopping there keeps the search inside its budget, where the
        caller's check at the rung's end would overrun it by up to a whole rung. The next
        rung is predicted to last as long as the last one; ``growing`` (rungs on more and
        more data) scales that by the last rung's growth over the one before, from 1 to 4.
        """
        times = self._rung_times
        if self.deadline is None or len(times) < 2:
            return
        last = times[-1] - times[-2]
        if growing and len(times) > 2:
            last *= min(4.0, max(1.0, last / max(1e-9, times[-2] - times[-3])))
        if time.time() + last > self.deadline:
            raise BudgetExhausted(
                f"{self.name}: the next rung (~{last:.0f} s) would end past the budget"
            )

    def check_deadline(self) -> None:
        """Raise :class:`BudgetExhausted` once the fit's deadline has passed.

        Families with long, interruptible rungs (a network's epoch, a rung of boosting
        rounds) call it inside a rung, so that a trial past the deadline stops within a
        second or so instead of at its next rung.
        """
        if self.deadline is not None and time.time() > self.deadline:
            raise BudgetExhausted(f"{self.name}: the search budget is spent (inside a rung)")

    @property
    def info(self) -> DatasetInfo:
        """The data set the model was fitted on (``info_``, kept for predict and export).

        Fashion-MNIST's before ``fit``: what a network is built for when nothing says
        otherwise (benchmarks and throughput measurements build unfitted networks).
        """
        info: DatasetInfo = getattr(self, "info_", FASHION_MNIST)
        return info

    def check_images(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the data set's arrays (N x ``info.array_shape``): N x H x W for one
        channel, N x H x W x C for colour. Also accepted: N x C x H x W (what networks and
        ONNX take) and, for one channel, N x 1 x H x W."""
        X = np.asarray(X)
        info = self.info
        c, h, w = info.shape
        if X.ndim == 4 and X.shape[1:] == (c, h, w):
            X = X[:, 0] if c == 1 else X.transpose(0, 2, 3, 1)
        if X.ndim != 1 + len(info.array_shape) or X.shape[1:] != info.array_shape:
            channels = "" if c == 1 else f" x {c}"
            raise ConfigError(
                f"X: expected images of {info.name} as N x {h} x {w}{channels} "
                f"(or N x {c} x {h} x {w}); got shape {X.shape}"
            )
        return X

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N x n_classes, rows sum to 1) for uint8 images of the data
        set the model was fitted on (see :meth:`check_images` for the layouts)."""
        X = self.check_images(X)
        with limit_threads(self.threads, torch=self.uses_torch):
            proba = self._predict_proba(X)
        return proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def size_bytes(self) -> int:
        """Approximate size of the learned state: arrays, tensors and boosters it holds."""
        return _size_of(vars(self), depth=0, seen=set())

    def deploy_module(self) -> Any:
        """A torch module from raw pixels (0..255, N x C x H x W as ``info.shape`` says, or
        any N-first layout of it) to probabilities (N x ``info.n_classes``).

        Export traces it into ONNX; its buffers are the native weights. Families without
        one cannot be exported yet.
        """
        raise NotImplementedError(f"family '{self.name}' cannot be exported yet")

    # -- implemented by each family ---------------------------------------------------
    @abstractmethod
    def _fit(self, data: Split, report: Report) -> None:
        """Train; call ``report(step, val_accuracy)`` after each rung, steps increasing."""

    @abstractmethod
    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for validated uint8 images N x ``info_.array_shape``."""
