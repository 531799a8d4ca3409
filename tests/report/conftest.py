"""A small real study as a search leaves it: linear and tiny CNN trials trained by
``run_trial`` on the recorded 20-images-per-class split, their models saved as artifacts,
one trial stopped by the budget and one failed, each on a worker's timeline."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl_fashion.budget import BudgetExhausted
from automl_fashion.export import search_split
from automl_fashion.search.worker import WORKER_ATTR
from automl_fashion.search_space import load_space
from automl_fashion.storage import artifacts_dir, open_storage
from automl_fashion.trial import TrialSettings, run_trial

STUDY = "r"


def _linear(alpha: float, epochs: int) -> dict:
    params = {**load_space("linear").init, "features": "pixels", "alpha": alpha}
    params.pop("hog_cell", None)
    return {"family": "linear", **load_space("linear").trial_params({**params, "epochs": epochs})}


def _cnn(epochs: int, width: int = 16) -> dict:
    space = load_space("cnn")
    params = {
        **space.init,
        "width": width,
        "stages": 2,
        "convs_per_stage": 1,
        "epochs": epochs,
        "batch_size": 64,
    }
    return {"family": "cnn", **space.trial_params(params)}


def build_study(folder: Path) -> optuna.Study:
    storage = open_storage(None, STUDY, folder)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    for key, value in {"seed": 0, "val_size": 10_000, "train_per_class": 20}.items():
        study.set_user_attr(key, value)
    settings = TrialSettings(
        ["linear", "cnn"],
        threads=1,
        seed=0,
        device="cpu",
        artifacts=str(artifacts_dir(STUDY, folder)),
    )
    data = search_split(study).split
    plan = [
        _linear(1e-5, 3),
        _linear(1e-3, 2),
        _linear(1e-2, 2),
        _linear(1e-4, 3),
        _cnn(3),
        _cnn(4, width=24),
    ]
    for i, params in enumerate(plan):
        study.enqueue_trial(params)
        trial = study.ask()
        study._storage.set_trial_system_attr(
            trial._trial_id, WORKER_ATTR, {"host": "test", "pid": 1, "index": i % 2}
        )
        run_trial(study, trial, data, settings, lambda: None)
    # one trial the budget stops at its first rung, one that fails
    study.enqueue_trial(_cnn(3))
    run_trial(study, study.ask(), data, settings, lambda: BudgetExhausted("the budget is spent"))
    broken = study.ask()
    broken.set_user_attr("fail_reason", "RuntimeError: boom")
    study.tell(broken, state=optuna.trial.TrialState.FAIL)
    return study


@pytest.fixture(scope="package")
def real_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, Path]:
    """The study and its studies folder (shared by the report tests: read, never written)."""
    folder = tmp_path_factory.mktemp("studies")
    return build_study(folder), folder
