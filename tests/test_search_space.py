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


def test_solo_is_a_whole_configuration_of_changes_to_long() -> None:
    doc = {**DOC, "long": {"width": 32}, "solo": {"lr": 0.05}}
    assert parse_space(doc, "toy.yaml").solo == {"lr": 0.05, "width": 32}
    assert parse_space({**DOC, "long": {"width": 32}}, "toy.yaml").solo is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"solo": {"lr": 0.05}}, "'solo' \\(changes to long\\) needs a 'long' configuration"),
        ({"long": {"width": 32}, "solo": [1]}, "'solo' must be a mapping \\(changes to long\\)"),
        ({"long": {"width": 32}, "solo": {"lr": 3.0}}, "lr"),
    ],
)
def test_a_bad_solo_configuration_is_a_one_line_error_naming_the_file(
    doc: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_space({**DOC, **doc}, "toy.yaml")
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
    assert plain.solo is not None and space.solo == {**plain.solo, "flip": False}
    assert all(v["flip"] is False for v in space.variants) and space.variants
    assert "cnn.flip" not in space.trial_params(space.init)
    with pytest.raises(ConfigError, match="'flip' is fixed to False; got True"):
        space.validate(plain.init)
    assert load_space("cnn", info=FASHION_MNIST) == plain
    assert load_space("svm", info=digits_like()) == load_space("svm")  # type: ignore[arg-type]


GPU = {
    "params": {"width": {"type": "categorical", "choices": [16, 32, 64, 128]}},
    "configs": [{"width": 128}, {"width": 64, "lr": 0.05}],
}


def test_on_a_gpu_the_space_is_searched_in_its_wider_ranges() -> None:
    """The file's ``gpu`` section: ranges that replace the others where the networks train
    on a GPU, and whole configurations valid in them (not on a CPU)."""
    space = parse_space({**DOC, "gpu": GPU}, "toy.yaml")
    assert space.gpu_configs == ({"lr": 0.01, "width": 128}, {"lr": 0.05, "width": 64})
    with pytest.raises(ConfigError, match="width"):
        space.validate({"lr": 0.01, "width": 128})  # the CPU's ranges
    wide = space.on_gpu()
    assert wide.validate({"lr": 0.01, "width": 128}) == {"lr": 0.01, "width": 128}
    assert wide.init == space.init and wide.gpu_configs == space.gpu_configs
    width = next(p for p in wide.params if p.name == "width")
    assert width.choices == (16, 32, 64, 128)
    # no section: the same space on either
    plain = parse_space(DOC, "toy.yaml")
    assert plain.on_gpu() == plain and plain.gpu_configs == ()


@pytest.mark.parametrize(
    ("gpu", "message"),
    [
        ([{"width": 64}], "'gpu' must be a mapping with 'params' and/or 'configs'"),
        ({"configs": [{"width": 64}], "extra": 1}, "'gpu' must be a mapping"),
        ({"params": {"depth": {"type": "int", "low": 1, "high": 3}}}, r"unknown .*'depth'"),
        # narrower: init (width 16) would be invalid on a GPU
        (
            {"params": {"width": {"type": "categorical", "choices": [32, 64]}}},
            "must keep init valid",
        ),
        ({"configs": [{"width": 64}]}, "width"),  # not in the (CPU) ranges it keeps
        ({"configs": {"width": 32}}, "'configs' must be a list of mappings"),
    ],
)
def test_a_bad_gpu_section_is_a_one_line_error_naming_the_file(gpu: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_space({**DOC, "gpu": gpu}, "toy.yaml")
    assert "toy.yaml" in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_networks_gpu_configurations_are_the_measured_ones() -> None:
    """resnet and cnn ship the four networks measured side by side on an H200
    (benchmarks/gpu_networks.py): valid only in their GPU ranges, flips off for digits."""
    from benchmarks.gpu_networks import CONFIGS, configuration

    for key in CONFIGS:
        family, measured = configuration(key)
        space = load_space(family)
        ours = [c for c in space.gpu_configs if {**c, "epochs": 0} == {**measured, "epochs": 0}]
        assert len(ours) == 1, key
        assert load_space(family, gpu=True).validate(ours[0]) == ours[0]
    assert all(c["flip"] is False for c in load_space("cnn", info=digits_like()).gpu_configs)  # type: ignore[arg-type]
