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


def test_the_cnn_ships_a_variant_that_differs_from_its_init() -> None:
    space = load_space("cnn")
    assert space.variants and all(v != space.init for v in space.variants)
