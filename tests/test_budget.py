from __future__ import annotations

import pytest

from automl_fashion.budget import Deadline, format_seconds, parse_budget
from automl_fashion.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1m30s", 90),
        ("45", 45),
        ("0.5h", 1800),
        (" 2H ", 7200),
        ("1h2m3s", 3723),
    ],
)
def test_parses_durations(text: str, seconds: float) -> None:
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "10 m", "1m1h", "1h1h", "-5m", "abc", "5m!"])
def test_rejects_malformed_durations_with_the_value(text: str) -> None:
    with pytest.raises(ConfigError, match="--budget"):
        parse_budget(text)


@pytest.mark.parametrize("text", ["inf", "nan", "1e999"])
def test_rejects_endless_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="--budget"):
        parse_budget(text)


def test_rejects_zero() -> None:
    with pytest.raises(ConfigError, match="longer than zero"):
        parse_budget("0s")


def test_format_seconds() -> None:
    assert format_seconds(3725) == "1h02m05s"
    assert format_seconds(65) == "1m05s"
    assert format_seconds(-3) == "0s"


def test_deadline() -> None:
    assert Deadline.after(100).remaining() > 99
    assert Deadline.after(-1).passed()


@pytest.mark.parametrize("text", ["1e308", "8761h", "1000000h"])
def test_rejects_budgets_over_a_year(text: str) -> None:
    """1e308 s passed and then overflowed a network's epoch arithmetic in every trial."""
    with pytest.raises(ConfigError, match=r"--budget: .* is over a year; expected at most 8760h"):
        parse_budget(text)
    assert parse_budget("8760h") == 8760 * 3600
