"""A deliberately slow family for budget and kill tests: it trains nothing, it waits.

Each rung sleeps ``rung_seconds`` and reports an accuracy drawn from its parameters, so
that pruning and ranking have something to compare. Registered through
$AUTOML_FASHION_PLUGINS, which reaches the worker processes.
"""

from __future__ import annotations

import time

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families import Family, Report


class SleepyFamily(Family):
    name = "sleepy"
    fidelity = "epochs"

    def _fit(self, data: Split, report: Report) -> None:
        quality = float(self.params["quality"])
        for step in range(1, int(self.params["epochs"]) + 1):
            self.before_rung()
            time.sleep(float(self.params["rung_seconds"]))
            if self.params.get("diverge"):
                report(step, float("nan"))
            report(step, quality * (1 - 0.5 / step))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full((len(X), 10), 0.1)
