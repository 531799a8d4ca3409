"""Pruning that compares a trial only with trials of its own family.

Intermediate values of different families are not comparable (epoch 3 of a CNN against
round 3 of XGBoost), and Optuna's pruners compare a trial with every trial of the study.
:class:`FamilyPruner` hands the wrapped Optuna pruner a view of the study that holds only
the trials of the same family whose steps count the same thing (:data:`RUNG_UNIT_ATTR`);
each family gets its own pruner instance, so state such as successive halving's estimated
``min_resource`` is per family too.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

from automl_fashion.errors import ConfigError

FAMILY_PARAM = "family"
#: A trial with this user attribute set is never pruned: the budget plan's warm-start inits,
#: which it has given their time. Two inits of one network with different seeds race at
#: every rung, and successive halving stopped the one a few tenths behind at epoch 3 (the
#: first 10-minute run of the planner), which left no second network for the ensemble.
PROTECTED_ATTR = "warm_start"
#: What a trial's steps count (its family's ``fidelity``), set before its first report. A
#: study resumed across a change of unit (the networks reported epochs before they reported
#: per mille of their schedule) would otherwise compare epoch 3 of old trials with 25% of
#: new ones at the same rung; a trial is compared only with trials of its own unit.
RUNG_UNIT_ATTR = "rung_unit"
PRUNERS = ("sha", "median", "none")


class _FamilyStudy(optuna.Study):
    """The same study, seen through a filter: only trials of ``family`` whose steps are in
    ``unit`` (None: trials that do not say, as before units were recorded)."""

    def __init__(self, study: optuna.Study, family: str, unit: object = None) -> None:
        super().__init__(
            study_name=study.study_name,
            storage=study._storage,
            sampler=study.sampler,
            pruner=study.pruner,
        )
        self._family = family
        self._unit = unit

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(deepcopy=deepcopy, states=states)
        return [
            t
            for t in trials
            if t.params.get(FAMILY_PARAM) == self._family
            and t.user_attrs.get(RUNG_UNIT_ATTR) == self._unit
        ]


class FamilyPruner(BasePruner):
    """Apply an Optuna pruner within each family and rung unit (never to a
    :data:`PROTECTED_ATTR` trial).

    Args:
        factory: Builds a fresh Optuna pruner for a family; called once per family.
    """

    def __init__(self, factory: Callable[[str], BasePruner]) -> None:
        self._factory = factory
        self._pruners: dict[str, BasePruner] = {}

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        family = trial.params.get(FAMILY_PARAM)
        if family is None or trial.user_attrs.get(PROTECTED_ATTR):
            return False
        if family not in self._pruners:
            self._pruners[family] = self._factory(str(family))
        unit = trial.user_attrs.get(RUNG_UNIT_ATTR)
        return self._pruners[family].prune(_FamilyStudy(study, family, unit), trial)


def _min_resource(family: str) -> int | str:
    """The family's first prunable rung (``Family.min_resource``); "auto" if unknown."""
    from automl_fashion import families

    try:
        return families.get(family).min_resource
    except Exception:  # a family name from a plugin that is not loaded here
        return "auto"


def make_pruner(name: str, **kwargs: Any) -> BasePruner:
    """``sha`` (successive halving, default), ``median`` or ``none``, applied per family.

    Hyperband is not offered: its bracket sub-studies re-read the whole storage, which
    would mix families again.
    """
    if name == "sha":
        return FamilyPruner(
            lambda family: optuna.pruners.SuccessiveHalvingPruner(
                min_resource=kwargs.get("min_resource", _min_resource(family)),
                reduction_factor=kwargs.get("reduction_factor", 3),
            )
        )
    if name == "median":
        return FamilyPruner(
            lambda family: optuna.pruners.MedianPruner(
                n_startup_trials=kwargs.get("n_startup_trials", 3),
                n_warmup_steps=kwargs.get("n_warmup_steps", 1),
            )
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner: unknown pruner {name!r}; expected one of {list(PRUNERS)}")
