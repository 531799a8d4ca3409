"""The plan's frame: workers x threads and the seconds kept for the export."""

from __future__ import annotations

import pytest

from automl_fashion.search.layout import export_reserve, layout
from tests.search.test_plan import SPEEDS


def test_the_export_reserve_is_at_most_a_tenth_of_the_budget() -> None:
    assert export_reserve(100, ["svm"] * 5, SPEEDS) == pytest.approx(10.0)
    assert export_reserve(7200, ["cnn"], SPEEDS) == pytest.approx(12 + 0.8)


def test_a_member_of_unknown_cost_counts_as_the_slowest_known() -> None:
    assert export_reserve(7200, ["resnet"], SPEEDS) == pytest.approx(12 + 8.2)


def test_workers_get_more_threads_only_when_a_network_would_get_too_few_epochs() -> None:
    # 25 s per epoch on one thread: 400 s leave room for 16, 180 s for 7 (under 60% of 16)
    assert layout(2, None, None, None, "cnn", 400.0, 400.0, SPEEDS)[:2] == (2, 1)
    assert layout(2, None, None, None, "cnn", 400.0, 180.0, SPEEDS)[:2] == (1, 2)
    # no network: one worker per core; the user's jobs: threads share the cores
    assert layout(4, None, None, None, None, None, 60.0, SPEEDS)[:2] == (4, 1)
    assert layout(4, 2, None, None, "cnn", 400.0, 60.0, SPEEDS)[:2] == (2, 2)
