"""A family that trains nothing: measures what the orchestration itself costs per trial."""

from __future__ import annotations

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families import Family, Report


class TrivialFamily(Family):
    name = "trivial"
    fidelity = "epochs"

    def _fit(self, data: Split, report: Report) -> None:
        for step in range(1, int(self.params["epochs"]) + 1):
            report(step, float(self.params["quality"]))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full((len(X), 10), 0.1)
