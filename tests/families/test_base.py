"""The base class's deadline checks, driven with made-up rung times: nothing trains."""

from __future__ import annotations

import time

import numpy as np
import pytest

from automl_fashion.budget import BudgetExhausted
from automl_fashion.data import Split
from automl_fashion.families import Family, Report


class Timed(Family):
    """Rung end times are set by the test; ``_fit`` only asks before its next rung."""

    name = "timed"
    fidelity = "epochs"

    def _fit(self, data: Split, report: Report) -> None:
        raise AssertionError("not called")

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full((len(X), 10), 0.1)


def family(deadline_in: float | None, rung_ends_ago: list[float]) -> Timed:
    """A family whose fit started and ended its rungs the given seconds ago."""
    model = Timed({})
    now = time.time()
    model.deadline = None if deadline_in is None else now + deadline_in
    model._rung_times = [now - ago for ago in rung_ends_ago]
    return model


def test_a_rung_as_long_as_the_last_that_would_end_past_the_deadline_is_not_started() -> None:
    # two 10-second rungs done; 5 s left: a third would end 5 s late
    with pytest.raises(BudgetExhausted, match="next rung"):
        family(5.0, [20.0, 10.0, 0.0]).before_rung()
    family(15.0, [20.0, 10.0, 0.0]).before_rung()  # 15 s left: it fits


def test_growing_rungs_are_predicted_from_their_growth() -> None:
    # rungs of 2 s then 6 s: the next, on more data, is predicted at 6 x 3 = 18 s
    family(10.0, [8.0, 6.0, 0.0]).before_rung()  # as if constant: 6 s fit in 10 s
    with pytest.raises(BudgetExhausted):
        family(10.0, [8.0, 6.0, 0.0]).before_rung(growing=True)
    family(20.0, [8.0, 6.0, 0.0]).before_rung(growing=True)
    # growth is capped at 4: 1 s then 10 s predicts 40 s, not 100 s
    family(45.0, [11.0, 10.0, 0.0]).before_rung(growing=True)


def test_no_prediction_before_the_first_rung_or_without_a_deadline() -> None:
    family(0.001, [0.0]).before_rung()  # nothing measured yet: the first rung runs
    family(None, [30.0, 0.0]).before_rung()


def test_check_deadline_only_once_it_has_passed() -> None:
    family(5.0, [0.0]).check_deadline()
    family(None, [0.0]).check_deadline()
    with pytest.raises(BudgetExhausted, match="budget is spent"):
        family(-0.1, [0.0]).check_deadline()
