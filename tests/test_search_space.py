"""Search-space files: the optional ``variants`` (further known-good configurations)."""

from __future__ import annotations

import pytest

from automl_fashion.errors import ConfigError
from automl_fashion.search_space import load_space, parse_space

DOC = {
    "family": "toy",
    "init": {"lr": 0.01, "width": 16},
    "params": {
        "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
        "width": {"type": "categorical", "choices": [16, 32]},
    },
}


def test_variants_are_whole_validated_configurations() -> None:
    space = parse_space({**DOC, "variants": [{"width": 32}]}, "toy.yaml")
    assert space.variants == ({"lr": 0.01, "width": 32},)
    assert parse_space(DOC, "toy.yaml").variants == ()


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ({"width": 32}, "'variants' must be a list of mappings"),
        ([3], "'variants' must be a list of mappings"),
        ([{"width": 48}], "width"),
        ([{"depth": 2}], "depth"),
    ],
)
def test_a_bad_variant_is_a_one_line_error_naming_the_file(variants: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_space({**DOC, "variants": variants}, "toy.yaml")
    assert "toy.yaml" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("key", ["long", "second"])
def test_long_and_second_are_whole_validated_configurations_or_none(key: str) -> None:
    space = parse_space({**DOC, key: {"width": 32}}, "toy.yaml")
    assert getattr(space, key) == {"lr": 0.01, "width": 32}
    assert parse_space(DOC, "toy.yaml").long is None
    assert parse_space(DOC, "toy.yaml").second is None


@pytest.mark.parametrize("key", ["long", "second"])
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([{"width": 32}], "'{key}' must be a mapping"),
        ({"width": 48}, "width"),
        ({"depth": 2}, "depth"),
    ],
)
def test_a_bad_long_configuration_is_a_one_line_error_naming_the_file(
    key: str, config: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.format(key=key)) as err:
        parse_space({**DOC, key: config}, "toy.yaml")
    assert "toy.yaml" in str(err.value) and "\n" not in str(err.value)


def test_the_cnn_ships_a_variant_that_differs_from_its_init() -> None:
    space = load_space("cnn")
    assert space.variants and all(v != space.init for v in space.variants)


# -- what the data set allows -----------------------------------------------------------
def digits_like() -> object:
    import dataclasses

    from automl_fashion.data import FASHION_MNIST

    return dataclasses.replace(FASHION_MNIST, name="test:digits-like", flips=False)


@pytest.mark.parametrize("family", ["mlp", "cnn", "resnet"])
def test_flip_is_neither_suggested_nor_on_where_a_mirror_changes_the_label(family: str) -> None:
    import optuna

    from automl_fashion.data import FASHION_MNIST

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = load_space(family)
    for _ in range(5):
        trial = study.ask()
        params = space.suggest(trial, info=digits_like())  # type: ignore[arg-type]
        assert f"{family}.flip" not in trial.params and params["flip"] is False
        assert space.validate(params) == params  # what families.create checks
    trial = study.ask()
    assert "flip" in space.suggest(trial, info=FASHION_MNIST)
    assert f"{family}.flip" in trial.params
    assert "flip" in space.suggest(study.ask())  # no info: the whole space, as before


def test_init_variants_and_long_ones_have_flips_off_for_such_a_data_set() -> None:
    from automl_fashion.data import FASHION_MNIST

    plain = load_space("cnn")
    space = load_space("cnn", info=digits_like())  # type: ignore[arg-type]
    assert plain.init["flip"] is True and space.init["flip"] is False
    assert space.init == {**plain.init, "flip": False}
    assert plain.long is not None and plain.long["flip"] is True
    assert space.long == {**plain.long, "flip": False}
    assert plain.second is not None and space.second == {**plain.second, "flip": False}
    assert all(v["flip"] is False for v in space.variants) and space.variants
    assert "cnn.flip" not in space.trial_params(space.init)
    with pytest.raises(ConfigError, match="'flip' is fixed to False; got True"):
        space.validate(plain.init)
    assert load_space("cnn", info=FASHION_MNIST) == plain
    assert load_space("svm", info=digits_like()) == load_space("svm")  # type: ignore[arg-type]
