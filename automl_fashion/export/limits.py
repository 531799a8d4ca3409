"""Deployment limits: the most accurate model that predicts fast enough and is small enough.

``--max-predict-ms N`` is the time onnxruntime takes on this machine for 1,000 images,
measured on the graph that would be exported (``measure``), not on the native model;
``--max-size MB`` is the size of that graph (1 MB = 1,000,000 bytes). Like AutoGluon's
``infer_limit`` and FLAML's ``pred_time_limit``, a limit narrows the choice; it never makes a
model. The candidates are the models the search saved (the best few of each family), the
only ones that can be measured without training again. An ensemble's cost is the sum of
its members' (the merged graph runs each member once); the exported graph is measured
again and the card gives both.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.errors import ConfigError

MB = 1_000_000
#: Images per timing run, and runs (the fastest counts: the others met a busy machine).
TIMING_IMAGES = 1_000
REPEATS = 3


class LimitError(ConfigError):
    """No model meets the deployment limits."""


@dataclass(frozen=True)
class Cost:
    predict_ms: float  # per 1,000 images, onnxruntime on this machine
    size_mb: float  # of model.onnx

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.predict_ms + other.predict_ms, self.size_mb + other.size_mb)

    def describe(self) -> str:
        return f"{self.predict_ms:.1f} ms per 1,000 images, {self.size_mb:.2f} MB"


@dataclass(frozen=True)
class Limits:
    max_predict_ms: float | None = None
    max_size_mb: float | None = None

    def __post_init__(self) -> None:
        for flag, value, unit in (
            ("--max-predict-ms", self.max_predict_ms, "milliseconds per 1,000 images"),
            ("--max-size", self.max_size_mb, "megabytes"),
        ):
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{flag} must be a positive number of {unit}; got {value!r}")

    @property
    def active(self) -> bool:
        return self.max_predict_ms is not None or self.max_size_mb is not None

    def describe(self) -> str:
        parts = []
        if self.max_predict_ms is not None:
            parts.append(f"--max-predict-ms {self.max_predict_ms:g}")
        if self.max_size_mb is not None:
            parts.append(f"--max-size {self.max_size_mb:g}")
        return ", ".join(parts)

    def exceeded(self, cost: Cost) -> list[str]:
        """The flags ``cost`` breaks (empty when it meets every limit)."""
        broken = []
        if self.max_predict_ms is not None and cost.predict_ms > self.max_predict_ms:
            broken.append("--max-predict-ms")
        if self.max_size_mb is not None and cost.size_mb > self.max_size_mb:
            broken.append("--max-size")
        return broken

    def allows(self, cost: Cost) -> bool:
        return not self.exceeded(cost)


def measure(graph: bytes, threads: int | None = None) -> Cost:
    """The cost of an ONNX graph: onnxruntime's time for ``TIMING_IMAGES`` images of the
    shape it declares (its data set's) in one batch (the fastest of ``REPEATS`` runs, after
    a warm-up), and its size."""
    from automl_fashion.data.info import FASHION_MNIST
    from automl_fashion.onnx_export import declared_input, onnx_predict_proba, onnx_session

    session = onnx_session(graph, threads)
    shape = declared_input(session) or FASHION_MNIST.input_shape
    images = np.random.default_rng(0).integers(0, 256, (TIMING_IMAGES, *shape))
    images = images.astype(np.float32)
    onnx_predict_proba(session, images[:32])
    best = math.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        onnx_predict_proba(session, images)
        best = min(best, time.perf_counter() - t0)
    return Cost(round(best * 1000 * 1000 / TIMING_IMAGES, 2), round(len(graph) / MB, 3))


@dataclass(frozen=True)
class Candidate:
    trial: int
    family: str
    val_accuracy: float
    cost: Cost


def best_within(candidates: Iterable[Candidate], limits: Limits) -> Candidate | None:
    """The most accurate candidate that meets the limits (the lower number on a tie)."""
    fitting = [c for c in candidates if limits.allows(c.cost)]
    return max(fitting, key=lambda c: (c.val_accuracy, -c.trial), default=None)


def nothing_fits(candidates: list[Candidate], limits: Limits) -> LimitError:
    """The one-line error when no candidate meets the limits: what comes closest."""
    if not candidates:
        return LimitError(
            f"{limits.describe()}: no saved model on this machine to measure (limits choose "
            "among the models a search saved; run a search here first)"
        )
    fastest = min(candidates, key=lambda c: c.cost.predict_ms)
    smallest = min(candidates, key=lambda c: c.cost.size_mb)
    closest = [f"the fastest, trial {fastest.trial} ({fastest.family}), takes "]
    closest[0] += f"{fastest.cost.predict_ms:.1f} ms per 1,000 images"
    if smallest is not fastest or limits.max_size_mb is not None:
        closest.append(
            f"the smallest, trial {smallest.trial} ({smallest.family}), is "
            f"{smallest.cost.size_mb:.2f} MB"
        )
    return LimitError(
        f"{limits.describe()}: none of the {len(candidates)} saved models meets it; "
        + "; ".join(closest)
    )


def saved_candidates(study: Any, root: str | os.PathLike[str] | None) -> list[Candidate]:
    """The complete trials whose saved models are intact on this machine, each graph
    measured (a corrupt one is left out: it cannot be exported as it is)."""
    from optuna.trial import TrialState

    from automl_fashion.artifacts import ONNX_FILE, check_artifact, read_verified, saved_trials

    complete = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    candidates = []
    for number in saved_trials(root):
        meta, _ = check_artifact(root, number) if number in complete else (None, None)
        if meta is None:
            continue
        graph = read_verified(Path(meta["folder"]) / ONNX_FILE, meta["sha256"][ONNX_FILE])
        cost = measure(graph)
        candidates.append(Candidate(number, str(meta["family"]), float(meta["val_accuracy"]), cost))
    return candidates


def total_cost(candidates: Iterable[Candidate], trials: Iterable[int]) -> Cost | None:
    """The summed cost of these trials' graphs (None if one was not measured)."""
    costs = {c.trial: c.cost for c in candidates}
    total = Cost(0.0, 0.0)
    for number in trials:
        if number not in costs:
            return None
        total = total + costs[number]
    return total


def ensemble_fits(candidates: list[Candidate], limits: Limits) -> Callable[[frozenset[int]], bool]:
    """Whether a set of trials may form an ensemble: all measured, their sum within."""

    def fits(trials: frozenset[int]) -> bool:
        cost = total_cost(candidates, trials)
        return cost is not None and limits.allows(cost)

    return fits


def facts(
    limits: Limits, unconstrained: str, accuracy: float | None, cost: Cost | None
) -> dict[str, Any]:
    """What the model card says about the limits: which bound the choice, against what the
    choice would have been without them."""
    bound = limits.exceeded(cost) if cost is not None else []
    return {
        "max_predict_ms": limits.max_predict_ms,
        "max_size_mb": limits.max_size_mb,
        "bound_by": bound,
        "unconstrained_best": {
            "model": unconstrained,
            "validation_accuracy": accuracy,
            "predict_ms_per_1000": None if cost is None else cost.predict_ms,
            "size_mb": None if cost is None else cost.size_mb,
        },
    }
