"""What a study keeps across runs and machines: families, split, sampler and pruner."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl_fashion import families
from automl_fashion.errors import ConfigError
from automl_fashion.search.config import SearchConfig
from automl_fashion.search.join import join_config, record_settings, resolve_families
from automl_fashion.search.worker import open_study


def study_with(families: list[str]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.suggest_categorical("family", families)
    study.tell(trial, 0.5)
    return study


def test_a_new_study_searches_the_requested_families_or_all() -> None:
    study = optuna.create_study()
    assert resolve_families(study, SearchConfig(1, families=["svm"])) == ["svm"]
    assert "cnn" in resolve_families(study, SearchConfig(1))


def test_an_opt_in_family_is_searched_only_when_named() -> None:
    study = optuna.create_study()
    default = resolve_families(study, SearchConfig(1))
    assert "resnet" not in default and set(default) < set(families.names())
    assert resolve_families(study, SearchConfig(1, families=["resnet", "cnn"])) == [
        "resnet",
        "cnn",
    ]


def test_a_resume_keeps_the_study_families_and_their_order() -> None:
    study = study_with(["mlp", "linear"])
    assert resolve_families(study, SearchConfig(1)) == ["mlp", "linear"]
    assert resolve_families(study, SearchConfig(1, families=["linear", "mlp"])) == [
        "mlp",
        "linear",
    ]


def test_a_resume_with_other_families_is_refused_with_how_to_proceed() -> None:
    study = study_with(["linear"])
    with pytest.raises(ConfigError) as err:
        resolve_families(study, SearchConfig(1, study="s", families=["linear", "mlp"]))
    message = str(err.value)
    assert "--families linear,mlp: study 's' searches linear" in message
    assert "resume it with --families linear (or without --families)" in message
    assert "new --study" in message


def test_a_joining_worker_takes_the_study_settings(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    first = SearchConfig(
        600, study="s", storage=storage, families=["svm", "linear"], seed=7,
        sampler="random", pruner="median", train_per_class=30,
    )  # fmt: skip
    record_settings(open_study(first), first, started=0.0)
    joined = join_config(SearchConfig(1, study="s", storage=storage), budget=30.0)
    assert joined.families == ["svm", "linear"]
    assert (joined.sampler, joined.pruner) == ("random", "median")
    assert (joined.seed, joined.train_per_class) == (7, 30)  # the study's split
    assert joined.join and not joined.warm_start and joined.budget == 30.0


def test_a_joining_worker_checks_its_flags_before_opening_the_storage(tmp_path: Path) -> None:
    storage = tmp_path / "s.journal"
    with pytest.raises(ConfigError, match="--seed"):
        join_config(SearchConfig(1, study="s", storage=str(storage), seed=-1), budget=30.0)
    assert not storage.exists()
