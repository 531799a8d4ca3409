"""One trial, start to finish: draw a family and its parameters, fit with rung reports,
record what the leaderboard needs, and end in exactly one state with a reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from automl_fashion import families
from automl_fashion.artifacts import drop_outside_top, save_if_top
from automl_fashion.budget import BudgetExhausted
from automl_fashion.data import DatasetInfo, Split
from automl_fashion.errors import AutoMLFashionError
from automl_fashion.pruning import FAMILY_PARAM, RUNG_UNIT_ATTR
from automl_fashion.search_space import load_space

#: The user attribute holding what a trial trains with (family, parameters, model seed), so
#: that export rebuilds it exactly, whatever the search-space files say later.
CONFIG_ATTR = "config"
#: The user attribute holding the validation accuracy of each class (None: no such image).
CLASS_ACCURACY_ATTR = "val_class_accuracy"


class Interrupted(AutoMLFashionError):
    """The user asked the search to stop (Ctrl-C): the trial stops at its next rung."""


@dataclass(frozen=True)
class TrialSettings:
    families: Sequence[str]
    threads: int
    seed: int
    device: str = "auto"
    spaces_dir: str | None = None
    #: Where the best trials of each family save their models (None: nowhere).
    artifacts: str | None = None
    #: When trials are stopped (time.time()); scheduled training shortens itself to fit.
    deadline: float | None = None
    #: The networks train on a GPU: the search spaces' GPU ranges (``SearchSpace.on_gpu``).
    gpu: bool = False


def class_accuracy(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float | None]:
    """The share of each class's images predicted right (None for a class with none)."""
    return [
        round(float(np.mean(pred[labels == c] == c)), 4) if np.any(labels == c) else None
        for c in range(n_classes)
    ]


def suggest(
    trial: optuna.Trial, settings: TrialSettings, info: DatasetInfo
) -> tuple[str, dict[str, object]]:
    """The family and its configuration for this trial (enqueued values win), within what
    the data set allows (no flips of digits)."""
    family = str(trial.suggest_categorical(FAMILY_PARAM, list(settings.families)))
    space = load_space(family, settings.spaces_dir, gpu=settings.gpu)
    return family, space.suggest(trial, info=info)


def run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    data: Split,
    settings: TrialSettings,
    should_stop: Callable[[], BaseException | None],
) -> TrialState:
    """Train one configuration and ``tell`` the study how it ended.

    ``should_stop`` is asked at every rung; it returns the exception to stop with (budget
    or interrupt) or None.
    """
    started = time.perf_counter()
    state = TrialState.FAIL
    value: float | None = None
    saved = None
    trial.set_user_attr("n_train", len(data.y_train))
    trial.set_user_attr("n_val", len(data.y_val))
    try:
        family, params = suggest(trial, settings, data.info)
        trial.set_user_attr(
            CONFIG_ATTR,
            {"family": family, "params": params, "seed": settings.seed + trial.number},
        )
        model = families.get(family)(
            params,
            seed=settings.seed + trial.number,
            threads=settings.threads,
            device=settings.device,
        )
        trial.set_user_attr(RUNG_UNIT_ATTR, getattr(model, "fidelity", None))

        def report(step: int, accuracy: float) -> None:
            trial.report(accuracy, step)
            stop = should_stop()
            if stop is not None:
                raise stop
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} with {accuracy:.4f}")

        model.fit(data, report, deadline=settings.deadline)
        shortened = {k: v for k, v in model.params.items() if params.get(k) != v}
        if shortened:  # e.g. fewer epochs, to end within the budget
            trial.set_user_attr("shortened_to", shortened)
        t0 = time.perf_counter()
        proba = model.predict_proba(data.X_val)
        predict_s = time.perf_counter() - t0
        value = float(np.mean(proba.argmax(1) == data.y_val))
        if not math.isfinite(value):
            raise AutoMLFashionError(f"validation accuracy is {value}")
        trial.set_user_attr("fit_seconds", round(model.fit_seconds_, 3))
        trial.set_user_attr(
            "predict_ms_per_1000", round(1000 * predict_s / len(data.y_val) * 1000, 3)
        )
        trial.set_user_attr("model_bytes", model.size_bytes())
        trial.set_user_attr(
            CLASS_ACCURACY_ATTR, class_accuracy(proba.argmax(1), data.y_val, proba.shape[1])
        )
        saved = save_if_top(study, trial, model, value, proba, data, settings.artifacts)
        state = TrialState.COMPLETE
    except optuna.TrialPruned:
        state = TrialState.PRUNED
        trial.set_user_attr("stop_reason", "pruned")
    except BudgetExhausted:
        state = TrialState.PRUNED
        trial.set_user_attr("stop_reason", "budget")
    except families.NotLearning as exc:
        state = TrialState.PRUNED  # the sampler learns from its chance-level rungs
        trial.set_user_attr("stop_reason", f"not learning: {exc}"[:500])
    except Interrupted as exc:
        trial.set_user_attr("fail_reason", str(exc))
    except MemoryError:
        trial.set_user_attr("fail_reason", "out of memory")
    except Exception as exc:  # a broken trial must never stop the search
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {message}"[:500])
    trial.set_user_attr("trial_seconds", round(time.perf_counter() - started, 3))
    if state == TrialState.COMPLETE:
        study.tell(trial, value)
        if saved is not None:
            drop_outside_top(study, family, settings.artifacts)
    else:
        study.tell(trial, state=state)
    return state
