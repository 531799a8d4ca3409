"""What a study keeps across runs and machines: families, split, sampler and pruner."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl_fashion import families
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.data.spec import DatasetSpec, study_info, study_spec
from automl_fashion.errors import ConfigError
from automl_fashion.search.config import SearchConfig
from automl_fashion.search.join import (
    check_dataset,
    join_config,
    record_settings,
    resolve_families,
    resolve_sampling,
)
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


def test_the_default_is_every_family_and_an_opt_in_one_is_searched_only_when_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resnet is searched by default now (the plan decides where it trains); a family
    marked opt-in still runs only when named."""
    study = optuna.create_study()
    assert resolve_families(study, SearchConfig(1)) == families.names()
    monkeypatch.setattr(families, "OPT_IN", frozenset({"resnet"}))
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
    record_settings(open_study(first), first, started=0.0, info=FASHION_MNIST)
    joined = join_config(SearchConfig(1, study="s", storage=storage), budget=30.0)
    assert joined.families == ["svm", "linear"]
    assert (joined.sampler, joined.pruner) == ("random", "median")
    assert (joined.seed, joined.train_per_class) == (7, 30)  # the study's split
    assert joined.join and not joined.warm_start and joined.budget == 30.0


def test_a_resume_keeps_the_study_sampler_and_pruner() -> None:
    """A resume without --sampler/--pruner ran TPE and successive halving, and wrote them
    over what the study recorded (random, none): the study's own are kept now, and other
    ones are refused, as other families are."""
    study = study_with(["linear"])
    study.set_user_attr("sampler", "random")
    study.set_user_attr("pruner", "none")
    resumed = SearchConfig(1, study="s")
    resolve_sampling(study, resumed)
    assert (resumed.sampler, resumed.pruner) == ("random", "none")
    same = SearchConfig(1, study="s", sampler="random")
    resolve_sampling(study, same)
    assert (same.sampler, same.pruner) == ("random", "none")
    with pytest.raises(ConfigError) as err:
        resolve_sampling(study, SearchConfig(1, study="s", pruner="sha"))
    assert str(err.value) == (
        "--pruner sha: study 's' searches with --pruner none; resume it with --pruner none "
        "(or without --pruner), or start a new --study"
    )


def test_a_new_study_takes_the_flags_or_the_defaults() -> None:
    for given, expected in (({}, ("tpe", "sha")), ({"sampler": "random"}, ("random", "sha"))):
        config = SearchConfig(1, **given)  # type: ignore[arg-type]
        resolve_sampling(optuna.create_study(), config)
        assert (config.sampler, config.pruner) == expected
    odd = study_with(["linear"])
    odd.set_user_attr("sampler", ["tpe"])  # untrusted: not a sampler, so not the study's own
    config = SearchConfig(1, sampler="random")
    resolve_sampling(odd, config)
    assert config.sampler == "random"


@pytest.mark.parametrize("deadline", ["tomorrow", None, float("inf"), float("nan"), True])
def test_a_joining_worker_refuses_a_recorded_deadline_that_is_not_a_time(
    tmp_path: Path, deadline: object
) -> None:
    """A string was a traceback; Infinity made workers that never stop; NaN passed the
    check that the budget is not already spent."""
    storage = str(tmp_path / "s.journal")
    first = SearchConfig(600, study="s", storage=storage, families=["linear"])
    study = open_study(first)
    record_settings(study, first, started=0.0, info=FASHION_MNIST)
    study.set_user_attr("deadline", deadline)
    with pytest.raises(
        ConfigError, match=r"study 's': its recorded deadline .* is not a time; give"
    ):
        join_config(SearchConfig(1, study="s", storage=storage), budget=None)


def test_a_joining_worker_checks_its_flags_before_opening_the_storage(tmp_path: Path) -> None:
    storage = tmp_path / "s.journal"
    with pytest.raises(ConfigError, match="--seed"):
        join_config(SearchConfig(1, study="s", storage=str(storage), seed=-1), budget=30.0)
    assert not storage.exists()


def folder_info(folder: Path, classes: tuple[str, ...] = ("a", "b", "c")) -> DatasetInfo:
    return DatasetInfo(
        name=f"folder:{folder.name}",
        classes=classes,
        shape=(3, 20, 20),
        mean=(0.5, 0.5, 0.5),
        std=(0.2, 0.2, 0.2),
        source=str(folder),
        digests={"files": "ab" * 16},
        reading="resize",
    )


def test_the_study_records_its_data_set_for_export_and_the_report(tmp_path: Path) -> None:
    config = SearchConfig(1, study="s", data=str(tmp_path), image_size=20, color="rgb", seed=3)
    study = optuna.create_study()
    record_settings(study, config, started=0.0, info=folder_info(tmp_path))
    assert study_spec(study) == DatasetSpec(
        folder=str(tmp_path), image_size=20, color="rgb", seed=3
    )
    assert study_info(study) == folder_info(tmp_path)
    assert study_spec(optuna.create_study()) == DatasetSpec()  # older studies: Fashion-MNIST
    assert study_info(optuna.create_study()) == FASHION_MNIST


def test_the_study_records_a_relative_folder_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = SearchConfig(1, study="s", data="shop")
    study = optuna.create_study()
    record_settings(study, config, started=0.0, info=folder_info(tmp_path / "shop"))
    assert study_spec(study).folder == str(tmp_path / "shop")


def test_a_joining_worker_searches_the_study_data_set(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    first = SearchConfig(600, study="s", storage=storage, data=str(tmp_path), image_size=20)
    record_settings(open_study(first), first, started=0.0, info=folder_info(tmp_path))
    joined = join_config(SearchConfig(1, study="s", storage=storage), budget=30.0)
    assert (joined.data, joined.image_size, joined.color) == (str(tmp_path), 20, None)


def test_resuming_on_another_data_set_is_refused_with_how_to_resume(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    config = SearchConfig(1, study="s", data=str(a), image_size=20)
    study = study_with(["linear"])
    record_settings(study, config, started=0.0, info=folder_info(a))
    check_dataset(study, config, folder_info(a))  # the same data: fine
    for other, info in (
        (SearchConfig(1, study="s", data=str(b), image_size=20), folder_info(b)),
        (SearchConfig(1, study="s", data=str(a), image_size=24), folder_info(a)),
        (SearchConfig(1, study="s"), FASHION_MNIST),
        # the same folder whose pictures changed since: other classes
        (config, folder_info(a, classes=("a", "b"))),
    ):
        with pytest.raises(ConfigError) as err:
            check_dataset(study, other, info)
        assert f"study 's' was searched on folder {a} (--data {a} --image-size 20)" in str(
            err.value
        )
        assert "start a new --study" in str(err.value)


def test_a_study_from_before_data_sets_were_recorded_is_fashion_mnist() -> None:
    study = study_with(["linear"])  # no data set recorded
    check_dataset(study, SearchConfig(1, study="s"), FASHION_MNIST)
    with pytest.raises(ConfigError, match=r"searched on fashion-mnist \(--dataset fashion-mnist\)"):
        check_dataset(study, SearchConfig(1, study="s", data="/x"), folder_info(Path("/x")))
