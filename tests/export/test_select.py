"""Export retrains a trial exactly as it was searched (issue 12, item 14): with the
parameters the trial recorded, on the split its study recorded."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from automl_fashion.errors import ConfigError
from automl_fashion.export import export_trial, search_split, trial_recipe
from automl_fashion.trial import CONFIG_ATTR
from tests.export.conftest import PER_CLASS, linear_params, searched_study


def test_a_trial_records_its_full_configuration(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=False)
    config = study.best_trial.user_attrs[CONFIG_ATTR]
    assert config == {"family": "linear", "params": linear_params(), "seed": 0}


def test_export_retrains_on_the_searched_split_with_the_recorded_parameters(
    tmp_path: Path,
) -> None:
    study = searched_study(tmp_path, save=False)
    # the space was edited after the search: the trial's 2 epochs are now out of range
    path = tmp_path / "spaces" / "linear.yaml"
    space = yaml.safe_load(path.read_text())
    space["params"]["epochs"] = {"type": "int", "low": 5, "high": 20}
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    messages: list[str] = []
    result = export_trial(
        study,
        tmp_path / "model",
        threads=1,
        spaces_dir=str(tmp_path / "spaces"),
        studies_dir=str(tmp_path),
        say=messages.append,
    )
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["params"] == linear_params()  # 2 epochs, as trained during the search
    assert card["trained_on"].startswith(f"{10 * PER_CLASS} training images (the split trial 0")
    assert messages == [] and card["notes"] == []
    assert result.parity >= 0.999


def test_the_searched_split_is_the_workers_split(tmp_path: Path) -> None:
    study = optuna.create_study()
    study.set_user_attr("seed", 3)
    study.set_user_attr("val_size", 500)
    study.set_user_attr("train_per_class", 20)
    searched = search_split(study)
    assert len(searched.split.y_train) == 200 and len(searched.split.y_val) == 100
    assert searched.describe() == "seed 3, 500 validation images, 20 per class"
    assert len(search_split(optuna.create_study()).split.y_train) == 50_000  # no record


@pytest.mark.parametrize(
    ("key", "value"), [("seed", -1), ("val_size", "10000"), ("train_per_class", 0)]
)
def test_a_bad_recorded_split_is_a_one_line_error(key: str, value: object) -> None:
    study = optuna.create_study(study_name="bad")
    study.set_user_attr(key, value)
    with pytest.raises(ConfigError, match=f"study 'bad': its recorded {key} is"):
        search_split(study)


def _trial_with(config: object, params: dict | None = None) -> optuna.trial.FrozenTrial:
    from automl_fashion.search_space import load_space

    study = optuna.create_study(direction="maximize")
    space = load_space("linear")
    study.enqueue_trial({"family": "linear", **space.trial_params(params or linear_params())})
    trial = study.ask()
    trial.suggest_categorical("family", ["linear"])
    space.suggest(trial)
    if config is not None:
        trial.set_user_attr(CONFIG_ATTR, config)
    study.tell(trial, 0.8)
    return study.best_trial


def test_recorded_parameters_are_checked_by_type() -> None:
    good = {"family": "linear", "params": linear_params(), "seed": 7}
    recipe = trial_recipe(_trial_with(good))
    assert recipe.stored and recipe.seed == 7 and recipe.params == linear_params()
    bad = [
        ({**good, "family": "nope"}, "unknown family"),
        ({**good, "params": {**linear_params(), "epochs": "2"}}, "'epochs' is '2'"),
        ({**good, "params": {**linear_params(), "rm -rf": 1}}, "unknown parameter"),
        ({**good, "seed": -4}, "recorded seed -4"),
        ("linear", "not a configuration"),
    ]
    for config, message in bad:
        with pytest.raises(ConfigError, match=message):
            trial_recipe(_trial_with(config))


def test_a_trial_from_before_records_is_rebuilt_and_says_so() -> None:
    recipe = trial_recipe(_trial_with(None), study_seed=5)
    assert not recipe.stored and recipe.params == linear_params() and recipe.seed == 5


def test_choosing_by_score_survives_a_wrong_typed_fit_time() -> None:
    from automl_fashion.export import pick_trial

    study = optuna.create_study(direction="maximize")
    for value, seconds in ((0.8, "slow"), (0.7, 1.0)):
        trial = study.ask()
        trial.set_user_attr("fit_seconds", seconds)
        study.tell(trial, value)
    assert pick_trial(study, None, "score").number in (0, 1)


def test_threads_below_one_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--threads must be at least 1; got 0"):
        export_trial(optuna.create_study(), tmp_path / "model", threads=0)
