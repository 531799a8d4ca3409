"""A real search on the full data through the CLI (slow: it trains)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


def test_short_search_on_full_data_completes_trials_within_budget(tmp_path: Path) -> None:
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(tmp_path)}
    start = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl_fashion",
            "search",
            "--budget",
            "150s",
            "--families",
            "linear,mlp",
            "--study",
            "e2e",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    assert elapsed < 150 + 30
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "e2e.journal"))
    )
    trials = optuna.load_study(study_name="e2e", storage=storage).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert {t.params["family"] for t in complete} == {"linear", "mlp"}
    assert all(t.user_attrs["n_train"] == 50_000 for t in complete)
    assert max(t.value for t in complete) > 0.85
    assert "best_trial=" in out.stdout
    # the best model was exported inside the budget, from the model the search kept
    card = (tmp_path / "e2e.model" / "model_card.json").read_text()
    assert "trained during the search" in card
    assert "test_accuracy=" in out.stdout
