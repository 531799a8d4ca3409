"""evaluate: a model folder whose graph does not give one probability per class is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automl_fashion.evaluate import evaluate
from automl_fashion.model import ModelError
from tests.test_model import write_model_folder


@pytest.mark.parametrize("width", [1, 9, 11])
def test_a_model_with_the_wrong_number_of_outputs_is_an_error_not_a_score(
    width: int, tmp_path: Path
) -> None:
    folder = write_model_folder(tmp_path / "m", width=width, columns=width)
    with pytest.raises(ModelError, match=r"expected \[N, 10\]"):
        evaluate(folder)
    run = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "evaluate", str(folder)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("automl-fashion: error: ") and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_evaluate_reads_the_family_from_a_checked_card(tmp_path: Path) -> None:
    result = evaluate(write_model_folder(tmp_path / "m"))
    assert result["family"] == "linear" and result["images"] == 10_000
    assert 0 <= result["test_accuracy"] <= 1 and result["card_test_accuracy"] == 0.5
    assert 0 <= result["test_ece"] <= 1 and result["card_test_ece"] is None
