"""One trial from suggestion to ``tell`` (automl_fashion/trial.py): how a fit's end maps to
the trial's state and the reason recorded with it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.families._base import Report
from automl_fashion.families.mlp import MLPFamily
from automl_fashion.pruning import RUNG_UNIT_ATTR
from automl_fashion.trial import TrialSettings, run_trial


def test_a_network_that_stops_learning_is_pruned_with_its_reason(
    tiny_split: Split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruned, not failed: the sampler learns from its chance-level rungs as from any
    pruned trial's, and the leaderboard says why it stopped."""

    def stalled(self: MLPFamily, data: Split, report: Report) -> None:
        report(1, 0.1)
        report(2, 0.1)
        raise families.NotLearning("mlp: validation accuracy 0.1000 for 2 epochs in a row")

    monkeypatch.setattr(MLPFamily, "_fit", stalled)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    settings = TrialSettings(["mlp"], threads=1, seed=0, device="cpu", artifacts=str(tmp_path))
    assert run_trial(study, study.ask(), tiny_split, settings, lambda: None) == TrialState.PRUNED
    (trial,) = study.trials
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {1: 0.1, 2: 0.1}
    assert trial.user_attrs["stop_reason"] == (
        "not learning: mlp: validation accuracy 0.1000 for 2 epochs in a row"
    )
    assert "fail_reason" not in trial.user_attrs


def test_a_trial_records_what_its_steps_count_before_its_first_report(
    tiny_split: Split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pruner compares a trial only with trials of its rung unit, so the unit must be
    on the trial when the first report is pruned."""
    seen: list[object] = []

    class Spy(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            seen.append(trial.user_attrs.get(RUNG_UNIT_ATTR))
            return False

    def one_epoch(self: MLPFamily, data: Split, report: Report) -> None:
        report(1, 0.5)
        raise families.NotLearning("stop here")

    monkeypatch.setattr(MLPFamily, "_fit", one_epoch)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=Spy())
    settings = TrialSettings(["mlp"], threads=1, seed=0, device="cpu", artifacts=str(tmp_path))
    run_trial(study, study.ask(), tiny_split, settings, lambda: None)
    assert seen == [MLPFamily.fidelity]
