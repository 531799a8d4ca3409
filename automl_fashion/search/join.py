"""The rules of one study across runs and machines: what a resume or a joining worker
must keep (the split, the families, the sampler and pruner) and what it may choose.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.distributions import CategoricalDistribution

from automl_fashion import families as family_registry
from automl_fashion.errors import ConfigError
from automl_fashion.pruning import FAMILY_PARAM
from automl_fashion.search.config import SearchConfig

if TYPE_CHECKING:
    from automl_fashion.data.info import DatasetInfo
    from automl_fashion.data.spec import DatasetSpec


def split_settings(config: SearchConfig) -> dict[str, int | None]:
    """What decides the training / validation split: one study keeps one split."""
    return {
        "seed": config.seed,
        "val_size": config.val_size,
        "train_per_class": config.train_per_class,
    }


def check_split(study: optuna.Study, config: SearchConfig) -> None:
    """Resuming a study with settings that change its split would compare trials on
    different validation images: refuse, and say how to resume."""
    if not study.get_trials(deepcopy=False):
        return
    recorded = study.user_attrs
    changed = {
        key: value
        for key, value in split_settings(config).items()
        if key in recorded and recorded[key] != value
    }
    if changed:
        names = {"seed": "--seed", "train_per_class": "--train-per-class"}
        flags = ", ".join(f"{names.get(k, k)} {recorded[k]} (not {v})" for k, v in changed.items())
        raise ConfigError(
            f"study {config.study!r} was started with {flags}: its trials are compared on "
            "one validation split, so resume it with the same settings, or start a new --study"
        )


def check_dataset(study: optuna.Study, config: SearchConfig, info: DatasetInfo) -> None:
    """Resuming a study on other data would compare trials on different images: refuse,
    and say which data set the study was searched on (older studies: Fashion-MNIST)."""
    from automl_fashion.data.spec import study_info, study_spec

    if not study.get_trials(deepcopy=False):
        return
    recorded = study_spec(study)
    if not (_same_request(recorded, config.dataset_spec()) and study_info(study).same_data(info)):
        raise ConfigError(
            f"study {config.study!r} was searched on {recorded.label}{_flags(recorded)}, "
            f"not on {info.name}: its trials are compared on one data set, so resume it "
            "with the same data, or start a new --study"
        )


def _same_request(a: DatasetSpec, b: DatasetSpec) -> bool:
    if a.folder is None or b.folder is None:
        return a.folder is None and b.folder is None and a.name == b.name
    return Path(a.folder).resolve() == Path(b.folder).resolve() and (
        a.image_size,
        a.color,
    ) == (b.image_size, b.color)


def _flags(spec: DatasetSpec) -> str:
    """How to ask for ``spec`` again on the command line."""
    if spec.folder is None:
        return f" (--dataset {spec.name})"
    extra = "".join(
        f" {flag} {value}"
        for flag, value in (("--image-size", spec.image_size), ("--color", spec.color))
        if value is not None
    )
    return f" (--data {spec.folder}{extra})"


def study_families(study: optuna.Study) -> list[str] | None:
    """The families a study's trials chose from, in the study's order; None if no trial
    has drawn a family yet.

    Optuna keeps one distribution per parameter name in a study: once a trial has drawn
    ``family`` from a set, every later trial must draw from exactly that set.
    """
    for trial in study.get_trials(deepcopy=False):
        dist = trial.distributions.get(FAMILY_PARAM)
        if isinstance(dist, CategoricalDistribution):
            return [str(c) for c in dist.choices]
    return None


def resolve_families(study: optuna.Study, config: SearchConfig) -> list[str]:
    """The families this run searches: the study's on resume, else the requested ones.

    Asking a resumed study for another set of families is refused before any trial runs
    (Optuna would fail every trial); the same set in another order is the study's order.
    """
    recorded = study_families(study)
    if recorded is None:
        return config.families or family_registry.default_names()
    if config.families is not None and set(config.families) != set(recorded):
        raise ConfigError(
            f"--families {','.join(config.families)}: study {config.study!r} searches "
            f"{','.join(recorded)}, and a study's family choice cannot change; resume it with "
            f"--families {','.join(recorded)} (or without --families), or start a new --study"
        )
    return recorded


def resolve_sampling(study: optuna.Study, config: SearchConfig) -> None:
    """The sampler and pruner of this run: a resumed study's own (a flag left out takes
    it; one that differs is refused, as other families or another split are), else the
    flags, else the defaults."""
    from automl_fashion.pruning import PRUNERS
    from automl_fashion.search.config import DEFAULT_PRUNER, DEFAULT_SAMPLER, SAMPLERS

    resumed = bool(study.get_trials(deepcopy=False))
    for key, default, known in (
        ("sampler", DEFAULT_SAMPLER, SAMPLERS),
        ("pruner", DEFAULT_PRUNER, PRUNERS),
    ):
        recorded = study.user_attrs.get(key) if resumed else None
        recorded = recorded if isinstance(recorded, str) and recorded in known else None
        given = getattr(config, key)
        if given is not None and recorded is not None and given != recorded:
            raise ConfigError(
                f"--{key} {given}: study {config.study!r} searches with --{key} {recorded}; "
                f"resume it with --{key} {recorded} (or without --{key}), or start a new --study"
            )
        setattr(config, key, given or recorded or default)


def record_settings(
    study: optuna.Study, config: SearchConfig, started: float, info: DatasetInfo
) -> None:
    """What joining workers, later resumes, export and the report read: deadline,
    families, data set, split, sampler."""
    from automl_fashion.data.spec import INFO_ATTR, SPEC_ATTR

    study.set_user_attr("deadline", started + config.budget)
    study.set_user_attr(SPEC_ATTR, config.dataset_spec().as_dict())
    study.set_user_attr(INFO_ATTR, info.as_dict())
    study.set_user_attr("families", list(config.families or []))
    for key, value in split_settings(config).items():
        study.set_user_attr(key, value)
    study.set_user_attr("sampler", config.sampler)
    study.set_user_attr("pruner", config.pruner)


def join_config(config: SearchConfig, budget: float | None) -> SearchConfig:
    """A worker's configuration for an existing study: its families, split, sampler and
    pruner, and its remaining budget.

    ``automl-fashion worker`` adds a machine's workers to a study that a ``search`` started
    (possibly on another machine): without ``--budget`` they stop at that search's deadline.
    """
    from automl_fashion.search.config import DEFAULT_PRUNER, DEFAULT_SAMPLER, SAMPLERS
    from automl_fashion.storage import load_existing_study

    config.validated()  # this machine's flags, before the storage is touched
    study = load_existing_study(config.study, config.storage, config.studies_dir)
    attrs = study.user_attrs
    if budget is None:
        if "deadline" not in attrs:
            raise ConfigError(
                f"study {config.study!r} records no deadline (not started by search): give --budget"
            )
        deadline = attrs["deadline"]
        if (
            isinstance(deadline, bool)
            or not isinstance(deadline, int | float)
            or not math.isfinite(deadline)  # Infinity: workers that never stop
        ):
            raise ConfigError(
                f"study {config.study!r}: its recorded deadline {deadline!r:.40} is not a "
                "time; give --budget"
            )
        budget = float(deadline) - time.time()
        if budget <= 1:
            raise ConfigError(f"study {config.study!r}: its search's budget is already spent")
    if config.families is None and isinstance(attrs.get("families"), list):
        config.families = [str(f) for f in attrs["families"]] or None
    config.budget = budget
    config.warm_start = False
    from automl_fashion.data.spec import study_spec

    spec = study_spec(study)  # the study's data set, whatever this machine's flags say
    config.dataset, config.data = spec.name, spec.folder
    config.image_size, config.color = spec.image_size, spec.color
    config.join = True
    # the study's split, sampler and pruner, whatever this machine's flags say
    for key, value in split_settings(config).items():
        setattr(config, key, attrs.get(key, value))
    if attrs.get("sampler") in SAMPLERS:
        config.sampler = str(attrs["sampler"])
    if isinstance(attrs.get("pruner"), str):
        config.pruner = attrs["pruner"]
    config.sampler = config.sampler or DEFAULT_SAMPLER
    config.pruner = config.pruner or DEFAULT_PRUNER
    return config.validated()  # what the study said is untrusted too
