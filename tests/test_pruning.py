"""The pruner compares a trial only with its own family (ask / report / tell, no training)."""

from __future__ import annotations

import optuna
import pytest

from automl_fashion.errors import ConfigError
from automl_fashion.pruning import make_pruner


def _trial(
    study: optuna.Study, family: str, values: list[float], attrs: dict[str, object] | None = None
) -> bool:
    study.enqueue_trial({"family": family}, user_attrs=attrs)
    trial = study.ask()
    assert trial.suggest_categorical("family", ["a", "b", "cnn"]) == family
    for step, value in enumerate(values, start=1):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return True
    study.tell(trial, values[-1])
    return False


@pytest.mark.parametrize("pruner", ["sha", "median"])
def test_a_weak_family_is_not_pruned_by_a_strong_one(pruner: str) -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner))
    # family "a" reports high values at every step
    for _ in range(6):
        assert not _trial(study, "a", [0.90, 0.91, 0.92, 0.93])
    # family "b" reports much lower values, but is compared only with "b" trials
    assert not _trial(study, "b", [0.50, 0.55, 0.60, 0.65])
    assert not _trial(study, "b", [0.51, 0.56, 0.61, 0.66])


@pytest.mark.parametrize("pruner", ["sha", "median"])
def test_a_weak_trial_is_pruned_within_its_family(pruner: str) -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner))
    for _ in range(6):
        _trial(study, "b", [0.80, 0.82, 0.84, 0.86])
    assert _trial(study, "b", [0.10, 0.11, 0.12, 0.13])


def test_the_same_weak_trial_survives_in_a_study_without_pruning_peers() -> None:
    """Control: the comparison above is what prunes, not the values alone."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("sha"))
    for _ in range(6):
        _trial(study, "a", [0.80, 0.82, 0.84, 0.86])
    assert not _trial(study, "b", [0.10, 0.11, 0.12, 0.13])


@pytest.mark.parametrize("pruner", ["sha", "median"])
def test_the_plans_warm_start_trials_are_never_pruned(pruner: str) -> None:
    """Two seeds of one init race; the plan gave both their time (and the ensemble needs
    both): the weaker one is not pruned, where the same values without the mark are."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner))
    for _ in range(6):
        _trial(study, "b", [0.80, 0.82, 0.84, 0.86])
    assert not _trial(study, "b", [0.10, 0.11, 0.12, 0.13], {"warm_start": True})
    assert _trial(study, "b", [0.10, 0.11, 0.12, 0.13])


def test_unknown_pruner_is_named() -> None:
    with pytest.raises(ConfigError, match=r"--pruner: unknown pruner 'foo'"):
        make_pruner("foo")


def test_networks_are_compared_from_their_third_epoch_on() -> None:
    """Early epochs of runs with different schedules say little: a CNN that warms up slowly
    survives two weak epochs, where a family without that rule is pruned at once."""
    for family, pruned in (("cnn", False), ("a", True)):
        study = optuna.create_study(direction="maximize", pruner=make_pruner("sha"))
        for _ in range(6):
            _trial(study, family, [0.80, 0.84, 0.88, 0.90])
        assert _trial(study, family, [0.30, 0.60, 0.91, 0.92]) is pruned
