"""Figures from untrusted study text: names that look like matplotlib formulas are shown as
they are, and never fail a figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from automl_fashion.report import plots
from automl_fashion.report.facts import TrialRun

CRAFTED = ["$\\frac{$", "a$b", "$x^2$", "[bold]x[/bold]\x1b[2J"]


@pytest.mark.parametrize("name", CRAFTED)
def test_text_from_the_study_never_breaks_a_figure(tmp_path: Path, name: str) -> None:
    matplotlib.use("Agg")
    runs = [
        TrialRun(i, name, f"{name} #{i % 2}", outcome, i, i + 1.0, [(1, 0.5), (2, 0.6)])
        for i, outcome in enumerate(["complete", "pruned", "budget", "failed", "running"])
    ]
    for path in (
        plots.learning_curves(runs, tmp_path / "curves.png"),
        plots.timeline(runs, tmp_path / "timeline.png"),
        plots.best_over_time(runs, {0: 0.6}, tmp_path / "best.png"),
        plots.importances({name: {name: 0.7, "lr": 0.3}}, tmp_path / "imp.png"),
        plots.accuracy_vs_time(
            pd.DataFrame(
                {
                    "family": [name, "cnn"],
                    "fit_seconds": [1.0, 2.0],
                    "val_accuracy": [0.8, 0.9],
                    "pareto": [True, True],
                }
            ),
            tmp_path / "accuracy.png",
        ),
    ):
        assert path.read_bytes()[:4] == b"\x89PNG"
