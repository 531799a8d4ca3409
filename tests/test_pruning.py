"""The pruner compares a trial only with its own family (ask / report / tell, no training)."""

from __future__ import annotations

import optuna
import pytest

from automl_fashion import families
from automl_fashion.errors import ConfigError
from automl_fashion.families._schedule import FIRST_RUNG, SCHEDULE_STEPS, schedule_step
from automl_fashion.pruning import RUNG_UNIT_ATTR, make_pruner


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


def _network(study: optuna.Study, values: list[float], unit: str | None = None) -> bool:
    """A cnn trial that reports as the torch families do: each epoch at its share of the
    schedule (``len(values)`` epochs), per mille; ``unit``: the rung unit it records."""
    study.enqueue_trial({"family": "cnn"}, user_attrs={RUNG_UNIT_ATTR: unit} if unit else None)
    trial = study.ask()
    trial.suggest_categorical("family", ["a", "b", "cnn"])
    for epoch, value in enumerate(values, start=1):
        trial.report(value, schedule_step(epoch, len(values)))
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return True
    study.tell(trial, values[-1])
    return False


#: A 4-epoch OneCycle run: at its peak learning rate after epoch 1, annealed by epoch 3.
SHORT = [0.86, 0.895, 0.91, 0.915]
#: A 16-epoch run: slower per epoch (its peak learning rate lasts until epoch 4), better at
#: the end. Epoch 3 is 0.85, under every short run's 0.91 there.
LONG = [0.78, 0.82, 0.85, 0.875, 0.88, 0.885, 0.89, 0.895]
LONG += [0.90, 0.905, 0.91, 0.915, 0.92, 0.925, 0.93, 0.935]


def test_networks_are_compared_at_the_same_share_of_their_schedules() -> None:
    """A long schedule meets short ones at a quarter and three quarters of each schedule,
    where it is ahead, not at epoch 3, where it is still near its peak learning rate (the
    2-hour search pruned every long cnn there); a run that is behind at the same share
    still goes."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("sha"))
    for _ in range(6):
        assert not _network(study, SHORT)
    assert not _network(study, LONG)
    assert _network(study, [v - 0.1 for v in LONG])
    # control: the same values compared epoch by epoch from epoch 3, as before
    study = optuna.create_study(direction="maximize", pruner=make_pruner("sha", min_resource=3))
    for _ in range(6):
        assert not _trial(study, "cnn", SHORT)
    assert _trial(study, "cnn", LONG)


def test_the_first_network_rung_is_a_quarter_of_the_schedule() -> None:
    assert families.get("cnn").min_resource == FIRST_RUNG == SCHEDULE_STEPS // 4
    assert [schedule_step(e, 4) for e in range(1, 5)] == [250, 500, 750, 1000]
    assert schedule_step(4, 16) == FIRST_RUNG


def test_a_resumed_study_does_not_compare_epochs_with_shares_of_the_schedule() -> None:
    """A study from before the networks reported per mille of their schedule holds cnn
    trials whose first rung was epoch 3. Resumed, a new 16-epoch network reaching 25% of its
    schedule (epoch 4, 0.875) would meet their epoch-3 values (0.91) at the same rung and be
    pruned; it is compared only with trials that count as it does."""
    unit = str(families.get("cnn").fidelity)
    old = optuna.create_study(direction="maximize", pruner=make_pruner("sha", min_resource=3))
    for _ in range(6):
        assert not _trial(old, "cnn", SHORT)  # epochs; no unit recorded
    resumed = optuna.load_study(
        study_name=old.study_name, storage=old._storage, pruner=make_pruner("sha")
    )
    assert not _network(resumed, LONG, unit)
    assert _network(resumed, [v - 0.1 for v in LONG], unit)  # still pruned among its own
    # control: the same long run, recording no unit, meets the old epoch-3 values
    assert _network(resumed, LONG)
