"""Which trial to export, and exactly what it trained with: its parameters and its split.

Everything here is read from the study, so it is checked before use: a trial's stored
configuration by type against its family's space, the study's split settings by range,
its data set (``study_spec``, ``study_info``) by field; the data set opened again must be
the one the study recorded. Selection never reads the test images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl_fashion import families
from automl_fashion.data import DEFAULT_VAL_SIZE, Split, searched_split
from automl_fashion.data.spec import INFO_ATTR, Dataset, DatasetSpec, study_info, study_spec
from automl_fashion.errors import ConfigError
from automl_fashion.leaderboard import DEFAULT_COST_WEIGHT, score
from automl_fashion.search_space import SearchSpace, load_space
from automl_fashion.trial import CONFIG_ATTR

CRITERIA = ("accuracy", "score")


def pick_trial(study: optuna.Study, trial: int | None, criterion: str) -> FrozenTrial:
    """The trial to export: the given number, or the best complete one by ``criterion``."""
    if criterion not in CRITERIA:
        raise ConfigError(f"--criterion: {criterion!r}; expected one of {list(CRITERIA)}")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found:
            raise ConfigError(f"--trial: study {study.study_name!r} has no trial {trial}")
        if found[0].state != TrialState.COMPLETE:
            raise ConfigError(
                f"--trial: trial {trial} is {found[0].state.name.lower()}, not complete"
            )
        return found[0]
    if not complete:
        raise ConfigError(f"study {study.study_name!r} has no complete trial to export")
    if criterion == "accuracy":
        return max(complete, key=lambda t: (t.value or 0.0, -t.number))
    return max(complete, key=lambda t: score(t.value or 0.0, _seconds(t), DEFAULT_COST_WEIGHT))


def _seconds(trial: FrozenTrial) -> float:
    """The recorded fit time, or 0 when it is missing or not a finite number."""
    value = trial.user_attrs.get("fit_seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


@dataclass(frozen=True)
class Recipe:
    """What a trial trained with."""

    family: str
    params: dict[str, Any]
    seed: int
    #: True: the trial's own record; False: rebuilt from today's search-space file (a
    #: trial from before trials recorded their parameters)
    stored: bool


def trial_recipe(trial: FrozenTrial, study_seed: int = 0, spaces_dir: str | None = None) -> Recipe:
    """The family, parameters and model seed a trial trained with, checked."""
    where = f"trial {trial.number}"
    stored = trial.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        family = str(trial.params.get("family"))
        families.check_names([family])
        prefix = f"{family}."
        chosen = {k[len(prefix) :]: v for k, v in trial.params.items() if k.startswith(prefix)}
        space = load_space(family, spaces_dir)
        fixed = {p.name: p.value for p in space.params if p.type == "fixed"}
        params = space.validate({**fixed, **chosen})
        seed, from_record = study_seed + trial.number, False
    else:
        if not isinstance(stored, dict) or not isinstance(stored.get("family"), str):
            raise ConfigError(f"{where}: its recorded {CONFIG_ATTR!r} is not a configuration")
        family = stored["family"]
        families.check_names([family])
        space = load_space(family, spaces_dir)
        params = _typed(stored.get("params"), space, f"{where}: recorded parameters")
        seed = stored.get("seed", study_seed + trial.number)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ConfigError(f"{where}: recorded seed {seed!r}; expected an integer >= 0")
        from_record = True
    # what the trial really trained with, when it shortened itself to end within the budget
    shortened = trial.user_attrs.get("shortened_to", {})
    params.update(_typed(shortened, space, f"{where}: 'shortened_to'", subset=True))
    return Recipe(family, params, seed, from_record)


def trial_config(trial: FrozenTrial, spaces_dir: str | None = None) -> tuple[str, dict[str, Any]]:
    """The family and the full parameters a trial trained with."""
    recipe = trial_recipe(trial, spaces_dir=spaces_dir)
    return recipe.family, recipe.params


def _typed(params: Any, space: SearchSpace, where: str, subset: bool = False) -> dict[str, Any]:
    """``params`` if each value has its parameter's type. Ranges and choices are not
    checked: the space may have been edited since, and the trial trained with these."""
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: expected an object of parameter values; got {params!r:.80}")
    kinds = {p.name: p.type for p in space.params}
    unknown = sorted(set(params) - set(kinds))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown} for family {space.family!r}")
    for name, value in params.items():
        kind = kinds[name]
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }.get(kind, value is None or isinstance(value, str | int | float | bool))
        if not ok:
            raise ConfigError(f"{where}: parameter {name!r} is {value!r:.80}; expected a {kind}")
    if not subset:
        missing = sorted(p.name for p in space.params if p.name not in params and p.type != "fixed")
        missing = [m for m in missing if _applies(space, m, params)]
        if missing:
            raise ConfigError(f"{where}: parameter(s) {missing} missing")
    return {k: float(v) if kinds[k] == "float" else v for k, v in params.items()}


def _applies(space: SearchSpace, name: str, params: dict[str, Any]) -> bool:
    return next(p for p in space.params if p.name == name).applies(params)


@dataclass(frozen=True)
class SearchSplit:
    split: Split
    seed: int
    val_size: int
    train_per_class: int | None
    #: the data set the study searched, as the user named it, and opened
    spec: DatasetSpec
    dataset: Dataset

    def describe(self) -> str:
        per_class = f", {self.train_per_class} per class" if self.train_per_class else ""
        return f"seed {self.seed}, {self.val_size} validation images{per_class}"


def search_split(
    study: optuna.Study, data_dir: str | None = None, dataset: Dataset | None = None
) -> SearchSplit:
    """The training / validation split the study's trials were searched on, built as the
    search's workers build it (the study records its data set, seed, val_size and
    train_per_class). ``dataset``: the study's data set, already opened."""
    attrs = study.user_attrs

    def recorded(key: str, default: int | None, low: int, high: int) -> int | None:
        value = attrs.get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"study {study.study_name!r}: its recorded {key} is {value!r:.80}; "
                f"expected an integer in [{low}, {high}]"
            )
        return value

    seed = recorded("seed", 0, 0, 2**32 - 1) or 0
    # the data layer checks these against the data set's own size
    val_size = recorded("val_size", DEFAULT_VAL_SIZE, 10, 10**8) or DEFAULT_VAL_SIZE
    per_class = recorded("train_per_class", None, 1, 10**8)
    spec = study_spec(study)
    if dataset is None:  # a recorded folder is compared with the record before it is read
        expect = study_info(study) if INFO_ATTR in study.user_attrs else None
        dataset = spec.open(data_dir, expect=expect)
    check_same_data(study, dataset)
    split = searched_split(
        val_size=val_size,
        seed=seed,
        train_per_class=per_class,
        data_dir=data_dir,
        dataset=dataset,
    )
    return SearchSplit(split, seed, val_size, per_class, spec, dataset)


def check_same_data(study: optuna.Study, dataset: Dataset) -> None:
    """Refuse data that is not what the study searched (other classes, shape or files)."""
    if INFO_ATTR not in study.user_attrs:
        return  # a study from before data sets were recorded: Fashion-MNIST, checked by digest
    recorded, found = study_info(study), dataset.info
    if not recorded.same_data(found):

        def said(info: Any) -> str:
            c, h, w = info.shape
            return f"{info.name} ({info.n_classes} classes, {c} x {h} x {w})"

        other = (
            ""
            if said(recorded) != said(found)
            else " with other class names"
            if recorded.classes != found.classes
            else " with other files"
        )
        raise ConfigError(
            f"study {study.study_name!r} searched {said(recorded)}, but its data set now "
            f"opens as {said(found)}{other}; export and report need the data the study was "
            "searched on"
        )
