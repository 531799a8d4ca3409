"""A study as a search leaves it: its split recorded, one linear trial run by ``run_trial``."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from automl_fashion.export import search_split
from automl_fashion.search_space import load_space, spaces_dir
from automl_fashion.storage import artifacts_dir, open_storage
from automl_fashion.trial import TrialSettings, run_trial

#: 30 images per class: the searched split has 300 training images (the full one 50,000)
PER_CLASS = 30


def linear_params(epochs: int = 2) -> dict:
    params = {**load_space("linear").init, "features": "pixels", "epochs": epochs}
    params.pop("hog_cell", None)
    return params


def searched_study(folder: Path, *, save: bool) -> optuna.Study:
    """A study with one complete linear trial, trained on its recorded 300-image split
    (saved as an artifact when ``save``); its search spaces are a copy in ``folder``."""
    spaces = folder / "spaces"
    shutil.copytree(spaces_dir(), spaces)
    study = optuna.create_study(
        study_name="s", storage=open_storage(None, "s", folder), direction="maximize"
    )
    for key, value in {"seed": 0, "val_size": 10_000, "train_per_class": PER_CLASS}.items():
        study.set_user_attr(key, value)
    study.enqueue_trial({"family": "linear", **load_space("linear").trial_params(linear_params())})
    settings = TrialSettings(
        ["linear"],
        threads=1,
        seed=0,
        device="cpu",
        spaces_dir=str(spaces),
        artifacts=str(artifacts_dir("s", folder)) if save else None,
    )
    data = search_split(study).split
    run_trial(study, study.ask(), data, settings, lambda: None)
    assert study.best_trial.value is not None
    return study


@pytest.fixture
def saved_study(tmp_path: Path) -> optuna.Study:
    return searched_study(tmp_path, save=True)
